//! `ddsim plan` through the real binary: a known answer, the frontier of two variables, no
//! answer within the bounds, determinism whatever the thread count, re-use of runs, and bad
//! plan files.

mod common;
use common::snapshot;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

fn ddsim(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(cwd).output().unwrap()
}

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A model whose per-session backlog is geometric: each group is one mobile user and one
/// always-online user; the mobile's offline periods are exponential (mean `off_min` minutes)
/// and the group sends Poisson traffic at `rate` per hour from its online members, so while
/// the mobile is away every message is for it. The number of messages an absence collects is
/// geometric, P(N >= k) = q^k with q = rate·off / (1 + rate·off), and a store of K items loses
/// E[(N-K)+] / E[N] = q^K of them. No notifications, retries, declines or TTL interfere.
fn geometric(groups: u32, hours: u32, rate: u32, off_min: u32) -> Value {
    json!({
        "name": "geometric",
        "horizon": format!("{}h", hours + 2), "warmup": "2h",
        "population": [
            { "class": "mobile", "users": groups,
              "online": {"dist": "exp", "mean": "40m"}, "offline": {"dist": "exp", "mean": format!("{off_min}m")},
              "ungraceful_offline": 0, "registration_expiry": "1h",
              "answer": {"accept": 1, "decline": 0, "unavailable": 0, "delay": {"dist": "const", "value": "100ms"}},
              "bye_during_delivery": 0, "reply_during_delivery": 0 },
            { "class": "desktop", "users": groups, "always_online": true }
        ],
        "groups": { "count": groups,
            "members": [ {"class": "mobile", "count": {"dist": "const", "value": 1}},
                         {"class": "desktop", "count": {"dist": "const", "value": 1}} ],
            "message_rate": format!("{rate}/h"), "imdn": {"delivered": 0, "displayed": 0} },
        "policy": { "retry": {"kind": "none"},
                    "store": {"per_session": 10, "per_user": null, "per_server": null, "ttl": null, "overflow": "drop_newest"} }
    })
}

fn store_plan(max_loss: f64, max_k: i64, reps: (u32, u32)) -> Value {
    json!({
        "name": "store-plan",
        "model": "geometric.json",
        "search": [ { "path": "policy.store.per_session", "min": 1, "max": max_k } ],
        "targets": [ { "metric": "deferred.dropped_overflow/deferred.offered", "max": max_loss } ],
        "replications": { "min": reps.0, "max": reps.1 },
        "seed": 7
    })
}

#[test]
fn a_plan_finds_the_store_size_that_a_geometric_backlog_predicts() {
    // 12 messages an hour, absences of 20 minutes on average: q = 4/5, so a store of K loses
    // 0.8^K. The threshold lies halfway (geometrically) between K = 10 and K = 11: 0.107 and
    // 0.086 are each about 11% from it, several standard errors of a run's loss share (about
    // 2% of it with 2,000 groups over 12 hours), so neighbouring sizes are told apart.
    let dir = tempfile::tempdir().unwrap();
    let q: f64 = 0.8;
    let x = q.powf(10.5);
    let expected = (1..).find(|&k| q.powi(k) <= x).unwrap();
    assert_eq!(expected, 11);
    write(dir.path(), "geometric.json", &geometric(2000, 12, 12, 20));
    write(dir.path(), "plan.json", &store_plan(x, 40, (3, 30)));
    let out = ddsim(dir.path(), &["plan", "plan.json", "--out", "out", "-q"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = read(&dir.path().join("out/plan.json"));
    assert_eq!(plan["answer"], json!({"policy.store.per_session": expected}), "{plan:#}");
    assert_eq!(plan["below"], json!({"policy.store.per_session": expected - 1}));
    // Every candidate's loss is q^K within its interval widened by 10% (the model is not
    // exactly geometric: messages sent while a device registers, or during a delivery).
    for c in plan["candidates"].as_array().unwrap() {
        let k = c["values"]["policy.store.per_session"].as_i64().unwrap() as i32;
        let t = &c["targets"][0];
        let (lo, hi) = (t["ci_low"].as_f64().unwrap(), t["ci_high"].as_f64().unwrap());
        let exact = q.powi(k);
        assert!(lo * 0.9 <= exact && exact <= hi * 1.1, "K = {k}: {exact} outside {lo}..{hi}");
    }
    // The search galloped and bisected rather than scanning 40 sizes.
    let n = plan["candidates"].as_array().unwrap().len();
    assert!(n <= 10, "{n} candidates");
    assert!(dir.path().join("out/plan.csv").exists());
    assert!(dir.path().join("out/charts/01-store-plan-deferred-dropped-overflow-deferred-offered.png").exists());

    // Re-running re-runs nothing, and gives the same plan.json.
    let before = std::fs::read(dir.path().join("out/plan.json")).unwrap();
    let again = ddsim(dir.path(), &["plan", "plan.json", "--out", "out"]);
    assert!(again.status.success());
    let text = String::from_utf8_lossy(&again.stdout);
    let runs = plan["runs"].as_u64().unwrap();
    assert!(text.contains(&format!("{runs} runs ({runs} found done)")), "{text}");
    assert_eq!(std::fs::read(dir.path().join("out/plan.json")).unwrap(), before);
}

#[test]
fn nothing_feasible_exits_3_and_names_the_failing_target() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "geometric.json", &geometric(300, 4, 12, 20));
    write(dir.path(), "plan.json", &store_plan(0.0001, 12, (2, 4)));
    let out = ddsim(dir.path(), &["plan", "plan.json", "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no value within the bounds meets the targets")
            && err.contains("policy.store.per_session = 12")
            && err.contains("misses deferred.dropped_overflow/deferred.offered <= 0.0001"),
        "{err}"
    );
    let plan = read(&dir.path().join("out/plan.json"));
    assert_eq!(plan["answer"], Value::Null);
    assert_eq!(plan["at_max"], json!({"policy.store.per_session": 12}));

    // `ddsim plot` on a plan's directory says, in one line, what redraws it.
    let plot = ddsim(dir.path(), &["plot", "out"]);
    assert_eq!(plot.status.code(), Some(2));
    let err = String::from_utf8_lossy(&plot.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("a plan's directory") && err.contains("ddsim plan plan.json --out out"), "{err}");
}

#[test]
fn two_variables_give_a_monotone_frontier_and_the_same_plan_whatever_the_threads() {
    // Per-user against per-session store limits, with mobiles in two groups on average: a
    // user limit that binds needs larger session stores to keep the loss under 5%, or makes
    // it out of reach; with a loose one the session limit alone decides: 0.8^13 = 5.5% and
    // 0.8^14 = 4.4%, so K = 14, or a little more where 14's interval cannot clear 5% within
    // the replications allowed (16 loses 2.8%, decided at once).
    let dir = tempfile::tempdir().unwrap();
    let mut model = geometric(400, 6, 12, 20);
    model["population"][0]["users"] = json!(200);
    write(dir.path(), "geometric.json", &model);
    let plan = json!({
        "name": "frontier",
        "model": "geometric.json",
        "search": [ { "path": "policy.store.per_user", "values": [8, 30, 1000] },
                    { "path": "policy.store.per_session", "min": 1, "max": 20, "cost": 2 } ],
        "targets": [ { "metric": "deferred.dropped_overflow/deferred.offered", "max": 0.05 } ],
        "replications": { "min": 3, "max": 9 },
        "seed": 3
    });
    write(dir.path(), "plan.json", &plan);
    let one = ddsim(dir.path(), &["plan", "plan.json", "--out", "t1", "--threads", "1", "-q"]);
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    let two = ddsim(dir.path(), &["plan", "plan.json", "--out", "t2", "--threads", "2", "-q"]);
    assert!(two.status.success(), "{}", String::from_utf8_lossy(&two.stderr));
    let file = |d: &str, f: &str| std::fs::read(dir.path().join(d).join(f)).unwrap();
    assert_eq!(file("t1", "plan.json"), file("t2", "plan.json"), "plan.json depends on --threads");
    assert_eq!(file("t1", "plan.csv"), file("t2", "plan.csv"), "plan.csv depends on --threads");
    let doc = read(&dir.path().join("t1/plan.json"));
    let frontier = doc["frontier"].as_array().unwrap();
    assert_eq!(frontier.len(), 3);
    // Smallest feasible per-session limit at each user limit (none: out of reach).
    let seconds: Vec<i64> =
        frontier.iter().map(|p| p["policy.store.per_session"].as_i64().unwrap_or(i64::MAX)).collect();
    assert!(seconds.windows(2).all(|w| w[1] <= w[0]), "frontier {seconds:?}");
    assert_eq!(seconds[0], i64::MAX, "8 items per user cannot keep the loss under 5%: {seconds:?}");
    assert!((14..=16).contains(&seconds[2]), "a loose user limit leaves 0.8^K <= 5%: {seconds:?}");
    // The cheapest point (1 per user item, 2 per session item) is on the frontier.
    let answer = &doc["answer"];
    let cost = |p: &Value| {
        p["policy.store.per_user"].as_f64().unwrap()
            + 2.0 * p["policy.store.per_session"].as_f64().unwrap_or(f64::INFINITY)
    };
    let best = frontier.iter().map(cost).fold(f64::INFINITY, f64::min);
    assert_eq!(cost(answer), best, "{answer} is not the cheapest of {frontier:?}");
    assert!(dir.path().join("t1/charts").read_dir().unwrap().count() >= 2);
}

#[test]
fn bad_plans_are_refused_in_one_line_naming_the_field_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "geometric.json", &geometric(10, 1, 12, 20));
    let base = store_plan(0.1, 40, (3, 30));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("search[0].path", json!([{ "path": "policy.store.per_sesion", "min": 1, "max": 5 }]), "search"),
        ("search[0].path", json!([{ "path": "policy.retry", "min": 1, "max": 5 }]), "search"),
        ("search[0].min", json!([{ "path": "policy.store.per_session", "min": 9, "max": 5 }]), "search"),
        ("search[0].values", json!([{ "path": "policy.store.per_session", "values": [5, 3] }]), "search"),
        ("search[0]", json!([{ "path": "policy.store.per_session" }]), "search"),
        ("search[0].cost", json!([{ "path": "policy.store.per_session", "min": 1, "max": 5, "cost": 0 }]), "search"),
        ("search[0].min", json!([{ "path": "policy.store.per_session", "min": 1.5, "max": 5 }]), "search"),
        ("targets[0].metric", json!([{ "metric": "deferred.dropped/deferred.offered", "max": 0.1 }]), "targets"),
        ("targets[0].metric", json!([{ "metric": "servers.xx*.utilisation", "max": 0.7 }]), "targets"),
        ("targets[0].max", json!([{ "metric": "deferred.offered", "max": -1 }]), "targets"),
        ("targets[0]", json!([{ "metric": "deferred.offered" }]), "targets"),
        ("confidence", json!(1.0), "confidence"),
        ("replications.min", json!({ "min": 1, "max": 5 }), "replications"),
        ("replications.max", json!({ "min": 5, "max": 2 }), "replications"),
        ("search", json!([]), "search"),
    ];
    for (path, value, field) in cases {
        let mut p = base.clone();
        p[field] = value.clone();
        write(dir.path(), "bad.json", &p);
        let before = snapshot(dir.path());
        let out = ddsim(dir.path(), &["plan", "bad.json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field} = {value}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("error: bad.json: {path}")), "{field} = {value}: {err}");
        assert_eq!(snapshot(dir.path()), before, "{field} = {value} left files behind");
    }
}
