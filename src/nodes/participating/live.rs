//! Live relaying: a copy from the focus for a user who can take it now, with nothing older
//! pending in its group session, goes straight to the device in the live MSRP session. The PF
//! keeps each user's unacknowledged live SENDs in order; a SEND without its 200 within the MSRP
//! timeout means the device is gone (RFC 4975 §7.1), and what was unacknowledged goes back to
//! the store, ahead of what arrived since.

use super::store::Stored;
use super::{InFlight, ParticipatingFunction};
use crate::nodes::{Ctx, Owner, PfTimer};
use crate::protocol::{Addr, Item, Payload, Session, UserId};

const NIL: u32 = u32::MAX;

/// An unacknowledged live SEND and the next one of the same user.
#[derive(Clone, Copy, Debug)]
struct LiveEntry {
    f: InFlight,
    next: u32,
}

/// One user's list of unacknowledged live SENDs, and the chunk sequence of its next SEND.
#[derive(Clone, Copy, Debug)]
struct LiveUser {
    head: u32,
    tail: u32,
    seq: u32,
}

/// Every user's unacknowledged live SENDs: one slab of entries, a list per user through `next`.
pub struct LiveRelay {
    entries: Vec<LiveEntry>,
    free: Vec<u32>,
    users: Vec<LiveUser>,
}

impl LiveRelay {
    pub fn new(users: usize) -> LiveRelay {
        LiveRelay {
            entries: Vec::new(),
            free: Vec::new(),
            users: vec![LiveUser { head: NIL, tail: NIL, seq: 0 }; users],
        }
    }

    #[inline]
    pub fn prefetch(&self, ul: usize) {
        crate::engine::prefetch_at(&self.users, ul);
    }

    /// Appends to user `ul`'s list.
    fn push(&mut self, ul: usize, f: InFlight) {
        let e = LiveEntry { f, next: NIL };
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = e;
                i
            }
            None => {
                self.entries.push(e);
                (self.entries.len() - 1) as u32
            }
        };
        let lu = &mut self.users[ul];
        if lu.tail == NIL {
            lu.head = i;
        } else {
            self.entries[lu.tail as usize].next = i;
        }
        lu.tail = i;
    }

    /// Removes and returns user `ul`'s oldest unacknowledged SEND.
    fn pop(&mut self, ul: usize) -> Option<InFlight> {
        let lu = &mut self.users[ul];
        if lu.head == NIL {
            return None;
        }
        let i = lu.head;
        let e = self.entries[i as usize];
        lu.head = e.next;
        if lu.head == NIL {
            lu.tail = NIL;
        }
        self.free.push(i);
        Some(e.f)
    }

    /// User `ul`'s oldest unacknowledged SEND.
    pub fn front(&self, ul: usize) -> Option<&InFlight> {
        let h = self.users[ul].head;
        (h != NIL).then(|| &self.entries[h as usize].f)
    }

    /// SENDs are acknowledged in order: the deadline of the SEND that started at chunk
    /// `first_seq` still matters if the oldest unacknowledged one is no newer.
    pub fn is_pending(&self, ul: usize, first_seq: u32) -> bool {
        self.front(ul).is_some_and(|f| f.first_seq <= first_seq)
    }
}

impl ParticipatingFunction {
    /// A copy from the focus for a served user: deliver it live if the user can take it now
    /// and nothing older is waiting, else keep it (DD-17: behind whatever is pending).
    pub(super) fn copy_from_focus(&mut self, ctx: &mut Ctx, ml: usize, item: Item) {
        let s = Stored { item, arrived: ctx.now as i64, seq: self.store.arrival() };
        let m = self.members[ml].id;
        let mi = ctx.world.member(m);
        let (u, ul) = (mi.user, mi.user_pf_local as usize);
        let pu = &self.users[ul];
        let takes_live = pu.registered && pu.reachable && self.members[ml].delivery.is_idle();
        if item.payload() == Payload::IsComposing {
            // Transient: relayed to a reachable client, never stored.
            if takes_live {
                self.send_chunks(ctx, Addr::User(u), Session::Live(m), item, 0);
            }
            return;
        }
        if takes_live && self.store.is_empty(ml) {
            let lu = &mut self.live.users[ul];
            let first_seq = lu.seq;
            let chunks = Self::chunks(ctx, &item);
            lu.seq += chunks as u32;
            self.live.push(ul, InFlight { stored: s, chunks, acked: 0, first_seq, sent: ctx.now });
            self.send_chunks(ctx, Addr::User(u), Session::Live(m), item, first_seq);
            ctx.stats.live_sent += 1;
            let timeout = ctx.world.cfg.msrp_timeout;
            self.deadlines.after(ctx, Owner::Node(self.id), timeout, PfTimer::LiveDeadline(u, first_seq));
            return;
        }
        self.store.put(ctx, self.id, m, Self::slot(ctx, m), s, true);
        self.pump(ctx, ml);
    }

    /// The 200 of a live SEND chunk.
    pub(super) fn live_ack(&mut self, ctx: &mut Ctx, u: UserId, seq: u32) {
        let ul = Self::ul(ctx, u);
        let h = self.live.users[ul].head;
        if h == NIL {
            return;
        }
        let f = &mut self.live.entries[h as usize].f;
        if seq != f.first_seq + f.acked as u32 {
            return;
        }
        f.acked += 1;
        if f.acked == f.chunks {
            self.live.pop(ul);
        }
    }

    /// A live SEND got no transaction response in time: the device is gone. Everything still
    /// unacknowledged goes to the store, ahead of what arrived since, in arrival order.
    pub(super) fn live_failed(&mut self, ctx: &mut Ctx, u: UserId) {
        let ul = Self::ul(ctx, u);
        self.users[ul].reachable = false;
        ctx.stats.live_failed += 1;
        let failed: Vec<InFlight> = std::iter::from_fn(|| self.live.pop(ul)).collect();
        for f in failed.into_iter().rev() {
            if let Some(m) = ctx.world.membership(u, f.stored.item.group) {
                self.store.put(ctx, self.id, m, Self::slot(ctx, m), f.stored, true);
            }
        }
    }
}
