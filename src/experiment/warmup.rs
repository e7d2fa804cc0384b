//! Is the warm-up long enough? `ddsim warmup` runs a pilot of the model, finds with MSER-5
//! (`metrics::mser`) where each of its main time series settles — the store occupancy, each
//! server's queue, the deliveries per minute — and recommends the largest of those points as
//! the warm-up, with a chart. `ddsim run` applies the same test to its own store occupancy,
//! after the run, and warns when the configured warm-up falls far short ([`short_warmup`]).
//!
//! The series are those of results.json (`timeseries`), sampled every
//! `metrics.sample_interval` from the start of the run, across the warm-up. Sample `i` is
//! taken at `t_s[i]` and, for the interval averages (queues, deliveries), covers the interval
//! before it; deleting the first `n` samples therefore deletes the run up to `t_s[n-1]`,
//! which is where a truncation point is placed: always a sampling instant.

use crate::metrics::mser::{BATCH, MIN_BATCHES, Truncation, Verdict, mser5};
use crate::model::{Model, Start};
use crate::output::write_json;
use crate::plot::chart::Unit;
use crate::plot::panels::{Mark, Panel, PanelChart, Style};
use crate::sim::{RunError, RunOptions, run_model};
use crate::units::{Duration, SEC, format_duration, format_duration_short};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The MSER-5 truncation of one series of a run.
#[derive(Clone, Debug)]
pub struct SeriesWarmup {
    pub name: String,
    pub truncation: Truncation,
    /// The truncation point (s): where the deleted samples end. For a series that has not
    /// settled, a lower bound of where it settles.
    pub at_s: f64,
}

impl SeriesWarmup {
    fn of(name: &str, t_s: &[f64], values: &[f64]) -> SeriesWarmup {
        let truncation = mser5(values);
        let at_s = match truncation.deleted {
            0 => 0.0,
            n => t_s.get(n - 1).copied().unwrap_or(0.0),
        };
        SeriesWarmup { name: name.to_string(), truncation, at_s }
    }

    pub fn settled(&self) -> bool {
        self.truncation.settled()
    }

    /// `1d 4h 10m`, `not settled by 1d 12h`, `too short to tell`.
    pub fn describe(&self) -> String {
        match self.truncation.verdict {
            Verdict::Settled => format_span(self.at_s),
            Verdict::NotSettled => format!("not settled by {}", format_span(self.at_s)),
            Verdict::TooShort => "too short to tell".to_string(),
        }
    }
}

/// MSER-5 of the main series of one run, and what they say about its warm-up.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub model: String,
    /// The first pilot's seed; the others follow it.
    pub seed: u64,
    /// Pilot runs whose series were averaged.
    pub replications: usize,
    pub horizon_s: f64,
    pub interval_s: f64,
    pub samples: usize,
    pub configured_s: f64,
    pub series: Vec<SeriesWarmup>,
    /// The model's `events[]`: (start, end, what) in seconds, shaded on the chart.
    pub events: Vec<(f64, f64, String)>,
}

/// The main series of a run, in the order they are reported: the store occupancy, each
/// server's queue (in node order, a pool's members one by one), the deliveries per minute.
/// Utilisation follows the queues, and the bytes held follow the items held, so they are not
/// analysed separately.
pub fn main_series(model: &Model, timeseries: &Value) -> Vec<String> {
    let mut names = vec!["store.occupancy".to_string()];
    for n in super::server_names(model) {
        let name = format!("servers.{n}.queue");
        if timeseries.get(&name).is_some() {
            names.push(name);
        }
    }
    names.push("delivery.per_minute".to_string());
    names
}

fn column(timeseries: &Value, name: &str) -> Vec<f64> {
    timeseries[name].as_array().map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect()).unwrap_or_default()
}

impl Analysis {
    /// Analyses the `timeseries` of `replications` runs of `model` from `seed` on (averaged).
    pub fn of(model: &Model, seed: u64, replications: usize, timeseries: &Value) -> Analysis {
        let t_s = column(timeseries, "t_s");
        let series = main_series(model, timeseries)
            .iter()
            .map(|name| SeriesWarmup::of(name, &t_s, &column(timeseries, name)))
            .collect();
        Analysis {
            model: model.name.clone(),
            seed,
            replications,
            horizon_s: model.horizon.secs_f64(),
            interval_s: model.metrics.sample_interval.secs_f64(),
            samples: t_s.len(),
            configured_s: model.warmup.secs_f64(),
            series,
            events: super::timecharts::regions_of(&json!({ "model": model.to_value() }))
                .into_iter()
                .filter(|r| r.kind == crate::plot::chart::RegionKind::Event)
                .map(|r| (r.from, r.to, r.label))
                .collect(),
        }
    }

    /// `seed 1`, or `mean of 5 runs, seeds 1-5`.
    pub fn seeds_text(&self) -> String {
        match self.replications {
            0 | 1 => format!("seed {}", self.seed),
            n => format!("mean of {n} runs, seeds {}-{}", self.seed, self.seed.wrapping_add(n as u64 - 1)),
        }
    }

    /// The recommended warm-up: the largest truncation point of the series that settled.
    pub fn recommended_s(&self) -> Option<f64> {
        self.series.iter().filter(|s| s.settled()).map(|s| s.at_s).reduce(f64::max)
    }

    /// When some series has not settled: the warm-up is at least the largest point reached,
    /// truncation points and lower bounds alike. None when every series settled (or none
    /// could tell).
    pub fn at_least_s(&self) -> Option<f64> {
        if self.not_settled().is_empty() {
            return None;
        }
        self.series.iter().filter(|s| s.truncation.verdict != Verdict::TooShort).map(|s| s.at_s).reduce(f64::max)
    }

    /// The series that have not settled within the run (or that are too short to tell).
    pub fn not_settled(&self) -> Vec<&SeriesWarmup> {
        self.series.iter().filter(|s| !s.settled()).collect()
    }

    /// Whether the configured warm-up covers every transient: `Some(false)` when it is shorter
    /// than a truncation point or than a lower bound of one; `None` when a series has not
    /// settled by a point the configured warm-up already passes (nobody can tell).
    pub fn configured_is_enough(&self) -> Option<bool> {
        let reach = self.at_least_s().or(self.recommended_s());
        if reach.is_some_and(|r| r > self.configured_s) {
            return Some(false);
        }
        (reach.is_some() && self.not_settled().is_empty()).then_some(true)
    }

    /// warmup.json: the method, each series, the recommendation, the model that ran and the seed.
    pub fn to_json(&self, model: &Model, params: Value) -> Value {
        let series: Vec<Value> = self
            .series
            .iter()
            .map(|s| {
                let t = &s.truncation;
                json!({
                    "name": s.name,
                    "verdict": match t.verdict {
                        Verdict::Settled => "settled",
                        Verdict::NotSettled => "not_settled",
                        Verdict::TooShort => "too_short",
                    },
                    "reliable": s.settled(),
                    "truncation_s": s.at_s,
                    "truncation": duration_text(s.at_s),
                    "truncated_samples": t.deleted,
                    "batches": t.batches,
                    "truncated_batches": t.deleted_batches,
                    "mean_after": t.mean_after,
                })
            })
            .collect();
        let rec = self.recommended_s();
        json!({
            "ddsim_version": env!("CARGO_PKG_VERSION"),
            "method": format!(
                "MSER-5 (White 1997): batch means of {BATCH} samples; truncation d* minimising \
                 sum_(j>d)(Z_j - mean)^2/(k-d)^2 over d = 0..k/2; a minimum at d = k/2 means not settled"
            ),
            "pilot": {
                "horizon_s": self.horizon_s,
                "horizon": duration_text(self.horizon_s),
                "sample_interval_s": self.interval_s,
                "samples": self.samples,
                "replications": self.replications,
                "seeds": (0..self.replications as u64).map(|r| self.seed.wrapping_add(r)).collect::<Vec<_>>(),
                "averaged": "sample by sample over the replications (Welch's procedure)",
            },
            "series": series,
            "recommendation": {
                "warmup_s": rec,
                "warmup": rec.map(duration_text),
                "at_least_s": self.at_least_s(),
                "all_settled": self.not_settled().is_empty(),
                "not_settled": self.not_settled().iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
                "configured_warmup_s": self.configured_s,
                "configured_warmup": duration_text(self.configured_s),
                "configured_is_enough": self.configured_is_enough(),
            },
            "model": model.to_value(),
            "seed": self.seed,
            "params": params,
        })
    }

    /// The chart: one panel per main series over the pilot, each with its truncation point,
    /// the configured warm-up and the mean after truncation.
    pub fn chart(&self, timeseries: &Value) -> PanelChart {
        let t_s = column(timeseries, "t_s");
        let configured = Mark {
            x: self.configured_s,
            label: format!("configured warm-up {}", format_span(self.configured_s)),
            style: Style::Reference,
        };
        let panels = self
            .series
            .iter()
            .map(|s| {
                let points = t_s.iter().copied().zip(column(timeseries, &s.name)).collect();
                let mut marks = vec![configured.clone()];
                match s.truncation.verdict {
                    Verdict::Settled => marks.push(Mark {
                        x: s.at_s,
                        label: format!("settles at {}", s.describe()),
                        style: Style::Settles,
                    }),
                    Verdict::NotSettled => {
                        marks.push(Mark { x: s.at_s, label: s.describe(), style: Style::LowerBound })
                    }
                    Verdict::TooShort => {}
                }
                Panel {
                    title: format!("{}: {}", s.name, what(&s.name)),
                    unit: Unit::Count,
                    points,
                    marks,
                    level: s.settled().then_some((s.at_s, s.truncation.mean_after)),
                }
            })
            .collect();
        // Only what the chart shows: a pilot too short to tell has no truncation points.
        let settled = self.series.iter().any(|s| s.settled());
        let mut legend = vec![(Style::Series, format!("sampled every {}", format_span(self.interval_s)))];
        if settled {
            legend.push((Style::Settles, "settles (MSER-5)".to_string()));
        }
        if self.series.iter().any(|s| s.truncation.verdict == Verdict::NotSettled) {
            legend.push((Style::LowerBound, "not settled yet".to_string()));
        }
        legend.push((Style::Reference, "configured warm-up".to_string()));
        match self.events.as_slice() {
            [] => {}
            [(_, _, one)] => legend.push((Style::Event, one.clone())),
            [(_, _, first), rest @ ..] => {
                legend.push((Style::Event, format!("{first} and {} more events", rest.len())))
            }
        }
        if settled {
            legend.push((Style::Level, "mean after truncation".to_string()));
        }
        let verdict = match (self.recommended_s(), self.at_least_s()) {
            (_, Some(l)) => format!("warm-up at least {}: not every series settled", format_span(l)),
            (Some(r), None) => format!("recommended warm-up {}", format_span(r)),
            (None, None) => "too short to tell: lengthen the pilot".to_string(),
        };
        PanelChart {
            title: format!("Warm-up of {}: where each series settles (MSER-5)", self.model),
            subtitle: Some(format!(
                "{}, pilot of {}; {verdict}; configured {}",
                self.seeds_text(),
                format_span(self.horizon_s),
                format_span(self.configured_s)
            )),
            x_label: "simulated time since the start".into(),
            x_range: (0.0, self.horizon_s),
            shaded: self.events.iter().map(|e| (e.0, e.1)).collect(),
            panels,
            legend,
        }
    }
}

/// What a main series measures, in words.
fn what(name: &str) -> String {
    match name {
        "store.occupancy" => "items held by all PFs".to_string(),
        "delivery.per_minute" => "deferred items delivered per minute".to_string(),
        n => match n.strip_prefix("servers.").and_then(|r| r.strip_suffix(".queue")) {
            Some(node) => format!("messages waiting at {node}, mean per interval"),
            None => n.to_string(),
        },
    }
}

/// A duration as the model file writes it (`"1570m"`), so that it can be given to `--set`.
pub fn duration_text(secs: f64) -> String {
    format_duration(Duration((secs * SEC as f64).round() as u64))
}

/// A span for people: `1d 4h 10m`, `50m`, `0s` (whole seconds; shorter spans as `250ms`).
pub fn format_span(secs: f64) -> String {
    if secs > 0.0 && secs < 1.0 {
        return format_duration_short(secs);
    }
    let mut s = secs.round() as u64;
    let mut parts = vec![];
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= n {
            parts.push(format!("{}{unit}", s / n));
            s %= n;
        }
    }
    if parts.is_empty() { "0s".to_string() } else { parts.join(" ") }
}

/// The pilot runs of `model`, seeds `seed..seed + replications` (each the run `ddsim run
/// --seed` gives), in parallel, and the analysis of their series averaged sample by sample.
/// Averaging over replications is Welch's procedure (Law & Kelton): it keeps the transient,
/// which every replication shares, and cancels the slow random fluctuations that one
/// replication shows and MSER-5 would take for one. Returns the averaged series too.
pub fn pilot(model: &Model, seed: u64, replications: u32, params: Value) -> Result<(Value, Analysis), RunError> {
    use rayon::prelude::*;
    let runs: Vec<Value> = (0..replications.max(1) as u64)
        .into_par_iter()
        .map(|r| run_model(model, seed.wrapping_add(r), params.clone(), RunOptions::default()).map(|(d, _)| d))
        .collect::<Result<_, _>>()?;
    let timeseries = mean_series(runs.iter().map(|d| &d["timeseries"]));
    let analysis = Analysis::of(model, seed, runs.len(), &timeseries);
    Ok((timeseries, analysis))
}

/// The mean of several runs' `timeseries`, column by column and sample by sample (the runs
/// of one model share their sampling instants).
fn mean_series<'a>(runs: impl Iterator<Item = &'a Value>) -> Value {
    let mut sums: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut n = 0.0;
    for ts in runs {
        n += 1.0;
        for name in ts.as_object().into_iter().flat_map(|cols| cols.keys()) {
            let col = column(ts, name);
            let acc = sums.entry(name.clone()).or_insert_with(|| vec![0.0; col.len()]);
            for (a, x) in acc.iter_mut().zip(col) {
                *a += x;
            }
        }
    }
    sums.into_iter().map(|(name, sum)| (name, json!(sum.iter().map(|x| x / n).collect::<Vec<_>>()))).collect()
}

/// `ddsim run`'s check of its own warm-up: a warning (without the file) when the store
/// occupancy settles, by MSER-5 on the run's series, far later than the configured warm-up —
/// later than twice the warm-up and than the warm-up plus two sampling intervals. A series
/// that has not settled within the run counts by its lower bound, and gets the warning too
/// when even that is that far beyond. Nothing is said when the run is too short to tell.
///
/// Nor after a steady-state start: its stores hold at time 0 what they hold in steady state,
/// so there is no filling to find, and on one run MSER-5 would take the store's slow random
/// fluctuation (about a day, with heavy-tailed absences) for a transient. Whether such a start
/// still has one is a question for replications averaged (`ddsim warmup --replications`).
pub fn short_warmup(model: &Model, timeseries: &Value) -> Option<String> {
    if model.start == Start::SteadyState {
        return None;
    }
    let t_s = column(timeseries, "t_s");
    let s = SeriesWarmup::of("store.occupancy", &t_s, &column(timeseries, "store.occupancy"));
    let (w, dt) = (model.warmup.secs_f64(), model.metrics.sample_interval.secs_f64());
    if s.truncation.verdict == Verdict::TooShort || s.at_s <= 2.0 * w || s.at_s <= w + 2.0 * dt {
        return None;
    }
    let where_ = match s.truncation.verdict {
        Verdict::Settled => format!("MSER-5: {}", format_span(s.at_s)),
        _ => format!("MSER-5: later than {}, the run is too short to tell where", format_span(s.at_s)),
    };
    Some(format!(
        "warm-up {} is shorter than where store.occupancy settles ({where_}); see ddsim warmup",
        format_span(w)
    ))
}

/// Writes `warmup.json`, `warmup.svg` and `warmup.png` into `dir`, each atomically: the chart
/// is drawn into temporary files first, and nothing is renamed into place unless everything
/// was written. Returns the files.
pub fn write_outputs(dir: &Path, doc: &Value, chart: &PanelChart) -> Result<Vec<PathBuf>, String> {
    let tmp = dir.join(format!(".warmup-chart.tmp-{}", std::process::id()));
    let tmp_files = [tmp.with_extension("svg"), tmp.with_extension("png")];
    let json = dir.join("warmup.json");
    let files = vec![json.clone(), dir.join("warmup.svg"), dir.join("warmup.png")];
    let res = chart.save(&tmp).and_then(|()| {
        write_json(&json, doc).map_err(|e| format!("{}: {}", json.display(), crate::output::io_reason(&e)))?;
        for (from, to) in tmp_files.iter().zip(&files[1..]) {
            std::fs::rename(from, to).map_err(|e| format!("{}: {}", to.display(), crate::output::io_reason(&e)))?;
        }
        Ok(())
    });
    for f in &tmp_files {
        let _ = std::fs::remove_file(f);
    }
    res.map(|()| files)
}

/// Sample counts below which [`mser5`] cannot tell (for messages).
pub const MIN_SAMPLES: usize = BATCH * MIN_BATCHES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_days_hours_minutes() {
        assert_eq!(format_span(0.0), "0s");
        assert_eq!(format_span(3000.0), "50m");
        assert_eq!(format_span(101_400.0), "1d 4h 10m");
        assert_eq!(format_span(21_600.0), "6h");
        assert_eq!(duration_text(101_400.0), "1690m");
    }

    fn series(t: &[f64], occ: &[f64]) -> Value {
        json!({ "t_s": t, "store.occupancy": occ, "delivery.per_minute": vec![1.0; t.len()] })
    }

    /// A store that fills for 10 hours, sampled every 10 minutes for 3 days: MSER-5 places
    /// the end of the transient after the filling and the check warns about a 1 h warm-up, not
    /// about a 12 h one.
    #[test]
    fn run_warns_only_when_the_warm_up_is_far_short() {
        let t: Vec<f64> = (1..=432).map(|i| i as f64 * 600.0).collect();
        let occ: Vec<f64> =
            t.iter().enumerate().map(|(i, x)| 1000.0 * (1.0 - (-x / 7200.0).exp()) + 10.0 * (i % 7) as f64).collect();
        let ts = series(&t, &occ);
        let d = |s: &str| crate::units::parse_duration(s).unwrap();
        let mut m = Model { horizon: d("3d"), warmup: d("1h"), ..Model::default() };
        let w = short_warmup(&m, &ts).expect("a warning");
        assert!(w.starts_with("warm-up 1h is shorter than where store.occupancy settles (MSER-5: "), "{w}");
        m.warmup = d("12h");
        assert_eq!(short_warmup(&m, &ts), None);
        let a = Analysis::of(&m, 1, 1, &ts);
        let occ = &a.series[0];
        assert!(occ.settled() && occ.at_s > 7200.0 && occ.at_s < 12.0 * 3600.0, "{occ:?}");
        assert_eq!(a.recommended_s(), Some(occ.at_s));
        assert_eq!(a.configured_is_enough(), Some(true));
        // A store still filling at the end: MSER-5 cannot place the point, only bound it,
        // and the bound (the end of the eligible half of the run) is far beyond 12 h too.
        let rising: Vec<f64> = t.iter().map(|x| x / 60.0).collect();
        let w = short_warmup(&m, &series(&t, &rising)).expect("a warning");
        assert!(w.contains("(MSER-5: later than 1d 11h 50m, the run is too short to tell where)"), "{w}");
        let a = Analysis::of(&m, 1, 1, &series(&t, &rising));
        assert_eq!((a.recommended_s(), a.at_least_s()), (Some(0.0), Some(129_000.0)));
        assert_eq!(a.configured_is_enough(), Some(false));
        // A steady-state start has no filling to warn about.
        m.start = Start::SteadyState;
        assert_eq!(short_warmup(&m, &series(&t, &rising)), None);
    }

    /// The chart shades the model's events (storm's outage of ran-north at 3 h for 20
    /// minutes) and names them in its legend; a model without events has neither.
    #[test]
    fn the_chart_shades_the_models_events() {
        let storm = Model::load(Path::new("models/storm.json"), &[]).unwrap();
        let t: Vec<f64> = (1..=48).map(|i| i as f64 * 600.0).collect();
        let ts = series(&t, &vec![5.0; t.len()]);
        let chart = Analysis::of(&storm, 1, 1, &ts).chart(&ts);
        assert_eq!(chart.shaded, vec![(10_800.0, 12_000.0)]);
        assert!(
            chart.legend.iter().any(|(s, l)| *s == Style::Event && l == "outage of ran-north, 20m"),
            "{:?}",
            chart.legend
        );
        let quiet = Model { horizon: storm.horizon, ..Model::default() };
        let chart = Analysis::of(&quiet, 1, 1, &ts).chart(&ts);
        assert!(chart.shaded.is_empty() && chart.legend.iter().all(|(s, _)| *s != Style::Event));
    }
}
