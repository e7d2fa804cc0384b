//! Running an experiment: every run in parallel on a rayon pool, each single-threaded and
//! deterministic; results written atomically, one directory per run; a re-run of the same
//! experiment skips the runs already done, and refuses to mix with another experiment's output.
//! A shard runs its share of the runs only (see `shard.rs`); the summary is written by
//! whichever finds every run present: the sweep itself, or `collect` after the shards.

use super::shard::Shard;
use super::summary::{RunResult, Summary, summarize};
use super::{Experiment, Precision, Replications};
use crate::output::{OutDir, json_bytes, publish_dir, write_atomic, write_json};
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
    /// Run only this shard's runs, and write no summary.
    pub shard: Option<Shard>,
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
    /// None when cancelled or a shard (no summary is written then).
    pub summary: Option<Summary>,
    pub out: PathBuf,
}

/// Errors that stop a sweep before any run: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Output(String),
}

pub(super) fn read_results(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether run `r` of point `p` is done in `dir`: its results present, readable and of the
/// replication's seed.
pub fn is_done(exp: &Experiment, dir: &Path, p: usize, r: usize) -> bool {
    read_results(&dir.join(exp.run_dir(p, r)).join("results.json"))
        .is_some_and(|d| d["seed"].as_u64() == Some(exp.seeds[r]))
}

/// Checks that `dir` holds no other experiment's output (by the hash in its manifest): an
/// error naming both hashes, or whether a manifest of this experiment is there. Writes nothing.
pub fn check_output(exp: &Experiment, dir: &Path) -> Result<bool, SweepError> {
    let Some(old) = read_results(&dir.join("manifest.json")) else { return Ok(false) };
    let old_hash = old["hash"].as_str().unwrap_or("");
    if old_hash != exp.hash {
        return Err(SweepError::Output(format!(
            "{}: holds the output of another experiment (hash {old_hash}, this one is {}); \
             use another --out, or --force to replace it",
            dir.display(),
            exp.hash
        )));
    }
    Ok(true)
}

/// Makes `dir` ready for the runs of `exp`: refuses another experiment's output (or, with
/// `force`, removes it), then writes the manifest unless the same one is there already (every
/// shard of a sweep calls this; the manifest is written atomically, so shards racing to
/// write it leave one whole copy).
pub fn prepare_output(exp: &Experiment, dir: &Path, force: bool) -> Result<(), SweepError> {
    let manifest_path = dir.join("manifest.json");
    if let Err(e) = check_output(exp, dir) {
        if !force {
            return Err(e);
        }
        for sub in ["runs", "charts"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
        for f in ["summary.json", "summary.csv", "compare.csv", "manifest.json", "report.html"] {
            let _ = std::fs::remove_file(dir.join(f));
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
    // What a shard killed while publishing left behind.
    crate::output::remove_stale_output_temps(dir);
    let bytes = json_bytes(&manifest);
    if std::fs::read(&manifest_path).ok().as_deref() != Some(bytes.as_slice()) {
        write_atomic(&manifest_path, &bytes)
            .map_err(|e| SweepError::Output(format!("{}: cannot write: {e}", manifest_path.display())))?;
    }
    Ok(())
}

/// Runs an experiment into `opts.out`.
/// A pool of `threads` workers, or `None` for rayon's global pool (every core).
pub fn thread_pool(threads: Option<usize>) -> Result<Option<rayon::ThreadPool>, String> {
    threads
        .map(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| format!("cannot start {n} threads: {e}"))
        })
        .transpose()
}

pub fn sweep(exp: &Experiment, opts: &SweepOptions, progress: &dyn Progress) -> Result<SweepReport, SweepError> {
    if opts.shard.is_some() {
        super::shard::shardable(exp).map_err(SweepError::Output)?;
    }
    let out = OutDir::prepare(&opts.out).map_err(|e| SweepError::Output(format!("{}: {e}", opts.out.display())))?;
    let dir = out.path.clone();
    prepare_output(exp, &dir, opts.force)?;

    // Which runs are done already (same experiment hash, results present and readable).
    let done = |p: usize, r: usize| is_done(exp, &dir, p, r);
    // Rounds: every point's first `min` runs; then, in a sequential experiment, a batch more
    // at each point not yet precise enough, until none is left or all reach `max`. Decisions
    // are made on whole rounds, so they do not depend on the thread count.
    let mut wanted: Vec<usize> = vec![exp.spec.replications.min() as usize; exp.points.len()];
    let mut have: Vec<usize> = vec![0; exp.points.len()];
    let (mut total, mut skipped) = (0usize, 0usize);
    let failures = Mutex::new(vec![]);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let pool = thread_pool(opts.threads).map_err(SweepError::Output)?;
    for round in 0.. {
        let all: Vec<(usize, usize)> = (0..exp.points.len())
            .flat_map(|p| (have[p]..wanted[p]).map(move |r| (p, r)))
            .filter(|&(p, r)| opts.shard.is_none_or(|s| s.takes(exp, p, r)))
            .collect();
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
                        // The run's directory appears whole or not at all; if another process
                        // (a second copy of a shard) published the same run first, its copy,
                        // identical but for the wall time, is kept.
                        let run_dir = dir.join(exp.run_dir(p, r));
                        match publish_dir(&run_dir, "results.json", &json_bytes(&doc)) {
                            Ok(_) => {
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
    let summary = if cancelled || opts.shard.is_some() { None } else { Some(write_summary(exp, &dir)?) };
    Ok(SweepReport { total, skipped, ran: ran.into_inner(), failures, cancelled, summary, out: dir })
}

/// Summarises the runs of `exp` in `dir` (missing or failed runs are left out) and writes
/// `summary.json`, `summary.csv` and, with a `compare` block, `compare.csv`.
pub fn write_summary(exp: &Experiment, dir: &Path) -> Result<Summary, SweepError> {
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
    let csv_err = |e: csv::Error| SweepError::Output(format!("summary.csv: {e}"));
    let mut w = csv::Writer::from_writer(vec![]);
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
    Ok(s)
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
