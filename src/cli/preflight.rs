//! The pre-flight check: before a run builds its world, compare the model's estimated peak
//! memory with what the machine has available, and refuse (exit 2, one line) when it cannot fit.

use super::{Failure, usage};
use ddsim::model::{Estimate, Model, estimate};
use ddsim::units::format_bytes;

/// Memory this process may still use, in bytes: the kernel's `MemAvailable`, lowered to the
/// cgroup's remaining allowance when the process runs under a memory limit (a container, a
/// Slurm allocation). `None` where neither can be read.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    });
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).ok();
    let cgroup = match (read("memory.max"), read("memory.current")) {
        (Some(max), Some(cur)) => match (max.trim().parse::<u64>(), cur.trim().parse::<u64>()) {
            (Ok(max), Ok(cur)) => Some(max.saturating_sub(cur)),
            _ => None, // "max": no limit
        },
        _ => None,
    };
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Refuses a model whose estimated peak memory (times `concurrent` runs at once) exceeds the
/// available memory, unless `force`.
pub fn check_fits(file: &str, model: &Model, concurrent: usize, force: bool) -> Result<Estimate, Failure> {
    let e = estimate(model);
    let need = e.peak_bytes * concurrent.max(1) as f64;
    if let Some(avail) = available_memory()
        && need > avail as f64
        && !force
    {
        let runs = if concurrent > 1 { format!(" ({concurrent} runs at once)") } else { String::new() };
        return Err(usage(format!(
            "{file}: the model needs an estimated {}{runs} ({} users, {} memberships, {} stored items at the peak) but {} is available; use fewer users or threads, or --force to try anyway",
            format_bytes(need),
            super::thousands(e.users),
            super::thousands(e.memberships),
            super::thousands(e.stored_items),
            format_bytes(avail as f64)
        )));
    }
    Ok(e)
}

/// This machine's event rate on a small model: the built-in baseline from empty stores for
/// ten minutes of virtual time (about a million events, a fraction of a second).
pub fn calibrate_events_per_s() -> Option<f64> {
    let sets: Vec<ddsim::model::Override> = ["start=empty", "horizon=10m", "warmup=0s"]
        .iter()
        .map(|s| ddsim::model::Override::parse(s))
        .collect::<Result<_, _>>()
        .ok()?;
    let model = Model::builtin(&sets).ok()?;
    let t = std::time::Instant::now();
    let (doc, _) = ddsim::sim::run_model(&model, 1, serde_json::Value::Null, Default::default()).ok()?;
    let events = doc["metrics"]["run.events"].as_f64()?;
    Some(events / t.elapsed().as_secs_f64().max(1e-6))
}

/// The expected wall time of a run of `e.events` events at `rate` (from `calibrate_events_per_s`),
/// slowed as the model grows: an event costs more when the users' state no longer fits in the
/// caches (a million users ran at 0.43 of the baseline's rate, BENCHMARKS.md).
pub fn wall_s(e: &Estimate, rate: f64) -> f64 {
    let size = (e.users / 1e4).max(1.0).log2();
    e.events / (rate / (1.0 + 0.2 * size))
}
