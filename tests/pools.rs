//! Server pools (`"count": N` on a server node, README "Model file reference" > `topology`): a
//! pool runs exactly as its members listed one by one (`pf.1`, `pf.2`, ...) with the links
//! written out; users and groups are spread over the members; an outage of the pool is one of
//! every member; the pool's aggregates are those of its members; names of members and
//! aggregates are known to experiments and to the warm-up study; bad counts are refused.

mod common;
use common::{assert_conserved, metric};
use ddsim::experiment::{Experiment, metric_names, server_names};
use ddsim::model::{Model, ModelError, NodeKind, Override};
use ddsim::protocol::{Addr, NodeId};
use ddsim::sim::{RunOptions, RunOutput, run_model};
use ddsim::trace::{TraceFilter, TraceKind};
use ddsim::units::HOUR;
use ddsim::workload::World;
use serde_json::{Value, json};

const TINY: &str = include_str!("../models/tiny.json");

fn tiny() -> Value {
    let mut v: Value = serde_json::from_str(TINY).unwrap();
    // More users than tiny's 12, so that every member of a pool serves several.
    v["population"][0]["users"] = json!(40);
    v
}

fn load(v: &Value, sets: &[&str]) -> Result<Model, ModelError> {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::from_value_with(v, "m.json", &o)
}

fn run(model: &Model, opts: RunOptions) -> (Value, RunOutput) {
    run_model(model, model.seed, Value::Null, opts).unwrap_or_else(|e| panic!("{}: {e}", model.name))
}

fn fingerprinted(model: &Model) -> (Value, u64) {
    let (doc, out) = run(model, RunOptions { fingerprint: true, ..Default::default() });
    assert_conserved(&doc);
    (doc, out.fingerprint.unwrap())
}

/// tiny with its S-CSCF, PF and CF as pools of 2, 3 and 2 (ids `scscf`, `pf`, `cf`).
fn pooled() -> Value {
    let mut v = tiny();
    let nodes = &mut v["topology"]["nodes"];
    for (i, id, count) in [(1, "scscf", 2), (2, "pf", 3), (3, "cf", 2)] {
        nodes[i]["id"] = json!(id);
        nodes[i]["count"] = json!(count);
    }
    let links = &mut v["topology"]["links"];
    for (i, from, to) in [(0, "ran", "scscf"), (1, "scscf", "pf"), (2, "pf", "cf")] {
        links[i]["from"] = json!(from);
        links[i]["to"] = json!(to);
    }
    v
}

/// The same topology written out by hand: every member a node, every link of a member (of a
/// pair of members between two pools) a link, in the documented order.
fn written_out() -> Value {
    let mut v = tiny();
    let t: Value = v["topology"].clone();
    let node = |i: usize, id: &str| {
        let mut n = t["nodes"][i].clone();
        n["id"] = json!(id);
        n
    };
    let nodes = vec![
        node(0, "ran"),
        node(1, "scscf.1"),
        node(1, "scscf.2"),
        node(2, "pf.1"),
        node(2, "pf.2"),
        node(2, "pf.3"),
        node(3, "cf.1"),
        node(3, "cf.2"),
    ];
    let pairs: [(usize, &str, &str); 14] = [
        (0, "ran", "scscf.1"),
        (0, "ran", "scscf.2"),
        (1, "scscf.1", "pf.1"),
        (1, "scscf.1", "pf.2"),
        (1, "scscf.1", "pf.3"),
        (1, "scscf.2", "pf.1"),
        (1, "scscf.2", "pf.2"),
        (1, "scscf.2", "pf.3"),
        (2, "pf.1", "cf.1"),
        (2, "pf.1", "cf.2"),
        (2, "pf.2", "cf.1"),
        (2, "pf.2", "cf.2"),
        (2, "pf.3", "cf.1"),
        (2, "pf.3", "cf.2"),
    ];
    let links: Vec<Value> = pairs
        .iter()
        .map(|&(i, from, to)| {
            let mut l = t["links"][i].clone();
            l["from"] = json!(from);
            l["to"] = json!(to);
            l
        })
        .collect();
    v["topology"] = json!({"nodes": nodes, "links": links});
    v
}

const MEMBERS: [(&str, &[&str]); 3] =
    [("scscf", &["scscf.1", "scscf.2"]), ("pf", &["pf.1", "pf.2", "pf.3"]), ("cf", &["cf.1", "cf.2"])];

/// The metrics of a run but those that differ between identical runs (wall time) and a
/// pool's aggregates.
fn comparable(doc: &Value) -> serde_json::Map<String, Value> {
    let mut m = doc["metrics"].as_object().unwrap().clone();
    m.remove("run.wall_s");
    for (pool, _) in MEMBERS {
        for s in ["utilisation.mean", "utilisation.max", "queue.peak", "rejected_503"] {
            m.remove(&format!("servers.{pool}.{s}"));
        }
    }
    m
}

#[test]
fn a_pool_runs_exactly_as_its_members_listed_one_by_one() {
    let pool = load(&pooled(), &[]).unwrap();
    let listed = load(&written_out(), &[]).unwrap();
    let (a, fa) = fingerprinted(&pool);
    let (b, fb) = fingerprinted(&listed);
    assert_eq!(fa, fb, "event-trace fingerprints");
    assert_eq!(comparable(&a), comparable(&b), "metrics");
    for part in ["timeseries", "hourly", "histograms"] {
        assert_eq!(a[part], b[part], "{part}");
    }
    // The model as written keeps the pool: results.json shows what the user wrote.
    let nodes = a["model"]["topology"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    assert_eq!((nodes[2]["id"].as_str(), nodes[2]["count"].as_u64()), (Some("pf"), Some(3)));
    assert_eq!(a["model"]["topology"]["links"].as_array().unwrap().len(), 3);
    // Every member did work.
    for (_, members) in MEMBERS {
        for m in members {
            assert!(metric(&a, &format!("servers.{m}.utilisation")) > 0.0, "{m} idle");
        }
    }
}

#[test]
fn a_large_pool_runs_with_every_member_serving_its_users() {
    // 400 PFs: beyond the network's table of node pairs (it keeps the pairs in use instead).
    let model = load(&tiny(), &["topology.nodes[2].count=400", "population[0].users=800", "horizon=2h"]).unwrap();
    let (doc, _) = run(&model, RunOptions::default());
    assert_conserved(&doc);
    for k in [1, 200, 400] {
        assert!(metric(&doc, &format!("servers.pf1.{k}.utilisation")) > 0.0, "pf1.{k} idle");
    }
    assert!(metric(&doc, "servers.pf1.utilisation.mean") > 0.0);
    assert!(metric(&doc, "deferred.delivered") > 0.0);
}

#[test]
fn pool_aggregates_are_the_mean_max_and_sum_of_their_members() {
    // A slow PF pool with short queues, so that its members queue and refuse.
    let sets = [
        "topology.nodes[2].workers=1",
        r#"topology.nodes[2].service_time={"dist":"exp","mean":"2s"}"#,
        "topology.nodes[2].queue_limit=2",
    ];
    let (doc, _) = run(&load(&pooled(), &sets).unwrap(), RunOptions::default());
    assert!(metric(&doc, "servers.pf.rejected_503") > 0.0, "the slow pool refused nothing");
    for (pool, members) in MEMBERS {
        let of = |s: &str| members.iter().map(|m| metric(&doc, &format!("servers.{m}.{s}"))).collect::<Vec<_>>();
        let util = of("utilisation");
        let mean = util.iter().sum::<f64>() / util.len() as f64;
        let max = util.iter().copied().fold(f64::MIN, f64::max);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert!(close(metric(&doc, &format!("servers.{pool}.utilisation.mean")), mean), "{pool} mean");
        assert_eq!(metric(&doc, &format!("servers.{pool}.utilisation.max")), max, "{pool} max");
        let peak = of("queue.peak").into_iter().fold(0.0, f64::max);
        assert_eq!(metric(&doc, &format!("servers.{pool}.queue.peak")), peak, "{pool} queue peak");
        let rejected: f64 = of("rejected_503").iter().sum();
        assert_eq!(metric(&doc, &format!("servers.{pool}.rejected_503")), rejected, "{pool} 503s");
    }
    // A node that is no pool has no aggregates, only its own metrics.
    let single = load(&tiny(), &[]).unwrap();
    let (doc, _) = run(&single, RunOptions::default());
    assert!(doc["metrics"].get("servers.pf1.utilisation").is_some());
    assert!(doc["metrics"].get("servers.pf1.utilisation.mean").is_none());
}

#[test]
fn users_and_groups_are_spread_evenly_over_the_members() {
    let v = pooled();
    let model = load(&v, &["groups.count=8"]).unwrap();
    let world = World::build(&model, 1);
    let names: Vec<&str> = world.node_names.iter().map(String::as_str).collect();
    assert_eq!(names, ["ran", "scscf.1", "scscf.2", "pf.1", "pf.2", "pf.3", "cf.1", "cf.2"]);
    let kinds = [NodeKind::Registrar, NodeKind::Registrar, NodeKind::Participating, NodeKind::Participating];
    assert_eq!(&world.node_kinds[1..5], &kinds);
    let users = world.users.len();
    assert_eq!(users, 42, "40 mobile and 2 desktop users");
    // Round robin by user number, over the members in order, as over nodes listed one by one.
    for (u, info) in world.users.iter().enumerate() {
        assert_eq!(info.registrar, NodeId(1 + (u % 2) as u16), "user {u}'s S-CSCF");
        assert_eq!(info.pf, NodeId(3 + (u % 3) as u16), "user {u}'s PF");
    }
    assert_eq!(&world.pf_users[3..6], &[14, 14, 14]);
    assert_eq!(&world.registrar_users[1..3], &[21, 21]);
    for (g, info) in world.groups.iter().enumerate() {
        assert_eq!(info.cf, NodeId(6 + (g % 2) as u16), "group {g}'s CF");
    }
}

#[test]
fn an_outage_of_a_pool_takes_every_member_down() {
    let outage = json!([{"kind": "outage", "node": "pf", "at": "2h", "duration": "30m"}]);
    let mut v = pooled();
    v["events"] = outage;
    let pool = load(&v, &[]).unwrap();
    // The same as an outage of each member, written out.
    let mut w = written_out();
    w["events"] = json!(
        ["pf.1", "pf.2", "pf.3"]
            .iter()
            .map(|m| json!({"kind": "outage", "node": m, "at": "2h", "duration": "30m"}))
            .collect::<Vec<_>>()
    );
    let (a, fa) = fingerprinted(&pool);
    let (_, fb) = fingerprinted(&load(&w, &[]).unwrap());
    assert_eq!(fa, fb, "an outage of the pool is one of each member");
    // One event in the model, one recovery.
    assert!(a["metrics"].get("events.0.recovery_s").is_some());
    assert!(a["metrics"].get("events.1.recovery_s").is_none());
    // Nothing reaches a member while the pool is down, each gets messages before and after,
    // and messages for them are lost meanwhile.
    let opts = RunOptions { trace: Some(TraceFilter::default()), ..Default::default() };
    let (_, out) = run(&pool, opts);
    let trace = out.trace.unwrap();
    let (start, end) = (2 * HOUR, 2 * HOUR + HOUR / 2);
    for m in 3..=5u16 {
        let at = |from: u64, to: u64| {
            let got = |r: &&ddsim::trace::TraceRecord| r.kind == TraceKind::Received && r.at == Addr::Node(NodeId(m));
            trace.records.iter().filter(got).filter(|r| (from..to).contains(&r.time)).count()
        };
        let name = format!("pf.{}", m - 2);
        assert_eq!(at(start, end), 0, "{name} received messages while it was down");
        assert!(at(0, start) > 0 && at(end, u64::MAX) > 0, "{name} was not up before and after the outage");
    }
    let lost = trace.records.iter().filter(|r| r.kind == TraceKind::Lost && (start..end).contains(&r.time));
    assert!(lost.count() > 0, "no message was lost during the outage");
}

#[test]
fn experiments_and_the_warmup_study_know_members_and_aggregates() {
    let model = load(&pooled(), &[]).unwrap();
    let servers = server_names(&model);
    assert_eq!(servers, ["scscf.1", "scscf.2", "pf.1", "pf.2", "pf.3", "cf.1", "cf.2"]);
    // metric_names is exactly what a run reports.
    let (doc, _) = run(&model, RunOptions::default());
    let reported: std::collections::BTreeSet<String> = doc["metrics"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(metric_names(&model), reported);
    // The warm-up study watches every member's queue.
    let series = ddsim::experiment::warmup::main_series(&model, &doc["timeseries"]);
    assert_eq!(
        series,
        [
            "store.occupancy",
            "servers.scscf.1.queue",
            "servers.scscf.2.queue",
            "servers.pf.1.queue",
            "servers.pf.2.queue",
            "servers.pf.3.queue",
            "servers.cf.1.queue",
            "servers.cf.2.queue",
            "delivery.per_minute"
        ]
    );
    // An experiment that makes tiny's PF a pool (`set` acts on the model as written) may chart
    // members and aggregates.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.json"), TINY).unwrap();
    let exp = |charts: Value| {
        let v = json!({
            "name": "pools", "model": "tiny.json", "replications": 1,
            "set": {"topology.nodes[2].count": 3},
            "vary": {"topology.nodes[2].workers": [1, 2]},
            "charts": charts,
        });
        Experiment::from_value(&v, "e.json", dir.path())
    };
    let good = json!([
        {"kind": "line", "x": "topology.nodes[2].workers", "y": "servers.pf1.utilisation.mean"},
        {"kind": "line", "x": "topology.nodes[2].workers", "y": "servers.pf1.2.queue.peak"},
        {"kind": "timeseries", "metrics": ["servers.pf1.3.queue", "servers.pf1.1.utilisation"]},
        {"kind": "profile", "metric": "servers.pf1.2.utilisation"},
    ]);
    let e = exp(good).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.points[0].model.topology.nodes[2].count, 3);
    assert!(e.hourly_names(0).contains(&"servers.pf1.3.queue.peak".to_string()));
    let no_such = exp(json!([{"kind": "timeseries", "metrics": ["servers.pf1.queue"]}])).unwrap_err();
    assert_eq!(no_such.path, "charts[0].metrics");
}

#[test]
fn counts_are_checked_and_can_be_set() {
    let v = tiny();
    let m = load(&v, &["topology.nodes[2].count=4"]).unwrap();
    assert_eq!(m.topology.nodes[2].count, 4);
    assert_eq!(m.topology.expanded().nodes.len(), 7);
    let refused = |sets: &[&str]| load(&v, sets).unwrap_err();
    for bad in ["0", "10001"] {
        let e = refused(&[&format!("topology.nodes[2].count={bad}")]);
        assert_eq!(e.path, "--set topology.nodes[2].count");
        assert_eq!(e.msg, format!("must be between 1 and 10000, got {bad}"));
    }
    let e = refused(&["topology.nodes[2].count=-1"]);
    assert_eq!(e.path, "--set topology.nodes[2].count");
    let e = refused(&["topology.nodes[0].count=2"]);
    assert_eq!(e.path, "--set topology.nodes[0].count");
    assert!(e.msg.contains("an access node cannot be a pool"), "{}", e.msg);
    // In the file: the field path.
    let mut w = tiny();
    w["topology"]["nodes"][1]["count"] = json!(0);
    assert_eq!(load(&w, &[]).unwrap_err().path, "topology.nodes[1].count");
    // A member's id taken by another node, whichever comes first.
    let mut w = tiny();
    w["topology"]["nodes"][2]["count"] = json!(2);
    w["topology"]["nodes"][3]["id"] = json!("pf1.2");
    w["topology"]["links"][2]["to"] = json!("pf1.2");
    let e = load(&w, &[]).unwrap_err();
    assert_eq!(e.path, "topology.nodes[2].count");
    assert_eq!(e.msg, r#"member "pf1.2" of this pool would have the id of topology.nodes[3]: rename one of them"#);
    // Ids are only names: a node called like a member is fine when there is no such pool.
    w["topology"]["nodes"][2]["count"] = json!(1);
    load(&w, &[]).unwrap();
    // Links naming pools are written out one per pair of members, within a bound.
    let mut w = json!({"topology": {
        "nodes": [{"id": "ran", "kind": "access"}, {"id": "s", "kind": "registrar"},
                  {"id": "p", "kind": "participating", "count": 10000},
                  {"id": "c", "kind": "controlling", "count": 101}],
        "links": [{"from": "ran", "to": "s"}, {"from": "s", "to": "p"}, {"from": "p", "to": "c"}]}});
    let e = load(&w, &[]).unwrap_err();
    assert_eq!(e.path, "topology.links[2]");
    w["topology"]["nodes"][3]["count"] = json!(98);
    let m = load(&w, &[]).unwrap();
    assert_eq!(m.topology.expanded().links.len(), 1 + 10_000 + 980_000);
    // And the nodes, members counted one by one, must fit in the simulator's node numbers.
    for i in 4..10 {
        let pool = json!({"id": format!("p{i}"), "kind": "participating", "count": 10000});
        w["topology"]["nodes"].as_array_mut().unwrap().push(pool);
    }
    let e = load(&w, &[]).unwrap_err();
    assert_eq!(e.path, "topology.nodes[9].count", "{e}");
}

#[test]
fn the_run_summary_gives_a_pool_one_entry_not_one_per_member() {
    // Fifty PF servers on one line each would bury the summary: a pool reads as its mean,
    // member count and busiest member; servers listed one by one keep their own entries.
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/scale-10m.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ddsim"))
        .current_dir(dir.path())
        .args(["run", model, "--out", "small"])
        .args(["--set", "population[0].users=9000", "--set", "population[1].users=1000"])
        .args(["--set", "groups.count=2000", "--set", "horizon=3h"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.trim_start().starts_with("server utilisation")).expect("a utilisation line");
    for (pool, n) in [("cf", 20), ("pf", 50), ("scscf", 10)] {
        assert!(line.contains(&format!(" {pool} ")) && line.contains(&format!("({n} servers, busiest ")), "{line}");
        assert!(!line.contains(&format!("{pool}.1 ")), "{line}");
    }
}
