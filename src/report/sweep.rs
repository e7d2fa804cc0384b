//! The report of a sweep directory: the main metrics of every point with their intervals (and
//! the paired difference to the baseline), the comparison, the charts, and what was run.

use super::page::{self, escape, fmt_points, fmt_rel, fmt_value, stat_cell};
use super::{read, written_at};
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// At most this many metrics in the main table; the others are in summary.csv and summary.json.
const MAIN_METRICS: usize = 9;

/// The metrics a planner reads first, in order, when a sweep has them.
const STANDARD: &[&str] = &[
    "deferred.offered",
    "deferred.delivered",
    "deferred.dropped_overflow",
    "deferred.expired",
    "delivery.latency_s.p95",
    "delivery.after_register_s.p95",
    "store.occupancy.peak",
    "delivery.invites",
    "sip.responses.503",
];

/// The metrics of the main table: those the experiment itself is about (the y of its line
/// charts, its ratios, the metrics of `compare` and of a sequential `until`), then the standard
/// ones and the utilisation of the busiest servers, as far as the summary has them.
fn main_metrics(spec: &Value, present: &dyn Fn(&str) -> bool, busiest: &[String]) -> Vec<String> {
    let mut wanted: Vec<String> = vec![];
    let strs = |v: &Value, key: &str| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|x| x[key].as_str().map(str::to_string)).collect()
    };
    wanted.extend(
        spec["charts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["kind"] == "line")
            .filter_map(|c| c["y"].as_str().map(str::to_string)),
    );
    wanted.extend(spec["ratios"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)));
    wanted.extend(strs(&spec["compare"]["metrics"], "metric"));
    wanted.extend(strs(&spec["replications"]["until"], "metric"));
    wanted.extend(STANDARD.iter().map(|s| s.to_string()));
    wanted.extend(busiest.iter().cloned());
    let mut out: Vec<String> = vec![];
    for m in wanted {
        if present(&m) && !out.contains(&m) && out.len() < MAIN_METRICS {
            out.push(m);
        }
    }
    out
}

/// The utilisation metrics of single servers and of pools, busiest first (largest mean at any
/// point), at most three.
fn busiest_servers(points: &[Value]) -> Vec<String> {
    let mut found: Vec<(String, f64)> = vec![];
    for p in points {
        for (k, st) in p["metrics"].as_object().into_iter().flatten() {
            let Some(rest) = k.strip_prefix("servers.") else { continue };
            let single = rest.strip_suffix(".utilisation").is_some_and(|n| !n.contains('.'));
            let pool = rest.strip_suffix(".utilisation.max").is_some_and(|n| !n.contains('.'));
            if !(single || pool) {
                continue;
            }
            let mean = st["mean"].as_f64().unwrap_or(0.0);
            match found.iter_mut().find(|f| f.0 == *k) {
                Some(f) => f.1 = f.1.max(mean),
                None => found.push((k.clone(), mean)),
            }
        }
    }
    found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found.into_iter().take(3).map(|f| f.0).collect()
}

/// The paired difference of a point to the baseline, under its mean, with its 95% interval,
/// marked where the interval excludes zero: relative for amounts, in percentage points for
/// shares (a relative change of a share reads badly).
fn diff_line(metric: &str, d: &Value) -> String {
    let share = page::kind_of(metric) == page::Kind::Share;
    let keys = if share { ["mean", "ci95_low", "ci95_high"] } else { ["rel", "rel_ci95_low", "rel_ci95_high"] };
    let (Some(x), Some(lo), Some(hi)) = (d[keys[0]].as_f64(), d[keys[1]].as_f64(), d[keys[2]].as_f64()) else {
        return String::new();
    };
    let f = if share { fmt_points } else { fmt_rel };
    let sig = lo > 0.0 || hi < 0.0;
    format!(
        "<span class=\"diff{}\" title=\"paired difference to the baseline, 95% interval\">{} ({} to {})</span>",
        if sig { " sig" } else { "" },
        escape(&f(x)),
        escape(&f(lo)),
        escape(&f(hi))
    )
}

/// Points as columns (few points) or as rows (many), a metric per row or column; each cell the
/// mean, the half-width of its interval and the difference to the baseline.
fn main_table(summary: &Value, metrics: &[String]) -> String {
    let dims: Vec<String> = summary["dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["column"].as_str().map(str::to_string))
        .collect();
    let baseline = summary["baseline"].as_str();
    let points: Vec<&Value> = summary["points"].as_array().into_iter().flatten().collect();
    let is_base = |p: &Value| baseline.is_some() && p["id"].as_str() == baseline;
    let cell = |p: &Value, m: &str| {
        let st = &p["metrics"][m];
        format!("<td class=\"num\">{}{}</td>", stat_cell(m, st), diff_line(m, &st["diff"]))
    };
    let mut s = String::from("<div class=\"scroll\"><table class=\"main\">\n");
    if points.len() <= 6 {
        // A metric per row, a point per column, headed by its varied values.
        s.push_str("<thead><tr><th>metric</th>");
        for p in &points {
            let labels: Vec<String> = dims
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    format!("{}: <code>{}</code>", escape(d), escape(p["labels"][i].as_str().unwrap_or_default()))
                })
                .collect();
            let head = if labels.is_empty() {
                format!("<code>{}</code>", page::breakable(p["id"].as_str().unwrap_or_default()))
            } else {
                labels.join("<br/>")
            };
            let _ =
                write!(s, "<th class=\"num\">{head}{}</th>", if is_base(p) { "<br/><em>baseline</em>" } else { "" });
        }
        s.push_str("</tr></thead>\n<tbody>\n<tr><td>runs</td>");
        for p in &points {
            let _ = write!(s, "<td class=\"num\">{}</td>", p["runs_ok"]);
        }
        s.push_str("</tr>\n");
        for m in metrics {
            let _ = write!(s, "<tr>{}", page::metric_th(m).replace("<th class=\"num\">", "<th>"));
            for p in &points {
                s.push_str(&cell(p, m));
            }
            s.push_str("</tr>\n");
        }
    } else {
        s.push_str("<thead><tr>");
        for d in &dims {
            let _ = write!(s, "<th>{}</th>", escape(d));
        }
        s.push_str("<th class=\"num\">runs</th>");
        for m in metrics {
            s.push_str(&page::metric_th(m));
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for p in &points {
            let _ = write!(
                s,
                "<tr{} title=\"{}\">",
                if is_base(p) { " class=\"base\"" } else { "" },
                escape(p["id"].as_str().unwrap_or_default())
            );
            for (i, _) in dims.iter().enumerate() {
                let _ = write!(s, "<td><code>{}</code></td>", escape(p["labels"][i].as_str().unwrap_or_default()));
            }
            let _ = write!(s, "<td class=\"num\">{}</td>", p["runs_ok"]);
            for m in metrics {
                s.push_str(&cell(p, m));
            }
            s.push_str("</tr>\n");
        }
    }
    s.push_str("</tbody></table></div>\n");
    s
}

fn compare_section(compare: &Value) -> String {
    let Some(metrics) = compare["metrics"].as_array() else { return String::new() };
    let mut s = String::new();
    if let Some(m) = compare["method"].as_str() {
        let _ = writeln!(s, "<p class=\"meta\">{}</p>", escape(m));
    }
    for m in metrics {
        let name = m["metric"].as_str().unwrap_or_default();
        let better = m["better"].as_str().unwrap_or("lower");
        let _ = writeln!(s, "<h3><code>{}</code> ({} is better)</h3>", escape(name), escape(better));
        let best: Vec<String> = m["best"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.as_str())
            .map(|b| format!("<code>{}</code>", escape(b)))
            .collect();
        if !best.is_empty() {
            let _ = writeln!(s, "<p><strong>Indistinguishable from the best</strong> (95%): {}</p>", best.join(", "));
        }
        let target = match (m["max"].as_f64(), m["min"].as_f64()) {
            (Some(t), _) => Some(("at most", t)),
            (_, Some(t)) => Some(("at least", t)),
            _ => None,
        };
        if let Some((word, t)) = target {
            let _ = write!(
                s,
                "<table><thead><tr><th>point</th><th class=\"num\">one-sided 95% bound</th><th>target: {} {}</th></tr></thead><tbody>",
                word,
                escape(&fmt_value(name, t))
            );
            for b in m["bounds"].as_array().into_iter().flatten() {
                let meets = b["meets"].as_bool().unwrap_or(false);
                let _ = write!(
                    s,
                    "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
                    escape(b["point"].as_str().unwrap_or_default()),
                    escape(&fmt_value(name, b["bound"].as_f64().unwrap_or(f64::NAN))),
                    if meets { "ok" } else { "bad" },
                    if meets { "met" } else { "not met" }
                );
            }
            s.push_str("</tbody></table>\n");
        }
        s.push_str("<div class=\"scroll\"><table><thead><tr><th>a</th><th>b</th><th class=\"num\">n</th><th class=\"num\">a − b (mean)</th><th class=\"num\">Bonferroni 95% interval</th><th class=\"num\">p (Holm)</th><th>different</th></tr></thead><tbody>\n");
        for p in m["pairs"].as_array().into_iter().flatten() {
            let f = |k: &str| escape(&fmt_value(name, p[k].as_f64().unwrap_or(f64::NAN)));
            let different = p["different"].as_bool().unwrap_or(false);
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} to {}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
                escape(p["a"].as_str().unwrap_or_default()),
                escape(p["b"].as_str().unwrap_or_default()),
                p["n"],
                f("diff_mean"),
                f("ci_low"),
                f("ci_high"),
                p["p_holm"].as_f64().map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into()),
                if different { "ok" } else { "" },
                if different { "yes" } else { "no" }
            );
        }
        s.push_str("</tbody></table></div>\n");
    }
    s
}

fn values_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn page(dir: &Path) -> Result<String, String> {
    let manifest = read(&dir.join("manifest.json"))?;
    let spec = &manifest["experiment"];
    let name = spec["name"].as_str().unwrap_or("sweep");
    let summary_path = dir.join("summary.json");
    let summary = read(&summary_path).ok();
    let points = manifest["points"].as_array().cloned().unwrap_or_default();
    let seeds = manifest["seeds"].as_array().map(Vec::len).unwrap_or(0);
    let reps = match &spec["replications"] {
        Value::Number(n) => n.to_string(),
        r => format!("{} to {} (sequential)", r["min"], r["max"]),
    };

    // The header: what this is, and how it was run.
    let mut header = format!("<h1>{} <span class=\"meta\">sweep</span></h1>\n", escape(name));
    if let Some(d) = spec["description"].as_str().filter(|d| !d.is_empty()) {
        let _ = writeln!(header, "<p class=\"lead\">{}</p>", escape(d));
    }
    let base_model = points
        .iter()
        .find(|p| Some(p["id"].as_str().unwrap_or("")) == summary.as_ref().and_then(|s| s["baseline"].as_str()))
        .or(points.first());
    let model_name = base_model.and_then(|p| p["model"]["name"].as_str()).unwrap_or("?");
    let _ = writeln!(
        header,
        "<p class=\"meta\">{} points × {} replications of model <strong>{}</strong> (<code>{}</code>); experiment seed {}, {} seeds; ddsim {}{}.</p>",
        points.len(),
        escape(&reps),
        escape(model_name),
        escape(spec["model"].as_str().unwrap_or("")),
        spec["seed"],
        seeds,
        escape(manifest["ddsim_version"].as_str().unwrap_or("?")),
        written_at(&summary_path).map(|w| format!(", summarised {w}")).unwrap_or_default()
    );

    // The answer: the main metrics of every point.
    let mut answer = String::new();
    match &summary {
        None => answer.push_str(
            "<p class=\"answer\">No summary yet: the sweep has not finished. Run the same <code>ddsim sweep</code> command again to complete it.</p>\n",
        ),
        Some(sm) => {
            let pts = sm["points"].as_array().cloned().unwrap_or_default();
            let present = |m: &str| pts.iter().any(|p| p["metrics"].get(m).is_some_and(|s| s["mean"].is_number()));
            let metrics = main_metrics(spec, &present, &busiest_servers(&pts));
            let _ = write!(answer, "<div class=\"answer\"><p>Each cell: the mean over replications <span class=\"pm\">± the half-width of its 95% confidence interval</span> (Student t).");
            if let Some(b) = sm["baseline"].as_str() {
                let _ = write!(
                    answer,
                    " Below it, the difference to the baseline <code>{}</code>, paired replication by replication (common random numbers), with its 95% interval: relative to the baseline, or in percentage points (pp) for shares; <span class=\"diff sig inline\">in colour</span> where the interval excludes no change.",
                    escape(b)
                );
            }
            answer.push_str("</p></div>\n");
            answer.push_str(&main_table(sm, &metrics));
            let total = pts.first().and_then(|p| p["metrics"].as_object()).map(|m| m.len()).unwrap_or(0);
            let _ = writeln!(
                answer,
                "<p class=\"meta\">{} of {} metrics shown; every metric of every point, with std, interval bounds and n, is in <a href=\"summary.csv\">summary.csv</a> and <a href=\"summary.json\">summary.json</a>.</p>",
                metrics.len(),
                total
            );
        }
    }
    let compare = summary.as_ref().map(|s| compare_section(&s["compare"])).unwrap_or_default();

    // The model: what varies, what is fixed, the resolved model of one point, the experiment.
    let mut model = String::from("<table><thead><tr><th>varied path</th><th>values</th></tr></thead><tbody>\n");
    for key in ["vary", "zip"] {
        for (path, values) in spec[key].as_object().into_iter().flatten() {
            let items: Vec<String> = values
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| format!("<li><code class=\"wrap\">{}</code></li>", escape(&values_text(v))))
                .collect();
            let _ = writeln!(
                model,
                "<tr><td><code>{}</code>{}</td><td><ul class=\"values\">{}</ul></td></tr>",
                escape(path),
                if key == "zip" { " (zip)" } else { "" },
                items.join("")
            );
        }
    }
    model.push_str("</tbody></table>\n");
    if let Some(set) = spec["set"].as_object().filter(|m| !m.is_empty()) {
        let fixed: Vec<String> =
            set.iter().map(|(k, v)| format!("<code>{}={}</code>", escape(k), escape(&values_text(v)))).collect();
        let _ = writeln!(model, "<p>Set for every run: {}.</p>", fixed.join(", "));
    }
    if let Some(p) = base_model {
        let id = p["id"].as_str().unwrap_or_default();
        model.push_str(&page::json_details(
            &format!("The resolved model of point {id} (the others differ only in the varied paths)"),
            &p["model"],
            false,
        ));
    }
    model.push_str(&page::json_details("The experiment file, as run", spec, false));

    let files = page::files_list(
        dir,
        &[
            (
                "summary.csv",
                "one row per point and metric: mean, std, 95% interval, n, and the difference to the baseline",
            ),
            ("summary.json", "the same, with merged delay histograms and the unpaired intervals"),
            ("compare.csv", "one row per compared metric and pair of points"),
            ("manifest.json", "the experiment, its hash, the seeds and every point's resolved model"),
            ("runs/", "one directory per run: results.json with every metric, time series and histogram"),
            ("charts/", "every chart as SVG and PNG"),
        ],
    );
    Ok(page::document(
        &format!("{name}: ddsim sweep report"),
        &header,
        &[
            ("summary", "Main results", answer),
            ("compare", "Which point is best", compare),
            ("charts", "Charts", page::gallery(dir)),
            ("model", "What was run", model),
            ("files", "Files", files),
        ],
    ))
}
