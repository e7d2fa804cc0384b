//! The network: the topology as a petgraph graph (pools expanded into their members,
//! `Topology::expanded`), routes between nodes (shortest by typical latency, found on first
//! use), per-message path delay drawn from the link latency distributions, link loss, and
//! node outages. Fault injection lives here, not in the network functions (as smoltcp keeps
//! its fault injector in `phy/`).
//!
//! Loss is modelled with the transport's own recovery: SIP runs over UDP and a lost
//! transmission is retransmitted after T1, 2·T1, ... (RFC 3261 §17.1.1.2, Timer A/E, capped at
//! T2 = 4 s) until 64·T1 has passed; MSRP runs over TCP and a lost segment is retransmitted after
//! an RTO of 1 s doubling (RFC 6298 §2). A message is lost for good only when its transport
//! gives up, or when it meets a node that is down.
//!
//! MSRP between two ends is one TCP connection, so it arrives in the order it was sent: a
//! message never overtakes an earlier one of the same pair of ends.

use crate::dist::Sampler;
use crate::engine::Time;
use crate::engine::rng::{self, Rng, Stream};
use crate::model::Model;
use crate::protocol::{Addr, Msg, NodeId, Packet, UserId};
use crate::units::SEC;
use petgraph::algo::astar;
use petgraph::graph::{NodeIndex, UnGraph};
use rand::Rng as _;

struct Link {
    latency: Sampler,
    loss: f64,
    rng: Rng,
}

#[derive(Clone, Debug, Default)]
struct Route {
    links: Vec<u32>,
    /// Every node on the route, both ends included (none: the ends are not connected).
    nodes: Vec<u16>,
}

/// Up to this many nodes, what is kept per ordered pair of nodes is a table; beyond (large
/// pools), where most pairs never exchange a message, a hash map.
const DENSE_NODES: usize = 256;

/// A value per ordered pair of nodes, the default until set.
enum Pairs<T> {
    Dense(Vec<T>),
    Sparse(fnv::FnvHashMap<u64, T>),
}

impl<T: Default + Clone> Pairs<T> {
    fn new(n: usize) -> Pairs<T> {
        if n <= DENSE_NODES { Pairs::Dense(vec![T::default(); n * n]) } else { Pairs::Sparse(Default::default()) }
    }

    #[inline]
    fn get_mut(&mut self, n: usize, a: usize, b: usize) -> &mut T {
        match self {
            Pairs::Dense(v) => &mut v[a * n + b],
            Pairs::Sparse(m) => m.entry((a * n + b) as u64).or_default(),
        }
    }
}

pub struct Network {
    links: Vec<Link>,
    n: usize,
    /// The topology, pools expanded; each edge's weight is its link's typical latency.
    graph: UnGraph<u16, f64>,
    /// The link of each edge, by its ends (lower index first): the first of the links joining them.
    edge_of: fnv::FnvHashMap<(u16, u16), u32>,
    /// Routes are found when first used: 1 + their index in `routes`, 0 until then.
    route_of: Pairs<u32>,
    routes: Vec<Route>,
    down: Vec<bool>,
    /// How many nodes are down.
    down_count: usize,
    /// SIP T1, for retransmission after loss.
    t1: u64,
    /// The latest arrival on each TCP connection: from and to each user (side by side, so that
    /// a message and its answer touch one cache line, not two arrays), between nodes.
    last_user: Vec<[Time; 2]>,
    last_between_nodes: Pairs<Time>,
}

/// How the message is carried, which decides how loss is recovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

fn typical_latency(s: &Sampler) -> f64 {
    let m = s.mean();
    if m.is_finite() {
        m.max(1.0)
    } else {
        // Distributions without a closed-form mean here: estimate from a fixed stream.
        let mut r = rng::stream(0, Stream::Setup, u64::MAX);
        (0..256).map(|_| s.sample(&mut r)).sum::<f64>() / 256.0
    }
}

impl Network {
    /// Builds the graph and link samplers of the topology with its pools expanded (nodes are
    /// numbered as in `Topology::expanded`). The model must have been validated.
    pub fn new(model: &Model, seed: u64) -> Network {
        let topology = model.topology.expanded();
        let n = topology.nodes.len();
        let mut graph = UnGraph::new_undirected();
        for i in 0..n {
            graph.add_node(i as u16);
        }
        // Per link as written: its sampler and typical latency (shared by the links it expands to).
        let written: Vec<(Sampler, f64)> = model
            .topology
            .links
            .iter()
            .map(|l| {
                let s = l.latency.compile().expect("validated");
                let w = typical_latency(&s);
                (s, w)
            })
            .collect();
        let mut edge_of = fnv::FnvHashMap::default();
        let mut links = Vec::with_capacity(topology.links.len());
        // The graph's edge order is the order of the expanded links.
        for (i, l) in topology.links.iter().enumerate() {
            let (sampler, w) = &written[l.written];
            graph.add_edge(NodeIndex::new(l.from), NodeIndex::new(l.to), *w);
            let (a, b) = (l.from as u16, l.to as u16);
            edge_of.entry((a.min(b), a.max(b))).or_insert(i as u32);
            links.push(Link {
                latency: sampler.clone(),
                loss: l.spec.loss,
                rng: rng::stream(seed, Stream::Link, i as u64),
            });
        }
        let users = model.population.iter().map(|c| c.users as usize).sum();
        Network {
            links,
            n,
            graph,
            edge_of,
            route_of: Pairs::new(n),
            routes: vec![],
            down: vec![false; n],
            down_count: 0,
            t1: model.sip.t1.0,
            last_user: vec![[0; 2]; users],
            last_between_nodes: Pairs::new(n),
        }
    }

    /// The route from node `a` to node `b` (an index in `routes`), found on first use: the
    /// shortest by typical latency.
    #[inline]
    fn route(&mut self, a: usize, b: usize) -> usize {
        let slot = self.route_of.get_mut(self.n, a, b);
        if *slot == 0 {
            let route = if a == b {
                Route { links: vec![], nodes: vec![a as u16] }
            } else {
                let (g, edge_of) = (&self.graph, &self.edge_of);
                let found = astar(g, NodeIndex::new(a), |x| x.index() == b, |e| *e.weight(), |_| 0.0);
                found.map_or_else(Route::default, |(_, p)| {
                    let nodes: Vec<u16> = p.iter().map(|x| g[*x]).collect();
                    let links = nodes.windows(2).map(|w| edge_of[&(w[0].min(w[1]), w[0].max(w[1]))]).collect();
                    Route { links, nodes }
                })
            };
            self.routes.push(route);
            *slot = self.routes.len() as u32;
        }
        *slot as usize - 1
    }

    pub fn set_down(&mut self, node: NodeId, down: bool) {
        let was = std::mem::replace(&mut self.down[node.0 as usize], down);
        match (was, down) {
            (false, true) => self.down_count += 1,
            (true, false) => self.down_count -= 1,
            _ => {}
        }
    }

    /// Whether any node is down (outages are rare: most of the time none is).
    pub fn any_down(&self) -> bool {
        self.down_count > 0
    }

    pub fn is_down(&self, node: NodeId) -> bool {
        self.down[node.0 as usize]
    }

    /// Starts loading user `u`'s MSRP order stamps (see `engine::prefetch`).
    #[inline]
    pub fn prefetch_user(&self, u: UserId) {
        crate::engine::prefetch_at(&self.last_user, u.0 as usize);
    }

    /// When a message sent at `now` from node `from` reaches node `to`, its next hop, or
    /// `None` if it is lost. SIP runs over UDP, MSRP over TCP in order per pair of ends.
    pub fn arrival(&mut self, now: Time, from: NodeId, to: NodeId, p: &Packet) -> Option<Time> {
        let transport = if matches!(p.msg, Msg::Msrp(_)) { Transport::Tcp } else { Transport::Udp };
        let at = now + self.transit(from, to, transport)?;
        if transport == Transport::Udp {
            return Some(at);
        }
        let last = match (p.src(), p.dst()) {
            (Addr::User(u), _) => &mut self.last_user[u.0 as usize][0],
            (_, Addr::User(u)) => &mut self.last_user[u.0 as usize][1],
            (Addr::Node(a), Addr::Node(b)) => self.last_between_nodes.get_mut(self.n, a.0 as usize, b.0 as usize),
        };
        *last = at.max(*last);
        Some(*last)
    }

    /// Delay of one message from node `a` to node `b`, or `None` if it is lost (a node on the
    /// way is down, or the transport gave up after losses).
    fn transit(&mut self, a: NodeId, b: NodeId, transport: Transport) -> Option<u64> {
        let r = self.route(a.0 as usize, b.0 as usize);
        let route = &self.routes[r];
        if route.nodes.iter().any(|&x| self.down[x as usize]) {
            return None;
        }
        if route.nodes.is_empty() {
            return None;
        }
        let mut total = 0u64;
        for &l in &route.links {
            let link = &mut self.links[l as usize];
            if link.loss > 0.0 {
                let mut wait = match transport {
                    Transport::Udp => self.t1,
                    Transport::Tcp => SEC,
                };
                let mut waited = 0u64;
                while link.rng.random::<f64>() < link.loss {
                    waited += wait;
                    let budget = match transport {
                        Transport::Udp => 64 * self.t1,
                        Transport::Tcp => 63 * SEC,
                    };
                    if waited > budget {
                        return None;
                    }
                    wait = match transport {
                        Transport::Udp => (wait * 2).min(4 * SEC.max(self.t1)),
                        Transport::Tcp => wait * 2,
                    };
                }
                total += waited;
            }
            total += if link.latency.is_const() {
                link.latency.sample_u64(&mut link.rng)
            } else {
                link.latency.sample_u64(&mut link.rng).max(1)
            };
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{GroupId, Item, MemberId, Msrp, Payload, Session, Sip, UserId};

    fn model() -> Model {
        let v = serde_json::json!({"topology": {
            "nodes": [{"id": "ran", "kind": "access"}, {"id": "scscf", "kind": "registrar"},
                      {"id": "pf1", "kind": "participating"}, {"id": "cf1", "kind": "controlling"}],
            "links": [{"from": "ran", "to": "scscf", "latency": {"dist": "uniform", "min": "1ms", "max": "100ms"}},
                      {"from": "scscf", "to": "pf1"}, {"from": "pf1", "to": "cf1"}]}});
        Model::from_value_with(&v, "m.json", &[]).unwrap()
    }

    fn msrp(u: u32, n: u32) -> Packet {
        let item = Item::new(Payload::Chat, GroupId(0), UserId(u), UserId(u), n, 10);
        let msg = Msg::Msrp(Msrp::Send { session: Session::Live(MemberId(0)), item, chunk: 1, chunks: 1, seq: n });
        Packet::new(Addr::User(UserId(u)), Addr::Node(NodeId(2)), msg)
    }

    #[test]
    fn msrp_of_one_pair_of_ends_arrives_in_order_and_sip_need_not() {
        let mut net = Network::new(&model(), 1);
        let (ran, scscf) = (NodeId(0), NodeId(1));
        // Sent one microsecond apart over a link of 1 to 100 ms: TCP keeps them in order.
        let tcp: Vec<Time> = (0..200).map(|i| net.arrival(i, ran, scscf, &msrp(0, i as u32)).unwrap()).collect();
        assert!(tcp.windows(2).all(|w| w[0] <= w[1]), "MSRP overtook itself");
        // Another user's connection is not held up by the first one's.
        let other = net.arrival(0, ran, scscf, &msrp(1, 0)).unwrap();
        assert!(other < *tcp.last().unwrap());
        let sip = |i: u64| {
            let msg =
                Msg::Sip(Sip::Register { user: UserId(0), expires_s: 60, sip_instance: false, generation: i as u32 });
            Packet::new(Addr::User(UserId(0)), Addr::Node(NodeId(1)), msg)
        };
        let udp: Vec<Time> = (0..200).map(|i| net.arrival(i, ran, scscf, &sip(i)).unwrap()).collect();
        assert!(udp.windows(2).any(|w| w[0] > w[1]), "independent datagrams may overtake each other");
    }

    #[test]
    fn nothing_crosses_a_node_that_is_down() {
        let mut net = Network::new(&model(), 1);
        net.set_down(NodeId(1), true);
        assert_eq!(net.arrival(0, NodeId(0), NodeId(2), &msrp(0, 0)), None, "the route goes through scscf");
        assert!(net.arrival(0, NodeId(2), NodeId(3), &msrp(0, 1)).is_some(), "pf1 to cf1 does not");
        // A node set down twice is one node down; some node is down until each is up again.
        assert!(net.any_down());
        net.set_down(NodeId(1), true);
        net.set_down(NodeId(2), true);
        net.set_down(NodeId(1), false);
        assert!(net.any_down() && net.is_down(NodeId(2)) && !net.is_down(NodeId(1)));
        net.set_down(NodeId(2), false);
        assert!(!net.any_down());
    }
}
