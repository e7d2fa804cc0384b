//! The network: the topology as a petgraph graph, routes between nodes (shortest by typical
//! latency), per-message path delay drawn from the link latency distributions, link loss, and
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
use crate::protocol::{Addr, Msg, NodeId, Packet};
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
    links: Vec<u16>,
    /// Every node on the route, both ends included.
    nodes: Vec<u16>,
}

pub struct Network {
    links: Vec<Link>,
    n: usize,
    routes: Vec<Route>,
    down: Vec<bool>,
    /// SIP T1, for retransmission after loss.
    t1: u64,
    /// The latest arrival on each TCP connection: from each user, to each user, between nodes.
    last_from_user: Vec<Time>,
    last_to_user: Vec<Time>,
    last_between_nodes: Vec<Time>,
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

fn build_graph(model: &Model) -> (UnGraph<u16, f64>, Vec<NodeIndex>) {
    let mut g = UnGraph::new_undirected();
    let idx: Vec<NodeIndex> = (0..model.topology.nodes.len()).map(|i| g.add_node(i as u16)).collect();
    for l in &model.topology.links {
        let (Some(a), Some(b)) = (model.node_index(&l.from), model.node_index(&l.to)) else {
            continue;
        };
        let w = l.latency.compile().map(|s| typical_latency(&s)).unwrap_or(1.0);
        g.add_edge(idx[a], idx[b], w);
    }
    (g, idx)
}

fn path(g: &UnGraph<u16, f64>, a: NodeIndex, b: NodeIndex) -> Option<Vec<NodeIndex>> {
    astar(g, a, |n| n == b, |e| *e.weight(), |_| 0.0).map(|(_, p)| p)
}

impl Network {
    /// Builds routes and link samplers. The model must have been validated.
    pub fn new(model: &Model, seed: u64) -> Network {
        let (g, idx) = build_graph(model);
        let n = model.topology.nodes.len();
        // The graph's edge order is the order of `topology.links`.
        let mut edge_of = std::collections::HashMap::new();
        for (i, l) in model.topology.links.iter().enumerate() {
            let a = model.node_index(&l.from).expect("validated") as u16;
            let b = model.node_index(&l.to).expect("validated") as u16;
            edge_of.entry((a.min(b), a.max(b))).or_insert(i as u16);
        }
        let mut routes = vec![Route::default(); n * n];
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    routes[a * n + b] = Route { links: vec![], nodes: vec![a as u16] };
                    continue;
                }
                if let Some(p) = path(&g, idx[a], idx[b]) {
                    let nodes: Vec<u16> = p.iter().map(|x| g[*x]).collect();
                    let links = nodes.windows(2).map(|w| edge_of[&(w[0].min(w[1]), w[0].max(w[1]))]).collect();
                    routes[a * n + b] = Route { links, nodes };
                }
            }
        }
        let links = model
            .topology
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| Link {
                latency: l.latency.compile().expect("validated"),
                loss: l.loss,
                rng: rng::stream(seed, Stream::Link, i as u64),
            })
            .collect();
        let users = model.population.iter().map(|c| c.users as usize).sum();
        Network {
            links,
            n,
            routes,
            down: vec![false; n],
            t1: model.sip.t1.0,
            last_from_user: vec![0; users],
            last_to_user: vec![0; users],
            last_between_nodes: vec![0; n * n],
        }
    }

    pub fn set_down(&mut self, node: NodeId, down: bool) {
        self.down[node.0 as usize] = down;
    }

    pub fn is_down(&self, node: NodeId) -> bool {
        self.down[node.0 as usize]
    }

    /// When a message sent at `now` from node `from` reaches node `to`, its next hop, or
    /// `None` if it is lost. SIP runs over UDP, MSRP over TCP in order per pair of ends.
    pub fn arrival(&mut self, now: Time, from: NodeId, to: NodeId, p: &Packet) -> Option<Time> {
        let transport = if matches!(p.msg, Msg::Msrp(_)) { Transport::Tcp } else { Transport::Udp };
        let at = now + self.transit(from, to, transport)?;
        if transport == Transport::Udp {
            return Some(at);
        }
        let last = match (p.src, p.dst) {
            (Addr::User(u), _) => &mut self.last_from_user[u.0 as usize],
            (_, Addr::User(u)) => &mut self.last_to_user[u.0 as usize],
            (Addr::Node(a), Addr::Node(b)) => &mut self.last_between_nodes[a.0 as usize * self.n + b.0 as usize],
        };
        *last = at.max(*last);
        Some(*last)
    }

    /// Delay of one message from node `a` to node `b`, or `None` if it is lost (a node on the
    /// way is down, or the transport gave up after losses).
    fn transit(&mut self, a: NodeId, b: NodeId, transport: Transport) -> Option<u64> {
        let route = &self.routes[a.0 as usize * self.n + b.0 as usize];
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
        let item =
            Item { payload: Payload::Chat, group: GroupId(0), origin: UserId(u), from: UserId(u), msg: n, size: 10 };
        let msg = Msg::Msrp(Msrp::Send { session: Session::Live(MemberId(0)), item, chunk: 1, chunks: 1, seq: n });
        Packet { src: Addr::User(UserId(u)), dst: Addr::Node(NodeId(2)), msg, proxied: false }
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
            Packet { src: Addr::User(UserId(0)), dst: Addr::Node(NodeId(1)), msg, proxied: false }
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
    }
}
