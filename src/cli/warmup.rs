//! `ddsim warmup`: a pilot run of a model, and where each of its main time series settles
//! (MSER-5), against the configured warm-up.

use super::{Failure, ModelArgs, prepare_out, thousands, usage};
use clap::Args;
use ddsim::experiment::warmup::{Analysis, MIN_SAMPLES, duration_text, format_span, pilot, write_outputs};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct WarmupArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Output directory for warmup.json, warmup.svg and warmup.png (default: output/<model name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Pilot runs to average, sample by sample, before MSER-5 (seeds SEED, SEED+1, ...).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    replications: u32,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

pub fn cmd_warmup(a: WarmupArgs) -> Result<(), Failure> {
    let (model, seed) = a.model.load()?;
    let out = prepare_out(a.out.as_deref(), &model)?;
    let (timeseries, analysis) = match pilot(&model, seed, a.replications, a.model.params()) {
        Ok(r) => r,
        Err(e) => {
            out.abandon();
            return Err(Failure { line: format!("{}: pilot run failed: {e}", model.name), code: 1 });
        }
    };
    let report = analysis.to_json(&model, a.model.params());
    let chart = analysis.chart(&timeseries);
    let files = match write_outputs(&out.path, &report, &chart) {
        Ok(f) => f,
        Err(e) => {
            out.abandon();
            return Err(usage(format!("cannot write the warm-up report: {e}")));
        }
    };
    if !a.quiet {
        print_report(&analysis, &files);
    }
    Ok(())
}

/// `163,512` for large values, three significant digits for small ones (`2.91e-5` for tiny).
fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        thousands(v)
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    }
}

fn print_report(a: &Analysis, files: &[PathBuf]) {
    // A closed stdout (ddsim warmup | head) is not an error worth a panic.
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "ddsim warmup: {} ({}): pilot of {}, {} samples every {}; MSER-5 on batches of 5 samples",
        a.model,
        a.seeds_text(),
        format_span(a.horizon_s),
        a.samples,
        format_span(a.interval_s)
    );
    let _ = writeln!(o, "  {:<24} {:<28} {:>10}  {:>14}", "series", "settles after", "seconds", "mean after");
    for s in &a.series {
        let seconds = if s.settled() { format!("{:.0}", s.at_s) } else { "-".into() };
        let _ = writeln!(
            o,
            "  {:<24} {:<28} {:>10}  {:>14}",
            s.name,
            s.describe(),
            seconds,
            number(s.truncation.mean_after)
        );
    }
    let configured = format_span(a.configured_s);
    let verdict = match a.configured_is_enough() {
        Some(true) => format!("the configured {configured} covers it"),
        Some(false) => format!("the configured {configured} is shorter"),
        None => format!("the configured {configured} may be too short"),
    };
    let not_settled: Vec<&str> = a.not_settled().iter().map(|s| s.name.as_str()).collect();
    let line = match (a.recommended_s(), a.at_least_s()) {
        (_, Some(l)) => format!(
            "warm-up at least {}: {} not settled within the pilot; lengthen it with --set horizon=...; {verdict}",
            format_span(l),
            not_settled.join(", ")
        ),
        (Some(r), None) => {
            format!("recommended warm-up {} (--set warmup={}); {verdict}", format_span(r), duration_text(r))
        }
        (None, None) => format!(
            "no recommendation: {} samples, MSER-5 needs at least {MIN_SAMPLES}; lengthen the pilot with --set horizon=...",
            a.samples
        ),
    };
    let _ = writeln!(o, "  {line}");
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap_or_default().to_string_lossy().into()).collect();
    let dir = files.first().and_then(|f| f.parent()).unwrap_or(Path::new("."));
    let _ = writeln!(o, "  written: {} ({})", dir.display(), names.join(", "));
}
