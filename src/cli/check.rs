//! `ddsim check`: validate model, experiment and plan files without running them.

use super::{Failure, one_line};
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
    Ok(format!(
        "ok: {} (model \"{}\": {} users, {} groups, horizon {})",
        f.display(),
        m.name,
        users,
        m.groups.count,
        m.horizon
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
