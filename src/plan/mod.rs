//! Capacity plans: the least capacity that meets service targets, with stated confidence.
//!
//! A plan names one or two integer-valued model paths (store sizes, workers, servers in a
//! pool) with their ranges, and targets on metrics of a run (`max` or `min`, a ratio `a/b`, a
//! `*` in a server name for the worst server). It assumes that more capacity never hurts, and
//! searches (`search`): gallop and bisect on one variable; on two, the feasible frontier.
//! Each candidate is decided by sequential replications (`decide`): `min` replications, then
//! batches of a size the plan fixes, until every target's interval lies on one side of its
//! threshold or `max` is reached (undecided, which counts as not feasible). Replication r has
//! the same seed at every candidate (common random numbers), as in an experiment.
//!
//! Runs are cached on disk in the layout of a sweep (`runs/<candidate>-r<k>/results.json`),
//! each checked against the model and seed it must have, so that re-running a plan re-runs
//! nothing and widening a range re-uses every run done (`exec`).

pub mod decide;
pub mod exec;
pub mod report;
pub mod search;

use crate::engine::rng::replication_seed;
use crate::experiment::{check_name, metric_names, read_model, short_names};
use crate::model::{Model, ModelError, Override, display_path, from_value, read_json, reject_positional};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::hash::Hasher;
use std::path::Path;

/// The plan file (README "Capacity plans").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Model file, relative to the plan file.
    pub model: String,
    /// Fixed overrides for every run: model path → value.
    #[serde(default)]
    pub set: Map<String, Value>,
    pub search: Vec<VariableSpec>,
    pub targets: Vec<TargetSpec>,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    pub replications: ReplicationSpec,
    #[serde(default = "one")]
    pub seed: u64,
}

fn one() -> u64 {
    1
}
fn default_confidence() -> f64 {
    0.95
}
fn unit_cost() -> f64 {
    1.0
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    pub path: String,
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
    #[serde(default)]
    pub values: Option<Vec<i64>>,
    #[serde(default = "unit_cost")]
    pub cost: f64,
    /// The search stops narrowing once the answer is known to within this (default 1).
    #[serde(default = "unit_resolution")]
    pub resolution: i64,
}

fn unit_resolution() -> i64 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub metric: String,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationSpec {
    pub min: u32,
    pub max: u32,
    /// Replications added at a time after the first `min` (default: `min`).
    #[serde(default)]
    pub batch: Option<u32>,
}

/// The values a variable may take, in increasing order.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    Range(i64, i64),
    List(Vec<i64>),
}

impl Domain {
    pub fn len(&self) -> usize {
        match self {
            Domain::Range(lo, hi) => (hi - lo + 1) as usize,
            Domain::List(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn at(&self, i: usize) -> i64 {
        match self {
            Domain::Range(lo, _) => lo + i as i64,
            Domain::List(v) => v[i],
        }
    }
}

/// A decision variable.
#[derive(Clone, Debug)]
pub struct Variable {
    pub path: String,
    /// Short column name (the shortest distinct suffix of the path).
    pub name: String,
    pub domain: Domain,
    pub cost: f64,
    pub resolution: i64,
}

/// Which side of its threshold a target wants the metric on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    Max(f64),
    Min(f64),
}

impl Bound {
    pub fn threshold(&self) -> f64 {
        match self {
            Bound::Max(t) | Bound::Min(t) => *t,
        }
    }
    pub fn word(&self) -> &'static str {
        match self {
            Bound::Max(_) => "max",
            Bound::Min(_) => "min",
        }
    }
}

/// What a target measures in one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A metric, or a pattern with `*` standing for any text (the worst match counts).
    Metric(String),
    /// `a/b` of two metrics, taken per run (0/0 is 0; a/0 has no value).
    Ratio(String, String),
}

#[derive(Clone, Debug)]
pub struct Target {
    /// As written.
    pub metric: String,
    pub expr: Expr,
    pub bound: Bound,
}

/// Matches `name` against `pattern`, where `*` stands for any text (dots included, so that
/// `servers.pf*.utilisation` covers `pf1` and the members `pf.1`, `pf.2` of a pool).
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

impl Target {
    /// The target's value in one run (`metrics`: name → value, `None` for a null metric), or
    /// `None` if the run has none (a null metric, a ratio over 0).
    pub fn value(&self, metrics: &Map<String, Value>) -> Option<f64> {
        let get = |k: &str| metrics.get(k).and_then(Value::as_f64);
        match &self.expr {
            Expr::Metric(m) if m.contains('*') => {
                let vals = metrics.iter().filter(|(k, _)| glob(m, k)).filter_map(|(_, v)| v.as_f64());
                match self.bound {
                    Bound::Max(_) => vals.reduce(f64::max),
                    Bound::Min(_) => vals.reduce(f64::min),
                }
            }
            Expr::Metric(m) => get(m),
            Expr::Ratio(a, b) => {
                let (a, b) = (get(a)?, get(b)?);
                if b != 0.0 {
                    Some(a / b)
                } else if a == 0.0 {
                    Some(0.0)
                } else {
                    None
                }
            }
        }
    }
}

/// A loaded and validated plan.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec: PlanSpec,
    pub file: String,
    pub vars: Vec<Variable>,
    pub targets: Vec<Target>,
    pub min_reps: usize,
    pub max_reps: usize,
    pub batch: usize,
    /// Seed of each replication, up to `max_reps`.
    pub seeds: Vec<u64>,
    /// Hash of what every run of the plan shares (the model with `set`, the seed, ddsim's
    /// version): the output of another plan is not mixed in.
    pub hash: String,
    model_value: Value,
    model_file: String,
}

/// Largest domain of a variable, and of the first of two (whose every value gets a search).
const MAX_DOMAIN: usize = 10_000_000;
const MAX_FIRST_OF_TWO: usize = 1000;
const MAX_REPLICATIONS: u32 = 10_000;

impl Plan {
    pub fn load(path: &Path) -> Result<Plan, ModelError> {
        let file = path.display().to_string();
        let v = read_json(path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Plan::from_value(&v, &file, &dir)
    }

    /// Whether a JSON document looks like a plan (it has `search` and `targets`).
    pub fn is_plan(v: &Value) -> bool {
        v.get("search").is_some() && v.get("targets").is_some()
    }

    pub fn from_value(v: &Value, file: &str, dir: &Path) -> Result<Plan, ModelError> {
        let spec: PlanSpec = from_value(v, file, "")?;
        let err = |path: String, msg: String| ModelError::new(file, path, msg);
        let typed = serde_json::to_value(&spec).expect("a plan serializes");
        reject_positional(v, &typed, "").map_err(|(path, msg)| err(path, msg))?;
        check_name(&spec.name, file)?;
        if !(spec.confidence > 0.0 && spec.confidence < 1.0) {
            return Err(err(
                "confidence".into(),
                format!("must lie strictly between 0 and 1, got {}", spec.confidence),
            ));
        }
        let r = &spec.replications;
        if r.min < 2 {
            return Err(err(
                "replications.min".into(),
                format!("at least 2 (an interval needs two runs), got {}", r.min),
            ));
        }
        if r.max < r.min || r.max > MAX_REPLICATIONS {
            return Err(err(
                "replications.max".into(),
                format!("must lie between replications.min ({}) and {MAX_REPLICATIONS}, got {}", r.min, r.max),
            ));
        }
        let batch = r.batch.unwrap_or(r.min);
        if batch == 0 {
            return Err(err("replications.batch".into(), "must be at least 1".into()));
        }
        // The model, with the fixed overrides.
        let (model_value, model_file) = read_model(dir, &spec.model, file)?;
        let set: Vec<Override> = spec.set.iter().map(|(k, v)| Override { path: k.clone(), value: v.clone() }).collect();
        let base = Model::from_value_with(&model_value, &model_file, &set).map_err(|e| blame(e, file, "set", &spec))?;
        // The variables.
        if spec.search.is_empty() || spec.search.len() > 2 {
            return Err(err("search".into(), format!("one or two variables, got {}", spec.search.len())));
        }
        let paths: Vec<String> = spec.search.iter().map(|s| s.path.clone()).collect();
        let names = short_names(&paths);
        let mut vars = vec![];
        let defaulted = base.to_value();
        for (i, (s, name)) in spec.search.iter().zip(names).enumerate() {
            let at = |f: &str| format!("search[{i}].{f}");
            if spec.set.keys().any(|k| display_path(k) == display_path(&s.path)) {
                return Err(err(at("path"), "this path is also fixed in `set`".into()));
            }
            if vars.iter().any(|v: &Variable| display_path(&v.path) == display_path(&s.path)) {
                return Err(err(at("path"), "this path is searched twice".into()));
            }
            match get_path(&defaulted, &s.path) {
                Err(msg) => return Err(err(at("path"), msg)),
                // An optional limit (`null`: none) takes integers too.
                Ok(cur) if !(cur.is_u64() || cur.is_i64() || cur.is_null()) => {
                    return Err(err(at("path"), format!("must be an integer-valued model field; it holds {cur}")));
                }
                Ok(_) => {}
            }
            let domain = match (&s.values, s.min, s.max) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err(err(at("values"), "give either `values` or `min` and `max`, not both".into()));
                }
                (Some(list), None, None) => {
                    if list.is_empty() {
                        return Err(err(at("values"), "the list of values is empty".into()));
                    }
                    if list.windows(2).any(|w| w[0] >= w[1]) {
                        return Err(err(at("values"), "must be strictly increasing".into()));
                    }
                    Domain::List(list.clone())
                }
                (None, Some(lo), Some(hi)) => {
                    if lo > hi {
                        return Err(err(at("min"), format!("min {lo} is above max {hi}")));
                    }
                    if (hi - lo) as u128 + 1 > MAX_DOMAIN as u128 {
                        return Err(err(at("max"), format!("at most {MAX_DOMAIN} values in a range")));
                    }
                    Domain::Range(lo, hi)
                }
                (None, None, _) | (None, _, None) => {
                    return Err(err(format!("search[{i}]"), "give `min` and `max`, or `values`".into()));
                }
            };
            if !(s.cost.is_finite() && s.cost > 0.0) {
                return Err(err(at("cost"), format!("must be a positive number, got {}", s.cost)));
            }
            if s.resolution < 1 {
                return Err(err(at("resolution"), format!("must be at least 1, got {}", s.resolution)));
            }
            vars.push(Variable { path: s.path.clone(), name, domain, cost: s.cost, resolution: s.resolution });
        }
        if vars.len() == 2 && vars[0].domain.len() > MAX_FIRST_OF_TWO {
            return Err(err(
                "search[0]".into(),
                format!(
                    "with two variables the first gets a search per value: at most {MAX_FIRST_OF_TWO} values, got {}",
                    vars[0].domain.len()
                ),
            ));
        }
        let mut plan = Plan {
            file: file.to_string(),
            vars,
            targets: vec![],
            min_reps: r.min as usize,
            max_reps: r.max as usize,
            batch: batch as usize,
            seeds: (0..r.max).map(|k| replication_seed(spec.seed, k)).collect(),
            hash: String::new(),
            model_value,
            model_file,
            spec,
        };
        // Every corner of the search space is a valid model.
        let corners: Vec<Vec<i64>> = match plan.vars.as_slice() {
            [a] => vec![vec![a.domain.at(0)], vec![a.domain.at(a.domain.len() - 1)]],
            [a, b] => {
                let (a0, a1, b0, b1) =
                    (a.domain.at(0), a.domain.at(a.domain.len() - 1), b.domain.at(0), b.domain.at(b.domain.len() - 1));
                vec![vec![a0, b0], vec![a0, b1], vec![a1, b0], vec![a1, b1]]
            }
            _ => unreachable!("one or two variables"),
        };
        let mut corner_models = vec![];
        for c in &corners {
            corner_models.push(plan.model(c)?);
        }
        plan.targets = plan.targets_checked(&corner_models[0])?;
        plan.hash = {
            let mut h = fnv::FnvHasher::default();
            h.write(serde_json::to_string(&base.to_value()).expect("serializes").as_bytes());
            h.write(&plan.spec.seed.to_le_bytes());
            h.write(env!("CARGO_PKG_VERSION").as_bytes());
            format!("{:016x}", h.finish())
        };
        Ok(plan)
    }

    /// The model of a candidate (one value per variable), or an error naming the variable.
    pub fn model(&self, values: &[i64]) -> Result<Model, ModelError> {
        let mut o: Vec<Override> =
            self.spec.set.iter().map(|(k, v)| Override { path: k.clone(), value: v.clone() }).collect();
        o.extend(self.vars.iter().zip(values).map(|(v, x)| Override { path: v.path.clone(), value: Value::from(*x) }));
        Model::from_value_with(&self.model_value, &self.model_file, &o).map_err(|e| {
            let i = self.vars.iter().position(|v| e.path.contains(&display_path(&v.path))).unwrap_or(0);
            ModelError::new(&self.file, format!("search[{i}]"), format!("at {}: {}", describe(&self.vars, values), e))
        })
    }

    /// `per_session=300` or `count=2,per_session=300`: the candidate's id and run directory stem.
    pub fn id(&self, values: &[i64]) -> String {
        self.vars.iter().zip(values).map(|(v, x)| format!("{}={x}", v.name)).collect::<Vec<_>>().join(",")
    }

    pub fn cost(&self, values: &[i64]) -> f64 {
        self.vars.iter().zip(values).map(|(v, x)| v.cost * *x as f64).sum()
    }

    fn targets_checked(&self, model: &Model) -> Result<Vec<Target>, ModelError> {
        let names = metric_names(model);
        if self.spec.targets.is_empty() {
            return Err(ModelError::new(&self.file, "targets", "name at least one target"));
        }
        let mut out = vec![];
        for (i, t) in self.spec.targets.iter().enumerate() {
            let err = |f: &str, msg: String| ModelError::new(&self.file, format!("targets[{i}].{f}"), msg);
            let bound = match (t.max, t.min) {
                (Some(x), None) => Bound::Max(x),
                (None, Some(x)) => Bound::Min(x),
                _ => {
                    return Err(ModelError::new(
                        &self.file,
                        format!("targets[{i}]"),
                        "give exactly one of `max` and `min`",
                    ));
                }
            };
            let x = bound.threshold();
            if !x.is_finite() || x < 0.0 {
                return Err(err(bound.word(), format!("metrics are never negative: expected a number >= 0, got {x}")));
            }
            let known = |m: &str| -> Result<(), ModelError> {
                if m.contains('*') {
                    if names.iter().any(|n| glob(m, n)) {
                        return Ok(());
                    }
                    return Err(err("metric", format!("\"{m}\" matches no metric")));
                }
                if names.contains(m) {
                    return Ok(());
                }
                let hint = names
                    .iter()
                    .map(|v| (strsim::levenshtein(v, m), v))
                    .min()
                    .map(|(_, v)| format!(" (did you mean `{v}`?)"))
                    .unwrap_or_default();
                Err(err("metric", format!("unknown metric \"{m}\"{hint}")))
            };
            let expr = match t.metric.split_once('/') {
                Some((a, b)) => {
                    let (a, b) = (a.trim(), b.trim());
                    if a.contains('*') || b.contains('*') || b.contains('/') {
                        return Err(err("metric", "a ratio is of two plain metrics (no `*`, one `/`)".into()));
                    }
                    known(a)?;
                    known(b)?;
                    Expr::Ratio(a.to_string(), b.to_string())
                }
                None => {
                    known(t.metric.trim())?;
                    Expr::Metric(t.metric.trim().to_string())
                }
            };
            out.push(Target { metric: t.metric.clone(), expr, bound });
        }
        Ok(out)
    }

    /// Paths that were searched, in order.
    pub fn paths(&self) -> Vec<&str> {
        self.vars.iter().map(|v| v.path.as_str()).collect()
    }
}

/// The value at a dotted model path of a fully defaulted model.
fn get_path<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, String> {
    let segs = crate::model::path_segments(path);
    let pointer: String = segs.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
    match doc.pointer(&pointer) {
        Some(v) if !segs.is_empty() => Ok(v),
        _ => Err(match crate::model::closest_path(doc, path) {
            Some(c) => format!("unknown path (did you mean `{c}`?)"),
            None => "unknown path".into(),
        }),
    }
}

/// `policy.store.per_session = 300` (one per variable, joined).
pub fn describe(vars: &[Variable], values: &[i64]) -> String {
    vars.iter().zip(values).map(|(v, x)| format!("{} = {x}", v.path)).collect::<Vec<_>>().join(", ")
}

/// Turns an error in the model resolved with `set` into one about the plan's `set` entry.
fn blame(e: ModelError, file: &str, section: &str, spec: &PlanSpec) -> ModelError {
    let Some(p) = e.path.strip_prefix("--set ") else { return e };
    for k in spec.set.keys() {
        let d = display_path(k);
        if p == d || p.strip_prefix(d.as_str()).is_some_and(|rest| rest.starts_with(['.', '['])) {
            return ModelError::new(file, format!("{section}.{k}"), e.msg);
        }
    }
    ModelError::new(file, p.to_string(), e.msg)
}

/// The set of names, for messages.
pub fn names_of(targets: &[Target]) -> BTreeSet<&str> {
    targets.iter().map(|t| t.metric.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_server_names_and_pool_members() {
        assert!(glob("servers.pf*.utilisation", "servers.pf1.utilisation"));
        assert!(glob("servers.pf*.utilisation", "servers.pf.2.utilisation"));
        assert!(!glob("servers.pf*.utilisation", "servers.pf1.queue.peak"));
        assert!(!glob("servers.pf*.utilisation", "busy_hour.servers.pf1.utilisation"));
        assert!(glob("busy_hour.servers.*.utilisation", "busy_hour.servers.cf1.utilisation"));
        assert!(glob("a", "a") && !glob("a", "ab"));
    }
}
