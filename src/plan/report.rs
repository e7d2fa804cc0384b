//! What a plan writes: `plan.json`, `plan.csv`, its charts, and the answer in one paragraph.
//! Nothing here depends on the thread count or on which runs were found done: the same plan
//! writes the same files.

use super::decide::{Feasibility, TargetStat, Verdict};
use super::exec::{Candidate, Evaluator};
use super::search::Outcome;
use super::{Bound, Plan, describe};
use crate::output::{write_atomic, write_json};
use crate::plot::chart::{Chart, LineChart, Series, Unit, XyCi};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

fn values_map(plan: &Plan, values: &[i64]) -> Value {
    Value::Object(plan.vars.iter().zip(values).map(|(v, x)| (v.path.clone(), json!(x))).collect::<Map<_, _>>())
}

fn target_json(plan: &Plan, t: usize, s: &TargetStat) -> Value {
    let target = &plan.targets[t];
    json!({
        "metric": target.metric, "bound": target.bound.word(), "threshold": target.bound.threshold(),
        "n": s.n, "mean": s.mean, "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high, "verdict": s.verdict,
    })
}

/// The targets a candidate does not meet (missed, or undecided).
pub fn failing(plan: &Plan, c: &Candidate) -> Vec<String> {
    c.stats
        .iter()
        .enumerate()
        .filter(|(_, s)| s.verdict != Verdict::Met)
        .map(|(t, s)| {
            let how = if s.verdict == Verdict::Missed { "misses" } else { "cannot decide" };
            format!("{how} {}", bound_text(plan, t))
        })
        .collect()
}

fn bound_text(plan: &Plan, t: usize) -> String {
    let tg = &plan.targets[t];
    format!(
        "{} {} {}",
        tg.metric,
        if matches!(tg.bound, Bound::Max(_)) { "<=" } else { ">=" },
        num(tg.bound.threshold())
    )
}

/// A number for sentences: four significant digits, written out in full.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-6..1e9).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 9) as usize;
    crate::units::trimmed(v, digits)
}

/// plan.json.
pub fn to_json(plan: &Plan, ev: &Evaluator, out: &Outcome) -> Value {
    let candidates: Vec<Value> = ev
        .order
        .iter()
        .map(|v| {
            let c = &ev.evaluated[v];
            json!({
                "id": c.id, "values": values_map(plan, &c.values), "cost": plan.cost(&c.values),
                "replications": c.runs.len(), "verdict": c.verdict,
                "targets": c.stats.iter().enumerate().map(|(t, s)| target_json(plan, t, s)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let reps = ev.evaluated.values().map(|c| c.runs.len()).max().unwrap_or(0);
    let frontier: Vec<Value> = out
        .frontier
        .iter()
        .map(|p| {
            json!({ plan.vars[0].path.clone(): p.first, plan.vars[1].path.clone(): p.second, "inferred": p.inferred })
        })
        .collect();
    json!({
        "ddsim_version": env!("CARGO_PKG_VERSION"),
        "plan": plan.spec,
        "plan_file": plan.file,
        "hash": plan.hash,
        "answer": out.answer.as_ref().map(|a| values_map(plan, a)),
        "cost": out.answer.as_ref().map(|a| plan.cost(a)),
        "below": out.below.as_ref().map(|b| values_map(plan, b)),
        "frontier": frontier,
        "at_max": out.at_max.as_ref().map(|m| values_map(plan, m)),
        "failing_at_max": out.at_max.as_ref().map(|m| failing(plan, &ev.evaluated[m])),
        "contradictions": out.contradictions,
        "confidence": plan.spec.confidence,
        "runs": ev.evaluated.values().map(|c| c.runs.len()).sum::<usize>(),
        "seeds": &plan.seeds[..reps],
        "candidates": candidates,
    })
}

/// plan.csv: one row per candidate and target, in evaluation order.
pub fn to_csv(plan: &Plan, ev: &Evaluator) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header: Vec<String> = vec!["candidate".into()];
    header.extend(plan.vars.iter().map(|v| v.name.clone()));
    header.extend(
        ["cost", "n", "verdict", "target", "bound", "threshold", "mean", "ci_low", "ci_high", "target_verdict"]
            .map(String::from),
    );
    w.write_record(&header).map_err(|e| e.to_string())?;
    for v in &ev.order {
        let c = &ev.evaluated[v];
        for (t, s) in c.stats.iter().enumerate() {
            let tg = &plan.targets[t];
            let mut row: Vec<String> = vec![c.id.clone()];
            row.extend(c.values.iter().map(|x| x.to_string()));
            let f = |x: f64| if x.is_finite() { x.to_string() } else { String::new() };
            row.extend([
                plan.cost(&c.values).to_string(),
                c.runs.len().to_string(),
                c.verdict.word().to_string(),
                tg.metric.clone(),
                tg.bound.word().to_string(),
                tg.bound.threshold().to_string(),
                f(s.mean),
                f(s.ci_low),
                f(s.ci_high),
                format!("{:?}", s.verdict).to_lowercase(),
            ]);
            w.write_record(&row).map_err(|e| e.to_string())?;
        }
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The answer in one paragraph: the chosen value, each target's mean and interval there, and
/// the candidate just below it with the target it fails (or, with none, what fails at the most
/// capacity tried).
pub fn paragraph(plan: &Plan, ev: &Evaluator, out: &Outcome) -> String {
    let pct = plan.spec.confidence * 100.0;
    let stats_at = |c: &Candidate| -> String {
        c.stats
            .iter()
            .enumerate()
            .map(|(t, s)| {
                format!(
                    "{} = {} ({}% interval {} to {}, {} {})",
                    plan.targets[t].metric,
                    num(s.mean),
                    num(pct),
                    num(s.ci_low),
                    num(s.ci_high),
                    plan.targets[t].bound.word(),
                    num(plan.targets[t].bound.threshold())
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut s = match &out.answer {
        Some(a) => {
            let c = &ev.evaluated[a];
            let mut s = format!("{}: {} meets every target", plan.spec.name, describe(&plan.vars, a));
            if plan.vars.len() == 2 {
                s += &format!(" at the least cost on the frontier ({})", num(plan.cost(a)));
            }
            s += &format!(", over {} replications: {}.", c.runs.len(), stats_at(c));
            if let Some(b) = &out.below {
                let cb = &ev.evaluated[b];
                s += &format!(" At {} it {}.", describe(&plan.vars, b), failing(plan, cb).join(" and "));
            } else if plan.vars.len() == 1 {
                s += " It is the smallest value of the range.";
            }
            if plan.vars.len() == 2 {
                let pts: Vec<String> = out
                    .frontier
                    .iter()
                    .map(|p| match p.second {
                        Some(y) => format!("{}: {y}", p.first),
                        None => format!("{}: none", p.first),
                    })
                    .collect();
                s += &format!(
                    " Frontier ({} -> smallest {}): {}.",
                    plan.vars[0].name,
                    plan.vars[1].name,
                    pts.join(", ")
                );
            }
            s
        }
        None => {
            let m = out.at_max.as_ref().expect("no answer, so a largest candidate");
            format!(
                "{}: no value within the bounds meets the targets; at {} the plan {}.",
                plan.spec.name,
                describe(&plan.vars, m),
                failing(plan, &ev.evaluated[m]).join(" and ")
            )
        }
    };
    let undecided = ev.evaluated.values().filter(|c| c.verdict == Feasibility::Undecided).count();
    s += &format!(
        " {} candidates, {} runs{}.",
        ev.evaluated.len(),
        ev.evaluated.values().map(|c| c.runs.len()).sum::<usize>(),
        if undecided > 0 {
            format!(" ({undecided} undecided after {} replications, counted as not feasible)", plan.max_reps)
        } else {
            String::new()
        }
    );
    for c in &out.contradictions {
        s += &format!(" Against monotonicity: {c}.");
    }
    s
}

/// The charts: with one variable, each target against it (mean and interval per candidate,
/// the threshold, the answer); with two, the feasibility map with the frontier and the
/// cheapest point. Written into `dir` as SVG and PNG; returns the files.
pub fn charts(plan: &Plan, ev: &Evaluator, out: &Outcome, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pct = num(plan.spec.confidence * 100.0);
    let mut files = vec![];
    let var = &plan.vars[0];
    let (lo, hi) = (var.domain.at(0) as f64, var.domain.at(var.domain.len() - 1) as f64);
    let log_x = lo > 0.0 && hi / lo >= 100.0;
    let mut charts = vec![];
    if plan.vars.len() == 1 {
        let mut cands: Vec<&Candidate> = ev.evaluated.values().collect();
        cands.sort_by_key(|c| c.values[0]);
        for (t, target) in plan.targets.iter().enumerate() {
            let points: Vec<XyCi> = cands
                .iter()
                .map(|c| {
                    let s = &c.stats[t];
                    (c.values[0] as f64, s.mean, s.ci_low.is_finite().then_some((s.ci_low, s.ci_high)))
                })
                .collect();
            let x_range = (points.first().map_or(lo, |p| p.0), points.last().map_or(hi, |p| p.0));
            let thr = target.bound.threshold();
            let top = points.iter().filter_map(|p| p.2.map(|c| c.1).or(Some(p.1))).fold(thr, f64::max);
            let mut series = vec![
                scatter(format!("mean, {pct}% interval"), points.clone(), false),
                line(
                    format!("threshold ({} {})", target.bound.word(), num(thr)),
                    vec![(x_range.0, thr), (x_range.1, thr)],
                ),
            ];
            // The answer: its own marker over the candidate's.
            if let Some(c) = out.answer.as_ref().map(|a| &ev.evaluated[a]) {
                let st = &c.stats[t];
                let ci = st.ci_low.is_finite().then_some((st.ci_low, st.ci_high));
                let name = format!("answer: {} = {}", var.name, c.values[0]);
                series.push(scatter(name, vec![(c.values[0] as f64, st.mean, ci)], true));
            }
            let share = target.metric.contains('/') || target.metric.ends_with("utilisation");
            // Values far above a small threshold (a loss share) on a log axis, or the region
            // that decides would be a sliver at the bottom.
            let log_y = thr > 0.0 && top / thr > 20.0 && points.iter().any(|p| p.1 > 0.0);
            charts.push(Chart::Line(LineChart {
                title: format!("{}: {}", plan.spec.name, target.metric),
                subtitle: Some(format!(
                    "each candidate's mean over its replications with its {pct}% interval; {} candidates",
                    cands.len()
                )),
                x_label: var.path.clone(),
                y_label: target.metric.clone(),
                x_unit: Unit::Count,
                y_unit: if share { Unit::Share } else { Unit::Count },
                log_x,
                log_y,
                series,
                y_from_zero: !log_y,
                ..LineChart::default()
            }));
        }
    } else {
        let by = |f: Feasibility| -> Vec<XyCi> {
            ev.evaluated
                .values()
                .filter(|c| c.verdict == f)
                .map(|c| (c.values[0] as f64, c.values[1] as f64, None))
                .collect()
        };
        let mut series = vec![
            scatter("feasible".into(), by(Feasibility::Feasible), true),
            scatter("infeasible".into(), by(Feasibility::Infeasible), true),
            scatter("undecided (counted infeasible)".into(), by(Feasibility::Undecided), true),
        ];
        series.push(line(
            "frontier".into(),
            out.frontier.iter().filter_map(|p| Some((p.first as f64, p.second? as f64))).collect(),
        ));
        if let Some(a) = &out.answer {
            series.push(scatter(
                format!("cheapest: {} = {}, {} = {}", plan.vars[0].name, a[0], plan.vars[1].name, a[1]),
                vec![(a[0] as f64, a[1] as f64, None)],
                true,
            ));
        }
        charts.push(Chart::Line(LineChart {
            title: format!("{}: feasible candidates and the frontier", plan.spec.name),
            subtitle: Some(format!(
                "every target met with {pct}% confidence; frontier: the smallest feasible {} for each {}",
                plan.vars[1].name, plan.vars[0].name
            )),
            x_label: plan.vars[0].path.clone(),
            y_label: plan.vars[1].path.clone(),
            x_unit: Unit::Count,
            y_unit: Unit::Count,
            log_x,
            log_y: false,
            series,
            y_from_zero: true,
            ..LineChart::default()
        }));
    }
    for (i, c) in charts.iter().enumerate() {
        let slug: String = c
            .title()
            .to_lowercase()
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let slug: String = slug.chars().take(60).collect();
        let stem = dir.join(format!("{:02}-{slug}", i + 1));
        c.save(&stem)?;
        files.push(stem.with_extension("svg"));
        files.push(stem.with_extension("png"));
    }
    Ok(files)
}

fn scatter(name: String, points: Vec<XyCi>, points_only: bool) -> Series {
    Series { name, points, markers: true, points_only, ..Series::default() }
}

fn line(name: String, points: Vec<(f64, f64)>) -> Series {
    Series::line(name, points.into_iter().map(|(x, y)| (x, y, None)).collect())
}

/// Writes plan.json and plan.csv atomically.
pub fn write(plan: &Plan, ev: &Evaluator, out: &Outcome, dir: &Path) -> Result<(), String> {
    let csv = to_csv(plan, ev)?;
    write_json(&dir.join("plan.json"), &to_json(plan, ev, out)).map_err(|e| format!("plan.json: {e}"))?;
    write_atomic(&dir.join("plan.csv"), &csv).map_err(|e| format!("plan.csv: {e}"))
}
