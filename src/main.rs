//! The `ddsim` command line. Every user error is one line on stderr and exit code 2; a run
//! that breaks an invariant (conservation) exits 1 without writing results.

use clap::{Args, Parser, Subcommand};
use ddsim::model::{Model, ModelError, Override};
use ddsim::output::{OutDir, write_json};
use ddsim::sim::{RunOptions, run_model};
use ddsim::units::format_duration_short;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ddsim",
    version,
    about = "Discrete-event simulator of IMS/CPM deferred delivery (OMA CPM 8.3.2.9.1.2)",
    long_about = "ddsim simulates how CPM Participating Functions store the group-chat traffic that \
offline users miss and deliver it when they register again, so that store sizes, server counts \
and retry policies can be sized and compared.",
    after_help = "Examples:\n  ddsim run                                   run the built-in baseline model\n  ddsim run models/storm.json --set policy.retry='{\"kind\":\"none\"}'\n  ddsim check models/*.json"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one model once and write DIR/results.json.
    #[command(
        after_help = "Examples:\n  ddsim run\n  ddsim run models/tiny.json --seed 7 --out output/tiny-7\n  ddsim run models/baseline.json --set policy.store.per_session=50 --set horizon=1d"
    )]
    Run(RunArgs),
    /// Validate model files without running them.
    #[command(after_help = "Example:\n  ddsim check models/*.json")]
    Check {
        /// Model files to validate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Model file (JSON). Without it, the built-in default (models/baseline.json).
    model: Option<PathBuf>,
    /// Seed of the run (default: the model's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Override a model field by its dotted path, with a JSON value: --set policy.store.per_session=50
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Output directory (default: output/<model name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// A failure to report: one line, and the exit code.
struct Failure {
    line: String,
    code: u8,
}

impl From<ModelError> for Failure {
    fn from(e: ModelError) -> Self {
        Failure { line: e.to_string(), code: 2 }
    }
}

fn usage(line: String) -> Failure {
    Failure { line, code: 2 }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // One line: clap's first line, without its usage block. A first line ending in ':'
            // ("the following required arguments were not provided:") is completed by the
            // indented lines after it, or it would not say what is missing.
            let text = e.to_string();
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_string();
            if first.ends_with(':') {
                let rest: Vec<&str> = lines.take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
                if !rest.is_empty() {
                    first = format!("{first} {}", rest.join(", "));
                }
            }
            eprintln!("error: {} (see ddsim --help)", one_line(&first));
            return ExitCode::from(2);
        }
    };
    let res = match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Check { files } => cmd_check(&files),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.line.is_empty() {
                eprintln!("error: {}", one_line(&f.line));
            }
            ExitCode::from(f.code)
        }
    }
}

/// Messages quote what the user wrote (node ids, field names, file names); a newline or other
/// control character in it must not break the one-line error, so it is shown escaped.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn parse_sets(sets: &[String]) -> Result<Vec<Override>, Failure> {
    // `Override::parse` errors already start with "--set"; no second prefix.
    sets.iter().map(|s| Override::parse(s).map_err(usage)).collect()
}

fn load_model(path: Option<&Path>, sets: &[Override]) -> Result<Model, Failure> {
    Ok(match path {
        Some(p) => Model::load(p, sets)?,
        None => Model::builtin(sets)?,
    })
}

fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    let sets = parse_sets(&a.sets)?;
    let model = load_model(a.model.as_deref(), &sets)?;
    let seed = a.seed.unwrap_or(model.seed);
    let dir = a.out.clone().unwrap_or_else(|| Path::new("output").join(&model.name));
    let out = OutDir::prepare(&dir).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let params = json!({ "set": a.sets });
    let (doc, _) = match run_model(&model, seed, params, RunOptions::default()) {
        Ok(r) => r,
        Err(e) => {
            out.abandon();
            return Err(Failure { line: format!("{}: run failed: {e}", model.name), code: 1 });
        }
    };
    let path = out.path.join("results.json");
    if let Err(e) = write_json(&path, &doc) {
        out.abandon();
        return Err(usage(format!("{}: cannot write results: {e}", path.display())));
    }
    if !a.quiet {
        print_summary(&model, seed, &doc, &path);
    }
    Ok(())
}

fn cmd_check(files: &[PathBuf]) -> Result<(), Failure> {
    let mut first_err = None;
    for f in files {
        match Model::load(f, &[]) {
            Ok(m) => {
                let users: u32 = m.population.iter().map(|c| c.users).sum();
                println!(
                    "ok: {} (model \"{}\": {} users, {} groups, horizon {})",
                    f.display(),
                    m.name,
                    users,
                    m.groups.count,
                    m.horizon
                );
            }
            Err(e) => {
                eprintln!("error: {}", one_line(&e.to_string()));
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        // Every error has been printed already, one line each.
        Some(_) => Err(Failure { line: String::new(), code: 2 }),
        None => Ok(()),
    }
}

fn num(doc: &Value, k: &str) -> f64 {
    doc["metrics"][k].as_f64().unwrap_or(0.0)
}

fn thousands(v: f64) -> String {
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

fn print_summary(model: &Model, seed: u64, doc: &Value, path: &Path) {
    let n = |k: &str| num(doc, k);
    let t = |k: &str| thousands(num(doc, k));
    let events = n("run.events");
    let wall = n("run.wall_s");
    println!(
        "ddsim run: {} (seed {seed}): {} simulated, statistics over the last {}, in {:.1} s wall ({} events, {:.1}M events/s)",
        model.name,
        format_duration_short(n("run.sim_time_s")),
        format_duration_short(n("run.window_s")),
        wall,
        thousands(events),
        events / wall.max(1e-9) / 1e6
    );
    for (label, p) in [("deferred messages", "deferred"), ("deferred notifications", "notifications")] {
        let k = |f: &str| t(&format!("{p}.{f}"));
        println!(
            "  {label:<23} offered {} (+{} held behind older data), delivered {}; lost: declined {}, BYE {}, overflow {}, expired {}; pending at end {}",
            k("offered"),
            k("queued_behind"),
            k("delivered"),
            k("discarded_decline"),
            k("discarded_bye"),
            k("dropped_overflow"),
            k("expired"),
            k("pending_at_end")
        );
    }
    println!(
        "  {:<23} p50 {}  p95 {}  p99 {}  max {}",
        "delivery latency",
        format_duration_short(n("delivery.latency_s.p50")),
        format_duration_short(n("delivery.latency_s.p95")),
        format_duration_short(n("delivery.latency_s.p99")),
        format_duration_short(n("delivery.latency_s.max"))
    );
    println!(
        "  {:<23} started {}, succeeded {}, declined {}, interrupted {}, gave up {}; {} INVITEs ({:.2} per session, max {})",
        "delivery sessions",
        t("delivery.sessions.started"),
        t("delivery.sessions.succeeded"),
        t("delivery.sessions.declined"),
        t("delivery.sessions.interrupted"),
        t("delivery.sessions.gave_up"),
        t("delivery.invites"),
        n("delivery.attempts_per_session.mean"),
        t("delivery.attempts_per_session.max")
    );
    println!(
        "  {:<23} {} items ({} KiB); time average {:.1} items",
        "peak store",
        t("store.occupancy.peak"),
        thousands(n("store.bytes.peak") / 1024.0),
        n("store.occupancy.time_avg")
    );
    let sip: Vec<String> = ["REGISTER", "INVITE", "ACK", "BYE", "SUBSCRIBE", "NOTIFY"]
        .iter()
        .map(|m| format!("{m} {}", t(&format!("sip.{m}"))))
        .collect();
    println!(
        "  {:<23} {}; 503 responses {}; MSRP SEND {}",
        "SIP messages",
        sip.join(", "),
        t("sip.responses.503"),
        t("msrp.SEND")
    );
    let mut servers = vec![];
    if let Some(m) = doc["metrics"].as_object() {
        for (k, v) in m {
            if let Some(name) = k.strip_prefix("servers.").and_then(|r| r.strip_suffix(".utilisation")) {
                servers.push(format!("{name} {:.1}%", v.as_f64().unwrap_or(0.0) * 100.0));
            }
        }
    }
    println!("  {:<23} {}", "server utilisation", servers.join(", "));
    println!("  results: {}", path.display());
}
