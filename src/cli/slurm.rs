//! `ddsim slurm`: an experiment as a Slurm job array of shards (`ddsim sweep --shard`) and a
//! collect job that runs once the whole array has succeeded (`ddsim sweep --collect`).
//! The scripts go to `DIR/slurm/` beside the runs, with the tasks' logs in `DIR/slurm/logs/`.

use super::{Failure, usage};
use clap::Args;
use ddsim::experiment::Experiment;
use ddsim::experiment::exec::{check_output, prepare_output};
use ddsim::experiment::shard::shardable;
use ddsim::output::{OutDir, write_atomic, write_json};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Args)]
pub struct SlurmArgs {
    /// Experiment file (JSON), with a fixed number of replications.
    pub experiment: PathBuf,
    /// Array tasks (shards); default: one per run, at most 100.
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Partition of the jobs (default: the cluster's default partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each task, as sbatch takes it (`30`, `2:00:00`, `1-12`).
    #[arg(long)]
    pub time: Option<String>,
    /// Memory of each task, as sbatch takes it (`2G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// CPUs of each task: the runs a task does at once (its --threads).
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// Submit the scripts with sbatch (otherwise print the command that does).
    #[arg(long)]
    pub submit: bool,
    /// Output directory of the sweep (default: output/<experiment name>/); shared by the tasks.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print nothing but errors and the job ids.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The script `name` (`sweep` or `collect`) of the sweep in `out`.
pub fn script(out: &Path, name: &str) -> PathBuf {
    out.join("slurm").join(format!("{name}.sbatch"))
}

/// The number of array tasks `ddsim slurm` split the sweep in `out` into, if it did.
pub fn tasks_of(out: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(out.join("slurm").join("job.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["tasks"].as_u64().map(|n| n as usize)
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map(|c| c.into_owned()).unwrap_or_else(|_| s.to_string())
}

pub fn cmd_slurm(a: SlurmArgs) -> Result<(), Failure> {
    let exp = Experiment::load(&a.experiment)?;
    shardable(&exp).map_err(usage)?;
    let runs = exp.runs();
    let tasks = a.tasks.unwrap_or(runs.min(100));
    if tasks == 0 || tasks > runs {
        return Err(usage(format!("--tasks: {tasks}; give 1 to {runs} (the experiment's runs)")));
    }
    if a.cpus_per_task == 0 {
        return Err(usage("--cpus-per-task: must be at least 1".into()));
    }
    // Values go into `#SBATCH` lines, which end at the first blank.
    for (flag, v) in [("--partition", &a.partition), ("--time", &a.time), ("--mem", &a.mem)] {
        if let Some(v) = v
            && (v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(usage(format!("{flag}: \"{}\" must be one word", super::one_line(v))));
        }
    }
    let out = a.out.clone().unwrap_or_else(|| Path::new("output").join(&exp.spec.name));
    let cwd = std::env::current_dir().map_err(|e| usage(format!("the current directory: {e}")))?;
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| usage(format!("cannot find the ddsim binary's path: {e}")))?;
    let logs = cwd.join(&out).join("slurm").join("logs");
    if logs.display().to_string().chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(usage(format!(
            "{}: the log directory's path has a blank, which an #SBATCH line cannot hold; give another --out",
            logs.display()
        )));
    }
    check_output(&exp, &out).map_err(|e| usage(e.to_string()))?;

    let dir = OutDir::prepare(&out).map_err(|e| usage(format!("{}: {e}", out.display())))?;
    prepare_output(&exp, &dir.path, false).map_err(|e| usage(e.to_string()))?;
    std::fs::create_dir_all(&logs).map_err(|e| usage(format!("{}: {e}", logs.display())))?;

    let name: String =
        exp.spec.name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let mut common = vec![format!("#SBATCH --chdir={}", cwd.display())];
    for (flag, v) in [("partition", &a.partition), ("time", &a.time), ("mem", &a.mem)] {
        if let Some(v) = v {
            common.push(format!("#SBATCH --{flag}={v}"));
        }
    }
    let sweep = |extra: &str| {
        format!(
            "{} sweep {} --out {}{extra}",
            quote(&exe.display().to_string()),
            quote(&a.experiment.display().to_string()),
            quote(&out.display().to_string())
        )
    };
    let head = format!(
        "#!/bin/bash\n# Written by `ddsim slurm` for the experiment {name} ({runs} runs). Run k of its canonical order\n\
         # (point by point, each point's replications in order) is shard k mod {tasks}.\n"
    );
    let array = format!(
        "{head}#SBATCH --job-name=ddsim-{name}\n#SBATCH --array=0-{last}\n#SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={logs}/%A_%a.out\n{common}\nset -eu\ncd {cwd}\n\
         exec {cmd}\n",
        last = tasks - 1,
        cpus = a.cpus_per_task,
        logs = logs.display(),
        common = common.join("\n"),
        cwd = quote(&cwd.display().to_string()),
        cmd = sweep(&format!(" --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"")),
    );
    let collect = format!(
        "{head}# The summary, charts and report once every shard has succeeded.\n#SBATCH --job-name=ddsim-{name}-collect\n\
         #SBATCH --cpus-per-task=1\n#SBATCH --output={logs}/%j_collect.out\n#SBATCH --kill-on-invalid-dep=yes\n\
         {common}\nset -eu\ncd {cwd}\nexec {cmd}\n",
        logs = logs.display(),
        common = common.join("\n"),
        cwd = quote(&cwd.display().to_string()),
        cmd = sweep(" --collect"),
    );
    let (sweep_sh, collect_sh) = (script(&out, "sweep"), script(&out, "collect"));
    for (path, text) in [(&sweep_sh, &array), (&collect_sh, &collect)] {
        write_atomic(path, text.as_bytes()).map_err(|e| usage(format!("{}: cannot write: {e}", path.display())))?;
    }
    let job = json!({"experiment": a.experiment.display().to_string(), "out": out.display().to_string(),
                     "tasks": tasks, "cpus_per_task": a.cpus_per_task});
    let job_path = out.join("slurm").join("job.json");
    write_json(&job_path, &job).map_err(|e| usage(format!("{}: cannot write: {e}", job_path.display())))?;

    if !a.quiet {
        println!(
            "ddsim slurm: {}: {runs} runs in {tasks} array tasks of {} CPU(s) each (run k in task k mod {tasks})",
            exp.spec.name, a.cpus_per_task
        );
        println!("  scripts: {} and {}", sweep_sh.display(), collect_sh.display());
    }
    if !a.submit {
        if !a.quiet {
            println!(
                "  submit:  jid=$(sbatch --parsable {}) && sbatch --dependency=afterok:$jid {}",
                quote(&sweep_sh.display().to_string()),
                quote(&collect_sh.display().to_string())
            );
        }
        return Ok(());
    }
    let array_id = sbatch(&[], &sweep_sh)?;
    let collect_id = sbatch(&[format!("--dependency=afterok:{array_id}")], &collect_sh)?;
    println!("  submitted: array job {array_id} (tasks 0-{}), collect job {collect_id} after it", tasks - 1);
    if !a.quiet {
        println!("  logs:    {}/", logs.display());
        println!("  results: {} (summary.csv once the collect job has run)", out.display());
    }
    Ok(())
}

/// Submits `script` with `sbatch --parsable` and returns the job id.
fn sbatch(args: &[String], script: &Path) -> Result<String, Failure> {
    let out = Command::new("sbatch").arg("--parsable").args(args).arg(script).output().map_err(|e| {
        usage(format!(
            "cannot run sbatch ({e}); is this a Slurm login node? Without --submit the scripts are written only"
        ))
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `id` or `id;cluster`.
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if !out.status.success() || id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Failure {
            line: format!("sbatch {}: {}", script.display(), err.lines().next().unwrap_or("failed").trim()),
            code: 1,
        });
    }
    Ok(id)
}
