//! Evaluating candidates: their runs, cached on disk, and the sequential decision.
//!
//! A run is `runs/<candidate>-r<k>/results.json` in the plan's output directory, as in a
//! sweep, and counts as done only if it holds the candidate's model and replication k's seed:
//! re-running a plan re-runs nothing, and a wider range or more replications re-use every run
//! already done. The runs of one batch go in parallel; the batch's size comes from the plan,
//! and results are taken in replication order, so no decision depends on the thread count.

use super::decide::{Feasibility, TargetStat, judge, overall};
use super::{Plan, describe};
use crate::model::{Model, ModelError};
use crate::output::write_json;
use crate::sim::{RunError, RunOptions, run_model};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A candidate evaluated: its replications' metrics and the decision.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub values: Vec<i64>,
    pub id: String,
    /// `metrics` of each replication done, in replication order.
    pub runs: Vec<Map<String, Value>>,
    pub stats: Vec<TargetStat>,
    pub verdict: Feasibility,
}

impl Candidate {
    /// The per-replication values of target `t` (replications without a value left out).
    pub fn values_of(&self, plan: &Plan, t: usize) -> Vec<f64> {
        self.runs.iter().filter_map(|m| plan.targets[t].value(m)).collect()
    }
}

/// Why a plan stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Input(#[from] ModelError),
    #[error("{0}")]
    Output(String),
    #[error("run {candidate}-r{replication} (seed {seed}) failed: {error}")]
    RunFailed { candidate: String, replication: usize, seed: u64, error: String },
    #[error("interrupted")]
    Cancelled,
}

/// Told about progress; called from worker threads for runs.
pub trait PlanProgress: Sync {
    /// A candidate is being evaluated, within the bracket the search has narrowed to.
    fn candidate(&self, id: &str, bracket: &str);
    /// A run finished (or was found done).
    fn run(&self, reused: bool);
    /// A candidate was decided.
    fn decided(&self, c: &Candidate);
}

/// No progress reports (tests, quiet runs).
pub struct Silent;
impl PlanProgress for Silent {
    fn candidate(&self, _: &str, _: &str) {}
    fn run(&self, _: bool) {}
    fn decided(&self, _: &Candidate) {}
}

pub struct Evaluator<'a> {
    pub plan: &'a Plan,
    dir: PathBuf,
    cancel: Arc<AtomicBool>,
    pool: Option<rayon::ThreadPool>,
    progress: &'a dyn PlanProgress,
    /// Every candidate evaluated, by values, and the order they were evaluated in.
    pub evaluated: BTreeMap<Vec<i64>, Candidate>,
    pub order: Vec<Vec<i64>>,
    pub runs_ran: usize,
    pub runs_reused: usize,
    /// What the search is narrowing, for progress reports.
    pub bracket: String,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        plan: &'a Plan,
        dir: &Path,
        threads: Option<usize>,
        cancel: Arc<AtomicBool>,
        progress: &'a dyn PlanProgress,
    ) -> Result<Evaluator<'a>, PlanError> {
        let pool = crate::experiment::exec::thread_pool(threads).map_err(PlanError::Output)?;
        Ok(Evaluator {
            plan,
            dir: dir.to_path_buf(),
            cancel,
            pool,
            progress,
            evaluated: BTreeMap::new(),
            order: vec![],
            runs_ran: 0,
            runs_reused: 0,
            bracket: String::new(),
        })
    }

    /// Whether a candidate is feasible (undecided counts as not), evaluating it if needed.
    pub fn feasible(&mut self, values: &[i64]) -> Result<bool, PlanError> {
        Ok(self.evaluate(values)?.verdict == Feasibility::Feasible)
    }

    /// Evaluates a candidate (once): `min` replications, then batches until decided or `max`.
    pub fn evaluate(&mut self, values: &[i64]) -> Result<&Candidate, PlanError> {
        if !self.evaluated.contains_key(values) {
            let plan = self.plan;
            let model = plan.model(values)?;
            let id = plan.id(values);
            self.progress.candidate(&id, &self.bracket);
            let mut runs: Vec<Map<String, Value>> = vec![];
            let mut n = plan.min_reps;
            let (stats, verdict) = loop {
                let more = self.runs(&model, values, &id, runs.len(), n)?;
                runs.extend(more);
                let stats: Vec<TargetStat> = (0..plan.targets.len())
                    .map(|t| {
                        let xs: Vec<f64> = runs.iter().filter_map(|m| plan.targets[t].value(m)).collect();
                        judge(&plan.targets[t], &xs, plan.spec.confidence)
                    })
                    .collect();
                let verdict = overall(&stats);
                if verdict != Feasibility::Undecided || n >= plan.max_reps {
                    break (stats, verdict);
                }
                n = (n + plan.batch).min(plan.max_reps);
            };
            let c = Candidate { values: values.to_vec(), id, runs, stats, verdict };
            self.progress.decided(&c);
            self.evaluated.insert(values.to_vec(), c);
            self.order.push(values.to_vec());
        }
        Ok(&self.evaluated[values])
    }

    /// The metrics of replications `from..to` of a candidate: from the cache, or run (in
    /// parallel) and written to it.
    fn runs(
        &mut self,
        model: &Model,
        values: &[i64],
        id: &str,
        from: usize,
        to: usize,
    ) -> Result<Vec<Map<String, Value>>, PlanError> {
        let plan = self.plan;
        let model_value = model.to_value();
        let dir = &self.dir;
        let cancel = &self.cancel;
        let progress = self.progress;
        let one = |k: usize| -> Result<(Map<String, Value>, bool), PlanError> {
            let seed = plan.seeds[k];
            let path = dir.join("runs").join(format!("{id}-r{k}")).join("results.json");
            if let Some(doc) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok())
                && doc["seed"].as_u64() == Some(seed)
                && doc["model"] == model_value
                && let Some(m) = doc["metrics"].as_object()
            {
                progress.run(true);
                return Ok((m.clone(), true));
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(PlanError::Cancelled);
            }
            let params = json!({
                "plan": plan.spec.name, "candidate": id, "replication": k,
                "values": plan.vars.iter().zip(values).map(|(v, x)| (v.path.clone(), json!(x))).collect::<Map<_, _>>(),
            });
            let opts = RunOptions { cancel: Some(cancel.clone()), ..Default::default() };
            let doc = match run_model(model, seed, params, opts) {
                Ok((doc, _)) => doc,
                Err(RunError::Cancelled) => return Err(PlanError::Cancelled),
                Err(e) => {
                    return Err(PlanError::RunFailed {
                        candidate: id.to_string(),
                        replication: k,
                        seed,
                        error: e.to_string(),
                    });
                }
            };
            let parent = path.parent().expect("a run directory");
            std::fs::create_dir_all(parent)
                .and_then(|_| write_json(&path, &doc))
                .map_err(|e| PlanError::Output(format!("{}: cannot write: {e}", path.display())))?;
            progress.run(false);
            Ok((doc["metrics"].as_object().cloned().unwrap_or_default(), false))
        };
        let work = || (from..to).into_par_iter().map(one).collect::<Vec<_>>();
        let results = match &self.pool {
            Some(p) => p.install(work),
            None => work(),
        };
        let mut out = Vec::with_capacity(to - from);
        // The first error in replication order (a cancel wins over the others).
        if results.iter().any(|r| matches!(r, Err(PlanError::Cancelled))) {
            return Err(PlanError::Cancelled);
        }
        for r in results {
            let (m, reused) = r?;
            if reused {
                self.runs_reused += 1;
            } else {
                self.runs_ran += 1;
            }
            out.push(m);
        }
        Ok(out)
    }

    /// `policy.store.per_session = 300` for a candidate.
    pub fn describe(&self, values: &[i64]) -> String {
        describe(&self.plan.vars, values)
    }
}
