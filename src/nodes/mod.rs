//! The network functions, one sans-IO state machine each (the design of quinn-proto and
//! smoltcp): a node takes one input at a given virtual time `now` — a message, or a timer it
//! set earlier — and says what it wants done by pushing `Action`s (messages to send, timers to
//! set). It never sees the clock, the event queue or the network. The engine (`sim`) owns all
//! of those. Counters go to `Stats`, which a test can read as easily as the actions.

pub mod client;
pub mod controlling;
pub mod participating;
pub mod registrar;

use crate::engine::Time;
use crate::metrics::Stats;
use crate::protocol::{Addr, GroupId, Item, MemberId, Msg, NodeId, Packet, UserId};
use crate::workload::World;

/// What a node asks the engine to do.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Action {
    /// Send a message now.
    Send(Packet),
    /// Wake the node at `at` with this timer.
    Timer(Time, Timer),
    /// A deadline kept by the node itself (see `engine::deadlines`) passed: for traces only.
    Fired(Timer),
}

/// Timers. Each carries what its owner needs to tell a current timer from a stale one
/// (generation numbers), since timers are never cancelled, only ignored.
#[derive(Clone, Copy, Debug, PartialEq, Hash)]
pub enum Timer {
    Client(UserId, ClientTimer),
    Registrar(NodeId, RegistrarTimer),
    Pf(NodeId, PfTimer),
    Cf(NodeId, CfTimer),
    /// The earliest deadline of one of an owner's deadline lists (`engine::deadlines`) is due.
    Deadlines(Owner, u16),
}

/// Who keeps a deadline list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    Clients,
    Node(NodeId),
}

#[derive(Clone, Copy, Debug, PartialEq, Hash)]
pub enum ClientTimer {
    /// The presence process flips online/offline.
    Presence,
    /// Refresh the registration (generation of the registration).
    Refresh(u32),
    /// Timer F of a REGISTER transaction (generation).
    RegisterTimeout(u32),
    /// Re-try a failed registration (RFC 5626 §4.5) (generation).
    RegisterRetry(u32),
    /// Re-register after the access network recovered (device period).
    Reregister(u32),
    /// Answer a deferred-delivery INVITE (device period, membership, INVITE generation, status).
    Answer { period: u32, member: MemberId, generation: u32, status: u16 },
    /// Send an IMDN "displayed" for an item (device period).
    Displayed { period: u32, member: MemberId, item: Item, deferred_generation: Option<u32> },
}

#[derive(Clone, Copy, Debug, PartialEq, Hash)]
pub enum RegistrarTimer {
    /// The binding of `user` expires (binding generation).
    BindingExpiry(UserId, u32),
    /// Timer F of a 3rd-party REGISTER (user, generation).
    ThirdPartyTimeout(UserId, u32),
    /// Re-send a 3rd-party REGISTER answered 503 (user, generation).
    ThirdPartyRetry(UserId, u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Hash)]
pub enum PfTimer {
    /// Timer B of a deferred-delivery INVITE (membership, generation).
    InviteTimeout(MemberId, u32),
    /// Re-attempt a deferred delivery (membership, generation).
    Retry(MemberId, u32),
    /// The oldest stored item of a membership may have expired (membership, ttl generation).
    Ttl(MemberId, u32),
    /// MSRP transaction deadline of the live SEND to a user that starts at this chunk sequence.
    LiveDeadline(UserId, u32),
    /// Check the MSRP transaction deadline of a deferred-delivery session (membership, generation).
    SessionDeadline(MemberId, u32),
    /// Timer B of a re-join INVITE to the CF (membership, generation).
    RejoinTimeout(MemberId, u32),
    /// Re-send a re-join INVITE that was answered 503 (membership, generation).
    RejoinRetry(MemberId, u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Hash)]
pub enum CfTimer {
    /// Check whether the group session has been idle for `idle_timeout`.
    Idle(GroupId, u32),
    /// Timer B of a Join INVITE (membership, generation).
    JoinTimeout(MemberId, u32),
}

/// What a node is given with each input.
pub struct Ctx<'a> {
    pub now: Time,
    pub world: &'a World,
    pub stats: &'a mut Stats,
    pub out: &'a mut Vec<Action>,
    /// Ground truth: whether each user's device is online. Nodes never act on it; the PF uses
    /// it only to classify what it stores (`deferred.offered` vs `deferred.queued_behind`).
    pub device_online: &'a [bool],
}

impl Ctx<'_> {
    #[inline]
    pub fn send(&mut self, src: Addr, dst: Addr, msg: Msg) {
        self.out.push(Action::Send(Packet { src, dst, msg, proxied: false }));
    }
    #[inline]
    pub fn timer(&mut self, at: Time, t: Timer) {
        self.out.push(Action::Timer(at, t));
    }
    /// Arms the timer of an owner's deadline list when `DeadlineSet::after` asks for it.
    #[inline]
    pub fn arm(&mut self, owner: Owner, armed: Option<(Time, u16)>) {
        if let Some((at, i)) = armed {
            self.out.push(Action::Timer(at, Timer::Deadlines(owner, i)));
        }
    }
    #[inline]
    pub fn in_window(&self) -> bool {
        self.now >= self.world.warmup
    }
}
