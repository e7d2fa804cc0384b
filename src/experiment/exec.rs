//! Running an experiment: every run in parallel on a rayon pool, each single-threaded and
//! deterministic; results written atomically, one directory per run; a re-run of the same
//! experiment skips the runs already done, and refuses to mix with another experiment's output.

use super::summary::{RunResult, Summary, summarize};
use super::{Experiment, Precision, Replications};
use crate::output::{OutDir, write_atomic, write_json};
use crate::sim::{RunError, RunOptions, run_model};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct SweepOptions {
    /// Worker threads (None: all cores).
    pub threads: Option<usize>,
    pub out: PathBuf,
    /// Replace the output of a different experiment instead of refusing.
    pub force: bool,
    /// Set to stop: runs in progress are abandoned, no new one starts.
    pub cancel: Arc<AtomicBool>,
}

/// Told about progress; called from worker threads.
pub trait Progress: Sync {
    fn start(&self, total: usize, already_done: usize);
    /// A sequential experiment gives some points more runs (`added`, of which `already_done`
    /// were found done).
    fn more(&self, _added: usize, _already_done: usize) {}
    fn run_finished(&self, point: &str, replication: usize, ok: bool);
}

/// A run that failed (a broken invariant): reported with its point and seed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub point: String,
    pub replication: usize,
    pub seed: u64,
    pub error: String,
}

pub struct SweepReport {
    pub total: usize,
    pub skipped: usize,
    pub ran: usize,
    pub failures: Vec<Failure>,
    pub cancelled: bool,
    /// None when cancelled (no summary is written then).
    pub summary: Option<Summary>,
    pub out: PathBuf,
}

/// Errors that stop a sweep before any run: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Output(String),
}

fn read_results(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs an experiment into `opts.out`.
pub fn sweep(exp: &Experiment, opts: &SweepOptions, progress: &dyn Progress) -> Result<SweepReport, SweepError> {
    let out = OutDir::prepare(&opts.out).map_err(|e| SweepError::Output(format!("{}: {e}", opts.out.display())))?;
    let dir = out.path.clone();
    let manifest_path = dir.join("manifest.json");
    if let Some(old) = read_results(&manifest_path) {
        let old_hash = old["hash"].as_str().unwrap_or("").to_string();
        if old_hash != exp.hash {
            if !opts.force {
                return Err(SweepError::Output(format!(
                    "{}: holds the output of another experiment (hash {old_hash}, this one is {}); \
                     use another --out, or --force to replace it",
                    dir.display(),
                    exp.hash
                )));
            }
            for sub in ["runs", "charts"] {
                let _ = std::fs::remove_dir_all(dir.join(sub));
            }
            for f in ["summary.json", "summary.csv", "compare.csv", "manifest.json", "report.html"] {
                let _ = std::fs::remove_file(dir.join(f));
            }
        }
    }
    let manifest = json!({
        "experiment": exp.spec,
        "experiment_file": exp.file,
        "hash": exp.hash,
        "ddsim_version": env!("CARGO_PKG_VERSION"),
        "seeds": exp.seeds,
        "points": exp.points.iter().map(|p| json!({
            "index": p.index, "id": p.id, "params": p.params.iter().cloned().collect::<serde_json::Map<_, _>>(),
            "labels": p.labels, "model": p.model.to_value(),
        })).collect::<Vec<_>>(),
    });
    write_json(&manifest_path, &manifest)
        .map_err(|e| SweepError::Output(format!("{}: cannot write: {e}", manifest_path.display())))?;

    // Which runs are done already (same experiment hash, results present and readable).
    let done = |p: usize, r: usize| {
        read_results(&dir.join(exp.run_dir(p, r)).join("results.json"))
            .is_some_and(|d| d["seed"].as_u64() == Some(exp.seeds[r]))
    };
    // Rounds: every point's first `min` runs; then, in a sequential experiment, a batch more
    // at each point not yet precise enough, until none is left or all reach `max`. Decisions
    // are made on whole rounds, so they do not depend on the thread count.
    let mut wanted: Vec<usize> = vec![exp.spec.replications.min() as usize; exp.points.len()];
    let mut have: Vec<usize> = vec![0; exp.points.len()];
    let (mut total, mut skipped) = (0usize, 0usize);
    let failures = Mutex::new(vec![]);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let pool = match opts.threads {
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| SweepError::Output(format!("cannot start {n} threads: {e}")))?,
        ),
        None => None,
    };
    for round in 0.. {
        let all: Vec<(usize, usize)> =
            (0..exp.points.len()).flat_map(|p| (have[p]..wanted[p]).map(move |r| (p, r))).collect();
        let pending: Vec<(usize, usize)> = all.iter().copied().filter(|&(p, r)| !done(p, r)).collect();
        total += all.len();
        skipped += all.len() - pending.len();
        if round == 0 {
            progress.start(all.len(), all.len() - pending.len());
        } else {
            progress.more(all.len(), all.len() - pending.len());
        }
        have.clone_from(&wanted);
        let work = || {
            pending.par_iter().for_each(|&(p, r)| {
                if opts.cancel.load(Ordering::Relaxed) {
                    return;
                }
                let point = &exp.points[p];
                let seed = exp.seeds[r];
                let params = json!({
                    "experiment": exp.spec.name, "point": point.id, "replication": r,
                    "values": point.params.iter().cloned().collect::<serde_json::Map<_, _>>(),
                });
                let run_opts = RunOptions { cancel: Some(opts.cancel.clone()), ..Default::default() };
                let fail = |error: String| {
                    failures.lock().expect("no panics while held").push(Failure {
                        point: point.id.clone(),
                        replication: r,
                        seed,
                        error,
                    });
                    progress.run_finished(&point.id, r, false);
                };
                match run_model(&point.model, seed, params, run_opts) {
                    Ok((doc, _)) => {
                        let run_dir = dir.join(exp.run_dir(p, r));
                        let res = std::fs::create_dir_all(&run_dir)
                            .and_then(|_| write_json(&run_dir.join("results.json"), &doc));
                        match res {
                            Ok(()) => {
                                ran.fetch_add(1, Ordering::Relaxed);
                                progress.run_finished(&point.id, r, true);
                            }
                            Err(e) => fail(format!("cannot write results: {e}")),
                        }
                    }
                    Err(RunError::Cancelled) => {}
                    Err(e) => fail(e.to_string()),
                }
            })
        };
        match &pool {
            Some(p) => p.install(work),
            None => work(),
        }
        if opts.cancel.load(Ordering::Relaxed) {
            break;
        }
        let Replications::Sequential(q) = &exp.spec.replications else { break };
        let batch = q.batch.unwrap_or(q.min) as usize;
        let mut more = false;
        for p in 0..exp.points.len() {
            if have[p] < q.max as usize && !precise(exp, &dir, p, have[p], &q.until) {
                wanted[p] = (have[p] + batch).min(q.max as usize);
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    let mut failures = failures.into_inner().expect("workers finished");
    failures.sort_by(|a, b| (&a.point, a.replication).cmp(&(&b.point, b.replication)));
    let cancelled = opts.cancel.load(Ordering::Relaxed);
    let summary = if cancelled {
        None
    } else {
        let results: Vec<Vec<Option<RunResult>>> = (0..exp.points.len())
            .map(|p| {
                (0..exp.seeds.len())
                    .map(|r| {
                        read_results(&dir.join(exp.run_dir(p, r)).join("results.json"))
                            .and_then(|d| RunResult::from_doc(&d))
                    })
                    .collect()
            })
            .collect();
        let s = summarize(exp, &results);
        write_json(&dir.join("summary.json"), &s.json)
            .map_err(|e| SweepError::Output(format!("{}: cannot write summary.json: {e}", dir.display())))?;
        let mut w = csv::Writer::from_writer(vec![]);
        let csv_err = |e: csv::Error| SweepError::Output(format!("summary.csv: {e}"));
        w.write_record(&s.csv_header).map_err(csv_err)?;
        for row in &s.csv_rows {
            w.write_record(row).map_err(csv_err)?;
        }
        let bytes = w.into_inner().map_err(|e| SweepError::Output(format!("summary.csv: {e}")))?;
        write_atomic(&dir.join("summary.csv"), &bytes)
            .map_err(|e| SweepError::Output(format!("{}: cannot write summary.csv: {e}", dir.display())))?;
        if let Some(rows) = &s.compare_rows {
            let mut w = csv::Writer::from_writer(vec![]);
            w.write_record(super::compare::CSV_HEADER).map_err(csv_err)?;
            for row in rows {
                w.write_record(row).map_err(csv_err)?;
            }
            let bytes = w.into_inner().map_err(|e| SweepError::Output(format!("compare.csv: {e}")))?;
            write_atomic(&dir.join("compare.csv"), &bytes)
                .map_err(|e| SweepError::Output(format!("{}: cannot write compare.csv: {e}", dir.display())))?;
        }
        Some(s)
    };
    Ok(SweepReport { total, skipped, ran: ran.into_inner(), failures, cancelled, summary, out: dir })
}

/// Whether the first `n` runs of point `p` meet every precision target: the 95% interval of
/// each metric (a ratio taken per run) at most `rel_half_width` times its mean on either side.
/// A metric that is zero in every run is precise; one with fewer than two values is not.
fn precise(exp: &Experiment, dir: &Path, p: usize, n: usize, until: &[Precision]) -> bool {
    let runs: Vec<Value> =
        (0..n).filter_map(|r| read_results(&dir.join(exp.run_dir(p, r)).join("results.json"))).collect();
    until.iter().all(|u| {
        let value = |doc: &Value| -> Option<f64> {
            let m = &doc["metrics"];
            match u.metric.split_once('/') {
                Some((a, b)) => {
                    let (a, b) = (m[a.trim()].as_f64()?, m[b.trim()].as_f64()?);
                    if b != 0.0 { Some(a / b) } else { (a == 0.0).then_some(0.0) }
                }
                None => m[u.metric.trim()].as_f64(),
            }
        };
        let xs: Vec<f64> = runs.iter().filter_map(value).collect();
        let s = super::summary::describe(&xs);
        if xs.len() < 2 {
            return false;
        }
        let half = (s.ci95_high - s.ci95_low) / 2.0;
        half == 0.0 || half <= u.rel_half_width * s.mean.abs()
    })
}
