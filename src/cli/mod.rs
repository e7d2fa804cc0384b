//! The subcommands of the `ddsim` binary. Everything here may print; the library does not.

pub mod check;
pub mod memory;
pub mod plan;
pub mod plot;
pub mod preflight;
pub mod run;
pub mod slurm;
pub mod sweep;
pub mod trace;
pub mod warmup;

use clap::Args;
use ddsim::model::{Model, ModelError, Override};
use ddsim::output::OutDir;
use std::path::{Path, PathBuf};

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

/// Which model to run and how: the arguments `ddsim run` and `ddsim warmup` share.
#[derive(Args)]
pub struct ModelArgs {
    /// Model file (JSON). Without it, the built-in default (models/baseline.json).
    pub model: Option<PathBuf>,
    /// Seed of the run (default: the model's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a model field by its dotted path, with a JSON value: --set policy.store.per_session=50
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

impl ModelArgs {
    /// The model with its overrides applied and validated, and the seed to run it with.
    pub fn load(&self) -> Result<(Model, u64), Failure> {
        let sets = parse_sets(&self.sets)?;
        let model = load_model(self.model.as_deref(), &sets)?;
        let seed = self.seed.unwrap_or(model.seed);
        Ok((model, seed))
    }

    /// The model file as error and warning lines name it.
    pub fn file(&self) -> String {
        match &self.model {
            Some(p) => p.display().to_string(),
            None => "models/baseline.json (built-in)".to_string(),
        }
    }

    /// `params` of the results: the overrides as given.
    pub fn params(&self) -> serde_json::Value {
        serde_json::json!({ "set": self.sets })
    }
}

/// The output directory, `out` or by default `output/<model name>/`, created and checked
/// writable before any work starts.
pub fn prepare_out(out: Option<&Path>, model: &Model) -> Result<OutDir, Failure> {
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| Path::new("output").join(&model.name));
    OutDir::prepare(&dir).map_err(|e| usage(format!("{}: {e}", dir.display())))
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
