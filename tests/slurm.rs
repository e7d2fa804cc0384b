//! `ddsim slurm` on a real Slurm cluster: the quickstart experiment as a job array of 4 shards
//! and a collect job after it, submitted from the repository root as a user would; the
//! summary it leaves is the one a local `ddsim sweep` writes, to the byte.
//!
//! Installs nothing: where `sbatch` is missing or no cluster answers, it prints SKIPPED and
//! passes, except under `CI`, where `.ci/run` has started a one-node cluster (`.ci/slurm-up`)
//! and a skip would hide a failure.

mod common;
use common::which;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a cluster answers with a node that can run jobs; otherwise why not.
fn cluster() -> Result<(), String> {
    for tool in ["sbatch", "sinfo", "scontrol"] {
        if which(tool).is_none() {
            return Err(format!(
                "{tool} is not installed (apt-get install slurm-wlm; .ci/slurm-up starts a one-node cluster)"
            ));
        }
    }
    let o = Command::new("sinfo").args(["-h", "-o", "%t"]).output().map_err(|e| format!("sinfo: {e}"))?;
    let states = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() || !states.lines().any(|s| ["idle", "mix", "alloc"].contains(&s.trim())) {
        return Err(format!(
            "no Slurm node is up (sinfo: {}{}); .ci/slurm-up starts one",
            states.trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(())
}

/// The state of job `id` (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, ...), or None once
/// Slurm has forgotten it.
fn job_state(id: &str) -> Option<String> {
    let o = Command::new("scontrol").args(["show", "job", id, "-o"]).output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    text.split_whitespace().find_map(|f| f.strip_prefix("JobState=")).map(str::to_string)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn quickstart_on_a_slurm_cluster_gives_the_summary_of_a_local_sweep() {
    if let Err(why) = cluster() {
        assert!(std::env::var_os("CI").is_none(), "Slurm is needed in CI: {why}");
        eprintln!("SKIPPED: the Slurm test: {why}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ddsim = env!("CARGO_BIN_EXE_ddsim");
    let tmp = tempfile::tempdir().unwrap();
    let (cluster_out, local_out) = (tmp.path().join("cluster"), tmp.path().join("local"));

    let o = Command::new(ddsim)
        .args(["slurm", "experiments/quickstart.json", "--tasks", "4", "--submit", "--out"])
        .arg(&cluster_out)
        .current_dir(root)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{said}{}", String::from_utf8_lossy(&o.stderr));
    eprint!("{said}");
    // "submitted: array job A (tasks 0-3), collect job C after it"
    let words: Vec<&str> = said.split_whitespace().collect();
    let after = |w: &str| words.windows(3).find(|x| x[0] == w && x[1] == "job").map(|x| x[2].to_string());
    let (array, collect) = (after("array").expect("the array job id"), after("collect").expect("the collect job id"));

    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    let end = loop {
        match job_state(&collect) {
            Some(s) if ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"].contains(&s.as_str()) => {}
            other => break other,
        }
        if Instant::now() > deadline {
            let _ = Command::new("scancel").args([&array, &collect]).status();
            panic!("the collect job {collect} has not ended after 20 minutes; cancelled");
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let logs = cluster_out.join("slurm/logs");
    let log = |name: String| std::fs::read_to_string(logs.join(&name)).unwrap_or_else(|_| format!("({name}: none)"));
    let collect_log = log(format!("{collect}_collect.out"));
    assert!(
        end.as_deref().is_none_or(|s| s == "COMPLETED"),
        "the collect job ended {end:?}:\n{collect_log}\n{}",
        (0..4).map(|i| log(format!("{array}_{i}.out"))).collect::<Vec<_>>().join("\n")
    );
    eprintln!("collect job {collect}: {end:?}\n{collect_log}");
    // One log per task, each the shard of its index.
    for i in 0..4 {
        let l = log(format!("{array}_{i}.out"));
        assert!(l.contains(&format!("shard {i} of 4: 5 runs")), "task {i}: {l}");
    }

    let o = Command::new(ddsim)
        .args(["sweep", "experiments/quickstart.json", "-q", "--out"])
        .arg(&local_out)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["summary.json", "summary.csv"] {
        let (a, b) = (read(&local_out.join(f)), read(&cluster_out.join(f)));
        assert!(a.len() > 1000);
        assert!(a == b, "{f} from the cluster differs from the local sweep's");
    }
    assert!(cluster_out.join("report.html").is_file());
    eprintln!("the cluster's summary.json and summary.csv equal the local sweep's");
}
