//! `ddsim sweep --shard` and `--collect` without a cluster: shards that together run every run
//! once, a shard killed in the middle of a run and run again, two copies of one shard at once,
//! and the summary `--collect` writes, identical to a local sweep's; bad shards refused.
//! (`tests/slurm.rs` does the same through a real Slurm.)

mod common;

use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ddsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(cwd).output().unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shared small sweep (`common::small_experiment`), with a chart to draw.
fn experiment(dir: &Path, horizon: &str, replications: u32) -> PathBuf {
    let mut exp = common::small_experiment(horizon, replications);
    exp["charts"] =
        json!([{"kind": "line", "x": "policy.store.per_session", "y": "deferred.delivered", "series": "policy.retry"}]);
    common::write_experiment(dir, &exp)
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The run directories of `out`, by name (hidden temporary ones left out).
fn runs(out: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(out.join("runs")) else { return vec![] };
    let mut v: Vec<String> =
        rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect();
    v.sort();
    v
}

/// Every file under `out` is whole: each JSON file parses, each run directory holds its
/// results, and no temporary file is left.
fn all_whole(out: &Path) {
    for p in common::snapshot(out) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.contains(".tmp-"), "temporary file left: {}", p.display());
        if name.ends_with(".json") {
            let _: Value =
                serde_json::from_str(&read(&out.join(&p))).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
    for r in runs(out) {
        assert!(out.join("runs").join(&r).join("results.json").is_file(), "run directory {r} without its results");
    }
}

/// A local sweep of `exp` into `cwd/local`, for comparison.
fn local(exp: &Path, cwd: &Path) -> PathBuf {
    ok(&ddsim(&["sweep", exp.to_str().unwrap(), "--out", "local", "-q"], cwd));
    cwd.join("local")
}

fn same_summaries(a: &Path, b: &Path) {
    for f in ["summary.json", "summary.csv"] {
        let (x, y) = (read(&a.join(f)), read(&b.join(f)));
        assert!(x.len() > 1000);
        assert!(x == y, "{f} of {} differs from {}", a.display(), b.display());
    }
}

#[test]
fn shards_run_every_run_once_and_collect_writes_what_a_local_sweep_writes() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), "1d", 5);
    let e = exp.to_str().unwrap();
    let out = dir.path().join("out");
    let mut seen: Vec<String> = vec![];
    for i in 0..3 {
        let before = runs(&out);
        let o = ddsim(&["sweep", e, "--out", "out", "--shard", &format!("{i}/3")], dir.path());
        ok(&o);
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(said.contains(&format!("shard {i} of 3")) && said.contains("--collect"), "{said}");
        assert!(!out.join("summary.json").exists(), "a shard wrote a summary");
        let mine: Vec<String> = runs(&out).into_iter().filter(|r| !before.contains(r)).collect();
        // 4 points x 5 replications: run k (point k div 5, replication k mod 5) is shard
        // k mod 3's, so every shard has 6 or 7 runs, and one or two of every point.
        assert!(mine.len() == 6 || mine.len() == 7, "shard {i}: {mine:?}");
        for point in ["retry=none,per_session=5-", "retry=fixed,per_session=50-"] {
            let n = mine.iter().filter(|r| r.starts_with(point)).count();
            assert!(n == 1 || n == 2, "shard {i} has {n} runs of {point}: {mine:?}");
        }
        assert!(mine.contains(&format!("retry=none,per_session=5-r{i}")), "{mine:?}");
        seen.extend(mine);
        if i == 1 {
            // Collect before the last shard: the missing runs by point, the command that runs
            // exactly those, exit 1, nothing written.
            let before = common::snapshot(&out);
            let o = ddsim(&["sweep", e, "--out", "out", "--collect"], dir.path());
            assert_eq!(o.status.code(), Some(1));
            let said = String::from_utf8_lossy(&o.stdout);
            assert!(said.contains("6 of 20 runs missing"), "{said}");
            assert!(said.contains("retry=none,per_session=5: replication 2"), "{said}");
            assert!(said.contains(&format!("ddsim sweep {e} --out out\n")), "{said}");
            assert_eq!(common::snapshot(&out), before, "collect wrote something");
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "every run exactly once");
    let o = ddsim(&["sweep", e, "--out", "out", "--collect"], dir.path());
    ok(&o);
    let local = local(&exp, dir.path());
    same_summaries(&local, &out);
    // The same charts, and the page.
    let charts = common::snapshot(&local.join("charts"));
    assert!(charts.iter().any(|c| c.extension().is_some_and(|x| x == "png")), "{charts:?}");
    assert_eq!(common::snapshot(&out.join("charts")), charts);
    for c in charts.iter().filter(|c| c.extension().is_some_and(|x| x == "svg")) {
        assert_eq!(read(&out.join("charts").join(c)), read(&local.join("charts").join(c)), "{}", c.display());
    }
    assert!(read(&out.join("report.html")).contains("<img"));
    assert_eq!(read(&local.join("manifest.json")), read(&out.join("manifest.json")));
}

#[test]
fn a_shard_killed_in_the_middle_of_a_run_leaves_no_partial_run_and_its_rerun_completes_the_study() {
    let dir = tempfile::tempdir().unwrap();
    // Runs of most of a second, four of them in shard 0 of 2, one at a time.
    let exp = experiment(dir.path(), "60d", 2);
    let e = exp.to_str().unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddsim"))
        .args(["sweep", e, "--out", "out", "--shard", "0/2", "--threads", "1", "-q"])
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    // Once its first run is published the next one is under way: SIGKILL it then.
    while runs(&out).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the shard ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed in the middle: {status:?}");
    let left = runs(&out);
    assert!(!left.is_empty() && left.len() < 4, "{left:?}");
    for r in &left {
        let doc: Value = serde_json::from_str(&read(&out.join("runs").join(r).join("results.json"))).unwrap();
        assert!(doc["metrics"].is_object(), "{r}: partial results");
    }
    // Collect names the rest; the shard, run again, does only those.
    let o = ddsim(&["sweep", e, "--out", "out", "--collect"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let o = ddsim(&["sweep", e, "--out", "out", "--shard", "0/2"], dir.path());
    ok(&o);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains(&format!("4 runs, {} already done", left.len())), "{said}");
    ok(&ddsim(&["sweep", e, "--out", "out", "--shard", "1/2", "-q"], dir.path()));
    ok(&ddsim(&["sweep", e, "--out", "out", "--collect", "-q"], dir.path()));
    same_summaries(&local(&exp, dir.path()), &out);
}

#[test]
fn two_copies_of_one_shard_at_once_corrupt_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), "20d", 3);
    let e = exp.to_str().unwrap();
    let out = dir.path().join("out");
    // As when a task is re-submitted while the first copy still runs: both write every run of
    // shard 0 and the manifest, into the same directory.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_ddsim"))
            .args(["sweep", e, "--out", "out", "--shard", "0/2", "--threads", "2", "-q"])
            .current_dir(dir.path())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    all_whole(&out);
    assert_eq!(runs(&out).len(), 6);
    ok(&ddsim(&["sweep", e, "--out", "out", "--shard", "1/2", "-q"], dir.path()));
    ok(&ddsim(&["sweep", e, "--out", "out", "--collect", "-q"], dir.path()));
    all_whole(&out);
    same_summaries(&local(&exp, dir.path()), &out);
}

#[test]
fn after_ddsim_slurm_collect_names_the_array_tasks_to_resubmit() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), "6h", 3);
    let e = exp.to_str().unwrap();
    let o = ddsim(&["slurm", e, "--tasks", "4", "--out", "out", "--time", "10", "--partition", "debug"], dir.path());
    ok(&o);
    let script = read(&dir.path().join("out/slurm/sweep.sbatch"));
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --time=10",
        "#SBATCH --partition=debug",
        "%A_%a",
        "--shard \"$SLURM_ARRAY_TASK_ID/4\"",
    ] {
        assert!(script.contains(line), "{line}: {script}");
    }
    assert!(read(&dir.path().join("out/slurm/collect.sbatch")).contains("--collect"));
    // Tasks 0 and 2 ran; 1 and 3 failed.
    for i in [0, 2] {
        ok(&ddsim(&["sweep", e, "--out", "out", "--shard", &format!("{i}/4"), "-q"], dir.path()));
    }
    let o = ddsim(&["sweep", e, "--out", "out", "--collect"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("sbatch --array=1,3 out/slurm/sweep.sbatch"), "{said}");
    // Re-submitting those (here: running them as their tasks would) completes the study.
    for i in [1, 3] {
        let o = Command::new("bash")
            .arg("out/slurm/sweep.sbatch")
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_CPUS_PER_TASK", "1")
            .current_dir(dir.path())
            .output()
            .unwrap();
        ok(&o);
    }
    ok(&ddsim(&["sweep", e, "--out", "out", "--collect", "-q"], dir.path()));
    same_summaries(&local(&exp, dir.path()), &dir.path().join("out"));
}

/// Environment variables of a command.
type Env<'a> = &'a [(&'a str, &'a str)];

/// Exit 2, one line on stderr containing `needle`, and nothing written under `cwd`.
fn refused(args: &[&str], cwd: &Path, env: &[(&str, &str)], needle: &str) {
    let before = common::snapshot(cwd);
    let mut c = Command::new(env!("CARGO_BIN_EXE_ddsim"));
    c.args(args).current_dir(cwd);
    for v in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MAX", "JOB_COMPLETION_INDEX"] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    assert_eq!(common::snapshot(cwd), before, "{args:?} wrote something");
}

#[test]
fn bad_shards_and_foreign_output_are_refused_in_one_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), "6h", 2);
    let e = exp.to_str().unwrap();
    let cases: [(&str, Env, &str); 10] = [
        ("4/4", &[], "--shard: shard 4 of 4: I must be below N"),
        ("0/0", &[], "--shard: N must be at least 1"),
        ("one/4", &[], "\"one\" is not a whole number"),
        ("1/four", &[], "\"four\" is not a whole number"),
        ("2", &[], "expected I/N"),
        ("slurm", &[], "SLURM_ARRAY_TASK_ID is not set"),
        ("slurm", &[("SLURM_ARRAY_TASK_ID", "1")], "SLURM_ARRAY_TASK_COUNT is not set"),
        ("slurm", &[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "4")], "not a whole number"),
        ("k8s:4", &[], "JOB_COMPLETION_INDEX is not set"),
        ("k8s:4", &[("JOB_COMPLETION_INDEX", "4")], "below N"),
    ];
    for (shard, env, needle) in cases {
        refused(&["sweep", e, "--out", "out", "--shard", shard], dir.path(), env, needle);
    }
    for args in [
        vec!["slurm", e, "--tasks", "0"],
        vec!["slurm", e, "--tasks", "9"],
        vec!["slurm", e, "--cpus-per-task", "0"],
        vec!["slurm", e, "--time", "1 day"],
    ] {
        refused(&args, dir.path(), &[], args[2]);
    }
    // A sequential experiment: its later runs depend on the earlier ones' results.
    let mut v: Value = serde_json::from_str(&read(&exp)).unwrap();
    v["replications"] = json!({"min": 2, "max": 6, "until": [{"metric": "deferred.offered", "rel_half_width": 0.1}]});
    let seq = dir.path().join("seq.json");
    std::fs::write(&seq, v.to_string()).unwrap();
    let s = seq.to_str().unwrap();
    refused(&["sweep", s, "--out", "out", "--shard", "0/2"], dir.path(), &[], "sequential replications");
    refused(&["slurm", s, "--out", "out"], dir.path(), &[], "sequential replications");
    // An output directory holding another experiment's runs: shard, collect and slurm refuse.
    ok(&ddsim(&["sweep", e, "--out", "out", "--shard", "0/2", "-q"], dir.path()));
    v["replications"] = json!(3);
    let other = dir.path().join("other.json");
    std::fs::write(&other, v.to_string()).unwrap();
    let o = other.to_str().unwrap();
    for args in [
        vec!["sweep", o, "--out", "out", "--shard", "1/2"],
        vec!["sweep", o, "--out", "out", "--collect"],
        vec!["slurm", o, "--out", "out"],
    ] {
        refused(&args, dir.path(), &[], "holds the output of another experiment");
    }
}
