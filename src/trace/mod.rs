//! Event traces: what happened to the messages of chosen users, in virtual time. Capturing is
//! off in normal runs (one branch on an `Option` per message); `ddsim trace` and the tests turn
//! it on. Exports work from these records after the run: [`pcap`] (the messages on the wire,
//! for Wireshark), [`jsonl`] (one JSON object per event) and [`ladder`] (a sequence diagram).
//! Wire text comes from [`wire`].

pub mod jsonl;
pub mod ladder;
pub mod pcap;
pub mod wire;

use crate::engine::Time;
use crate::nodes::{ClientTimer, PfTimer, RegistrarTimer, Timer};
use crate::protocol::{Addr, Invite, Msg, Msrp, Packet, Role, Session, Sip, UserId};
use crate::workload::World;

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceKind {
    /// A node or device sent a message (at the sender's position).
    Sent,
    /// A message reached the network function or device that handles it (after queueing).
    Received,
    /// A message was lost: network (outage, transport gave up), or the device was off.
    Lost,
    /// A server refused a request with 503 (the 503 itself is recorded as `Sent`).
    Rejected,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TraceRecord {
    pub time: Time,
    pub kind: TraceKind,
    /// Where it happened: the sender for `Sent`, the receiver otherwise.
    pub at: Addr,
    pub packet: Packet,
}

/// A timer that fired, for traces that want the whole story of a user.
#[derive(Clone, Debug, PartialEq)]
pub struct TimerRecord {
    pub time: Time,
    pub timer: Timer,
}

/// Which events to keep.
#[derive(Clone, Debug, Default)]
pub struct TraceFilter {
    /// Keep messages and timers involving users `0..users` (None: every user).
    pub users: Option<u32>,
    pub from: Time,
    pub to: Option<Time>,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub filter: TraceFilter,
    pub records: Vec<TraceRecord>,
    pub timers: Vec<TimerRecord>,
}

/// The users a message concerns: its ends, and the user of the membership it is about.
pub fn packet_users(p: &Packet, world: &World) -> [Option<UserId>; 3] {
    let end = |a: Addr| match a {
        Addr::User(u) => Some(u),
        Addr::Node(_) => None,
    };
    let about = match &p.msg {
        Msg::Sip(s) => match s {
            Sip::Register { user, .. } | Sip::ThirdPartyRegister { user, .. } | Sip::RegNotifyExpired { user, .. } => {
                Some(*user)
            }
            Sip::Invite { invite: Invite::Join { member, .. } | Invite::Rejoin { member }, .. } => {
                Some(world.member(*member).user)
            }
            Sip::Invite { dialog, .. }
            | Sip::Ack { dialog }
            | Sip::Bye { dialog, .. }
            | Sip::Subscribe { dialog, .. }
            | Sip::ConfNotify { dialog, .. }
            | Sip::Response { dialog, .. } => match dialog.role {
                Role::Registration | Role::ThirdParty => Some(UserId(dialog.id)),
                Role::Deferred | Role::Leg | Role::Conference => world.members.get(dialog.id as usize).map(|m| m.user),
            },
        },
        Msg::Msrp(Msrp::Send { session, .. } | Msrp::Ok { session, .. }) => match session {
            Session::Live(m) | Session::Deferred(m, _) | Session::Leg(m) => Some(world.member(*m).user),
        },
    };
    [end(p.src()), end(p.dst()), about]
}

impl Trace {
    pub fn new(filter: TraceFilter) -> Trace {
        Trace { filter, records: vec![], timers: vec![] }
    }

    fn wanted_time(&self, t: Time) -> bool {
        t >= self.filter.from && self.filter.to.is_none_or(|to| t <= to)
    }

    pub fn wants(&self, t: Time, p: &Packet, world: &World) -> bool {
        if !self.wanted_time(t) {
            return false;
        }
        match self.filter.users {
            None => true,
            Some(k) => packet_users(p, world).iter().flatten().any(|u| u.0 < k),
        }
    }

    pub fn record(&mut self, time: Time, kind: TraceKind, at: Addr, packet: &Packet, world: &World) {
        if self.wants(time, packet, world) {
            self.records.push(TraceRecord { time, kind, at, packet: packet.clone() });
        }
    }

    pub fn record_timer(&mut self, time: Time, timer: &Timer, world: &World) {
        if self.wanted_time(time) && self.filter.users.is_none_or(|k| timer_concerns(timer, world, k)) {
            self.timers.push(TimerRecord { time, timer: *timer });
        }
    }
}

/// The user a timer is about (None for a group's idle timer, which concerns every member).
pub fn timer_user(timer: &Timer, world: &World) -> Option<UserId> {
    let member = |m: crate::protocol::MemberId| Some(world.member(m).user);
    match timer {
        Timer::Client(u, _) => Some(*u),
        Timer::Registrar(_, t) => match t {
            RegistrarTimer::BindingExpiry(u, _)
            | RegistrarTimer::ThirdPartyTimeout(u, _)
            | RegistrarTimer::ThirdPartyRetry(u, _) => Some(*u),
        },
        Timer::Pf(_, t) => match t {
            PfTimer::InviteTimeout(m, _)
            | PfTimer::Retry(m, _)
            | PfTimer::Ttl(m, _)
            | PfTimer::SessionDeadline(m, _)
            | PfTimer::RejoinTimeout(m, _)
            | PfTimer::RejoinRetry(m, _) => member(*m),
            PfTimer::LiveDeadline(u, _) => Some(*u),
        },
        Timer::Cf(_, t) => match t {
            crate::nodes::CfTimer::Idle(..) => None,
            crate::nodes::CfTimer::JoinTimeout(m, _) => member(*m),
        },
        // The list's timer itself; each deadline that passes is recorded as its own timer.
        Timer::Deadlines(..) => None,
    }
}

/// Whether a timer concerns one of users `0..k` (a group's idle timer: one of its members).
fn timer_concerns(timer: &Timer, world: &World, k: u32) -> bool {
    match (timer_user(timer, world), timer) {
        (Some(u), _) => u.0 < k,
        (None, Timer::Cf(_, crate::nodes::CfTimer::Idle(g, _))) => {
            world.group_members(*g).any(|m| world.member(m).user.0 < k)
        }
        (None, _) => false,
    }
}

/// Where a timer fires: the user's device or the node that set it.
pub fn timer_at(timer: &Timer) -> Addr {
    match timer {
        Timer::Client(u, _) => Addr::User(*u),
        Timer::Registrar(n, _) | Timer::Pf(n, _) | Timer::Cf(n, _) => Addr::Node(*n),
        // Deadline-list timers are not recorded (their deadlines are, one by one); the clients'
        // lists are shown at the first node.
        Timer::Deadlines(crate::nodes::Owner::Node(n), _) => Addr::Node(*n),
        Timer::Deadlines(crate::nodes::Owner::Clients, _) => Addr::Node(crate::protocol::NodeId(0)),
    }
}

/// A timer's name and what it is for, for event logs and diagrams.
pub fn timer_name(timer: &Timer) -> (&'static str, &'static str) {
    match timer {
        Timer::Client(_, t) => match t {
            ClientTimer::Presence => ("Presence", "the device goes online or offline"),
            ClientTimer::Refresh(_) => ("Refresh", "registration refresh"),
            ClientTimer::RegisterTimeout(_) => ("RegisterTimeout", "Timer F of a REGISTER"),
            ClientTimer::RegisterRetry(_) => ("RegisterRetry", "registration recovery (RFC 5626 §4.5)"),
            ClientTimer::Reregister(_) => ("Reregister", "re-registration after the access network recovered"),
            ClientTimer::Answer { .. } => ("Answer", "the client answers a deferred-delivery INVITE"),
            ClientTimer::Displayed { .. } => ("Displayed", "the client sends IMDN displayed"),
        },
        Timer::Registrar(_, t) => match t {
            RegistrarTimer::BindingExpiry(..) => ("BindingExpiry", "the registration binding expires"),
            RegistrarTimer::ThirdPartyTimeout(..) => ("ThirdPartyTimeout", "Timer F of a 3rd-party REGISTER"),
            RegistrarTimer::ThirdPartyRetry(..) => ("ThirdPartyRetry", "re-send of a 3rd-party REGISTER after 503"),
        },
        Timer::Pf(_, t) => match t {
            PfTimer::InviteTimeout(..) => ("InviteTimeout", "Timer B of a deferred-delivery INVITE"),
            PfTimer::Retry(..) => ("Retry", "re-attempt of a deferred delivery (DD-11)"),
            PfTimer::Ttl(..) => ("Ttl", "stored items may have expired"),
            PfTimer::LiveDeadline(..) => ("LiveDeadline", "MSRP transaction deadline of live SENDs"),
            PfTimer::SessionDeadline(..) => ("SessionDeadline", "MSRP transaction deadline of a delivery"),
            PfTimer::RejoinTimeout(..) => ("RejoinTimeout", "Timer B of a re-join INVITE"),
            PfTimer::RejoinRetry(..) => ("RejoinRetry", "re-send of a re-join INVITE after 503"),
        },
        Timer::Cf(_, t) => match t {
            crate::nodes::CfTimer::Idle(..) => ("Idle", "the group session may have been idle too long"),
            crate::nodes::CfTimer::JoinTimeout(..) => ("JoinTimeout", "Timer B of a join INVITE"),
        },
        Timer::Deadlines(..) => ("Deadlines", "the earliest of a list of fixed-duration deadlines"),
    }
}

/// A node's or device's name in exports: the node id of the model, `ue<u>` for a device.
pub fn addr_name(a: Addr, world: &World) -> String {
    match a {
        Addr::Node(n) => world.node_names[n.0 as usize].clone(),
        Addr::User(u) => format!("ue{}", u.0),
    }
}
