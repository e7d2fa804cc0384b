//! Processing capacity of the server nodes (registrar, PF, CF): a pool of workers, a service
//! time per message kind, and a bounded input queue. A SIP request that finds the queue full is
//! answered 503 Service Unavailable (RFC 3261 §21.5.4), optionally with Retry-After; responses,
//! ACKs and MSRP (TCP, flow-controlled) always wait their turn.
//!
//! Workers finish in any order, but MSRP arrives over TCP and a server hands a byte stream to
//! its application in order: MSRP messages are released to the network function in arrival
//! order (a reorder buffer behind the workers). SIP transactions are independent and are
//! released as soon as their worker is done.

use crate::dist::Sampler;
use crate::engine::Time;
use crate::engine::rng::Rng;
use crate::metrics::ServerLoad;
use crate::model::NodeSpec;
use crate::protocol::{Addr, Msg, MsgKind, NodeId, Packet};
use std::collections::VecDeque;

pub struct Server {
    node: NodeId,
    busy: u32,
    queue: VecDeque<(Packet, Ticket)>,
    limit: u32,
    /// Next MSRP arrival ticket, and the reorder buffer of finished MSRP messages waiting for
    /// earlier ones (`held[i]` is ticket `released + i`). Tickets wrap: only their differences
    /// count, and fewer than 2^32 messages are ever between arrival and release.
    next_ticket: Ticket,
    released: Ticket,
    held: VecDeque<Option<Packet>>,
    retry_after_s: Option<u32>,
    service: Sampler,
    by_kind: [Option<Sampler>; MsgKind::COUNT],
    rng: Rng,
    pub load: ServerLoad,
}

/// Arrival order of an MSRP message at a server, modulo 2^32 (0, and unused, for SIP): 32
/// bits so that an event carrying a finished message fits one cache line (`sim::Event`).
pub type Ticket = u32;

/// What happened to an arriving message.
pub enum Admission {
    /// A worker took it; it completes after this many ticks.
    Start(Packet, Ticket, u64),
    /// It waits in the queue.
    Queued,
    /// The queue is full and it is a new SIP request: refused (see `Server::unavailable`).
    Rejected(Packet),
}

impl Server {
    pub fn new(node: NodeId, spec: &NodeSpec, rng: Rng) -> Server {
        let mut by_kind: [Option<Sampler>; MsgKind::COUNT] = Default::default();
        for (k, d) in &spec.service_time_by_kind {
            if let Some(kind) = MsgKind::from_name(k) {
                by_kind[kind as usize] = Some(d.compile().expect("validated"));
            }
        }
        Server {
            node,
            busy: 0,
            queue: VecDeque::new(),
            limit: spec.queue_limit,
            next_ticket: 0,
            released: 0,
            held: VecDeque::new(),
            retry_after_s: spec.retry_after.map(|d| (d.0 / crate::units::SEC).max(1) as u32),
            service: spec.service_time.compile().expect("validated"),
            by_kind,
            rng,
            load: ServerLoad { workers: spec.workers, ..ServerLoad::default() },
        }
    }

    /// Whether a message is released in arrival order (MSRP, a TCP stream) and so gets a
    /// ticket, or as soon as its worker is done (SIP).
    #[inline]
    fn in_order(p: &Packet) -> bool {
        matches!(p.msg, Msg::Msrp(_))
    }

    #[inline]
    fn service_time(&mut self, kind: MsgKind) -> u64 {
        match &self.by_kind[kind as usize] {
            Some(s) => s.sample_u64(&mut self.rng),
            None => self.service.sample_u64(&mut self.rng),
        }
    }

    #[inline]
    pub fn arrive(&mut self, now: Time, p: Packet) -> Admission {
        if self.busy >= self.load.workers && self.queue.len() >= self.limit as usize && p.msg.is_sip_request() {
            self.load.rejected_503 += 1;
            return Admission::Rejected(p);
        }
        let ticket = if Self::in_order(&p) {
            self.next_ticket = self.next_ticket.wrapping_add(1);
            self.next_ticket.wrapping_sub(1)
        } else {
            0
        };
        if self.busy < self.load.workers {
            self.busy += 1;
            self.load.busy.set(now, self.busy as u64);
            let s = self.service_time(p.msg.kind());
            return Admission::Start(p, ticket, s);
        }
        self.queue.push_back((p, ticket));
        self.load.queue.set(now, self.queue.len() as u64);
        Admission::Queued
    }

    /// The answer to a refused request: 503 Service Unavailable, with this server's Retry-After
    /// (RFC 3261 §21.5.4), straight back to the sender. Only SIP requests are refused.
    pub fn unavailable(&self, request: &Packet) -> Option<Packet> {
        let Msg::Sip(sip) = &request.msg else { return None };
        let response = sip.response(503, self.retry_after_s)?;
        Some(Packet::new(Addr::Node(self.node), request.src(), Msg::Sip(response)).with_proxied(true))
    }

    /// A finished message is handed on: SIP at once, MSRP in arrival order. Pushes onto `out`
    /// what can be released now.
    #[inline]
    pub fn release(&mut self, ticket: Ticket, p: Packet, out: &mut Vec<Packet>) {
        if !Self::in_order(&p) {
            out.push(p);
            return;
        }
        let i = ticket.wrapping_sub(self.released) as usize;
        if self.held.len() <= i {
            self.held.resize(i + 1, None);
        }
        self.held[i] = Some(p);
        while let Some(Some(_)) = self.held.front() {
            out.push(self.held.pop_front().flatten().expect("checked"));
            self.released = self.released.wrapping_add(1);
        }
    }

    /// A worker finished; returns the next message it starts, with its ticket and service time.
    #[inline]
    pub fn done(&mut self, now: Time) -> Option<(Packet, Ticket, u64)> {
        match self.queue.pop_front() {
            Some((p, ticket)) => {
                self.load.queue.set(now, self.queue.len() as u64);
                let s = self.service_time(p.msg.kind());
                Some((p, ticket, s))
            }
            None => {
                self.busy -= 1;
                self.load.busy.set(now, self.busy as u64);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::protocol::{Addr, Msg, NodeId, Sip, UserId};
    use crate::units::Duration;

    fn reg(u: u32) -> Packet {
        Packet::new(
            Addr::User(UserId(u)),
            Addr::Node(NodeId(0)),
            Msg::Sip(Sip::Register { user: UserId(u), expires_s: 3600, sip_instance: false, generation: 0 }),
        )
    }

    #[test]
    fn full_queue_rejects_requests_with_503_and_serves_in_order() {
        let spec = NodeSpec {
            workers: 1,
            queue_limit: 2,
            service_time: Dist::Const { value: Duration(100) },
            ..NodeSpec::default()
        };
        let mut s =
            Server::new(NodeId(0), &spec, crate::engine::rng::stream(1, crate::engine::rng::Stream::Service, 0));
        assert!(matches!(s.arrive(0, reg(1)), Admission::Start(_, _, 100)));
        assert!(matches!(s.arrive(1, reg(2)), Admission::Queued));
        assert!(matches!(s.arrive(2, reg(3)), Admission::Queued));
        let Admission::Rejected(refused) = s.arrive(3, reg(4)) else { panic!("the queue is full") };
        assert_eq!(s.load.rejected_503, 1);
        // Refused: a 503 with the Retry-After of the node (10 s by default), back to the sender.
        let r = s.unavailable(&refused).expect("a SIP request gets an answer");
        assert_eq!((r.src(), r.dst()), (Addr::Node(NodeId(0)), refused.src()));
        assert!(matches!(r.msg, Msg::Sip(Sip::Response { status: 503, retry_after_s: Some(10), .. })));
        let (p, _, _) = s.done(100).unwrap();
        assert_eq!(p, reg(2));
        let (p, _, _) = s.done(200).unwrap();
        assert_eq!(p, reg(3));
        assert!(s.done(300).is_none());
        // Busy the whole [0, 300]: utilisation 1 with one worker.
        assert!((s.load.busy.time_avg(0, 300) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn msrp_is_released_in_arrival_order_whatever_order_workers_finish_across_the_ticket_wrap() {
        use crate::protocol::{GroupId, Item, MemberId, Msrp, Payload, Session};
        let spec = NodeSpec { workers: 4, ..NodeSpec::default() };
        let mut s =
            Server::new(NodeId(0), &spec, crate::engine::rng::stream(1, crate::engine::rng::Stream::Service, 0));
        let send = |seq| {
            let item = Item::new(Payload::Chat, GroupId(0), UserId(1), UserId(1), seq, 10);
            let msg = Msrp::Send { session: Session::Live(MemberId(0)), item, chunk: 1, chunks: 1, seq };
            Packet::new(Addr::User(UserId(1)), Addr::Node(NodeId(0)), Msg::Msrp(msg))
        };
        // Tickets are 32 bits and wrap: start just below the wrap, so that it happens here.
        s.next_ticket = u32::MAX - 1;
        s.released = u32::MAX - 1;
        let tickets: Vec<(Packet, Ticket)> = (0..3)
            .map(|i| match s.arrive(0, send(i)) {
                Admission::Start(p, t, _) => (p, t),
                _ => panic!("a worker is free"),
            })
            .collect();
        let mut out = vec![];
        // Workers finish 2, 0, 1: the application sees 0, 1, 2.
        s.release(tickets[2].1, tickets[2].0.clone(), &mut out);
        assert!(out.is_empty());
        s.release(tickets[0].1, tickets[0].0.clone(), &mut out);
        assert_eq!(out, vec![send(0)]);
        s.release(tickets[1].1, tickets[1].0.clone(), &mut out);
        assert_eq!(out, vec![send(0), send(1), send(2)]);
        // SIP is not held back.
        let mut out = vec![];
        s.release(0, reg(9), &mut out);
        assert_eq!(out, vec![reg(9)]);
    }
}
