//! The subcommands of the `ddsim` binary. Everything here may print; the library does not.

pub mod check;
pub mod plot;
pub mod run;
pub mod sweep;
pub mod trace;

use ddsim::model::{Model, ModelError, Override};
use std::path::Path;

/// A failure to report: one line, and the exit code.
pub struct Failure {
    pub line: String,
    pub code: u8,
}

impl From<ModelError> for Failure {
    fn from(e: ModelError) -> Self {
        Failure { line: e.to_string(), code: 2 }
    }
}

pub fn usage(line: String) -> Failure {
    Failure { line, code: 2 }
}

/// Messages quote what the user wrote (node ids, field names, file names); a newline or other
/// control character in it must not break the one-line error, so it is shown escaped.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

pub fn parse_sets(sets: &[String]) -> Result<Vec<Override>, Failure> {
    // `Override::parse` errors already start with "--set"; no second prefix.
    sets.iter().map(|s| Override::parse(s).map_err(usage)).collect()
}

pub fn load_model(path: Option<&Path>, sets: &[Override]) -> Result<Model, Failure> {
    Ok(match path {
        Some(p) => Model::load(p, sets)?,
        None => Model::builtin(sets)?,
    })
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
