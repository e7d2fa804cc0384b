//! `ddsim sweep`: every run of an experiment, in parallel, with progress, resume and Ctrl-C;
//! or one shard of its runs (`--shard`), or the summary of the shards' runs (`--collect`).

use super::{Failure, usage};
use clap::Args;
use ddsim::experiment::Experiment;
use ddsim::experiment::exec::{Progress, SweepOptions, sweep};
use ddsim::experiment::shard::{Collected, Shard, collect, shard_of, shardable};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct SweepArgs {
    /// Experiment file (JSON).
    pub experiment: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory (default: output/<experiment name>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the output of a different experiment in the output directory.
    #[arg(long)]
    pub force: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard I of N of the runs (I from 0), and write no summary: I/N, `slurm` (I and N
    /// of the Slurm array task) or k8s:N (I from JOB_COMPLETION_INDEX). Run k of the canonical
    /// order (point by point, replications in order) is shard k mod N's.
    #[arg(long, value_name = "I/N|slurm|k8s:N", conflicts_with_all = ["force", "collect"])]
    pub shard: Option<String>,
    /// Summarise the runs the shards wrote, with charts and report, once every run is present;
    /// otherwise name the missing runs and the command that runs them (exit 1).
    #[arg(long)]
    pub collect: bool,
    /// For tests of interruption: once this many runs have finished, stop as a Ctrl-C does.
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_runs: Option<usize>,
    /// For tests of crash recovery: once this many runs have finished, abort the process at
    /// once, as a crash or a SIGKILL would (nothing is cleaned up).
    #[arg(long, hide = true, value_name = "N")]
    pub abort_after_runs: Option<usize>,
}

/// Stops a sweep after a given number of finished runs (see the hidden flags above), so that
/// tests interrupt it at a chosen point rather than at a chosen time.
enum Interrupt {
    Stop(usize, Arc<AtomicBool>),
    Abort(usize),
}

/// A progress bar on a terminal; otherwise a line every 10 s (and at the end).
struct Reporter {
    bar: Option<ProgressBar>,
    lines: bool,
    total: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    started: Instant,
    /// When the last run finished, in ms since `started` (read by the progress bar's ETA).
    last_done_ms: Arc<AtomicU64>,
    last_line: Mutex<Instant>,
    interrupt: Option<Interrupt>,
}

impl Reporter {
    fn eta(&self) -> String {
        let now = self.started.elapsed().as_secs_f64();
        eta(now, now, self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

/// The time left, `now` seconds into the sweep: the first `done` runs had finished at
/// `at_last_done`, so all `total` should finish at `at_last_done / done * total`; what remains
/// of that, counting down between completions, never below zero.
fn eta(now: f64, at_last_done: f64, done: usize, total: usize) -> String {
    if done == 0 || done >= total {
        return "-".into();
    }
    let left = (at_last_done / done as f64 * total as f64 - now).max(0.0);
    ddsim::units::format_duration_short(left.round())
}

impl Progress for Reporter {
    fn start(&self, total: usize, already: usize) {
        self.total.store(total - already, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_length((total - already) as u64);
            b.set_message(if already > 0 { format!("{already} already done") } else { String::new() });
        } else if self.lines {
            eprintln!("sweep: {total} runs, {already} already done, {} to run", total - already);
        }
    }
    fn more(&self, added: usize, already: usize) {
        self.total.fetch_add(added - already, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc_length((added - already) as u64);
        } else if self.lines {
            eprintln!("sweep: {added} more runs for points not yet precise enough, {already} already done");
        }
    }
    fn run_finished(&self, _point: &str, _r: usize, ok: bool) {
        self.last_done_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.interrupt {
            Some(Interrupt::Stop(n, cancel)) if done == *n => cancel.store(true, Ordering::Relaxed),
            Some(Interrupt::Abort(n)) if done == *n => std::process::abort(),
            _ => {}
        }
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let failed = self.failed.load(Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(1);
            if failed > 0 {
                b.set_message(format!("{failed} failed"));
            }
        } else if self.lines {
            let mut last = self.last_line.lock().expect("not poisoned");
            let total = self.total.load(Ordering::Relaxed);
            if last.elapsed() >= Duration::from_secs(10) || done == total {
                *last = Instant::now();
                eprintln!("sweep: {done}/{total} runs done, {failed} failed, ETA {}", self.eta());
            }
        }
    }
}

pub fn cmd_sweep(a: SweepArgs) -> Result<(), Failure> {
    let exp = Experiment::load(&a.experiment)?;
    if a.threads == Some(0) {
        return Err(usage("--threads: must be at least 1".into()));
    }
    let shard = match &a.shard {
        Some(spec) => {
            let s = Shard::parse(spec, |v| std::env::var(v).ok()).map_err(|e| usage(format!("--shard: {e}")))?;
            shardable(&exp).map_err(|e| usage(format!("--shard: {e}")))?;
            Some(s)
        }
        None => None,
    };
    let out = a.out.clone().unwrap_or_else(|| Path::new("output").join(&exp.spec.name));
    if a.collect {
        return cmd_collect(&a, &exp, &out);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        // The first Ctrl-C stops the sweep: runs in progress are abandoned, finished ones kept.
        // A second one while it stops exits at once with 130.
        let _ = ctrlc::set_handler(move || {
            if c.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!("\nsweep: stopping; completed runs are kept (run the same command again to resume)");
        });
    }
    let terminal = std::io::stderr().is_terminal();
    let last_done_ms = Arc::new(AtomicU64::new(0));
    let at_last_done = last_done_ms.clone();
    let bar = (!a.quiet && terminal).then(|| {
        let b = ProgressBar::new(0);
        // indicatif's own {eta} follows the rate of recent steps and, with steps minutes apart,
        // freezes; this one is the mean time per finished run so far times the runs left,
        // counted down every second between completions.
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {elapsed} elapsed, ETA {runs_eta}  {msg}")
                .expect("a valid template")
                .with_key("runs_eta", move |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let last = at_last_done.load(Ordering::Relaxed) as f64 / 1e3;
                    let _ = w.write_str(&eta(
                        s.elapsed().as_secs_f64(),
                        last,
                        s.pos() as usize,
                        s.len().unwrap_or(0) as usize,
                    ));
                }),
        );
        b.enable_steady_tick(Duration::from_secs(1));
        b
    });
    let reporter = Reporter {
        bar,
        lines: !a.quiet && !terminal,
        total: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        started: Instant::now(),
        last_done_ms,
        last_line: Mutex::new(Instant::now()),
        interrupt: match (a.stop_after_runs, a.abort_after_runs) {
            (Some(n), _) => Some(Interrupt::Stop(n, cancel.clone())),
            (None, Some(n)) => Some(Interrupt::Abort(n)),
            (None, None) => None,
        },
    };
    let opts = SweepOptions { threads: a.threads, out, force: a.force, cancel, shard };
    let report = sweep(&exp, &opts, &reporter).map_err(|e| usage(e.to_string()))?;
    if let Some(b) = &reporter.bar {
        b.finish_and_clear();
    }
    for f in &report.failures {
        eprintln!("error: run {}-r{} (seed {}) failed: {}", f.point, f.replication, f.seed, f.error);
    }
    if report.cancelled {
        return Err(Failure {
            line: format!(
                "interrupted: {} of {} runs complete in {}; run the same command again to finish",
                report.skipped + report.ran,
                report.total,
                report.out.display()
            ),
            code: 130,
        });
    }
    if let Some(s) = shard {
        if !a.quiet {
            println!(
                "ddsim sweep: {}, shard {} of {}: {} runs, {} already done, {} failed\n  results: {} \
                 (no summary: {} once every shard is done)",
                exp.spec.name,
                s.index,
                s.count,
                report.total,
                report.skipped,
                report.failures.len(),
                report.out.join("runs").display(),
                command(&a.experiment, &report.out, "--collect"),
            );
        }
    } else {
        let finished = finish(&report.out);
        if !a.quiet {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(
                o,
                "ddsim sweep: {}: {} runs, {} already done, {} failed",
                what(&exp),
                report.total,
                report.skipped,
                report.failures.len()
            );
            finished.print(&report.out);
        }
    }
    if !report.failures.is_empty() {
        return Err(Failure {
            line: format!("{} run(s) failed; the others are summarised", report.failures.len()),
            code: 1,
        });
    }
    Ok(())
}

/// What a sweep writes after its summary: the charts and report.html of the directory (a
/// chart or page that cannot be drawn is reported, not fatal). Shared by a local sweep and
/// `--collect`, so that both write the same.
struct Finished {
    charts: Option<usize>,
    report: Option<PathBuf>,
}

fn finish(dir: &Path) -> Finished {
    let charts = ddsim::experiment::charts::plot_dir(dir, Default::default())
        .inspect_err(|e| eprintln!("error: charts: {e}"))
        .ok();
    let report = ddsim::report::write(dir).inspect_err(|e| eprintln!("error: report: {e}")).ok();
    Finished { charts: charts.map(|files| files.len() / 2), report }
}

impl Finished {
    fn print(&self, dir: &Path) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "  results: {} (summary.csv, summary.json, runs/)", dir.display());
        if let Some(n) = self.charts {
            let _ = writeln!(o, "  charts:  {} ({n} charts, SVG and PNG)", dir.join("charts").display());
        }
        if let Some(p) = &self.report {
            let _ = writeln!(o, "  report:  {}", p.display());
        }
    }
}

/// `ddsim sweep EXP --out DIR` and `extra`, quoted for a shell.
fn command(exp: &Path, out: &Path, extra: &str) -> String {
    let q = |p: &Path| shlex::try_quote(&p.display().to_string()).map(|c| c.into_owned()).unwrap_or_default();
    let extra = if extra.is_empty() { String::new() } else { format!(" {extra}") };
    format!("ddsim sweep {} --out {}{extra}", q(exp), q(out))
}

/// `quickstart (4 points x 5 replications)`: the experiment, as the final line names it.
fn what(exp: &Experiment) -> String {
    let reps = match &exp.spec.replications {
        ddsim::experiment::Replications::Fixed(n) => n.to_string(),
        ddsim::experiment::Replications::Sequential(q) => format!("{} to {}", q.min, q.max),
    };
    format!("{} ({} points x {reps} replications)", exp.spec.name, exp.points.len())
}

/// `--collect`: the summary, charts and page once every run is present; otherwise the missing
/// runs by point, and the commands that run exactly those (exit 1, nothing written).
fn cmd_collect(a: &SweepArgs, exp: &Experiment, out: &Path) -> Result<(), Failure> {
    let missing = match collect(exp, out).map_err(|e| usage(format!("--collect: {e}")))? {
        Collected::Complete(_) => {
            let finished = finish(out);
            if !a.quiet {
                println!("ddsim sweep: {}: collected {} runs", what(exp), exp.runs());
                finished.print(out);
            }
            return Ok(());
        }
        Collected::Missing(m) => m,
    };
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "ddsim sweep: {}: {} of {} runs missing in {}:",
        exp.spec.name,
        missing.len(),
        exp.runs(),
        out.display()
    );
    let mut by_point: Vec<(usize, Vec<usize>)> = vec![];
    for &(p, r) in &missing {
        match by_point.last_mut() {
            Some((q, rs)) if *q == p => rs.push(r),
            _ => by_point.push((p, vec![r])),
        }
    }
    const SHOWN: usize = 20;
    for (p, rs) in by_point.iter().take(SHOWN) {
        let _ = writeln!(o, "  {}: replication {}", exp.points[*p].id, ranges(rs));
    }
    if by_point.len() > SHOWN {
        let _ = writeln!(o, "  ... and {} more points", by_point.len() - SHOWN);
    }
    let _ = writeln!(o, "run exactly those here (then it summarises): {}", command(&a.experiment, out, ""));
    // After `ddsim slurm`: the array tasks that hold them, to re-submit.
    if let Some(tasks) = super::slurm::tasks_of(out) {
        let mut shards: Vec<usize> = missing.iter().map(|&(p, r)| shard_of(exp, p, r, tasks)).collect();
        shards.sort_unstable();
        shards.dedup();
        let list: Vec<String> = shards.iter().map(usize::to_string).collect();
        let _ = writeln!(
            o,
            "or on the cluster: sbatch --array={} {}, then {}",
            list.join(","),
            super::slurm::script(out, "sweep").display(),
            command(&a.experiment, out, "--collect")
        );
    }
    Err(Failure { line: format!("{} of {} runs missing; nothing summarised", missing.len(), exp.runs()), code: 1 })
}

/// `[0, 1, 2, 5]` → `"0-2, 5"`.
fn ranges(v: &[usize]) -> String {
    let mut parts: Vec<String> = vec![];
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}-{}", v[i], v[j]) } else { v[i].to_string() });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::eta;

    #[test]
    fn the_eta_counts_down_between_completions_and_moves_with_them() {
        // 10 of 40 runs done at 60 s: the sweep should end at 240 s.
        assert_eq!(eta(60.0, 60.0, 10, 40), "3m");
        assert_eq!(eta(120.0, 60.0, 10, 40), "2m");
        assert_eq!(eta(300.0, 60.0, 10, 40), "0s");
        // The next completion, late, pushes the end out.
        assert_eq!(eta(300.0, 300.0, 11, 40), "13.2m");
        assert_eq!(eta(5.0, 0.0, 0, 40), "-");
        assert_eq!(eta(5.0, 5.0, 40, 40), "-");
    }
}
