//! The search: the smallest feasible value of one variable, or the feasible frontier of two.
//!
//! More capacity is assumed never to hurt, so feasibility is monotone in each variable and
//! the smallest feasible value is found by an exponential search: evaluate the largest value
//! (if it is not feasible, nothing is), then the smallest, then gallop upwards with doubling
//! steps until a feasible one, then bisect between the last infeasible and the first feasible
//! value. A range of 1..5000 costs about 2·log2 of the answer candidates, and the
//! candidates far from the answer are cheap: their intervals clear the threshold with the first
//! replications. The value just below the answer (at the resolution) is always evaluated (the
//! bisection ends on it), so the result can say which target fails there.
//!
//! With two variables, the first is walked through its values in increasing order and the
//! second is searched at each, below the previous answer (monotone: more of the first never
//! needs more of the second), galloping down from that answer, since along a frontier the
//! answer rarely moves far: a line whose answer does not move costs two candidates, one
//! where nothing is feasible one. The frontier is the smallest feasible second value for each
//! first value; once it reaches the second variable's smallest value it stays there, and the
//! rest is inferred, not run. The cheapest frontier point by cost is the answer.
//!
//! The evidence is checked against the assumption afterwards: a candidate feasible where one
//! with more of every variable is not, or a target measurably worse with more capacity
//! (paired over common replications, at the plan's confidence, by more than 1% of its
//! threshold), is reported.
//!
//! A variable's `resolution` (default 1) ends the bisection once the bracket is that narrow:
//! near the threshold neighbouring values differ by less than the runs can tell, and each
//! would take the most replications to stay undecided.

use super::decide::{Feasibility, interval};
use super::exec::{Evaluator, PlanError};
use super::{Bound, Plan};

/// One point of a two-variable frontier.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontierPoint {
    pub first: i64,
    /// The smallest feasible second value, `None` if none in its range is.
    pub second: Option<i64>,
    /// Inferred from monotonicity (the frontier had reached the smallest second value).
    pub inferred: bool,
}

/// What a plan found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The chosen values (one per variable), `None` when nothing within the bounds is feasible.
    pub answer: Option<Vec<i64>>,
    /// With one variable: the candidate just below the answer (infeasible or undecided).
    pub below: Option<Vec<i64>>,
    /// With two variables.
    pub frontier: Vec<FrontierPoint>,
    /// When nothing is feasible: the most capacity tried (the corner of the largest values).
    pub at_max: Option<Vec<i64>>,
    /// Evidence against monotonicity, in words.
    pub contradictions: Vec<String>,
}

/// Runs the search.
pub fn run(ev: &mut Evaluator) -> Result<Outcome, PlanError> {
    let plan = ev.plan;
    let mut out = Outcome::default();
    match plan.vars.len() {
        1 => {
            let n = plan.vars[0].domain.len();
            match smallest_with_below(ev, &[], n - 1, false)? {
                Some((i, below)) => {
                    out.answer = Some(vec![plan.vars[0].domain.at(i)]);
                    out.below = below.map(|b| vec![plan.vars[0].domain.at(b)]);
                }
                None => out.at_max = Some(vec![plan.vars[0].domain.at(n - 1)]),
            }
        }
        _ => {
            let (a, b) = (&plan.vars[0].domain, &plan.vars[1].domain);
            let mut hi = b.len() - 1;
            let mut reached_floor = false;
            for i in 0..a.len() {
                let x = a.at(i);
                if reached_floor {
                    out.frontier.push(FrontierPoint { first: x, second: Some(b.at(0)), inferred: true });
                    continue;
                }
                // After the first answer, search down from it: along a frontier the answer
                // rarely moves far.
                let found = smallest(ev, &[x], hi, i > 0 && hi < b.len() - 1)?;
                if let Some(j) = found {
                    hi = j;
                    reached_floor = j == 0;
                }
                out.frontier.push(FrontierPoint { first: x, second: found.map(|j| b.at(j)), inferred: false });
            }
            // The cheapest point on the frontier (ties: the smaller first value).
            out.answer = out
                .frontier
                .iter()
                .filter_map(|p| p.second.map(|s| vec![p.first, s]))
                .map(|v| (plan.cost(&v), v))
                .min_by(|x, y| x.0.total_cmp(&y.0))
                .map(|(_, v)| v);
            if out.answer.is_none() {
                out.at_max = Some(vec![a.at(a.len() - 1), b.at(b.len() - 1)]);
            }
        }
    }
    out.contradictions = contradictions(plan, ev);
    Ok(out)
}

/// The smallest index of the last variable, at most `hi`, whose candidate (after `prefix`)
/// is feasible; `None` if not even `hi` is.
fn smallest(ev: &mut Evaluator, prefix: &[i64], hi: usize, from_top: bool) -> Result<Option<usize>, PlanError> {
    smallest_with_below(ev, prefix, hi, from_top).map(|r| r.map(|(good, _)| good))
}

/// As `smallest`, with the largest index evaluated below the answer (`None` at the bottom).
/// The most capacity (`hi`) is tried first: if it is not feasible, nothing is. Then either a
/// gallop upwards from the bottom (1, 2, 4, ... steps above it), or, `from_top` (a previous
/// answer is `hi`, as along a frontier, where the answer rarely moves far), a gallop downwards
/// from `hi`; then a bisection of the bracket down to the resolution.
fn smallest_with_below(
    ev: &mut Evaluator,
    prefix: &[i64],
    hi: usize,
    from_top: bool,
) -> Result<Option<(usize, Option<usize>)>, PlanError> {
    let plan = ev.plan;
    let var = &plan.vars[prefix.len()];
    let at = |i: usize| -> Vec<i64> { prefix.iter().copied().chain([var.domain.at(i)]).collect() };
    let fixed = if prefix.is_empty() { String::new() } else { format!("{}, ", super::describe(&plan.vars, prefix)) };
    let label = |lo: String, hi: String| format!("{fixed}{} in ({lo}, {hi}]", var.name);
    // The smallest step worth taking: the resolution, in indices of a range.
    let unit = match var.domain {
        super::Domain::Range(..) => var.resolution.max(1) as usize,
        super::Domain::List(_) => 1,
    };
    ev.bracket = label("-".into(), var.domain.at(hi).to_string());
    if !ev.feasible(&at(hi))? {
        return Ok(None);
    }
    let (mut bad, mut good): (Option<usize>, usize) = (None, hi);
    if from_top {
        // Down from `hi` in doubling steps until an infeasible value.
        let mut step = unit;
        while good > 0 {
            let x = good.saturating_sub(step);
            ev.bracket = label("-".into(), var.domain.at(good).to_string());
            if ev.feasible(&at(x))? {
                good = x;
                step *= 2;
            } else {
                bad = Some(x);
                break;
            }
        }
    } else {
        // Up from the bottom: 0, then 1, 2, 4, ... above it.
        let mut step = unit;
        let mut x = 0usize;
        while x < good {
            ev.bracket =
                label(bad.map_or("-".into(), |b| var.domain.at(b).to_string()), var.domain.at(good).to_string());
            if ev.feasible(&at(x))? {
                good = x;
                break;
            }
            bad = Some(x);
            x = (x + step).min(good);
            step *= 2;
        }
    }
    let Some(mut bad) = bad else { return Ok(Some((good, None))) };
    // Bisect (bad, good] down to the resolution.
    while good - bad > 1 && var.domain.at(good) - var.domain.at(bad) > var.resolution {
        let mid = bad + (good - bad) / 2;
        ev.bracket = label(var.domain.at(bad).to_string(), var.domain.at(good).to_string());
        if ev.feasible(&at(mid))? {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Ok(Some((good, Some(bad))))
}

/// Evidence against "more capacity never hurts" among the candidates evaluated.
fn contradictions(plan: &Plan, ev: &Evaluator) -> Vec<String> {
    let mut out = vec![];
    let cands: Vec<&super::exec::Candidate> = ev.order.iter().map(|v| &ev.evaluated[v]).collect();
    let le = |a: &[i64], b: &[i64]| a.iter().zip(b).all(|(x, y)| x <= y);
    for a in &cands {
        for b in &cands {
            if a.values == b.values || !le(&a.values, &b.values) {
                continue;
            }
            if a.verdict == Feasibility::Feasible && b.verdict == Feasibility::Infeasible {
                out.push(format!("{} is feasible but {} is not", ev.describe(&a.values), ev.describe(&b.values)));
            }
        }
    }
    // Neighbours along each variable (the others equal): is a target measurably worse with
    // more capacity? Paired over the replications both have.
    for (k, var) in plan.vars.iter().enumerate() {
        // Grouped by the other variables, in order of this one.
        let mut line: Vec<&&super::exec::Candidate> = cands.iter().collect();
        line.sort_by_key(|c| {
            let mut key: Vec<i64> = c.values.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, x)| *x).collect();
            key.push(c.values[k]);
            key
        });
        for w in line.windows(2) {
            let (a, b) = (w[0], w[1]);
            let same_rest = a.values.iter().zip(&b.values).enumerate().all(|(i, (x, y))| i == k || x == y);
            if !same_rest || a.values[k] >= b.values[k] {
                continue;
            }
            for target in &plan.targets {
                let n = a.runs.len().min(b.runs.len());
                let d: Vec<f64> =
                    (0..n).filter_map(|r| Some(target.value(&b.runs[r])? - target.value(&a.runs[r])?)).collect();
                if d.len() < 2 {
                    continue;
                }
                let (mean, _, lo, hi) = interval(&d, plan.spec.confidence);
                // Measurably worse, and by a margin that matters against the threshold (1% of
                // it): a utilisation that rises by 10^-5 with a larger store is not news.
                let material = 0.01 * target.bound.threshold().abs();
                let worse = match target.bound {
                    Bound::Max(_) => lo > 0.0 && mean > material,
                    Bound::Min(_) => hi < 0.0 && -mean > material,
                };
                if worse {
                    out.push(format!(
                        "{} is worse at {} = {} than at {} (paired difference {mean:+.4}, interval {lo:.4} to {hi:.4})",
                        target.metric, var.path, b.values[k], a.values[k]
                    ));
                }
            }
        }
    }
    out
}
