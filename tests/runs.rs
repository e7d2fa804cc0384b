//! Whole runs of the shipped models: every step of the procedure happens in models/tiny.json,
//! conservation holds, runs are reproducible (results and event-trace fingerprints), policies
//! do not disturb the workload (common random numbers), Timer B behaves as RFC 3261 says, and
//! the storm model overloads its PF.

mod common;
use common::{assert_conserved, metric as m};
use ddsim::model::{Model, Override};
use ddsim::nodes::{PfTimer, Timer};
use ddsim::protocol::*;
use ddsim::sim::{RunOptions, RunOutput, run_model};
use ddsim::trace::{TraceFilter, TraceKind};
use ddsim::units::SEC;
use serde_json::Value;
use std::path::Path;

fn load(file: &str, sets: &[&str]) -> Model {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::load(Path::new(file), &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(model: &Model, opts: RunOptions) -> (Value, RunOutput) {
    run_model(model, model.seed, Value::Null, opts).unwrap_or_else(|e| panic!("{}: {e}", model.name))
}

#[test]
fn tiny_model_exercises_every_step_dd1_to_dd17() {
    let model = load("models/tiny.json", &[]);
    let opts = RunOptions { trace: Some(TraceFilter::default()), ..Default::default() };
    let (doc, out) = run(&model, opts);
    assert_conserved(&doc);
    let trace = out.trace.unwrap();
    let n = |k: &str| m(&doc, k);
    // DD-1: registrations started deliveries.
    assert!(n("delivery.sessions.started") > 10.0);
    // DD-2..DD-8: every deferred INVITE on the wire carries the seed's headers.
    let mut deferred_invites = 0;
    // (The PF's own sends, not the S-CSCF forwarding them; inside the measured window.)
    let sent = |r: &&ddsim::trace::TraceRecord| r.kind == TraceKind::Sent && !r.packet.proxied();
    for r in trace.records.iter().filter(sent) {
        if let Msg::Sip(Sip::Invite { invite: Invite::Deferred(d), .. }) = &r.packet.msg {
            if r.time >= model.warmup.0 {
                deferred_invites += 1;
            }
            let Addr::User(u) = r.packet.dst() else { panic!("DD-2: a deferred INVITE goes to the user") };
            assert_eq!(d.request_uri, u, "DD-2");
            assert!(!d.participants.is_empty(), "DD-3");
            assert_eq!(d.accept_contact_icsi, ICSI_SESSION, "DD-4");
            assert!(d.contact_isfocus && d.contact_focus == d.conversation_id, "DD-5");
            assert_eq!((d.p_asserted_identity, d.p_asserted_service), (d.conversation_id, ICSI_SESSION_GROUP), "DD-6");
            assert_eq!(d.sdp.direction, Direction::SendRecv, "DD-8");
        }
    }
    assert_eq!(deferred_invites as f64, n("delivery.invites"));
    // DD-7: some of them carry Referred-By (half the memberships came from a REFER).
    let referred = trace.records.iter().any(|r| {
        matches!(&r.packet.msg, Msg::Sip(Sip::Invite { invite: Invite::Deferred(d), .. }) if d.referred_by.is_some())
    });
    assert!(referred, "DD-7");
    // DD-9: declines discarded stored data.
    assert!(n("delivery.sessions.declined") > 0.0 && n("deferred.discarded_decline") > 0.0, "DD-9");
    // DD-10: the PF left active conferences with BYE cause=200.
    let left = trace.records.iter().any(|r| {
        r.kind == TraceKind::Sent
            && matches!(r.packet.src(), Addr::Node(_))
            && matches!(
                r.packet.msg,
                Msg::Sip(Sip::Bye { reason: Reason::CallCompleted, dialog: Dialog { role: Role::Leg, .. } })
            )
    });
    assert!(left, "DD-10");
    // DD-11: failed attempts were re-attempted.
    assert!(n("delivery.retries") > 0.0 && n("sip.responses.480") > 0.0, "DD-11");
    // DD-12: deliveries.
    assert!(n("deferred.delivered") > 100.0 && n("notifications.delivered") > 10.0, "DD-12");
    // DD-13: Group State Objects.
    assert!(n("delivery.gso_sent") > 0.0, "DD-13");
    // DD-14 and DD-15: re-joins, closes and restarts.
    assert!(n("groups.rejoins") > 0.0, "DD-14");
    assert!(n("delivery.closed_inactive") > 0.0 && n("delivery.restarts") > 0.0, "DD-15");
    // DD-16: clients left during delivery.
    assert!(n("delivery.sessions.interrupted") > 0.0 && n("deferred.discarded_bye") > 0.0, "DD-16");
    // DD-17: traffic arrived while older data was pending, was held behind it, and every
    // device got what it got in the order its PF received it from the focus, whether live
    // or deferred.
    assert!(n("deferred.queued_behind") > 0.0, "DD-17");
    let (checked, switches) = received_in_arrival_order(&model, &trace);
    assert!(checked > 100, "DD-17: {checked} items followed");
    assert!(switches > 10, "DD-17: devices went from deferred to live items {switches} times");
    // And the store policy was exercised.
    assert!(n("deferred.expired") + n("notifications.expired") > 0.0);
}

/// Follows every stored kind of item (chat, IMDN) of every membership from its arrival at the
/// PF (the focus's SEND) to the device: the items a device receives, each counted at its first
/// reception (a failed session sends again what it had sent), are in the order of their
/// arrival at the PF, live and deferred alike. Returns how many items were followed to a
/// device, and how often a device went on from items of a deferred-delivery session to live
/// ones (where DD-17 holds new traffic behind the delivery).
fn received_in_arrival_order(model: &Model, trace: &ddsim::trace::Trace) -> (usize, usize) {
    use std::collections::{HashMap, HashSet};
    let world = ddsim::workload::World::build(model, model.seed);
    let at_pf =
        |a: Addr| matches!(a, Addr::Node(n) if world.node_kinds[n.0 as usize] == ddsim::model::NodeKind::Participating);
    // An item: its message number, payload and sender.
    type Key = (u32, Payload, UserId);
    // Per membership: arrival rank of each item at the PF; what the device got, in order, and
    // whether in a deferred-delivery session.
    let mut arrived: HashMap<MemberId, HashMap<Key, usize>> = HashMap::new();
    let mut got: HashMap<MemberId, Vec<(Key, bool)>> = HashMap::new();
    for r in trace.records.iter().filter(|r| r.kind == TraceKind::Received) {
        let Msg::Msrp(Msrp::Send { session, item, chunk, chunks, .. }) = r.packet.msg else { continue };
        if chunk != chunks || !item.is_stored_kind() {
            continue;
        }
        let key = (item.msg, item.payload(), item.from);
        match session {
            Session::Leg(m) if at_pf(r.at) => {
                let ranks = arrived.entry(m).or_default();
                let next = ranks.len();
                ranks.entry(key).or_insert(next);
            }
            Session::Live(m) if matches!(r.at, Addr::User(_)) => got.entry(m).or_default().push((key, false)),
            Session::Deferred(m, _) if matches!(r.at, Addr::User(_)) => got.entry(m).or_default().push((key, true)),
            _ => {}
        }
    }
    let (mut checked, mut switches) = (0, 0);
    for (m, items) in got {
        let ranks = &arrived[&m];
        let mut seen = HashSet::new();
        let mut last: Option<(usize, bool)> = None;
        for (key, deferred) in items.into_iter().filter(|(k, _)| seen.insert(*k)) {
            let rank = ranks[&key];
            if let Some((prev, was_deferred)) = last {
                assert!(prev < rank, "DD-17: membership {m:?} got {key:?} before an item that arrived earlier");
                switches += (was_deferred && !deferred) as usize;
            }
            last = Some((rank, deferred));
            checked += 1;
        }
    }
    (checked, switches)
}

#[test]
fn dd17_new_traffic_waits_behind_undelivered_data_and_devices_get_everything_in_order() {
    // Without retries a failed first attempt leaves the data stored while the user stays
    // online: every copy arriving meanwhile must wait behind it, not overtake it live.
    let model = load(
        "models/tiny.json",
        &[r#"policy.retry={"kind":"none"}"#, r#"population[0].answer={"accept":0.5,"decline":0.0,"unavailable":0.5}"#],
    );
    let (doc, out) = run(&model, RunOptions { trace: Some(TraceFilter::default()), ..Default::default() });
    assert_conserved(&doc);
    let (checked, switches) = received_in_arrival_order(&model, &out.trace.unwrap());
    assert!(checked > 100 && switches > 10, "DD-17: {checked} items followed, {switches} switches to live");
    assert!(m(&doc, "delivery.sessions.gave_up") > 10.0, "attempts failed with data left stored");
    assert!(m(&doc, "deferred.queued_behind") > 10.0, "copies for online users were held behind it");
}

fn without_wall(mut doc: Value) -> Value {
    doc["metrics"].as_object_mut().unwrap().remove("run.wall_s");
    doc
}

#[test]
fn same_model_and_seed_give_identical_results() {
    let model = load("models/tiny.json", &[]);
    let (a, _) = run(&model, RunOptions::default());
    let (b, _) = run(&model, RunOptions::default());
    assert_eq!(without_wall(a.clone()), without_wall(b));
    let other = load("models/tiny.json", &["seed=2"]);
    let (c, _) = run(&other, RunOptions::default());
    assert_ne!(a["metrics"]["deferred.offered"], c["metrics"]["deferred.offered"], "another seed, another realisation");
}

/// Event-trace fingerprints of the reference models (OMNeT++ practice). A change that alters
/// behaviour changes them: update the value here in the commit that changes behaviour, and say
/// why in its message.
const FINGERPRINTS: [(&str, u64); 2] =
    [("models/tiny.json", 0x9ef1cd51708c6261), ("models/baseline.json", 0x4362996e7cf88e66)];

#[test]
fn fingerprints_of_reference_models_are_unchanged() {
    let mut wrong = vec![];
    for (file, expected) in FINGERPRINTS {
        let model = load(file, &[]);
        let (doc, out) = run(&model, RunOptions { fingerprint: true, ..Default::default() });
        assert_conserved(&doc);
        let got = out.fingerprint.unwrap();
        if got != expected {
            wrong.push(format!("{file}: recorded {expected:#018x}, now {got:#018x}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "behaviour changed (update FINGERPRINTS deliberately if intended):\n{}",
        wrong.join("\n")
    );
}

/// A variant of tiny without feedback from deliveries to traffic: no declines or BYEs (which
/// take a user out of a conference), no replies or IMDNs (which restart sessions), no
/// ungraceful exits (detected by failed deliveries), and constant delays. In it, what reaches
/// the PF for offline users can depend only on the workload.
const FEEDBACK_FREE: [&str; 9] = [
    r#"population[0].answer={"accept":0.8,"decline":0.0,"unavailable":0.2,"delay":{"dist":"const","value":"1s"}}"#,
    "population[0].bye_during_delivery=0",
    "population[0].reply_during_delivery=0",
    "population[0].ungraceful_offline=0",
    "groups.imdn.delivered=0",
    "groups.imdn.displayed=0",
    r#"topology.links[0].latency={"dist":"const","value":"40ms"}"#,
    r#"topology.nodes[2].service_time={"dist":"const","value":"300us"}"#,
    r#"topology.nodes[3].service_time={"dist":"const","value":"300us"}"#,
];

const POLICIES: [&str; 4] = [
    r#"policy.retry={"kind":"none"}"#,
    r#"policy.retry={"kind":"fixed","interval":"20s","max_attempts":10}"#,
    r#"policy.store={"per_session":3,"overflow":"drop_newest"}"#,
    r#"policy.store={"per_session":5,"per_user":8,"ttl":"10m"}"#,
];

#[test]
fn changing_retry_or_store_policy_leaves_the_workload_unchanged() {
    // Exactly the same workload — messages, presence, REGISTERs, copies offered — under every
    // policy, because presence and traffic draw from their own random streams.
    let base = load("models/tiny.json", &FEEDBACK_FREE);
    let (reference, _) = run(&base, RunOptions::default());
    for p in POLICIES {
        let mut sets = FEEDBACK_FREE.to_vec();
        sets.push(p);
        let (doc, _) = run(&load("models/tiny.json", &sets), RunOptions::default());
        for k in ["deferred.offered", "sip.REGISTER", "workload.messages", "workload.online", "workload.offline"] {
            assert_eq!(doc["metrics"][k], reference["metrics"][k], "{k} changed under {p}");
        }
        assert_conserved(&doc);
        // ...while each policy does what it says to what happens to that workload.
        let (metric, took_effect): (&str, fn(f64, f64) -> bool) = match p {
            _ if p == POLICIES[0] => ("delivery.retries", |v, _| v == 0.0),
            _ if p == POLICIES[1] => ("delivery.retries", |v, _| v > 0.0),
            _ if p == POLICIES[2] => ("deferred.dropped_overflow", |v, r| v > r),
            _ => ("deferred.expired", |v, r| v > r),
        };
        let (v, r) = (m(&doc, metric), m(&reference, metric));
        assert!(took_effect(v, r), "{metric} is {v} under {p} (without it: {r})");
    }
    // The policies did change what happened to that workload.
    let (none, _) =
        run(&load("models/tiny.json", &[FEEDBACK_FREE.as_slice(), &[POLICIES[0]]].concat()), RunOptions::default());
    assert_ne!(none["metrics"]["delivery.invites"], reference["metrics"]["delivery.invites"]);
}

#[test]
fn baseline_workload_is_the_same_under_every_policy() {
    // With every feedback path on, what happens to the messages may differ, but the workload
    // itself (presence processes, messages generated) is drawn identically.
    let short = ["horizon=8h", "warmup=1h"];
    let (reference, _) = run(&load("models/baseline.json", &short), RunOptions::default());
    for p in [POLICIES[0], POLICIES[2]] {
        let (doc, _) = run(&load("models/baseline.json", &[short.as_slice(), &[p]].concat()), RunOptions::default());
        for k in ["workload.messages", "workload.online", "workload.offline", "workload.offline_ungraceful"] {
            assert_eq!(doc["metrics"][k], reference["metrics"][k], "{k} changed under {p}");
        }
        assert_conserved(&doc);
    }
}

#[test]
fn timer_b_ends_invites_to_a_vanished_client_in_408_after_64_t1() {
    // Clients vanish without de-REGISTER and often answer 480, so retries meet vanished devices
    // whose binding the S-CSCF still holds. T1 = 2 s (IMS): Timer B = 128 s. Fixed 60 s retries.
    let model = load(
        "models/tiny.json",
        &[
            "sip.t1=2s",
            "population[0].ungraceful_offline=1",
            "population[0].registration_expiry=2h",
            r#"population[0].answer={"accept":0.5,"decline":0.0,"unavailable":0.5,"delay":{"dist":"const","value":"1s"}}"#,
            r#"policy.retry={"kind":"fixed","interval":"60s","max_attempts":20}"#,
        ],
    );
    let (doc, out) = run(&model, RunOptions { trace: Some(TraceFilter::default()), ..Default::default() });
    let trace = out.trace.unwrap();
    let timer_b = 64 * 2 * SEC;
    let mut checked = 0;
    for sent in trace.records.iter().filter(|r| r.kind == TraceKind::Sent && !r.packet.proxied()) {
        let Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(_) }) = &sent.packet.msg else { continue };
        let answered = trace.records.iter().any(|r| {
            r.time >= sent.time
                && matches!(r.packet.msg, Msg::Sip(Sip::Response { dialog: d, method: Method::Invite, .. }) if d == *dialog)
        });
        let Addr::User(u) = sent.packet.dst() else { unreachable!() };
        let reached = trace.records.iter().any(|r| {
            r.kind == TraceKind::Received
                && r.at == Addr::User(u)
                && matches!(r.packet.msg, Msg::Sip(Sip::Invite { dialog: d, .. }) if d == *dialog)
        });
        if answered || reached || sent.time + timer_b + 60 * SEC > model.horizon.0 {
            continue;
        }
        // Not answered, not received: the device was gone. Timer B fires exactly 64*T1 later...
        let m = MemberId(dialog.id);
        let fired =
            trace.timers.iter().find(|t| t.timer == Timer::Pf(NodeId(2), PfTimer::InviteTimeout(m, dialog.generation)));
        assert_eq!(fired.map(|t| t.time), Some(sent.time + timer_b), "Timer B at 64*T1");
        // ...and the retry policy takes over: its timer is set one fixed interval after the 408
        // (a registration in between may re-arm the policy sooner; the timer still fires).
        let retry = trace.timers.iter().find(|t| t.timer == Timer::Pf(NodeId(2), PfTimer::Retry(m, dialog.generation)));
        assert_eq!(retry.map(|t| t.time), Some(sent.time + timer_b + 60 * SEC), "retry one interval after the 408");
        checked += 1;
    }
    assert!(checked >= 3, "the scenario produced {checked} unanswered INVITEs");
    assert!(m(&doc, "delivery.invite_timeouts") >= checked as f64);
    assert!(m(&doc, "sip.responses.408") >= checked as f64);
}

#[test]
fn busy_clients_answer_486_and_the_pf_retries_dd11() {
    let busy = r#"population[0].answer={"accept":0.6,"decline":0.0,"unavailable":0.0,"busy":0.4}"#;
    let (doc, _) = run(&load("models/tiny.json", &[busy]), RunOptions::default());
    assert_conserved(&doc);
    assert!(m(&doc, "sip.responses.486") > 10.0, "busy clients answer 486 Busy Here");
    assert_eq!(m(&doc, "sip.responses.480"), 0.0);
    assert!(m(&doc, "delivery.retries") > 0.0, "and the PF re-attempts (DD-11)");
    assert_eq!(m(&doc, "deferred.discarded_decline"), 0.0, "a 486 discards nothing");
}

/// Runs a scale model at a thousandth of its users and groups: it conserves, delivers, and
/// every member of its pools of PF, CF and S-CSCF servers works.
fn check_scale_model_at_a_thousandth(file: &str, mobile: u32, desktop: u32, groups: u32, pools: [u32; 3]) {
    let small = [
        format!("population[0].users={}", mobile / 1000),
        format!("population[1].users={}", desktop / 1000),
        format!("groups.count={}", groups / 1000),
    ];
    let small: Vec<&str> = small.iter().map(String::as_str).collect();
    let (doc, _) = run(&load(file, &small), RunOptions::default());
    assert_conserved(&doc);
    assert_eq!(m(&doc, "run.users"), ((mobile + desktop) / 1000) as f64);
    assert!(m(&doc, "deferred.delivered") > 1000.0, "{file}: deliveries");
    let [pf, cf, scscf] = pools;
    for n in (1..=pf)
        .map(|i| format!("pf.{i}"))
        .chain((1..=cf).map(|i| format!("cf.{i}")))
        .chain((1..=scscf).map(|i| format!("scscf.{i}")))
    {
        assert!(m(&doc, &format!("servers.{n}.utilisation")) > 0.0, "{file}: {n} is idle");
    }
}

#[test]
fn scale_model_conserves_and_spreads_load_over_its_servers_at_a_thousandth_of_its_size() {
    // models/scale-1m.json itself takes minutes (BENCHMARKS.md): users and groups are spread
    // round robin over the members of its pools, 8 PF, 4 CF and 2 S-CSCF servers.
    check_scale_model_at_a_thousandth("models/scale-1m.json", 900_000, 100_000, 200_000, [8, 4, 2]);
}

#[test]
fn ten_million_user_model_runs_at_a_thousandth_of_its_size() {
    // models/scale-10m.json itself takes about 30 minutes and 10 GiB (BENCHMARKS.md): at a
    // thousandth, its 10,000 users over 50 PF, 20 CF and 10 S-CSCF servers.
    check_scale_model_at_a_thousandth("models/scale-10m.json", 9_000_000, 1_000_000, 2_000_000, [50, 20, 10]);
}

#[test]
fn storm_overloads_the_pf_and_a_better_provisioned_pf_does_not() {
    let (storm, _) = run(&load("models/storm.json", &[]), RunOptions::default());
    assert_conserved(&storm);
    assert!(m(&storm, "servers.pf1.rejected_503") > 100.0, "the PF answers 503 when its queue is full");
    assert!(m(&storm, "sip.responses.503") >= m(&storm, "servers.pf1.rejected_503"));
    assert!(m(&storm, "registrations.third_party_retries") > 0.0, "503s are retried");
    assert!(m(&storm, "delivery.retries") > 0.0);
    let better = load(
        "models/storm.json",
        &["topology.nodes[2].workers=8", r#"topology.nodes[2].service_time={"dist":"exp","mean":"300us"}"#],
    );
    let (calm, _) = run(&better, RunOptions::default());
    assert_conserved(&calm);
    assert_eq!(m(&calm, "servers.pf1.rejected_503"), 0.0);
    assert_eq!(m(&calm, "sip.responses.503"), 0.0);
}
