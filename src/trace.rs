//! Event traces: what happened to the messages of chosen users, in virtual time. Capturing is
//! off in normal runs (one branch on an `Option` per message); `ddsim trace` and the tests turn
//! it on. Exports (JSON lines, pcap, ladder diagrams) work from these records.

use crate::engine::Time;
use crate::nodes::Timer;
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
    /// Keep messages involving users `0..users` (None: every user).
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
    [end(p.src), end(p.dst), about]
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

    pub fn record_timer(&mut self, time: Time, timer: &Timer) {
        if self.wanted_time(time) {
            self.timers.push(TimerRecord { time, timer: timer.clone() });
        }
    }
}
