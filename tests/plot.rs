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
            {"kind": "cdf", "metric": "delivery.after_register_s", "log_x": true},
            {"kind": "timeseries", "metrics": ["servers.pf1.queue"], "from": "1h", "to": "2h"}
        ]
    });
    std::fs::write(dir.path().join("exp.json"), exp.to_string()).unwrap();
    ddsim(&["sweep", "exp.json", "--out", "out", "-q"], dir.path());
    let charts = stems(&dir.path().join("out/charts"));
    let names: Vec<String> = charts.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
    // One line chart for the first declaration; one per store size for the second (the other
    // varied parameter is held fixed in each); one CDF per idle timeout; one time series; one bar.
    for prefix in ["01-overflow", "02-", "03-", "04-", "05-", "06-", "07-", "08-"] {
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
    // Two store sizes on the x axis: markers with their intervals, not a line between them
    // (no sloped segment in a series' colour), set side by side.
    let svg = std::fs::read_to_string(
        dir.path().join("out/charts").join(format!("{}.svg", names.iter().find(|n| n.starts_with("01-")).unwrap())),
    )
    .unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert!(doc.descendants().filter(|n| n.has_tag_name("circle")).count() >= 4, "a marker per point");
    for n in doc.descendants().filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#0072B2")) {
        let pts: Vec<(f64, f64)> = n
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|p| p.split_once(',').map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap())).unwrap())
            .collect();
        for w in pts.windows(2) {
            assert!(w[0].0 == w[1].0 || w[0].1 == w[1].1, "a line joins two points: {pts:?}");
        }
    }
    // A declared window.
    let t = svg_texts(
        &dir.path().join("out/charts").join(format!("{}.svg", names.iter().find(|n| n.starts_with("08-")).unwrap())),
    );
    assert!(t.iter().any(|x| x.contains("from 1h to 2h")), "{t:?}");
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
    // Occupancy, deliveries, utilisation, queues, INVITEs and 503s, latency CDF, outcomes (no
    // events in tiny, so no zoomed views).
    assert_eq!(charts.len(), 7, "{charts:?}");
    for c in &charts {
        assert_chart(c);
    }
    // A window: the time series from 1h to 2h, said in the subtitle, ticks within it.
    ddsim(&["plot", "run", "--from", "1h", "--to", "2h", "-q"], dir.path());
    let t = svg_texts(&dir.path().join("run/charts/04-server-queues.svg"));
    assert!(t.iter().any(|x| x.contains("from 1h to 2h")), "{t:?}");
    assert!(t.iter().any(|x| x == "1h30m") && !t.iter().any(|x| x == "3h"), "{t:?}");
    assert_eq!(stems(&dir.path().join("run/charts")), charts, "the same charts, redrawn");
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

/// The texts of an SVG.
fn svg_texts(svg: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(svg).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

/// On the storm (cut at 5 h: the outage of ran-north is at 3 h for 20 minutes, the flood of
/// registrations after it), the default chart of the server queues shows the PF's queue at its
/// peak: the band of its largest value per interval reaches `servers.pf1.queue.peak` exactly,
/// where the 10-minute means stay an order of magnitude below. The outage and the warm-up are
/// shaded and labelled, and 503s per minute are a series of their own.
#[test]
fn the_storm_queue_chart_reaches_the_queue_peak() {
    use ddsim::experiment::charts::{Window, run_charts};
    use ddsim::model::{Model, Override};
    use ddsim::plot::chart::{Chart, RegionKind};
    let storm = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/storm.json");
    let model = Model::load(&storm, &[Override::parse("horizon=5h").unwrap()]).unwrap();
    let (doc, _) = ddsim::sim::run_model(&model, model.seed, serde_json::Value::Null, Default::default()).unwrap();
    let peak = doc["metrics"]["servers.pf1.queue.peak"].as_f64().unwrap();
    assert!(peak >= 500.0, "the flood fills the PF's queue: {peak}");
    let charts = run_charts(&doc, Window::default());
    let line = |stem: &str| match &charts.iter().find(|c| c.0 == stem).unwrap_or_else(|| panic!("no {stem}")).1 {
        Chart::Line(l) => l.clone(),
        Chart::Bar(_) => panic!("{stem} is a bar chart"),
    };
    let queues = line("04-server-queues");
    let pf = queues.series.iter().find(|s| s.name.starts_with("pf1")).expect("a curve for pf1");
    let warmup = 7200.0;
    let after = |p: &&(f64, f64, Option<(f64, f64)>)| p.0 > warmup;
    let envelope = pf.points.iter().filter(after).filter_map(|p| p.2.map(|b| b.1)).fold(0.0, f64::max);
    let means = pf.points.iter().filter(after).map(|p| p.1).fold(0.0, f64::max);
    assert_eq!(envelope, peak, "the envelope's highest value is the run's queue peak");
    assert!(means < peak / 5.0, "the means alone would hide it: {means} against {peak}");
    assert!(pf.band_name.as_deref().is_some_and(|n| n.contains("largest")), "{:?}", pf.band_name);
    // The warm-up and the outage, shaded and labelled.
    let kinds: Vec<(RegionKind, f64, f64)> = queues.regions.iter().map(|r| (r.kind, r.from, r.to)).collect();
    assert_eq!(kinds, [(RegionKind::WarmUp, 0.0, 7200.0), (RegionKind::Event, 10800.0, 12000.0)]);
    // 503s are a series; the flood refused requests.
    let sip = line("05-sip-invites-and-503");
    let r503 = sip.series.iter().find(|s| s.name.contains("503")).expect("a 503 series");
    assert!(r503.points.iter().any(|p| p.1 > 0.0));
    assert!(sip.series.iter().any(|s| s.name.contains("INVITE") && s.points.iter().any(|p| p.1 > 0.0)));
    // A view around the outage: from 30 minutes before it to 2 hours after its end (the horizon here).
    let zoom = line("11-zoom-server-queues");
    assert_eq!(zoom.x_range, Some((9000.0, 18000.0)));
    // Drawn: the labels are in the picture, and no axis says "(time)".
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("queues");
    Chart::Line(queues).save(&stem).unwrap();
    let t = svg_texts(&stem.with_extension("svg"));
    for want in ["warm-up 2h (not measured)", "outage of ran-north, 20m", "pf1: largest in each 10m"] {
        assert!(t.iter().any(|x| x == want), "no {want:?} in {t:?}");
    }
    assert!(!t.iter().any(|x| x.contains("(time)")), "{t:?}");
}
