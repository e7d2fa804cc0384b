//! `ddsim check`: validate model, experiment and plan files without running them.

use super::preflight::{available_memory, calibrate_events_per_s, wall_s};
use super::{Failure, one_line, thousands};
use ddsim::model::estimate;
use ddsim::units::format_bytes;
use ddsim::units::format_duration_short;
use std::sync::OnceLock;

/// This machine's event rate, measured once per `ddsim check`, when a model needs it.
fn rate() -> Option<f64> {
    static RATE: OnceLock<Option<f64>> = OnceLock::new();
    *RATE.get_or_init(calibrate_events_per_s)
}
use ddsim::experiment::Experiment;
use ddsim::model::{Model, ModelError, read_json};
use ddsim::plan::Plan;
use std::path::{Path, PathBuf};

/// Checks one file, model or experiment (told apart by content), and describes it.
fn check(f: &Path) -> Result<String, ModelError> {
    let v = read_json(f)?;
    if Plan::is_plan(&v) {
        let p = Plan::load(f)?;
        let vars: Vec<String> = p.vars.iter().map(|v| format!("{} ({} values)", v.path, v.domain.len())).collect();
        return Ok(format!(
            "ok: {} (plan \"{}\": {}; {} targets; {} to {} replications per candidate)",
            f.display(),
            p.spec.name,
            vars.join(" x "),
            p.targets.len(),
            p.min_reps,
            p.max_reps
        ));
    }
    if Experiment::is_experiment(&v) {
        let e = Experiment::load(f)?;
        return Ok(format!(
            "ok: {} (experiment \"{}\": {} points x {} replications = {} runs)",
            f.display(),
            e.spec.name,
            e.points.len(),
            e.seeds.len(),
            e.runs()
        ));
    }
    let m = Model::load(f, &[])?;
    let users: u32 = m.population.iter().map(|c| c.users).sum();
    let e = estimate(&m);
    let avail = available_memory().map_or(String::new(), |a| format!(" of {} available", format_bytes(a as f64)));
    let wall =
        rate().map_or(String::new(), |r| format!(", about {} on this machine", format_duration_short(wall_s(&e, r))));
    Ok(format!(
        "ok: {} (model \"{}\": {} users, {} groups, horizon {}); estimate: peak memory {}{avail}, {} events{wall}",
        f.display(),
        m.name,
        users,
        m.groups.count,
        m.horizon,
        format_bytes(e.peak_bytes),
        thousands(e.events),
    ))
}

pub fn cmd_check(files: &[PathBuf]) -> Result<(), Failure> {
    let mut failed = false;
    for f in files {
        match check(f) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("error: {}", one_line(&e.to_string()));
                failed = true;
            }
        }
    }
    // Every error has been printed already, one line each.
    if failed { Err(Failure { line: String::new(), code: 2 }) } else { Ok(()) }
}
