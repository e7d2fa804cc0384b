//! Comparing several policies at once (`compare` in an experiment): every pairwise paired
//! difference among the chosen points with multiplicity-adjusted intervals, which points are
//! indistinguishable from the best, and one-sided bounds against declared targets.
//!
//! - **Pairs.** For each metric and each pair of points, the mean paired difference over the
//!   replications both have (common random numbers) with a Bonferroni interval: each of the
//!   m = k(k-1)/2 intervals at 1 - 0.05/m, so that all of them hold together with at least
//!   95% probability. Its two-sided paired-t p-value, and the Holm step-down adjustment of the
//!   m p-values (Holm 1979), which decides "different" at 5% family-wise with more power than
//!   Bonferroni.
//! - **The best.** A subset that contains the best point (lowest or highest mean, as the metric
//!   says) with probability at least 95%: the screening procedure of Nelson, Swann, Goldsman
//!   and Song (2001), "Simple procedures for selecting the best simulated system when the
//!   number of alternatives is large", Operations Research 49(6), in its form for common
//!   random numbers: point i stays unless some j beats it by more than
//!   W_ij = t(1 - 0.05/(k-1), n_ij - 1) · S_ij / sqrt(n_ij), where S_ij is the standard
//!   deviation of the paired differences. A metric where one point is clearly best yields a
//!   subset of one.
//! - **Targets.** With `max` (or `min`), each point's one-sided 95% upper (lower) bound on the
//!   mean, and whether it meets the target.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use statrs::distribution::{ContinuousCDF, StudentsT};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// The points compared (ids, or objects of varied values, as `baseline`); default all.
    #[serde(default)]
    pub points: Vec<Value>,
    pub metrics: Vec<CompareMetric>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareMetric {
    /// A metric, or a ratio `a/b` taken per run.
    pub metric: String,
    /// `lower` or `higher`: which direction is better.
    pub better: Better,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

fn t_at(p: f64, df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map(|t| t.inverse_cdf(p)).unwrap_or(f64::NAN)
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd =
        if xs.len() > 1 { (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { f64::NAN };
    (mean, sd)
}

fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// One pairwise comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub n: usize,
    /// Mean of a - b.
    pub mean: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
    pub p_holm: f64,
}

/// Compares the points on one metric: `values[i][r]` is replication r of point i (None where
/// it has none). Returns the pairs, the indices of the subset containing the best, and the
/// one-sided bounds.
pub fn compare(values: &[Vec<Option<f64>>], better: Better) -> (Vec<Pair>, Vec<usize>) {
    let k = values.len();
    let m = k * (k - 1) / 2;
    let paired = |i: usize, j: usize| -> Vec<f64> {
        values[i].iter().zip(&values[j]).filter_map(|(a, b)| Some((*a)? - (*b)?)).collect()
    };
    let mut pairs = vec![];
    for i in 0..k {
        for j in i + 1..k {
            let d = paired(i, j);
            let n = d.len();
            let (mean, sd) = mean_sd(&d);
            let se = sd / (n as f64).sqrt();
            let half = if n > 1 { t_at(1.0 - 0.05 / (2.0 * m.max(1) as f64), n - 1) * se } else { f64::NAN };
            let p = if n < 2 {
                f64::NAN
            } else if se == 0.0 {
                if mean == 0.0 { 1.0 } else { 0.0 }
            } else {
                let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("df >= 1");
                2.0 * (1.0 - t.cdf((mean / se).abs()))
            };
            pairs.push(Pair { a: i, b: j, n, mean, ci_low: mean - half, ci_high: mean + half, p, p_holm: f64::NAN });
        }
    }
    // Holm: the i-th smallest p-value times (m - i), made monotone.
    let mut order: Vec<usize> = (0..pairs.len()).filter(|&x| pairs[x].p.is_finite()).collect();
    order.sort_by(|&x, &y| pairs[x].p.total_cmp(&pairs[y].p));
    let mut running = 0.0f64;
    let valid = order.len();
    for (rank, &x) in order.iter().enumerate() {
        running = running.max(((valid - rank) as f64 * pairs[x].p).min(1.0));
        pairs[x].p_holm = running;
    }
    // Screening for the best (Nelson et al. 2001, common random numbers).
    let means: Vec<f64> = values.iter().map(|v| mean_sd(&v.iter().flatten().copied().collect::<Vec<_>>()).0).collect();
    let best: Vec<usize> = (0..k)
        .filter(|&i| {
            (0..k).filter(|&j| j != i).all(|j| {
                let d = paired(i, j);
                if d.len() < 2 {
                    return true;
                }
                let (_, sd) = mean_sd(&d);
                let w = t_at(1.0 - 0.05 / (k - 1).max(1) as f64, d.len() - 1) * sd / (d.len() as f64).sqrt();
                match better {
                    Better::Lower => means[i] <= means[j] + w,
                    Better::Higher => means[i] >= means[j] - w,
                }
            })
        })
        .collect();
    (pairs, best)
}

/// The one-sided 95% bound on the mean in the direction of the target: upper for `max`, lower
/// for `min`.
pub fn one_sided(xs: &[f64], upper: bool) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let (mean, sd) = mean_sd(xs);
    let half = t_at(0.95, xs.len() - 1) * sd / (xs.len() as f64).sqrt();
    if upper { mean + half } else { mean - half }
}

/// The `compare` block of summary.json for one metric, and its rows of compare.csv.
pub fn metric_json(spec: &CompareMetric, ids: &[String], values: &[Vec<Option<f64>>]) -> (Value, Vec<Vec<String>>) {
    let (pairs, best) = compare(values, spec.better);
    let cell = |x: f64| if x.is_finite() { format!("{x}") } else { String::new() };
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                spec.metric.clone(),
                ids[p.a].clone(),
                ids[p.b].clone(),
                p.n.to_string(),
                cell(p.mean),
                cell(p.ci_low),
                cell(p.ci_high),
                cell(p.p),
                cell(p.p_holm),
                (p.p_holm < 0.05).to_string(),
            ]
        })
        .collect();
    let bounds: Vec<Value> = match (spec.max, spec.min) {
        (None, None) => vec![],
        (max, min) => values
            .iter()
            .zip(ids)
            .map(|(v, id)| {
                let xs: Vec<f64> = v.iter().flatten().copied().collect();
                let (bound, meets) = match (max, min) {
                    (Some(t), _) => {
                        let b = one_sided(&xs, true);
                        (b, b <= t)
                    }
                    (_, Some(t)) => {
                        let b = one_sided(&xs, false);
                        (b, b >= t)
                    }
                    _ => unreachable!("one of them is set"),
                };
                json!({"point": id, "bound": num(bound), "meets": bound.is_finite() && meets})
            })
            .collect(),
    };
    let json = json!({
        "metric": spec.metric,
        "better": spec.better,
        "max": spec.max, "min": spec.min,
        "pairs": pairs.iter().map(|p| json!({
            "a": ids[p.a], "b": ids[p.b], "n": p.n, "diff_mean": num(p.mean),
            "ci_low": num(p.ci_low), "ci_high": num(p.ci_high), "p": num(p.p), "p_holm": num(p.p_holm),
            "different": p.p_holm < 0.05,
        })).collect::<Vec<_>>(),
        "best": best.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>(),
        "bounds": bounds,
    });
    (json, rows)
}

pub const CSV_HEADER: [&str; 10] =
    ["metric", "a", "b", "n", "diff_mean", "ci_low", "ci_high", "p", "p_holm", "different"];

/// What the `compare` block says it does, for summary.json.
pub const METHOD: &str = "pairs: mean paired difference (a - b) over common replications, Bonferroni intervals \
    (each at 1 - 0.05/m for m pairs), two-sided paired-t p-values with Holm's step-down adjustment; best: \
    the subset containing the best point with probability >= 95% (Nelson, Swann, Goldsman and Song 2001, \
    screening with common random numbers); bounds: one-sided 95% bounds on each point's mean";

#[cfg(test)]
mod tests {
    use super::*;

    fn col(xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().map(|x| Some(*x)).collect()
    }

    #[test]
    fn holm_adjusts_the_smallest_p_value_by_the_number_of_pairs() {
        // Three points sharing their noise; c is 1 below a and b, which are alike.
        let noise = [0.0, 2.0, -1.0, 3.0, 1.0, -2.0];
        let a: Vec<f64> = noise.iter().enumerate().map(|(i, x)| 10.0 + x + 0.01 * (i % 2) as f64).collect();
        let b: Vec<f64> = noise.iter().enumerate().map(|(i, x)| 10.0 + x + 0.01 * ((i + 1) % 2) as f64).collect();
        let c: Vec<f64> = noise.iter().map(|x| 9.0 + x).collect();
        let (pairs, best) = compare(&[col(&a), col(&b), col(&c)], Better::Lower);
        assert_eq!(pairs.len(), 3);
        let ab = &pairs[0];
        assert!(ab.p_holm >= ab.p && ab.p_holm > 0.05, "{ab:?}");
        let ac = &pairs[1];
        assert!((ac.mean - 1.0).abs() < 0.01 && ac.p_holm < 0.05 && ac.ci_low > 0.0, "{ac:?}");
        // Holm's smallest p is multiplied by 3.
        let smallest = pairs.iter().map(|p| p.p).fold(f64::INFINITY, f64::min);
        let adj = pairs.iter().find(|p| p.p == smallest).unwrap().p_holm;
        assert!((adj - (3.0 * smallest).min(1.0)).abs() < 1e-12);
        // c is clearly best (lowest): the subset is c alone.
        assert_eq!(best, vec![2]);
        // Higher is better: a and b are indistinguishable, c is out.
        let (_, best) = compare(&[col(&a), col(&b), col(&c)], Better::Higher);
        assert_eq!(best, vec![0, 1]);
    }

    #[test]
    fn one_sided_bounds_use_the_95_percent_quantile() {
        // Values 1..5: mean 3, s = 1.5811, t(0.95, 4) = 2.132.
        let b = one_sided(&[1.0, 2.0, 3.0, 4.0, 5.0], true);
        assert!((b - (3.0 + 2.1318 * 1.581_138_8 / 5f64.sqrt())).abs() < 1e-3, "{b}");
    }
}
