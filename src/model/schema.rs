//! The schema of the model file, with the defaults of every field. These names are the
//! contract with the files users write (README "Model file reference"): add fields freely,
//! rename none.

use crate::dist::{Count, Dist};
use crate::units::{DAY, Duration, HOUR, MIN, MS, Rate, SEC, Size};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

fn d(s: u64) -> Duration {
    Duration(s)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Model {
    pub name: String,
    pub description: String,
    /// Simulated time. Statistics cover [warmup, horizon].
    pub horizon: Duration,
    pub warmup: Duration,
    /// How the run starts: with empty stores, or in the steady state of the workload.
    pub start: Start,
    pub seed: u64,
    pub sip: SipConfig,
    pub topology: Topology,
    pub population: Vec<UserClass>,
    pub groups: Groups,
    pub policy: Policy,
    pub events: Vec<EventSpec>,
    pub metrics: MetricsConfig,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            name: "model".into(),
            description: String::new(),
            horizon: d(DAY),
            warmup: d(HOUR),
            start: Start::Empty,
            seed: 1,
            sip: SipConfig::default(),
            topology: Topology::default(),
            population: vec![UserClass::default()],
            groups: Groups::default(),
            policy: Policy::default(),
            events: vec![],
            metrics: MetricsConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// RFC 3261 T1 (RTT estimate). Timer B = Timer F = 64*T1. 500ms by RFC 3261; IMS uses 2s.
    pub t1: Duration,
    /// RFC 4975 §7.1: a SEND with no transaction response within this time has failed.
    pub msrp_timeout: Duration,
    /// RFC 5626 §4.5 registration recovery: base and maximum wait before re-trying a failed REGISTER.
    pub register_retry_base: Duration,
    pub register_retry_max: Duration,
    /// How many times the registrar re-sends a 3rd-party REGISTER answered 503 (RFC 3261
    /// §21.5.4: a 503 with Retry-After invites a retry after that time). 0 = never.
    pub third_party_retries: u32,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            t1: d(500 * MS),
            msrp_timeout: d(30 * SEC),
            register_retry_base: d(30 * SEC),
            register_retry_max: d(30 * MIN),
            third_party_retries: 3,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    pub nodes: Vec<NodeSpec>,
    pub links: Vec<LinkSpec>,
}

impl Default for Topology {
    fn default() -> Self {
        let node = |id: &str, kind| NodeSpec { id: id.into(), kind, ..NodeSpec::default() };
        let link = |a: &str, b: &str, ms| LinkSpec {
            from: a.into(),
            to: b.into(),
            latency: Dist::Const { value: Duration(ms * MS) },
            loss: 0.0,
        };
        Topology {
            nodes: vec![
                node("ran", NodeKind::Access),
                node("scscf", NodeKind::Registrar),
                node("pf1", NodeKind::Participating),
                node("cf1", NodeKind::Controlling),
            ],
            links: vec![link("ran", "scscf", 20), link("scscf", "pf1", 2), link("pf1", "cf1", 2)],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A radio/access network: users attach here. No processing, only forwarding.
    Access,
    /// S-CSCF + registrar: REGISTER, 3rd-party registration, proxying of SIP to and from UEs.
    Registrar,
    /// CPM Participating Function server.
    Participating,
    /// CPM Controlling Function server (conference focus).
    Controlling,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSpec {
    pub id: String,
    pub kind: NodeKind,
    /// How many identical servers the node stands for (a pool; server nodes only): see
    /// [`NodeSpec::member_ids`] and [`Topology::expanded`].
    pub count: u32,
    /// Parallel workers (servers of the queue).
    pub workers: u32,
    /// Service time of one message.
    pub service_time: Dist<Duration>,
    /// Service time by message kind (`"INVITE"`, `"REGISTER"`, `"SEND"`, `"response"`, ...),
    /// overriding `service_time`.
    pub service_time_by_kind: BTreeMap<String, Dist<Duration>>,
    /// Maximum requests waiting; a SIP request arriving at a full queue is answered 503.
    pub queue_limit: u32,
    /// Retry-After sent with a 503 (none when absent).
    pub retry_after: Option<Duration>,
}

/// The most servers one node may stand for.
pub const MAX_POOL: u32 = 10_000;
/// The most nodes and links of a topology with its pools expanded (nodes are numbered in 16 bits).
pub const MAX_EXPANDED_NODES: u64 = 65_535;
pub const MAX_EXPANDED_LINKS: u64 = 1_000_000;

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            id: String::new(),
            kind: NodeKind::Access,
            count: 1,
            workers: 4,
            service_time: Dist::Exp { mean: Duration(300) },
            service_time_by_kind: BTreeMap::new(),
            queue_limit: 10_000,
            retry_after: Some(Duration(10 * SEC)),
        }
    }
}

impl NodeSpec {
    /// The ids of the servers the node stands for: its own id, or for a pool of `count` N
    /// the members `<id>.1` ... `<id>.N`.
    pub fn member_ids(&self) -> Vec<String> {
        match self.count {
            0 | 1 => vec![self.id.clone()],
            n => (1..=n).map(|k| member_id(&self.id, k)).collect(),
        }
    }
}

/// The id of member `k` (from 1) of pool `pool`.
pub fn member_id(pool: &str, k: u32) -> String {
    format!("{pool}.{k}")
}

/// One node of the expanded topology: a node as written, or one member of a pool.
#[derive(Clone, Debug)]
pub struct Member<'a> {
    pub id: String,
    /// The node as written (a pool's members share it; its `count` is the pool's).
    pub spec: &'a NodeSpec,
}

/// One link of the expanded topology, between two of its nodes (indices in `nodes`).
#[derive(Clone, Debug)]
pub struct MemberLink<'a> {
    pub from: usize,
    pub to: usize,
    /// The link as written, and its position in `topology.links`.
    pub spec: &'a LinkSpec,
    pub written: usize,
}

/// The topology as the simulator builds it (network graph, servers, placement of users and
/// groups): every pool replaced by its members, in node order, exactly as if they had been
/// listed one by one in its place; every link that names a pool replaced by one link per member
/// (per pair of members between two pools), in link order, the `from` side's members outer.
/// The model as written (and `Model::to_value`) keeps the pools.
#[derive(Clone, Debug)]
pub struct Expanded<'a> {
    pub nodes: Vec<Member<'a>>,
    pub links: Vec<MemberLink<'a>>,
    /// For each node as written, its members: a range of `nodes`.
    pub members: Vec<Range<usize>>,
    /// Written node ids, to their position in `topology.nodes`.
    written: HashMap<&'a str, usize>,
}

impl Expanded<'_> {
    /// The members of the node written with id `id` (a range of `nodes`), if there is one.
    pub fn members_of(&self, id: &str) -> Option<Range<usize>> {
        self.written.get(id).map(|&i| self.members[i].clone())
    }

    /// The pools (nodes written with `count` above 1), each with its members.
    pub fn pools(&self) -> impl Iterator<Item = (&str, Range<usize>)> + '_ {
        self.members.iter().filter(|r| r.len() > 1).map(|r| (self.nodes[r.start].spec.id.as_str(), r.clone()))
    }
}

impl Topology {
    /// The topology with its pools expanded (see [`Expanded`]). Links naming an unknown node
    /// are left out; a validated model has none.
    pub fn expanded(&self) -> Expanded<'_> {
        let mut nodes = vec![];
        let mut members = Vec::with_capacity(self.nodes.len());
        let mut written = HashMap::with_capacity(self.nodes.len());
        for (i, spec) in self.nodes.iter().enumerate() {
            let start = nodes.len();
            nodes.extend(spec.member_ids().into_iter().map(|id| Member { id, spec }));
            members.push(start..nodes.len());
            written.entry(spec.id.as_str()).or_insert(i);
        }
        let mut links = vec![];
        for (written_at, spec) in self.links.iter().enumerate() {
            let (Some(&a), Some(&b)) = (written.get(spec.from.as_str()), written.get(spec.to.as_str())) else {
                continue;
            };
            for from in members[a].clone() {
                links.extend(members[b].clone().map(|to| MemberLink { from, to, spec, written: written_at }));
            }
        }
        Expanded { nodes, links, members, written }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSpec {
    pub from: String,
    pub to: String,
    /// One-way latency of the link.
    pub latency: Dist<Duration>,
    /// Probability that a message crossing the link is lost.
    pub loss: f64,
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec { from: String::new(), to: String::new(), latency: Dist::Const { value: Duration(MS) }, loss: 0.0 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserClass {
    pub class: String,
    pub users: u32,
    /// Never goes offline (desktop clients).
    pub always_online: bool,
    pub online: Dist<Duration>,
    pub offline: Dist<Duration>,
    /// Share of offline transitions where the device vanishes without de-REGISTER.
    pub ungraceful_offline: f64,
    pub registration_expiry: Duration,
    pub answer: Answer,
    /// Chance that the client leaves (BYE, Reason cause=200) during a deferred delivery.
    pub bye_during_delivery: f64,
    /// Chance that the client answers in a deferred-delivery session (isComposing), which
    /// restarts an inactive group session (DD-15).
    pub reply_during_delivery: f64,
    /// Access node the class attaches through (default: the only access node).
    pub access: Option<String>,
    /// Delay before an online user re-registers after its access network recovers from an outage.
    pub reregister_delay: Dist<Duration>,
    /// Whether the client's REGISTER carries a `+sip.instance` (RFC 5626), which the PF then
    /// puts into the deferred-delivery Contact (DD-5).
    pub sip_instance: bool,
    /// The share of the class online in each hour of its local day (24 values in (0, 1)):
    /// online and offline periods are drawn from `online` and `offline` on two clocks that
    /// this profile slows down and speeds up in opposite directions (`workload::profile`).
    pub presence_profile: Option<Vec<f64>>,
    /// Hours added to simulated time to get the class's local time (time 0 is midnight UTC).
    pub utc_offset_h: i32,
}

impl Default for UserClass {
    fn default() -> Self {
        UserClass {
            class: "mobile".into(),
            users: 100,
            always_online: false,
            online: Dist::Exp { mean: d(3 * HOUR) },
            offline: Dist::Lognormal { median: d(20 * MIN), sigma: 1.5 },
            ungraceful_offline: 0.2,
            registration_expiry: d(HOUR),
            answer: Answer::default(),
            bye_during_delivery: 0.01,
            reply_during_delivery: 0.3,
            access: None,
            reregister_delay: Dist::Uniform { min: d(0), max: d(60 * SEC) },
            sip_instance: true,
            presence_profile: None,
            utc_offset_h: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Answer {
    /// 200 OK.
    pub accept: f64,
    /// 603 Decline.
    pub decline: f64,
    /// 480 Temporarily Unavailable.
    pub unavailable: f64,
    /// 486 Busy Here (RFC 3261 §21.4.24: the device is busy, e.g. on a call).
    pub busy: f64,
    /// Time the client takes to answer a deferred-delivery INVITE.
    pub delay: Dist<Duration>,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            accept: 0.95,
            decline: 0.01,
            unavailable: 0.04,
            busy: 0.0,
            delay: Dist::Uniform { min: d(200 * MS), max: d(3 * SEC) },
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Groups {
    pub count: u32,
    pub members: Vec<MemberSpec>,
    /// Poisson rate per group (`"6/h"`) or the distribution of gaps between messages.
    pub message_rate: MessageRate,
    /// Bursty traffic: messages only during "on" periods, at `message_rate`.
    pub bursty: Option<Bursty>,
    pub message_size: Dist<Size>,
    pub imdn: Imdn,
    /// Probability that a sender emits an isComposing indication before a message.
    pub is_composing: f64,
    /// The CF tears down a group session with no chat message for this long.
    pub idle_timeout: Duration,
    /// Share of group sessions whose original INVITE came from a REFER with Referred-By (DD-7).
    pub referred_share: f64,
    /// Multipliers of `message_rate` for each hour of the day (24 values, not all zero),
    /// normalised to a mean of 1 so that `message_rate` stays the daily mean. Hours are of
    /// simulated time: time 0 is midnight.
    pub daily_profile: Option<Vec<f64>>,
}

impl Default for Groups {
    fn default() -> Self {
        Groups {
            count: 20,
            members: vec![MemberSpec::default()],
            message_rate: MessageRate::Rate(Rate(6.0 / 3600.0)),
            bursty: None,
            message_size: Dist::Lognormal { median: Size(300), sigma: 1.0 },
            imdn: Imdn::default(),
            is_composing: 0.0,
            idle_timeout: d(30 * MIN),
            referred_share: 0.2,
            daily_profile: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemberSpec {
    pub class: String,
    pub count: Dist<Count>,
}

impl Default for MemberSpec {
    fn default() -> Self {
        MemberSpec { class: "mobile".into(), count: Dist::Uniform { min: Count(2.0), max: Count(8.0) } }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum MessageRate {
    Rate(Rate),
    Gaps(Dist<Duration>),
}

impl<'de> Deserialize<'de> for MessageRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) => crate::units::parse_rate(&s).map(MessageRate::Rate).map_err(D::Error::custom),
            v @ Value::Object(_) => serde_json::from_value(v).map(MessageRate::Gaps).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected a rate like \"6/h\" or a distribution of the gaps between messages, got {other}"
            ))),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bursty {
    pub on: Dist<Duration>,
    pub off: Dist<Duration>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imdn {
    /// Probability a recipient returns a "delivered" disposition notification.
    pub delivered: f64,
    /// Probability a recipient returns a "displayed" notification (after `displayed_delay`).
    pub displayed: f64,
    pub displayed_delay: Dist<Duration>,
    pub size: Size,
}

impl Default for Imdn {
    fn default() -> Self {
        Imdn { delivered: 1.0, displayed: 0.6, displayed_delay: Dist::Exp { mean: d(MIN) }, size: Size(400) }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub retry: RetryPolicy,
    pub store: StorePolicy,
    /// DD-13: send interim participant information (Group State Object) in an MSRP SEND.
    pub group_state_object: bool,
    /// DD-14: unsubscribe from the conference event package after re-joining.
    pub unsubscribe_on_rejoin: bool,
    pub msrp_chunk_size: Size,
    /// MSRP SENDs a PF keeps outstanding in one deferred-delivery session.
    pub msrp_window: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retry: RetryPolicy::default(),
            store: StorePolicy::default(),
            group_state_object: true,
            unsubscribe_on_rejoin: true,
            msrp_chunk_size: Size(2048),
            msrp_window: 16,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RetryPolicy {
    /// Never re-attempt: wait for the next registration notification.
    None {},
    Fixed {
        interval: Duration,
        #[serde(default = "default_max_attempts")]
        max_attempts: u32,
        #[serde(default)]
        give_up_after: Option<Duration>,
    },
    Exponential {
        initial: Duration,
        #[serde(default = "default_factor")]
        factor: f64,
        #[serde(default)]
        max_interval: Option<Duration>,
        #[serde(default = "default_max_attempts")]
        max_attempts: u32,
        #[serde(default)]
        jitter: Jitter,
        #[serde(default)]
        give_up_after: Option<Duration>,
    },
}

fn default_max_attempts() -> u32 {
    6
}
fn default_factor() -> f64 {
    2.0
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::Exponential {
            initial: d(30 * SEC),
            factor: 2.0,
            max_interval: Some(d(30 * MIN)),
            max_attempts: 6,
            jitter: Jitter::Full,
            give_up_after: Some(d(DAY)),
        }
    }
}

impl RetryPolicy {
    pub fn kind_name(&self) -> &'static str {
        match self {
            RetryPolicy::None {} => "none",
            RetryPolicy::Fixed { .. } => "fixed",
            RetryPolicy::Exponential { .. } => "exponential",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    #[default]
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorePolicy {
    /// Items per (user, group session); null = unlimited.
    pub per_session: Option<u32>,
    pub per_user: Option<u32>,
    pub per_server: Option<u64>,
    pub per_session_bytes: Option<Size>,
    pub per_user_bytes: Option<Size>,
    pub per_server_bytes: Option<Size>,
    pub overflow: Overflow,
    /// A stored item older than this expires.
    pub ttl: Option<Duration>,
}

impl Default for StorePolicy {
    fn default() -> Self {
        StorePolicy {
            per_session: Some(200),
            per_user: Some(2000),
            per_server: Some(5_000_000),
            per_session_bytes: None,
            per_user_bytes: None,
            per_server_bytes: None,
            overflow: Overflow::DropOldest,
            ttl: Some(d(3 * DAY)),
        }
    }
}

/// The state a run starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Every store empty; each user's first period is a fresh draw.
    Empty,
    /// Presence and stores as in steady state: a prehistory of the workload (presence,
    /// traffic, disposition notifications) before time 0 fills the stores under their limits
    /// (`workload::prehistory`).
    SteadyState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    DropNewest,
    DropOldest,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EventSpec {
    /// The node drops everything sent to or through it for `duration`.
    Outage { node: String, at: Duration, duration: Duration },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Sampling interval of the time series in results.json.
    pub sample_interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { sample_interval: d(10 * MIN) }
    }
}
