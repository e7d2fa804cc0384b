//! `ddsim warmup` end to end, and the warning of `ddsim run` when its warm-up is far too short.
//! (MSER-5 itself is tested on synthetic series in `src/metrics/mser.rs`; bad input in
//! tests/bad_input.rs.)

mod common;
use common::snapshot;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn tiny() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny.json").display().to_string()
}

fn ddsim(args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(cwd).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "ddsim {args:?} panicked: {stderr}");
    out
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// tiny with offline periods of 3 hours on average, kept for a day: its stores fill for hours,
/// far beyond its 30-minute warm-up.
const SLOW_FILL: [&str; 6] = [
    "--set",
    "horizon=1d",
    "--set",
    r#"population[0].offline={"dist":"exp","mean":"3h"}"#,
    "--set",
    "policy.store.ttl=1d",
];

#[test]
fn warmup_of_tiny_reports_every_main_series_with_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny();
    let out = ddsim(&["warmup", &model, "--out", "w"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("ddsim warmup: tiny (seed 1): pilot of 6h"), "{stdout}");

    let w = read(&dir.path().join("w/warmup.json"));
    // The model that ran, fully defaulted, and its seed.
    assert_eq!(w["model"]["name"], "tiny");
    assert_eq!(w["model"]["warmup"], "30m");
    assert_eq!(w["seed"], 1);
    let interval = w["pilot"]["sample_interval_s"].as_f64().unwrap();
    assert_eq!(interval, 600.0);
    let samples = w["pilot"]["samples"].as_u64().unwrap();
    assert!(samples >= 35, "{samples}");
    let names: Vec<&str> = w["series"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["store.occupancy", "servers.scscf.queue", "servers.pf1.queue", "servers.cf1.queue", "delivery.per_minute"]
    );
    let mut largest: Option<f64> = None;
    for s in w["series"].as_array().unwrap() {
        let at = s["truncation_s"].as_f64().unwrap();
        let verdict = s["verdict"].as_str().unwrap();
        assert!(["settled", "not_settled", "too_short"].contains(&verdict), "{s}");
        assert_eq!(s["reliable"], verdict == "settled", "{s}");
        // A sampling instant, within the half of the pilot that MSER-5 may delete.
        assert_eq!(at % interval, 0.0, "{s}");
        assert!(at <= 6.0 * 3600.0 / 2.0, "{s}");
        assert_eq!(s["truncated_samples"].as_u64().unwrap() % 5, 0, "{s}");
        assert_eq!(at, s["truncated_samples"].as_f64().unwrap() * interval, "{s}");
        assert!(s["mean_after"].as_f64().unwrap() >= 0.0, "{s}");
        assert!(s["truncation"].is_string(), "{s}");
        if verdict == "settled" {
            largest = Some(largest.map_or(at, |l: f64| l.max(at)));
        }
    }
    let rec = &w["recommendation"];
    assert_eq!(rec["warmup_s"].as_f64(), largest, "the largest reliable truncation point: {rec}");
    assert_eq!(rec["configured_warmup_s"], 1800.0);
    assert_eq!(rec["configured_warmup"], "30m");
    if let Some(r) = largest {
        if r > 1800.0 {
            assert_eq!(rec["configured_is_enough"], false, "{rec}");
        }
        assert!(stdout.contains(&format!("--set warmup={}", rec["warmup"].as_str().unwrap())), "{stdout}");
    }

    // The chart: SVG that parses and names the marks, a PNG 1000 wide with a panel per series.
    let svg = std::fs::read_to_string(dir.path().join("w/warmup.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    for want in
        ["configured warm-up 30m", "store.occupancy: items held by all PFs", "1h", "simulated time since the start"]
    {
        assert!(texts.iter().any(|t| t.trim() == want), "no {want:?} in {texts:?}");
    }
    let reader = png::Decoder::new(std::fs::File::open(dir.path().join("w/warmup.png")).unwrap()).read_info().unwrap();
    let (width, height) = (reader.info().width, reader.info().height);
    assert_eq!(width, 1000);
    assert!((600..=1200).contains(&height), "{height}");

    // Only the three files, nothing temporary left.
    let files: Vec<String> = snapshot(&dir.path().join("w")).iter().map(|p| p.display().to_string()).collect();
    assert_eq!(files, ["warmup.json", "warmup.png", "warmup.svg"]);
}

#[test]
fn warmup_is_a_function_of_model_and_seed() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny();
    for (out, seed) in [("a", "4"), ("b", "4"), ("c", "5")] {
        assert!(ddsim(&["warmup", &model, "--seed", seed, "--out", out, "-q"], dir.path()).status.success());
    }
    let (a, b, c) = (
        read(&dir.path().join("a/warmup.json")),
        read(&dir.path().join("b/warmup.json")),
        read(&dir.path().join("c/warmup.json")),
    );
    assert_eq!(a, b);
    assert_eq!(a["seed"], 4);
    assert_eq!(c["seed"], 5);
    assert_ne!(a["series"], c["series"], "another seed, another pilot");
}

#[test]
fn a_pilot_too_short_gives_no_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let out = ddsim(&["warmup", &tiny(), "--set", "horizon=1h", "--set", "warmup=0s", "--out", "w"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("no recommendation") && stdout.contains("--set horizon="), "{stdout}");
    let w = read(&dir.path().join("w/warmup.json"));
    assert!(w["series"].as_array().unwrap().iter().all(|s| s["verdict"] == "too_short" && s["reliable"] == false));
    assert_eq!(w["recommendation"]["warmup_s"], Value::Null);
}

#[test]
fn a_slowly_filling_store_is_found_and_run_warns_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny();
    let mut args = vec!["warmup", model.as_str()];
    args.extend(SLOW_FILL);
    args.extend(["--out", "w", "-q"]);
    assert!(ddsim(&args, dir.path()).status.success());
    let w = read(&dir.path().join("w/warmup.json"));
    let occ = &w["series"][0];
    assert_eq!(occ["name"], "store.occupancy");
    assert_eq!(occ["verdict"], "settled", "{occ}");
    // Offline periods of 3 h on average: the stores fill for hours, not minutes.
    let at = occ["truncation_s"].as_f64().unwrap();
    assert!(at >= 2.0 * 3600.0, "{occ}");
    assert_eq!(w["recommendation"]["configured_is_enough"], false);

    // The same model in ddsim run: one warning line, naming the file; results and exit code as
    // without it (-q prints nothing but errors, so it is silent).
    let mut run = vec!["run", model.as_str()];
    run.extend(SLOW_FILL);
    let loud = ddsim(&[&run[..], &["--out", "loud"]].concat(), dir.path());
    let quiet = ddsim(&[&run[..], &["--out", "quiet", "-q"]].concat(), dir.path());
    assert_eq!((loud.status.code(), quiet.status.code()), (Some(0), Some(0)));
    let stderr = String::from_utf8(loud.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let want = format!("warning: {model}: warm-up 30m is shorter than where store.occupancy settles (MSER-5: ");
    assert!(stderr.starts_with(&want) && stderr.trim_end().ends_with("); see ddsim warmup"), "{stderr}");
    assert!(quiet.stderr.is_empty());
    let strip = |mut v: Value| {
        v["metrics"].as_object_mut().unwrap().remove("run.wall_s");
        v
    };
    assert_eq!(strip(read(&dir.path().join("loud/results.json"))), strip(read(&dir.path().join("quiet/results.json"))));

    // With the warm-up it recommends, the run does not warn.
    let rec = w["recommendation"]["warmup"].as_str().unwrap();
    let set = format!("warmup={rec}");
    let ok = ddsim(&[&run[..], &["--set", &set, "--out", "ok"]].concat(), dir.path());
    assert!(ok.status.success() && ok.stderr.is_empty(), "{}", String::from_utf8_lossy(&ok.stderr));
}

#[test]
fn run_of_tiny_as_shipped_does_not_warn() {
    let dir = tempfile::tempdir().unwrap();
    let out = ddsim(&["run", &tiny(), "--out", "r"], dir.path());
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
