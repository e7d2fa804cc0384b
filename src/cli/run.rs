//! `ddsim run`: one model, once.

use super::{Failure, ModelArgs, one_line, prepare_out, thousands, usage};
use clap::Args;
use ddsim::experiment::warmup::short_warmup;
use ddsim::model::Model;
use ddsim::output::write_json;
use ddsim::sim::{RunOptions, run_model};
use ddsim::units::format_duration_short;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Output directory (default: output/<model name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Run even when the model's estimated peak memory exceeds the memory available.
    #[arg(long)]
    force: bool,
}

pub fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    let (model, seed) = a.model.load()?;
    super::preflight::check_fits(&one_line(&a.model.file()), &model, 1, a.force)?;
    let out = prepare_out(a.out.as_deref(), &model)?;
    let (doc, _) = match run_model(&model, seed, a.model.params(), RunOptions::default()) {
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
        // After the run, from its own series: results.json and the exit code stay as they are.
        if let Some(w) = short_warmup(&model, &doc["timeseries"]) {
            eprintln!("warning: {}: {}", one_line(&a.model.file()), w);
        }
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
            "  {label:<23} pending at warm-up {} + offered {} + held behind older data {} = delivered {} + lost (declined {}, BYE {}, overflow {}, expired {}) + pending at end {}",
            k("pending_at_warmup"),
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
    // "p50 ..  p95 ..  p99 ..  max .." of a delay metric.
    let quantiles = |metric: &str| {
        let q = |s: &str| format_duration_short(n(&format!("{metric}.{s}")));
        format!("p50 {}  p95 {}  p99 {}  max {}", q("p50"), q("p95"), q("p99"), q("max"))
    };
    let _ = writeln!(out, "  {:<23} {}", "delivery latency", quantiles("delivery.latency_s"));
    let busy = match doc["metrics"]["busy_hour.hour_of_day"].as_u64() {
        Some(h) => format!("busy hour {h:02}:00 ({} messages)", thousands(n("busy_hour.workload.messages"))),
        None => "no full hour for a busy hour".to_string(),
    };
    let _ = writeln!(out, "  {:<23} {}; {busy}", "after registration", quantiles("delivery.after_register_s"));
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
        "  {:<23} {} items ({} KiB); time average {} items",
        "peak store",
        t("store.occupancy.peak"),
        thousands(n("store.bytes.peak") / 1024.0),
        // A small store's average keeps a decimal (25.4 items); a large one reads as a count.
        if n("store.occupancy.time_avg") >= 1000.0 {
            thousands(n("store.occupancy.time_avg"))
        } else {
            format!("{:.1}", n("store.occupancy.time_avg"))
        }
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
    // A pool reads as one entry (its mean, member count and busiest member), not one per
    // member: fifty PF servers are one entry, not fifty.
    let topology = model.topology.expanded();
    let pools: std::collections::HashMap<&str, usize> = topology.pools().map(|(p, r)| (p, r.len())).collect();
    let pooled: std::collections::HashSet<&str> =
        topology.pools().flat_map(|(_, r)| topology.nodes[r].iter().map(|n| n.id.as_str())).collect();
    let mut servers = vec![];
    if let Some(m) = doc["metrics"].as_object() {
        let pct = |v: &Value| v.as_f64().unwrap_or(0.0) * 100.0;
        for (k, v) in m {
            let Some(name) = k.strip_prefix("servers.") else { continue };
            if let Some(server) = name.strip_suffix(".utilisation").filter(|s| !pooled.contains(s)) {
                servers.push(format!("{server} {:.1}%", pct(v)));
            } else if let Some((pool, members)) =
                name.strip_suffix(".utilisation.mean").and_then(|p| pools.get_key_value(p))
            {
                let max = m.get(&format!("servers.{pool}.utilisation.max")).map_or(0.0, pct);
                servers.push(format!("{pool} {:.1}% ({members} servers, busiest {max:.1}%)", pct(v)));
            }
        }
    }
    let _ = writeln!(out, "  {:<23} {}", "server utilisation", servers.join(", "));
    let _ = writeln!(out, "  results: {}", path.display());
}
