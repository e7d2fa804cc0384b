//! The model file: what is simulated. This schema is the contract with the files users write
//! (README "Model file reference"); every field has a default so a model can be short.
//!
//! Loading is: parse JSON → deserialize with defaults (unknown fields rejected, errors carry the
//! field path) → apply `--set` overrides on the fully defaulted document → validate meaning
//! (references, probabilities, reachability). Every failure is one `ModelError` line naming the
//! file and the field path.
//!
//! The parts: [`schema`] (the types and their defaults), [`overrides`] (dotted paths, `--set`)
//! and [`validate`] (meaning, section by section).

mod estimate;
mod overrides;
mod schema;
mod validate;

pub use estimate::{Estimate, estimate};
pub use overrides::{Override, all_paths, closest_path, display_path, path_segments, reject_positional, set_path};
pub use schema::*;
pub use validate::kind_name;

use overrides::blame_override;
use serde_json::Value;
use std::path::Path;

/// The built-in default model (`ddsim run` with no model file).
pub const BASELINE_JSON: &str = include_str!("../../models/baseline.json");

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{file}: {path}: {msg}")]
pub struct ModelError {
    pub file: String,
    /// Dotted field path (`topology.nodes[2].workers`), or `(file)` / `(json)` for file-level errors.
    pub path: String,
    pub msg: String,
}

impl ModelError {
    pub fn new(file: &str, path: impl Into<String>, msg: impl Into<String>) -> Self {
        ModelError { file: file.to_string(), path: path.into(), msg: msg.into() }
    }
}

/// Reads and parses a JSON file into a `Value`, with errors naming the file.
pub fn read_json(path: &Path) -> Result<Value, ModelError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ModelError::new(&file, "(file)", format!("cannot read: {}", crate::output::io_reason(&e))))?;
    parse_json(&text, &file)
}

pub fn parse_json(text: &str, file: &str) -> Result<Value, ModelError> {
    serde_json::from_str(text).map_err(|e| {
        ModelError::new(
            file,
            "(json)",
            format!("not valid JSON at line {} column {}: {}", e.line(), e.column(), strip_pos(&e)),
        )
    })
}

fn strip_pos(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Deserializes `T` from a value, reporting the field path of the first error.
pub fn from_value<T: serde::de::DeserializeOwned>(v: &Value, file: &str, prefix: &str) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = join_path(prefix, if inner == "." { "" } else { &inner });
        ModelError::new(
            file,
            if path.is_empty() { "(root)".into() } else { path },
            in_model_words(&strip_pos(e.inner())),
        )
    })
}

/// What serde says it expected, in the words of the model file rather than of Rust's types.
const EXPECTED: [(&str, &str); 12] = [
    (
        "internally tagged enum RetryPolicy",
        r#"an object like {"kind": "none"}, {"kind": "fixed", "interval": "30s"} or {"kind": "exponential", "initial": "30s", "factor": 2.0}"#,
    ),
    (
        "internally tagged enum Dist",
        r#"a distribution like {"dist": "exp", "mean": "3h"}, {"dist": "lognormal", "median": "20m", "sigma": 1.5}, {"dist": "uniform", "min": 2, "max": 25}, {"dist": "const", "value": 5}, {"dist": "weibull", "scale": "1h", "shape": 0.7} or {"dist": "empirical", "points": [1, 2, 3]}"#,
    ),
    (
        "internally tagged enum EventSpec",
        r#"an event like {"kind": "outage", "node": "ran", "at": "3h", "duration": "20m"}"#,
    ),
    (
        "internally tagged enum ChartSpec",
        r#"a chart like {"kind": "line", "x": "...", "y": "..."} (kinds: line, cdf, timeseries, profile, bar)"#,
    ),
    ("expected u8", "expected a whole number from 0 to 255"),
    ("expected u16", "expected a whole number from 0 to 65,535"),
    ("expected u32", "expected a whole number from 0 to 4,294,967,295"),
    ("expected u64", "expected a whole number, 0 or more"),
    ("expected usize", "expected a whole number, 0 or more"),
    ("expected i32", "expected a whole number"),
    ("expected i64", "expected a whole number"),
    ("expected f64", "expected a number"),
];

fn in_model_words(msg: &str) -> String {
    let mut out = msg.to_string();
    for (rust, words) in EXPECTED {
        if out.contains(rust) {
            out = out.replace(rust, words);
        }
    }
    // "expected struct Topology": the type's name means nothing in a model file.
    if let Some(i) = out.find("expected struct ") {
        let end = out[i + 16..].find(|c: char| !c.is_alphanumeric()).map_or(out.len(), |j| i + 16 + j);
        out.replace_range(i..end, "expected an object {...} with this section's fields");
    }
    out.replace("expected a sequence", "expected a list [...]")
}

pub(crate) fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

impl Model {
    /// Loads a model file with overrides, validated.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<Model, ModelError> {
        let v = read_json(path)?;
        Model::from_value_with(&v, &path.display().to_string(), overrides)
    }

    /// The built-in default model.
    pub fn builtin(overrides: &[Override]) -> Result<Model, ModelError> {
        let v = parse_json(BASELINE_JSON, "models/baseline.json (built-in)")?;
        Model::from_value_with(&v, "models/baseline.json (built-in)", overrides)
    }

    pub fn from_value_with(v: &Value, file: &str, overrides: &[Override]) -> Result<Model, ModelError> {
        let mut m: Model = from_value(v, file, "")?;
        reject_positional(v, &m.to_value(), "").map_err(|(path, msg)| ModelError::new(file, path, msg))?;
        if overrides.is_empty() {
            m.validate(file)?;
            return Ok(m);
        }
        let mut full = serde_json::to_value(&m).expect("a model always serializes");
        for o in overrides {
            set_path(&mut full, &o.path, o.value.clone())
                .map_err(|e| ModelError::new(file, format!("--set {}", display_path(&o.path)), e))?;
        }
        // The file alone deserialized, so a schema error now comes from an override: name the
        // `--set` (not the file's field, which the user would look for in the file in vain).
        m = from_value(&full, file, "")
            .and_then(|m: Model| {
                reject_positional(&full, &m.to_value(), "").map_err(|(path, msg)| ModelError::new(file, path, msg))?;
                Ok(m)
            })
            .map_err(|e| blame_override(e, overrides, true))?;
        m.validate(file).map_err(|e| blame_override(e, overrides, false))?;
        Ok(m)
    }

    /// The fully defaulted model as JSON (what a run actually simulated).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a model always serializes")
    }

    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.topology.nodes.iter().position(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{DAY, Duration, HOUR, MS};

    fn load(text: &str, sets: &[&str]) -> Result<Model, ModelError> {
        let v = parse_json(text, "m.json")?;
        let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
        Model::from_value_with(&v, "m.json", &o)
    }

    #[test]
    fn empty_model_takes_documented_defaults() {
        let m = load("{}", &[]).unwrap();
        assert_eq!(m.horizon, Duration(DAY));
        assert_eq!(m.sip.t1, Duration(500 * MS));
        assert_eq!(m.policy.store.per_session, Some(200));
        assert_eq!(m.topology.nodes.len(), 4);
    }

    #[test]
    fn builtin_baseline_loads() {
        let m = Model::builtin(&[]).unwrap();
        assert_eq!(m.name, "baseline");
    }

    #[test]
    fn set_overrides_any_defaulted_path() {
        let m = load("{}", &["policy.store.per_session=50", "horizon=2h", r#"policy.retry={"kind":"none"}"#]).unwrap();
        assert_eq!(m.policy.store.per_session, Some(50));
        assert_eq!(m.horizon, Duration(2 * HOUR));
        assert_eq!(m.policy.retry, RetryPolicy::None {});
        let m = load("{}", &["topology.nodes[2].workers=1", "population.0.users=9"]).unwrap();
        assert_eq!(m.topology.nodes[2].workers, 1);
        assert_eq!(m.population[0].users, 9);
    }

    #[test]
    fn set_unknown_path_suggests_the_closest() {
        let e = load("{}", &["policy.store.per_sesion=5"]).unwrap_err();
        assert_eq!(e.path, "--set policy.store.per_sesion");
        assert!(e.msg.contains("did you mean `policy.store.per_session`"), "{}", e.msg);
    }

    #[test]
    fn errors_name_the_field_path() {
        let e = load(r#"{"topology":{"nodes":[{"id":"a","kind":"access","workers":"x"}]}}"#, &[]).unwrap_err();
        assert_eq!(e.path, "topology.nodes[0].workers");
        let e = load(r#"{"population":[{"class":"m","users":3,"answer":{"accept":0.5}}]}"#, &[]).unwrap_err();
        assert_eq!(e.path, "population[0].answer");
        assert!(e.msg.contains("sum to 1"));
        let e = load(r#"{"horizon":"2h","warmup":"3h"}"#, &[]).unwrap_err();
        assert_eq!(e.path, "warmup");
    }
}
