//! The steady-state start (`"start": "steady_state"`, `workload::prehistory`): the run begins
//! with presence and the deferred stores as they are in steady state, so the filling transient
//! of an empty start is gone; what the stores hold at time 0 is counted into
//! `pending_at_warmup` and conservation holds exactly; the store limits and the TTL apply to
//! what the prehistory leaves; and no policy changes the workload drawn.

mod common;
use common::{assert_conserved, metric as m};
use ddsim::model::{Model, Override};
use ddsim::sim::{RunOptions, run_model};
use serde_json::Value;
use std::path::Path;

fn load(file: &str, sets: &[&str]) -> Model {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::load(Path::new(file), &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(model: &Model, seed: u64) -> Value {
    run_model(model, seed, Value::Null, RunOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", model.name)).0
}

/// The baseline's behaviour at a thirtieth of its size and on faster time scales (absences
/// with a median of 10 minutes and the baseline's heavy tail, a 12-hour TTL), so that an
/// empty store fills within a day and a run takes a fraction of a second.
const SMALL: [&str; 9] = [
    "population[0].users=300",
    "population[1].users=30",
    "groups.count=60",
    r#"population[0].online={"dist":"exp","mean":"1h"}"#,
    r#"population[0].offline={"dist":"lognormal","median":"10m","sigma":1.5}"#,
    "population[0].registration_expiry=30m",
    "groups.message_rate=12/h",
    "policy.store.ttl=12h",
    "policy.store.per_session=100",
];

fn small(extra: &[&str]) -> Model {
    load("models/baseline.json", &[SMALL.as_slice(), extra].concat())
}

/// Mean and variance of the mean.
fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var / n)
}

/// Welch's t statistic of a - b.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let ((ma, va), (mb, vb)) = (mean_var(a), mean_var(b));
    (ma - mb) / (va + vb).sqrt()
}

#[test]
fn a_steady_state_start_holds_from_time_0_what_an_empty_start_holds_once_settled() {
    // 20 replications each: the time-average store occupancy over the first 3 hours after a
    // steady-state start (no warm-up), against hours 24-27 of runs from empty stores (after
    // twice the TTL, when the stores have long settled), and against the first 3 hours from
    // empty stores. The replications are independent, so Welch's t applies; with about 38
    // degrees of freedom |t| > 3.6 has a two-sided probability under 0.1% if the means agree.
    const T: f64 = 3.6;
    let seeds = 1..=20u64;
    let occupancy = |sets: &[&str]| -> Vec<f64> {
        seeds.clone().map(|s| m(&run(&small(sets), s), "store.occupancy.time_avg")).collect()
    };
    let steady = occupancy(&["start=steady_state", "horizon=3h", "warmup=0s"]);
    let settled = occupancy(&["start=empty", "horizon=27h", "warmup=24h"]);
    let filling = occupancy(&["start=empty", "horizon=3h", "warmup=0s"]);
    let t = welch_t(&steady, &settled);
    assert!(t.abs() < T, "steady-state start {:?} vs settled {:?}: t = {t:.2}", mean_var(&steady), mean_var(&settled));
    // The comparison can tell: an empty start is far below the settled level at first.
    let t = welch_t(&filling, &settled);
    assert!(t < -T, "empty start {:?} vs settled {:?}: t = {t:.2}", mean_var(&filling), mean_var(&settled));
}

#[test]
fn what_the_stores_hold_at_time_0_enters_pending_at_warmup_and_is_conserved() {
    for warmup in ["0s", "30m"] {
        for seed in [1, 2, 3] {
            let doc = run(&small(&["start=steady_state", "horizon=4h", &format!("warmup={warmup}")]), seed);
            assert_conserved(&doc);
            // Held items exist from the first instant, and (with no warm-up) are counted in.
            assert!(m(&doc, "deferred.pending_at_warmup") > 100.0, "seed {seed}, warm-up {warmup}");
            assert!(m(&doc, "notifications.pending_at_warmup") > 0.0, "seed {seed}, warm-up {warmup}");
            // ...and some of them are delivered, some expire or overflow, as the run goes on.
            assert!(m(&doc, "deferred.delivered") > 0.0);
        }
    }
    // On the shipped models that start in steady state.
    for (file, sets) in [
        ("models/storm.json", &["horizon=4h", "warmup=0s"][..]),
        (
            "models/national-day.json",
            &["population[0].users=900", "population[1].users=100", "groups.count=200", "horizon=6h", "warmup=0s"],
        ),
    ] {
        let model = load(file, sets);
        assert_eq!(model.start, ddsim::model::Start::SteadyState, "{file}");
        let doc = run(&model, 1);
        assert_conserved(&doc);
        assert!(m(&doc, "deferred.pending_at_warmup") > 0.0, "{file}");
    }
}

#[test]
fn the_store_limits_and_the_ttl_bound_what_the_prehistory_leaves() {
    // A PF that holds at most 40 items holds at most 40 at time 0 (it is full in the
    // prehistory; an item or two may have passed its TTL at time 0 without a newer one taking
    // its place).
    let doc = run(&small(&["start=steady_state", "horizon=1h", "warmup=0s", "policy.store.per_server=40"]), 1);
    let held = m(&doc, "deferred.pending_at_warmup") + m(&doc, "notifications.pending_at_warmup");
    assert!((30.0..=40.0).contains(&held), "{held}");
    // Per user: 300 mobiles with at most 3 items each.
    let doc = run(&small(&["start=steady_state", "horizon=1h", "warmup=0s", "policy.store.per_user=3"]), 1);
    let held = m(&doc, "deferred.pending_at_warmup") + m(&doc, "notifications.pending_at_warmup");
    assert!(held > 0.0 && held <= 3.0 * 300.0, "{held}");
    // Nothing found at time 0 is older than the TTL: whatever is delivered in the first hour
    // left the store before its TTL (an item out for delivery is not expired, and its 200
    // comes within the MSRP timeout, 30 s), and what is not delivered expires on time.
    let doc = run(&small(&["start=steady_state", "horizon=1h", "warmup=0s", "policy.store.ttl=20m"]), 1);
    let oldest = m(&doc, "delivery.latency_s.max");
    assert!(oldest <= 1200.0 + 30.0, "{oldest}");
    assert!(m(&doc, "deferred.expired") > 0.0);
    assert_conserved(&doc);
}

#[test]
fn a_steady_state_start_leaves_the_workload_from_time_0_to_no_policy() {
    // Prehistory draws come from streams of their own: under a steady-state start, a retry or
    // store policy changes neither the presence and traffic of the run nor the demand on the
    // stores (`workload.*`), though it changes what the prehistory leaves in the stores.
    let policies =
        [r#"policy.retry={"kind":"none"}"#, r#"policy.store={"per_session":3,"overflow":"drop_newest","ttl":"2h"}"#];
    let workload = |doc: &Value| -> Vec<(String, Value)> {
        let metrics = doc["metrics"].as_object().unwrap();
        metrics.iter().filter(|(k, _)| k.starts_with("workload.")).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    for seed in [1, 2] {
        let base = small(&["start=steady_state", "horizon=6h", "warmup=0s"]);
        let reference = run(&base, seed);
        let mut held_moved = false;
        for p in policies {
            let doc = run(&small(&["start=steady_state", "horizon=6h", "warmup=0s", p]), seed);
            assert_eq!(workload(&doc), workload(&reference), "seed {seed}: {p}");
            held_moved |=
                doc["metrics"]["deferred.pending_at_warmup"] != reference["metrics"]["deferred.pending_at_warmup"];
        }
        assert!(held_moved, "seed {seed}: no policy changed what the stores hold (the test would prove nothing)");
    }
}
