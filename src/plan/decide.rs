//! Deciding a candidate from its replications.
//!
//! For each target, the mean over the replications done and its two-sided Student-t interval
//! at the plan's `confidence`: the target is **met** when the interval lies wholly on the good
//! side of the threshold (for `max`, its upper end at or below it), **missed** when it lies
//! wholly on the bad side, and **undecided** otherwise. A candidate is feasible when every
//! target is met, infeasible as soon as one is missed, undecided otherwise; an undecided
//! candidate gets more replications until `max`, and then counts as not feasible.
//!
//! What the confidence means: each decision about one target at one candidate rests on an
//! interval that covers the true mean with the stated probability at a fixed number of
//! replications; it is one-sided at (1 + confidence) / 2 (a met `max` target at 95% has its
//! mean below the threshold with 97.5% confidence). It is not a joint statement over targets
//! or candidates, and the sequential looks (an interval recomputed after each batch, stopping
//! at the first decisive one) make the real error somewhat larger than nominal, as for any
//! sequential procedure without a spending rule (Law & Kelton, "Simulation Modeling and
//! Analysis", on sequential procedures). A larger `replications.min` and batches limit the
//! looks.

use super::{Bound, Target};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A target at one candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    Undecided,
}

/// A candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feasibility {
    Feasible,
    Infeasible,
    Undecided,
}

impl Feasibility {
    pub fn word(&self) -> &'static str {
        match self {
            Feasibility::Feasible => "feasible",
            Feasibility::Infeasible => "infeasible",
            Feasibility::Undecided => "undecided",
        }
    }
}

/// One target's statistics at a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TargetStat {
    /// Replications with a value.
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub verdict: Verdict,
}

/// The `(1 + confidence) / 2` quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile(confidence: f64, df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map(|t| t.inverse_cdf((1.0 + confidence) / 2.0)).unwrap_or(f64::NAN)
}

/// Mean and the two-sided interval at `confidence` of `xs` (NaN bounds below two values).
pub fn interval(xs: &[f64], confidence: f64) -> (f64, f64, f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NAN, f64::NAN, f64::NAN);
    }
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let half = t_quantile(confidence, n - 1) * std / (n as f64).sqrt();
    (mean, std, mean - half, mean + half)
}

/// Judges one target from its per-replication values.
pub fn judge(target: &Target, values: &[f64], confidence: f64) -> TargetStat {
    let (mean, std, lo, hi) = interval(values, confidence);
    let verdict = if values.len() < 2 {
        Verdict::Undecided
    } else {
        match target.bound {
            Bound::Max(t) if hi <= t => Verdict::Met,
            Bound::Max(t) if lo > t => Verdict::Missed,
            Bound::Min(t) if lo >= t => Verdict::Met,
            Bound::Min(t) if hi < t => Verdict::Missed,
            _ => Verdict::Undecided,
        }
    };
    TargetStat { n: values.len(), mean, std, ci_low: lo, ci_high: hi, verdict }
}

/// A candidate from its targets: infeasible if one is missed, feasible if all are met.
pub fn overall(stats: &[TargetStat]) -> Feasibility {
    if stats.iter().any(|s| s.verdict == Verdict::Missed) {
        Feasibility::Infeasible
    } else if stats.iter().all(|s| s.verdict == Verdict::Met) {
        Feasibility::Feasible
    } else {
        Feasibility::Undecided
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Expr;

    fn target(bound: Bound) -> Target {
        Target { metric: "m".into(), expr: Expr::Metric("m".into()), bound }
    }

    #[test]
    fn a_target_is_decided_only_when_its_interval_clears_the_threshold() {
        // Mean 1.0, s = 0.0816, n = 4: the 95% half-width is t(0.975, 3) * 0.0816 / 2 = 0.130.
        let xs = [0.9, 1.0, 1.0, 1.1];
        let s = sqrt_check(&xs);
        assert!((s.std - 0.081_65).abs() < 1e-4 && (s.ci_high - 1.1299).abs() < 1e-3, "{s:?}");
        assert_eq!(judge(&target(Bound::Max(1.2)), &xs, 0.95).verdict, Verdict::Met);
        assert_eq!(judge(&target(Bound::Max(1.1)), &xs, 0.95).verdict, Verdict::Undecided);
        assert_eq!(judge(&target(Bound::Max(0.8)), &xs, 0.95).verdict, Verdict::Missed);
        assert_eq!(judge(&target(Bound::Min(0.8)), &xs, 0.95).verdict, Verdict::Met);
        assert_eq!(judge(&target(Bound::Min(1.2)), &xs, 0.95).verdict, Verdict::Missed);
        // A higher confidence widens the interval: 1.1 is undecided, 1.2 too at 99.9%.
        assert_eq!(judge(&target(Bound::Max(1.2)), &xs, 0.999).verdict, Verdict::Undecided);
        // Identical runs (no loss at all, say) decide at once; one run never does.
        assert_eq!(judge(&target(Bound::Max(0.0)), &[0.0, 0.0], 0.95).verdict, Verdict::Met);
        assert_eq!(judge(&target(Bound::Max(5.0)), &[0.0], 0.95).verdict, Verdict::Undecided);
    }

    fn sqrt_check(xs: &[f64]) -> TargetStat {
        judge(&target(Bound::Max(10.0)), xs, 0.95)
    }

    #[test]
    fn one_missed_target_makes_a_candidate_infeasible() {
        let s = |verdict| TargetStat { n: 3, mean: 0.0, std: 0.0, ci_low: 0.0, ci_high: 0.0, verdict };
        assert_eq!(overall(&[s(Verdict::Met), s(Verdict::Met)]), Feasibility::Feasible);
        assert_eq!(overall(&[s(Verdict::Met), s(Verdict::Undecided)]), Feasibility::Undecided);
        assert_eq!(overall(&[s(Verdict::Undecided), s(Verdict::Missed)]), Feasibility::Infeasible);
    }
}
