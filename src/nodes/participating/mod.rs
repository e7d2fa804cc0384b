//! The CPM Participating Function: the B2BUA between a served user and its group sessions.
//! While the user cannot take traffic it keeps what the user misses, per group session, in
//! arrival order, subject to the store policy; when the user registers again it runs the
//! deferred delivery of seed section 8.3.2.9.1.2 (steps DD-1..DD-17 of DESIGN.md), one
//! session per group session.
//!
//! The parts, one file each:
//! - [`store`]: the deferred store (limits per session, user and server; overflow; TTL);
//! - [`live`]: live relaying of copies to a user who can take them, and detecting a vanished
//!   device by a missing MSRP 200;
//! - [`delivery`]: the deferred-delivery procedure, one [`Delivery`] state per membership;
//! - [`conference`]: the PF's leg in each group session (join, re-join, subscribe, upstream).
//!
//! This file routes each input to its part.

mod conference;
mod delivery;
mod live;
mod store;

pub use conference::Leg;
pub use delivery::{Delivery, Episode, Outcome, Transfer};
pub use store::Stored;

use super::{Action, Ctx, NetworkFunction, NodeDeadlines, Owner, PfTimer, Timer};
use crate::engine::rng::{self, Rng, Stream};
use crate::engine::{Time, prefetch_at};
use crate::protocol::{
    Addr, Invite, Item, MemberId, Method, Msg, Msrp, NodeId, Packet, Payload, Role, Session, Sip, Subject, UserId,
};
use crate::workload::World;
use conference::Conference;
use live::LiveRelay;
use std::rc::Rc;
use store::{DeferredStore, Slot};

/// An item sent in an MSRP session and not yet fully acknowledged.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    stored: Stored,
    chunks: u16,
    acked: u16,
    first_seq: u32,
    sent: Time,
}

/// What the PF keeps per served user.
#[derive(Clone, Copy, Debug, Default)]
struct PfUser {
    registered: bool,
    /// False once a delivery to the device has failed (the PF learns of an ungraceful
    /// disappearance only this way); true again on the next registration.
    reachable: bool,
    sip_instance: bool,
}

/// What the PF keeps per membership (served user, group session); the stored items are in the
/// deferred store.
#[derive(Debug)]
struct PfMember {
    id: MemberId,
    conference: Conference,
    delivery: Delivery,
    /// Deferred-delivery INVITEs sent so far: the generation of the current one.
    generation: u32,
}

pub struct ParticipatingFunction {
    pub id: NodeId,
    users: Vec<PfUser>,
    members: Vec<PfMember>,
    store: DeferredStore,
    live: LiveRelay,
    rng: Rng,
    /// Timer B of deferred-delivery and re-join INVITEs (64·T1) and live MSRP deadlines.
    deadlines: NodeDeadlines<PfTimer>,
    /// Items from clients waiting for the leg to the CF (a re-join in progress), by membership.
    upstream: fnv::FnvHashMap<u32, Vec<Item>>,
}

impl ParticipatingFunction {
    pub fn new(id: NodeId, world: &World) -> ParticipatingFunction {
        let users = world.pf_users[id.0 as usize] as usize;
        let empty: Rc<Vec<UserId>> = Rc::from(Vec::new());
        // Sized exactly: a collect() through a filter would grow by doubling.
        let mut members = Vec::with_capacity(world.pf_members[id.0 as usize] as usize);
        members.extend(world.members.iter().enumerate().filter(|(_, m)| world.user(m.user).pf == id).map(|(i, _)| {
            PfMember {
                id: MemberId(i as u32),
                conference: Conference::new(empty.clone()),
                delivery: Delivery::Idle,
                generation: 0,
            }
        }));
        ParticipatingFunction {
            id,
            users: vec![PfUser::default(); users],
            store: DeferredStore::new(members.len(), users),
            members,
            live: LiveRelay::new(users),
            rng: rng::stream(world.seed, Stream::Retry, id.0 as u64),
            deadlines: NodeDeadlines::default(),
            upstream: Default::default(),
        }
    }

    /// The PF-local index of a membership.
    #[inline]
    fn ml(ctx: &Ctx, m: MemberId) -> usize {
        ctx.world.member(m).pf_local as usize
    }
    /// The PF-local index of a served user.
    #[inline]
    fn ul(ctx: &Ctx, u: UserId) -> usize {
        ctx.world.user(u).pf_local as usize
    }
    /// Where a membership's items are counted in the store.
    #[inline]
    fn slot(ctx: &Ctx, m: MemberId) -> Slot {
        Self::slot_in(ctx.world, m)
    }
    #[inline]
    fn slot_in(world: &World, m: MemberId) -> Slot {
        let mi = world.member(m);
        Slot { session: mi.pf_local as usize, user: mi.user_pf_local as usize }
    }

    /// MSRP chunks of an item (`policy.msrp_chunk_size`).
    fn chunks(ctx: &Ctx, item: &Item) -> u16 {
        item.size().div_ceil(ctx.world.cfg.chunk_size).max(1) as u16
    }

    fn send_chunks(&self, ctx: &mut Ctx, to: Addr, session: Session, item: Item, first_seq: u32) -> u16 {
        let chunks = Self::chunks(ctx, &item);
        for c in 1..=chunks {
            ctx.send(
                Addr::Node(self.id),
                to,
                Msg::Msrp(Msrp::Send { session, item, chunk: c, chunks, seq: first_seq + c as u32 - 1 }),
            );
        }
        chunks
    }

    // ----- introspection (tests, end-of-run accounting) -----

    /// Items held for a membership (stored plus in flight in a deferred session).
    pub fn pending(&self, world: &World, m: MemberId) -> usize {
        let ml = world.member(m).pf_local as usize;
        self.store.len(ml) + self.members[ml].delivery.inflight().filter(|s| s.item.is_stored_kind()).count()
    }
    pub fn delivery_state(&self, world: &World, m: MemberId) -> &Delivery {
        &self.members[world.member(m).pf_local as usize].delivery
    }
    pub fn leg(&self, world: &World, m: MemberId) -> Leg {
        self.members[world.member(m).pf_local as usize].conference.leg
    }
    pub fn subscribed(&self, world: &World, m: MemberId) -> bool {
        self.members[world.member(m).pf_local as usize].conference.subscribed
    }
    /// (messages, notifications) held, stored or in flight.
    pub fn pending_by_kind(&self) -> (u64, u64) {
        let inflight = self.members.iter().flat_map(|m| m.delivery.inflight());
        self.store.all().chain(inflight).fold((0, 0), |(msgs, notes), s| match s.item.payload() {
            Payload::Chat => (msgs + 1, notes),
            Payload::Delivered | Payload::Displayed => (msgs, notes + 1),
            Payload::IsComposing | Payload::GroupState => (msgs, notes),
        })
    }

    /// Marks a user registered at time 0 (it starts online with a binding).
    pub fn preload_registered(&mut self, ctx: &Ctx, u: UserId, sip_instance: bool) {
        let pu = &mut self.users[Self::ul(ctx, u)];
        pu.registered = true;
        pu.reachable = true;
        pu.sip_instance = sip_instance;
    }

    // ----- the steady-state start (workload::prehistory) -----

    /// Holds an item of the prehistory for membership `m`, under the store's limits.
    pub fn prefill(&mut self, world: &World, m: MemberId, item: Item, arrived: i64) {
        self.store.prefill(world, m, Self::slot_in(world, m), item, arrived);
    }
    /// Hands everything held for `u` to it, in the prehistory, at `now`.
    pub fn take_prefilled(&mut self, world: &World, u: UserId, now: i64, out: &mut Vec<Item>) {
        for &m in world.memberships(u) {
            self.store.take_prefilled(world, Self::slot_in(world, m), now, out);
        }
    }
    /// Time 0: what the prehistory left held enters the run (occupancy, TTL timers).
    pub fn prefilled(&mut self, ctx: &mut Ctx) {
        let world = ctx.world;
        let members = self.members.iter().map(|pm| (pm.id, Self::slot_in(world, pm.id)));
        self.store.prefilled(ctx, self.id, members);
    }

    // ----- inputs -----

    fn handle_sip(&mut self, ctx: &mut Ctx, src: Addr, sip: Sip) {
        let me = Addr::Node(self.id);
        let ok = |sip: &Sip| Msg::Sip(sip.response(200, None).expect("a request"));
        match sip {
            Sip::ThirdPartyRegister { user, expires_s, sip_instance, .. } => {
                ctx.send(me, src, ok(&sip));
                if expires_s > 0 {
                    self.registered(ctx, user, sip_instance);
                } else {
                    self.deregistered(ctx, user);
                }
            }
            Sip::RegNotifyExpired { user, .. } => {
                ctx.send(me, src, ok(&sip));
                self.deregistered(ctx, user);
            }
            Sip::Invite { dialog, invite: Invite::Join { member, contribution_id, ref participants } } => {
                self.invited_by_focus(ctx, src, dialog, member, contribution_id, participants);
            }
            Sip::Bye { dialog, reason } => {
                ctx.send(me, src, ok(&sip));
                let ml = Self::ml(ctx, MemberId(dialog.id));
                match dialog.role {
                    Role::Leg => self.focus_left(ml),
                    Role::Deferred => self.client_bye(ctx, ml, dialog.generation, reason),
                    _ => {}
                }
            }
            Sip::ConfNotify { dialog, ref participants, terminated } => {
                ctx.send(me, src, ok(&sip));
                self.conference_notify(Self::ml(ctx, MemberId(dialog.id)), participants, terminated);
            }
            Sip::Response { dialog, method: Method::Invite, status, retry_after_s } => match dialog.role {
                Role::Deferred => self.invite_response(ctx, dialog, status),
                Role::Leg => self.rejoin_response(ctx, src, dialog, status, retry_after_s),
                _ => {}
            },
            // Requests the PF does not receive in this model (it is never invited by a client,
            // never registers, never subscribes to anything), ACKs and other responses.
            Sip::Invite { .. }
            | Sip::Ack { .. }
            | Sip::Response { .. }
            | Sip::Register { .. }
            | Sip::Subscribe { .. } => {}
        }
    }
}

impl NetworkFunction for ParticipatingFunction {
    type Timer = PfTimer;
    type Deadline = PfTimer;

    fn owner(&self) -> Owner {
        Owner::Node(self.id)
    }
    #[inline]
    fn prefetch(&self, world: &World, p: &Packet) {
        match &p.msg {
            // What `handle` ignores.
            Msg::Sip(Sip::Ack { .. } | Sip::Subscribe { .. } | Sip::Register { .. }) => {}
            Msg::Sip(Sip::Response { method, .. }) if *method != Method::Invite => {}
            Msg::Msrp(Msrp::Send { chunk, chunks, .. }) if chunk != chunks => {}
            msg => {
                let ul = match msg.subject() {
                    Subject::Member(m) => {
                        let mi = world.member(m);
                        prefetch_at(&self.members, mi.pf_local as usize);
                        self.store.prefetch(mi.pf_local as usize);
                        mi.user_pf_local as usize
                    }
                    Subject::User(u) => {
                        // A (de-)registration: the list of memberships it walks.
                        prefetch_at(world.memberships(u), 0);
                        world.user(u).pf_local as usize
                    }
                };
                prefetch_at(&self.users, ul);
                self.live.prefetch(ul);
            }
        }
    }
    fn handle(&mut self, ctx: &mut Ctx, p: Packet) {
        let src = p.src();
        match p.msg {
            Msg::Sip(sip) => self.handle_sip(ctx, src, sip),
            Msg::Msrp(Msrp::Send { session, item, chunk, chunks, .. }) => {
                // Sent with Failure-Report: partial (from the focus and from the UE): no 200.
                if chunk != chunks {
                    return;
                }
                match session {
                    Session::Leg(m) => {
                        if item.payload() != Payload::GroupState {
                            self.copy_from_focus(ctx, Self::ml(ctx, m), item);
                        }
                    }
                    Session::Live(m) => self.upstream(ctx, Self::ml(ctx, m), item, false),
                    Session::Deferred(m, g) => {
                        let ml = Self::ml(ctx, m);
                        let in_session = self.client_sent_in_session(ml, g);
                        self.upstream(ctx, ml, item, in_session);
                    }
                }
            }
            Msg::Msrp(Msrp::Ok { session, seq, received, .. }) => match session {
                Session::Live(m) => self.live_ack(ctx, ctx.world.member(m).user, seq),
                Session::Deferred(m, g) => self.session_ack(ctx, Self::ml(ctx, m), g, seq, received),
                Session::Leg(_) => {}
            },
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx, t: PfTimer) {
        match t {
            PfTimer::InviteTimeout(m, g) => self.invite_timeout(ctx, Self::ml(ctx, m), g),
            PfTimer::Retry(m, g) => self.retry_due(ctx, Self::ml(ctx, m), g),
            PfTimer::Ttl(m, g) => self.store.expire(ctx, self.id, m, Self::slot(ctx, m), g),
            PfTimer::LiveDeadline(u, first_seq) => {
                if self.live.is_pending(Self::ul(ctx, u), first_seq) {
                    self.live_failed(ctx, u);
                }
            }
            PfTimer::SessionDeadline(m, g) => self.session_deadline(ctx, Self::ml(ctx, m), g),
            PfTimer::RejoinTimeout(m, g) => self.rejoin_timeout(ctx, Self::ml(ctx, m), g),
            PfTimer::RejoinRetry(m, g) => self.rejoin_retry(ctx, Self::ml(ctx, m), g),
        }
    }
    fn deadlines(&mut self) -> &mut NodeDeadlines<PfTimer> {
        &mut self.deadlines
    }
    /// Timer B of an INVITE is stale once that INVITE is answered or superseded, an MSRP
    /// deadline once its SEND is acknowledged.
    fn is_live(&self, world: &World, t: &PfTimer) -> bool {
        match *t {
            PfTimer::InviteTimeout(m, g) => {
                let pm = &self.members[world.member(m).pf_local as usize];
                pm.generation == g && matches!(pm.delivery, Delivery::Inviting(_))
            }
            PfTimer::RejoinTimeout(m, g) => self.rejoining(world.member(m).pf_local as usize, g),
            PfTimer::LiveDeadline(u, first_seq) => self.live.is_pending(world.user(u).pf_local as usize, first_seq),
            _ => true,
        }
    }
    fn deadline_passed(&mut self, ctx: &mut Ctx, t: PfTimer) {
        ctx.out.push(Action::Fired(Timer::Pf(self.id, t)));
        self.on_timer(ctx, t);
    }
}

#[cfg(test)]
mod tests {
    /// A PF holds one `PfMember` per membership it serves (millions in a national model) and
    /// one per user: growing them is a deliberate change (see also `store`).
    #[test]
    fn per_membership_and_per_user_state_keep_their_size() {
        assert_eq!(size_of::<super::PfMember>(), 48);
        assert_eq!(size_of::<super::Delivery>(), 16);
        assert_eq!(size_of::<super::PfUser>(), 3);
    }
}
