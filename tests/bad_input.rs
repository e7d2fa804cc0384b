//! Bad input, end to end: malformed or inconsistent models, `--set` overrides and command lines
//! given to the real `ddsim` binary. The project rule: one clear line on stderr naming the file
//! and the field path, exit code 2, no panic, and nothing half-written.
//!
//! Every case runs in a fresh temporary working directory holding only the files it writes, and
//! each model has exactly one thing wrong: it is `models/tiny.json` (or `{}`, the all-defaults
//! model) with one edit.

mod common;
use common::snapshot;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TINY: &str = include_str!("../models/tiny.json");

/// Runs `ddsim args...` in a fresh temporary directory holding `files` (a name ending in `/` is
/// an empty directory). Returns the directory's contents before, the directory and the output.
fn ddsim(args: &[&str], files: &[(&str, &str)]) -> (tempfile::TempDir, BTreeSet<PathBuf>, Output) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        if name.ends_with('/') {
            std::fs::create_dir_all(&p).unwrap();
        } else {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
    }
    let before = snapshot(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(dir.path()).output().unwrap();
    (dir, before, out)
}

/// Runs `ddsim args...` and asserts what every rejection must do: exit code 2, exactly one
/// non-empty `error: ` line on stderr, no panic, and, for `run`, no results and no output
/// directory left behind (nothing in the working directory changes at all). Returns the line.
fn fails(args: &[&str], files: &[(&str, &str)]) -> String {
    let (dir, before, out) = ddsim(args, files);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "ddsim {args:?} panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "ddsim {args:?}: exit code; stderr:\n{stderr}");
    let line = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(!line.contains('\n'), "ddsim {args:?}: stderr must be one line, got:\n{stderr}");
    assert!(line.starts_with("error: ") && line.len() > "error: ".len(), "ddsim {args:?}: stderr {stderr:?}");
    let after = snapshot(dir.path());
    assert!(!after.iter().any(|p| p.ends_with("results.json")), "ddsim {args:?} wrote results: {after:?}");
    if args.first() == Some(&"run") {
        // The directory the run would have written to: --out DIR, or output/<model name>.
        let out_dir = args.iter().position(|a| *a == "--out").map(|i| args[i + 1]).unwrap_or("output");
        assert!(
            before.contains(Path::new(out_dir)) || !dir.path().join(out_dir).exists(),
            "ddsim {args:?} left {out_dir} behind"
        );
    }
    assert_eq!(before, after, "ddsim {args:?} changed the working directory");
    line.to_string()
}

/// A model file `bad.json` with `text`, rejected alike by `ddsim check` and `ddsim run`.
/// Asserts the line names the file and `path`, and returns it.
fn bad_model(text: &str, path: &str) -> String {
    let files = [("bad.json", text)];
    let line = fails(&["check", "bad.json"], &files);
    assert_eq!(fails(&["run", "bad.json", "-q"], &files), line, "check and run must report alike");
    let want = format!("error: bad.json: {path}: ");
    assert!(line.starts_with(&want), "expected {want:?}..., got {line:?}");
    line
}

fn tiny() -> Value {
    serde_json::from_str(TINY).unwrap()
}

/// `v` with the value at JSON pointer `ptr` replaced or added (a last segment `-` appends to
/// an array), as text.
fn with(mut v: Value, ptr: &str, value: Value) -> String {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    match v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in the model")) {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) if key == "-" => a.push(value),
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        other => panic!("{parent} is {other}"),
    }
    v.to_string()
}

/// `models/tiny.json` with one value replaced or added.
fn tiny_with(ptr: &str, value: Value) -> String {
    with(tiny(), ptr, value)
}

// ---------------------------------------------------------------------------------------------
// The harness can pass

#[test]
fn check_of_a_valid_model_passes() {
    let (_dir, _, out) = ddsim(&["check", "tiny.json"], &[("tiny.json", TINY)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: tiny.json"));
}

// ---------------------------------------------------------------------------------------------
// Syntax: JSON and the schema

#[test]
fn truncated_json_is_rejected_with_its_position() {
    let cut = &TINY[..TINY.find("\"groups\"").unwrap()];
    let line = bad_model(cut, "(json)");
    assert!(line.contains("not valid JSON at line"), "{line}");
}

#[test]
fn empty_file_is_not_valid_json() {
    let line = bad_model("", "(json)");
    assert!(line.contains("EOF"), "{line}");
}

#[test]
fn array_instead_of_a_model_object_is_rejected() {
    // serde would read a struct from an array by position; `[]` used to be a valid model.
    let line = bad_model("[]", "(root)");
    assert!(line.contains("expected an object"), "{line}");
}

#[test]
fn array_instead_of_a_nested_object_is_rejected() {
    // `"store": [5]` used to set per_session to 5 silently.
    let line = bad_model(&tiny_with("/policy/store", json!([5])), "policy.store");
    assert!(line.contains("expected an object"), "{line}");
}

#[test]
fn unknown_top_level_field_is_named() {
    let line = bad_model(&tiny_with("/colour", json!("blue")), "colour");
    assert!(line.contains("unknown field `colour`"), "{line}");
}

#[test]
fn unknown_field_in_policy_store_is_named() {
    let line = bad_model(&tiny_with("/policy/store/per_sesion", json!(5)), "policy.store.per_sesion");
    assert!(line.contains("unknown field `per_sesion`") && line.contains("`per_session`"), "{line}");
}

#[test]
fn duration_with_an_unknown_unit_is_rejected() {
    let line = bad_model(&tiny_with("/horizon", json!("2x")), "horizon");
    assert!(line.contains("expected a duration") && line.contains("\"2x\""), "{line}");
}

#[test]
fn negative_duration_is_rejected() {
    let line = bad_model(&tiny_with("/sip/t1", json!("-5s")), "sip.t1");
    assert!(line.contains("cannot be negative"), "{line}");
}

#[test]
fn msrp_timeout_over_an_hour_is_rejected() {
    // A 200 carries its receive time in 32 bits of microseconds (71 minutes).
    let line = bad_model(&tiny_with("/sip/msrp_timeout", json!("2h")), "sip.msrp_timeout");
    assert!(line.contains("must be at most 1h"), "{line}");
}

#[test]
fn more_users_than_a_packet_can_address_are_rejected() {
    let v = tiny();
    let last = v["population"].as_array().unwrap().len() - 1;
    let ptr = format!("/population/{last}/users");
    let line = bad_model(&with(v, &ptr, json!(1u64 << 30)), &format!("population[{last}].users"));
    assert!(line.contains("more than the 1073741824 a run can have"), "{line}");
}

#[test]
fn duration_given_as_a_bare_number_is_rejected() {
    let line =
        bad_model(&tiny_with("/population/0/registration_expiry", json!(600)), "population[0].registration_expiry");
    assert!(line.contains("invalid type: integer `600`") && line.contains("duration"), "{line}");
}

#[test]
fn unknown_distribution_name_is_rejected() {
    let line = bad_model(
        &tiny_with("/population/0/online", json!({"dist": "gamma", "mean": "20m"})),
        "population[0].online.dist",
    );
    assert!(line.contains("unknown variant `gamma`"), "{line}");
}

#[test]
fn unknown_retry_kind_is_rejected() {
    let line = bad_model(&tiny_with("/policy/retry/kind", json!("linear")), "policy.retry.kind");
    assert!(line.contains("unknown variant `linear`"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Meaning: ranges, probabilities, references, topology

#[test]
fn uniform_with_max_below_min_is_rejected() {
    let delay = json!({"dist": "uniform", "min": "3s", "max": "200ms"});
    let line = bad_model(&tiny_with("/population/0/answer/delay", delay), "population[0].answer.delay");
    assert!(line.contains("`max` must not be less than `min`"), "{line}");
}

#[test]
fn answer_probabilities_not_summing_to_one_are_rejected() {
    let line = bad_model(&tiny_with("/population/0/answer/accept", json!(0.8)), "population[0].answer");
    assert!(line.contains("must sum to 1"), "{line}");
}

#[test]
fn probability_above_one_is_rejected() {
    let line =
        bad_model(&tiny_with("/population/0/ungraceful_offline", json!(1.5)), "population[0].ungraceful_offline");
    assert!(line.contains("probability") && line.contains("1.5"), "{line}");
}

#[test]
fn link_to_an_unknown_node_is_rejected() {
    let line = bad_model(&tiny_with("/topology/links/0/to", json!("nowhere")), "topology.links[0].to");
    assert_eq!(line, r#"error: bad.json: topology.links[0].to: unknown node "nowhere""#);
}

#[test]
fn self_loop_link_is_rejected() {
    let line = bad_model(&tiny_with("/topology/links/-", json!({"from": "cf1", "to": "cf1"})), "topology.links[3].to");
    assert!(line.contains("two different nodes"), "{line}");
}

#[test]
fn duplicate_node_ids_are_rejected() {
    let line = bad_model(
        &tiny_with("/topology/nodes/-", json!({"id": "pf1", "kind": "participating"})),
        "topology.nodes[4].id",
    );
    assert!(line.contains(r#"duplicate node id "pf1""#), "{line}");
}

#[test]
fn pool_count_out_of_range_is_rejected() {
    let line = bad_model(&tiny_with("/topology/nodes/2/count", json!(0)), "topology.nodes[2].count");
    assert_eq!(line, "error: bad.json: topology.nodes[2].count: must be between 1 and 10000, got 0");
    let line = bad_model(&tiny_with("/topology/nodes/2/count", json!(10001)), "topology.nodes[2].count");
    assert!(line.ends_with("must be between 1 and 10000, got 10001"), "{line}");
    bad_model(&tiny_with("/topology/nodes/2/count", json!(-3)), "topology.nodes[2].count");
    bad_model(&tiny_with("/topology/nodes/2/count", json!("3")), "topology.nodes[2].count");
    let line = fails(&["run", "tiny.json", "--set", "topology.nodes[2].count=20000", "-q"], &[("tiny.json", TINY)]);
    assert_eq!(line, "error: tiny.json: --set topology.nodes[2].count: must be between 1 and 10000, got 20000");
}

#[test]
fn access_node_as_a_pool_is_rejected() {
    let line = bad_model(&tiny_with("/topology/nodes/0/count", json!(2)), "topology.nodes[0].count");
    assert!(line.contains("an access node cannot be a pool"), "{line}");
}

#[test]
fn pool_member_with_the_id_of_another_node_is_rejected() {
    let mut m = tiny();
    m["topology"]["nodes"][2]["count"] = json!(3);
    m["topology"]["nodes"][3]["id"] = json!("pf1.3");
    m["topology"]["links"][2]["to"] = json!("pf1.3");
    let line = bad_model(&m.to_string(), "topology.nodes[2].count");
    assert!(
        line.ends_with(r#"member "pf1.3" of this pool would have the id of topology.nodes[3]: rename one of them"#)
    );
}

#[test]
fn users_that_cannot_reach_the_participating_node_are_rejected() {
    let mut m = tiny();
    m["topology"]["links"].as_array_mut().unwrap().retain(|l| l["to"] != "pf1");
    let line = bad_model(&m.to_string(), "population[0]");
    assert!(line.contains(r#"cannot reach "pf1""#), "{line}");
}

#[test]
fn topology_without_a_registrar_is_rejected() {
    let m = json!({"topology": {
        "nodes": [{"id": "ran", "kind": "access"}, {"id": "pf1", "kind": "participating"},
                  {"id": "cf1", "kind": "controlling"}],
        "links": [{"from": "ran", "to": "pf1"}, {"from": "pf1", "to": "cf1"}]
    }});
    let line = bad_model(&m.to_string(), "topology.nodes");
    assert!(line.contains(r#"kind "registrar""#), "{line}");
}

#[test]
fn warmup_longer_than_horizon_is_rejected() {
    let line = bad_model(&tiny_with("/warmup", json!("7h")), "warmup");
    assert!(line.contains("shorter than horizon (6h)"), "{line}");
}

#[test]
fn zero_horizon_is_rejected() {
    let line = bad_model(&json!({"horizon": "0s", "warmup": "0s"}).to_string(), "horizon");
    assert!(line.contains("longer than 0s"), "{line}");
}

#[test]
fn group_members_of_an_unknown_class_are_rejected() {
    let line = bad_model(&tiny_with("/groups/members/1/class", json!("laptop")), "groups.members[1].class");
    assert!(line.contains(r#"unknown user class "laptop""#), "{line}");
}

#[test]
fn group_draws_larger_than_their_class_are_rejected_naming_both_fields() {
    // tiny draws 3 to 6 mobile members per group: a class of 5 (or none) cannot supply them.
    for users in [0, 5] {
        let line = bad_model(&tiny_with("/population/0/users", json!(users)), "groups.members[0].count");
        assert!(line.contains("up to 6 members") && line.contains(&format!("has {users} users")), "{line}");
        assert!(line.contains("population[0].users"), "names the class size too: {line}");
    }
    // Two entries drawing from one class add up: 6 + 5 mobile members of 10.
    let mut m = tiny();
    m["groups"]["members"][1] = json!({"class": "mobile", "count": {"dist": "uniform", "min": 0, "max": 5}});
    let line = bad_model(&m.to_string(), "groups.members[1].count");
    assert!(line.contains("groups.members[0].count and groups.members[1].count"), "{line}");
    // An unbounded draw could always ask for more.
    let line =
        bad_model(&tiny_with("/groups/members/0/count", json!({"dist": "exp", "mean": 3})), "groups.members[0].count");
    assert!(line.contains("must be bounded"), "{line}");
    // A --set that shrinks the class is reported the same way, naming both fields.
    let line = fails(&["run", "tiny.json", "--set", "population[0].users=2", "-q"], &[("tiny.json", TINY)]);
    assert!(line.contains("tiny.json: groups.members[0].count") && line.contains("population[0].users"), "{line}");
}

#[test]
fn exponential_retry_with_factor_below_one_is_rejected() {
    let line = bad_model(&tiny_with("/policy/retry/factor", json!(0.5)), "policy.retry.factor");
    assert!(line.contains("at least 1, got 0.5"), "{line}");
}

#[test]
fn zero_max_attempts_is_rejected() {
    let line = bad_model(&tiny_with("/policy/retry/max_attempts", json!(0)), "policy.retry.max_attempts");
    assert!(line.contains("at least 1"), "{line}");
}

#[test]
fn zero_store_per_session_is_rejected() {
    let line = bad_model(&tiny_with("/policy/store/per_session", json!(0)), "policy.store.per_session");
    assert!(line.contains("at least 1") && line.contains("null"), "{line}");
}

#[test]
fn outage_of_an_unknown_node_is_rejected() {
    let events = json!([{"kind": "outage", "node": "pf9", "at": "1h", "duration": "5m"}]);
    let line = bad_model(&tiny_with("/events", events), "events[0].node");
    assert!(line.contains(r#"unknown node "pf9""#), "{line}");
}

#[test]
fn outage_after_the_horizon_is_rejected() {
    let events = json!([{"kind": "outage", "node": "pf1", "at": "7h", "duration": "5m"}]);
    let line = bad_model(&tiny_with("/events", events), "events[0].at");
    assert!(line.contains("before the horizon (6h)"), "{line}");
}

#[test]
fn model_name_with_a_path_in_it_is_rejected() {
    // The run writes to output/<name>/: "../escape" would write outside output/.
    let line = bad_model(&tiny_with("/name", json!("../escape")), "name");
    assert!(line.contains("plain name"), "{line}");
}

#[test]
fn empty_model_name_is_rejected() {
    // An empty name would make the run write straight into output/.
    let line = bad_model(&tiny_with("/name", json!("")), "name");
    assert!(line.contains("plain name"), "{line}");
}

#[test]
fn newline_in_a_quoted_node_id_stays_on_one_line() {
    let line = bad_model(&tiny_with("/topology/links/0/to", json!("no\nwhere")), "topology.links[0].to");
    assert!(line.contains(r#"unknown node "no\nwhere""#), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Model files that cannot be read

#[test]
fn missing_model_file_is_named() {
    let line = fails(&["check", "nope.json"], &[]);
    assert_eq!(line, "error: nope.json: (file): cannot read: no such file");
    assert_eq!(fails(&["run", "nope.json"], &[]), line);
}

#[test]
fn directory_given_as_model_file_is_rejected() {
    let line = fails(&["run", "models.d"], &[("models.d/", "")]);
    assert!(line.starts_with("error: models.d: (file): cannot read: "), "{line}");
    assert_eq!(fails(&["check", "models.d"], &[("models.d/", "")]), line);
}

#[test]
fn check_reports_only_the_invalid_file_of_two() {
    let bad = tiny_with("/policy/store/per_session", json!(0));
    let files = [("good.json", TINY), ("bad.json", bad.as_str())];
    let line = fails(&["check", "good.json", "bad.json"], &files);
    assert!(line.starts_with("error: bad.json: policy.store.per_session: "), "{line}");
}

// ---------------------------------------------------------------------------------------------
// --set overrides

#[test]
fn set_of_an_unknown_path_suggests_the_closest() {
    let line = fails(&["run", "m.json", "--set", "policy.store.per_sesion=5"], &[("m.json", "{}")]);
    assert!(line.starts_with("error: m.json: --set policy.store.per_sesion: unknown path"), "{line}");
    assert!(line.contains("did you mean `policy.store.per_session`?"), "{line}");
}

#[test]
fn set_without_equals_sign_is_rejected() {
    let line = fails(&["run", "m.json", "--set", "horizon"], &[("m.json", "{}")]);
    assert_eq!(line, r#"error: --set expects path=value, got "horizon""#);
}

#[test]
fn set_without_a_path_is_rejected() {
    let line = fails(&["run", "m.json", "--set", ".=5"], &[("m.json", "{}")]);
    assert_eq!(line, r#"error: --set expects path=value, got ".=5""#);
}

#[test]
fn set_value_of_the_wrong_type_names_the_set() {
    let line = fails(&["run", "m.json", "--set", r#"policy.store.per_session="many""#], &[("m.json", "{}")]);
    assert!(line.starts_with("error: m.json: --set policy.store.per_session: invalid type"), "{line}");
    assert!(line.contains(r#""many""#), "{line}");
}

#[test]
fn set_of_an_incomplete_object_names_the_set() {
    let line = fails(&["run", "m.json", "--set", r#"policy.retry={"kind":"fixed"}"#], &[("m.json", "{}")]);
    assert!(line.starts_with("error: m.json: --set policy.retry: missing field `interval`"), "{line}");
}

#[test]
fn set_value_out_of_range_names_the_set() {
    let line = fails(&["run", "m.json", "--set", "policy.retry.factor=0.5"], &[("m.json", "{}")]);
    assert!(line.starts_with("error: m.json: --set policy.retry.factor: must be at least 1"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Command line

#[test]
fn seed_that_is_not_a_number_is_rejected() {
    let line = fails(&["run", "tiny.json", "--seed", "abc"], &[("tiny.json", TINY)]);
    assert!(line.contains("'abc'") && line.contains("--seed"), "{line}");
}

#[test]
fn unknown_flag_is_rejected() {
    let line = fails(&["run", "tiny.json", "--bogus"], &[("tiny.json", TINY)]);
    assert!(line.contains("unexpected argument '--bogus'"), "{line}");
}

#[test]
fn check_without_files_names_the_missing_argument() {
    let line = fails(&["check"], &[]);
    assert!(line.contains("required arguments were not provided: <FILES>"), "{line}");
}

#[test]
fn out_inside_a_regular_file_is_rejected() {
    let line = fails(&["run", "tiny.json", "--out", "f/sub"], &[("tiny.json", TINY), ("f", "not a directory")]);
    assert!(line.starts_with("error: f/sub: cannot create directory"), "{line}");
}

#[test]
fn out_that_is_a_regular_file_is_rejected() {
    let line = fails(&["run", "tiny.json", "--out", "f"], &[("tiny.json", TINY), ("f", "not a directory")]);
    assert!(line.starts_with("error: f: cannot create directory"), "{line}");
}

#[test]
fn rejected_run_leaves_an_existing_out_dir_as_it_was() {
    let bad = tiny_with("/horizon", json!("2x"));
    let files = [("bad.json", bad.as_str()), ("keep/notes.txt", "mine")];
    let line = fails(&["run", "bad.json", "--out", "keep"], &files);
    assert!(line.starts_with("error: bad.json: horizon: "), "{line}");
}

// ---------------------------------------------------------------------------------------------
// ddsim warmup: the same model loading as run, so the same lines, and nothing written

#[test]
fn warmup_names_an_unknown_model_field_as_run_does() {
    let bad = tiny_with("/policy/store/per_sesion", json!(5));
    let files = [("bad.json", bad.as_str())];
    let line = fails(&["warmup", "bad.json", "--out", "w"], &files);
    assert_eq!(line, fails(&["run", "bad.json", "--out", "w"], &files), "warmup and run must report alike");
    assert!(line.starts_with("error: bad.json: policy.store.per_sesion: unknown field"), "{line}");
}

#[test]
fn warmup_names_a_bad_set() {
    let files = [("tiny.json", TINY)];
    let line = fails(&["warmup", "tiny.json", "--set", "horizon=2x", "-q"], &files);
    assert!(line.starts_with("error: tiny.json: --set horizon: "), "{line}");
    let line = fails(&["warmup", "tiny.json", "--set", "metrics.sample_intervl=1m"], &files);
    assert!(line.starts_with("error: tiny.json: --set metrics.sample_intervl: unknown path"), "{line}");
    let line = fails(&["warmup", "tiny.json", "--set", "horizon"], &files);
    assert_eq!(line, r#"error: --set expects path=value, got "horizon""#);
}

#[test]
fn warmup_into_a_regular_file_is_rejected() {
    let line = fails(&["warmup", "tiny.json", "--out", "f"], &[("tiny.json", TINY), ("f", "not a directory")]);
    assert!(line.starts_with("error: f: cannot create directory"), "{line}");
}

/// Type errors speak of what a model file holds (numbers, objects, distributions), never of the
/// Rust types behind it.
#[test]
fn type_errors_name_the_accepted_forms_not_rust_types() {
    let cases = [
        ("policy.retry=5", r#"{"kind": "none"}"#),
        ("population[0].users=-1", "whole number"),
        ("population[0].users=abc", "whole number"),
        ("groups.message_size=3", r#"{"dist": "exp""#),
        ("population[0].online=5", r#"{"dist": "lognormal""#),
        ("topology=5", "an object"),
        ("population=5", "a list"),
        ("policy.store.per_session=1.5", "whole number"),
    ];
    for (set, expected) in cases {
        let line = fails(&["run", "model.json", "--set", set], &[("model.json", TINY)]);
        assert!(line.contains(expected), "--set {set}: {line}");
        for rust in ["u32", "u64", "f64", "enum", "struct", "RetryPolicy", "Dist", "Topology"] {
            assert!(!line.contains(rust), "--set {set}: names the Rust type {rust}: {line}");
        }
    }
}
