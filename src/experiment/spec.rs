//! The experiment file as written (README "Experiment file reference"): what to vary, how many
//! runs, what to compare and draw.

use super::compare;
use crate::units::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The experiment file (README "Experiment file reference").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Model file, relative to the experiment file.
    pub model: String,
    /// Fixed overrides for every run: model path → value.
    #[serde(default)]
    pub set: Map<String, Value>,
    /// Full grid: model path → list of values.
    #[serde(default)]
    pub vary: Map<String, Value>,
    /// Lock-step lists (all the same length): model path → list of values.
    #[serde(default)]
    pub zip: Map<String, Value>,
    /// A number of runs per point, or sequential: `{"min", "max", "batch", "until"}`.
    pub replications: Replications,
    #[serde(default = "one")]
    pub seed: u64,
    /// The point the others are compared with (paired differences): a point id, or an object
    /// giving the value of some varied paths.
    #[serde(default)]
    pub baseline: Option<Value>,
    #[serde(default)]
    pub charts: Vec<ChartSpec>,
    /// Ratios `a/b` of metrics to summarise per run with intervals (besides those the charts
    /// and `compare` use).
    #[serde(default)]
    pub ratios: Vec<String>,
    /// Every pairwise comparison among chosen points, the best subset, one-sided bounds.
    #[serde(default)]
    pub compare: Option<compare::CompareSpec>,
}

fn one() -> u64 {
    1
}

/// How many runs each point gets.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Replications {
    /// The same number at every point.
    Fixed(u32),
    /// `min` at every point, then `batch` more at a time at each point whose `until` targets
    /// are not met yet, up to `max` (Law & Kelton's sequential procedure for a relative
    /// precision; OMNeT++ users get it through Akaroa).
    Sequential(SequentialSpec),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SequentialSpec {
    pub min: u32,
    pub max: u32,
    /// Runs added at a time to a point not yet precise enough (default: `min`).
    #[serde(default)]
    pub batch: Option<u32>,
    /// Stop a point once each of these is that precise.
    pub until: Vec<Precision>,
}

/// A precision target: the 95% interval's half-width at most `rel_half_width` times the mean.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Precision {
    /// A metric, or a ratio `a/b` taken per run.
    pub metric: String,
    pub rel_half_width: f64,
}

impl Replications {
    /// The most runs a point can get (the seeds drawn).
    pub fn max(&self) -> u32 {
        match self {
            Replications::Fixed(n) => *n,
            Replications::Sequential(s) => s.max,
        }
    }
    /// The runs every point gets.
    pub fn min(&self) -> u32 {
        match self {
            Replications::Fixed(n) => *n,
            Replications::Sequential(s) => s.min,
        }
    }
}

/// A chart the sweep draws (see `plot`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChartSpec {
    /// A metric (or a ratio `a/b`) against a varied parameter, one series per value of another.
    Line {
        x: String,
        y: String,
        #[serde(default)]
        series: Option<String>,
        #[serde(default)]
        log_x: bool,
        #[serde(default)]
        log_y: bool,
        #[serde(default)]
        title: Option<String>,
    },
    /// Distribution of a histogram metric (`delivery.latency_s`, `delivery.after_register_s`,
    /// `delivery.after_client_register_s`), one curve per series value.
    Cdf {
        metric: String,
        #[serde(default)]
        series: Option<String>,
        #[serde(default)]
        log_x: bool,
        #[serde(default)]
        title: Option<String>,
    },
    /// Time series of one run (`store.occupancy`, `servers.pf1.queue`, ...), one curve per point.
    Timeseries {
        metrics: Vec<String>,
        #[serde(default)]
        replication: u32,
        #[serde(default)]
        title: Option<String>,
        /// A window of simulated time to draw: from here (default: the start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Duration>,
        /// ... to here (default: the horizon).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Duration>,
    },
    /// A column of the hourly series by hour of day (folded over the days of the window), one
    /// line per point, with the 95% interval over replications as a band.
    Profile {
        metric: String,
        #[serde(default)]
        title: Option<String>,
    },
    /// Outcome breakdown (delivered / declined / BYE / overflow / expired / pending) per point.
    Bar {
        #[serde(default = "default_bar_prefix")]
        of: String,
        #[serde(default)]
        title: Option<String>,
    },
}

fn default_bar_prefix() -> String {
    "deferred".into()
}
