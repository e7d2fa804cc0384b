//! The network functions, one sans-IO state machine each (the design of quinn-proto and
//! smoltcp): a node takes one input at a given virtual time `now` — a message, or a timer it
//! set earlier — and says what it wants done by pushing `Action`s (messages to send, timers to
//! set). It never sees the clock, the event queue or the network. The engine (`sim`) owns all
//! of those. Counters go to `Stats`, which a test can read as easily as the actions.
//!
//! All four functions answer to one interface, [`NetworkFunction`]: handle a message, handle a
//! timer, and tell a live fixed-duration deadline from a stale one, so that expiring deadline
//! lists is written once.

pub mod client;
pub mod controlling;
pub mod participating;
pub mod registrar;

use crate::engine::Time;
use crate::engine::deadlines::DeadlineSet;
use crate::metrics::Stats;
use crate::protocol::{Addr, GroupId, Item, MemberId, Msg, NodeId, Packet, Subject, UserId};
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

impl PfTimer {
    /// Whom the timer is about.
    #[inline]
    pub fn subject(&self) -> Subject {
        match *self {
            PfTimer::LiveDeadline(u, _) => Subject::User(u),
            PfTimer::InviteTimeout(m, _)
            | PfTimer::Retry(m, _)
            | PfTimer::Ttl(m, _)
            | PfTimer::SessionDeadline(m, _)
            | PfTimer::RejoinTimeout(m, _)
            | PfTimer::RejoinRetry(m, _) => Subject::Member(m),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Hash)]
pub enum CfTimer {
    /// Check whether the group session has been idle for `idle_timeout`.
    Idle(GroupId, u32),
    /// Timer B of a Join INVITE (membership, generation).
    JoinTimeout(MemberId, u32),
}

/// Ground truth about the devices: whether each is switched on and attached (and how many
/// are), and when each last sent a REGISTER (not a de-REGISTER). The clients set both; the
/// engine delivers only to devices that are on. Network functions never act on it: the PF reads it only to measure, to classify what it
/// stores (`deferred.offered` vs `deferred.queued_behind`) and to time deliveries from the
/// client's REGISTER (`delivery.after_client_register_s`).
#[derive(Clone, Debug)]
pub struct Devices {
    online: Vec<bool>,
    online_count: u64,
    register_sent: Vec<Time>,
}

impl Devices {
    /// `users` devices, all off.
    pub fn new(users: usize) -> Devices {
        Devices { online: vec![false; users], online_count: 0, register_sent: vec![0; users] }
    }
    #[inline]
    pub fn register_sent(&mut self, u: UserId, now: Time) {
        self.register_sent[u.0 as usize] = now;
    }
    /// When the device last sent a REGISTER (0 if never).
    #[inline]
    pub fn last_register(&self, u: UserId) -> Time {
        self.register_sent[u.0 as usize]
    }
    #[inline]
    pub fn prefetch(&self, u: UserId) {
        crate::engine::prefetch(&self.online[u.0 as usize]);
    }
    #[inline]
    pub fn is_online(&self, u: UserId) -> bool {
        self.online[u.0 as usize]
    }
    /// Devices switched on now (`workload.online_users`).
    pub fn online_count(&self) -> u64 {
        self.online_count
    }
    #[inline]
    pub fn set_online(&mut self, u: UserId, online: bool) {
        let was = std::mem::replace(&mut self.online[u.0 as usize], online);
        self.online_count = self.online_count + online as u64 - was as u64;
    }
}

/// What a node is given with each input.
pub struct Ctx<'a> {
    pub now: Time,
    pub world: &'a World,
    pub stats: &'a mut Stats,
    pub out: &'a mut Vec<Action>,
    pub devices: &'a mut Devices,
}

impl<'a> Ctx<'a> {
    pub fn new(
        now: Time,
        world: &'a World,
        stats: &'a mut Stats,
        out: &'a mut Vec<Action>,
        devices: &'a mut Devices,
    ) -> Ctx<'a> {
        Ctx { now, world, stats, out, devices }
    }
    #[inline]
    pub fn send(&mut self, src: Addr, dst: Addr, msg: Msg) {
        self.out.push(Action::Send(Packet::new(src, dst, msg)));
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
}

/// A network function's fixed-duration deadlines (`engine::deadlines`), and the buffer their
/// expiry fills.
#[derive(Clone, Debug)]
pub struct NodeDeadlines<K> {
    set: DeadlineSet<K>,
    due: Vec<K>,
}

impl<K> Default for NodeDeadlines<K> {
    fn default() -> Self {
        NodeDeadlines { set: DeadlineSet::default(), due: Vec::new() }
    }
}

impl<K: Copy> NodeDeadlines<K> {
    /// Adds `key`, due `duration` from now, arming the timer of `owner`'s list if needed.
    #[inline]
    pub fn after(&mut self, ctx: &mut Ctx, owner: Owner, duration: u64, key: K) {
        let armed = self.set.after(ctx.now, duration, key);
        ctx.arm(owner, armed);
    }
}

/// What the engine asks of a network function.
pub trait NetworkFunction {
    /// The timers it sets.
    type Timer: Copy;
    /// What its deadline lists hold.
    type Deadline: Copy;

    /// Who keeps its deadline lists (their engine timers name it).
    fn owner(&self) -> Owner;
    /// A message reached it: served by the node's workers, or, for a client, at the device.
    fn handle(&mut self, ctx: &mut Ctx, p: Packet);
    /// Message `p` joined the node's queue (its subject's world record, asked for when it
    /// was sent, is in cache): start loading the state handling it will read (see
    /// `engine::prefetch`). A hint only: it changes nothing.
    fn prefetch(&self, _world: &World, _p: &Packet) {}
    /// A timer it set fired.
    fn on_timer(&mut self, ctx: &mut Ctx, t: Self::Timer);
    fn deadlines(&mut self) -> &mut NodeDeadlines<Self::Deadline>;
    /// Whether a deadline still matters. Staleness is for good: a transaction answered or
    /// superseded (its generation or sequence number has moved on) never becomes live again.
    fn is_live(&self, world: &World, d: &Self::Deadline) -> bool;
    /// A live deadline passed: note the timer it stands for (traces show it as any timer) and
    /// act on it.
    fn deadline_passed(&mut self, ctx: &mut Ctx, d: Self::Deadline);

    /// The timer of one of its deadline lists fired: the live deadlines that are due take
    /// effect, stale ones are dropped, and the list's timer is armed for the next live one.
    fn expire_deadlines(&mut self, ctx: &mut Ctx, list: u16)
    where
        Self: Sized,
    {
        let d = self.deadlines();
        let (mut set, mut due) = (std::mem::take(&mut d.set), std::mem::take(&mut d.due));
        let next = set.expire(list, ctx.now, &mut due, |k| self.is_live(ctx.world, k));
        // Back in place before anything acts: acting may set new deadlines.
        self.deadlines().set = set;
        if let Some(next) = next {
            ctx.timer(next, Timer::Deadlines(self.owner(), list));
        }
        for k in due.drain(..) {
            self.deadline_passed(ctx, k);
        }
        self.deadlines().due = due;
    }
}
