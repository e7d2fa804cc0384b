//! `ddsim run`: one model, once.

use super::{Failure, load_model, parse_sets, thousands, usage};
use clap::Args;
use ddsim::model::Model;
use ddsim::output::{OutDir, write_json};
use ddsim::sim::{RunOptions, run_model};
use ddsim::units::format_duration_short;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RunArgs {
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

pub fn cmd_run(a: RunArgs) -> Result<(), Failure> {
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

fn num(doc: &Value, k: &str) -> f64 {
    doc["metrics"][k].as_f64().unwrap_or(0.0)
}

fn print_summary(model: &Model, seed: u64, doc: &Value, path: &Path) {
    // A closed stdout (ddsim run | head) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let n = |k: &str| num(doc, k);
    let t = |k: &str| thousands(num(doc, k));
    let events = n("run.events");
    let wall = n("run.wall_s");
    let _ = writeln!(
        out,
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
        let _ = writeln!(
            out,
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
    let _ = writeln!(
        out,
        "  {:<23} p50 {}  p95 {}  p99 {}  max {}",
        "delivery latency",
        format_duration_short(n("delivery.latency_s.p50")),
        format_duration_short(n("delivery.latency_s.p95")),
        format_duration_short(n("delivery.latency_s.p99")),
        format_duration_short(n("delivery.latency_s.max"))
    );
    let busy = match doc["metrics"]["busy_hour.hour_of_day"].as_u64() {
        Some(h) => format!("busy hour {h:02}:00 ({} messages)", thousands(n("busy_hour.workload.messages"))),
        None => "no full hour for a busy hour".to_string(),
    };
    let _ = writeln!(
        out,
        "  {:<23} p50 {}  p95 {}  p99 {}  max {}; {busy}",
        "after registration",
        format_duration_short(n("delivery.after_register_s.p50")),
        format_duration_short(n("delivery.after_register_s.p95")),
        format_duration_short(n("delivery.after_register_s.p99")),
        format_duration_short(n("delivery.after_register_s.max"))
    );
    let _ = writeln!(
        out,
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
    let _ = writeln!(
        out,
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
    let _ = writeln!(
        out,
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
    let _ = writeln!(out, "  {:<23} {}", "server utilisation", servers.join(", "));
    let _ = writeln!(out, "  results: {}", path.display());
}
