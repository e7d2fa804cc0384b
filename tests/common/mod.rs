//! Helpers shared by the integration tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every path under `root` (relative to it), directories included: what a command left behind.
#[allow(dead_code)] // not every test crate that includes this module takes snapshots
pub fn snapshot(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if p.is_dir() && !p.is_symlink() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// A metric of a results document, as a number.
#[allow(dead_code)] // not every test crate that includes this module reads metrics
pub fn metric(doc: &serde_json::Value, k: &str) -> f64 {
    doc["metrics"][k].as_f64().unwrap_or_else(|| panic!("no metric {k}"))
}

/// Conservation, recomputed from the published metrics (the run also checks it internally).
#[allow(dead_code)]
pub fn assert_conserved(doc: &serde_json::Value) {
    for p in ["deferred", "notifications"] {
        let g = |f: &str| metric(doc, &format!("{p}.{f}"));
        let inflow = g("pending_at_warmup") + g("offered") + g("queued_behind");
        let outflow = g("delivered")
            + g("discarded_decline")
            + g("discarded_bye")
            + g("dropped_overflow")
            + g("expired")
            + g("pending_at_end");
        assert_eq!(inflow, outflow, "{p}: conservation");
    }
}

/// The installed program `program` on the `PATH`, if any.
#[allow(dead_code)] // only the tests that use system tools (grep, tshark, Slurm) ask
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(program)).find(|p| p.is_file())
}

/// The sweep the sweep and shard tests run: two retry policies x two store sizes on
/// models/tiny.json stretched to `horizon`, with `replications` each.
#[allow(dead_code)]
pub fn small_experiment(horizon: &str, replications: u32) -> serde_json::Value {
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny.json");
    serde_json::json!({
        "name": "small",
        "model": tiny.display().to_string(),
        "set": {"horizon": horizon},
        "vary": {
            "policy.retry": [{"kind": "none"}, {"kind": "fixed", "interval": "30s", "max_attempts": 8}],
            "policy.store.per_session": [5, 50]
        },
        "replications": replications,
        "seed": 11,
        "baseline": {"policy.retry": {"kind": "none"}, "policy.store.per_session": 50}
    })
}

/// Writes `exp` as `dir/exp.json` and returns its path.
#[allow(dead_code)]
pub fn write_experiment(dir: &Path, exp: &serde_json::Value) -> PathBuf {
    let p = dir.join("exp.json");
    std::fs::write(&p, serde_json::to_string_pretty(exp).unwrap()).unwrap();
    p
}
