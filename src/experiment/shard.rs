//! Shards: an experiment's runs split among N processes (the tasks of a Slurm job array, the
//! pods of a Kubernetes indexed Job) that share one output directory, and the collection of
//! their results once every run is present.
//!
//! The assignment is fixed: the runs in the experiment's canonical order (point by point, each
//! point's replications in order: run k is replication `k mod R` of point `k div R`, R
//! replications) go round-robin, run k to shard `k mod N`. Each shard gets ⌊P·R/N⌋ or ⌈P·R/N⌉
//! runs, and, since a point's runs are consecutive, ⌊R/N⌋ or ⌈R/N⌉ of every point: expensive
//! points are spread over all shards.

use super::exec::{SweepError, check_output, is_done, write_summary};
use super::summary::Summary;
use super::{Experiment, Replications};
use std::path::Path;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Reads `I/N`, `slurm` (I and N from `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`)
    /// or `k8s:N` (I from `JOB_COMPLETION_INDEX`); `env` looks variables up. Errors are one
    /// line, without the `--shard` prefix.
    pub fn parse(spec: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let var = |name: &str| -> Result<usize, String> {
            let v = env(name).ok_or_else(|| format!("{name} is not set (is this a task of a job array?)"))?;
            v.trim().parse().map_err(|_| format!("{name}={v} is not a whole number"))
        };
        let number = |what: &str, s: &str| -> Result<usize, String> {
            s.trim().parse().map_err(|_| format!("expected I/N, slurm or k8s:N; {what} \"{s}\" is not a whole number"))
        };
        let (index, count) = if spec == "slurm" {
            let (i, n) = (var("SLURM_ARRAY_TASK_ID")?, var("SLURM_ARRAY_TASK_COUNT")?);
            // An array re-submitted for some indices only (--array=1,3) has fewer tasks than
            // shards: its count is not N.
            if let Ok(max) = var("SLURM_ARRAY_TASK_MAX")
                && max >= n
            {
                return Err(format!(
                    "the array has {n} tasks but indices up to {max} (a re-submission of some \
                     indices?); give N: --shard $SLURM_ARRAY_TASK_ID/N"
                ));
            }
            (i, n)
        } else if let Some(n) = spec.strip_prefix("k8s:") {
            (var("JOB_COMPLETION_INDEX")?, number("N", n)?)
        } else if let Some((i, n)) = spec.split_once('/') {
            (number("I", i)?, number("N", n)?)
        } else {
            return Err(format!("expected I/N (shard I of N, from 0), slurm or k8s:N, got \"{spec}\""));
        };
        if count == 0 {
            return Err("N must be at least 1".into());
        }
        if index >= count {
            return Err(format!("shard {index} of {count}: I must be below N (shards count from 0)"));
        }
        Ok(Shard { index, count })
    }

    /// Whether run `r` of point `p` is this shard's.
    pub fn takes(&self, exp: &Experiment, p: usize, r: usize) -> bool {
        shard_of(exp, p, r, self.count) == self.index
    }
}

/// The shard of N that runs replication `r` of point `p`.
pub fn shard_of(exp: &Experiment, p: usize, r: usize, n: usize) -> usize {
    (p * exp.seeds.len() + r) % n
}

/// Sharding needs every run known in advance: a sequential experiment decides its later runs
/// from the earlier ones' results, so it is refused (it runs with `ddsim sweep` on one machine).
pub fn shardable(exp: &Experiment) -> Result<(), String> {
    match &exp.spec.replications {
        Replications::Fixed(_) => Ok(()),
        Replications::Sequential(_) => Err(format!(
            "{}: sequential replications ({{min, max, until}}) decide each round's runs from the \
             last round's results, so they cannot be split into shards in advance; give a fixed \
             number of replications, or run it with ddsim sweep on one machine",
            exp.file
        )),
    }
}

/// What `collect` found.
pub enum Collected {
    /// Every run was present: the summary was written.
    Complete(Summary),
    /// These runs (point, replication) are missing; nothing was written.
    Missing(Vec<(usize, usize)>),
}

/// The runs of `exp` not done in `dir`, in canonical order.
pub fn missing(exp: &Experiment, dir: &Path) -> Vec<(usize, usize)> {
    (0..exp.points.len())
        .flat_map(|p| (0..exp.seeds.len()).map(move |r| (p, r)))
        .filter(|&(p, r)| !is_done(exp, dir, p, r))
        .collect()
}

/// Writes the summary of `dir` once every run of `exp` is present; otherwise names the
/// missing runs and writes nothing. Refuses a directory holding another experiment's output.
pub fn collect(exp: &Experiment, dir: &Path) -> Result<Collected, SweepError> {
    shardable(exp).map_err(SweepError::Output)?;
    check_output(exp, dir)?;
    let gone = missing(exp, dir);
    if !gone.is_empty() {
        return Ok(Collected::Missing(gone));
    }
    Ok(Collected::Complete(write_summary(exp, dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn shard_specs_are_read_from_the_argument_or_the_scheduler() {
        assert_eq!(Shard::parse("1/4", env(&[])), Ok(Shard { index: 1, count: 4 }));
        let slurm =
            env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3"), ("SLURM_ARRAY_TASK_MAX", "2")]);
        assert_eq!(Shard::parse("slurm", slurm), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("k8s:5", env(&[("JOB_COMPLETION_INDEX", "4")])), Ok(Shard { index: 4, count: 5 }));
        for (spec, vars, needle) in [
            ("4/4", vec![], "below N"),
            ("0/0", vec![], "at least 1"),
            ("a/4", vec![], "\"a\" is not a whole number"),
            ("-1/4", vec![], "not a whole number"),
            ("3", vec![], "expected I/N"),
            ("slurm", vec![("SLURM_ARRAY_TASK_ID", "1")], "SLURM_ARRAY_TASK_COUNT is not set"),
            ("slurm", vec![("SLURM_ARRAY_TASK_COUNT", "2")], "SLURM_ARRAY_TASK_ID is not set"),
            (
                "slurm",
                vec![("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "2"), ("SLURM_ARRAY_TASK_MAX", "3")],
                "re-submission",
            ),
            ("k8s:3", vec![], "JOB_COMPLETION_INDEX is not set"),
            ("k8s:3", vec![("JOB_COMPLETION_INDEX", "3")], "below N"),
        ] {
            let e = Shard::parse(spec, env(&vars)).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
