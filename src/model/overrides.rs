//! Dotted field paths (`topology.nodes[2].workers`) and the overrides that use them: `--set`
//! on the command line and the `set`, `vary` and `zip` of experiment files. An override may
//! change any field of the fully defaulted model, never invent one.

use super::{ModelError, join_path};
use serde_json::Value;

/// serde fills a struct from a JSON array by position (`"store": [5]` would set `per_session`).
/// A model names its fields, so an array where the schema has an object is an error. `typed` is
/// the deserialized model serialized again, which has the schema's shape.
pub fn reject_positional(input: &Value, typed: &Value, path: &str) -> Result<(), (String, String)> {
    match (input, typed) {
        (Value::Array(_), Value::Object(_)) => Err((
            if path.is_empty() { "(root)".into() } else { path.to_string() },
            "expected an object with named fields, got an array".into(),
        )),
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                if let Some(y) = b.get(k) {
                    reject_positional(x, y, &join_path(path, k))?;
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.iter().zip(b).enumerate().try_for_each(|(i, (x, y))| reject_positional(x, y, &format!("{path}[{i}]")))
        }
        _ => Ok(()),
    }
}

/// Re-attributes an error found after applying overrides to the `--set` that caused it: one whose
/// path contains the error's (the error is inside the value it set) or, for schema errors only,
/// is contained in it (serde reports some errors at the enclosing field). The more specific of
/// the two paths is named. Errors unrelated to any override stay the file's.
pub(super) fn blame_override(mut e: ModelError, overrides: &[Override], schema: bool) -> ModelError {
    let within = |inner: &str, outer: &str| {
        inner == outer || inner.starts_with(&format!("{outer}.")) || inner.starts_with(&format!("{outer}["))
    };
    let hit = overrides.iter().rev().map(|o| display_path(&o.path)).find_map(|o| {
        if within(&e.path, &o) {
            Some(e.path.clone())
        } else if schema && within(&o, &e.path) {
            Some(o)
        } else {
            None
        }
    });
    if let Some(p) = hit {
        e.path = format!("--set {p}");
    }
    e
}

/// One `--set path=value` override. The value is JSON; text that is not JSON is taken as a string,
/// so `--set horizon=2h` works without quotes.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: Value,
}

impl Override {
    pub fn parse(s: &str) -> Result<Override, String> {
        let (p, v) = s.split_once('=').ok_or_else(|| format!("--set expects path=value, got \"{s}\""))?;
        let p = p.trim();
        // A path of only dots or brackets has no segments and would name no field.
        if path_segments(p).is_empty() {
            return Err(format!("--set expects path=value, got \"{s}\""));
        }
        let value = serde_json::from_str(v.trim()).unwrap_or_else(|_| Value::String(v.trim().to_string()));
        Ok(Override { path: p.to_string(), value })
    }
}

/// Splits `a.b[2].c` or `a.b.2.c` into segments.
pub fn path_segments(path: &str) -> Vec<String> {
    let mut out = vec![];
    for part in path.split('.') {
        let mut rest = part;
        while let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(rest[..i].to_string());
            }
            let close = rest[i..].find(']').map(|j| i + j).unwrap_or(rest.len());
            out.push(rest[i + 1..close].to_string());
            rest = if close < rest.len() { &rest[close + 1..] } else { "" };
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// Every path that exists in a document (objects and array elements, leaves included).
pub fn all_paths(v: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    out.push(p.clone());
                    walk(x, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = format!("{prefix}[{i}]");
                    out.push(p.clone());
                    walk(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = vec![];
    walk(v, "", &mut out);
    out
}

/// The valid path closest to `path`, for "did you mean" hints.
pub fn closest_path(v: &Value, path: &str) -> Option<String> {
    all_paths(v)
        .into_iter()
        .map(|p| (strsim::levenshtein(&p, path), p))
        .filter(|(dist, _)| *dist <= path.len().max(4) / 2)
        .min()
        .map(|(_, p)| p)
}

/// Replaces the value at `path` in `doc`. The path must already exist: overrides may change any
/// field of the fully defaulted model, never invent one.
pub fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segs = path_segments(path);
    if segs.is_empty() {
        return Err("empty path".into());
    }
    let pointer: String = segs.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
    match doc.pointer_mut(&pointer) {
        Some(slot) => {
            *slot = value;
            Ok(())
        }
        None => Err(match closest_path(doc, path) {
            Some(c) => format!("unknown path (did you mean `{c}`?)"),
            None => "unknown path".to_string(),
        }),
    }
}

/// Normalises a user-written path to the form error messages use (`a.b[2].c`).
pub fn display_path(path: &str) -> String {
    let mut out = String::new();
    for s in path_segments(path) {
        if s.parse::<usize>().is_ok() {
            out.push_str(&format!("[{s}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&s);
        }
    }
    out
}
