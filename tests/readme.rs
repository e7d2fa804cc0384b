//! README's commands are tests: every `console` block of README.md runs, as written, in a
//! directory laid out like the repository (its `models/` and `experiments/`), and its output
//! must match what README shows (`[..]` and `...` stand for what varies: wall times, progress).
//! `ddsim` is the binary under test; `grep` and `tshark` are the system's (tshark may be
//! missing outside CI, where those steps are skipped, saying so). The `sh` blocks (the first
//! build, the notebook) run in `.ci/run`; `every_sh_command_runs_in_ci` keeps the two in step.

mod common;
use common::which;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn readme_console_blocks_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // trycmd runs README.md's commands in README.in/ beside it: a fresh copy of the
    // repository's inputs, so that the output directories start empty.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root.join("README.md"), dir.path().join("README.md")).unwrap();
    for sub in ["models", "experiments"] {
        copy_dir(&root.join(sub), &dir.path().join("README.in").join(sub));
    }
    let cases = trycmd::TestCases::new();
    cases.register_bin("ddsim", Path::new(env!("CARGO_BIN_EXE_ddsim")));
    cases.register_bin("grep", which("grep").expect("grep is installed"));
    match which("tshark") {
        Some(t) => {
            cases.register_bin("tshark", t);
        }
        None => {
            assert!(std::env::var_os("CI").is_none(), "tshark is missing in CI: .ci/run should have installed it");
            eprintln!("SKIPPED: README's tshark step, tshark is not installed (apt-get install tshark)");
            cases.register_bin("tshark", trycmd::schema::Bin::Ignore);
        }
    }
    cases.case(dir.path().join("README.md"));
    cases.run();
    // Then, in the same directory (so that what README ran is found done), the examples of
    // every `--help`.
    help_examples_run_as_written(&dir.path().join("README.in"));
}

/// The example lines of `ddsim --help` and of each subcommand's `--help` (a command, then
/// optionally two spaces and a comment), each run by `sh` as a user would type it.
fn help_examples_run_as_written(cwd: &Path) {
    let bin = Path::new(env!("CARGO_BIN_EXE_ddsim"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut ran = 0;
    for sub in ["", "run", "warmup", "sweep", "slurm", "plan", "plot", "trace", "check"] {
        let args: Vec<&str> = [sub, "--help"].into_iter().filter(|a| !a.is_empty()).collect();
        let help = std::process::Command::new(bin).args(&args).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let examples = help
            .lines()
            .skip_while(|l| !l.starts_with("Example"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.trim().split("  ").next().unwrap().to_string());
        for example in examples {
            assert!(example.starts_with("ddsim "), "ddsim {sub} --help: example {example:?}");
            let out = std::process::Command::new("sh")
                .args(["-c", &example])
                .current_dir(cwd)
                .env("PATH", &path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ddsim {sub} --help: `{example}` failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 14, "the examples of --help: only {ran} found");
}

/// The commands of README's `sh` blocks, which the test above cannot run (a first build, the
/// Python notebook), each appear in `.ci/run` exactly as written.
#[test]
fn every_sh_command_runs_in_ci() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    for doc in ["README.md", "notebooks/README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut in_sh = false;
        for line in text.lines() {
            match line.trim_end() {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                l if in_sh && !l.trim().is_empty() => {
                    let command = l.split(" #").next().unwrap().trim_end();
                    assert!(
                        ci.lines().any(|c| c.trim() == command),
                        "{doc}: `{command}` is not run by .ci/run exactly as written"
                    );
                }
                _ => {}
            }
        }
    }
}
