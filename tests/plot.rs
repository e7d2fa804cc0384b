//! Charts: every kind is drawn for a sweep and for a single run, as SVG that parses and PNG of
//! the documented size. (Bad chart declarations are rejected before any run: tests/sweep.rs.)

use serde_json::json;
use std::path::Path;
use std::process::Command;

fn ddsim(args: &[&str], cwd: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ddsim")).args(args).current_dir(cwd).output().unwrap();
    assert!(out.status.success(), "ddsim {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Asserts `stem.svg` parses as SVG and `stem.png` is a 1000x600 PNG.
fn assert_chart(stem: &Path) {
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap_or_else(|e| panic!("{}: {e}", stem.display()));
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{}.svg does not parse: {e}", stem.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("1000"));
    assert!(doc.descendants().filter(|n| n.has_tag_name("text")).count() >= 5, "title, axis labels, ticks");
    let decoder = png::Decoder::new(std::fs::File::open(stem.with_extension("png")).unwrap());
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1000, 600));
}

fn stems(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| p.with_extension(""))
        .collect();
    v.sort();
    v
}

#[test]
fn a_sweep_draws_every_declared_chart_kind() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny.json");
    let exp = json!({
        "name": "charts",
        "model": tiny,
        "vary": {"policy.store.per_session": [3, 30], "groups.idle_timeout": ["5m", "30m"]},
        "replications": 2,
        "charts": [
            {"kind": "line", "x": "policy.store.per_session", "y": "deferred.dropped_overflow/deferred.offered",
             "series": "groups.idle_timeout", "log_x": true, "title": "Overflow"},
            {"kind": "line", "x": "groups.idle_timeout", "y": "delivery.latency_s.p95", "log_y": true},
            {"kind": "cdf", "metric": "delivery.latency_s", "series": "policy.store.per_session", "log_x": true},
            {"kind": "timeseries", "metrics": ["store.occupancy", "servers.pf1.queue"]},
            {"kind": "bar", "of": "notifications"},
            {"kind": "profile", "metric": "delivery.after_register_s.p95"},
            {"kind": "cdf", "metric": "delivery.after_register_s", "log_x": true}
        ]
    });
    std::fs::write(dir.path().join("exp.json"), exp.to_string()).unwrap();
    ddsim(&["sweep", "exp.json", "--out", "out", "-q"], dir.path());
    let charts = stems(&dir.path().join("out/charts"));
    let names: Vec<String> = charts.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
    // One line chart for the first declaration; one per store size for the second (the other
    // varied parameter is held fixed in each); one CDF per idle timeout; one time series; one bar.
    for prefix in ["01-overflow", "02-", "03-", "04-", "05-", "06-", "07-"] {
        assert!(names.iter().any(|n| n.starts_with(prefix)), "no chart {prefix}: {names:?}");
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("02-")).count(), 2, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("03-")).count(), 2, "{names:?}");
    for c in &charts {
        assert_chart(c);
    }
    // Durations on an axis read as durations, not microseconds.
    let svg = std::fs::read_to_string(
        dir.path().join("out/charts").join(format!("{}.svg", names.iter().find(|n| n.starts_with("02-")).unwrap())),
    )
    .unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
    assert!(texts.contains(&"5m") && texts.contains(&"30m"), "duration ticks: {texts:?}");
    // The profile: every hour of the day on the x axis, one line per point in the legend, and
    // the 95% interval over replications as a shaded band (a polygon per point).
    let svg = std::fs::read_to_string(
        dir.path().join("out/charts").join(format!("{}.svg", names.iter().find(|n| n.starts_with("06-")).unwrap())),
    )
    .unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
    for h in ["0", "12", "23"] {
        assert!(texts.contains(&h), "hour {h} on the axis: {texts:?}");
    }
    assert!(texts.iter().any(|t| t.starts_with("hour of day")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("per_session=3")), "legend: {texts:?}");
    assert!(doc.descendants().filter(|n| n.has_tag_name("polygon")).count() >= 4, "a band per point");
    // Drawing again from the directory gives the same files.
    ddsim(&["plot", "out", "-q"], dir.path());
    assert_eq!(stems(&dir.path().join("out/charts")), charts);
}

#[test]
fn a_single_run_gets_its_standard_charts() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny.json");
    ddsim(&["run", tiny.to_str().unwrap(), "--out", "run", "-q"], dir.path());
    ddsim(&["plot", "run", "-q"], dir.path());
    let charts = stems(&dir.path().join("run/charts"));
    assert_eq!(charts.len(), 6, "{charts:?}");
    for c in &charts {
        assert_chart(c);
    }
}

#[test]
fn plotting_a_directory_without_results_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ddsim")).args(["plot", "."]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1);
    assert!(err.contains("neither a sweep"), "{err}");
}
