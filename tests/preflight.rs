//! The pre-flight estimate: a model too big for the machine is refused before anything is
//! built, and the estimate of peak memory matches what a run really takes.

use std::process::Command;

fn ddsim(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(dir).output().unwrap()
}

/// The peak resident memory of the children this process has waited for, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given and nothing else.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 * 1024 // kilobytes on Linux
}

#[test]
fn a_model_too_big_for_the_machine_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = ddsim(dir.path(), &["run", "--set", "population[0].users=200000000"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr.trim_end();
    assert!(!line.contains('\n'), "one line: {stderr}");
    assert!(line.contains("needs an estimated") && line.contains("GiB") && line.contains("is available"), "{line}");
    assert!(line.contains("--force"), "{line}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
}

#[test]
fn check_prints_the_estimate_of_memory_events_and_time() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = ddsim(std::path::Path::new(root), &["check", "models/scale-1m.json"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("estimate: peak memory") && stdout.contains("GiB"), "{stdout}");
    assert!(stdout.contains("events") && stdout.contains("on this machine"), "{stdout}");
}

/// The estimate against the peak RSS of a real run of the storm model (8 hours, 10,000 users
/// from a steady-state start, so every term of the estimate counts).
/// The coefficients come from seven other runs; 30% is the promise README makes.
#[test]
fn the_memory_estimate_is_within_30_percent_of_a_real_run() {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = ddsim::model::Model::load(&std::path::Path::new(root).join("models/storm.json"), &[]).unwrap();
    let estimate = ddsim::model::estimate(&model).peak_bytes;
    let dir = tempfile::tempdir().unwrap();
    let model_path = format!("{root}/models/storm.json");
    let out = ddsim(dir.path(), &["run", &model_path, "-q", "--out", "storm"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let measured = children_peak_rss() as f64;
    let ratio = estimate / measured;
    assert!((0.7..1.3).contains(&ratio), "estimate {estimate:.0} B, measured peak RSS {measured:.0} B");
}
