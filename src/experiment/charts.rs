//! From results on disk to charts: the charts an experiment declares (or sensible defaults)
//! for a sweep directory, and the standard charts of a single run.

use super::summary::describe;
use super::{ChartSpec, ExperimentSpec, short_names};
use crate::model::display_path;
use crate::plot::chart::{BarChart, Chart, LineChart, Series, Unit, XyCi};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A sweep directory, loaded.
pub struct SweepData {
    pub spec: ExperimentSpec,
    pub points: Vec<PointData>,
    /// Varied paths with their short names, in expansion order.
    pub dims: Vec<(String, String)>,
    /// Indices of the dimensions that come from `zip` (they move together).
    pub zipped: Vec<usize>,
    pub replications: usize,
}

pub struct PointData {
    pub id: String,
    /// Label of each dimension's value.
    pub labels: Vec<String>,
    /// Value of each dimension.
    pub values: Vec<Value>,
    /// results.json of each replication (None if missing).
    pub runs: Vec<Option<Value>>,
}

fn read(p: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("{}: cannot read: {}", p.display(), crate::output::io_reason(&e)))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", p.display()))
}

impl SweepData {
    pub fn load(dir: &Path) -> Result<SweepData, String> {
        let manifest = read(&dir.join("manifest.json"))?;
        let spec: ExperimentSpec = serde_json::from_value(manifest["experiment"].clone())
            .map_err(|e| format!("{}: experiment: {e}", dir.join("manifest.json").display()))?;
        let paths: Vec<String> = spec.vary.keys().chain(spec.zip.keys()).cloned().collect();
        let dims: Vec<(String, String)> = paths.iter().cloned().zip(short_names(&paths)).collect();
        let replications = manifest["seeds"].as_array().map(Vec::len).unwrap_or(0);
        let zipped = (spec.vary.len()..paths.len()).collect();
        let mut points = vec![];
        for p in manifest["points"].as_array().ok_or("manifest.json: no points")? {
            let id = p["id"].as_str().unwrap_or_default().to_string();
            let labels = p["labels"]
                .as_array()
                .map(|l| l.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect())
                .unwrap_or_default();
            let params = p["params"].as_object().cloned().unwrap_or_default();
            let values = paths.iter().map(|k| params.get(k).cloned().unwrap_or(Value::Null)).collect();
            let runs = (0..replications)
                .map(|r| read(&dir.join("runs").join(format!("{id}-r{r}")).join("results.json")).ok())
                .collect();
            points.push(PointData { id, labels, values, runs });
        }
        Ok(SweepData { spec, points, dims, zipped, replications })
    }

    fn dim(&self, path: &str) -> Option<usize> {
        let p = display_path(path);
        self.dims.iter().position(|d| display_path(&d.0) == p)
    }
}

/// A metric of one run: a name, or a ratio `a/b`.
fn metric_of(doc: &Value, expr: &str) -> Option<f64> {
    let get = |k: &str| doc["metrics"][k.trim()].as_f64();
    match expr.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (get(a)?, get(b)?);
            (b != 0.0).then_some(a / b)
        }
        None => get(expr),
    }
}

/// The unit a metric (or ratio) is read in.
pub fn unit_of(expr: &str) -> Unit {
    if expr.contains('/') || expr.ends_with("utilisation") {
        return Unit::Share;
    }
    if expr.contains("latency_s") || expr.ends_with("_s") || expr.contains("_s.") {
        return Unit::Seconds;
    }
    if expr.contains("bytes") {
        return Unit::Bytes;
    }
    Unit::Count
}

fn unit_suffix(u: &Unit) -> &'static str {
    match u {
        Unit::Seconds => " (time)",
        Unit::Bytes => " (bytes)",
        Unit::Share => " (share)",
        Unit::Count => " (count)",
        Unit::Category(_) => "",
    }
}

/// Values of one dimension as an axis: numbers, durations (in seconds), or categories.
fn axis_of(values: &[Value], labels: &[String]) -> (Vec<f64>, Unit) {
    if values.iter().all(Value::is_number) {
        return (values.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect(), Unit::Count);
    }
    let durations: Option<Vec<f64>> = values
        .iter()
        .map(|v| v.as_str().and_then(|s| crate::units::parse_duration(s).ok()).map(|d| d.secs_f64()))
        .collect();
    if let Some(d) = durations {
        return (d, Unit::Seconds);
    }
    ((0..values.len()).map(|i| i as f64).collect(), Unit::Category(labels.to_vec()))
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(60).collect()
}

/// Groups point indices by the values of every dimension except `free` (a zipped dimension
/// frees the others of its `zip` block, since they move together).
fn groups(data: &SweepData, free: &[usize]) -> Vec<(String, Vec<usize>)> {
    let mut free = free.to_vec();
    if free.iter().any(|d| data.zipped.contains(d)) {
        free.extend(data.zipped.iter().copied());
    }
    let mut out: Vec<(String, Vec<usize>)> = vec![];
    for (i, p) in data.points.iter().enumerate() {
        let key: Vec<String> = (0..data.dims.len())
            .filter(|d| !free.contains(d))
            .map(|d| format!("{}={}", data.dims[d].1, p.labels[d]))
            .collect();
        let key = key.join(", ");
        match out.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(i),
            None => out.push((key, vec![i])),
        }
    }
    out
}

/// The distinct labels of dimension `d`, in expansion order.
fn dim_labels(data: &SweepData, d: usize) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = vec![];
    for p in &data.points {
        if !out.iter().any(|x| x.0 == p.labels[d]) {
            out.push((p.labels[d].clone(), p.values[d].clone()));
        }
    }
    out
}

fn replications_note(data: &SweepData) -> String {
    format!("mean of {} replications, 95% CI", replications_text(data))
}

/// `5`, or `3 to 12` when a sequential experiment gave points different numbers of runs.
fn replications_text(data: &SweepData) -> String {
    let counts: Vec<usize> = data.points.iter().map(|p| p.runs.iter().flatten().count()).collect();
    match (counts.iter().min(), counts.iter().max()) {
        (Some(lo), Some(hi)) if lo != hi => format!("{lo} to {hi}"),
        (Some(n), _) => n.to_string(),
        _ => data.replications.to_string(),
    }
}

fn join_subtitle(a: String, b: &str) -> Option<String> {
    if b.is_empty() { Some(a) } else { Some(format!("{a}; {b}")) }
}

#[allow(clippy::too_many_arguments)]
fn line_charts(
    data: &SweepData,
    x: &str,
    y: &str,
    series: Option<&str>,
    log_x: bool,
    log_y: bool,
    title: Option<&str>,
) -> Result<Vec<(String, Chart)>, String> {
    let xd = data.dim(x).ok_or_else(|| format!("\"{x}\" is not a varied parameter"))?;
    let sd = series.map(|s| data.dim(s).ok_or_else(|| format!("\"{s}\" is not a varied parameter"))).transpose()?;
    let xs = dim_labels(data, xd);
    let (xv, x_unit) = axis_of(
        &xs.iter().map(|x| x.1.clone()).collect::<Vec<_>>(),
        &xs.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
    );
    let y_unit = unit_of(y);
    let free: Vec<usize> = std::iter::once(xd).chain(sd).collect();
    let mut charts = vec![];
    for (fixed, members) in groups(data, &free) {
        let mut series_list: Vec<Series> = vec![];
        let names: Vec<String> = match sd {
            Some(s) => dim_labels(data, s).into_iter().map(|l| l.0).collect(),
            None => vec![String::new()],
        };
        for name in names {
            let mut points = vec![];
            for &pi in &members {
                let p = &data.points[pi];
                if let Some(s) = sd
                    && p.labels[s] != name
                {
                    continue;
                }
                let xi = xs.iter().position(|l| l.0 == p.labels[xd]).expect("label of this dimension");
                let values: Vec<f64> = p.runs.iter().flatten().filter_map(|d| metric_of(d, y)).collect();
                if values.is_empty() {
                    continue;
                }
                let st = describe(&values);
                let ci = (st.n > 1 && st.ci95_low.is_finite()).then_some((st.ci95_low, st.ci95_high));
                points.push((xv[xi], st.mean, ci));
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let label = match sd {
                Some(s) => format!("{}={name}", data.dims[s].1),
                None => String::new(),
            };
            series_list.push(Series {
                name: label,
                points,
                markers: true,
                steps: false,
                band: false,
                points_only: false,
            });
        }
        let t = title.map(str::to_string).unwrap_or_else(|| format!("{y} against {}", data.dims[xd].1));
        let x_label = format!("{}{}", data.dims[xd].0, unit_suffix(&x_unit));
        charts.push((
            fixed.clone(),
            Chart::Line(LineChart {
                title: t,
                subtitle: join_subtitle(replications_note(data), &fixed),
                x_label,
                y_label: format!("{}{}", y.replace('/', " / "), unit_suffix(&y_unit)),
                log_x: log_x && !matches!(x_unit, Unit::Category(_)),
                x_unit: x_unit.clone(),
                y_unit: y_unit.clone(),
                log_y,
                series: series_list,
                y_from_zero: y_unit != Unit::Seconds,
            }),
        ));
    }
    Ok(charts)
}

/// What each delay histogram measures, as an axis label.
fn delay_label(metric: &str) -> &'static str {
    match metric {
        "delivery.after_register_s" => "delay from the 3rd-party REGISTER at the PF to MSRP delivery (time)",
        "delivery.after_client_register_s" => "delay from the client's REGISTER to MSRP delivery (time)",
        _ => "delivery latency: arrival at the PF to MSRP delivery (time)",
    }
}

/// Merged histogram `metric` of a set of runs, as CDF points (upper edge, fraction).
fn cdf_points(runs: &[&Value], metric: &str) -> Vec<XyCi> {
    let mut merged: Vec<(f64, u64)> = vec![];
    for d in runs {
        let h = &d["histograms"][metric];
        let (Some(le), Some(c)) = (h["le"].as_array(), h["count"].as_array()) else { continue };
        for (e, n) in le.iter().zip(c) {
            let (e, n) = (e.as_f64().unwrap_or(0.0), n.as_u64().unwrap_or(0));
            match merged.iter_mut().find(|m| m.0 == e) {
                Some(m) => m.1 += n,
                None => merged.push((e, n)),
            }
        }
    }
    merged.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = merged.iter().map(|m| m.1).sum();
    if total == 0 {
        return vec![];
    }
    let mut acc = 0;
    let mut out = vec![];
    for (e, n) in merged {
        acc += n;
        out.push((e, acc as f64 / total as f64, None));
    }
    out
}

fn cdf_charts(
    data: &SweepData,
    metric: &str,
    series: Option<&str>,
    log_x: bool,
    title: Option<&str>,
) -> Result<Vec<(String, Chart)>, String> {
    let sd = series.map(|s| data.dim(s).ok_or_else(|| format!("\"{s}\" is not a varied parameter"))).transpose()?;
    let free: Vec<usize> = match sd {
        Some(s) => vec![s],
        None => (0..data.dims.len()).collect(),
    };
    let mut charts = vec![];
    for (fixed, members) in groups(data, &free) {
        let mut series_list = vec![];
        for &pi in &members {
            let p = &data.points[pi];
            let runs: Vec<&Value> = p.runs.iter().flatten().collect();
            let name = match sd {
                Some(s) => format!("{}={}", data.dims[s].1, p.labels[s]),
                None => p.id.clone(),
            };
            series_list.push(Series {
                name,
                points: cdf_points(&runs, metric),
                markers: false,
                steps: true,
                band: false,
                points_only: false,
            });
        }
        charts.push((
            fixed.clone(),
            Chart::Line(LineChart {
                title: title.map(str::to_string).unwrap_or_else(|| match metric {
                    "delivery.latency_s" => "Deferred delivery latency (CDF)".to_string(),
                    m => format!("{m} (CDF)"),
                }),
                subtitle: join_subtitle(format!("all {} replications merged", replications_text(data)), &fixed),
                x_label: delay_label(metric).into(),
                y_label: "fraction of deferred items delivered (share)".into(),
                x_unit: Unit::Seconds,
                y_unit: Unit::Share,
                log_x,
                log_y: false,
                series: series_list,
                y_from_zero: true,
            }),
        ));
    }
    Ok(charts)
}

fn series_of(doc: &Value, metric: &str) -> Vec<XyCi> {
    let t = doc["timeseries"]["t_s"].as_array();
    let v = doc["timeseries"][metric].as_array();
    match (t, v) {
        (Some(t), Some(v)) => {
            t.iter().zip(v).map(|(a, b)| (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0), None)).collect()
        }
        _ => vec![],
    }
}

fn timeseries_chart(title: &str, subtitle: Option<String>, curves: Vec<(String, Vec<XyCi>)>, metric: &str) -> Chart {
    let y_unit = if metric.ends_with("utilisation") { Unit::Share } else { unit_of(metric) };
    let y_label = match metric {
        "delivery.per_minute" => "deferred items delivered per minute (count)".to_string(),
        "store.occupancy" => "items held by the PFs (count)".to_string(),
        "store.bytes" => "bytes held by the PFs (bytes)".to_string(),
        "workload.online_users" => "devices switched on (count)".to_string(),
        m if m.ends_with(".utilisation") => "share of workers busy, per interval (share)".to_string(),
        m if m.ends_with(".queue") => "messages waiting, mean per interval (count)".to_string(),
        m => format!("{m}{}", unit_suffix(&y_unit)),
    };
    Chart::Line(LineChart {
        title: title.to_string(),
        subtitle,
        x_label: "virtual time (time)".into(),
        y_label,
        x_unit: Unit::Seconds,
        y_unit,
        log_x: false,
        log_y: false,
        series: curves
            .into_iter()
            .map(|(name, points)| Series {
                name,
                points,
                markers: false,
                steps: false,
                band: false,
                points_only: false,
            })
            .collect(),
        y_from_zero: true,
    })
}

/// A run's hourly column folded by hour of day: at each hour of day, the mean over the days of
/// the window in which that hour is measured in full (None: no such hour, or no value in it).
pub fn profile_of(doc: &Value, metric: &str) -> [Option<f64>; 24] {
    let h = &doc["hourly"];
    let (mut sum, mut n) = ([0.0; 24], [0usize; 24]);
    if let (Some(hod), Some(dur), Some(v)) =
        (h["hour_of_day"].as_array(), h["duration_s"].as_array(), h[metric].as_array())
    {
        for ((hod, dur), v) in hod.iter().zip(dur).zip(v) {
            let (Some(hod), Some(dur), Some(v)) = (hod.as_u64(), dur.as_f64(), v.as_f64()) else { continue };
            if dur >= 3600.0 && hod < 24 {
                sum[hod as usize] += v;
                n[hod as usize] += 1;
            }
        }
    }
    std::array::from_fn(|i| (n[i] > 0).then(|| sum[i] / n[i] as f64))
}

/// An hourly column by hour of day, one line per point: the mean over replications of each
/// run's profile, with its 95% interval as a band.
fn profile_chart(data: &SweepData, metric: &str, title: Option<&str>) -> Chart {
    let series = data
        .points
        .iter()
        .map(|p| {
            let runs: Vec<[Option<f64>; 24]> = p.runs.iter().flatten().map(|d| profile_of(d, metric)).collect();
            let points = (0..24)
                .filter_map(|hod| {
                    let values: Vec<f64> = runs.iter().filter_map(|r| r[hod]).collect();
                    if values.is_empty() {
                        return None;
                    }
                    let st = describe(&values);
                    let ci = (st.n > 1 && st.ci95_low.is_finite()).then_some((st.ci95_low, st.ci95_high));
                    Some((hod as f64, st.mean, ci))
                })
                .collect();
            Series { name: p.id.clone(), points, markers: false, steps: false, band: true, points_only: false }
        })
        .collect();
    let y_unit = unit_of(metric);
    Chart::Line(LineChart {
        title: title.map(str::to_string).unwrap_or_else(|| format!("{metric} by hour of day")),
        subtitle: Some(format!(
            "per hour, mean over the days of the window; mean of {} replications, 95% CI band",
            replications_text(data)
        )),
        x_label: "hour of day (simulated time 0 is midnight)".into(),
        y_label: format!("{metric}{}", unit_suffix(&y_unit)),
        x_unit: Unit::Category((0..24).map(|h| h.to_string()).collect()),
        y_unit: y_unit.clone(),
        log_x: false,
        log_y: false,
        series,
        y_from_zero: y_unit != Unit::Seconds,
    })
}

fn bar_chart(
    title: &str,
    subtitle: Option<String>,
    of: &str,
    categories: Vec<String>,
    docs: Vec<Vec<&Value>>,
) -> Chart {
    let kinds = [
        ("delivered", "delivered"),
        ("discarded_decline", "discarded: declined (603)"),
        ("discarded_bye", "discarded: BYE cause=200"),
        ("dropped_overflow", "dropped: store overflow"),
        ("expired", "expired (TTL)"),
        ("pending_at_end", "still pending at the end"),
    ];
    let segments = kinds
        .iter()
        .map(|(k, name)| {
            let vals = docs
                .iter()
                .map(|runs| {
                    let v: Vec<f64> = runs.iter().filter_map(|d| d["metrics"][format!("{of}.{k}")].as_f64()).collect();
                    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
                })
                .collect();
            (name.to_string(), vals)
        })
        .collect();
    Chart::Bar(BarChart {
        title: title.to_string(),
        subtitle,
        categories,
        segments,
        x_label: format!(
            "{} (count, mean over replications)",
            if of == "deferred" { "deferred messages" } else { "deferred notifications" }
        ),
    })
}

/// The charts of a sweep: the declared ones, or defaults. Returns (file stem, chart).
pub fn sweep_charts(data: &SweepData) -> Result<Vec<(String, Chart)>, String> {
    let specs: Vec<ChartSpec> = if data.spec.charts.is_empty() {
        let first = data.dims.first().map(|d| d.0.clone());
        let mut v = vec![
            ChartSpec::Bar { of: "deferred".into(), title: None },
            ChartSpec::Cdf { metric: "delivery.latency_s".into(), series: first.clone(), log_x: true, title: None },
            ChartSpec::Timeseries { metrics: vec!["store.occupancy".into()], replication: 0, title: None },
        ];
        if let Some(x) = first {
            v.push(ChartSpec::Line {
                x,
                y: "deferred.delivered".into(),
                series: None,
                log_x: false,
                log_y: false,
                title: None,
            });
        }
        v
    } else {
        data.spec.charts.clone()
    };
    let mut out = vec![];
    for (i, spec) in specs.iter().enumerate() {
        let made: Vec<(String, Chart)> = match spec {
            ChartSpec::Line { x, y, series, log_x, log_y, title } => {
                line_charts(data, x, y, series.as_deref(), *log_x, *log_y, title.as_deref())?
            }
            ChartSpec::Cdf { metric, series, log_x, title } => {
                cdf_charts(data, metric, series.as_deref(), *log_x, title.as_deref())?
            }
            ChartSpec::Timeseries { metrics, replication, title } => {
                let mut curves = vec![];
                for p in &data.points {
                    let Some(Some(doc)) = p.runs.get(*replication as usize) else { continue };
                    for m in metrics {
                        let name = if metrics.len() > 1 { format!("{}: {m}", p.id) } else { p.id.clone() };
                        curves.push((name, series_of(doc, m)));
                    }
                }
                let t = title.clone().unwrap_or_else(|| format!("{} over time", metrics.join(", ")));
                vec![(
                    String::new(),
                    timeseries_chart(&t, Some(format!("replication {replication} of each point")), curves, &metrics[0]),
                )]
            }
            ChartSpec::Profile { metric, title } => {
                vec![(String::new(), profile_chart(data, metric, title.as_deref()))]
            }
            ChartSpec::Bar { of, title } => {
                let t = title.clone().unwrap_or_else(|| {
                    format!("What happened to deferred {}", if of == "deferred" { "messages" } else { "notifications" })
                });
                let cats = data.points.iter().map(|p| p.id.clone()).collect();
                let docs = data.points.iter().map(|p| p.runs.iter().flatten().collect()).collect();
                vec![(
                    String::new(),
                    bar_chart(&t, Some(replications_note(data).replace(", 95% CI", "")), of, cats, docs),
                )]
            }
        };
        for (fixed, chart) in made {
            let mut stem = format!("{:02}-{}", i + 1, slug(chart.title()));
            if !fixed.is_empty() {
                stem.push_str(&format!("--{}", slug(&fixed)));
            }
            out.push((stem, chart));
        }
    }
    Ok(out)
}

/// The standard charts of one run (a results.json).
pub fn run_charts(doc: &Value) -> Vec<(String, Chart)> {
    let name = doc["model"]["name"].as_str().unwrap_or("run").to_string();
    let sub = Some(format!("model {name}, seed {}", doc["seed"]));
    let mut out = vec![];
    out.push((
        "01-store-occupancy".to_string(),
        timeseries_chart(
            "Deferred store occupancy",
            sub.clone(),
            vec![("all PFs".into(), series_of(doc, "store.occupancy"))],
            "store.occupancy",
        ),
    ));
    out.push((
        "02-deliveries-per-minute".to_string(),
        timeseries_chart(
            "Deferred deliveries per minute",
            sub.clone(),
            vec![("all PFs".into(), series_of(doc, "delivery.per_minute"))],
            "delivery.per_minute",
        ),
    ));
    let servers: Vec<String> = doc["timeseries"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| {
                    k.strip_prefix("servers.").and_then(|r| r.strip_suffix(".utilisation")).map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let util = servers.iter().map(|s| (s.clone(), series_of(doc, &format!("servers.{s}.utilisation")))).collect();
    out.push((
        "03-server-utilisation".to_string(),
        timeseries_chart("Server utilisation", sub.clone(), util, "servers.x.utilisation"),
    ));
    let queues = servers.iter().map(|s| (s.clone(), series_of(doc, &format!("servers.{s}.queue")))).collect();
    out.push((
        "04-server-queues".to_string(),
        timeseries_chart("Server input queues", sub.clone(), queues, "servers.x.queue"),
    ));
    out.push((
        "05-latency-cdf".to_string(),
        Chart::Line(LineChart {
            title: "Deferred delivery latency (CDF)".into(),
            subtitle: sub.clone(),
            x_label: "delivery latency: arrival at the PF to MSRP delivery (time)".into(),
            y_label: "fraction of deferred items delivered (share)".into(),
            x_unit: Unit::Seconds,
            y_unit: Unit::Share,
            log_x: true,
            log_y: false,
            series: vec![Series {
                name: String::new(),
                points: cdf_points(&[doc], "delivery.latency_s"),
                markers: false,
                steps: true,
                band: false,
                points_only: false,
            }],
            y_from_zero: true,
        }),
    ));
    out.push((
        "06-outcomes".to_string(),
        bar_chart("What happened to deferred items", sub, "deferred", vec!["messages".into()], vec![vec![doc]]),
    ));
    if let Chart::Bar(b) = &mut out.last_mut().expect("pushed").1 {
        // Notifications as a second bar.
        for (k, seg) in b.segments.iter_mut().enumerate() {
            let key =
                ["delivered", "discarded_decline", "discarded_bye", "dropped_overflow", "expired", "pending_at_end"][k];
            seg.1.push(doc["metrics"][format!("notifications.{key}")].as_f64().unwrap_or(0.0));
        }
        b.categories.push("notifications".into());
        b.x_label = "deferred items (count)".into();
    }
    out
}

/// Draws the charts of a sweep or run directory into `dir/charts/`. Returns the files written.
pub fn plot_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let charts = if dir.join("manifest.json").exists() {
        sweep_charts(&SweepData::load(dir)?)?
    } else if dir.join("results.json").exists() {
        run_charts(&read(&dir.join("results.json"))?)
    } else {
        return Err(format!("{}: neither a sweep (manifest.json) nor a run (results.json) directory", dir.display()));
    };
    let out = dir.join("charts");
    std::fs::create_dir_all(&out)
        .map_err(|e| format!("{}: cannot create: {}", out.display(), crate::output::io_reason(&e)))?;
    let mut files = vec![];
    for (stem, chart) in charts {
        let path = out.join(&stem);
        chart.save(&path)?;
        files.push(path.with_extension("svg"));
        files.push(path.with_extension("png"));
    }
    Ok(files)
}
