//! From results on disk to charts: the charts an experiment declares (or sensible defaults)
//! for a sweep directory, and the standard charts of a single run.

pub use super::labels::unit_of;
use super::labels::{delay_words, is_delay, metric_words, survivors_note};
use super::summary::describe;
use super::timecharts::sweep_timechart;
pub use super::timecharts::{Window, run_charts};
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
            series_list.push(Series { name: label, points, markers: true, ..Series::default() });
        }
        let t = title.map(str::to_string).unwrap_or_else(|| format!("{y} against {}", data.dims[xd].1));
        let mut subtitle = join_subtitle(replications_note(data), &fixed);
        if is_delay(y) {
            let runs: Vec<Vec<&Value>> =
                members.iter().map(|&pi| data.points[pi].runs.iter().flatten().collect()).collect();
            if let Some(note) = survivors_note(&runs) {
                subtitle = subtitle.map(|s| format!("{note}; {s}"));
            }
        }
        charts.push((
            fixed.clone(),
            Chart::Line(LineChart {
                title: t,
                subtitle,
                x_label: data.dims[xd].0.clone(),
                y_label: metric_words(y),
                log_x: log_x && !matches!(x_unit, Unit::Category(_)),
                x_unit: x_unit.clone(),
                y_unit: y_unit.clone(),
                log_y,
                series: series_list,
                y_from_zero: y_unit != Unit::Seconds,
                ..LineChart::default()
            }),
        ));
    }
    Ok(charts)
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

/// Where a CDF's x axis starts: near the data, at the 0.5th percentile of the series that
/// starts first (a few very short delays would leave most of a log axis empty), and where it
/// ends: at the largest value.
fn cdf_range(series: &[Series], log: bool) -> Option<(f64, f64)> {
    let lo = series
        .iter()
        .filter_map(|s| s.points.iter().find(|p| p.1 >= 0.005).map(|p| p.0))
        .filter(|x| !log || *x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = series.iter().filter_map(|s| s.points.last().map(|p| p.0)).fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return None;
    }
    Some(if log { (lo / 1.2, hi * 1.2) } else { ((lo - 0.03 * (hi - lo)).max(0.0), hi + 0.03 * (hi - lo)) })
}

/// The CDF of delay histogram `metric`, one step curve per (name, runs merged).
pub(super) fn cdf_chart(
    groups: &[(String, Vec<&Value>)],
    metric: &str,
    log_x: bool,
    title: Option<&str>,
    subtitle: &str,
) -> Chart {
    let series: Vec<Series> = groups
        .iter()
        .map(|(name, runs)| Series {
            name: name.clone(),
            points: cdf_points(runs, metric),
            steps: true,
            ..Series::default()
        })
        .collect();
    let runs: Vec<Vec<&Value>> = groups.iter().map(|g| g.1.clone()).collect();
    let subtitle = match survivors_note(&runs) {
        Some(note) => format!("{note}; {subtitle}"),
        None => subtitle.to_string(),
    };
    Chart::Line(LineChart {
        title: title.map(str::to_string).unwrap_or_else(|| match metric {
            "delivery.latency_s" => "Deferred delivery latency (CDF)".to_string(),
            m => format!("{m} (CDF)"),
        }),
        subtitle: Some(subtitle),
        x_label: delay_words(metric).into(),
        y_label: "share of the delivered items delivered within x".into(),
        x_unit: Unit::Seconds,
        y_unit: Unit::Share,
        log_x,
        x_range: cdf_range(&series, log_x),
        series,
        y_from_zero: true,
        ..LineChart::default()
    })
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
        let groups: Vec<(String, Vec<&Value>)> = members
            .iter()
            .map(|&pi| {
                let p = &data.points[pi];
                let name = match sd {
                    Some(s) => format!("{}={}", data.dims[s].1, p.labels[s]),
                    None => p.id.clone(),
                };
                (name, p.runs.iter().flatten().collect())
            })
            .collect();
        let subtitle = join_subtitle(format!("all {} replications merged", replications_text(data)), &fixed);
        charts.push((fixed.clone(), cdf_chart(&groups, metric, log_x, title, &subtitle.unwrap_or_default())));
    }
    Ok(charts)
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
            Series { name: p.id.clone(), points, band: true, ..Series::default() }
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
        y_label: metric_words(metric),
        x_unit: Unit::Category((0..24).map(|h| h.to_string()).collect()),
        y_unit: y_unit.clone(),
        log_x: false,
        log_y: false,
        series,
        y_from_zero: y_unit != Unit::Seconds,
        ..LineChart::default()
    })
}

pub(super) fn bar_chart(
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
            "{}, mean over replications",
            if of == "deferred" { "deferred messages" } else { "deferred notifications" }
        ),
    })
}

/// The charts of a sweep: the declared ones, or defaults; time series over `window` when it is
/// set (else over the window the chart declares, if any). Returns (file stem, chart).
pub fn sweep_charts(data: &SweepData, window: Window) -> Result<Vec<(String, Chart)>, String> {
    let specs: Vec<ChartSpec> = if data.spec.charts.is_empty() {
        let first = data.dims.first().map(|d| d.0.clone());
        let mut v = vec![
            ChartSpec::Bar { of: "deferred".into(), title: None },
            ChartSpec::Cdf { metric: "delivery.latency_s".into(), series: first.clone(), log_x: true, title: None },
            ChartSpec::Timeseries {
                metrics: vec!["store.occupancy".into()],
                replication: 0,
                title: None,
                from: None,
                to: None,
            },
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
            ChartSpec::Timeseries { metrics, replication, title, from, to } => {
                let points: Vec<(String, Option<&Value>)> = data
                    .points
                    .iter()
                    .map(|p| (p.id.clone(), p.runs.get(*replication as usize).and_then(Option::as_ref)))
                    .collect();
                let declared = Window { from: from.map(|d| d.secs_f64()), to: to.map(|d| d.secs_f64()) };
                vec![(
                    String::new(),
                    sweep_timechart(&points, metrics, *replication, title.as_deref(), declared.or(window)),
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

/// Draws the charts of a sweep or run directory into `dir/charts/`, time series over `window`
/// if it is set, and removes charts of an earlier drawing that this one does not make. Returns
/// the files written.
pub fn plot_dir(dir: &Path, window: Window) -> Result<Vec<PathBuf>, String> {
    let charts = if dir.join("manifest.json").exists() {
        sweep_charts(&SweepData::load(dir)?, window)?
    } else if dir.join("results.json").exists() {
        run_charts(&read(&dir.join("results.json"))?, window)
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
    // Charts numbered as ddsim numbers them ("04-server-queues.svg") that this drawing did not
    // write are from an earlier one (an older version, or other charts declared).
    for e in std::fs::read_dir(&out).into_iter().flatten().flatten() {
        let p = e.path();
        let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let ours = name.len() > 3 && name.as_bytes()[..2].iter().all(u8::is_ascii_digit) && &name[2..3] == "-";
        if ours && p.extension().is_some_and(|x| x == "svg" || x == "png") && !files.contains(&p) {
            let _ = std::fs::remove_file(&p);
        }
    }
    Ok(files)
}
