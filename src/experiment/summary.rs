//! Statistics over replications: mean, standard deviation and a Student-t 95% confidence
//! interval per point and metric; against a baseline point, the mean paired difference with its
//! own interval (common random numbers make it narrow), and the unpaired interval for contrast.

use super::Experiment;
use serde_json::{Map, Value, json};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::BTreeMap;

/// The histograms of results.json that summaries merge over replications.
pub const HISTOGRAMS: [&str; 3] =
    ["delivery.latency_s", "delivery.after_register_s", "delivery.after_client_register_s"];

/// What one successful run contributes.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// The numeric metrics (a metric that is null in the run, such as the busy hour of a window
    /// without a full hour, is absent: it counts in no mean).
    pub metrics: BTreeMap<String, f64>,
    /// The metrics that are null in the run: summarised too, with the runs that have a value.
    pub null_metrics: Vec<String>,
    /// Each of `HISTOGRAMS`: bucket upper edge (s) → count.
    pub histograms: BTreeMap<String, Vec<(f64, u64)>>,
}

impl RunResult {
    /// From a results.json document.
    pub fn from_doc(doc: &Value) -> Option<RunResult> {
        let all = doc.get("metrics")?.as_object()?;
        let metrics = all.iter().filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x))).collect();
        let null_metrics = all.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k.clone()).collect();
        let histograms = HISTOGRAMS
            .iter()
            .map(|name| {
                let h = &doc["histograms"][*name];
                let buckets = match (h["le"].as_array(), h["count"].as_array()) {
                    (Some(le), Some(c)) => {
                        le.iter().zip(c).filter_map(|(a, b)| Some((a.as_f64()?, b.as_u64()?))).collect()
                    }
                    _ => vec![],
                };
                (name.to_string(), buckets)
            })
            .collect();
        Some(RunResult { metrics, null_metrics, histograms })
    }
}

/// Mean, sample standard deviation and 95% confidence interval of `n` values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map(|t| t.inverse_cdf(0.975)).unwrap_or(f64::NAN)
}

pub fn describe(xs: &[f64]) -> Stat {
    let n = xs.len();
    if n == 0 {
        return Stat { n, mean: f64::NAN, std: f64::NAN, ci95_low: f64::NAN, ci95_high: f64::NAN };
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Stat { n, mean, std: f64::NAN, ci95_low: f64::NAN, ci95_high: f64::NAN };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    let half = t975(n - 1) * std / (n as f64).sqrt();
    Stat { n, mean, std, ci95_low: mean - half, ci95_high: mean + half }
}

/// A point compared with the baseline on one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diff {
    /// Paired: per replication, point minus baseline.
    pub paired: Stat,
    /// Relative to the baseline's mean (NaN if that is 0).
    pub rel: f64,
    pub rel_ci95_low: f64,
    pub rel_ci95_high: f64,
    /// The interval the same difference would get without pairing (Welch).
    pub unpaired_ci95_low: f64,
    pub unpaired_ci95_high: f64,
}

pub fn diff(point: &[Option<f64>], base: &[Option<f64>]) -> Diff {
    let pairs: Vec<(f64, f64)> = point.iter().zip(base).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect();
    let d: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    let paired = describe(&d);
    let a = describe(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = describe(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    // Welch-Satterthwaite.
    let (va, vb) = (a.std.powi(2) / a.n as f64, b.std.powi(2) / b.n as f64);
    let df = (va + vb).powi(2) / (va.powi(2) / (a.n as f64 - 1.0) + vb.powi(2) / (b.n as f64 - 1.0));
    let half = if df.is_finite() && df > 0.0 {
        StudentsT::new(0.0, 1.0, df).map(|t| t.inverse_cdf(0.975)).unwrap_or(f64::NAN) * (va + vb).sqrt()
    } else {
        // No spread at all (or one replication): the unpaired interval is as degenerate as the paired one.
        paired.ci95_high - paired.mean
    };
    let rel_of = |x: f64| if b.mean != 0.0 { x / b.mean.abs() } else { f64::NAN };
    Diff {
        paired,
        rel: rel_of(paired.mean),
        rel_ci95_low: rel_of(paired.ci95_low),
        rel_ci95_high: rel_of(paired.ci95_high),
        unpaired_ci95_low: paired.mean - half,
        unpaired_ci95_high: paired.mean + half,
    }
}

/// Metrics that describe the machine, not the model: left out of summaries so that summaries
/// are identical whatever the number of threads.
fn is_machine_metric(name: &str) -> bool {
    name == "run.wall_s"
}

fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn stat_json(s: &Stat) -> Value {
    json!({"mean": num(s.mean), "std": num(s.std), "ci95_low": num(s.ci95_low), "ci95_high": num(s.ci95_high), "n": s.n})
}

/// The summary of an experiment: `summary.json` and the rows of `summary.csv`.
pub struct Summary {
    pub json: Value,
    pub csv_header: Vec<String>,
    pub csv_rows: Vec<Vec<String>>,
    /// The rows of compare.csv, when the experiment has a `compare` block.
    pub compare_rows: Option<Vec<Vec<String>>>,
}

/// Summarises results: `results[p][r]` is run r of point p, None if it failed or is missing.
pub fn summarize(exp: &Experiment, results: &[Vec<Option<RunResult>>]) -> Summary {
    // Ratios taken per run (0/0 is 0; a/0 has no value), summarised like any metric.
    let ratios = exp.ratio_names();
    let with_ratios: Vec<Vec<Option<RunResult>>> = results
        .iter()
        .map(|runs| {
            runs.iter()
                .map(|r| {
                    r.clone().map(|mut r| {
                        for name in &ratios {
                            let (a, b) = name.split_once('/').expect("a ratio");
                            let (a, b) = (r.metrics.get(a.trim()).copied(), r.metrics.get(b.trim()).copied());
                            match (a, b) {
                                (Some(a), Some(b)) if b != 0.0 => {
                                    r.metrics.insert(name.clone(), a / b);
                                }
                                (Some(0.0), Some(_)) => {
                                    r.metrics.insert(name.clone(), 0.0);
                                }
                                _ => r.null_metrics.push(name.clone()),
                            }
                        }
                        r
                    })
                })
                .collect()
        })
        .collect();
    let results = &with_ratios[..];
    let mut names: Vec<String> = results
        .iter()
        .flatten()
        .flatten()
        .flat_map(|r| r.metrics.keys().chain(&r.null_metrics).cloned())
        .filter(|k| !is_machine_metric(k))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    names.sort();
    let column = |p: usize, m: &str| -> Vec<Option<f64>> {
        results[p].iter().map(|r| r.as_ref().and_then(|r| r.metrics.get(m).copied())).collect()
    };
    let mut header: Vec<String> = vec!["point".into()];
    header.extend(exp.dims.iter().map(|d| d.1.clone()));
    header.extend(["metric", "mean", "std", "ci95_low", "ci95_high", "n"].map(String::from));
    if exp.baseline.is_some() {
        header.extend(
            ["diff_mean", "diff_ci95_low", "diff_ci95_high", "diff_rel", "diff_rel_ci95_low", "diff_rel_ci95_high"]
                .map(String::from),
        );
    }
    let cell = |x: f64| if x.is_finite() { format!("{x}") } else { String::new() };
    let mut rows = vec![];
    let mut points_json = vec![];
    for (pi, p) in exp.points.iter().enumerate() {
        let mut metrics = Map::new();
        for m in &names {
            let col = column(pi, m);
            let values: Vec<f64> = col.iter().flatten().copied().collect();
            let s = describe(&values);
            let mut entry = stat_json(&s);
            let mut row: Vec<String> = vec![p.id.clone()];
            row.extend(p.labels.iter().cloned());
            row.extend([m.clone(), cell(s.mean), cell(s.std), cell(s.ci95_low), cell(s.ci95_high), s.n.to_string()]);
            if let Some(b) = exp.baseline {
                if b != pi {
                    let d = diff(&col, &column(b, m));
                    entry["diff"] = json!({
                        "mean": num(d.paired.mean), "ci95_low": num(d.paired.ci95_low), "ci95_high": num(d.paired.ci95_high),
                        "n": d.paired.n, "rel": num(d.rel), "rel_ci95_low": num(d.rel_ci95_low), "rel_ci95_high": num(d.rel_ci95_high),
                        "unpaired_ci95_low": num(d.unpaired_ci95_low), "unpaired_ci95_high": num(d.unpaired_ci95_high),
                    });
                    row.extend([
                        cell(d.paired.mean),
                        cell(d.paired.ci95_low),
                        cell(d.paired.ci95_high),
                        cell(d.rel),
                        cell(d.rel_ci95_low),
                        cell(d.rel_ci95_high),
                    ]);
                } else {
                    row.extend(std::iter::repeat_n(String::new(), 6));
                }
            }
            metrics.insert(m.clone(), entry);
            rows.push(row);
        }
        // Histograms of all replications, added bucket by bucket.
        let mut histograms = Map::new();
        for name in HISTOGRAMS {
            let mut merged: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
            for r in results[pi].iter().flatten() {
                for &(le, c) in r.histograms.get(name).into_iter().flatten() {
                    merged.entry(le.to_bits()).or_insert((le, 0)).1 += c;
                }
            }
            let mut buckets: Vec<(f64, u64)> = merged.into_values().collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            histograms.insert(
                name.to_string(),
                json!({"unit": "s", "le": buckets.iter().map(|b| b.0).collect::<Vec<_>>(),
                       "count": buckets.iter().map(|b| b.1).collect::<Vec<_>>()}),
            );
        }
        let params: Map<String, Value> = p.params.iter().cloned().collect();
        let failed = results[pi].iter().filter(|r| r.is_none()).count();
        points_json.push(json!({
            "id": p.id,
            "params": params,
            "labels": p.labels,
            "runs_ok": exp.seeds.len() - failed,
            "metrics": metrics,
            "histograms": histograms,
        }));
    }
    let compare = exp.spec.compare.as_ref().map(|c| {
        let ids: Vec<String> = exp.compare_points.iter().map(|&p| exp.points[p].id.clone()).collect();
        let mut rows = vec![];
        let metrics: Vec<Value> = c
            .metrics
            .iter()
            .map(|m| {
                let values: Vec<Vec<Option<f64>>> = exp.compare_points.iter().map(|&p| column(p, &m.metric)).collect();
                let (j, r) = super::compare::metric_json(m, &ids, &values);
                rows.extend(r);
                j
            })
            .collect();
        (json!({"method": super::compare::METHOD, "points": ids, "metrics": metrics}), rows)
    });
    let json = json!({
        "experiment": exp.spec.name,
        "hash": exp.hash,
        "replications": exp.seeds.len(),
        "seeds": exp.seeds,
        "dimensions": exp.dims.iter().map(|d| json!({"path": d.0, "column": d.1})).collect::<Vec<_>>(),
        "baseline": exp.baseline.map(|b| exp.points[b].id.clone()),
        "points": points_json,
    });
    let (json, compare_rows) = match compare {
        Some((c, r)) => {
            let mut json = json;
            json["compare"] = c;
            (json, Some(r))
        }
        None => (json, None),
    };
    Summary { json, csv_header: header, csv_rows: rows, compare_rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_interval_matches_tables() {
        // t(0.975, 4) = 2.776 (tables); values 1..5: mean 3, s = 1.5811, half = 2.776*s/sqrt(5).
        assert!((t975(4) - 2.7764).abs() < 1e-3);
        let s = describe(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.mean, 3.0);
        assert!((s.std - 1.581_138_8).abs() < 1e-6);
        assert!((s.ci95_high - 3.0 - 2.7764 * 1.581_138_8 / 5f64.sqrt()).abs() < 1e-3);
        assert!(describe(&[7.0]).ci95_low.is_nan());
    }

    #[test]
    fn paired_interval_is_narrow_when_replications_share_their_noise() {
        // Each replication shifts both points alike (shared noise); the effect is a constant -2.
        let base: Vec<Option<f64>> = [10.0, 20.0, 15.0, 30.0, 25.0].iter().map(|x| Some(*x)).collect();
        let point: Vec<Option<f64>> = [8.1, 17.9, 13.0, 28.2, 22.8].iter().map(|x| Some(*x)).collect();
        let d = diff(&point, &base);
        assert!((d.paired.mean + 2.0).abs() < 0.1);
        let paired = d.paired.ci95_high - d.paired.ci95_low;
        let unpaired = d.unpaired_ci95_high - d.unpaired_ci95_low;
        assert!(paired * 10.0 < unpaired, "paired {paired} vs unpaired {unpaired}");
        assert!((d.rel + 2.0 / 20.0).abs() < 0.01);
    }
}
