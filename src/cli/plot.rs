//! `ddsim plot`: the charts of a sweep or run directory.

use super::{Failure, usage};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct PlotArgs {
    /// A sweep directory (with manifest.json) or a run directory (with results.json).
    pub dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn cmd_plot(a: PlotArgs) -> Result<(), Failure> {
    let files = ddsim::experiment::charts::plot_dir(&a.dir).map_err(usage)?;
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
