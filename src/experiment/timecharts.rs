//! Time series as charts: the mean of each sampling interval as a line and, for the servers'
//! queues and utilisation, a band up to the largest value in the interval (so that a queue that
//! fills and drains between two samples shows its peak); the warm-up and every `events[]` item
//! of the model shaded and labelled; optionally a window of simulated time. And the standard
//! charts of a single run, with a zoomed view around its first event.

use super::charts::{bar_chart, cdf_chart};
use super::labels::{metric_words, unit_of};
use crate::plot::chart::{Chart, LineChart, Region, RegionKind, Series, Unit, XyCi};
use crate::units::{format_duration_parts, format_duration_short, parse_duration};
use serde_json::Value;

/// A window of simulated time to draw, in seconds; an end left open is the run's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Window {
    pub from: Option<f64>,
    pub to: Option<f64>,
}

impl Window {
    pub fn is_set(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// The window with the ends left open filled in from the run: [0, horizon].
    fn range(&self, horizon: f64) -> Option<(f64, f64)> {
        self.is_set().then(|| (self.from.unwrap_or(0.0), self.to.unwrap_or(horizon)))
    }

    /// The window in words, for a subtitle.
    fn words(&self, horizon: f64) -> Option<String> {
        let (a, b) = self.range(horizon)?;
        Some(format!("from {} to {}", format_duration_parts(a), format_duration_parts(b)))
    }

    /// The window of a chart spec's `from`/`to`, unless `over` (the command line's) is set.
    pub fn or(self, over: Window) -> Window {
        if over.is_set() { over } else { self }
    }
}

/// A duration of the model stored in results.json ("2h"), in seconds.
fn secs(v: &Value) -> Option<f64> {
    v.as_str().and_then(|s| parse_duration(s).ok()).map(|d| d.secs_f64())
}

fn horizon_s(doc: &Value) -> f64 {
    secs(&doc["model"]["horizon"]).or_else(|| doc["timeseries"]["t_s"].as_array()?.last()?.as_f64()).unwrap_or(0.0)
}

fn interval_words(doc: &Value) -> String {
    secs(&doc["model"]["metrics"]["sample_interval"]).map_or("interval".into(), format_duration_short)
}

/// The spans of a run to shade: its warm-up and every item of its model's `events[]`.
pub fn regions_of(doc: &Value) -> Vec<Region> {
    let mut out = vec![];
    if let Some(w) = secs(&doc["model"]["warmup"]).filter(|w| *w > 0.0) {
        out.push(Region {
            from: 0.0,
            to: w,
            label: format!("warm-up {} (not measured)", format_duration_short(w)),
            kind: RegionKind::WarmUp,
        });
    }
    for e in doc["model"]["events"].as_array().into_iter().flatten() {
        let (Some(at), Some(d)) = (secs(&e["at"]), secs(&e["duration"])) else { continue };
        let what = e["kind"].as_str().unwrap_or("event");
        let on = e["node"].as_str().map(|n| format!(" of {n}")).unwrap_or_default();
        out.push(Region {
            from: at,
            to: at + d,
            label: format!("{what}{on}, {}", format_duration_short(d)),
            kind: RegionKind::Event,
        });
    }
    out
}

/// The first event of a run, as [start, end] in seconds.
fn first_event(doc: &Value) -> Option<(f64, f64)> {
    regions_of(doc).into_iter().find(|r| r.kind == RegionKind::Event).map(|r| (r.from, r.to))
}

/// The default zoom around an event: from 30 minutes before it to 2 hours after its end,
/// within the run.
pub fn around(doc: &Value, (start, end): (f64, f64)) -> Window {
    Window { from: Some((start - 1800.0).max(0.0)), to: Some((end + 7200.0).min(horizon_s(doc))) }
}

/// A column of a run's time series against `t_s`; with `envelope`, the column's largest value
/// in each interval (`<metric>.max`) as the upper end of a band from the mean. Empty if the
/// run has no such column.
pub fn curve(doc: &Value, metric: &str, envelope: bool) -> Vec<XyCi> {
    let ts = &doc["timeseries"];
    let (Some(t), Some(v)) = (ts["t_s"].as_array(), ts[metric].as_array()) else { return vec![] };
    let max = ts[format!("{metric}.max")].as_array().filter(|_| envelope);
    t.iter()
        .zip(v)
        .enumerate()
        .map(|(i, (a, b))| {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            let hi = max.and_then(|m| m.get(i)?.as_f64());
            (x, y, hi.map(|h| (y, h.max(y))))
        })
        .collect()
}

/// Whether a time series has a largest value per interval beside its mean.
pub fn has_envelope(metric: &str) -> bool {
    metric.ends_with(".queue") || metric.ends_with(".utilisation")
}

/// A time-series chart: one curve per entry (name, points), each with its band where it has
/// one; shaded spans; a window.
pub struct TimeChart {
    pub title: String,
    pub subtitle: Vec<String>,
    pub y_label: String,
    pub y_unit: Unit,
    pub curves: Vec<(String, Vec<XyCi>)>,
    pub regions: Vec<Region>,
    /// The run's sampling interval in words ("10m").
    pub interval: String,
    pub window: Option<(f64, f64)>,
}

impl TimeChart {
    pub fn chart(self) -> Chart {
        let mut subtitle = self.subtitle;
        let banded = self.curves.iter().any(|c| c.1.iter().any(|p| p.2.is_some()));
        // A share of workers busy reaches 100% at some instant of nearly every interval: its
        // envelope as a thin line, not a band that covers the plot.
        let edge_only = self.y_unit == Unit::Share;
        if banded {
            subtitle.push(format!(
                "bold: mean over each {} interval; {} the largest value in it",
                self.interval,
                if edge_only { "thin:" } else { "shaded: up to" }
            ));
        }
        let series = self
            .curves
            .into_iter()
            .filter(|c| !c.1.is_empty())
            .map(|(name, points)| {
                let band = points.iter().any(|p| p.2.is_some());
                let lead = if name.is_empty() { String::new() } else { format!("{name}: ") };
                Series {
                    name: if band { format!("{lead}mean per {}", self.interval) } else { name },
                    band_name: band.then(|| format!("{lead}largest in each {}", self.interval)),
                    points,
                    band,
                    band_edge_only: edge_only,
                    ..Series::default()
                }
            })
            .collect();
        Chart::Line(LineChart {
            title: self.title,
            subtitle: (!subtitle.is_empty()).then(|| subtitle.join("; ")),
            x_label: "simulated time since the start".into(),
            y_label: self.y_label,
            x_unit: Unit::Seconds,
            y_unit: self.y_unit,
            series,
            y_from_zero: true,
            x_range: self.window,
            regions: self.regions,
            ..LineChart::default()
        })
    }
}

/// The server nodes of a run (those with a utilisation column), in the series' order.
fn servers(doc: &Value) -> Vec<String> {
    doc["timeseries"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("servers.")?.strip_suffix(".utilisation").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The time-series charts of a run over `window` (None: all of it): (file stem, chart).
fn run_timecharts(doc: &Value, window: Window, head: &str) -> Vec<(String, Chart)> {
    let regions = regions_of(doc);
    let interval = interval_words(doc);
    let mut subtitle = vec![head.to_string()];
    subtitle.extend(window.words(horizon_s(doc)));
    let range = window.range(horizon_s(doc));
    let make = |title: &str, y_label: &str, y_unit: Unit, curves: Vec<(String, Vec<XyCi>)>| {
        TimeChart {
            title: title.into(),
            subtitle: subtitle.clone(),
            y_label: y_label.into(),
            y_unit,
            curves,
            regions: regions.clone(),
            interval: interval.clone(),
            window: range,
        }
        .chart()
    };
    let servers = servers(doc);
    let per_server = |what: &str| -> Vec<(String, Vec<XyCi>)> {
        servers.iter().map(|s| (s.clone(), curve(doc, &format!("servers.{s}.{what}"), true))).collect()
    };
    vec![
        (
            "store-occupancy",
            make(
                "Deferred store occupancy",
                "items held by the PFs",
                Unit::Count,
                vec![("all PFs".into(), curve(doc, "store.occupancy", false))],
            ),
        ),
        (
            "deliveries-per-minute",
            make(
                "Deferred deliveries per minute",
                "deferred items delivered per minute",
                Unit::Count,
                vec![("all PFs".into(), curve(doc, "delivery.per_minute", false))],
            ),
        ),
        (
            "server-utilisation",
            make("Server utilisation", "share of workers busy", Unit::Share, per_server("utilisation")),
        ),
        ("server-queues", make("Server input queues", "messages waiting", Unit::Count, per_server("queue"))),
        (
            "sip-invites-and-503",
            make(
                "SIP INVITEs sent and requests refused (503)",
                &format!("per minute, mean over each {interval}"),
                Unit::Count,
                vec![
                    ("INVITEs sent".into(), curve(doc, "sip.INVITE.per_minute", false)),
                    ("503 responses".into(), curve(doc, "sip.responses.503.per_minute", false)),
                ],
            ),
        ),
    ]
    .into_iter()
    .map(|(stem, c)| (stem.to_string(), c))
    .collect()
}

/// The standard charts of one run (a results.json): store occupancy, deliveries, server
/// utilisation and queues, INVITEs and 503s over time (over `window` if set), the latency CDF
/// and the outcomes; when the model has events and no window is set, the time series again
/// around the first event.
pub fn run_charts(doc: &Value, window: Window) -> Vec<(String, Chart)> {
    let name = doc["model"]["name"].as_str().unwrap_or("run").to_string();
    let head = format!("model {name}, seed {}", doc["seed"]);
    let mut out = run_timecharts(doc, window, &head);
    out.push(("latency-cdf".into(), cdf_chart(&[(String::new(), vec![doc])], "delivery.latency_s", true, None, &head)));
    let mut bars = bar_chart(
        "What happened to deferred items",
        Some(head.clone()),
        "deferred",
        vec!["messages".into()],
        vec![vec![doc]],
    );
    if let Chart::Bar(b) = &mut bars {
        // Notifications as a second bar.
        for (k, seg) in b.segments.iter_mut().enumerate() {
            let key =
                ["delivered", "discarded_decline", "discarded_bye", "dropped_overflow", "expired", "pending_at_end"][k];
            seg.1.push(doc["metrics"][format!("notifications.{key}")].as_f64().unwrap_or(0.0));
        }
        b.categories.push("notifications".into());
        b.x_label = "deferred items".into();
    }
    out.push(("outcomes".into(), bars));
    if !window.is_set()
        && let Some(event) = first_event(doc)
    {
        for (stem, c) in run_timecharts(doc, around(doc, event), &head) {
            out.push((format!("zoom-{stem}"), c));
        }
    }
    out.into_iter().enumerate().map(|(i, (stem, c))| (format!("{:02}-{stem}", i + 1), c)).collect()
}

/// A declared time-series chart of a sweep: `metrics` of replication `replication` of each
/// point, one curve per (point, metric), with the spans of every point's run shaded.
pub fn sweep_timechart(
    points: &[(String, Option<&Value>)],
    metrics: &[String],
    replication: u32,
    title: Option<&str>,
    window: Window,
) -> Chart {
    let docs: Vec<&Value> = points.iter().filter_map(|p| p.1).collect();
    let mut regions: Vec<Region> = vec![];
    for r in docs.iter().flat_map(|d| regions_of(d)) {
        if !regions.iter().any(|q| q.from == r.from && q.to == r.to && q.label == r.label) {
            regions.push(r);
        }
    }
    let mut curves = vec![];
    for (id, doc) in points {
        let Some(doc) = doc else { continue };
        for m in metrics {
            let name = if metrics.len() > 1 { format!("{id}: {m}") } else { id.clone() };
            curves.push((name, curve(doc, m, has_envelope(m))));
        }
    }
    let horizon = docs.iter().map(|d| horizon_s(d)).fold(0.0, f64::max);
    let mut subtitle = vec![format!("replication {replication} of each point")];
    subtitle.extend(window.words(horizon));
    let y_unit = unit_of(&metrics[0]);
    TimeChart {
        title: title.map(str::to_string).unwrap_or_else(|| format!("{} over time", metrics.join(", "))),
        subtitle,
        y_label: if metrics.len() == 1 { metric_words(&metrics[0]) } else { metrics.join(", ") },
        y_unit,
        curves,
        regions,
        interval: docs.first().map_or("interval".into(), |d| interval_words(d)),
        window: window.range(horizon),
    }
    .chart()
}
