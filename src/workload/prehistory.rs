//! The steady-state start (`"start": "steady_state"`): a prehistory of the workload before
//! time 0 that leaves presence and the stores as they are in steady state.
//!
//! A store's contents at a time t are what its user was sent since going offline, so they
//! depend on how long each offline user has been away (its *age*) and on what its groups sent
//! in that time. Drawing only the age would leave out what else fills the stores: disposition
//! notifications, which a user finds waiting for the messages it sent before going offline,
//! and the store limits applied in arrival order. So the start replays the ground truth of the
//! workload over a prehistory `[-H, 0)` instead, with no network and no servers:
//!
//! - at `-H` each user is online with the stationary (or profile) share, in a period whose
//!   length is drawn from the *length-biased* distribution of its class's period and whose age
//!   is a uniform fraction of it (renewal theory: the period in progress at an arbitrary
//!   instant is length-biased), so presence is in equilibrium from the first instant; it then
//!   alternates with fresh draws, on the same daily clocks as the run;
//! - each group sends by the same traffic process (rate, gaps, bursts, daily profile), the
//!   sender drawn among its online members; a copy for an offline member is held (store limits
//!   and overflow policy applied in arrival order, the TTL by age);
//! - a user coming online takes everything held for it at once (a deferred delivery lasts
//!   seconds, the prehistory days), and sends the "delivered" and "displayed" notifications of
//!   what it took to the senders, which are held in turn when their sender is offline then.
//!
//! At time 0 the run takes over each user's presence (online or not, and when its period in
//! progress ends) and the PFs keep what is held. What the prehistory leaves out is the
//! network: a session the PF has left (DD-10/16), an unnoticed ungraceful disappearance and
//! the time a delivery takes; their effect settles within the length of a delivery, which is
//! the warm-up the start still needs.
//!
//! Presence is replayed over a prehistory of seven days, whatever the policies, so that no
//! policy changes the presence a run starts in (common random numbers). Traffic, and so what
//! is held, only over its last whole days that cover the store's TTL (all seven without a TTL,
//! or with a longer one): anything older has expired by time 0. An item older than seven days
//! is rare in any store with a per-session limit. Everything is drawn from streams of its own,
//! so the run's workload from time 0 on is the same whether it starts empty or in steady state.

use super::{Traffic, World};
use crate::engine::Time;
use crate::engine::rng::{self, Rng, Stream};
use crate::model::Model;
use crate::protocol::{GroupId, Item, MemberId, Payload, UserId};
use crate::units::DAY;
use rand::Rng as _;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Where the prehistory keeps what users could not take: the PFs' stores.
pub trait Holder {
    /// Holds `item` for membership `m`, arrived at `arrived` (ticks, negative: before 0).
    fn hold(&mut self, world: &World, m: MemberId, item: Item, arrived: i64);
    /// Hands over everything held for `u` at `now` (negative ticks), oldest first per session.
    fn take_all(&mut self, world: &World, u: UserId, now: i64, out: &mut Vec<Item>);
}

/// A user's presence at time 0, as the prehistory leaves it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UserStart {
    pub online: bool,
    /// When its period in progress ends (run time, ticks).
    pub until: Time,
}

/// How long presence is replayed before time 0: long against any absence that matters, and
/// the same for every policy.
pub const PRESENCE_SPAN: Time = 7 * DAY;

/// How long traffic is replayed before time 0 (at most [`PRESENCE_SPAN`]): whole days (so
/// that daily profiles line up) covering the store's TTL.
pub fn traffic_span(model: &Model) -> Time {
    let h = model.policy.store.ttl.map_or(PRESENCE_SPAN, |t| t.0.min(PRESENCE_SPAN));
    h.div_ceil(DAY).max(1) * DAY
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Flip(UserId),
    Message(GroupId, u32),
    Toggle(GroupId),
    /// A "displayed" notification from `by` (in its online period `period`) to `to`.
    Displayed {
        by: UserId,
        period: u32,
        to: UserId,
        group: GroupId,
        msg: u32,
    },
}

struct Prehistory<'a> {
    world: &'a World,
    h: Time,
    online: Vec<bool>,
    /// When each user's period in progress ends (prehistory time: 0 is -H).
    next_flip: Vec<Time>,
    period: Vec<u32>,
    presence: Vec<Rng>,
    behaviour: Vec<Rng>,
    traffic: Traffic,
    queue: BinaryHeap<Reverse<(Time, u64, Ev)>>,
    seq: u64,
    next_msg: u32,
    taken: Vec<Item>,
    online_buf: Vec<(UserId, MemberId)>,
}

/// Runs the prehistory of `model` into `holder` and returns each user's presence at time 0.
pub fn run(model: &Model, world: &World, holder: &mut impl Holder) -> Vec<UserStart> {
    let n = world.users.len();
    let seed = world.seed;
    let mut p = Prehistory {
        world,
        h: PRESENCE_SPAN,
        online: vec![true; n],
        next_flip: vec![Time::MAX; n],
        period: vec![0; n],
        presence: (0..n).map(|u| rng::stream(seed, Stream::PrehistoryPresence, u as u64)).collect(),
        behaviour: (0..n).map(|u| rng::stream(seed, Stream::PrehistoryBehaviour, u as u64)).collect(),
        traffic: Traffic::with_stream(model, seed, Stream::PrehistoryTraffic),
        queue: BinaryHeap::new(),
        seq: 0,
        // Above every message number the run itself hands out from 0.
        next_msg: u32::MAX,
        taken: vec![],
        online_buf: vec![],
    };
    p.init(PRESENCE_SPAN - traffic_span(model));
    while let Some(Reverse((t, _, ev))) = p.queue.pop() {
        match ev {
            Ev::Flip(u) => p.flip(t, u, holder),
            Ev::Message(g, generation) => {
                if generation == p.traffic.generation(g) {
                    p.message(t, g, holder);
                }
            }
            Ev::Toggle(g) => {
                let (next, msg) = p.traffic.toggle(g, t);
                p.push(next, Ev::Toggle(g));
                if let Some(m) = msg {
                    p.push(m, Ev::Message(g, p.traffic.generation(g)));
                }
            }
            Ev::Displayed { by, period, to, group, msg } => {
                if p.period[by.0 as usize] == period {
                    p.notify(t, by, to, group, msg, Payload::Displayed, holder);
                }
            }
        }
    }
    (0..n).map(|u| UserStart { online: p.online[u], until: p.next_flip[u].saturating_sub(p.h).max(1) }).collect()
}

impl Prehistory<'_> {
    /// Schedules an event, if it falls inside the prehistory.
    fn push(&mut self, t: Time, ev: Ev) {
        if t < self.h {
            self.seq += 1;
            self.queue.push(Reverse((t, self.seq, ev)));
        }
    }

    /// Presence from the start of the prehistory, traffic from `traffic_from` on.
    fn init(&mut self, traffic_from: Time) {
        let w = self.world;
        for u in 0..w.users.len() {
            let class = w.class_of(UserId(u as u32));
            if class.always_online {
                continue;
            }
            let r = &mut self.presence[u];
            let online = r.random::<f64>() < class.share_online_at(0);
            let length = if online { &class.online } else { &class.offline }.sample_length_biased(r);
            let residual = (length * (1.0 - r.random::<f64>())).round().max(1.0) as u64;
            self.online[u] = online;
            self.next_flip[u] = class.period_end(0, residual, online);
            self.push(self.next_flip[u], Ev::Flip(UserId(u as u32)));
        }
        for g in 0..w.groups.len() {
            let g = GroupId(g as u32);
            let (first, toggle) = self.traffic.start(g, traffic_from);
            if let Some(t) = first {
                self.push(t, Ev::Message(g, self.traffic.generation(g)));
            }
            if let Some(t) = toggle {
                self.push(t, Ev::Toggle(g));
            }
        }
    }

    /// Run-relative ticks of a prehistory instant.
    fn rel(&self, t: Time) -> i64 {
        t as i64 - self.h as i64
    }

    fn flip(&mut self, t: Time, u: UserId, holder: &mut impl Holder) {
        let ui = u.0 as usize;
        let class = self.world.class_of(u);
        let online = !self.online[ui];
        self.online[ui] = online;
        self.period[ui] += 1;
        let r = &mut self.presence[ui];
        let d = if online { class.online.sample_u64(r) } else { class.offline.sample_u64(r) };
        self.next_flip[ui] = class.period_end(t, d, online);
        self.push(self.next_flip[ui], Ev::Flip(u));
        if !online {
            return;
        }
        // Back online: it takes what was held for it, and acknowledges the messages.
        let mut taken = std::mem::take(&mut self.taken);
        holder.take_all(self.world, u, self.rel(t), &mut taken);
        for item in taken.drain(..) {
            if item.payload() == Payload::Chat {
                self.received(t, u, item.from, item.group, item.msg, holder);
            }
        }
        self.taken = taken;
    }

    /// `by` received message `msg` of `to` in `group` at `t`: its disposition notifications,
    /// drawn as the client draws them.
    fn received(&mut self, t: Time, by: UserId, to: UserId, group: GroupId, msg: u32, holder: &mut impl Holder) {
        let cfg = &self.world.cfg;
        let b = &mut self.behaviour[by.0 as usize];
        let delivered = b.random::<f64>() < cfg.imdn_delivered;
        let displayed = b.random::<f64>() < cfg.imdn_displayed;
        if displayed {
            let at = t + cfg.imdn_displayed_delay.sample_u64(b);
            // Only a notification that can find its sender offline needs an event: one sent
            // while the reader is still online, to a sender offline now or by then.
            let (bi, ti) = (by.0 as usize, to.0 as usize);
            if at < self.next_flip[bi] && (!self.online[ti] || self.next_flip[ti] <= at) {
                let period = self.period[bi];
                self.push(at, Ev::Displayed { by, period, to, group, msg });
            }
        }
        if delivered {
            self.notify(t, by, to, group, msg, Payload::Delivered, holder);
        }
    }

    /// A notification from `by` to `to`: held if `to` is offline.
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        t: Time,
        by: UserId,
        to: UserId,
        group: GroupId,
        msg: u32,
        payload: Payload,
        holder: &mut impl Holder,
    ) {
        if self.online[to.0 as usize] {
            return;
        }
        let Some(m) = self.world.membership(to, group) else { return };
        let item = Item::new(payload, group, to, by, msg, self.world.cfg.imdn_size);
        holder.hold(self.world, m, item, self.rel(t));
    }

    fn message(&mut self, t: Time, g: GroupId, holder: &mut impl Holder) {
        let draw = self.traffic.message(g, t, &self.world.cfg);
        if let Some(next) = draw.next {
            self.push(next, Ev::Message(g, self.traffic.generation(g)));
        }
        let w = self.world;
        self.online_buf.clear();
        for m in w.group_members(g) {
            let u = w.member(m).user;
            if self.online[u.0 as usize] {
                self.online_buf.push((u, m));
            }
        }
        if self.online_buf.is_empty() {
            return;
        }
        let k = ((draw.pick * self.online_buf.len() as f64) as usize).min(self.online_buf.len() - 1);
        let sender = self.online_buf[k].0;
        let msg = self.next_msg;
        self.next_msg = self.next_msg.wrapping_sub(1);
        let item = Item::new(Payload::Chat, g, sender, sender, msg, draw.size);
        for m in w.group_members(g) {
            let v = w.member(m).user;
            if v == sender {
                continue;
            }
            if self.online[v.0 as usize] {
                self.received(t, v, sender, g, msg, holder);
            } else {
                holder.hold(w, m, item, self.rel(t));
            }
        }
    }
}
