//! `ddsim trace`: one run that records every message and timer involving the first K users
//! (or a window of virtual time), written as a capture for Wireshark, JSON lines and/or a
//! ladder diagram.

use super::{Failure, load_model, parse_sets, usage};
use clap::Args;
use ddsim::engine::Time;
use ddsim::model::Model;
use ddsim::sim::{RunOptions, run_model};
use ddsim::trace::wire;
use ddsim::trace::{Trace, TraceFilter, TraceKind, jsonl, ladder, pcap};
use ddsim::units::{format_duration, parse_duration};
use ddsim::workload::World;
use serde_json::json;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct TraceArgs {
    /// Model file (JSON). Without it, the built-in default (models/baseline.json).
    model: Option<PathBuf>,
    /// Seed of the run (default: the model's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Override a model field by its dotted path, with a JSON value: --set warmup=0s
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Record what involves users 0..K (default: every user when --from or --to is given, else 1).
    #[arg(long, value_name = "K")]
    users: Option<u32>,
    /// Record from this virtual time on: 0s, 90m, 1.5h (default: the start).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    from: Option<Time>,
    /// Record up to this virtual time (default: the horizon).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    to: Option<Time>,
    /// Write the messages as a capture file (libpcap, raw IPv4) for Wireshark.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Write one JSON object per event.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Draw a ladder diagram (SVG; PNG when FILE ends in .png).
    #[arg(long, value_name = "FILE")]
    ladder: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_time(s: &str) -> Result<Time, String> {
    parse_duration(s).map(|d| d.0)
}

/// An output written next to its final name and renamed into place when complete, so that a
/// failure leaves nothing behind.
struct Output {
    path: PathBuf,
    partial: PathBuf,
}

impl Output {
    fn create(path: &Path) -> Result<(Output, File), Failure> {
        // `story.svg` is written as `story.partial.svg`: the drawing backend goes by the extension.
        let partial = match (path.file_stem(), path.extension()) {
            (Some(stem), Some(ext)) => {
                let mut n = stem.to_os_string();
                n.push(".partial.");
                n.push(ext);
                path.with_file_name(n)
            }
            _ => {
                let mut n = path.file_name().unwrap_or_default().to_os_string();
                n.push(".partial");
                path.with_file_name(n)
            }
        };
        let f = File::create(&partial).map_err(|e| usage(format!("{}: cannot write: {e}", path.display())))?;
        Ok((Output { path: path.to_path_buf(), partial }, f))
    }
    fn commit(&self) -> Result<(), Failure> {
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| usage(format!("{}: cannot write: {e}", self.path.display())))
    }
    fn abandon(&self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

pub fn cmd_trace(a: TraceArgs) -> Result<(), Failure> {
    let sets = parse_sets(&a.sets)?;
    let model = load_model(a.model.as_deref(), &sets)?;
    let seed = a.seed.unwrap_or(model.seed);
    if a.pcap.is_none() && a.jsonl.is_none() && a.ladder.is_none() {
        return Err(usage("ddsim trace: nothing to write; give --pcap, --jsonl and/or --ladder".into()));
    }
    let paths: Vec<&PathBuf> = [&a.pcap, &a.jsonl, &a.ladder].into_iter().flatten().collect();
    if paths.iter().enumerate().any(|(i, p)| paths[..i].contains(p)) {
        return Err(usage("ddsim trace: --pcap, --jsonl and --ladder need different files".into()));
    }
    let filter = filter(&a, &model)?;
    let world = World::build(&model, seed);
    wire::check_addressable(&world, filter.users).map_err(usage)?;
    let mut outputs: Vec<(Output, Option<File>)> = vec![];
    for p in [&a.pcap, &a.jsonl].into_iter().flatten() {
        match Output::create(p) {
            Ok((o, f)) => outputs.push((o, Some(f))),
            Err(e) => {
                outputs.iter().for_each(|(o, _)| o.abandon());
                return Err(e);
            }
        }
    }
    if let Some(p) = &a.ladder {
        match Output::create(p) {
            // The drawing backend writes the file itself.
            Ok((o, _)) => outputs.push((o, None)),
            Err(e) => {
                outputs.iter().for_each(|(o, _)| o.abandon());
                return Err(e);
            }
        }
    }
    let abandon = |outputs: &[(Output, Option<File>)]| outputs.iter().for_each(|(o, _)| o.abandon());
    let params =
        json!({ "set": a.sets, "trace": { "users": filter.users, "from_us": filter.from, "to_us": filter.to } });
    let trace = match run_model(&model, seed, params, RunOptions { trace: Some(filter.clone()), ..Default::default() })
    {
        Ok((_, out)) => out.trace.expect("asked for"),
        Err(e) => {
            abandon(&outputs);
            return Err(Failure { line: format!("{}: run failed: {e}", model.name), code: 1 });
        }
    };
    let res = write_all(&a, &mut outputs, &trace, &world, &model, seed, &filter);
    match res {
        Ok(lines) => {
            for (o, _) in &outputs {
                if let Err(e) = o.commit() {
                    abandon(&outputs);
                    return Err(e);
                }
            }
            if !a.quiet {
                let mut out = std::io::stdout().lock();
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
            }
            Ok(())
        }
        Err(e) => {
            abandon(&outputs);
            Err(e)
        }
    }
}

fn filter(a: &TraceArgs, model: &Model) -> Result<TraceFilter, Failure> {
    let horizon = model.horizon.0;
    if a.users == Some(0) {
        return Err(usage("--users: must be at least 1".into()));
    }
    let from = a.from.unwrap_or(0);
    if from >= horizon {
        return Err(usage(format!(
            "--from {}: must be before the horizon ({})",
            format_duration(ddsim::units::Duration(from)),
            format_duration(model.horizon)
        )));
    }
    if let Some(to) = a.to
        && to <= from
    {
        return Err(usage(format!(
            "--to {}: must be after --from ({})",
            format_duration(ddsim::units::Duration(to)),
            format_duration(ddsim::units::Duration(from))
        )));
    }
    let windowed = a.from.is_some() || a.to.is_some();
    let users = match a.users {
        Some(k) => Some(k),
        None if windowed => None,
        None => Some(1),
    };
    Ok(TraceFilter { users, from, to: a.to })
}

fn describe(model: &Model, seed: u64, f: &TraceFilter) -> String {
    let who = match f.users {
        Some(1) => "user 0".to_string(),
        Some(k) => format!("users 0 to {}", k - 1),
        None => "every user".to_string(),
    };
    let to = f.to.unwrap_or(model.horizon.0).min(model.horizon.0);
    format!("{} (seed {seed}), {who}, {} to {}", model.name, ladder::clock(f.from), ladder::clock(to))
}

fn write_all(
    a: &TraceArgs,
    outputs: &mut [(Output, Option<File>)],
    trace: &Trace,
    world: &World,
    model: &Model,
    seed: u64,
    filter: &TraceFilter,
) -> Result<Vec<String>, Failure> {
    let what = describe(model, seed, filter);
    let sent = trace.records.iter().filter(|r| r.kind == TraceKind::Sent).count();
    let mut lines = vec![format!(
        "ddsim trace: {what}: {} records ({sent} transmissions), {} timers",
        trace.records.len(),
        trace.timers.len()
    )];
    let fail = |p: &Path, e: String| usage(format!("{}: cannot write: {e}", p.display()));
    for (o, f) in outputs.iter_mut() {
        if Some(&o.path) == a.pcap.as_ref() {
            let file = BufWriter::new(f.take().expect("opened"));
            let s = pcap::write_pcap(trace, world, file).map_err(|e| fail(&o.path, e))?;
            lines.push(format!(
                "  pcap   {}: {} frames ({} SIP, {} MSRP, {} TCP handshakes, {} pure ACKs)",
                o.path.display(),
                s.frames,
                s.sip,
                s.msrp,
                s.tcp_handshakes,
                s.tcp_acks
            ));
        } else if Some(&o.path) == a.jsonl.as_ref() {
            let file = BufWriter::new(f.take().expect("opened"));
            let n = jsonl::write_jsonl(trace, world, file).map_err(|e| fail(&o.path, e.to_string()))?;
            lines.push(format!("  jsonl  {}: {n} lines", o.path.display()));
        } else {
            let s = ladder::write_ladder(&o.partial, trace, world, &format!("ddsim trace: {what}"))
                .map_err(|e| fail(&o.path, e))?;
            let more = if s.omitted > 0 { format!("; {} more events not drawn", s.omitted) } else { String::new() };
            lines.push(format!(
                "  ladder {}: {} columns, {} arrows, {} notes, {}x{} px{more}",
                o.path.display(),
                s.columns,
                s.arrows,
                s.notes,
                s.width,
                s.height
            ));
        }
    }
    Ok(lines)
}
