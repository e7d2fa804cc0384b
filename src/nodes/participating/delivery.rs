//! The deferred delivery of seed section 8.3.2.9.1.2 for one membership: on registration an
//! INVITE (DD-1..DD-8), then by its final response a discard (DD-9, DD-10), a retry (DD-11) or
//! the MSRP transfer of what is stored, in order (DD-12, DD-13), and after the last item the
//! re-join or the close (DD-14, DD-15); a BYE from the client ends it early (DD-16), and new
//! traffic waits behind it (DD-17).
//!
//! A membership's delivery is one state, [`Delivery`], whose variants carry what that state
//! needs, as rustls does with its handshake states: the episode (the retry policy's memory)
//! exists only while a delivery is under way, the transfer only between the 200 and the last
//! acknowledgement. The generation of the current INVITE is the membership's count of
//! INVITEs, which only grows, so that a late answer to an earlier one is recognised as stale.

use super::store::{Count, DeferredStore, Stored};
use super::{InFlight, Leg, ParticipatingFunction};
use crate::engine::Time;
use crate::nodes::{Ctx, Owner, PfTimer, Timer};
use crate::policy::Retry;
use crate::protocol::{
    Addr, DeferredInvite, Dialog, Direction, GroupId, ICSI_SESSION, ICSI_SESSION_GROUP, Invite, Item, Msg, Msrp,
    Payload, Reason, Role, SdpOffer, Session, Sip, UserId,
};
use std::collections::VecDeque;
use std::rc::Rc;

/// Where a membership's deferred delivery stands.
#[derive(Debug)]
pub enum Delivery {
    /// No delivery under way: live traffic flows when nothing is stored.
    Idle,
    /// An INVITE is out, waiting for its final response (Timer B running).
    Inviting(Box<Episode>),
    /// 200 and ACK done: the stored items go in MSRP SENDs, in order.
    Delivering(Box<Transfer>),
    /// An attempt failed; the retry policy's timer will make the next one.
    WaitingRetry(Box<Episode>),
}

/// One delivery episode, from its trigger (a registration) to success, decline, interruption or
/// giving up: what the retry policy needs to remember, and when the registration that triggered
/// it happened. `delivery.sessions.*` count episodes.
#[derive(Clone, Copy, Debug)]
pub struct Episode {
    first_invite: Time,
    /// The PF's receipt of the 3rd-party REGISTER that triggered the episode (DD-1), or that
    /// re-armed the retry policy: deliveries are timed from it (`delivery.after_register_s`).
    registered: Time,
    /// When the client sent the REGISTER that led to it (`delivery.after_client_register_s`).
    client_registered: Time,
    /// INVITEs so far, the first included.
    attempts: u32,
    /// The last wait the retry policy chose (for decorrelated jitter).
    prev_wait: u64,
}

impl Episode {
    /// An episode triggered now by a registration the client sent at `client_registered`.
    fn new(now: Time, client_registered: Time) -> Box<Episode> {
        Box::new(Episode { first_invite: now, registered: now, client_registered, attempts: 0, prev_wait: 0 })
    }
}

/// The MSRP transfer of a deferred-delivery session.
#[derive(Debug)]
pub struct Transfer {
    episode: Episode,
    /// Items sent and not fully acknowledged, oldest first.
    inflight: VecDeque<InFlight>,
    chunks_out: u32,
    next_seq: u32,
    /// When the session's MSRP deadline timer fires, if one is set (one at a time).
    deadline: Option<Time>,
    /// Items the client sent in this session (IMDNs, isComposing, messages): DD-15.
    client_items: u32,
}

/// How a delivery episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Declined,
    Interrupted,
    GaveUp,
}

impl Delivery {
    pub fn is_idle(&self) -> bool {
        matches!(self, Delivery::Idle)
    }
    /// Items in custody but out of the store: sent in this session, not yet acknowledged.
    pub fn inflight(&self) -> impl Iterator<Item = &Stored> {
        let t = match self {
            Delivery::Delivering(t) => Some(t.inflight.iter()),
            _ => None,
        };
        t.into_iter().flatten().map(|f| &f.stored)
    }
}

impl ParticipatingFunction {
    /// DD-1: a 3rd-party registration for a served user starts deferred delivery of every group
    /// session with pending data; a new registration re-arms the retry policy.
    pub(super) fn registered(&mut self, ctx: &mut Ctx, u: UserId, sip_instance: bool) {
        let pu = &mut self.users[Self::ul(ctx, u)];
        pu.registered = true;
        pu.reachable = true;
        pu.sip_instance = sip_instance;
        let client_registered = ctx.devices.last_register(u);
        for &m in ctx.world.memberships(u) {
            let ml = Self::ml(ctx, m);
            let pm = &mut self.members[ml];
            match &pm.delivery {
                Delivery::Idle if !self.store.is_empty(ml) => {
                    ctx.stats.sessions_started += 1;
                    ctx.stats.episodes_open.add(ctx.now, 1);
                    self.invite(ctx, ml, Episode::new(ctx.now, client_registered));
                }
                // A new registration re-arms the retry policy, and becomes the trigger the
                // deliveries are timed from.
                Delivery::WaitingRetry(_) => self.invite(ctx, ml, Episode::new(ctx.now, client_registered)),
                Delivery::Idle => {
                    // Nothing pending: the user is back in the live session.
                    if pm.conference.subscribed && ctx.world.cfg.unsubscribe_on_rejoin {
                        self.subscribe(ctx, ml, 0);
                    }
                }
                Delivery::Inviting(_) | Delivery::Delivering(_) => {}
            }
        }
    }

    /// DD-2..DD-8: one INVITE per group session, towards the served user.
    fn invite(&mut self, ctx: &mut Ctx, ml: usize, mut episode: Box<Episode>) {
        let pm = &mut self.members[ml];
        pm.generation += 1;
        episode.attempts += 1;
        pm.delivery = Delivery::Inviting(episode);
        let mi = *ctx.world.member(pm.id);
        let pu = &self.users[mi.user_pf_local as usize];
        let participants = &pm.conference.participants;
        let invite = DeferredInvite {
            request_uri: mi.user,
            conversation_id: mi.group,
            contribution_id: pm.conference.contribution,
            participants: if participants.is_empty() { all_members(ctx, mi.group) } else { participants.clone() },
            accept_contact_icsi: ICSI_SESSION,
            contact_icsi: ICSI_SESSION,
            contact_focus: mi.group,
            contact_isfocus: true,
            contact_sip_instance: pu.sip_instance.then_some(mi.user),
            p_asserted_identity: mi.group,
            p_asserted_service: ICSI_SESSION_GROUP,
            referred_by: ctx.world.referred_by(pm.id),
            sdp: SdpOffer { direction: Direction::SendRecv, ..SdpOffer::GROUP },
        };
        let dialog = Dialog { role: Role::Deferred, id: pm.id.0, generation: pm.generation };
        let timeout = PfTimer::InviteTimeout(pm.id, pm.generation);
        ctx.stats.invites += 1;
        ctx.send(
            Addr::Node(self.id),
            Addr::User(mi.user),
            Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(Box::new(invite)) }),
        );
        self.deadlines.after(ctx, Owner::Node(self.id), ctx.world.cfg.timer_b, timeout);
    }

    /// The client's final response to a deferred-delivery INVITE (or the S-CSCF's, or a 503
    /// from an overloaded server on the way).
    pub(super) fn invite_response(&mut self, ctx: &mut Ctx, dialog: Dialog, status: u16) {
        let ml = Self::ml(ctx, crate::protocol::MemberId(dialog.id));
        let pm = &mut self.members[ml];
        let user = Addr::User(ctx.world.member(pm.id).user);
        let me = Addr::Node(self.id);
        if pm.generation != dialog.generation || !matches!(pm.delivery, Delivery::Inviting(_)) {
            if status == 200 {
                // A 2xx after the PF gave up on the transaction: ACK it and hang up (RFC 3261 §13.2.2.4).
                ctx.send(me, user, Msg::Sip(Sip::Ack { dialog }));
                ctx.send(me, user, Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
            }
            return;
        }
        let Delivery::Inviting(episode) = std::mem::replace(&mut pm.delivery, Delivery::Idle) else {
            unreachable!("checked above")
        };
        match status {
            200 => {
                // DD-12: ACK, then the MSRP session; DD-13: interim participant information first.
                ctx.send(me, user, Msg::Sip(Sip::Ack { dialog }));
                pm.delivery = Delivery::Delivering(Box::new(Transfer {
                    episode: *episode,
                    inflight: VecDeque::new(),
                    chunks_out: 0,
                    next_seq: 0,
                    deadline: None,
                    client_items: 0,
                }));
                if ctx.world.cfg.group_state_object {
                    let mi = *ctx.world.member(pm.id);
                    let n = pm.conference.participants.len().max(ctx.world.group(mi.group).count as usize);
                    let gso = Item::new(Payload::GroupState, mi.group, mi.user, mi.user, 0, 300 + 80 * n as u32);
                    ctx.stats.gso_sent += 1;
                    self.send_in_session(ctx, ml, Stored { item: gso, arrived: ctx.now as i64, seq: u64::MAX });
                }
                self.pump(ctx, ml);
            }
            603 => {
                // DD-9: discard everything deferred for this group session.
                self.store.discard(ctx, Self::slot(ctx, pm.id), Count::DiscardedDecline);
                // DD-10: still active: leave the conference and unsubscribe.
                if self.members[ml].conference.leg == Leg::In {
                    self.leave_conference(ctx, ml);
                }
                end_episode(ctx, &episode, Outcome::Declined);
            }
            _ => self.attempt_failed(ctx, ml, episode),
        }
    }

    /// DD-11: an attempt failed with anything but 603: ask the retry policy.
    fn attempt_failed(&mut self, ctx: &mut Ctx, ml: usize, mut e: Box<Episode>) {
        let pm = &mut self.members[ml];
        match ctx.world.cfg.retry.next(e.attempts, e.prev_wait, ctx.now - e.first_invite, &mut self.rng) {
            Retry::After(w) => {
                e.prev_wait = w;
                pm.delivery = Delivery::WaitingRetry(e);
                ctx.stats.retries_scheduled += 1;
                ctx.timer(ctx.now + w, Timer::Pf(self.id, PfTimer::Retry(pm.id, pm.generation)));
            }
            Retry::GiveUp => {
                pm.delivery = Delivery::Idle;
                end_episode(ctx, &e, Outcome::GaveUp);
            }
        }
    }

    /// The attempt under way ends without a result (Timer B, a lost device, the client leaving
    /// without cause): items in flight go back to the front of the store, in order, and the
    /// retry policy decides (DD-11).
    fn attempt_interrupted(&mut self, ctx: &mut Ctx, ml: usize) {
        let episode = match std::mem::replace(&mut self.members[ml].delivery, Delivery::Idle) {
            Delivery::Inviting(e) | Delivery::WaitingRetry(e) => e,
            Delivery::Delivering(t) => {
                let m = self.members[ml].id;
                let slot = Self::slot(ctx, m);
                for f in t.inflight.iter().rev() {
                    if f.stored.item.is_stored_kind() {
                        self.store.put(ctx, self.id, m, slot, f.stored, false);
                    }
                }
                Box::new(t.episode)
            }
            Delivery::Idle => return,
        };
        self.attempt_failed(ctx, ml, episode);
    }

    /// Timer B of a deferred-delivery INVITE (RFC 3261 §17.1.1.2): the transaction reports 408.
    pub(super) fn invite_timeout(&mut self, ctx: &mut Ctx, ml: usize, generation: u32) {
        let pm = &self.members[ml];
        if pm.generation == generation && matches!(pm.delivery, Delivery::Inviting(_)) {
            ctx.stats.count_response(408);
            ctx.stats.invite_timeouts += 1;
            let ul = ctx.world.member(pm.id).user_pf_local as usize;
            self.users[ul].reachable = false;
            self.attempt_interrupted(ctx, ml);
        }
    }

    /// The retry policy's timer: the next attempt, unless nothing is left to deliver.
    pub(super) fn retry_due(&mut self, ctx: &mut Ctx, ml: usize, generation: u32) {
        let pm = &mut self.members[ml];
        if pm.generation != generation || !matches!(pm.delivery, Delivery::WaitingRetry(_)) {
            return;
        }
        let Delivery::WaitingRetry(e) = std::mem::replace(&mut pm.delivery, Delivery::Idle) else {
            unreachable!("checked above")
        };
        if self.store.is_empty(ml) {
            // Everything expired or was dropped while waiting.
            end_episode(ctx, &e, Outcome::GaveUp);
        } else {
            self.invite(ctx, ml, e);
        }
    }

    /// DD-12 / DD-13: send stored items in order, up to the MSRP window; after the last
    /// acknowledgement, DD-14 or DD-15.
    pub(super) fn pump(&mut self, ctx: &mut Ctx, ml: usize) {
        let window = ctx.world.cfg.msrp_window;
        let slot = Self::slot(ctx, self.members[ml].id);
        loop {
            let Delivery::Delivering(t) = &self.members[ml].delivery else {
                return;
            };
            if t.chunks_out >= window {
                break;
            }
            let Some(s) = self.store.pop_front(slot) else {
                break;
            };
            self.send_in_session(ctx, ml, s);
        }
        if let Delivery::Delivering(t) = &self.members[ml].delivery
            && t.inflight.is_empty()
            && self.store.is_empty(ml)
        {
            self.delivery_complete(ctx, ml);
        }
    }

    fn send_in_session(&mut self, ctx: &mut Ctx, ml: usize, s: Stored) {
        let pm = &mut self.members[ml];
        let (m, generation) = (pm.id, pm.generation);
        let Delivery::Delivering(t) = &mut pm.delivery else {
            return;
        };
        let user = ctx.world.member(m).user;
        let first_seq = t.next_seq;
        let chunks = Self::chunks(ctx, &s.item);
        t.next_seq += chunks as u32;
        t.chunks_out += chunks as u32;
        t.inflight.push_back(InFlight { stored: s, chunks, acked: 0, first_seq, sent: ctx.now });
        let arm = t.deadline.is_none().then(|| ctx.now + ctx.world.cfg.msrp_timeout);
        if arm.is_some() {
            t.deadline = arm;
        }
        self.send_chunks(ctx, Addr::User(user), Session::Deferred(m, generation), s.item, first_seq);
        if let Some(at) = arm {
            ctx.timer(at, Timer::Pf(self.id, PfTimer::SessionDeadline(m, generation)));
        }
    }

    /// The session's MSRP deadline timer: the oldest SEND still unacknowledged after the MSRP
    /// timeout means the device stopped answering mid-delivery (DD-11: retry).
    pub(super) fn session_deadline(&mut self, ctx: &mut Ctx, ml: usize, generation: u32) {
        let timeout = ctx.world.cfg.msrp_timeout;
        let pm = &mut self.members[ml];
        if pm.generation != generation {
            return;
        }
        let Delivery::Delivering(t) = &mut pm.delivery else {
            return;
        };
        t.deadline = None;
        match t.inflight.front() {
            Some(f) if f.sent + timeout <= ctx.now => {
                let ul = ctx.world.member(pm.id).user_pf_local as usize;
                self.users[ul].reachable = false;
                ctx.stats.delivery_msrp_timeouts += 1;
                self.attempt_interrupted(ctx, ml);
            }
            Some(f) => {
                let at = f.sent + timeout;
                t.deadline = Some(at);
                ctx.timer(at, Timer::Pf(self.id, PfTimer::SessionDeadline(pm.id, generation)));
            }
            None => {}
        }
    }

    /// The 200 of a chunk sent in a deferred-delivery session, with the low bits of when the
    /// client received it.
    pub(super) fn session_ack(&mut self, ctx: &mut Ctx, ml: usize, generation: u32, seq: u32, received: u32) {
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
        // The chunk left at `f.sent` or later, and this 200 came before the session's MSRP
        // deadline (`f.sent` plus the MSRP timeout, under 2^32 ticks by validation) ended it.
        let received_at = Msrp::received_at(received, f.sent);
        f.acked += 1;
        t.chunks_out -= 1;
        if f.acked < f.chunks {
            return;
        }
        let done = t.inflight.pop_front().expect("front exists");
        if done.stored.item.is_stored_kind() {
            DeferredStore::release(ctx, &done.stored, Count::Delivered);
            // Before 0 for what a steady-state start found held.
            let arrived = done.stored.arrived;
            ctx.stats.record_latency((received_at as i64 - arrived).max(0) as u64);
            // From the registration that triggered the delivery, or from the item's arrival if
            // it came later (an item queued behind the delivery, DD-17).
            let since = |from: Time| (received_at as i64 - (from as i64).max(arrived)).max(0) as u64;
            ctx.stats.record_after_register(since(t.episode.registered), since(t.episode.client_registered));
            ctx.stats.deliveries_interval += 1;
        }
        self.pump(ctx, ml);
    }

    /// Something from the client in deferred-delivery session `generation`: whether that
    /// session is the one under way (it counts for DD-15 then).
    pub(super) fn client_sent_in_session(&mut self, ml: usize, generation: u32) -> bool {
        let pm = &mut self.members[ml];
        match &mut pm.delivery {
            Delivery::Delivering(t) if pm.generation == generation => {
                t.client_items += 1;
                true
            }
            _ => false,
        }
    }

    /// Everything delivered: DD-14 (active: re-join) or DD-15 (inactive: restart if the client
    /// engaged, else close).
    fn delivery_complete(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        let Delivery::Delivering(t) = std::mem::replace(&mut pm.delivery, Delivery::Idle) else {
            return;
        };
        end_episode(ctx, &t.episode, Outcome::Succeeded);
        let (m, generation) = (pm.id, pm.generation);
        match pm.conference.leg {
            Leg::In => {
                // DD-14: the session becomes the user's leg of the ongoing conference.
                ctx.stats.groups_rejoins += 1;
                if pm.conference.subscribed && ctx.world.cfg.unsubscribe_on_rejoin {
                    self.subscribe(ctx, ml, 0);
                }
            }
            // DD-15: a restart is under way because the client sent something.
            Leg::Joining { .. } => {}
            Leg::Out => {
                // DD-15: inactive and the client sent nothing (or its re-join failed): close.
                if t.client_items == 0 {
                    ctx.stats.delivery_closed_inactive += 1;
                }
                let user = ctx.world.member(m).user;
                let dialog = Dialog { role: Role::Deferred, id: m.0, generation };
                ctx.send(Addr::Node(self.id), Addr::User(user), Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
            }
        }
    }

    /// The client's BYE in a deferred-delivery session.
    pub(super) fn client_bye(&mut self, ctx: &mut Ctx, ml: usize, generation: u32, reason: Reason) {
        let pm = &mut self.members[ml];
        if pm.generation != generation || !matches!(pm.delivery, Delivery::Delivering(_) | Delivery::Inviting(_)) {
            return;
        }
        match reason {
            Reason::CallCompleted => {
                // DD-16: handle the BYE as 8.2.2.3 (leave the session) and discard what remains:
                // the stored items, then those in flight.
                let m = pm.id;
                let state = std::mem::replace(&mut pm.delivery, Delivery::Idle);
                self.store.discard(ctx, Self::slot(ctx, m), Count::DiscardedBye);
                let episode = match state {
                    Delivery::Delivering(t) => {
                        for f in t.inflight.iter().filter(|f| f.stored.item.is_stored_kind()) {
                            DeferredStore::release(ctx, &f.stored, Count::DiscardedBye);
                        }
                        t.episode
                    }
                    Delivery::Inviting(e) => *e,
                    Delivery::Idle | Delivery::WaitingRetry(_) => unreachable!("checked above"),
                };
                if self.members[ml].conference.leg == Leg::In {
                    self.leave_conference(ctx, ml);
                }
                end_episode(ctx, &episode, Outcome::Interrupted);
            }
            // The client left without cause 200 (going offline): nothing is discarded and the
            // retry policy decides what happens next (DD-11).
            Reason::None => self.attempt_interrupted(ctx, ml),
        }
    }
}

fn end_episode(ctx: &mut Ctx, e: &Episode, outcome: Outcome) {
    let s = &mut ctx.stats;
    s.episodes_open.add(ctx.now, -1);
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

/// Before any conference NOTIFY, the PF knows the group's member list from provisioning.
fn all_members(ctx: &Ctx, g: GroupId) -> Rc<Vec<UserId>> {
    Rc::from(ctx.world.group_members(g).map(|m| ctx.world.member(m).user).collect::<Vec<_>>())
}
