//! The deferred store of one PF server: per membership (user, group session) a queue of what the
//! user could not take, in arrival order, under limits per session, per user and per server (in
//! items and in bytes), with an overflow policy and a time to live.
//!
//! Custody is counted here: an item enters (`deferred.offered` or `deferred.queued_behind`) when
//! it is first stored, and leaves through `release` (delivered, discarded, dropped, expired).
//! Items sent in a deferred-delivery session and not yet acknowledged are out of the queue but
//! still in custody; a failed session puts them back with `put`.

use crate::engine::Time;
use crate::nodes::{Ctx, PfTimer, Timer};
use crate::protocol::{Item, MemberId, NodeId};
use crate::workload::World;
use std::collections::VecDeque;

/// A copy held for a user: what it is, when it reached the PF (ticks; before 0 for what a
/// steady-state start found held), and its arrival number (which orders everything the PF
/// ever received).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stored {
    pub item: Item,
    pub arrived: i64,
    pub seq: u64,
}

/// Which session queue, and which user's usage, an item is counted in (PF-local indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub session: usize,
    pub user: usize,
}

/// Which conservation counter an item's arrival or departure feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Offered,
    QueuedBehind,
    Delivered,
    DiscardedDecline,
    DiscardedBye,
    DroppedOverflow,
    Expired,
}

/// Items and bytes held in one scope.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    items: u64,
    bytes: u64,
}

/// The scopes of the store limits, checked in this order on every insertion.
#[derive(Clone, Copy, Debug)]
enum Scope {
    Session,
    User,
    Server,
}

/// One membership's queue. What it holds is boxed and present only while it holds something:
/// most of a million memberships hold nothing most of the time, and the PF reads this entry
/// for every copy it receives, so the entry is 16 bytes (four to a cache line).
#[derive(Debug, Default)]
struct SessionQueue {
    held: Option<Box<Held>>,
    /// The TTL timer of the oldest item is armed (its generation is `ttl_generation`).
    ttl_armed: bool,
    ttl_generation: u32,
}

/// The items of a non-empty session queue, oldest first, and their total size.
#[derive(Debug, Default)]
struct Held {
    items: VecDeque<Stored>,
    bytes: u64,
}

static NOTHING_HELD: VecDeque<Stored> = VecDeque::new();

impl SessionQueue {
    #[inline]
    fn items(&self) -> &VecDeque<Stored> {
        self.held.as_ref().map_or(&NOTHING_HELD, |h| &h.items)
    }
    #[inline]
    fn bytes(&self) -> u64 {
        self.held.as_ref().map_or(0, |h| h.bytes)
    }
}

pub struct DeferredStore {
    sessions: Vec<SessionQueue>,
    users: Vec<Usage>,
    server: Usage,
    /// Insertion order across the server, for a server-wide drop_oldest: (session, user, seq).
    /// Entries of items that left are stale and skipped when met.
    fifo: VecDeque<(u32, u32, u64)>,
    next_seq: u64,
}

impl DeferredStore {
    pub fn new(sessions: usize, users: usize) -> DeferredStore {
        let mut s = Vec::with_capacity(sessions);
        s.resize_with(sessions, SessionQueue::default);
        DeferredStore {
            sessions: s,
            users: vec![Usage::default(); users],
            server: Usage::default(),
            fifo: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// The arrival number of the next copy the PF receives.
    pub fn arrival(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    pub fn len(&self, session: usize) -> usize {
        self.sessions[session].items().len()
    }
    #[inline]
    pub fn prefetch(&self, session: usize) {
        crate::engine::prefetch_at(&self.sessions, session);
    }
    pub fn is_empty(&self, session: usize) -> bool {
        self.sessions[session].held.is_none()
    }
    /// Every item held, all sessions.
    pub fn all(&self) -> impl Iterator<Item = &Stored> {
        self.sessions.iter().flat_map(|s| s.items().iter())
    }

    /// Feeds the conservation counter of `what` for an item.
    pub fn count(ctx: &mut Ctx, item: &Item, what: Count) {
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

    /// An item leaves the PF's custody (delivered, discarded, dropped, expired).
    pub fn release(ctx: &mut Ctx, s: &Stored, what: Count) {
        ctx.stats.occupancy.add(ctx.now, -1);
        ctx.stats.bytes.add(ctx.now, -(s.item.size() as i64));
        Self::count(ctx, &s.item, what);
    }

    /// Removes the oldest item of a session from the queue (it stays in custody: the caller
    /// sends it or releases it).
    pub fn pop_front(&mut self, slot: Slot) -> Option<Stored> {
        let q = &mut self.sessions[slot.session];
        let h = q.held.as_mut()?;
        let s = h.items.pop_front().expect("a held queue is not empty");
        let size = s.item.size() as u64;
        h.bytes -= size;
        if h.items.is_empty() {
            // An emptied queue gives its memory back rather than keep it for a million
            // memberships.
            q.held = None;
        }
        let u = &mut self.users[slot.user];
        u.items -= 1;
        u.bytes -= size;
        self.server.items -= 1;
        self.server.bytes -= size;
        Some(s)
    }

    /// Releases everything queued for a session, counted as `what`.
    pub fn discard(&mut self, ctx: &mut Ctx, slot: Slot, what: Count) {
        while let Some(s) = self.pop_front(slot) {
            Self::release(ctx, &s, what);
        }
    }

    /// A copy for membership `m` arriving from the group session (`fresh`: it enters custody
    /// now), or one coming back from a failed send, goes into its queue under the store policy.
    /// Copies coming back are older than anything queued since, so they go to the front.
    /// A fresh copy is classified by ground truth: if the user's device could not take it at
    /// all it is `deferred.offered`, if it is held only behind older data of the session
    /// `deferred.queued_behind`.
    pub fn put(&mut self, ctx: &mut Ctx, pf: NodeId, m: MemberId, slot: Slot, s: Stored, fresh: bool) {
        let size = s.item.size() as u64;
        if fresh {
            let online = ctx.devices.is_online(ctx.world.member(m).user);
            Self::count(ctx, &s.item, if online { Count::QueuedBehind } else { Count::Offered });
            ctx.stats.occupancy.add(ctx.now, 1);
            ctx.stats.bytes.add(ctx.now, size as i64);
        }
        let world = ctx.world;
        if !self.make_room(world, m, slot, size, |old| Self::release(ctx, &old, Count::DroppedOverflow)) {
            return Self::release(ctx, &s, Count::DroppedOverflow);
        }
        self.insert(world, slot, s);
        self.arm_ttl(ctx, pf, m, slot.session);
    }

    /// Per session, per user, per server: makes room for `size` bytes more (drop_oldest,
    /// handing each victim to `dropped`), or returns false (drop_newest: the newcomer is
    /// refused).
    fn make_room(
        &mut self,
        world: &World,
        m: MemberId,
        slot: Slot,
        size: u64,
        mut dropped: impl FnMut(Stored),
    ) -> bool {
        let drop_oldest = world.cfg.store.drop_oldest;
        for scope in [Scope::Session, Scope::User, Scope::Server] {
            while !self.fits(world, scope, slot, size) {
                match self.oldest(world, scope, m, slot) {
                    Some(victim) if drop_oldest => {
                        if let Some(old) = self.pop_front(victim) {
                            dropped(old);
                        }
                    }
                    _ => return false,
                }
            }
        }
        true
    }

    /// Puts an item that fits into its session queue, in arrival order.
    fn insert(&mut self, world: &World, slot: Slot, s: Stored) {
        let size = s.item.size() as u64;
        let q = self.sessions[slot.session].held.get_or_insert_with(Box::default);
        match q.items.front() {
            Some(f) if s.seq < f.seq => q.items.push_front(s),
            _ => q.items.push_back(s),
        }
        q.bytes += size;
        let u = &mut self.users[slot.user];
        u.items += 1;
        u.bytes += size;
        self.server.items += 1;
        self.server.bytes += size;
        let lim = &world.cfg.store;
        if lim.per_server != u64::MAX || lim.per_server_bytes != u64::MAX {
            self.fifo.push_back((slot.session as u32, slot.user as u32, s.seq));
            if self.fifo.len() > 2 * self.server.items as usize + 1024 {
                let sessions = &self.sessions;
                self.fifo.retain(|&(q, _, seq)| holds(&sessions[q as usize], seq));
            }
        }
    }

    /// The steady-state start's prehistory holds an item (arrived before 0): what is older
    /// than the TTL at its arrival has expired unseen, and the limits apply as in the run, but
    /// nothing is counted: the run counts what is held at its start (see `prefilled`).
    pub fn prefill(&mut self, world: &World, m: MemberId, slot: Slot, item: Item, arrived: i64) {
        self.expire_unseen(world, slot.session, slot.user, arrived);
        if self.make_room(world, m, slot, item.size() as u64, |_| {}) {
            let s = Stored { item, arrived, seq: self.arrival() };
            self.insert(world, slot, s);
        }
    }

    /// Drops, uncounted, what a session holds that is older than the TTL at `now` (prehistory
    /// time).
    fn expire_unseen(&mut self, world: &World, session: usize, user: usize, now: i64) {
        let Some(ttl) = world.cfg.store.ttl else { return };
        let slot = Slot { session, user };
        while self.sessions[session].items().front().is_some_and(|f| f.arrived + ttl as i64 <= now) {
            self.pop_front(slot);
        }
    }

    /// The prehistory hands a session's items to its user, who came online at `now`
    /// (what the TTL took first is gone).
    pub fn take_prefilled(&mut self, world: &World, slot: Slot, now: i64, out: &mut Vec<Item>) {
        self.expire_unseen(world, slot.session, slot.user, now);
        while let Some(s) = self.pop_front(slot) {
            out.push(s.item);
        }
    }

    /// The prehistory is over: what expired by time 0 goes, the rest enters the run's
    /// occupancy and gets its TTL timers.
    pub fn prefilled(&mut self, ctx: &mut Ctx, pf: NodeId, members: impl Iterator<Item = (MemberId, Slot)>) {
        for (m, slot) in members {
            let session = slot.session;
            self.expire_unseen(ctx.world, session, slot.user, ctx.now as i64);
            let q = &self.sessions[session];
            ctx.stats.occupancy.add(ctx.now, q.items().len() as i64);
            ctx.stats.bytes.add(ctx.now, q.bytes() as i64);
            self.arm_ttl(ctx, pf, m, session);
        }
    }

    /// Whether one more item of `size` bytes fits in `scope`.
    fn fits(&self, world: &World, scope: Scope, slot: Slot, size: u64) -> bool {
        let lim = &world.cfg.store;
        let (used, items, bytes) = match scope {
            Scope::Session => {
                let q = &self.sessions[slot.session];
                (Usage { items: q.items().len() as u64, bytes: q.bytes() }, lim.per_session, lim.per_session_bytes)
            }
            Scope::User => (self.users[slot.user], lim.per_user, lim.per_user_bytes),
            Scope::Server => (self.server, lim.per_server, lim.per_server_bytes),
        };
        used.items < items && used.bytes + size <= bytes
    }

    /// The session holding the oldest item of `scope`: the session itself, the user's session
    /// whose head is oldest, or the server's oldest by insertion order.
    fn oldest(&mut self, w: &World, scope: Scope, m: MemberId, slot: Slot) -> Option<Slot> {
        match scope {
            Scope::Session => (!self.is_empty(slot.session)).then_some(slot),
            Scope::User => w
                .memberships(w.member(m).user)
                .iter()
                .map(|m| w.member(*m).pf_local as usize)
                .filter(|&q| !self.is_empty(q))
                .min_by_key(|&q| self.sessions[q].items()[0].seq)
                .map(|session| Slot { session, user: slot.user }),
            Scope::Server => {
                while let Some(&(q, user, seq)) = self.fifo.front() {
                    if holds(&self.sessions[q as usize], seq) {
                        return Some(Slot { session: q as usize, user: user as usize });
                    }
                    self.fifo.pop_front();
                }
                None
            }
        }
    }

    /// Arms the TTL timer of a session's oldest item, unless armed already.
    pub fn arm_ttl(&mut self, ctx: &mut Ctx, pf: NodeId, m: MemberId, session: usize) {
        let Some(ttl) = ctx.world.cfg.store.ttl else {
            return;
        };
        let q = &mut self.sessions[session];
        if q.ttl_armed {
            return;
        }
        if let Some(arrived) = q.items().front().map(|f| f.arrived) {
            q.ttl_armed = true;
            q.ttl_generation += 1;
            let due = (arrived + ttl as i64).max(ctx.now as i64) as Time;
            ctx.timer(due, Timer::Pf(pf, PfTimer::Ttl(m, q.ttl_generation)));
        }
    }

    /// A session's TTL timer fired: what is older than the TTL expires, and the timer is armed
    /// for the next oldest.
    pub fn expire(&mut self, ctx: &mut Ctx, pf: NodeId, m: MemberId, slot: Slot, generation: u32) {
        let Some(ttl) = ctx.world.cfg.store.ttl else {
            return;
        };
        let q = &mut self.sessions[slot.session];
        if q.ttl_generation != generation {
            return;
        }
        q.ttl_armed = false;
        while let Some(f) = self.sessions[slot.session].items().front() {
            if f.arrived + ttl as i64 > ctx.now as i64 {
                break;
            }
            let s = self.pop_front(slot).expect("front exists");
            Self::release(ctx, &s, Count::Expired);
        }
        self.arm_ttl(ctx, pf, m, slot.session);
    }
}

/// Whether a session queue still holds the item with arrival number `seq` (queues are in
/// arrival order).
fn holds(q: &SessionQueue, seq: u64) -> bool {
    q.items().binary_search_by_key(&seq, |s| s.seq).is_ok()
}

#[cfg(test)]
mod tests {
    /// One session queue per membership the PF serves, stored items or not.
    #[test]
    fn per_membership_queue_keeps_its_size() {
        assert_eq!(size_of::<super::SessionQueue>(), 16);
        assert_eq!(size_of::<super::Stored>(), 40);
    }
}
