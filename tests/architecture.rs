//! The architecture as a test: the top-level modules of `src/` form layers that point one way,
//! and `lib.rs` lists them bottom-up in an order that is true. A module depends on another when
//! its code (outside unit-test modules and comments) names `crate::<other>`; every such
//! dependency must be on a module listed earlier in `lib.rs`, which also rules out cycles. No
//! source file may grow past 800 lines (a file that big is several rooms in one).
//!
//! `cargo test --test architecture` prints the layers it found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules `lib.rs` declares, in its order.
fn lib_order() -> Vec<String> {
    std::fs::read_to_string(src().join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ")?.strip_suffix(';').map(str::to_string))
        .collect()
}

/// Top-level module → the top-level modules its code names.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = vec![];
    rust_files(&root, &mut files);
    let top = |p: &Path| {
        let rel = p.strip_prefix(&root).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        first.strip_suffix(".rs").map(str::to_string).unwrap_or(first)
    };
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = top(f);
        if m == "lib" || m == "main" || m == "cli" {
            continue; // the crate root, and the binary's command line on top of everything
        }
        let entry = deps.entry(m.clone()).or_default();
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let l = line.trim();
            if l.starts_with("#[cfg(test)]") {
                break; // unit tests may reach anywhere
            }
            if l.starts_with("//") {
                continue;
            }
            for (i, _) in l.match_indices("crate::") {
                let name: String = l[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if name != m && !name.is_empty() {
                    entry.insert(name);
                }
            }
        }
    }
    deps
}

#[test]
fn layers_point_one_way_in_the_order_lib_rs_lists_them() {
    let order = lib_order();
    let deps = dependencies();
    let modules: BTreeSet<&String> = deps.keys().collect();
    let listed: BTreeSet<&String> = order.iter().collect();
    assert_eq!(modules, listed, "lib.rs must declare every top-level module of src/ once");
    let rank = |m: &str| order.iter().position(|x| x == m).unwrap();
    let mut upward = vec![];
    for (m, ds) in &deps {
        for d in ds {
            assert!(listed.contains(d), "{m} names crate::{d}, which is not a module of lib.rs");
            if rank(d) >= rank(m) {
                upward.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(upward.is_empty(), "dependencies on modules listed later in lib.rs (or cycles): {upward:?}");
    for m in &order {
        let below: Vec<&str> = deps[m].iter().map(String::as_str).collect();
        println!("{m:<12} uses {}", if below.is_empty() { "nothing".into() } else { below.join(", ") });
    }
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    let big: Vec<String> = files
        .iter()
        .map(|f| (std::fs::read_to_string(f).unwrap().lines().count(), f))
        .filter(|(n, _)| *n > MAX_LINES)
        .map(|(n, f)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(big.is_empty(), "split these: {big:?}");
}
