//! One simulation run: builds the world from a model and a seed, drives the network functions
//! with the engine's event queue, routes their messages over the network, and produces the
//! results document. This is the only place where time advances.

use crate::engine::queue::PendingEvents;
use crate::engine::{EventQueue, Time};
use crate::metrics::{Stats, TimeSeries};
use crate::model::{EventSpec, Model, NodeKind};
use crate::network::{Network, Transport};
use crate::nodes::client::Clients;
use crate::nodes::controlling::ControllingFunction;
use crate::nodes::participating::ParticipatingFunction;
use crate::nodes::registrar::Registrar;
use crate::nodes::{Action, Ctx, Owner, Timer};
use crate::protocol::{Addr, GroupId, Item, Msg, MsgKind, NodeId, Packet, Payload, Sip, UserId};
use crate::servers::{Admission, Server};
use crate::trace::{Trace, TraceFilter, TraceKind};
use crate::workload::{Traffic, World};
use serde_json::{Map, Value, json};
use std::hash::{Hash, Hasher};

/// A network function at a node.
pub enum NodeFn {
    Access,
    Registrar(Registrar),
    Pf(ParticipatingFunction),
    Cf(ControllingFunction),
}

#[derive(Clone, Debug, Hash)]
pub enum Event {
    /// A message reaches the next node on its way (a server's queue, or the device).
    Arrive(Packet),
    /// A worker at a server node finished serving a message (with its MSRP arrival ticket).
    Done(NodeId, crate::servers::Ticket, Packet),
    Timer(Timer),
    /// A group's next chat message (generation of the group's traffic process).
    GroupMessage(GroupId, u32),
    BurstToggle(GroupId),
    OutageStart(NodeId, u64),
    OutageEnd(NodeId),
    Warmup,
    Sample,
    End,
}

impl Event {
    /// Feeds the event's fingerprint ingredients to `h`: for messages, their kind and ends (the
    /// bulk of events, kept cheap); for everything else, the whole event.
    fn fingerprint<H: Hasher>(&self, h: &mut H) {
        let ends = |p: &Packet| {
            let a = |x: Addr| match x {
                Addr::Node(n) => n.0 as u64,
                Addr::User(u) => (1 << 31) | u.0 as u64,
            };
            (p.msg.kind() as u64) << 62 ^ a(p.src) << 32 ^ a(p.dst)
        };
        match self {
            Event::Arrive(p) => h.write_u64(ends(p)),
            Event::Done(n, _, p) => h.write_u64(ends(p) ^ (n.0 as u64) << 48),
            other => other.hash(h),
        }
    }
}

/// What a run is asked to record beyond its results.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Hash every executed event into a fingerprint (OMNeT++ practice).
    pub fingerprint: bool,
    /// Capture a trace of the messages that pass this filter.
    pub trace: Option<TraceFilter>,
    /// Set from another thread to stop the run early (Ctrl-C in a sweep).
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cancelled")]
    Cancelled,
    #[error(
        "conservation broken for {kind}: in {inflow} (pending_at_warmup + offered + queued_behind) != out {outflow} ({detail})"
    )]
    Conservation { kind: &'static str, inflow: u64, outflow: u64, detail: String },
}

pub struct RunOutput {
    pub metrics: Map<String, Value>,
    pub histograms: Value,
    pub timeseries: Value,
    pub fingerprint: Option<u64>,
    pub trace: Option<Trace>,
}

/// A run. Generic over its pending-event set only so that benchmarks can time whole runs
/// with the alternatives of `engine::queue`; the default is the engine's own.
pub struct Sim<Q: PendingEvents<Event> = EventQueue<Event>> {
    pub world: World,
    queue: Q,
    net: Network,
    pub clients: Clients,
    pub nodes: Vec<NodeFn>,
    servers: Vec<Option<Server>>,
    traffic: Traffic,
    pub stats: Stats,
    out: Vec<Action>,
    ready: Vec<Packet>,
    last_up: Vec<Time>,
    last_down: Vec<Time>,
    last_core: Vec<Time>,
    n_nodes: usize,
    pub now: Time,
    events: u64,
    next_msg: u32,
    sample_interval: Time,
    series: TimeSeries,
    /// Integrals (busy workers, queue length) at the last sample, per node.
    prev_busy_area: Vec<f64>,
    prev_queue_area: Vec<f64>,
    window_start: Time,
    fingerprint: Option<fnv::FnvHasher>,
    /// The captured trace, when asked for.
    pub trace: Option<Box<Trace>>,
    online_buf: Vec<(UserId, crate::protocol::MemberId)>,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    outages: Vec<(NodeId, Time, Time)>,
}

impl Sim {
    /// Builds a run of a validated model with the given seed.
    pub fn new(model: &Model, seed: u64, opts: RunOptions) -> Sim {
        Sim::with_queue(model, seed, opts)
    }
}

impl<Q: PendingEvents<Event>> Sim<Q> {
    /// Builds a run with another pending-event set (for benchmarks).
    pub fn with_queue(model: &Model, seed: u64, opts: RunOptions) -> Sim<Q> {
        let world = World::build(model, seed);
        let n = model.topology.nodes.len();
        let mut nodes = Vec::with_capacity(n);
        let mut servers = Vec::with_capacity(n);
        for (i, spec) in model.topology.nodes.iter().enumerate() {
            let id = NodeId(i as u16);
            nodes.push(match spec.kind {
                NodeKind::Access => NodeFn::Access,
                NodeKind::Registrar => NodeFn::Registrar(Registrar::new(id, world.registrar_users[i])),
                NodeKind::Participating => NodeFn::Pf(ParticipatingFunction::new(id, &world)),
                NodeKind::Controlling => NodeFn::Cf(ControllingFunction::new(id, &world)),
            });
            servers.push(match spec.kind {
                NodeKind::Access => None,
                _ => Some(Server::new(
                    spec,
                    crate::engine::rng::stream(seed, crate::engine::rng::Stream::Service, i as u64),
                )),
            });
        }
        let outages = model
            .events
            .iter()
            .map(|e| {
                let EventSpec::Outage { node, at, duration } = e;
                (NodeId(model.node_index(node).expect("validated") as u16), at.0, duration.0)
            })
            .collect();
        let users = world.users.len();
        Sim {
            clients: Clients::new(&world),
            net: Network::new(model, seed),
            traffic: Traffic::new(model, seed),
            queue: Q::default(),
            nodes,
            servers,
            stats: Stats::new(),
            out: Vec::with_capacity(64),
            ready: Vec::with_capacity(8),
            last_up: vec![0; users],
            last_down: vec![0; users],
            last_core: vec![0; n * n],
            n_nodes: n,
            now: 0,
            events: 0,
            next_msg: 0,
            sample_interval: model.metrics.sample_interval.0,
            series: TimeSeries::default(),
            prev_busy_area: vec![0.0; n],
            prev_queue_area: vec![0.0; n],
            window_start: 0,
            fingerprint: if opts.fingerprint { Some(fnv::FnvHasher::default()) } else { None },
            trace: opts.trace.clone().map(|f| Box::new(Trace::new(f))),
            online_buf: Vec::new(),
            cancel: opts.cancel.clone(),
            outages,
            world,
        }
    }

    /// Schedules the run's first events: the end, warm-up, sampling, outages, every user's
    /// presence process and every group's traffic.
    fn init(&mut self) {
        let w = &self.world;
        self.queue.push(w.horizon, Event::End);
        if w.warmup > 0 {
            self.queue.push(w.warmup, Event::Warmup);
        }
        // Each sample covers the interval before it; the first one ends one interval in.
        self.queue.push(self.sample_interval.min(w.horizon), Event::Sample);
        for (node, at, dur) in self.outages.clone() {
            self.queue.push(at, Event::OutageStart(node, dur));
        }
        for u in 0..self.world.users.len() {
            let u = UserId(u as u32);
            let mut ctx =
                Ctx { now: 0, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
            if let Some(registered_at) = self.clients.start(&mut ctx, u) {
                let info = *self.world.user(u);
                let class = self.world.class_of(u);
                let expires_at = registered_at + class.expiry_s as u64 * crate::units::SEC;
                if let NodeFn::Registrar(r) = &mut self.nodes[info.registrar.0 as usize] {
                    r.preload(&mut ctx, u, expires_at, class.sip_instance);
                }
                if let NodeFn::Pf(pf) = &mut self.nodes[info.pf.0 as usize] {
                    pf.preload_registered(&ctx, u, class.sip_instance);
                }
            }
            self.flush(None);
        }
        for g in 0..self.world.groups.len() {
            let g = GroupId(g as u32);
            let (first, toggle) = self.traffic.start(g, 0);
            if let Some(t) = first {
                self.queue.push(t, Event::GroupMessage(g, self.traffic.generation(g)));
            }
            if let Some(t) = toggle {
                self.queue.push(t, Event::BurstToggle(g));
            }
        }
    }

    /// Runs to the horizon and returns the results (or a conservation failure).
    pub fn run(mut self) -> Result<RunOutput, RunError> {
        let wall = std::time::Instant::now();
        self.init();
        while let Some((t, ev)) = self.queue.pop() {
            self.now = t;
            self.events += 1;
            if let Some(h) = &mut self.fingerprint {
                t.hash(h);
                ev.fingerprint(h);
            }
            if matches!(ev, Event::End) {
                break;
            }
            self.dispatch(ev);
            if self.events & 0xFFFF == 0
                && let Some(c) = &self.cancel
                && c.load(std::sync::atomic::Ordering::Relaxed)
            {
                return Err(RunError::Cancelled);
            }
        }
        self.finish(wall.elapsed().as_secs_f64())
    }

    /// Runs until virtual time `until` (for tests that step a run).
    pub fn run_until(&mut self, until: Time) {
        if self.events == 0 && self.queue.is_empty() {
            self.init();
        }
        while let Some(t) = self.queue.peek_time() {
            if t > until {
                break;
            }
            let (t, ev) = self.queue.pop().expect("peeked");
            self.now = t;
            self.events += 1;
            if matches!(ev, Event::End) {
                break;
            }
            self.dispatch(ev);
        }
        self.now = self.now.max(until);
    }

    #[inline]
    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Arrive(p) => self.arrive(p),
            Event::Done(node, ticket, p) => {
                let server = self.servers[node.0 as usize].as_mut().expect("only servers have workers");
                if let Some((next, t, s)) = server.done(self.now) {
                    self.queue.push(self.now + s, Event::Done(node, t, next));
                }
                let mut ready = std::mem::take(&mut self.ready);
                server.release(ticket, p, &mut ready);
                for p in ready.drain(..) {
                    self.serve(node, p);
                }
                self.ready = ready;
            }
            Event::Timer(t) => {
                if let Some(tr) = &mut self.trace
                    && !matches!(t, Timer::Deadlines(..))
                {
                    tr.record_timer(self.now, &t, &self.world);
                }
                self.timer(t)
            }
            Event::GroupMessage(g, generation) => {
                if generation == self.traffic.generation(g) {
                    self.group_message(g);
                }
            }
            Event::BurstToggle(g) => {
                let (next, msg) = self.traffic.toggle(g, self.now);
                self.queue.push(next, Event::BurstToggle(g));
                if let Some(t) = msg {
                    self.queue.push(t, Event::GroupMessage(g, self.traffic.generation(g)));
                }
            }
            Event::OutageStart(node, dur) => {
                self.net.set_down(node, true);
                self.queue.push(self.now + dur, Event::OutageEnd(node));
            }
            Event::OutageEnd(node) => {
                self.net.set_down(node, false);
                if self.world.node_kinds[node.0 as usize] == NodeKind::Access {
                    for u in 0..self.world.users.len() {
                        let u = UserId(u as u32);
                        if self.world.user(u).access == node {
                            let mut ctx = Ctx {
                                now: self.now,
                                world: &self.world,
                                stats: &mut self.stats,
                                out: &mut self.out,
                                device_online: &[],
                            };
                            self.clients.access_recovered(&mut ctx, u);
                            self.flush(None);
                        }
                    }
                }
            }
            Event::Warmup => self.warmup(),
            Event::Sample => self.sample(),
            Event::End => {}
        }
    }

    fn group_message(&mut self, g: GroupId) {
        let draw = self.traffic.message(g, self.now, &self.world.cfg);
        if let Some(t) = draw.next {
            self.queue.push(t, Event::GroupMessage(g, self.traffic.generation(g)));
        }
        self.online_buf.clear();
        for m in self.world.group_members(g) {
            let u = self.world.member(m).user;
            if self.clients.online[u.0 as usize] {
                self.online_buf.push((u, m));
            }
        }
        if self.online_buf.is_empty() {
            self.stats.workload_no_sender += 1;
            return;
        }
        let k = ((draw.pick * self.online_buf.len() as f64) as usize).min(self.online_buf.len() - 1);
        let (u, m) = self.online_buf[k];
        let msg = self.next_msg;
        self.next_msg = self.next_msg.wrapping_add(1);
        let item = Item { payload: Payload::Chat, group: g, origin: u, from: u, msg, size: draw.size };
        self.stats.workload_messages += 1;
        let mut ctx =
            Ctx { now: self.now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
        self.clients.send_chat(&mut ctx, u, m, item, draw.composing);
        self.flush(None);
    }

    fn timer(&mut self, t: Timer) {
        let now = self.now;
        match t {
            Timer::Client(u, ct) => {
                let mut ctx =
                    Ctx { now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
                self.clients.on_timer(&mut ctx, u, ct);
                self.flush(None);
            }
            Timer::Registrar(n, rt) => {
                if let NodeFn::Registrar(r) = &mut self.nodes[n.0 as usize] {
                    let mut ctx =
                        Ctx { now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
                    r.on_timer(&mut ctx, rt);
                }
                self.flush(Some(n));
            }
            Timer::Pf(n, pt) => {
                if let NodeFn::Pf(pf) = &mut self.nodes[n.0 as usize] {
                    let mut ctx = Ctx {
                        now,
                        world: &self.world,
                        stats: &mut self.stats,
                        out: &mut self.out,
                        device_online: &self.clients.online,
                    };
                    pf.on_timer(&mut ctx, pt);
                }
                self.flush(Some(n));
            }
            Timer::Cf(n, ct) => {
                if let NodeFn::Cf(cf) = &mut self.nodes[n.0 as usize] {
                    let mut ctx =
                        Ctx { now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
                    cf.on_timer(&mut ctx, ct);
                }
                self.flush(Some(n));
            }
            Timer::Deadlines(Owner::Clients, list) => {
                let mut ctx =
                    Ctx { now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
                self.clients.expire_deadlines(&mut ctx, list);
                self.flush(None);
            }
            Timer::Deadlines(Owner::Node(n), list) => {
                let mut ctx = Ctx {
                    now,
                    world: &self.world,
                    stats: &mut self.stats,
                    out: &mut self.out,
                    device_online: &self.clients.online,
                };
                match &mut self.nodes[n.0 as usize] {
                    NodeFn::Registrar(r) => r.expire_deadlines(&mut ctx, list),
                    NodeFn::Pf(pf) => pf.expire_deadlines(&mut ctx, list),
                    NodeFn::Cf(cf) => cf.expire_deadlines(&mut ctx, list),
                    NodeFn::Access => {}
                }
                self.flush(Some(n));
            }
        }
    }

    #[inline]
    fn arrive(&mut self, p: Packet) {
        let (node, via) = self.world.next_hop(&p);
        if self.net.is_down(node) {
            self.stats.lost_network += 1;
            self.trace_packet(TraceKind::Lost, Addr::Node(node), &p);
            return;
        }
        if let (Addr::User(u), false) = (p.dst, via) {
            if !self.clients.online[u.0 as usize] {
                self.stats.dropped_device_offline += 1;
                self.trace_packet(TraceKind::Lost, p.dst, &p);
                return;
            }
            self.trace_packet(TraceKind::Received, p.dst, &p);
            let mut ctx = Ctx {
                now: self.now,
                world: &self.world,
                stats: &mut self.stats,
                out: &mut self.out,
                device_online: &[],
            };
            self.clients.handle(&mut ctx, u, p.msg);
            self.flush(None);
            return;
        }
        let Some(server) = self.servers[node.0 as usize].as_mut() else {
            self.stats.lost_network += 1;
            return;
        };
        match server.arrive(self.now, p) {
            Admission::Start(p, t, s) => self.queue.push(self.now + s, Event::Done(node, t, p)),
            Admission::Queued => {}
            Admission::Rejected(p) => {
                let retry_after = server.retry_after_s;
                self.trace_packet(TraceKind::Rejected, Addr::Node(node), &p);
                if let Msg::Sip(sip) = &p.msg
                    && let Some(resp) = sip.response(503, retry_after)
                {
                    self.stats.count_response(503);
                    self.stats.sent[MsgKind::SipResponse as usize] += 1;
                    let r = Packet { src: Addr::Node(node), dst: p.src, msg: Msg::Sip(resp), proxied: true };
                    self.trace_packet(TraceKind::Sent, Addr::Node(node), &r);
                    self.route(node, r);
                }
            }
        }
    }

    /// A server node's worker finished: the network function handles the message.
    #[inline]
    fn serve(&mut self, node: NodeId, p: Packet) {
        let now = self.now;
        self.trace_packet(TraceKind::Received, Addr::Node(node), &p);
        match &mut self.nodes[node.0 as usize] {
            NodeFn::Pf(pf) => {
                let mut ctx = Ctx {
                    now,
                    world: &self.world,
                    stats: &mut self.stats,
                    out: &mut self.out,
                    device_online: &self.clients.online,
                };
                pf.handle(&mut ctx, p);
            }
            NodeFn::Cf(cf) => {
                let mut ctx =
                    Ctx { now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
                cf.handle(&mut ctx, p);
            }
            NodeFn::Registrar(r) => {
                let mut ctx =
                    Ctx { now, world: &self.world, stats: &mut self.stats, out: &mut self.out, device_online: &[] };
                r.handle(&mut ctx, p);
            }
            NodeFn::Access => {}
        }
        self.flush(Some(node));
    }

    /// Carries out what a node asked for. `at` is where the node sits (None: derive from the
    /// sender's address).
    #[inline]
    fn flush(&mut self, at: Option<NodeId>) {
        let mut out = std::mem::take(&mut self.out);
        for a in out.drain(..) {
            match a {
                Action::Send(p) => {
                    if !p.proxied {
                        self.stats.sent[p.msg.kind() as usize] += 1;
                        if let Msg::Sip(Sip::Response { status, .. }) = &p.msg {
                            self.stats.count_response(*status);
                        }
                    }
                    let pos = at.unwrap_or(match p.src {
                        Addr::Node(n) => n,
                        Addr::User(u) => self.world.user(u).access,
                    });
                    let sender = match at {
                        Some(n) if p.proxied => Addr::Node(n),
                        _ => p.src,
                    };
                    self.trace_packet(TraceKind::Sent, sender, &p);
                    self.route(pos, p);
                }
                Action::Timer(t, timer) => self.queue.push(t, Event::Timer(timer)),
                Action::Fired(timer) => {
                    if let Some(tr) = &mut self.trace {
                        tr.record_timer(self.now, &timer, &self.world);
                    }
                }
            }
        }
        self.out = out;
    }

    #[inline]
    fn route(&mut self, pos: NodeId, p: Packet) {
        let (hop, _) = self.world.next_hop(&p);
        let transport = if matches!(p.msg, Msg::Msrp(_)) { Transport::Tcp } else { Transport::Udp };
        let Some(delay) = self.net.transit(pos, hop, transport) else {
            self.stats.lost_network += 1;
            self.trace_packet(TraceKind::Lost, Addr::Node(pos), &p);
            return;
        };
        let mut at = self.now + delay;
        if transport == Transport::Tcp {
            // One TCP connection per pair of ends: MSRP arrives in the order it was sent.
            let last = match (p.src, p.dst) {
                (Addr::User(u), _) => &mut self.last_up[u.0 as usize],
                (_, Addr::User(u)) => &mut self.last_down[u.0 as usize],
                (Addr::Node(a), Addr::Node(b)) => &mut self.last_core[a.0 as usize * self.n_nodes + b.0 as usize],
            };
            at = at.max(*last);
            *last = at;
        }
        self.queue.push(at, Event::Arrive(p));
    }

    #[inline]
    fn trace_packet(&mut self, kind: TraceKind, at: Addr, p: &Packet) {
        if let Some(t) = &mut self.trace {
            t.record(self.now, kind, at, p, &self.world);
        }
    }

    fn pending_by_kind(&self) -> (u64, u64) {
        self.nodes.iter().fold((0, 0), |(a, b), n| match n {
            NodeFn::Pf(pf) => {
                let (x, y) = pf.pending_by_kind();
                (a + x, b + y)
            }
            _ => (a, b),
        })
    }

    fn warmup(&mut self) {
        // The time series run across warm-up: keep what the current sampling interval has
        // accumulated so far, which the reset below would lose.
        let deliveries = self.stats.deliveries_interval;
        self.stats.reset(self.now);
        self.stats.deliveries_interval = deliveries;
        for (i, s) in self.servers.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            let busy = s.busy_level.area_until(self.now) - self.prev_busy_area[i];
            let queue = s.queue_level.area_until(self.now) - self.prev_queue_area[i];
            s.reset_stats(self.now);
            self.prev_busy_area[i] = -busy;
            self.prev_queue_area[i] = -queue;
        }
        self.window_start = self.now;
        let (m, n) = self.pending_by_kind();
        self.stats.deferred.pending_at_warmup = m;
        self.stats.notifications.pending_at_warmup = n;
    }

    fn sample(&mut self) {
        let now = self.now;
        let interval = self.sample_interval;
        self.series.push("t_s", now as f64 / crate::units::SEC as f64);
        self.series.push("store.occupancy", self.stats.occupancy.value() as f64);
        self.series.push("store.bytes", self.stats.bytes.value() as f64);
        let per_min = self.stats.deliveries_interval as f64 * (60.0 * crate::units::SEC as f64) / interval as f64;
        self.series.push("delivery.per_minute", per_min);
        self.stats.deliveries_interval = 0;
        for (i, s) in self.servers.iter().enumerate() {
            let Some(s) = s else { continue };
            let name = &self.world.node_names[i];
            // Time averages over the interval, not snapshots: a queue that fills and drains
            // between two samples still shows.
            let area = s.busy_level.area_until(now);
            let prev = std::mem::replace(&mut self.prev_busy_area[i], area);
            let util = ((area - prev).max(0.0) / (interval as f64 * s.workers as f64)).min(1.0);
            let q_area = s.queue_level.area_until(now);
            let q_prev = std::mem::replace(&mut self.prev_queue_area[i], q_area);
            self.series.push(&format!("servers.{name}.queue"), (q_area - q_prev).max(0.0) / interval as f64);
            self.series.push(&format!("servers.{name}.utilisation"), util);
        }
        if now + interval <= self.world.horizon {
            self.queue.push(now + interval, Event::Sample);
        }
    }

    fn finish(mut self, wall_s: f64) -> Result<RunOutput, RunError> {
        let now = self.world.horizon;
        self.now = now;
        let (m, n) = self.pending_by_kind();
        self.stats.deferred.pending_at_end = m;
        self.stats.notifications.pending_at_end = n;
        for (kind, c) in
            [("deferred messages", self.stats.deferred), ("deferred notifications", self.stats.notifications)]
        {
            if !c.holds() {
                return Err(RunError::Conservation {
                    kind,
                    inflow: c.inflow(),
                    outflow: c.outflow(),
                    detail: format!("{c:?}"),
                });
            }
        }
        let mut metrics = self.stats.to_metrics(self.window_start, now);
        let window = (now - self.window_start).max(1) as f64;
        for (i, s) in self.servers.iter().enumerate() {
            let Some(s) = s else { continue };
            let name = &self.world.node_names[i];
            let util = s.busy_level.time_avg(self.window_start, now) / s.workers as f64;
            metrics.insert(format!("servers.{name}.utilisation"), json!(util));
            metrics.insert(format!("servers.{name}.queue.peak"), json!(s.queue_level.peak()));
            metrics.insert(
                format!("servers.{name}.queue.time_avg"),
                json!(s.queue_level.time_avg(self.window_start, now)),
            );
            metrics.insert(format!("servers.{name}.rejected_503"), json!(s.rejected_503));
        }
        metrics.insert("run.events".into(), json!(self.events));
        metrics.insert("run.sim_time_s".into(), json!(now as f64 / crate::units::SEC as f64));
        metrics.insert("run.window_s".into(), json!(window / crate::units::SEC as f64));
        metrics.insert("run.wall_s".into(), json!(wall_s));
        metrics.insert("run.peak_pending_events".into(), json!(self.queue.peak()));
        metrics.insert("run.users".into(), json!(self.world.users.len()));
        metrics.insert("run.groups".into(), json!(self.world.groups.len()));
        metrics.insert("run.memberships".into(), json!(self.world.members.len()));
        // Sorted by name, whatever order they were computed in.
        let metrics: Map<String, Value> =
            metrics.into_iter().collect::<std::collections::BTreeMap<_, _>>().into_iter().collect();
        Ok(RunOutput {
            metrics,
            histograms: json!({ "delivery.latency_s": self.stats.latency_buckets() }),
            timeseries: self.series.to_value(),
            fingerprint: self.fingerprint.map(|h| h.finish()),
            trace: self.trace.map(|t| *t),
        })
    }
}

/// Runs a model once and returns the results document (results.json).
pub fn run_model(model: &Model, seed: u64, params: Value, opts: RunOptions) -> Result<(Value, RunOutput), RunError> {
    let out = Sim::new(model, seed, opts).run()?;
    let doc = json!({
        "ddsim_version": env!("CARGO_PKG_VERSION"),
        "model": model.to_value(),
        "seed": seed,
        "params": params,
        "metrics": Value::Object(out.metrics.clone()),
        "histograms": out.histograms.clone(),
        "timeseries": out.timeseries.clone(),
    });
    Ok((doc, out))
}
