//! The model file: what is simulated. This schema is the contract with the files users write
//! (README "Model file reference"); every field has a default so a model can be short.
//!
//! Loading is: parse JSON → deserialize with defaults (unknown fields rejected, errors carry the
//! field path) → apply `--set` overrides on the fully defaulted document → validate meaning
//! (references, probabilities, reachability). Every failure is one `ModelError` line naming the
//! file and the field path.

use crate::dist::{Count, Dist};
use crate::units::{DAY, Duration, HOUR, MIN, MS, Rate, SEC, Size};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The built-in default model (`ddsim run` with no model file).
pub const BASELINE_JSON: &str = include_str!("../models/baseline.json");

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{file}: {path}: {msg}")]
pub struct ModelError {
    pub file: String,
    /// Dotted field path (`topology.nodes[2].workers`), or `(file)` / `(json)` for file-level errors.
    pub path: String,
    pub msg: String,
}

impl ModelError {
    pub fn new(file: &str, path: impl Into<String>, msg: impl Into<String>) -> Self {
        ModelError { file: file.to_string(), path: path.into(), msg: msg.into() }
    }
}

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

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            id: String::new(),
            kind: NodeKind::Access,
            workers: 4,
            service_time: Dist::Exp { mean: Duration(300) },
            service_time_by_kind: BTreeMap::new(),
            queue_limit: 10_000,
            retry_after: Some(Duration(10 * SEC)),
        }
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

// ---------------------------------------------------------------------------------------------
// Loading

/// Reads and parses a JSON file into a `Value`, with errors naming the file.
pub fn read_json(path: &Path) -> Result<Value, ModelError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ModelError::new(&file, "(file)", format!("cannot read: {}", io_reason(&e))))?;
    parse_json(&text, &file)
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

pub fn parse_json(text: &str, file: &str) -> Result<Value, ModelError> {
    serde_json::from_str(text).map_err(|e| {
        ModelError::new(
            file,
            "(json)",
            format!("not valid JSON at line {} column {}: {}", e.line(), e.column(), strip_pos(&e)),
        )
    })
}

fn strip_pos(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Deserializes `T` from a value, reporting the field path of the first error.
pub fn from_value<T: serde::de::DeserializeOwned>(v: &Value, file: &str, prefix: &str) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = join_path(prefix, if inner == "." { "" } else { &inner });
        ModelError::new(file, if path.is_empty() { "(root)".into() } else { path }, strip_pos(e.inner()))
    })
}

fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

/// serde fills a struct from a JSON array by position (`"store": [5]` would set `per_session`).
/// A model names its fields, so an array where the schema has an object is an error. `typed` is
/// the deserialized model serialized again, which has the schema's shape.
fn reject_positional(input: &Value, typed: &Value, path: &str) -> Result<(), (String, String)> {
    match (input, typed) {
        (Value::Array(_), Value::Object(_)) => Err((
            if path.is_empty() { "(root)".into() } else { path.to_string() },
            "expected an object with named fields, got an array".into(),
        )),
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                if let Some(y) = b.get(k) {
                    reject_positional(x, y, &join_path(path, k))?;
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.iter().zip(b).enumerate().try_for_each(|(i, (x, y))| reject_positional(x, y, &format!("{path}[{i}]")))
        }
        _ => Ok(()),
    }
}

/// Re-attributes an error found after applying overrides to the `--set` that caused it: one whose
/// path contains the error's (the error is inside the value it set) or, for schema errors only,
/// is contained in it (serde reports some errors at the enclosing field). The more specific of
/// the two paths is named. Errors unrelated to any override stay the file's.
fn blame_override(mut e: ModelError, overrides: &[Override], schema: bool) -> ModelError {
    let within = |inner: &str, outer: &str| {
        inner == outer || inner.starts_with(&format!("{outer}.")) || inner.starts_with(&format!("{outer}["))
    };
    let hit = overrides.iter().rev().map(|o| display_path(&o.path)).find_map(|o| {
        if within(&e.path, &o) {
            Some(e.path.clone())
        } else if schema && within(&o, &e.path) {
            Some(o)
        } else {
            None
        }
    });
    if let Some(p) = hit {
        e.path = format!("--set {p}");
    }
    e
}

/// One `--set path=value` override. The value is JSON; text that is not JSON is taken as a string,
/// so `--set horizon=2h` works without quotes.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: Value,
}

impl Override {
    pub fn parse(s: &str) -> Result<Override, String> {
        let (p, v) = s.split_once('=').ok_or_else(|| format!("--set expects path=value, got \"{s}\""))?;
        let p = p.trim();
        // A path of only dots or brackets has no segments and would name no field.
        if path_segments(p).is_empty() {
            return Err(format!("--set expects path=value, got \"{s}\""));
        }
        let value = serde_json::from_str(v.trim()).unwrap_or_else(|_| Value::String(v.trim().to_string()));
        Ok(Override { path: p.to_string(), value })
    }
}

/// Splits `a.b[2].c` or `a.b.2.c` into segments.
pub fn path_segments(path: &str) -> Vec<String> {
    let mut out = vec![];
    for part in path.split('.') {
        let mut rest = part;
        while let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(rest[..i].to_string());
            }
            let close = rest[i..].find(']').map(|j| i + j).unwrap_or(rest.len());
            out.push(rest[i + 1..close].to_string());
            rest = if close < rest.len() { &rest[close + 1..] } else { "" };
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// Every path that exists in a document (objects and array elements, leaves included).
pub fn all_paths(v: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    out.push(p.clone());
                    walk(x, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = format!("{prefix}[{i}]");
                    out.push(p.clone());
                    walk(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = vec![];
    walk(v, "", &mut out);
    out
}

/// The valid path closest to `path`, for "did you mean" hints.
pub fn closest_path(v: &Value, path: &str) -> Option<String> {
    all_paths(v)
        .into_iter()
        .map(|p| (strsim::levenshtein(&p, path), p))
        .filter(|(dist, _)| *dist <= path.len().max(4) / 2)
        .min()
        .map(|(_, p)| p)
}

/// Replaces the value at `path` in `doc`. The path must already exist: overrides may change any
/// field of the fully defaulted model, never invent one.
pub fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segs = path_segments(path);
    if segs.is_empty() {
        return Err("empty path".into());
    }
    let pointer: String = segs.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
    match doc.pointer_mut(&pointer) {
        Some(slot) => {
            *slot = value;
            Ok(())
        }
        None => Err(match closest_path(doc, path) {
            Some(c) => format!("unknown path (did you mean `{c}`?)"),
            None => "unknown path".to_string(),
        }),
    }
}

/// Normalises a user-written path to the form error messages use (`a.b[2].c`).
pub fn display_path(path: &str) -> String {
    let mut out = String::new();
    for s in path_segments(path) {
        if s.parse::<usize>().is_ok() {
            out.push_str(&format!("[{s}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&s);
        }
    }
    out
}

impl Model {
    /// Loads a model file with overrides, validated.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<Model, ModelError> {
        let v = read_json(path)?;
        Model::from_value_with(&v, &path.display().to_string(), overrides)
    }

    /// The built-in default model.
    pub fn builtin(overrides: &[Override]) -> Result<Model, ModelError> {
        let v = parse_json(BASELINE_JSON, "models/baseline.json (built-in)")?;
        Model::from_value_with(&v, "models/baseline.json (built-in)", overrides)
    }

    pub fn from_value_with(v: &Value, file: &str, overrides: &[Override]) -> Result<Model, ModelError> {
        let mut m: Model = from_value(v, file, "")?;
        reject_positional(v, &m.to_value(), "").map_err(|(path, msg)| ModelError::new(file, path, msg))?;
        if overrides.is_empty() {
            m.validate(file)?;
            return Ok(m);
        }
        let mut full = serde_json::to_value(&m).expect("a model always serializes");
        for o in overrides {
            set_path(&mut full, &o.path, o.value.clone())
                .map_err(|e| ModelError::new(file, format!("--set {}", display_path(&o.path)), e))?;
        }
        // The file alone deserialized, so a schema error now comes from an override: name the
        // `--set` (not the file's field, which the user would look for in the file in vain).
        m = from_value(&full, file, "")
            .and_then(|m: Model| {
                reject_positional(&full, &m.to_value(), "").map_err(|(path, msg)| ModelError::new(file, path, msg))?;
                Ok(m)
            })
            .map_err(|e| blame_override(e, overrides, true))?;
        m.validate(file).map_err(|e| blame_override(e, overrides, false))?;
        Ok(m)
    }

    /// The fully defaulted model as JSON (what a run actually simulated).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a model always serializes")
    }

    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.topology.nodes.iter().position(|n| n.id == id)
    }

    /// Checks what the schema cannot: references, ranges, probabilities, reachability.
    pub fn validate(&self, file: &str) -> Result<(), ModelError> {
        let err = |path: String, msg: String| Err(ModelError::new(file, path, msg));
        // `ddsim run` writes to output/<name>/: an empty name or one with a path in it would
        // write elsewhere (output/ itself, or outside it with "..").
        let n = self.name.as_str();
        if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\']) {
            return err("name".into(), format!("must be a plain name usable as a directory name, got \"{n}\""));
        }
        if self.horizon.0 == 0 {
            return err("horizon".into(), "must be longer than 0s".into());
        }
        if self.warmup >= self.horizon {
            return err(
                "warmup".into(),
                format!("must be shorter than horizon ({}), got {}", self.horizon, self.warmup),
            );
        }
        if self.sip.t1.0 == 0 {
            return err("sip.t1".into(), "must be longer than 0s".into());
        }
        if self.sip.msrp_timeout.0 == 0 {
            return err("sip.msrp_timeout".into(), "must be longer than 0s".into());
        }
        if self.metrics.sample_interval.0 == 0 {
            return err("metrics.sample_interval".into(), "must be longer than 0s".into());
        }
        // Nodes
        let mut ids = HashSet::new();
        for (i, n) in self.topology.nodes.iter().enumerate() {
            let p = format!("topology.nodes[{i}]");
            if n.id.is_empty() {
                return err(format!("{p}.id"), "must not be empty".into());
            }
            if !ids.insert(n.id.as_str()) {
                return err(format!("{p}.id"), format!("duplicate node id \"{}\"", n.id));
            }
            if n.kind != NodeKind::Access {
                if n.workers == 0 {
                    return err(format!("{p}.workers"), "must be at least 1".into());
                }
                n.service_time.compile().map_err(|e| ModelError::new(file, format!("{p}.service_time"), e))?;
                for (k, dist) in &n.service_time_by_kind {
                    if crate::protocol::MsgKind::from_name(k).is_none() {
                        return err(
                            format!("{p}.service_time_by_kind.{k}"),
                            format!(
                                "unknown message kind; expected one of {}",
                                crate::protocol::MsgKind::NAMES.join(", ")
                            ),
                        );
                    }
                    dist.compile().map_err(|e| ModelError::new(file, format!("{p}.service_time_by_kind.{k}"), e))?;
                }
            }
        }
        for kind in [NodeKind::Access, NodeKind::Registrar, NodeKind::Participating, NodeKind::Controlling] {
            if !self.topology.nodes.iter().any(|n| n.kind == kind) {
                return err(
                    "topology.nodes".into(),
                    format!("needs at least one node of kind \"{}\"", kind_name(kind)),
                );
            }
        }
        for (i, l) in self.topology.links.iter().enumerate() {
            let p = format!("topology.links[{i}]");
            for (f, id) in [("from", &l.from), ("to", &l.to)] {
                if self.node_index(id).is_none() {
                    return err(format!("{p}.{f}"), format!("unknown node \"{id}\""));
                }
            }
            if l.from == l.to {
                return err(format!("{p}.to"), "a link must join two different nodes".into());
            }
            if !(0.0..1.0).contains(&l.loss) {
                return err(format!("{p}.loss"), format!("must be a probability in [0, 1), got {}", l.loss));
            }
            l.latency.compile().map_err(|e| ModelError::new(file, format!("{p}.latency"), e))?;
        }
        // Population
        if self.population.is_empty() {
            return err("population".into(), "needs at least one user class".into());
        }
        let access: Vec<&NodeSpec> = self.topology.nodes.iter().filter(|n| n.kind == NodeKind::Access).collect();
        let mut classes = HashSet::new();
        for (i, c) in self.population.iter().enumerate() {
            let p = format!("population[{i}]");
            if c.class.is_empty() {
                return err(format!("{p}.class"), "must not be empty".into());
            }
            if !classes.insert(c.class.as_str()) {
                return err(format!("{p}.class"), format!("duplicate class \"{}\"", c.class));
            }
            for (f, dist) in [("online", &c.online), ("offline", &c.offline), ("reregister_delay", &c.reregister_delay)]
            {
                dist.compile().map_err(|e| ModelError::new(file, format!("{p}.{f}"), e))?;
            }
            c.answer.delay.compile().map_err(|e| ModelError::new(file, format!("{p}.answer.delay"), e))?;
            for (f, v) in [
                ("ungraceful_offline", c.ungraceful_offline),
                ("bye_during_delivery", c.bye_during_delivery),
                ("reply_during_delivery", c.reply_during_delivery),
                ("answer.accept", c.answer.accept),
                ("answer.decline", c.answer.decline),
                ("answer.unavailable", c.answer.unavailable),
                ("answer.busy", c.answer.busy),
            ] {
                check_prob(file, &format!("{p}.{f}"), v)?;
            }
            let sum = c.answer.accept + c.answer.decline + c.answer.unavailable + c.answer.busy;
            if (sum - 1.0).abs() > 1e-9 {
                return err(
                    format!("{p}.answer"),
                    format!("accept + decline + unavailable + busy must sum to 1, got {sum}"),
                );
            }
            if c.registration_expiry.0 < 2 * SEC {
                return err(format!("{p}.registration_expiry"), "must be at least 2s".into());
            }
            match &c.access {
                Some(a) => match self.topology.nodes.iter().find(|n| &n.id == a) {
                    None => return err(format!("{p}.access"), format!("unknown node \"{a}\"")),
                    Some(n) if n.kind != NodeKind::Access => {
                        return err(format!("{p}.access"), format!("node \"{a}\" is not an access node"));
                    }
                    _ => {}
                },
                None if access.len() > 1 => {
                    return err(format!("{p}.access"), "required: the topology has more than one access node".into());
                }
                None => {}
            }
        }
        // Groups
        let g = &self.groups;
        for (i, m) in g.members.iter().enumerate() {
            let p = format!("groups.members[{i}]");
            if !classes.contains(m.class.as_str()) {
                return err(format!("{p}.class"), format!("unknown user class \"{}\"", m.class));
            }
            m.count.compile().map_err(|e| ModelError::new(file, format!("{p}.count"), e))?;
        }
        if g.count > 0 && g.members.is_empty() {
            return err("groups.members".into(), "needs at least one entry when groups.count > 0".into());
        }
        match &g.message_rate {
            MessageRate::Rate(r) if r.0 < 0.0 => {
                return err("groups.message_rate".into(), "must not be negative".into());
            }
            MessageRate::Gaps(dist) => {
                dist.compile().map_err(|e| ModelError::new(file, "groups.message_rate", e))?;
            }
            _ => {}
        }
        if let Some(b) = &g.bursty {
            b.on.compile().map_err(|e| ModelError::new(file, "groups.bursty.on", e))?;
            b.off.compile().map_err(|e| ModelError::new(file, "groups.bursty.off", e))?;
        }
        g.message_size.compile().map_err(|e| ModelError::new(file, "groups.message_size", e))?;
        g.imdn.displayed_delay.compile().map_err(|e| ModelError::new(file, "groups.imdn.displayed_delay", e))?;
        check_prob(file, "groups.imdn.delivered", g.imdn.delivered)?;
        check_prob(file, "groups.imdn.displayed", g.imdn.displayed)?;
        check_prob(file, "groups.is_composing", g.is_composing)?;
        check_prob(file, "groups.referred_share", g.referred_share)?;
        if g.idle_timeout.0 == 0 {
            return err("groups.idle_timeout".into(), "must be longer than 0s".into());
        }
        // Policy
        match &self.policy.retry {
            RetryPolicy::None {} => {}
            RetryPolicy::Fixed { interval, max_attempts, .. } => {
                if interval.0 == 0 {
                    return err("policy.retry.interval".into(), "must be longer than 0s".into());
                }
                if *max_attempts == 0 {
                    return err(
                        "policy.retry.max_attempts".into(),
                        "must be at least 1 (it counts the first INVITE)".into(),
                    );
                }
            }
            RetryPolicy::Exponential { initial, factor, max_interval, max_attempts, .. } => {
                if initial.0 == 0 {
                    return err("policy.retry.initial".into(), "must be longer than 0s".into());
                }
                if !(factor.is_finite() && *factor >= 1.0) {
                    return err("policy.retry.factor".into(), format!("must be at least 1, got {factor}"));
                }
                if let Some(mx) = max_interval
                    && mx < initial
                {
                    return err("policy.retry.max_interval".into(), "must not be shorter than initial".into());
                }
                if *max_attempts == 0 {
                    return err(
                        "policy.retry.max_attempts".into(),
                        "must be at least 1 (it counts the first INVITE)".into(),
                    );
                }
            }
        }
        let s = &self.policy.store;
        for (f, v) in [
            ("per_session", s.per_session.map(u64::from)),
            ("per_user", s.per_user.map(u64::from)),
            ("per_server", s.per_server),
        ] {
            if v == Some(0) {
                return err(format!("policy.store.{f}"), "must be at least 1 (use null for unlimited)".into());
            }
        }
        if s.ttl == Some(Duration(0)) {
            return err("policy.store.ttl".into(), "must be longer than 0s (use null for no expiry)".into());
        }
        if self.policy.msrp_chunk_size.0 < 64 {
            return err("policy.msrp_chunk_size".into(), "must be at least 64B".into());
        }
        if self.policy.msrp_window == 0 {
            return err("policy.msrp_window".into(), "must be at least 1".into());
        }
        // Events
        for (i, e) in self.events.iter().enumerate() {
            let EventSpec::Outage { node, at, duration } = e;
            let p = format!("events[{i}]");
            if self.node_index(node).is_none() {
                return err(format!("{p}.node"), format!("unknown node \"{node}\""));
            }
            if *at >= self.horizon {
                return err(format!("{p}.at"), format!("must be before the horizon ({})", self.horizon));
            }
            if duration.0 == 0 {
                return err(format!("{p}.duration"), "must be longer than 0s".into());
            }
        }
        // Reachability: every user must reach a registrar and its PFs, every PF every CF.
        crate::network::check_reachability(self).map_err(|(path, msg)| ModelError::new(file, path, msg))?;
        Ok(())
    }
}

fn check_prob(file: &str, path: &str, v: f64) -> Result<(), ModelError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ModelError::new(file, path, format!("must be a probability in [0, 1], got {v}")))
    }
}

pub fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Access => "access",
        NodeKind::Registrar => "registrar",
        NodeKind::Participating => "participating",
        NodeKind::Controlling => "controlling",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, sets: &[&str]) -> Result<Model, ModelError> {
        let v = parse_json(text, "m.json")?;
        let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
        Model::from_value_with(&v, "m.json", &o)
    }

    #[test]
    fn empty_model_takes_documented_defaults() {
        let m = load("{}", &[]).unwrap();
        assert_eq!(m.horizon, Duration(DAY));
        assert_eq!(m.sip.t1, Duration(500 * MS));
        assert_eq!(m.policy.store.per_session, Some(200));
        assert_eq!(m.topology.nodes.len(), 4);
    }

    #[test]
    fn builtin_baseline_loads() {
        let m = Model::builtin(&[]).unwrap();
        assert_eq!(m.name, "baseline");
    }

    #[test]
    fn set_overrides_any_defaulted_path() {
        let m = load("{}", &["policy.store.per_session=50", "horizon=2h", r#"policy.retry={"kind":"none"}"#]).unwrap();
        assert_eq!(m.policy.store.per_session, Some(50));
        assert_eq!(m.horizon, Duration(2 * HOUR));
        assert_eq!(m.policy.retry, RetryPolicy::None {});
        let m = load("{}", &["topology.nodes[2].workers=1", "population.0.users=7"]).unwrap();
        assert_eq!(m.topology.nodes[2].workers, 1);
        assert_eq!(m.population[0].users, 7);
    }

    #[test]
    fn set_unknown_path_suggests_the_closest() {
        let e = load("{}", &["policy.store.per_sesion=5"]).unwrap_err();
        assert_eq!(e.path, "--set policy.store.per_sesion");
        assert!(e.msg.contains("did you mean `policy.store.per_session`"), "{}", e.msg);
    }

    #[test]
    fn errors_name_the_field_path() {
        let e = load(r#"{"topology":{"nodes":[{"id":"a","kind":"access","workers":"x"}]}}"#, &[]).unwrap_err();
        assert_eq!(e.path, "topology.nodes[0].workers");
        let e = load(r#"{"population":[{"class":"m","users":3,"answer":{"accept":0.5}}]}"#, &[]).unwrap_err();
        assert_eq!(e.path, "population[0].answer");
        assert!(e.msg.contains("sum to 1"));
        let e = load(r#"{"horizon":"2h","warmup":"3h"}"#, &[]).unwrap_err();
        assert_eq!(e.path, "warmup");
    }
}
