//! `ddsim plan`: the least capacity that meets service targets, with stated confidence.

use super::{Failure, usage};
use clap::Args;
use ddsim::plan::exec::{Candidate, Evaluator, PlanError, PlanProgress};
use ddsim::plan::{Plan, report, search};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Exit code when no value within the bounds meets the targets.
pub const NO_ANSWER: u8 = 3;

#[derive(Args)]
pub struct PlanArgs {
    /// Plan file (JSON).
    pub plan: PathBuf,
    /// Worker threads (default: all cores). The answer does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory (default: output/<plan name>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the output of a different plan in the output directory.
    #[arg(long)]
    pub force: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A progress bar on a terminal; otherwise a line every 10 s.
struct Reporter {
    bar: Option<ProgressBar>,
    lines: bool,
    decided: AtomicUsize,
    runs: AtomicUsize,
    reused: AtomicUsize,
    bracket: Mutex<String>,
    last_line: Mutex<Instant>,
}

impl Reporter {
    fn message(&self) -> String {
        format!(
            "{} candidates decided, {} runs ({} found done); {}",
            self.decided.load(Ordering::Relaxed),
            self.runs.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
            self.bracket.lock().expect("not poisoned")
        )
    }
    fn show(&self, force: bool) {
        if let Some(b) = &self.bar {
            b.set_message(self.message());
        } else if self.lines {
            let mut last = self.last_line.lock().expect("not poisoned");
            if force || last.elapsed() >= Duration::from_secs(10) {
                *last = Instant::now();
                eprintln!("plan: {}", self.message());
            }
        }
    }
}

impl PlanProgress for Reporter {
    fn candidate(&self, id: &str, bracket: &str) {
        *self.bracket.lock().expect("not poisoned") = format!("now {id}, searching {bracket}");
        self.show(false);
    }
    fn run(&self, reused: bool) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if reused {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        self.show(false);
    }
    fn decided(&self, _c: &Candidate) {
        self.decided.fetch_add(1, Ordering::Relaxed);
        self.show(false);
    }
}

pub fn cmd_plan(a: PlanArgs) -> Result<(), Failure> {
    let plan = Plan::load(&a.plan)?;
    if a.threads == Some(0) {
        return Err(usage("--threads: must be at least 1".into()));
    }
    let dir = a.out.clone().unwrap_or_else(|| Path::new("output").join(&plan.spec.name));
    let out = ddsim::output::OutDir::prepare(&dir).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let dir = out.path.clone();
    // Another plan's runs are not mixed in (runs of this one are checked one by one).
    let manifest = dir.join("manifest.json");
    if let Some(old) =
        std::fs::read_to_string(&manifest).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        && old["hash"].as_str() != Some(plan.hash.as_str())
    {
        if !a.force {
            return Err(usage(format!(
                "{}: holds the output of another plan or experiment (hash {}, this plan's is {}); use another --out, or --force to replace it",
                dir.display(),
                old["hash"].as_str().unwrap_or("none"),
                plan.hash
            )));
        }
        for sub in ["runs", "charts"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
        for f in ["plan.json", "plan.csv", "summary.json", "summary.csv", "report.html"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    let doc = json!({ "plan": plan.spec, "plan_file": plan.file, "hash": plan.hash, "ddsim_version": env!("CARGO_PKG_VERSION") });
    ddsim::output::write_json(&manifest, &doc)
        .map_err(|e| usage(format!("{}: cannot write: {e}", manifest.display())))?;

    // What a plan killed while publishing a run left behind.
    ddsim::output::remove_stale_output_temps(&dir);
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if c.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!("\nplan: stopping; completed runs are kept (run the same command again to resume)");
        });
    }
    let terminal = std::io::stderr().is_terminal();
    let bar = (!a.quiet && terminal).then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(ProgressStyle::with_template("{spinner} {elapsed}  {msg}").expect("a valid template"));
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let reporter = Reporter {
        bar,
        lines: !a.quiet && !terminal,
        decided: AtomicUsize::new(0),
        runs: AtomicUsize::new(0),
        reused: AtomicUsize::new(0),
        bracket: Mutex::new(String::new()),
        last_line: Mutex::new(Instant::now()),
    };
    let started = Instant::now();
    let mut ev = Evaluator::new(&plan, &dir, a.threads, cancel, &reporter).map_err(|e| usage(e.to_string()))?;
    let result = search::run(&mut ev);
    if let Some(b) = &reporter.bar {
        b.finish_and_clear();
    }
    let outcome = match result {
        Ok(o) => o,
        Err(PlanError::Cancelled) => {
            return Err(Failure {
                line: format!(
                    "interrupted: {} runs complete in {}; run the same command again to resume",
                    ev.runs_ran + ev.runs_reused,
                    dir.display()
                ),
                code: 130,
            });
        }
        Err(e @ PlanError::RunFailed { .. }) => return Err(Failure { line: e.to_string(), code: 1 }),
        Err(e) => return Err(usage(e.to_string())),
    };
    report::write(&plan, &ev, &outcome, &dir).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let charts = report::charts(&plan, &ev, &outcome, &dir.join("charts"));
    if let Err(e) = &charts {
        eprintln!("error: charts: {e}");
    }
    let html = ddsim::report::write(&dir).inspect_err(|e| eprintln!("error: report: {e}"));
    if !a.quiet {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "ddsim plan: {}", report::paragraph(&plan, &ev, &outcome));
        let _ = writeln!(
            o,
            "  {} runs ({} found done) in {}",
            ev.runs_ran + ev.runs_reused,
            ev.runs_reused,
            ddsim::units::format_duration_short(started.elapsed().as_secs_f64())
        );
        let _ = writeln!(o, "  results: {} (plan.json, plan.csv, runs/)", dir.display());
        if let Ok(files) = &charts {
            let _ =
                writeln!(o, "  charts:  {} ({} charts, SVG and PNG)", dir.join("charts").display(), files.len() / 2);
        }
        if let Ok(p) = &html {
            let _ = writeln!(o, "  report:  {}", p.display());
        }
    }
    match outcome.answer {
        Some(_) => Ok(()),
        None => Err(Failure {
            line: format!(
                "no value within the bounds meets the targets: at the most capacity tried ({}) the plan {}",
                ev.describe(outcome.at_max.as_deref().unwrap_or_default()),
                report::failing(&plan, &ev.evaluated[outcome.at_max.as_ref().expect("set without an answer")])
                    .join(" and ")
            ),
            code: NO_ANSWER,
        }),
    }
}
