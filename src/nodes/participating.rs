//! The CPM Participating Function: the B2BUA between a served user and its group sessions.
//! While the user cannot take traffic it keeps what the user misses, per group session, in
//! arrival order, subject to the store policy; when the user registers again it runs the
//! deferred delivery of seed section 8.3.2.9.1.2 (steps DD-1..DD-17 of DESIGN.md), one
//! session per group session, each a small state machine (`Delivery`).

use super::{Action, Ctx, Owner, PfTimer, Timer};
use crate::engine::Time;
use crate::engine::deadlines::DeadlineSet;
use crate::engine::rng::{self, Rng, Stream};
use crate::policy::Retry;
use crate::protocol::{
    Addr, DeferredInvite, Dialog, ICSI_SESSION, ICSI_SESSION_GROUP, Invite, Item, MemberId, Method, Msg, Msrp, NodeId,
    Packet, Payload, Reason, Role, SdpOffer, Session, Sip, UserId,
};
use std::collections::VecDeque;
use std::rc::Rc;

/// A copy held for a user: what it is, when it reached the PF, and its arrival number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stored {
    pub item: Item,
    pub arrived: Time,
    pub seq: u64,
}

/// An item sent in an MSRP session and not yet fully acknowledged.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    stored: Stored,
    chunks: u16,
    acked: u16,
    first_seq: u32,
    sent: Time,
}

/// The PF's leg towards the focus for this membership: the PF's view of whether the group
/// session is active (it learns of a teardown by the focus's BYE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    Out,
    /// A re-join INVITE to the CF is outstanding (8.2.2.7).
    Joining,
    In,
}

/// A deferred-delivery session (DESIGN: "a small state enum, not a bag of booleans").
#[derive(Debug)]
pub enum Delivery {
    /// No deferred-delivery session. Live traffic flows if the store is empty.
    Idle,
    /// INVITE sent, waiting for the final response (Timer B running).
    Inviting,
    /// 200/ACK done: MSRP SENDs of the stored items, in order.
    Delivering(Box<Transfer>),
    /// An attempt failed; the retry policy has scheduled another.
    WaitingRetry,
}

#[derive(Debug, Default)]
pub struct Transfer {
    inflight: VecDeque<InFlight>,
    chunks_out: u32,
    next_seq: u32,
    deadline_armed: bool,
    /// The client sent an IMDN, isComposing or a message in this session (DD-15).
    replied: bool,
}

/// One delivery episode: from the trigger (a registration) to success, decline, interruption or
/// giving up. `delivery.sessions.*` count episodes.
#[derive(Clone, Copy, Debug)]
struct Episode {
    first_invite: Time,
    attempts: u32,
    prev_wait: u64,
}

#[derive(Debug)]
struct PfMember {
    id: MemberId,
    leg: Leg,
    leg_generation: u32,
    rejoin_tries: u8,
    subscribed: bool,
    contribution: u32,
    participants: Rc<[UserId]>,
    store: VecDeque<Stored>,
    store_bytes: u64,
    delivery: Delivery,
    /// Generation of the deferred-delivery session (one per INVITE).
    generation: u32,
    /// Boxed: most memberships have no delivery under way, and a million of them must fit.
    episode: Option<Box<Episode>>,
    ttl_generation: u32,
    ttl_armed: bool,
}

#[derive(Debug)]
struct PfUser {
    registered: bool,
    /// False once a delivery to the device has failed (the PF learns of an ungraceful
    /// disappearance only this way); true again on the next registration.
    reachable: bool,
    sip_instance: bool,
    stored: u64,
    stored_bytes: u64,
    /// This user's unacknowledged live SENDs: head and tail in `ParticipatingFunction::live`.
    live_head: u32,
    live_tail: u32,
    live_seq: u32,
}

/// How a delivery episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Declined,
    Interrupted,
    GaveUp,
}

pub struct ParticipatingFunction {
    pub id: NodeId,
    users: Vec<PfUser>,
    members: Vec<PfMember>,
    stored: u64,
    stored_bytes: u64,
    /// Store insertion order, for server-wide drop_oldest (entries may be stale: checked on use).
    fifo: VecDeque<(u32, u64)>,
    next_seq: u64,
    rng: Rng,
    /// Timer B of deferred-delivery and re-join INVITEs (64·T1), kept as a FIFO.
    deadlines: DeadlineSet<PfTimer>,
    due: Vec<PfTimer>,
    /// Items from clients waiting for the leg to the CF (a re-join in progress), by membership.
    upstream: fnv::FnvHashMap<u32, Vec<Item>>,
    /// Live SENDs not yet acknowledged, all users; each user's are a list through `next`.
    live: Vec<LiveEntry>,
    live_free: Vec<u32>,
}

/// An unacknowledged live SEND and the next one of the same user.
#[derive(Clone, Copy, Debug)]
struct LiveEntry {
    f: InFlight,
    next: u32,
}

const NIL: u32 = u32::MAX;

/// Which conservation counter an event feeds.
enum Count {
    Offered,
    QueuedBehind,
    Delivered,
    DiscardedDecline,
    DiscardedBye,
    DroppedOverflow,
    Expired,
}

impl ParticipatingFunction {
    pub fn new(id: NodeId, world: &crate::workload::World) -> ParticipatingFunction {
        let users = (0..world.pf_users[id.0 as usize])
            .map(|_| PfUser {
                registered: false,
                reachable: false,
                sip_instance: false,
                stored: 0,
                stored_bytes: 0,
                live_head: NIL,
                live_tail: NIL,
                live_seq: 0,
            })
            .collect();
        let empty: Rc<[UserId]> = Rc::from(Vec::new());
        // Sized exactly: a collect() through a filter would grow by doubling.
        let mut members = Vec::with_capacity(world.pf_members[id.0 as usize] as usize);
        members.extend(world.members.iter().enumerate().filter(|(_, m)| world.user(m.user).pf == id).map(|(i, _)| {
            PfMember {
                id: MemberId(i as u32),
                leg: Leg::Out,
                leg_generation: 0,
                rejoin_tries: 0,
                subscribed: false,
                contribution: 0,
                participants: empty.clone(),
                store: VecDeque::new(),
                store_bytes: 0,
                delivery: Delivery::Idle,
                generation: 0,
                episode: None,
                ttl_generation: 0,
                ttl_armed: false,
            }
        }));
        ParticipatingFunction {
            id,
            users,
            members,
            stored: 0,
            stored_bytes: 0,
            fifo: VecDeque::new(),
            next_seq: 0,
            rng: rng::stream(world.seed, Stream::Retry, id.0 as u64),
            deadlines: DeadlineSet::default(),
            due: Vec::new(),
            upstream: Default::default(),
            live: Vec::new(),
            live_free: Vec::new(),
        }
    }

    #[inline]
    fn ml(ctx: &Ctx, m: MemberId) -> usize {
        ctx.world.member(m).pf_local as usize
    }
    #[inline]
    fn ul(ctx: &Ctx, u: UserId) -> usize {
        ctx.world.user(u).pf_local as usize
    }

    // ----- introspection (tests, traces, end-of-run accounting) -----

    /// Items held for a membership (stored plus in flight in a deferred session).
    pub fn pending(&self, ctx_world: &crate::workload::World, m: MemberId) -> usize {
        let pm = &self.members[ctx_world.member(m).pf_local as usize];
        pm.store.len()
            + if let Delivery::Delivering(t) = &pm.delivery {
                t.inflight.iter().filter(|f| f.stored.item.is_stored_kind()).count()
            } else {
                0
            }
    }
    /// The stored items of a membership, oldest first.
    pub fn stored_items(&self, ctx_world: &crate::workload::World, m: MemberId) -> Vec<Item> {
        self.members[ctx_world.member(m).pf_local as usize].store.iter().map(|s| s.item).collect()
    }
    pub fn delivery_state(&self, ctx_world: &crate::workload::World, m: MemberId) -> &Delivery {
        &self.members[ctx_world.member(m).pf_local as usize].delivery
    }
    pub fn leg(&self, ctx_world: &crate::workload::World, m: MemberId) -> Leg {
        self.members[ctx_world.member(m).pf_local as usize].leg
    }
    pub fn subscribed(&self, ctx_world: &crate::workload::World, m: MemberId) -> bool {
        self.members[ctx_world.member(m).pf_local as usize].subscribed
    }
    pub fn is_registered(&self, ctx_world: &crate::workload::World, u: UserId) -> bool {
        self.users[ctx_world.user(u).pf_local as usize].registered
    }
    /// (messages, notifications) held, stored or in flight.
    pub fn pending_by_kind(&self) -> (u64, u64) {
        let (mut msgs, mut notes) = (0, 0);
        for m in &self.members {
            let inflight = match &m.delivery {
                Delivery::Delivering(t) => t.inflight.iter().map(|f| f.stored.item).collect::<Vec<_>>(),
                _ => vec![],
            };
            for it in m.store.iter().map(|s| s.item).chain(inflight) {
                match it.payload {
                    Payload::Chat => msgs += 1,
                    Payload::Delivered | Payload::Displayed => notes += 1,
                    _ => {}
                }
            }
        }
        (msgs, notes)
    }

    fn count(ctx: &mut Ctx, item: &Item, what: Count) {
        let c = if item.is_notification() { &mut ctx.stats.notifications } else { &mut ctx.stats.deferred };
        match what {
            Count::Offered => c.offered += 1,
            Count::QueuedBehind => c.queued_behind += 1,
            Count::Delivered => c.delivered += 1,
            Count::DiscardedDecline => c.discarded_decline += 1,
            Count::DiscardedBye => c.discarded_bye += 1,
            Count::DroppedOverflow => c.dropped_overflow += 1,
            Count::Expired => c.expired += 1,
        }
    }

    // ----- the store -----

    /// Marks a user registered at time 0 (it starts online with a binding).
    pub fn preload_registered(&mut self, ctx: &Ctx, u: UserId, sip_instance: bool) {
        let pu = &mut self.users[Self::ul(ctx, u)];
        pu.registered = true;
        pu.reachable = true;
        pu.sip_instance = sip_instance;
    }

    /// Removes the oldest stored item of a membership (it is leaving the store for good).
    fn pop_front(&mut self, ctx: &mut Ctx, ml: usize) -> Option<Stored> {
        let pm = &mut self.members[ml];
        let s = pm.store.pop_front()?;
        pm.store_bytes -= s.item.size as u64;
        let u = ctx.world.member(pm.id).user;
        let pu = &mut self.users[Self::ul(ctx, u)];
        pu.stored -= 1;
        pu.stored_bytes -= s.item.size as u64;
        self.stored -= 1;
        self.stored_bytes -= s.item.size as u64;
        Some(s)
    }

    /// An item leaves the PF's custody (delivered, discarded, dropped, expired).
    fn release(ctx: &mut Ctx, s: &Stored, what: Count) {
        ctx.stats.occupancy.add(ctx.now, -1);
        ctx.stats.bytes.add(ctx.now, -(s.item.size as i64));
        Self::count(ctx, &s.item, what);
    }

    fn drop_oldest_of(&mut self, ctx: &mut Ctx, ml: usize) {
        if let Some(s) = self.pop_front(ctx, ml) {
            Self::release(ctx, &s, Count::DroppedOverflow);
        }
    }

    /// The membership (local index) of `u` whose oldest stored item is oldest.
    fn oldest_of_user(&self, ctx: &Ctx, u: UserId) -> Option<usize> {
        ctx.world
            .memberships(u)
            .iter()
            .map(|m| Self::ml(ctx, *m))
            .filter(|&ml| !self.members[ml].store.is_empty())
            .min_by_key(|&ml| self.members[ml].store[0].seq)
    }

    /// The membership holding the server's oldest stored item (by insertion order).
    fn oldest_of_server(&mut self) -> Option<usize> {
        while let Some(&(ml, seq)) = self.fifo.front() {
            let st = &self.members[ml as usize].store;
            if st.binary_search_by_key(&seq, |s| s.seq).is_ok() {
                return Some(ml as usize);
            }
            self.fifo.pop_front();
        }
        None
    }

    /// Puts a copy into a membership's store, applying the store policy. `front` re-inserts
    /// items that were already in custody (failed sends) ahead of the others, keeping arrival order.
    fn store(&mut self, ctx: &mut Ctx, ml: usize, s: Stored, fresh: bool) {
        let lim = ctx.world.cfg.store;
        let size = s.item.size as u64;
        let u = ctx.world.member(self.members[ml].id).user;
        let ul = Self::ul(ctx, u);
        if fresh {
            // Classify by ground truth: was the device able to take it at all?
            let what = if ctx.device_online[u.0 as usize] { Count::QueuedBehind } else { Count::Offered };
            Self::count(ctx, &s.item, what);
            ctx.stats.occupancy.add(ctx.now, 1);
            ctx.stats.bytes.add(ctx.now, size as i64);
        }
        // Per session, per user, per server: make room (drop_oldest) or refuse (drop_newest).
        loop {
            let pm = &self.members[ml];
            if (pm.store.len() as u64) < lim.per_session && pm.store_bytes + size <= lim.per_session_bytes {
                break;
            }
            if !lim.drop_oldest || pm.store.is_empty() {
                return Self::release(ctx, &s, Count::DroppedOverflow);
            }
            self.drop_oldest_of(ctx, ml);
        }
        loop {
            let pu = &self.users[ul];
            if pu.stored < lim.per_user && pu.stored_bytes + size <= lim.per_user_bytes {
                break;
            }
            match self.oldest_of_user(ctx, u) {
                Some(victim) if lim.drop_oldest => self.drop_oldest_of(ctx, victim),
                _ => return Self::release(ctx, &s, Count::DroppedOverflow),
            }
        }
        loop {
            if self.stored < lim.per_server && self.stored_bytes + size <= lim.per_server_bytes {
                break;
            }
            match self.oldest_of_server() {
                Some(victim) if lim.drop_oldest => self.drop_oldest_of(ctx, victim),
                _ => return Self::release(ctx, &s, Count::DroppedOverflow),
            }
        }
        let pm = &mut self.members[ml];
        match pm.store.front() {
            Some(f) if s.seq < f.seq => pm.store.push_front(s),
            _ => pm.store.push_back(s),
        }
        pm.store_bytes += size;
        self.users[ul].stored += 1;
        self.users[ul].stored_bytes += size;
        self.stored += 1;
        self.stored_bytes += size;
        if lim.per_server != u64::MAX || lim.per_server_bytes != u64::MAX {
            self.fifo.push_back((ml as u32, s.seq));
            if self.fifo.len() > 2 * self.stored as usize + 1024 {
                let members = &self.members;
                self.fifo.retain(|&(m, q)| members[m as usize].store.binary_search_by_key(&q, |x| x.seq).is_ok());
            }
        }
        self.arm_ttl(ctx, ml);
    }

    fn arm_ttl(&mut self, ctx: &mut Ctx, ml: usize) {
        let Some(ttl) = ctx.world.cfg.store.ttl else {
            return;
        };
        let pm = &mut self.members[ml];
        if pm.ttl_armed {
            return;
        }
        if let Some(f) = pm.store.front() {
            pm.ttl_armed = true;
            pm.ttl_generation += 1;
            ctx.timer((f.arrived + ttl).max(ctx.now), Timer::Pf(self.id, PfTimer::Ttl(pm.id, pm.ttl_generation)));
        }
    }

    fn discard_all(&mut self, ctx: &mut Ctx, ml: usize, what: fn() -> Count) {
        while let Some(s) = self.pop_front(ctx, ml) {
            Self::release(ctx, &s, what());
        }
        if let Delivery::Delivering(t) = &mut self.members[ml].delivery {
            for f in std::mem::take(&mut t.inflight) {
                if f.stored.item.is_stored_kind() {
                    Self::release(ctx, &f.stored, what());
                }
            }
        }
    }

    // ----- live traffic -----

    fn send_chunks(&self, ctx: &mut Ctx, to: Addr, session: Session, item: Item, first_seq: u32) -> u16 {
        let chunks = item.size.div_ceil(ctx.world.cfg.chunk_size).max(1) as u16;
        for c in 1..=chunks {
            ctx.send(
                Addr::Node(self.id),
                to,
                Msg::Msrp(Msrp::Send { session, item, chunk: c, chunks, seq: first_seq + c as u32 - 1 }),
            );
        }
        chunks
    }

    /// A copy from the focus for a served user: deliver it live if the user can take it now
    /// and nothing older is waiting, else keep it (DD-17: behind whatever is pending).
    fn copy_from_focus(&mut self, ctx: &mut Ctx, ml: usize, item: Item) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let s = Stored { item, arrived: ctx.now, seq };
        let u = ctx.world.member(self.members[ml].id).user;
        let ul = Self::ul(ctx, u);
        let pm = &self.members[ml];
        let pu = &self.users[ul];
        if item.payload == Payload::IsComposing {
            // Transient: relayed to a reachable client, never stored.
            if pu.registered && pu.reachable && matches!(pm.delivery, Delivery::Idle) {
                self.send_chunks(ctx, Addr::User(u), Session::Live(pm.id), item, 0);
            }
            return;
        }
        if pu.registered && pu.reachable && pm.store.is_empty() && matches!(pm.delivery, Delivery::Idle) {
            let m = pm.id;
            let pu = &mut self.users[ul];
            let first_seq = pu.live_seq;
            let chunks = item.size.div_ceil(ctx.world.cfg.chunk_size).max(1) as u16;
            pu.live_seq += chunks as u32;
            self.live_push(ul, InFlight { stored: s, chunks, acked: 0, first_seq, sent: ctx.now });
            self.send_chunks(ctx, Addr::User(u), Session::Live(m), item, first_seq);
            ctx.stats.live_sent += 1;
            let armed = self.deadlines.after(ctx.now, ctx.world.cfg.msrp_timeout, PfTimer::LiveDeadline(u, first_seq));
            ctx.arm(Owner::Node(self.id), armed);
            return;
        }
        self.store(ctx, ml, s, true);
        if matches!(self.members[ml].delivery, Delivery::Delivering(_)) {
            self.pump(ctx, ml);
        }
    }

    /// Appends to user `ul`'s list of unacknowledged live SENDs.
    fn live_push(&mut self, ul: usize, f: InFlight) {
        let e = LiveEntry { f, next: NIL };
        let i = match self.live_free.pop() {
            Some(i) => {
                self.live[i as usize] = e;
                i
            }
            None => {
                self.live.push(e);
                (self.live.len() - 1) as u32
            }
        };
        let pu = &mut self.users[ul];
        if pu.live_tail == NIL {
            pu.live_head = i;
        } else {
            self.live[pu.live_tail as usize].next = i;
        }
        pu.live_tail = i;
    }

    /// Removes and returns the oldest unacknowledged live SEND of user `ul`.
    fn live_pop(&mut self, ul: usize) -> Option<InFlight> {
        let pu = &mut self.users[ul];
        if pu.live_head == NIL {
            return None;
        }
        let i = pu.live_head;
        let e = self.live[i as usize];
        pu.live_head = e.next;
        if pu.live_head == NIL {
            pu.live_tail = NIL;
        }
        self.live_free.push(i);
        Some(e.f)
    }

    fn live_front(&self, ul: usize) -> Option<&InFlight> {
        let h = self.users[ul].live_head;
        (h != NIL).then(|| &self.live[h as usize].f)
    }

    fn live_ack(&mut self, ctx: &mut Ctx, u: UserId, seq: u32) {
        let ul = Self::ul(ctx, u);
        let h = self.users[ul].live_head;
        if h == NIL {
            return;
        }
        let f = &mut self.live[h as usize].f;
        if seq != f.first_seq + f.acked as u32 {
            return;
        }
        f.acked += 1;
        if f.acked == f.chunks {
            self.live_pop(ul);
        }
    }

    /// A live SEND got no transaction response in time: the device is gone. Everything still
    /// unacknowledged goes to the store, ahead of what arrived since, in arrival order.
    fn live_failed(&mut self, ctx: &mut Ctx, u: UserId) {
        let ul = Self::ul(ctx, u);
        self.users[ul].reachable = false;
        ctx.stats.live_failed += 1;
        let failed: Vec<InFlight> = std::iter::from_fn(|| self.live_pop(ul)).collect();
        for f in failed.into_iter().rev() {
            let ml = ctx.world.membership(u, f.stored.item.group).map(|m| Self::ml(ctx, m));
            if let Some(ml) = ml {
                self.store(ctx, ml, f.stored, true);
            }
        }
    }

    // ----- registration -----

    /// DD-1: a 3rd-party registration for a served user starts deferred delivery of every group
    /// session with pending data; a new registration re-arms the retry policy.
    pub fn registered(&mut self, ctx: &mut Ctx, u: UserId, sip_instance: bool) {
        let ul = Self::ul(ctx, u);
        let pu = &mut self.users[ul];
        pu.registered = true;
        pu.reachable = true;
        pu.sip_instance = sip_instance;
        for &m in ctx.world.memberships(u) {
            let ml = Self::ml(ctx, m);
            let pm = &mut self.members[ml];
            match pm.delivery {
                Delivery::Idle if !pm.store.is_empty() => {
                    pm.episode = Some(Box::new(Episode { first_invite: ctx.now, attempts: 0, prev_wait: 0 }));
                    ctx.stats.sessions_started += 1;
                    self.invite(ctx, ml);
                }
                Delivery::WaitingRetry => {
                    if let Some(e) = &mut pm.episode {
                        e.attempts = 0;
                        e.prev_wait = 0;
                        e.first_invite = ctx.now;
                    }
                    self.invite(ctx, ml);
                }
                Delivery::Idle => {
                    // Nothing pending: the user is back in the live session.
                    if pm.subscribed && ctx.world.cfg.unsubscribe_on_rejoin {
                        self.subscribe(ctx, ml, 0);
                    }
                }
                Delivery::Inviting | Delivery::Delivering(_) => {}
            }
        }
    }

    /// De-registration (3rd-party REGISTER with Expires: 0, or a reg-event saying the binding
    /// expired): the PF stays in each active group session on the user's behalf, subscribed to
    /// the conference event package.
    pub fn deregistered(&mut self, ctx: &mut Ctx, u: UserId) {
        let ul = Self::ul(ctx, u);
        self.users[ul].registered = false;
        for &m in ctx.world.memberships(u) {
            let ml = Self::ml(ctx, m);
            if self.members[ml].leg == Leg::In && !self.members[ml].subscribed {
                self.subscribe(ctx, ml, 3600);
            }
        }
    }

    fn subscribe(&mut self, ctx: &mut Ctx, ml: usize, expires_s: u32) {
        let pm = &mut self.members[ml];
        pm.subscribed = expires_s > 0;
        let dialog = Dialog { role: Role::Conference, id: pm.id.0, generation: 0 };
        let cf = Addr::Node(ctx.world.group(ctx.world.member(pm.id).group).cf);
        ctx.send(Addr::Node(self.id), cf, Msg::Sip(Sip::Subscribe { dialog, expires_s }));
    }

    // ----- deferred delivery -----

    /// DD-2..DD-8: one INVITE per group session, towards the served user.
    fn invite(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        pm.generation += 1;
        pm.delivery = Delivery::Inviting;
        if let Some(e) = &mut pm.episode {
            e.attempts += 1;
        }
        let mi = *ctx.world.member(pm.id);
        let pu = &self.users[Self::ul(ctx, mi.user)];
        let invite = DeferredInvite {
            request_uri: mi.user,
            conversation_id: mi.group,
            contribution_id: pm.contribution,
            participants: if pm.participants.is_empty() {
                Self::all_members(ctx, mi.group)
            } else {
                pm.participants.clone()
            },
            accept_contact_icsi: ICSI_SESSION,
            contact_icsi: ICSI_SESSION,
            contact_focus: mi.group,
            contact_isfocus: true,
            contact_sip_instance: if pu.sip_instance { Some(mi.user) } else { None },
            p_asserted_identity: mi.group,
            p_asserted_service: ICSI_SESSION_GROUP,
            referred_by: mi.referred_by,
            sdp: SdpOffer { direction: crate::protocol::Direction::SendRecv, ..SdpOffer::GROUP },
        };
        let dialog = Dialog { role: Role::Deferred, id: pm.id.0, generation: pm.generation };
        ctx.stats.invites += 1;
        ctx.send(
            Addr::Node(self.id),
            Addr::User(mi.user),
            Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(Box::new(invite)) }),
        );
        let armed = self.deadlines.after(ctx.now, ctx.world.cfg.timer_b, PfTimer::InviteTimeout(pm.id, pm.generation));
        ctx.arm(Owner::Node(self.id), armed);
    }

    /// Before any conference NOTIFY, the PF knows the group's member list from provisioning.
    fn all_members(ctx: &Ctx, g: crate::protocol::GroupId) -> Rc<[UserId]> {
        Rc::from(ctx.world.group_members(g).map(|m| ctx.world.member(m).user).collect::<Vec<_>>())
    }

    fn end_episode(&mut self, ctx: &mut Ctx, ml: usize, outcome: Outcome) {
        let Some(e) = self.members[ml].episode.take() else {
            return;
        };
        let s = &mut ctx.stats;
        match outcome {
            Outcome::Succeeded => s.sessions_succeeded += 1,
            Outcome::Declined => s.sessions_declined += 1,
            Outcome::Interrupted => s.sessions_interrupted += 1,
            Outcome::GaveUp => s.sessions_gave_up += 1,
        }
        s.attempts_sum += e.attempts as u64;
        s.attempts_n += 1;
        s.attempts_max = s.attempts_max.max(e.attempts as u64);
    }

    /// DD-11: an attempt failed with anything but 603: ask the retry policy.
    fn attempt_failed(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        let Some(e) = pm.episode.as_mut() else {
            pm.delivery = Delivery::Idle;
            return;
        };
        match ctx.world.cfg.retry.next(e.attempts, e.prev_wait, ctx.now - e.first_invite, &mut self.rng) {
            Retry::After(w) => {
                e.prev_wait = w;
                pm.delivery = Delivery::WaitingRetry;
                ctx.stats.retries_scheduled += 1;
                ctx.timer(ctx.now + w, Timer::Pf(self.id, PfTimer::Retry(pm.id, pm.generation)));
            }
            Retry::GiveUp => {
                pm.delivery = Delivery::Idle;
                self.end_episode(ctx, ml, Outcome::GaveUp);
            }
        }
    }

    /// Items in flight in a failed session go back to the front of the store, in order.
    fn return_inflight(&mut self, ctx: &mut Ctx, ml: usize) {
        let Delivery::Delivering(t) = std::mem::replace(&mut self.members[ml].delivery, Delivery::Idle) else {
            return;
        };
        for f in t.inflight.into_iter().rev() {
            if f.stored.item.is_stored_kind() {
                self.store(ctx, ml, f.stored, false);
            }
        }
    }

    /// DD-12 / DD-13: send stored items in order, up to the MSRP window.
    fn pump(&mut self, ctx: &mut Ctx, ml: usize) {
        let window = ctx.world.cfg.msrp_window;
        loop {
            let Delivery::Delivering(t) = &self.members[ml].delivery else {
                return;
            };
            if t.chunks_out >= window {
                break;
            }
            let Some(s) = self.pop_front(ctx, ml) else {
                break;
            };
            self.send_in_session(ctx, ml, s);
        }
        let pm = &self.members[ml];
        if let Delivery::Delivering(t) = &pm.delivery
            && t.inflight.is_empty()
            && pm.store.is_empty()
        {
            self.delivery_complete(ctx, ml);
        }
    }

    fn send_in_session(&mut self, ctx: &mut Ctx, ml: usize, s: Stored) {
        let pm = &mut self.members[ml];
        let session = Session::Deferred(pm.id, pm.generation);
        let user = ctx.world.member(pm.id).user;
        let (m, generation) = (pm.id, pm.generation);
        let Delivery::Delivering(t) = &mut pm.delivery else {
            return;
        };
        let first_seq = t.next_seq;
        let chunks = s.item.size.div_ceil(ctx.world.cfg.chunk_size).max(1) as u16;
        t.next_seq += chunks as u32;
        t.chunks_out += chunks as u32;
        t.inflight.push_back(InFlight { stored: s, chunks, acked: 0, first_seq, sent: ctx.now });
        let arm = !t.deadline_armed;
        t.deadline_armed = true;
        self.send_chunks(ctx, Addr::User(user), session, s.item, first_seq);
        if arm {
            ctx.timer(
                ctx.now + ctx.world.cfg.msrp_timeout,
                Timer::Pf(self.id, PfTimer::SessionDeadline(m, generation)),
            );
        }
    }

    /// Everything delivered: DD-14 (active: re-join) or DD-15 (inactive: restart if the client
    /// engaged, else close).
    fn delivery_complete(&mut self, ctx: &mut Ctx, ml: usize) {
        let replied = matches!(&self.members[ml].delivery, Delivery::Delivering(t) if t.replied);
        self.end_episode(ctx, ml, Outcome::Succeeded);
        let pm = &mut self.members[ml];
        let (m, generation) = (pm.id, pm.generation);
        pm.delivery = Delivery::Idle;
        match pm.leg {
            Leg::In => {
                // DD-14: the session becomes the user's leg of the ongoing conference.
                ctx.stats.groups_rejoins += 1;
                if pm.subscribed && ctx.world.cfg.unsubscribe_on_rejoin {
                    self.subscribe(ctx, ml, 0);
                }
            }
            // DD-15: a restart is under way because the client sent something.
            Leg::Joining => {}
            Leg::Out => {
                // DD-15: inactive and the client sent nothing (or its re-join failed): close.
                if !replied {
                    ctx.stats.delivery_closed_inactive += 1;
                }
                let user = ctx.world.member(m).user;
                let dialog = Dialog { role: Role::Deferred, id: m.0, generation };
                ctx.send(Addr::Node(self.id), Addr::User(user), Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
            }
        }
    }

    fn session_ack(&mut self, ctx: &mut Ctx, ml: usize, generation: u32, seq: u32, received_at: Time) {
        let pm = &mut self.members[ml];
        if pm.generation != generation {
            return;
        }
        let Delivery::Delivering(t) = &mut pm.delivery else {
            return;
        };
        let Some(f) = t.inflight.front_mut() else {
            return;
        };
        if seq != f.first_seq + f.acked as u32 {
            return;
        }
        f.acked += 1;
        t.chunks_out -= 1;
        if f.acked < f.chunks {
            return;
        }
        let done = t.inflight.pop_front().expect("front exists");
        if done.stored.item.is_stored_kind() {
            Self::release(ctx, &done.stored, Count::Delivered);
            ctx.stats.record_latency(received_at.saturating_sub(done.stored.arrived));
            ctx.stats.deliveries_interval += 1;
        }
        self.pump(ctx, ml);
    }

    /// Something from the client towards the group: to the CF over the leg, re-joining first
    /// if the PF is not in the session (8.2.2.7).
    fn upstream(&mut self, ctx: &mut Ctx, ml: usize, item: Item, in_deferred: bool) {
        let pm = &mut self.members[ml];
        let m = pm.id;
        match pm.leg {
            Leg::In => {
                let cf = Addr::Node(ctx.world.group(item.group).cf);
                self.send_chunks(ctx, cf, Session::Leg(m), item, 0);
            }
            Leg::Joining => self.upstream.entry(ml as u32).or_default().push(item),
            Leg::Out => {
                // Live typing alone does not restart a session; in a deferred-delivery session
                // any IMDN, isComposing or message does (DD-15).
                if item.payload == Payload::IsComposing && !in_deferred {
                    return;
                }
                self.upstream.entry(ml as u32).or_default().push(item);
                if in_deferred {
                    ctx.stats.delivery_restarts += 1;
                }
                self.rejoin(ctx, ml);
            }
        }
    }

    fn rejoin(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        pm.leg = Leg::Joining;
        pm.leg_generation += 1;
        let dialog = Dialog { role: Role::Leg, id: pm.id.0, generation: pm.leg_generation };
        let cf = Addr::Node(ctx.world.group(ctx.world.member(pm.id).group).cf);
        ctx.send(Addr::Node(self.id), cf, Msg::Sip(Sip::Invite { dialog, invite: Invite::Rejoin { member: pm.id } }));
        let armed =
            self.deadlines.after(ctx.now, ctx.world.cfg.timer_b, PfTimer::RejoinTimeout(pm.id, pm.leg_generation));
        ctx.arm(Owner::Node(self.id), armed);
    }

    fn rejoin_failed(&mut self, ctx: &mut Ctx, ml: usize, retry_after_s: Option<u32>) {
        let pm = &mut self.members[ml];
        if retry_after_s.is_some() && pm.rejoin_tries < 3 {
            pm.rejoin_tries += 1;
            pm.leg_generation += 1;
            let at = ctx.now + retry_after_s.unwrap_or(1) as u64 * crate::units::SEC;
            ctx.timer(at, Timer::Pf(self.id, PfTimer::RejoinRetry(pm.id, pm.leg_generation)));
            return;
        }
        pm.leg = Leg::Out;
        pm.rejoin_tries = 0;
        ctx.stats.groups_upstream_lost += self.upstream.remove(&(ml as u32)).map_or(0, |v| v.len()) as u64;
    }

    // ----- inputs -----

    /// One of the PF's deadline lists is due.
    pub fn expire_deadlines(&mut self, ctx: &mut Ctx, list: u16) {
        let mut due = std::mem::take(&mut self.due);
        // Timer B of an INVITE is stale once that INVITE is answered or superseded, an MSRP
        // deadline once its SEND is acknowledged; the generations and sequence numbers move on
        // for good.
        let (world, members, users, live) = (ctx.world, &self.members, &self.users, &self.live);
        let live = |t: &PfTimer| match *t {
            PfTimer::InviteTimeout(m, g) => {
                let pm = &members[world.member(m).pf_local as usize];
                pm.generation == g && matches!(pm.delivery, Delivery::Inviting)
            }
            PfTimer::RejoinTimeout(m, g) => {
                let pm = &members[world.member(m).pf_local as usize];
                pm.leg == Leg::Joining && pm.leg_generation == g
            }
            PfTimer::LiveDeadline(u, first_seq) => {
                let head = users[world.user(u).pf_local as usize].live_head;
                head != NIL && live[head as usize].f.first_seq <= first_seq
            }
            _ => true,
        };
        if let Some(next) = self.deadlines.expire(list, ctx.now, &mut due, live) {
            ctx.timer(next, Timer::Deadlines(Owner::Node(self.id), list));
        }
        for t in due.drain(..) {
            ctx.out.push(Action::Fired(Timer::Pf(self.id, t)));
            self.on_timer(ctx, t);
        }
        self.due = due;
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, t: PfTimer) {
        match t {
            PfTimer::InviteTimeout(m, g) => {
                let ml = Self::ml(ctx, m);
                let pm = &self.members[ml];
                if pm.generation == g && matches!(pm.delivery, Delivery::Inviting) {
                    // Timer B (RFC 3261 §17.1.1.2): the transaction reports 408 to the PF.
                    ctx.stats.count_response(408);
                    ctx.stats.invite_timeouts += 1;
                    let u = ctx.world.member(m).user;
                    self.users[Self::ul(ctx, u)].reachable = false;
                    self.attempt_failed(ctx, ml);
                }
            }
            PfTimer::Retry(m, g) => {
                let ml = Self::ml(ctx, m);
                let pm = &self.members[ml];
                if pm.generation != g || !matches!(pm.delivery, Delivery::WaitingRetry) {
                    return;
                }
                if pm.store.is_empty() {
                    // Everything expired or was dropped while waiting.
                    self.members[ml].delivery = Delivery::Idle;
                    self.end_episode(ctx, ml, Outcome::GaveUp);
                } else {
                    self.invite(ctx, ml);
                }
            }
            PfTimer::Ttl(m, g) => {
                let ml = Self::ml(ctx, m);
                let Some(ttl) = ctx.world.cfg.store.ttl else {
                    return;
                };
                if self.members[ml].ttl_generation != g {
                    return;
                }
                self.members[ml].ttl_armed = false;
                while let Some(f) = self.members[ml].store.front() {
                    if f.arrived + ttl > ctx.now {
                        break;
                    }
                    let s = self.pop_front(ctx, ml).expect("front exists");
                    Self::release(ctx, &s, Count::Expired);
                }
                self.arm_ttl(ctx, ml);
            }
            PfTimer::LiveDeadline(u, first_seq) => {
                // SENDs are acknowledged in order: the one sent `msrp_timeout` ago is still
                // unacknowledged if the oldest unacknowledged one is no newer.
                if self.live_front(Self::ul(ctx, u)).is_some_and(|f| f.first_seq <= first_seq) {
                    self.live_failed(ctx, u);
                }
            }
            PfTimer::SessionDeadline(m, g) => {
                let ml = Self::ml(ctx, m);
                let timeout = ctx.world.cfg.msrp_timeout;
                let pm = &mut self.members[ml];
                if pm.generation != g {
                    return;
                }
                let Delivery::Delivering(t) = &mut pm.delivery else {
                    return;
                };
                t.deadline_armed = false;
                match t.inflight.front() {
                    Some(f) if f.sent + timeout <= ctx.now => {
                        // The device stopped answering mid-delivery (DD-11: retry).
                        let u = ctx.world.member(m).user;
                        self.users[Self::ul(ctx, u)].reachable = false;
                        ctx.stats.delivery_msrp_timeouts += 1;
                        self.return_inflight(ctx, ml);
                        self.attempt_failed(ctx, ml);
                    }
                    Some(f) => {
                        t.deadline_armed = true;
                        let at = f.sent + timeout;
                        ctx.timer(at, Timer::Pf(self.id, PfTimer::SessionDeadline(m, g)));
                    }
                    None => {}
                }
            }
            PfTimer::RejoinTimeout(m, g) => {
                let ml = Self::ml(ctx, m);
                let pm = &self.members[ml];
                if pm.leg == Leg::Joining && pm.leg_generation == g {
                    ctx.stats.count_response(408);
                    self.rejoin_failed(ctx, ml, None);
                }
            }
            PfTimer::RejoinRetry(m, g) => {
                let ml = Self::ml(ctx, m);
                let pm = &self.members[ml];
                if pm.leg == Leg::Joining && pm.leg_generation == g {
                    self.rejoin(ctx, ml);
                }
            }
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, p: Packet) {
        match p.msg {
            Msg::Sip(sip) => self.handle_sip(ctx, p.src, sip),
            Msg::Msrp(Msrp::Send { session, item, chunk, chunks, .. }) => {
                // Sent with Failure-Report: partial (from the focus and from the UE): no 200.
                if chunk != chunks {
                    return;
                }
                match session {
                    Session::Leg(m) => {
                        let ml = Self::ml(ctx, m);
                        if item.payload == Payload::GroupState {
                            return;
                        }
                        self.copy_from_focus(ctx, ml, item);
                    }
                    Session::Live(m) => {
                        let ml = Self::ml(ctx, m);
                        self.upstream(ctx, ml, item, false);
                    }
                    Session::Deferred(m, g) => {
                        let ml = Self::ml(ctx, m);
                        let pm = &mut self.members[ml];
                        let in_session = pm.generation == g && matches!(pm.delivery, Delivery::Delivering(_));
                        if let Delivery::Delivering(t) = &mut pm.delivery
                            && in_session
                        {
                            t.replied = true;
                        }
                        self.upstream(ctx, ml, item, in_session);
                    }
                }
            }
            Msg::Msrp(Msrp::Ok { session, seq, received_at, .. }) => match session {
                Session::Live(m) => {
                    let u = ctx.world.member(m).user;
                    self.live_ack(ctx, u, seq);
                }
                Session::Deferred(m, g) => {
                    let ml = Self::ml(ctx, m);
                    self.session_ack(ctx, ml, g, seq, received_at);
                }
                Session::Leg(_) => {}
            },
        }
    }

    fn handle_sip(&mut self, ctx: &mut Ctx, src: Addr, sip: Sip) {
        let me = Addr::Node(self.id);
        match sip {
            Sip::ThirdPartyRegister { user, expires_s, sip_instance, .. } => {
                let resp = sip_response(&sip, 200);
                ctx.send(me, src, Msg::Sip(resp));
                if expires_s > 0 {
                    self.registered(ctx, user, sip_instance);
                } else {
                    self.deregistered(ctx, user);
                }
            }
            Sip::RegNotifyExpired { user, .. } => {
                ctx.send(me, src, Msg::Sip(sip_response(&sip, 200)));
                self.deregistered(ctx, user);
            }
            Sip::Invite { dialog, invite: Invite::Join { member, contribution_id, ref participants } } => {
                // The focus (re)starts the session and invites this member: the PF, as B2BUA,
                // answers for the user and stays in the session on its behalf.
                let ml = Self::ml(ctx, member);
                let u = ctx.world.member(member).user;
                let pm = &mut self.members[ml];
                pm.leg = Leg::In;
                pm.contribution = contribution_id;
                pm.participants = participants.clone();
                let flush = self.upstream.remove(&(ml as u32)).unwrap_or_default();
                ctx.send(
                    me,
                    src,
                    Msg::Sip(Sip::Response { dialog, method: Method::Invite, status: 200, retry_after_s: None }),
                );
                for it in flush {
                    self.upstream(ctx, ml, it, false);
                }
                if !self.users[Self::ul(ctx, u)].registered && !self.members[ml].subscribed {
                    self.subscribe(ctx, ml, 3600);
                }
            }
            Sip::Invite { .. } => {}
            Sip::Ack { .. } => {}
            Sip::Bye { dialog, reason } => {
                ctx.send(
                    me,
                    src,
                    Msg::Sip(Sip::Response { dialog, method: Method::Bye, status: 200, retry_after_s: None }),
                );
                let ml = Self::ml(ctx, MemberId(dialog.id));
                match dialog.role {
                    Role::Leg => {
                        // The focus tore the session down: it is inactive now.
                        let pm = &mut self.members[ml];
                        pm.leg = Leg::Out;
                        pm.subscribed = false;
                    }
                    Role::Deferred => self.client_bye(ctx, ml, dialog.generation, reason),
                    _ => {}
                }
            }
            Sip::ConfNotify { dialog, ref participants, terminated } => {
                ctx.send(me, src, Msg::Sip(sip_response(&sip, 200)));
                let pm = &mut self.members[Self::ml(ctx, MemberId(dialog.id))];
                if terminated {
                    pm.subscribed = false;
                } else {
                    pm.participants = participants.clone();
                }
            }
            Sip::Response { dialog, method: Method::Invite, status, retry_after_s } => match dialog.role {
                Role::Deferred => self.invite_response(ctx, dialog, status),
                Role::Leg => {
                    let ml = Self::ml(ctx, MemberId(dialog.id));
                    let pm = &mut self.members[ml];
                    if pm.leg != Leg::Joining || pm.leg_generation != dialog.generation {
                        return;
                    }
                    if status == 200 {
                        pm.leg = Leg::In;
                        pm.rejoin_tries = 0;
                        ctx.send(me, src, Msg::Sip(Sip::Ack { dialog }));
                        for it in self.upstream.remove(&(ml as u32)).unwrap_or_default() {
                            self.upstream(ctx, ml, it, false);
                        }
                        let u = ctx.world.member(MemberId(dialog.id)).user;
                        if !self.users[Self::ul(ctx, u)].registered && !self.members[ml].subscribed {
                            self.subscribe(ctx, ml, 3600);
                        }
                    } else {
                        self.rejoin_failed(
                            ctx,
                            ml,
                            if status == 503 { Some(retry_after_s.unwrap_or(1)) } else { None },
                        );
                    }
                }
                _ => {}
            },
            Sip::Response { .. } => {}
            Sip::Register { .. } | Sip::Subscribe { .. } => {}
        }
    }

    /// The client's final response to a deferred-delivery INVITE (or the S-CSCF's, or a 503
    /// from an overloaded server on the way).
    fn invite_response(&mut self, ctx: &mut Ctx, dialog: Dialog, status: u16) {
        let ml = Self::ml(ctx, MemberId(dialog.id));
        let pm = &mut self.members[ml];
        let user = Addr::User(ctx.world.member(pm.id).user);
        if pm.generation != dialog.generation || !matches!(pm.delivery, Delivery::Inviting) {
            if status == 200 {
                // A 2xx after the PF gave up on the transaction: ACK it and hang up (RFC 3261 §13.2.2.4).
                ctx.send(Addr::Node(self.id), user, Msg::Sip(Sip::Ack { dialog }));
                ctx.send(Addr::Node(self.id), user, Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
            }
            return;
        }
        match status {
            200 => {
                // DD-12: ACK, then the MSRP session; DD-13: interim participant information first.
                ctx.send(Addr::Node(self.id), user, Msg::Sip(Sip::Ack { dialog }));
                pm.delivery = Delivery::Delivering(Box::default());
                if ctx.world.cfg.group_state_object {
                    let n = pm.participants.len().max(ctx.world.group(ctx.world.member(pm.id).group).count as usize);
                    let mi = ctx.world.member(pm.id);
                    let gso = Item {
                        payload: Payload::GroupState,
                        group: mi.group,
                        origin: mi.user,
                        from: mi.user,
                        msg: 0,
                        size: 300 + 80 * n as u32,
                    };
                    ctx.stats.gso_sent += 1;
                    self.send_in_session(ctx, ml, Stored { item: gso, arrived: ctx.now, seq: u64::MAX });
                }
                self.pump(ctx, ml);
            }
            603 => {
                // DD-9: discard everything deferred for this group session.
                self.discard_all(ctx, ml, || Count::DiscardedDecline);
                let pm = &mut self.members[ml];
                pm.delivery = Delivery::Idle;
                // DD-10: still active: leave the conference and unsubscribe.
                if pm.leg == Leg::In {
                    self.leave_conference(ctx, ml);
                }
                self.end_episode(ctx, ml, Outcome::Declined);
            }
            _ => self.attempt_failed(ctx, ml),
        }
    }

    /// BYE to the focus with Reason cause=200, release media, unsubscribe (DD-10, 8.2.2.3).
    fn leave_conference(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        let cf = Addr::Node(ctx.world.group(ctx.world.member(pm.id).group).cf);
        let dialog = Dialog { role: Role::Leg, id: pm.id.0, generation: pm.leg_generation };
        pm.leg = Leg::Out;
        ctx.send(Addr::Node(self.id), cf, Msg::Sip(Sip::Bye { dialog, reason: Reason::CallCompleted }));
        if pm.subscribed {
            self.subscribe(ctx, ml, 0);
        }
    }

    fn client_bye(&mut self, ctx: &mut Ctx, ml: usize, generation: u32, reason: Reason) {
        let pm = &self.members[ml];
        if pm.generation != generation || !matches!(pm.delivery, Delivery::Delivering(_) | Delivery::Inviting) {
            return;
        }
        match reason {
            Reason::CallCompleted => {
                // DD-16: handle the BYE as 8.2.2.3 (leave the session) and discard what remains.
                self.discard_all(ctx, ml, || Count::DiscardedBye);
                self.members[ml].delivery = Delivery::Idle;
                if self.members[ml].leg == Leg::In {
                    self.leave_conference(ctx, ml);
                }
                self.end_episode(ctx, ml, Outcome::Interrupted);
            }
            Reason::None => {
                // The client left without cause 200 (going offline): nothing is discarded and
                // the retry policy decides what happens next (DD-11).
                self.return_inflight(ctx, ml);
                self.attempt_failed(ctx, ml);
            }
        }
    }
}

fn sip_response(req: &Sip, status: u16) -> Sip {
    req.response(status, None).expect("called on requests only")
}
