//! `ddsim sweep` end to end: results independent of the thread count, common random numbers
//! narrowing paired comparisons, resuming after an interruption, and experiments rejected
//! before any run starts.

mod common;

use common::{small_experiment, write_experiment};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ddsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(cwd).output().unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn summaries_are_identical_with_one_or_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &small_experiment("1d", 3));
    for t in ["1", "2"] {
        let out =
            ddsim(&["sweep", exp.to_str().unwrap(), "--threads", t, "--out", &format!("out{t}"), "-q"], dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for f in ["summary.json", "summary.csv"] {
        let (a, b) = (read(&dir.path().join("out1").join(f)), read(&dir.path().join("out2").join(f)));
        assert!(a.len() > 1000);
        assert_eq!(a, b, "{f} differs between 1 and 2 threads");
    }
    // And every run's results too (apart from the wall-clock time).
    let strip = |p: PathBuf| {
        let mut v: Value = serde_json::from_str(&read(&p)).unwrap();
        v["metrics"].as_object_mut().unwrap().remove("run.wall_s");
        v
    };
    for e in std::fs::read_dir(dir.path().join("out1/runs")).unwrap() {
        let name = e.unwrap().file_name();
        let a = strip(dir.path().join("out1/runs").join(&name).join("results.json"));
        let b = strip(dir.path().join("out2/runs").join(&name).join("results.json"));
        assert_eq!(a, b, "{name:?}");
    }
}

#[test]
fn paired_differences_are_narrower_than_unpaired_on_common_random_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &small_experiment("4d", 8));
    let out = ddsim(&["sweep", exp.to_str().unwrap(), "--out", "out", "-q"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: Value = serde_json::from_str(&read(&dir.path().join("out/summary.json"))).unwrap();
    assert_eq!(s["baseline"], "retry=none,per_session=50");
    // The fixed-interval policy against none, same store: what it delivers differs, and the
    // workload noise shared by both (same seeds) cancels in the paired difference.
    let p = s["points"].as_array().unwrap().iter().find(|p| p["id"] == "retry=fixed,per_session=50").unwrap();
    for m in ["deferred.delivered", "delivery.invites", "store.occupancy.time_avg"] {
        let d = &p["metrics"][m]["diff"];
        let paired = d["ci95_high"].as_f64().unwrap() - d["ci95_low"].as_f64().unwrap();
        let unpaired = d["unpaired_ci95_high"].as_f64().unwrap() - d["unpaired_ci95_low"].as_f64().unwrap();
        assert!(paired < unpaired, "{m}: paired CI {paired} not narrower than unpaired {unpaired}");
        assert_eq!(d["n"], 8);
    }
    // The CSV carries the same paired difference.
    let csv = read(&dir.path().join("out/summary.csv"));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..3], &["point", "retry", "per_session"]);
    assert!(header.contains(&"diff_mean") && header.contains(&"diff_rel"));
}

#[test]
fn summaries_give_the_busy_hour_and_delays_after_registration_with_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &small_experiment("1d", 3));
    let out = ddsim(&["sweep", exp.to_str().unwrap(), "--out", "out", "-q"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: Value = serde_json::from_str(&read(&dir.path().join("out/summary.json"))).unwrap();
    for p in s["points"].as_array().unwrap() {
        for k in [
            "busy_hour.hour_of_day",
            "busy_hour.workload.messages",
            "busy_hour.servers.pf1.utilisation",
            "busy_hour.delivery.after_register_s.p95",
            "delivery.after_register_s.p95",
            "delivery.after_client_register_s.mean",
        ] {
            let st = &p["metrics"][k];
            assert_eq!(st["n"], 3, "{k}: {st}");
            let (lo, mean, hi) = (st["ci95_low"].as_f64(), st["mean"].as_f64(), st["ci95_high"].as_f64());
            assert!(lo <= mean && mean <= hi && lo.is_some(), "{k}: {st}");
        }
        // The histograms of the delays are merged over replications like the latency's.
        let h = &p["histograms"]["delivery.after_register_s"]["count"];
        let total: u64 = h.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
        assert!(total > 0);
    }
    let csv = read(&dir.path().join("out/summary.csv"));
    assert!(csv.lines().any(|l| l.contains(",busy_hour.delivery.latency_s.p99,")));
    // A window without a full hour: the busy hour is null in every run, and summarised as no
    // value (n = 0) rather than breaking the summary.
    let exp = write_experiment(dir.path(), &with(small_experiment("50m", 2), |e| e["set"]["warmup"] = json!("20m")));
    let out = ddsim(&["sweep", exp.to_str().unwrap(), "--out", "short", "-q"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: Value = serde_json::from_str(&read(&dir.path().join("short/summary.json"))).unwrap();
    let st = &s["points"][0]["metrics"]["busy_hour.delivery.latency_s.p95"];
    assert_eq!((&st["n"], &st["mean"]), (&json!(0), &Value::Null), "{st}");
    assert_eq!(s["points"][0]["metrics"]["busy_hour.days"]["mean"], json!(0.0));
}

fn count_results(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir.join("runs")) else { return 0 };
    rd.filter(|e| e.as_ref().unwrap().path().join("results.json").exists()).count()
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap().to_string_lossy().contains(".tmp-") {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

/// Runs a sweep on one thread that interrupts itself once `runs` runs have finished: `how` is
/// `stop` (as Ctrl-C does) or `abort` (as a crash or SIGKILL: no clean-up at all).
fn interrupt(exp: &Path, cwd: &Path, out: &str, runs: usize, how: &str) -> std::process::ExitStatus {
    let flag = format!("--{how}-after-runs");
    Command::new(env!("CARGO_BIN_EXE_ddsim"))
        .args(["sweep", exp.to_str().unwrap(), "--threads", "1", "--out", out, "-q", &flag, &runs.to_string()])
        .current_dir(cwd)
        .status()
        .unwrap()
}

#[test]
fn an_interrupted_sweep_resumes_and_ends_as_if_never_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &small_experiment("1d", 4));
    let total = 16;

    // Killed outright (as by a crash or the OOM killer) after 3 runs: re-running finishes the
    // rest only.
    let status = interrupt(&exp, dir.path(), "out", 3, "abort");
    assert!(!status.success());
    let before = count_results(&dir.path().join("out"));
    assert_eq!(before, 3, "the runs complete before the crash");
    // A crash while a run was being published leaves its hidden temporary directory: once it
    // is over an hour old, the next sweep in the directory removes it.
    let stale = dir.path().join("out/runs/.p0-r3.tmp-x1y2");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("results.json"), b"{").unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3700);
    std::fs::File::open(&stale).unwrap().set_modified(hour_ago).unwrap();
    let again = ddsim(&["sweep", exp.to_str().unwrap(), "--threads", "2", "--out", "out"], dir.path());
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(!stale.exists(), "a stale temporary directory is left");
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains(&format!("{total} runs, {before} already done")), "{said}");

    // Interrupted as by Ctrl-C after 2 runs: exits 130, leaves only complete runs and no
    // summary.
    let status = interrupt(&exp, dir.path(), "out2", 2, "stop");
    assert_eq!(status.code(), Some(130));
    assert_eq!(count_results(&dir.path().join("out2")), 2);
    assert!(
        leftovers(&dir.path().join("out2")).is_empty(),
        "temporary files left: {:?}",
        leftovers(&dir.path().join("out2"))
    );
    assert!(!dir.path().join("out2/summary.json").exists());
    for e in std::fs::read_dir(dir.path().join("out2/runs")).unwrap() {
        let p = e.unwrap().path().join("results.json");
        if p.exists() {
            let _: Value = serde_json::from_str(&read(&p)).expect("only complete results");
        }
    }
    assert!(ddsim(&["sweep", exp.to_str().unwrap(), "--out", "out2", "-q"], dir.path()).status.success());

    // Both equal an uninterrupted sweep.
    assert!(ddsim(&["sweep", exp.to_str().unwrap(), "--out", "clean", "-q"], dir.path()).status.success());
    let clean = read(&dir.path().join("clean/summary.json"));
    assert_eq!(read(&dir.path().join("out/summary.json")), clean);
    assert_eq!(read(&dir.path().join("out2/summary.json")), clean);
}

#[test]
fn a_changed_experiment_refuses_to_mix_with_old_output_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &small_experiment("6h", 1));
    assert!(ddsim(&["sweep", exp.to_str().unwrap(), "--out", "out", "-q"], dir.path()).status.success());
    let changed = write_experiment(dir.path(), &small_experiment("7h", 1));
    let out = ddsim(&["sweep", changed.to_str().unwrap(), "--out", "out", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another experiment") && err.contains("--force"), "{err}");
    assert!(ddsim(&["sweep", changed.to_str().unwrap(), "--out", "out", "--force", "-q"], dir.path()).status.success());
}

/// Asserts the experiment is rejected before any run: exit 2, one line naming the file and
/// `path`, no output directory.
fn rejected(exp: Value, path: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_experiment(dir.path(), &exp);
    for args in [vec!["check", file.to_str().unwrap()], vec!["sweep", file.to_str().unwrap(), "--out", "out"]] {
        let out = ddsim(&args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(&format!("exp.json: {path}: ")), "expected path {path}: {err}");
        assert!(err.contains(needle), "expected {needle:?}: {err}");
        assert!(!err.contains("panicked"));
        assert!(!dir.path().join("out").exists(), "a rejected experiment created its output directory");
    }
}

fn with(mut exp: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut exp);
    exp
}

#[test]
fn unknown_vary_path_is_rejected_with_the_closest_valid_path() {
    let e = with(small_experiment("6h", 2), |e| e["vary"] = json!({"policy.store.per_sesion": [5, 50]}));
    rejected(e, "vary.policy.store.per_sesion", "did you mean `policy.store.per_session`");
}

#[test]
fn empty_value_list_is_rejected() {
    rejected(
        with(small_experiment("6h", 2), |e| e["vary"]["policy.store.per_session"] = json!([])),
        "vary.policy.store.per_session",
        "empty",
    );
}

#[test]
fn zip_lists_of_different_lengths_are_rejected() {
    let e = with(small_experiment("6h", 2), |e| e["zip"] = json!({"groups.count": [2, 3, 4], "horizon": ["6h", "7h"]}));
    rejected(e, "zip.horizon", "same length");
}

#[test]
fn zero_replications_are_rejected() {
    rejected(with(small_experiment("6h", 2), |e| e["replications"] = json!(0)), "replications", "at least 1");
}

#[test]
fn missing_model_is_rejected() {
    rejected(with(small_experiment("6h", 2), |e| e["model"] = json!("nowhere.json")), "model", "no such file");
}

#[test]
fn a_value_of_the_wrong_type_anywhere_in_the_grid_is_rejected() {
    let e = with(small_experiment("6h", 2), |e| e["vary"]["policy.store.per_session"] = json!([5, 50, "many"]));
    rejected(e, "vary.policy.store.per_session[2]", "invalid type");
    let e = with(small_experiment("6h", 2), |e| {
        e["vary"]["policy.retry"] = json!([{"kind": "none"}, {"kind": "fixed", "interval": "30s", "max_attempts": 0}])
    });
    rejected(e, "vary.policy.retry[1].max_attempts", "at least 1");
}

#[test]
fn a_chart_naming_an_unknown_metric_or_parameter_is_rejected_before_any_run() {
    let e = with(small_experiment("6h", 2), |e| {
        e["charts"] =
            json!([{"kind": "line", "x": "policy.store.per_session", "y": "deferred.dropped/deferred.offered"}])
    });
    rejected(e, "charts[0].y", "unknown metric \"deferred.dropped\"");
    let e = with(small_experiment("6h", 2), |e| {
        e["charts"] = json!([{"kind": "line", "x": "groups.count", "y": "deferred.offered"}])
    });
    rejected(e, "charts[0].x", "not a varied parameter");
    let e = with(small_experiment("6h", 2), |e| {
        e["charts"] = json!([{"kind": "profile", "metric": "servers.pf1.queue.peek"}])
    });
    rejected(e, "charts[0].metric", "did you mean `servers.pf1.queue.peak`");
    let e = with(small_experiment("6h", 2), |e| e["charts"] = json!([{"kind": "cdf", "metric": "delivery.after_s"}]));
    rejected(e, "charts[0].metric", "delivery.after_register_s");
}

#[test]
fn shipped_models_and_experiments_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    for d in ["models", "experiments"] {
        for e in std::fs::read_dir(root.join(d)).unwrap() {
            files.push(e.unwrap().path().display().to_string());
        }
    }
    assert!(files.len() >= 7);
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = ddsim(&args, root);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("ok: ")).count(), files.len());
}

#[test]
fn a_sequential_sweep_adds_runs_only_where_the_interval_is_still_wide() {
    // Store size 5 drops a share of what tiny stores that varies a lot from run to run; size
    // 500 drops nothing (a zero in every run is precise at once). Each point starts with 3
    // runs and gets 3 more at a time until the 95% interval of the overflow share is within
    // 25% of its mean, or 15 runs.
    let dir = tempfile::tempdir().unwrap();
    let mut exp = small_experiment("6h", 3);
    exp["vary"] = json!({"policy.store.per_session": [5, 500]});
    exp["baseline"] = json!({"policy.store.per_session": 500});
    exp["replications"] = json!({"min": 3, "max": 15, "batch": 3,
        "until": [{"metric": "deferred.dropped_overflow/deferred.offered", "rel_half_width": 0.25}]});
    let exp = write_experiment(dir.path(), &exp);
    for t in ["1", "2"] {
        let out =
            ddsim(&["sweep", exp.to_str().unwrap(), "--threads", t, "--out", &format!("out{t}"), "-q"], dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (a, b) = (read(&dir.path().join("out1/summary.csv")), read(&dir.path().join("out2/summary.csv")));
    assert_eq!(a, b, "a sequential sweep depends on the thread count");
    let runs = |point: &str| {
        std::fs::read_dir(dir.path().join("out1/runs"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!("{point}-r")))
            .count()
    };
    assert_eq!(runs("per_session=500"), 3, "a point with no loss at all needs no more runs");
    let n = runs("per_session=5");
    assert!(n > 3 && n <= 15 && n % 3 == 0, "{n} runs");
    // Where it stopped short of 15, the interval is as narrow as asked.
    let summary: Value = serde_json::from_str(&read(&dir.path().join("out1/summary.json"))).unwrap();
    let point = summary["points"].as_array().unwrap().iter().find(|p| p["id"] == "per_session=5").unwrap();
    let m = &point["metrics"]["deferred.offered"];
    assert_eq!(m["n"], json!(n));
    let shares: Vec<f64> = (0..n)
        .map(|r| {
            let doc: Value =
                serde_json::from_str(&read(&dir.path().join(format!("out1/runs/per_session=5-r{r}/results.json"))))
                    .unwrap();
            doc["metrics"]["deferred.dropped_overflow"].as_f64().unwrap()
                / doc["metrics"]["deferred.offered"].as_f64().unwrap()
        })
        .collect();
    let mean = shares.iter().sum::<f64>() / n as f64;
    let sd = (shares.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let t = statrs::distribution::StudentsT::new(0.0, 1.0, (n - 1) as f64).unwrap();
    let half = statrs::distribution::ContinuousCDF::inverse_cdf(&t, 0.975) * sd / (n as f64).sqrt();
    assert!(n == 15 || half <= 0.25 * mean, "stopped at {n} runs with a half-width of {half} around {mean}");
    // ...and not before: with 3 runs fewer it was not.
    let first: Vec<f64> = shares[..n - 3].to_vec();
    let m3 = first.iter().sum::<f64>() / first.len() as f64;
    let sd3 = (first.iter().map(|x| (x - m3).powi(2)).sum::<f64>() / (first.len() - 1) as f64).sqrt();
    let t3 = statrs::distribution::StudentsT::new(0.0, 1.0, (first.len() - 1) as f64).unwrap();
    let half3 = statrs::distribution::ContinuousCDF::inverse_cdf(&t3, 0.975) * sd3 / (first.len() as f64).sqrt();
    assert!(half3 > 0.25 * m3, "{} runs were already precise enough", n - 3);
    // Resuming re-runs nothing.
    let again = ddsim(&["sweep", exp.to_str().unwrap(), "--out", "out1"], dir.path());
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains(&format!("{} runs, {} already done", n + 3, n + 3)), "{text}");
}

#[test]
fn a_compare_block_gives_every_pair_with_adjusted_intervals_the_best_subset_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut exp = small_experiment("6h", 5);
    exp["vary"] = json!({"policy.retry": [{"kind": "none"}, {"kind": "fixed", "interval": "30s", "max_attempts": 8},
                                          {"kind": "fixed", "interval": "5m", "max_attempts": 8}]});
    exp["baseline"] = json!({"policy.retry": {"kind": "none"}});
    exp["ratios"] = json!(["deferred.delivered/deferred.offered"]);
    exp["compare"] = json!({"metrics": [
        {"metric": "deferred.queued_behind", "better": "lower"},
        {"metric": "deferred.dropped_overflow/deferred.offered", "better": "lower", "max": 0.5}]});
    let exp = write_experiment(dir.path(), &exp);
    let out = ddsim(&["sweep", exp.to_str().unwrap(), "--out", "out", "-q"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Ratios are summarised per run with intervals, like any metric.
    let csv = read(&dir.path().join("out/summary.csv"));
    let ratio_rows: Vec<&str> = csv.lines().filter(|l| l.contains(",deferred.delivered/deferred.offered,")).collect();
    assert_eq!(ratio_rows.len(), 3, "{csv}");
    assert!(csv.lines().any(|l| l.contains(",deferred.dropped_overflow/deferred.offered,")));
    // Every pair of the three points, for both metrics.
    let compare = read(&dir.path().join("out/compare.csv"));
    assert_eq!(compare.lines().count(), 1 + 2 * 3, "{compare}");
    let summary: Value = serde_json::from_str(&read(&dir.path().join("out/summary.json"))).unwrap();
    let c = &summary["compare"];
    assert_eq!(c["points"].as_array().unwrap().len(), 3);
    for m in c["metrics"].as_array().unwrap() {
        for p in m["pairs"].as_array().unwrap() {
            let (lo, hi, mean) =
                (p["ci_low"].as_f64().unwrap(), p["ci_high"].as_f64().unwrap(), p["diff_mean"].as_f64().unwrap());
            assert!(lo <= mean && mean <= hi, "{p}");
            assert!(p["p_holm"].as_f64().unwrap() >= p["p"].as_f64().unwrap(), "{p}");
        }
        let best = m["best"].as_array().unwrap();
        assert!(!best.is_empty() && best.len() <= 3);
    }
    // Held-behind copies: retrying every 30 s holds far fewer than never retrying, so "none"
    // is not among the best, and that pair is significant after Holm's adjustment.
    let held = &c["metrics"][0];
    assert!(!held["best"].as_array().unwrap().iter().any(|b| b == "retry=none"), "{held}");
    let pair = held["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["a"] == "retry=none" && p["b"] == "retry=fixed-interval_30s")
        .unwrap();
    assert_eq!(pair["different"], json!(true), "{pair}");
    // One-sided bounds against the declared target.
    let bounds = c["metrics"][1]["bounds"].as_array().unwrap();
    assert_eq!(bounds.len(), 3);
    assert!(bounds.iter().all(|b| b["bound"].as_f64().is_some()));
}
