//! One simulation run: builds the world from a model and a seed, drives the network functions
//! with the engine's event queue, routes their messages over the network, and produces the
//! results document. This is the only place where time advances.
//!
//! The loop pops the next event and hands it on: a message arriving at a node joins that
//! server's queue (or reaches a device), a served message or a timer goes to its network
//! function through [`Sim::drive`] (the one place a node's context is made), and what the
//! function asked for is carried out by [`Sim::flush`]: messages routed over the network,
//! timers pushed on the queue.

use crate::engine::queue::PendingEvents;
use crate::engine::{EventQueue, Time, prefetch};
use crate::metrics::{ConservationBroken, Measurement, Stats};
use crate::model::{EventSpec, Model, NodeKind, Start};
use crate::network::Network;
use crate::nodes::client::Clients;
use crate::nodes::controlling::ControllingFunction;
use crate::nodes::participating::ParticipatingFunction;
use crate::nodes::registrar::Registrar;
use crate::nodes::{Action, Ctx, Devices, NetworkFunction, Owner, Timer};
use crate::protocol::{Addr, GroupId, Item, MemberId, Msg, MsgKind, NodeId, Packet, Payload, Sip, Subject, UserId};
use crate::servers::{Admission, Server};
use crate::trace::{Trace, TraceFilter, TraceKind};
use crate::workload::prehistory::{self, Holder, UserStart};
use crate::workload::{Traffic, World};
use serde_json::{Map, Value, json};
use std::hash::{Hash, Hasher};

/// A network function at a node.
// A run has a handful of nodes, each built once; boxing the large ones would cost an
// indirection on every message they serve.
#[allow(clippy::large_enum_variant)]
pub enum NodeFn {
    Access,
    Registrar(Registrar),
    Pf(ParticipatingFunction),
    Cf(ControllingFunction),
}

impl NodeFn {
    #[inline]
    fn prefetch(&self, world: &World, p: &Packet) {
        match self {
            NodeFn::Registrar(r) => r.prefetch(world, p),
            NodeFn::Pf(pf) => pf.prefetch(world, p),
            NodeFn::Cf(cf) => cf.prefetch(world, p),
            NodeFn::Access => {}
        }
    }

    fn handle(&mut self, ctx: &mut Ctx, p: Packet) {
        match self {
            NodeFn::Registrar(r) => r.handle(ctx, p),
            NodeFn::Pf(pf) => pf.handle(ctx, p),
            NodeFn::Cf(cf) => cf.handle(ctx, p),
            NodeFn::Access => {}
        }
    }

    fn timer(&mut self, ctx: &mut Ctx, t: Timer) {
        match (self, t) {
            (NodeFn::Registrar(r), Timer::Registrar(_, t)) => r.on_timer(ctx, t),
            (NodeFn::Pf(pf), Timer::Pf(_, t)) => pf.on_timer(ctx, t),
            (NodeFn::Cf(cf), Timer::Cf(_, t)) => cf.on_timer(ctx, t),
            (NodeFn::Registrar(r), Timer::Deadlines(_, list)) => r.expire_deadlines(ctx, list),
            (NodeFn::Pf(pf), Timer::Deadlines(_, list)) => pf.expire_deadlines(ctx, list),
            (NodeFn::Cf(cf), Timer::Deadlines(_, list)) => cf.expire_deadlines(ctx, list),
            _ => {}
        }
    }
}

/// The network functions of a run: every client, and the function at each node.
struct Functions {
    clients: Clients,
    nodes: Vec<NodeFn>,
}

/// What the engine schedules. One cache line, and aligned to one: the event queue's slab is
/// an array of them, so that each pending event is exactly one line to write and one to read.
#[derive(Clone, Debug, Hash)]
#[repr(align(64))]
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
            (p.msg.kind() as u64) << 62 ^ a(p.src()) << 32 ^ a(p.dst())
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
    #[error(transparent)]
    Conservation(#[from] ConservationBroken),
}

pub struct RunOutput {
    pub metrics: Map<String, Value>,
    pub histograms: Value,
    pub timeseries: Value,
    pub hourly: Value,
    pub fingerprint: Option<u64>,
    pub trace: Option<Trace>,
}

/// A run. Generic over its pending-event set only so that benchmarks can time whole runs
/// with the alternatives of `engine::queue`; the default is the engine's own.
pub struct Sim<Q: PendingEvents<Event> = EventQueue<Event>> {
    world: World,
    queue: Q,
    net: Network,
    fns: Functions,
    devices: Devices,
    servers: Vec<Option<Server>>,
    traffic: Traffic,
    stats: Stats,
    measurement: Measurement,
    out: Vec<Action>,
    ready: Vec<Packet>,
    now: Time,
    events: u64,
    next_msg: u32,
    fingerprint: Option<fnv::FnvHasher>,
    trace: Option<Box<Trace>>,
    online_buf: Vec<(UserId, MemberId)>,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    outages: Vec<(NodeId, Time, Time)>,
    /// Each user's presence at time 0 after a steady-state start's prehistory.
    starts: Option<Vec<UserStart>>,
    /// Wall time of the prehistory (s).
    prehistory_s: f64,
}

/// The PFs' stores, as the prehistory of a steady-state start fills them.
struct PfStores<'a>(&'a mut [NodeFn]);

impl PfStores<'_> {
    fn pf(&mut self, world: &World, u: UserId) -> &mut ParticipatingFunction {
        match &mut self.0[world.user(u).pf.0 as usize] {
            NodeFn::Pf(pf) => pf,
            _ => unreachable!("a user's PF is a participating node"),
        }
    }
}

impl Holder for PfStores<'_> {
    fn hold(&mut self, world: &World, m: MemberId, item: Item, arrived: i64) {
        self.pf(world, world.member(m).user).prefill(world, m, item, arrived);
    }
    fn take_all(&mut self, world: &World, u: UserId, now: i64, out: &mut Vec<Item>) {
        self.pf(world, u).take_prefilled(world, u, now, out);
    }
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
        // The nodes as the run has them: pools expanded into their members.
        let topology = model.topology.expanded();
        let n = topology.nodes.len();
        let mut nodes = Vec::with_capacity(n);
        let mut servers = Vec::with_capacity(n);
        for (i, spec) in topology.nodes.iter().map(|m| m.spec).enumerate() {
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
                    id,
                    spec,
                    crate::engine::rng::stream(seed, crate::engine::rng::Stream::Service, i as u64),
                )),
            });
        }
        // An outage of a pool is one of each of its members, at the same time.
        let outages: Vec<(NodeId, Time, Time)> = model
            .events
            .iter()
            .flat_map(|e| {
                let EventSpec::Outage { node, at, duration } = e;
                let members = topology.members_of(node).expect("validated");
                members.map(|m| (NodeId(m as u16), at.0, duration.0))
            })
            .collect();
        let events = model
            .events
            .iter()
            .map(|e| {
                let EventSpec::Outage { at, duration, .. } = e;
                (at.0, at.0 + duration.0)
            })
            .collect();
        // The prehistory is part of the run's wall time (`run.wall_s`), not of building it.
        let clock = std::time::Instant::now();
        let starts =
            (model.start == Start::SteadyState).then(|| prehistory::run(model, &world, &mut PfStores(&mut nodes)));
        let prehistory_s = clock.elapsed().as_secs_f64();
        let is_server = |m: &&crate::model::Member| m.spec.kind != NodeKind::Access;
        let server_names = topology.nodes.iter().filter(is_server).map(|m| m.id.as_str());
        // Each pool's members among the servers (members of a pool are servers, and adjacent).
        let pools = topology
            .pools()
            .map(|(id, r)| {
                let first = topology.nodes[..r.start].iter().filter(is_server).count();
                (id.to_string(), first..first + r.len())
            })
            .collect();
        Sim {
            fns: Functions { clients: Clients::new(&world), nodes },
            devices: Devices::new(world.users.len()),
            net: Network::new(model, seed),
            traffic: Traffic::new(model, seed),
            queue: Q::default(),
            servers,
            stats: Stats::new(),
            measurement: Measurement::new(model.metrics.sample_interval.0, server_names, events).with_pools(pools),
            out: Vec::with_capacity(64),
            ready: Vec::with_capacity(8),
            now: 0,
            events: 0,
            next_msg: 0,
            fingerprint: if opts.fingerprint { Some(fnv::FnvHasher::default()) } else { None },
            trace: opts.trace.clone().map(|f| Box::new(Trace::new(f))),
            online_buf: Vec::new(),
            cancel: opts.cancel.clone(),
            outages,
            starts,
            prehistory_s,
            world,
        }
    }

    /// Schedules the run's first events: the end, warm-up, sampling, outages, every user's
    /// presence process and every group's traffic.
    fn init(&mut self) {
        // The pending events peak at about three to four per user (scale-1m: 3.0 M for a
        // million users, the baseline 42,000 for 10,000): room for five per user and one per
        // group up front spares the slab its growth by doubling, each step a copy into fresh
        // memory (BENCHMARKS.md, issue 15). Room not used costs address space only.
        self.queue.reserve(5 * self.world.users.len() + self.world.groups.len());
        let w = &self.world;
        self.queue.push(w.horizon, Event::End);
        if w.warmup > 0 {
            self.queue.push(w.warmup, Event::Warmup);
        }
        // Each sample covers the interval before it; the first one ends one interval in.
        self.queue.push(self.measurement.interval().min(w.horizon), Event::Sample);
        for (node, at, dur) in self.outages.clone() {
            self.queue.push(at, Event::OutageStart(node, dur));
        }
        for u in 0..self.world.users.len() {
            let u = UserId(u as u32);
            let given = self.starts.as_ref().map(|s| s[u.0 as usize]);
            self.drive(None, |f, ctx| {
                let Some(registered_at) = f.clients.start(ctx, u, given) else { return };
                // Online from the start: registered then, at the S-CSCF and at the PF.
                let info = *ctx.world.user(u);
                let class = ctx.world.class_of(u);
                let expires_at = registered_at + class.expiry_s as u64 * crate::units::SEC;
                if let NodeFn::Registrar(r) = &mut f.nodes[info.registrar.0 as usize] {
                    r.preload(ctx, u, expires_at, class.sip_instance);
                }
                if let NodeFn::Pf(pf) = &mut f.nodes[info.pf.0 as usize] {
                    pf.preload_registered(ctx, u, class.sip_instance);
                }
            });
        }
        if self.starts.is_some() {
            for n in 0..self.fns.nodes.len() {
                self.drive(Some(NodeId(n as u16)), |f, ctx| {
                    if let NodeFn::Pf(pf) = &mut f.nodes[n] {
                        pf.prefilled(ctx);
                    }
                });
            }
            if self.world.warmup == 0 {
                // What the run found held is counted in, as a warm-up's leftovers are.
                let (msgs, notes) = self.pending_by_kind();
                self.stats.deferred.pending_at_warmup = msgs;
                self.stats.notifications.pending_at_warmup = notes;
            }
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
            self.prefetch_upcoming();
            // Hours close as the clock passes them (no event of their own: see metrics::hourly).
            while t >= self.measurement.next_hour() {
                let loads = self.servers.iter_mut().flatten().map(|s| &mut s.load);
                self.measurement.close_hour(&self.stats, loads);
            }
            self.dispatch(ev);
            if self.events & 0xFFFF == 0
                && let Some(c) = &self.cancel
                && c.load(std::sync::atomic::Ordering::Relaxed)
            {
                return Err(RunError::Cancelled);
            }
        }
        let wall_s = self.prehistory_s + wall.elapsed().as_secs_f64();
        self.finish(wall_s)
    }

    // ----- prefetching: a million users' state is far bigger than the cache, and an event
    // that waits for each record it reads in turn spends most of its time waiting. So the
    // engine asks for what an event will read in stages, while other events run: when a
    // message is sent (it arrives some events later), when it joins a server's queue (it is
    // handled a service time later), and when an event is next. Hints only: nothing here
    // changes state or order, so results are the same with or without them.

    /// Stage 1: message `p` was sent and arrives some events from now: the records its
    /// handling reads first.
    #[inline]
    fn prefetch_sent(&self, p: &Packet) {
        match p.dst() {
            Addr::User(u) => self.prefetch_user(u),
            Addr::Node(_) => self.prefetch_subject(p.msg.subject()),
        }
    }

    /// Stage 2: message `p` joined server `node`'s queue (its stage 1 records are in cache):
    /// the node's own state for it, and the user's transport state if it is MSRP (handling it
    /// sends MSRP to or from that user).
    #[inline]
    fn prefetch_queued(&self, node: NodeId, p: &Packet) {
        self.fns.nodes[node.0 as usize].prefetch(&self.world, p);
        if let Msg::Msrp(m) = &p.msg {
            self.net.prefetch_user(self.world.member(m.session().member()).user);
        }
    }

    /// Stage 3: the next event (its payload is in cache: the queue fetched it a pop ago).
    #[inline]
    fn prefetch_upcoming(&self) {
        match self.queue.upcoming() {
            Some(Event::Timer(Timer::Client(u, _))) => self.prefetch_user(*u),
            Some(Event::Timer(Timer::Pf(_, t))) => self.prefetch_subject(t.subject()),
            Some(Event::GroupMessage(g, _)) => prefetch(self.world.group(*g)),
            _ => {}
        }
    }

    /// The world's record of a user or membership.
    #[inline]
    fn prefetch_subject(&self, s: Subject) {
        match s {
            Subject::User(u) => prefetch(self.world.user(u)),
            Subject::Member(m) => prefetch(self.world.member(m)),
        }
    }

    /// What a message to or a timer of user `u`'s client reads first.
    #[inline]
    fn prefetch_user(&self, u: UserId) {
        prefetch(self.world.user(u));
        self.devices.prefetch(u);
        self.fns.clients.prefetch(u);
        self.net.prefetch_user(u);
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
                            self.drive(None, |f, ctx| f.clients.access_recovered(ctx, u));
                        }
                    }
                }
            }
            Event::Warmup => {
                let pending = self.pending_by_kind();
                let loads = self.servers.iter_mut().flatten().map(|s| &mut s.load);
                self.measurement.warmup(self.now, &mut self.stats, loads, pending);
            }
            Event::Sample => {
                let loads = self.servers.iter_mut().flatten().map(|s| &mut s.load);
                self.measurement.sample(self.now, &mut self.stats, loads, self.devices.online_count());
                let next = self.now + self.measurement.interval();
                if next <= self.world.horizon {
                    self.queue.push(next, Event::Sample);
                }
            }
            Event::End => {}
        }
    }

    /// Hands an input to the network functions: the one place a node's context is made. `at`
    /// is the node where it happens (None: at a device); what the function sends leaves from
    /// there.
    #[inline]
    fn drive(&mut self, at: Option<NodeId>, input: impl FnOnce(&mut Functions, &mut Ctx)) {
        let mut ctx = Ctx::new(self.now, &self.world, &mut self.stats, &mut self.out, &mut self.devices);
        input(&mut self.fns, &mut ctx);
        self.flush(at);
    }

    fn group_message(&mut self, g: GroupId) {
        let draw = self.traffic.message(g, self.now, &self.world.cfg);
        if let Some(t) = draw.next {
            self.queue.push(t, Event::GroupMessage(g, self.traffic.generation(g)));
        }
        self.online_buf.clear();
        for m in self.world.group_members(g) {
            let u = self.world.member(m).user;
            if self.devices.is_online(u) {
                self.online_buf.push((u, m));
            }
        }
        if self.online_buf.is_empty() {
            self.stats.workload_no_sender += 1;
            return;
        }
        let k = ((draw.pick * self.online_buf.len() as f64) as usize).min(self.online_buf.len() - 1);
        let (u, m) = self.online_buf[k];
        // The demand on the stores, from the workload alone: the other members whose device
        // cannot take a copy now (switched off, or behind an access node that is down).
        let members = self.world.group(g).count as u64;
        // Looking up each member's access node costs a cache miss per member at scale: only
        // while some node is down can any be cut off.
        let cut_off = if self.net.any_down() {
            self.online_buf.iter().filter(|&&(v, _)| v != u && self.net.is_down(self.world.user(v).access)).count()
                as u64
        } else {
            0
        };
        self.stats.workload_deferred_demand += members - self.online_buf.len() as u64 + cut_off;
        let msg = self.next_msg;
        self.next_msg = self.next_msg.wrapping_add(1);
        let item = Item::new(Payload::Chat, g, u, u, msg, draw.size);
        self.stats.workload_messages += 1;
        self.drive(None, |f, ctx| f.clients.send_chat(ctx, u, m, item, draw.composing));
    }

    fn timer(&mut self, t: Timer) {
        let at = match t {
            Timer::Client(..) | Timer::Deadlines(Owner::Clients, _) => None,
            Timer::Registrar(n, _) | Timer::Pf(n, _) | Timer::Cf(n, _) | Timer::Deadlines(Owner::Node(n), _) => Some(n),
        };
        self.drive(at, |f, ctx| match (at, t) {
            (_, Timer::Client(u, ct)) => f.clients.on_timer(ctx, (u, ct)),
            (None, Timer::Deadlines(_, list)) => f.clients.expire_deadlines(ctx, list),
            (Some(n), t) => f.nodes[n.0 as usize].timer(ctx, t),
            (None, _) => unreachable!("node timers name their node"),
        });
    }

    #[inline]
    fn arrive(&mut self, p: Packet) {
        let (node, via) = self.world.next_hop(&p);
        if self.net.is_down(node) {
            self.stats.lost_network += 1;
            self.trace_packet(TraceKind::Lost, Addr::Node(node), &p);
            return;
        }
        if let (Addr::User(u), false) = (p.dst(), via) {
            if !self.devices.is_online(u) {
                self.stats.dropped_device_offline += 1;
                self.trace_packet(TraceKind::Lost, p.dst(), &p);
                return;
            }
            self.trace_packet(TraceKind::Received, p.dst(), &p);
            self.drive(None, |f, ctx| f.clients.handle(ctx, p));
            return;
        }
        self.prefetch_queued(node, &p);
        let Some(server) = self.servers[node.0 as usize].as_mut() else {
            self.stats.lost_network += 1;
            return;
        };
        match server.arrive(self.now, p) {
            Admission::Start(p, t, s) => self.queue.push(self.now + s, Event::Done(node, t, p)),
            Admission::Queued => {}
            Admission::Rejected(p) => {
                let refusal = server.unavailable(&p);
                self.trace_packet(TraceKind::Rejected, Addr::Node(node), &p);
                if let Some(r) = refusal {
                    self.stats.count_response(503);
                    self.stats.sent[MsgKind::SipResponse as usize] += 1;
                    self.trace_packet(TraceKind::Sent, Addr::Node(node), &r);
                    self.route(node, r);
                }
            }
        }
    }

    /// A server node's worker finished: the network function handles the message.
    #[inline]
    fn serve(&mut self, node: NodeId, p: Packet) {
        self.trace_packet(TraceKind::Received, Addr::Node(node), &p);
        self.drive(Some(node), |f, ctx| f.nodes[node.0 as usize].handle(ctx, p));
    }

    /// Carries out what a network function asked for. `at` is where it sits (None: a device;
    /// each message then leaves from its sender's access node).
    #[inline]
    fn flush(&mut self, at: Option<NodeId>) {
        let mut out = std::mem::take(&mut self.out);
        for a in out.drain(..) {
            match a {
                Action::Send(p) => {
                    if !p.proxied() {
                        self.stats.sent[p.msg.kind() as usize] += 1;
                        if let Msg::Sip(Sip::Response { status, .. }) = &p.msg {
                            self.stats.count_response(*status);
                        }
                    }
                    let pos = at.unwrap_or(match p.src() {
                        Addr::Node(n) => n,
                        Addr::User(u) => self.world.access_of(u),
                    });
                    let sender = match at {
                        Some(n) if p.proxied() => Addr::Node(n),
                        _ => p.src(),
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

    /// Sends a message from node `pos` towards its next hop.
    #[inline]
    fn route(&mut self, pos: NodeId, p: Packet) {
        let (hop, _) = self.world.next_hop(&p);
        match self.net.arrival(self.now, pos, hop, &p) {
            Some(at) => {
                self.prefetch_sent(&p);
                self.queue.push(at, Event::Arrive(p))
            }
            None => {
                self.stats.lost_network += 1;
                self.trace_packet(TraceKind::Lost, Addr::Node(pos), &p);
            }
        }
    }

    #[inline]
    fn trace_packet(&mut self, kind: TraceKind, at: Addr, p: &Packet) {
        if let Some(t) = &mut self.trace {
            t.record(self.now, kind, at, p, &self.world);
        }
    }

    /// (messages, notifications) held by all PFs.
    fn pending_by_kind(&self) -> (u64, u64) {
        self.fns.nodes.iter().fold((0, 0), |(a, b), n| match n {
            NodeFn::Pf(pf) => {
                let (x, y) = pf.pending_by_kind();
                (a + x, b + y)
            }
            _ => (a, b),
        })
    }

    fn finish(mut self, wall_s: f64) -> Result<RunOutput, RunError> {
        let now = self.world.horizon;
        self.now = now;
        let pending = self.pending_by_kind();
        let window = (now - self.measurement.window_start()).max(1) as f64;
        let loads = self.servers.iter_mut().flatten().map(|s| &mut s.load);
        let (mut metrics, timeseries, hourly) = self.measurement.finish(now, &mut self.stats, loads, pending)?;
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
            histograms: json!({
                "delivery.latency_s": self.stats.latency_histogram(),
                "delivery.after_register_s": self.stats.after_register.to_value(),
                "delivery.after_client_register_s": self.stats.after_client_register.to_value(),
            }),
            timeseries,
            hourly,
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
        "hourly": out.hourly.clone(),
    });
    Ok((doc, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pending event is an `Event` and most carry a `Packet`: their size is the memory
    /// and cache cost of each scheduled message, one cache line now. Growing them is a
    /// deliberate change: update the figures here (and BENCHMARKS.md) in the commit that does
    /// it.
    #[test]
    fn hot_types_keep_their_size() {
        assert_eq!(size_of::<Event>(), 64, "Event");
        // The queue's slab holds `Option<Event>`s: one line each, never straddling two.
        assert_eq!((size_of::<Option<Event>>(), align_of::<Option<Event>>()), (64, 64), "a slab slot");
        assert_eq!(size_of::<Packet>(), 56, "Packet");
        assert_eq!(size_of::<Msg>(), 48, "Msg");
        assert_eq!(size_of::<Timer>(), 40, "Timer");
        assert_eq!(size_of::<Item>(), 20, "Item");
        // Read for every message to or from a user, and for every copy of a group's traffic.
        assert_eq!(size_of::<crate::workload::UserInfo>(), 24, "UserInfo");
        assert_eq!(size_of::<crate::workload::MemberInfo>(), 16, "MemberInfo");
    }
}
