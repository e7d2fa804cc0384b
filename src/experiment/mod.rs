//! Experiments: a model, what to vary, how many replications. An experiment expands into
//! points (one combination of the varied values) and runs (one replication of one point).
//! Replication r of every point uses the same seed, derived from (experiment seed, r), so that
//! differences between points are paired (common random numbers), as OMNeT++ does with
//! `repeat` and seed sets.
//!
//! Everything is validated before the first run starts: every point's resolved model, every
//! chart's parameters and metrics.
//!
//! `warmup` is the study of one model's warm-up: a pilot run and MSER-5 on its time series.

pub mod charts;
pub mod compare;
pub mod labels;
pub mod spec;
pub mod exec;
pub mod shard;
pub mod summary;
pub mod timecharts;
pub mod warmup;

pub use spec::{ChartSpec, ExperimentSpec, Precision, Replications, SequentialSpec};

use crate::engine::rng::replication_seed;
use crate::model::{Model, ModelError, Override, display_path, from_value, parse_json, read_json, reject_positional};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// One point: a combination of varied values.
#[derive(Clone, Debug)]
pub struct Point {
    pub index: usize,
    /// Readable and unique: `retry=exponential-full,per_session=50`.
    pub id: String,
    /// (model path, value), in the experiment's order (vary keys, then zip keys).
    pub params: Vec<(String, Value)>,
    /// Short label of each value, aligned with `params`.
    pub labels: Vec<String>,
    pub model: Model,
}

/// A loaded, expanded and validated experiment.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub spec: ExperimentSpec,
    pub file: String,
    pub points: Vec<Point>,
    /// Seed of each replication (the same for every point).
    pub seeds: Vec<u64>,
    /// The varied paths, with their short column names.
    pub dims: Vec<(String, String)>,
    /// Index of the baseline point, if any.
    pub baseline: Option<usize>,
    /// The points of `compare`, in the order given (all points by default).
    pub compare_points: Vec<usize>,
    /// Hash of the experiment and every resolved model: output of another hash is not mixed in.
    pub hash: String,
}

/// Limits of one experiment, far above any study and low enough that expanding it fits in
/// memory: every point holds its resolved model, every run a results directory.
const MAX_POINTS: usize = 100_000;
const MAX_REPLICATIONS: u32 = 100_000;
const MAX_RUNS: u64 = 1_000_000;

/// An experiment's or a plan's `name`, which names its output directory.
pub(crate) fn check_name(name: &str, file: &str) -> Result<(), ModelError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(ModelError::new(
            file,
            "name",
            format!("must be a plain name usable as a directory name, got \"{name}\""),
        ));
    }
    Ok(())
}

/// The model an experiment or a plan names, relative to its directory `dir`: its JSON and the
/// file name errors give.
pub(crate) fn read_model(dir: &Path, model: &str, file: &str) -> Result<(Value, String), ModelError> {
    let model_path: PathBuf = dir.join(model);
    let model_text = std::fs::read_to_string(&model_path).map_err(|e| {
        ModelError::new(file, "model", format!("cannot read model \"{model}\": {}", crate::output::io_reason(&e)))
    })?;
    let model_file = model_path.display().to_string();
    let model_value = parse_json(&model_text, &model_file)?;
    Ok((model_value, model_file))
}

impl Experiment {
    /// Reads, expands and validates an experiment file.
    pub fn load(path: &Path) -> Result<Experiment, ModelError> {
        let file = path.display().to_string();
        let v = read_json(path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Experiment::from_value(&v, &file, &dir)
    }

    /// Whether a JSON document looks like an experiment (it names a model and replications).
    pub fn is_experiment(v: &Value) -> bool {
        v.get("replications").is_some() || (v.get("model").is_some_and(Value::is_string) && v.get("vary").is_some())
    }

    pub fn from_value(v: &Value, file: &str, dir: &Path) -> Result<Experiment, ModelError> {
        let spec: ExperimentSpec = from_value(v, file, "")?;
        let err = |path: String, msg: String| ModelError::new(file, path, msg);
        // serde reads a struct from an array by position; an experiment names its fields.
        let typed = serde_json::to_value(&spec).expect("an experiment serializes");
        reject_positional(v, &typed, "").map_err(|(path, msg)| err(path, msg))?;
        check_name(&spec.name, file)?;
        if spec.replications.min() == 0 {
            let path =
                if matches!(spec.replications, Replications::Fixed(_)) { "replications" } else { "replications.min" };
            return Err(err(path.into(), "must be at least 1".into()));
        }
        if spec.replications.max() > MAX_REPLICATIONS {
            let path =
                if matches!(spec.replications, Replications::Fixed(_)) { "replications" } else { "replications.max" };
            return Err(err(path.into(), format!("at most {MAX_REPLICATIONS}, got {}", spec.replications.max())));
        }
        if let Replications::Sequential(q) = &spec.replications {
            if q.min < 2 {
                return Err(err(
                    "replications.min".into(),
                    format!("at least 2 (an interval needs two runs), got {}", q.min),
                ));
            }
            if q.max < q.min {
                return Err(err(
                    "replications.max".into(),
                    format!("must be at least replications.min ({}), got {}", q.min, q.max),
                ));
            }
            if q.batch == Some(0) {
                return Err(err("replications.batch".into(), "must be at least 1".into()));
            }
            if q.until.is_empty() {
                return Err(err("replications.until".into(), "name at least one metric and its precision".into()));
            }
            for (i, u) in q.until.iter().enumerate() {
                if !(u.rel_half_width.is_finite() && u.rel_half_width > 0.0) {
                    return Err(err(
                        format!("replications.until[{i}].rel_half_width"),
                        format!("must be a positive number, got {}", u.rel_half_width),
                    ));
                }
            }
        }
        // The model file, relative to the experiment.
        let (model_value, model_file) = read_model(dir, &spec.model, file)?;
        // Dimensions: every vary entry, then the zip block.
        let mut dims: Vec<(String, String, Vec<Value>)> = vec![];
        for (section, map) in [("vary", &spec.vary), ("zip", &spec.zip)] {
            for (k, list) in map {
                let Value::Array(values) = list else {
                    return Err(err(format!("{section}.{k}"), format!("expected a list of values, got {list}")));
                };
                if values.is_empty() {
                    return Err(err(format!("{section}.{k}"), "the list of values is empty".into()));
                }
                dims.push((section.to_string(), k.clone(), values.clone()));
            }
        }
        let zip_len: Vec<usize> = dims.iter().filter(|d| d.0 == "zip").map(|d| d.2.len()).collect();
        if let Some(&first) = zip_len.first()
            && let Some((_, k, l)) = dims.iter().find(|d| d.0 == "zip" && d.2.len() != first)
        {
            return Err(err(
                format!("zip.{k}"),
                format!(
                    "lists in `zip` vary in lock-step and must have the same length: {} values, the first has {first}",
                    l.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (section, k, _) in &dims {
            if !seen.insert(display_path(k)) {
                return Err(err(format!("{section}.{k}"), "this path is varied twice".into()));
            }
        }
        for k in spec.set.keys() {
            if seen.contains(&display_path(k)) {
                return Err(err(format!("set.{k}"), "this path is also varied; it cannot be fixed too".into()));
            }
        }
        // Labels per dimension, then the combinations.
        let labels: Vec<Vec<String>> = dims.iter().map(|d| value_labels(&d.2)).collect();
        let short = short_names(&dims.iter().map(|d| d.1.clone()).collect::<Vec<_>>());
        let grid: Vec<usize> = dims.iter().filter(|d| d.0 == "vary").map(|d| d.2.len()).collect();
        let zip_n = zip_len.first().copied().unwrap_or(1);
        let n_vary = grid.len();
        let total = grid.iter().try_fold(zip_n, |n, &len| n.checked_mul(len)).filter(|&n| n <= MAX_POINTS);
        let Some(total) = total else {
            let lists = dims.iter().map(|d| d.2.len().to_string()).collect::<Vec<_>>().join(" x ");
            return Err(err("vary".into(), format!("{lists} points: too many (at most {MAX_POINTS})")));
        };
        if total as u64 * spec.replications.max() as u64 > MAX_RUNS {
            return Err(err(
                "replications".into(),
                format!(
                    "{total} points x {} replications: too many runs (at most {MAX_RUNS})",
                    spec.replications.max()
                ),
            ));
        }
        let set: Vec<Override> = spec.set.iter().map(|(k, v)| Override { path: k.clone(), value: v.clone() }).collect();
        let mut points = Vec::with_capacity(total);
        for index in 0..total {
            // Mixed radix: the first vary key changes slowest, the zip block fastest.
            let mut rest = index;
            let zi = rest % zip_n;
            rest /= zip_n;
            let mut choice = vec![0usize; dims.len()];
            for d in (0..n_vary).rev() {
                choice[d] = rest % grid[d];
                rest /= grid[d];
            }
            for c in choice.iter_mut().skip(n_vary) {
                *c = zi;
            }
            let params: Vec<(String, Value)> =
                dims.iter().zip(&choice).map(|(d, &c)| (d.1.clone(), d.2[c].clone())).collect();
            let point_labels: Vec<String> = labels.iter().zip(&choice).map(|(l, &c)| l[c].clone()).collect();
            let mut overrides = set.clone();
            overrides.extend(params.iter().map(|(k, v)| Override { path: k.clone(), value: v.clone() }));
            let model = Model::from_value_with(&model_value, &model_file, &overrides)
                .map_err(|e| blame_experiment(e, file, &spec, &dims, &choice))?;
            let id = if dims.is_empty() {
                "default".to_string()
            } else {
                short.iter().zip(&point_labels).map(|(k, l)| format!("{k}={l}")).collect::<Vec<_>>().join(",")
            };
            points.push(Point { index, id, params, labels: point_labels, model });
        }
        // Ids must be unique (labels of distinct values can coincide): number them if not.
        let ids: BTreeSet<&String> = points.iter().map(|p| &p.id).collect();
        if ids.len() != points.len() {
            for p in &mut points {
                p.id = format!("p{:03}-{}", p.index, p.id);
            }
        }
        let seeds = (0..spec.replications.max()).map(|r| replication_seed(spec.seed, r)).collect();
        let baseline = match &spec.baseline {
            None => None,
            Some(b) => Some(find_baseline(b, &points, &dims).map_err(|m| err("baseline".into(), m))?),
        };
        let dims_out: Vec<(String, String)> = dims.iter().zip(&short).map(|(d, s)| (d.1.clone(), s.clone())).collect();
        let compare_points = match &spec.compare {
            None => vec![],
            Some(c) if c.points.is_empty() => (0..points.len()).collect(),
            Some(c) => {
                let mut v = vec![];
                for (i, x) in c.points.iter().enumerate() {
                    let p = find_baseline(x, &points, &dims).map_err(|m| err(format!("compare.points[{i}]"), m))?;
                    if v.contains(&p) {
                        return Err(err(format!("compare.points[{i}]"), "this point is listed twice".into()));
                    }
                    v.push(p);
                }
                v
            }
        };
        if spec.compare.is_some() && compare_points.len() < 2 {
            return Err(err("compare.points".into(), "compare at least two points".into()));
        }
        let mut exp = Experiment {
            spec,
            file: file.to_string(),
            points,
            seeds,
            dims: dims_out,
            baseline,
            compare_points,
            hash: String::new(),
        };
        exp.validate_charts()?;
        exp.validate_ratios()?;
        if let Replications::Sequential(q) = &exp.spec.replications {
            let names = exp.metric_names(0);
            for (i, u) in q.until.iter().enumerate() {
                if let Some(part) = u.metric.split('/').map(str::trim).find(|m| !names.contains(*m)) {
                    return Err(ModelError::new(
                        file,
                        format!("replications.until[{i}].metric"),
                        format!("unknown metric \"{part}\""),
                    ));
                }
            }
        }
        exp.hash = exp.compute_hash();
        Ok(exp)
    }

    /// Everything that decides what the runs compute: not the charts or the description, so
    /// that changing a chart and sweeping again redraws without re-running anything.
    fn compute_hash(&self) -> String {
        let mut h = fnv::FnvHasher::default();
        let runs_only = ExperimentSpec { charts: vec![], description: String::new(), ..self.spec.clone() };
        let spec = serde_json::to_string(&runs_only).expect("serializes");
        h.write(spec.as_bytes());
        h.write(env!("CARGO_PKG_VERSION").as_bytes());
        for p in &self.points {
            h.write(serde_json::to_string(&p.model.to_value()).expect("serializes").as_bytes());
        }
        format!("{:016x}", h.finish())
    }

    /// Directory of run `r` of point `p`, relative to the output directory.
    pub fn run_dir(&self, p: usize, r: usize) -> PathBuf {
        Path::new("runs").join(format!("{}-r{r}", self.points[p].id))
    }

    pub fn runs(&self) -> usize {
        self.points.len() * self.seeds.len()
    }

    /// Every metric name a run of point `p` produces (to check chart declarations).
    pub fn metric_names(&self, p: usize) -> BTreeSet<String> {
        metric_names(&self.points[p].model)
    }

    /// The server nodes of point `p`, in node order.
    fn server_names(&self, p: usize) -> Vec<String> {
        server_names(&self.points[p].model)
    }

    /// Columns of the hourly series of a run of point `p` (besides `t_s`, `hour_of_day` and
    /// `duration_s`).
    pub fn hourly_names(&self, p: usize) -> Vec<String> {
        crate::metrics::hourly::column_names(&self.server_names(p))
    }

    /// Time-series columns a run of point `p` records.
    pub fn series_names(&self, p: usize) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = [
            "store.occupancy",
            "store.bytes",
            "delivery.per_minute",
            "sip.responses.503.per_minute",
            "sip.INVITE.per_minute",
            "delivery.in_progress",
            "workload.online_users",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in self.server_names(p) {
            names.insert(format!("servers.{n}.queue"));
            names.insert(format!("servers.{n}.utilisation"));
            names.insert(format!("servers.{n}.queue.max"));
            names.insert(format!("servers.{n}.utilisation.max"));
        }
        names
    }

    /// Every ratio the summary computes per run: those declared, those the line charts draw,
    /// those `compare` names.
    pub fn ratio_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.spec.ratios.clone();
        for c in &self.spec.charts {
            if let ChartSpec::Line { y, .. } = c
                && y.contains('/')
            {
                v.push(y.clone());
            }
        }
        v.extend(
            self.spec
                .compare
                .iter()
                .flat_map(|c| c.metrics.iter().map(|m| m.metric.clone()))
                .filter(|m| m.contains('/')),
        );
        let mut seen = BTreeSet::new();
        v.retain(|r| seen.insert(r.clone()));
        v
    }

    fn validate_ratios(&self) -> Result<(), ModelError> {
        let names = self.metric_names(0);
        let unknown = |m: &str| m.split('/').map(str::trim).find(|p| !names.contains(*p)).map(str::to_string);
        for (i, r) in self.spec.ratios.iter().enumerate() {
            if !r.contains('/') || r.matches('/').count() > 1 {
                return Err(ModelError::new(
                    &self.file,
                    format!("ratios[{i}]"),
                    format!("expected `a/b` of two metrics, got \"{r}\""),
                ));
            }
            if let Some(p) = unknown(r) {
                return Err(ModelError::new(&self.file, format!("ratios[{i}]"), format!("unknown metric \"{p}\"")));
            }
        }
        if self.spec.compare.as_ref().is_some_and(|c| c.metrics.is_empty()) {
            return Err(ModelError::new(&self.file, "compare.metrics", "name at least one metric to compare on"));
        }
        for (i, m) in self.spec.compare.iter().flat_map(|c| c.metrics.iter()).enumerate() {
            if m.metric.matches('/').count() > 1 {
                return Err(ModelError::new(&self.file, format!("compare.metrics[{i}].metric"), "at most one `/`"));
            }
            if let Some(p) = unknown(&m.metric) {
                return Err(ModelError::new(
                    &self.file,
                    format!("compare.metrics[{i}].metric"),
                    format!("unknown metric \"{p}\""),
                ));
            }
            if m.max.is_some() && m.min.is_some() {
                return Err(ModelError::new(
                    &self.file,
                    format!("compare.metrics[{i}].min"),
                    "give `max` or `min`, not both",
                ));
            }
            if let Some(t) = m.max.or(m.min).filter(|t| !t.is_finite()) {
                return Err(ModelError::new(
                    &self.file,
                    format!("compare.metrics[{i}]"),
                    format!("a target must be a finite number, got {t}"),
                ));
            }
        }
        Ok(())
    }

    fn validate_charts(&self) -> Result<(), ModelError> {
        let err = |i: usize, f: &str, msg: String| ModelError::new(&self.file, format!("charts[{i}].{f}"), msg);
        let metrics = self.metric_names(0);
        let varied: Vec<String> = self.dims.iter().map(|d| display_path(&d.0)).collect();
        let check_param = |i: usize, f: &str, p: &str| -> Result<(), ModelError> {
            let dp = display_path(p);
            if varied.contains(&dp) || p == "point" {
                return Ok(());
            }
            let hint = varied
                .iter()
                .map(|v| (strsim::levenshtein(v, &dp), v))
                .min()
                .map(|(_, v)| format!(" (did you mean `{v}`?)"))
                .unwrap_or_default();
            Err(err(i, f, format!("\"{p}\" is not a varied parameter{hint}; varied: {}", varied.join(", "))))
        };
        let check_metric = |i: usize, f: &str, m: &str| -> Result<(), ModelError> {
            for part in m.split('/') {
                if !metrics.contains(part.trim()) {
                    let hint = metrics
                        .iter()
                        .map(|v| (strsim::levenshtein(v, part.trim()), v))
                        .min()
                        .map(|(_, v)| format!(" (did you mean `{v}`?)"))
                        .unwrap_or_default();
                    return Err(err(i, f, format!("unknown metric \"{}\"{hint}", part.trim())));
                }
            }
            Ok(())
        };
        for (i, c) in self.spec.charts.iter().enumerate() {
            match c {
                ChartSpec::Line { x, y, series, .. } => {
                    check_param(i, "x", x)?;
                    check_metric(i, "y", y)?;
                    if let Some(s) = series {
                        check_param(i, "series", s)?;
                    }
                }
                ChartSpec::Cdf { metric, series, .. } => {
                    use summary::HISTOGRAMS;
                    if !HISTOGRAMS.contains(&metric.as_str()) {
                        return Err(err(
                            i,
                            "metric",
                            format!("no histogram \"{metric}\"; histograms: {}", HISTOGRAMS.join(", ")),
                        ));
                    }
                    if let Some(s) = series {
                        check_param(i, "series", s)?;
                    }
                }
                ChartSpec::Timeseries { metrics: ms, replication, from, to, .. } => {
                    if let (Some(a), Some(b)) = (from, to)
                        && a >= b
                    {
                        return Err(err(i, "to", format!("must be after \"from\" ({a}), got {b}")));
                    }
                    let names = self.series_names(0);
                    if ms.is_empty() {
                        return Err(err(i, "metrics", "name at least one time series".into()));
                    }
                    for m in ms {
                        if !names.contains(m) {
                            return Err(err(
                                i,
                                "metrics",
                                format!(
                                    "no time series \"{m}\"; time series: {}",
                                    names.into_iter().collect::<Vec<_>>().join(", ")
                                ),
                            ));
                        }
                    }
                    if *replication >= self.spec.replications.min() {
                        return Err(err(
                            i,
                            "replication",
                            format!(
                                "must be below the replications every point gets ({})",
                                self.spec.replications.min()
                            ),
                        ));
                    }
                }
                ChartSpec::Profile { metric, .. } => {
                    let names = self.hourly_names(0);
                    if !names.contains(metric) {
                        let hint = names
                            .iter()
                            .map(|v| (strsim::levenshtein(v, metric), v))
                            .min()
                            .map(|(_, v)| format!(" (did you mean `{v}`?)"))
                            .unwrap_or_default();
                        return Err(err(i, "metric", format!("no hourly column \"{metric}\"{hint}")));
                    }
                }
                ChartSpec::Bar { of, .. } => {
                    if of != "deferred" && of != "notifications" {
                        return Err(err(i, "of", format!("expected \"deferred\" or \"notifications\", got \"{of}\"")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every metric name a run of `model` produces (to check chart and plan declarations).
pub fn metric_names(model: &Model) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = crate::metrics::Stats::new().to_metrics(0, 1).keys().cloned().collect();
    for n in server_names(model) {
        for s in ["utilisation", "queue.peak", "queue.time_avg", "rejected_503"] {
            names.insert(format!("servers.{n}.{s}"));
        }
    }
    let pool = ["utilisation.mean", "utilisation.max", "queue.peak", "rejected_503"];
    names.extend(model.topology.expanded().pools().flat_map(|(p, _)| pool.map(|s| format!("servers.{p}.{s}"))));
    names.extend(crate::metrics::hourly::busy_hour_names(&server_names(model)));
    names.extend((0..model.events.len()).map(|i| format!("events.{i}.recovery_s")));
    for s in ["events", "sim_time_s", "window_s", "wall_s", "peak_pending_events", "users", "groups", "memberships"] {
        names.insert(format!("run.{s}"));
    }
    names
}

/// The server nodes of `model`, in node order, each pool as its members (`pf.1`, `pf.2`, ...).
pub fn server_names(model: &Model) -> Vec<String> {
    let nodes = model.topology.expanded().nodes;
    nodes.into_iter().filter(|n| n.spec.kind != crate::model::NodeKind::Access).map(|n| n.id).collect()
}

/// Turns an error in a point's model into one about the experiment file: which entry of
/// `set`, `vary` or `zip` caused it.
fn blame_experiment(
    e: ModelError,
    file: &str,
    spec: &ExperimentSpec,
    dims: &[(String, String, Vec<Value>)],
    choice: &[usize],
) -> ModelError {
    let Some(p) = e.path.strip_prefix("--set ") else {
        // An error of the model file itself.
        return e;
    };
    // Whether the error is at `key` or inside its value (a field `key.x` or an element `key[i]`).
    let within = |key: &str| {
        let k = display_path(key);
        p == k || p.strip_prefix(k.as_str()).is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    for (d, c) in dims.iter().zip(choice) {
        if within(&d.1) {
            // An unknown path is about the key; a bad value about one entry of its list (and
            // the field inside it, when the value is an object).
            let path = if e.msg.starts_with("unknown path") {
                format!("{}.{}", d.0, d.1)
            } else {
                format!("{}.{}[{c}]{}", d.0, d.1, &p[display_path(&d.1).len()..])
            };
            return ModelError::new(file, path, e.msg);
        }
    }
    for k in spec.set.keys() {
        if within(k) {
            return ModelError::new(file, format!("set.{k}"), e.msg);
        }
    }
    ModelError::new(file, p.to_string(), e.msg)
}

fn find_baseline(b: &Value, points: &[Point], dims: &[(String, String, Vec<Value>)]) -> Result<usize, String> {
    match b {
        Value::String(id) => points.iter().position(|p| &p.id == id).ok_or_else(|| {
            format!(
                "no point \"{id}\"; points: {}",
                points.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
            )
        }),
        Value::Object(m) => {
            for k in m.keys() {
                if !dims.iter().any(|d| display_path(&d.1) == display_path(k)) {
                    return Err(format!("\"{k}\" is not a varied path"));
                }
            }
            let matches: Vec<usize> = points
                .iter()
                .filter(|p| {
                    m.iter()
                        .all(|(k, v)| p.params.iter().any(|(pk, pv)| display_path(pk) == display_path(k) && pv == v))
                })
                .map(|p| p.index)
                .collect();
            match matches.as_slice() {
                [one] => Ok(*one),
                [] => Err("no point has these values".into()),
                _ => Err(format!("{} points match; give the value of more varied paths", matches.len())),
            }
        }
        other => Err(format!("expected a point id or an object of varied values, got {other}")),
    }
}

/// Short labels for the values of one dimension: scalars as text; objects by their `kind`,
/// with the values of the fields that tell same-kind objects apart.
pub fn value_labels(values: &[Value]) -> Vec<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    };
    values
        .iter()
        .map(|v| match v {
            Value::Object(m) => {
                let kind = m.get("kind").map(scalar).unwrap_or_else(|| "obj".into());
                let same: Vec<&Map<String, Value>> = values
                    .iter()
                    .filter_map(|o| o.as_object())
                    .filter(|o| o.get("kind").map(scalar).unwrap_or_else(|| "obj".into()) == kind)
                    .collect();
                let mut parts = vec![kind];
                if same.len() > 1 {
                    for (k, x) in m {
                        if k != "kind" && same.iter().any(|o| o.get(k) != Some(x)) {
                            parts.push(format!("{k}_{}", scalar(x)));
                        }
                    }
                }
                parts.join("-")
            }
            other => scalar(other),
        })
        .map(|s| s.replace(['/', '\\', ' ', ',', '='], "_"))
        .collect()
}

/// The shortest dotted suffix of each path that tells it apart from the others.
pub fn short_names(paths: &[String]) -> Vec<String> {
    let segs: Vec<Vec<String>> = paths.iter().map(|p| crate::model::path_segments(p)).collect();
    (0..paths.len())
        .map(|i| {
            let s = &segs[i];
            for n in 1..=s.len() {
                let tail = &s[s.len() - n..];
                let unique = segs.iter().enumerate().all(|(j, o)| j == i || o.len() < n || &o[o.len() - n..] != tail);
                if unique {
                    return tail.join(".");
                }
            }
            s.join(".")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_tell_objects_of_the_same_kind_apart() {
        let v = vec![
            json!({"kind": "none"}),
            json!({"kind": "fixed", "interval": "5m"}),
            json!({"kind": "exponential", "initial": "30s", "jitter": "none"}),
            json!({"kind": "exponential", "initial": "30s", "jitter": "full"}),
        ];
        assert_eq!(value_labels(&v), vec!["none", "fixed", "exponential-jitter_none", "exponential-jitter_full"]);
        assert_eq!(value_labels(&[json!(10), json!("2h")]), vec!["10", "2h"]);
    }

    #[test]
    fn short_names_are_unique_suffixes() {
        let p = vec![
            "policy.retry".to_string(),
            "policy.store.per_session".into(),
            "groups.count".into(),
            "population[0].users".into(),
        ];
        assert_eq!(short_names(&p), vec!["retry", "per_session", "count", "users"]);
        let q = vec!["population[0].users".to_string(), "population[1].users".into()];
        assert_eq!(short_names(&q), vec!["0.users", "1.users"]);
    }
}
