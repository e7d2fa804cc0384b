//! The `ddsim` command line. Every user error is one line on stderr and exit code 2; a run
//! that breaks an invariant (conservation) exits 1 without writing results.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use cli::one_line;

#[global_allocator]
static ALLOC: cli::memory::HugePageAlloc = cli::memory::HugePageAlloc;

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
        after_help = "Examples:\n  ddsim run\n  ddsim run models/tiny.json --seed 7 --out output/tiny-7\n  ddsim run models/storm.json --set policy.store.per_session=50 --set horizon=4h"
    )]
    Run(cli::run::RunArgs),
    /// A pilot run: where each main time series settles (MSER-5), against the configured warm-up.
    #[command(
        after_help = "Examples:\n  ddsim warmup models/tiny.json --out output/tiny-warmup\n  ddsim warmup models/storm.json --set horizon=12h\n\nWrites DIR/warmup.json, DIR/warmup.svg and DIR/warmup.png (default DIR: output/<model name>/)."
    )]
    Warmup(cli::warmup::WarmupArgs),
    /// Run every point and replication of an experiment, in parallel; summarise with CIs.
    #[command(
        after_help = "Examples:\n  ddsim sweep experiments/quickstart.json\n  ddsim sweep experiments/quickstart.json --threads 2   again: every run is found done\n  ddsim sweep experiments/quickstart.json --shard 1/4   shard 1 of 4: runs 1, 5, 9, ... of 20\n  ddsim sweep experiments/quickstart.json --collect     the summary, once every shard is done\n\nRe-running the same command resumes: runs already done are skipped. Run k of the canonical order\n(point by point, each point's replications in order) is shard k mod N's; --shard slurm takes I and N\nfrom SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, --shard k8s:N takes I from JOB_COMPLETION_INDEX."
    )]
    Sweep(cli::sweep::SweepArgs),
    /// A Slurm job array of the sweep's shards, and a collect job after it; --submit submits them.
    #[command(
        after_help = "Examples:\n  ddsim slurm experiments/quickstart.json --tasks 4\n  ddsim slurm experiments/quickstart.json --tasks 4 --cpus-per-task 2 --time 30 --mem 2G --out output/quickstart-cluster\n\nWrites DIR/slurm/sweep.sbatch (the array: task I runs ddsim sweep --shard I/N, run k of the\nexperiment being task k mod N's) and DIR/slurm/collect.sbatch (ddsim sweep --collect, after the\nwhole array succeeded). With --submit, submits both and prints the job ids. See README, \"On a cluster\"."
    )]
    Slurm(cli::slurm::SlurmArgs),
    /// The least capacity that meets service targets: search one or two variables with sequential replications.
    #[command(
        after_help = "Examples:\n  ddsim plan experiments/store-plan.json\n  ddsim plan experiments/store-plan.json --threads 2 --out output/store-plan\n\nExit codes: 0 with an answer, 3 when no value within the bounds meets the targets, 2 bad input,\n1 a failed run, 130 interrupted. Re-running the same command re-uses every run already done."
    )]
    Plan(cli::plan::PlanArgs),
    /// Draw the charts of a sweep or run directory (SVG and PNG) into DIR/charts/.
    #[command(after_help = "Examples:\n  ddsim plot output/quickstart\n  ddsim plot output/baseline")]
    Plot(cli::plot::PlotArgs),
    /// Record the messages of the first K users (or a time window) as pcap, JSON lines, ladder.
    #[command(
        after_help = "Examples:\n  ddsim trace models/tiny.json --users 3 --pcap tiny.pcap --jsonl tiny.jsonl\n  ddsim trace models/tiny.json --users 1 --from 1h --to 1h30m --ladder story.svg\n\nThe capture opens in Wireshark: SIP on UDP 5060, MSRP on TCP 2855, virtual time from 1970-01-01."
    )]
    Trace(cli::trace::TraceArgs),
    /// Validate model, experiment and plan files without running them.
    #[command(after_help = "Example:\n  ddsim check models/*.json experiments/*.json")]
    Check {
        /// Model or experiment files to validate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    cli::memory::configure();
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
        Cmd::Run(a) => cli::run::cmd_run(a),
        Cmd::Warmup(a) => cli::warmup::cmd_warmup(a),
        Cmd::Sweep(a) => cli::sweep::cmd_sweep(a),
        Cmd::Slurm(a) => cli::slurm::cmd_slurm(a),
        Cmd::Plan(a) => cli::plan::cmd_plan(a),
        Cmd::Plot(a) => cli::plot::cmd_plot(a),
        Cmd::Trace(a) => cli::trace::cmd_trace(a),
        Cmd::Check { files } => cli::check::cmd_check(&files),
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
