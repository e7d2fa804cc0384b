//! `ddsim plot`: the charts of a sweep or run directory.

use super::{Failure, usage};
use clap::Args;
use ddsim::experiment::charts::Window;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct PlotArgs {
    /// A sweep directory (with manifest.json) or a run directory (with results.json).
    pub dir: PathBuf,
    /// Draw the time series from this simulated time on (a duration, such as 2.5h).
    #[arg(long, value_name = "T", value_parser = seconds)]
    pub from: Option<f64>,
    /// Draw the time series up to this simulated time.
    #[arg(long, value_name = "T", value_parser = seconds)]
    pub to: Option<f64>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

fn seconds(s: &str) -> Result<f64, String> {
    ddsim::units::parse_duration(s).map(|d| d.secs_f64())
}

pub fn cmd_plot(a: PlotArgs) -> Result<(), Failure> {
    if let (Some(f), Some(t)) = (a.from, a.to)
        && f >= t
    {
        return Err(usage("--to must be after --from".to_string()));
    }
    // A plan's directory has a manifest too, but its charts come from the search (candidates,
    // intervals, the frontier), which `ddsim plan` rebuilds from the runs it keeps.
    if let Ok(text) = std::fs::read_to_string(a.dir.join("manifest.json"))
        && let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(file) = manifest.get("plan_file").and_then(|f| f.as_str())
    {
        return Err(usage(format!(
            "{}: a plan's directory; `ddsim plan {file} --out {}` redraws its charts and report from the runs it keeps, running none again",
            a.dir.display(),
            a.dir.display()
        )));
    }
    let window = Window { from: a.from, to: a.to };
    let files = ddsim::experiment::charts::plot_dir(&a.dir, window).map_err(usage)?;
    let report = ddsim::report::write(&a.dir).map_err(usage)?;
    if !a.quiet {
        let mut o = std::io::stdout().lock();
        let _ =
            writeln!(o, "ddsim plot: {} charts (SVG and PNG) in {}", files.len() / 2, a.dir.join("charts").display());
        for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "png")) {
            let _ = writeln!(o, "  {}", f.with_extension("").display());
        }
        let _ = writeln!(o, "ddsim plot: overview page {}", report.display());
    }
    Ok(())
}
