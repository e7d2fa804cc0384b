//! The report of a run directory (results.json): what happened to the deferred traffic in one
//! sentence, the main metrics by topic, the servers, the charts and the model.

use super::page::{self, escape, fmt_value};
use super::{read, written_at};
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// The main metrics of a run, by topic: (topic, [(metric, what it is)]).
const TOPICS: &[(&str, &[(&str, &str)])] = &[
    (
        "Deferred chat messages",
        &[
            ("deferred.pending_at_warmup", "held by the PFs when the measured window opened"),
            ("deferred.offered", "stored for a user who could not take them"),
            ("deferred.queued_behind", "held behind older pending data of the session"),
            ("deferred.delivered", "delivered in a deferred-delivery session"),
            ("deferred.discarded_decline", "discarded after a 603 Decline"),
            ("deferred.discarded_bye", "discarded after a BYE"),
            ("deferred.dropped_overflow", "lost to a store limit"),
            ("deferred.expired", "expired (TTL)"),
            ("deferred.pending_at_end", "still pending at the end"),
        ],
    ),
    (
        "Delivery delay",
        &[
            ("delivery.latency_s.p50", "from arrival at the PF to delivery, median"),
            ("delivery.latency_s.p95", "from arrival at the PF to delivery, 95th percentile"),
            ("delivery.latency_s.p99", "from arrival at the PF to delivery, 99th percentile"),
            ("delivery.latency_s.max", "from arrival at the PF to delivery, largest"),
            ("delivery.after_register_s.p50", "from the re-registration to delivery, median"),
            ("delivery.after_register_s.p95", "from the re-registration to delivery, 95th percentile"),
            ("delivery.after_register_s.p99", "from the re-registration to delivery, 99th percentile"),
        ],
    ),
    (
        "Delivery sessions",
        &[
            ("delivery.sessions.started", "episodes started"),
            ("delivery.sessions.succeeded", "succeeded"),
            ("delivery.sessions.declined", "declined"),
            ("delivery.sessions.interrupted", "interrupted"),
            ("delivery.sessions.gave_up", "given up by the retry policy"),
            ("delivery.invites", "deferred-delivery INVITEs, retries included"),
        ],
    ),
    (
        "Stores and signalling",
        &[
            ("store.occupancy.peak", "peak items held by the PFs"),
            ("store.occupancy.time_avg", "items held, time average"),
            ("store.bytes.peak", "peak bytes held"),
            ("sip.REGISTER", "REGISTER requests"),
            ("sip.INVITE", "INVITE requests"),
            ("sip.responses.503", "503 responses"),
            ("msrp.SEND", "MSRP SEND requests"),
        ],
    ),
    (
        "Busy hour (ITU-T E.500)",
        &[
            ("busy_hour.hour_of_day", "hour of day"),
            ("busy_hour.workload.messages", "chat messages generated in it"),
            ("busy_hour.deferred.offered", "stored for offline users in it"),
            ("busy_hour.delivery.after_register_s.p95", "delay from re-registration to delivery, 95th percentile"),
            ("busy_hour.sip.responses.503", "503 responses in it"),
        ],
    ),
];

fn metric(doc: &Value, k: &str) -> Option<f64> {
    doc["metrics"][k].as_f64()
}

/// The answer in a sentence: what became of the deferred messages, how long they waited, the
/// largest store and the busiest server.
fn headline(doc: &Value) -> String {
    let v = |k: &str| metric(doc, k).unwrap_or(0.0);
    let f = |k: &str| escape(&fmt_value(k, v(k)));
    let offered = v("deferred.offered") + v("deferred.pending_at_warmup") + v("deferred.queued_behind");
    let lost = v("deferred.dropped_overflow") + v("deferred.expired");
    let discarded = v("deferred.discarded_decline") + v("deferred.discarded_bye");
    let pct = |x: f64| if offered > 0.0 { fmt_value("x/y", x / offered) } else { "-".into() };
    let mut s = format!(
        "<p class=\"big\">{} of {} deferred messages delivered ({}); {} lost to store limits and expiry ({}).</p>\n\
         <p>{} discarded after a decline or a BYE, {} still pending at the end.</p>\n",
        f("deferred.delivered"),
        escape(&fmt_value("n", offered)),
        escape(&pct(v("deferred.delivered"))),
        escape(&fmt_value("n", lost)),
        escape(&pct(lost)),
        escape(&fmt_value("n", discarded)),
        f("deferred.pending_at_end"),
    );
    let _ = write!(
        s,
        "<p>Delivery latency p95 <strong>{}</strong> (from re-registration: {}); peak store {} items ({}); {} 503 responses.",
        f("delivery.latency_s.p95"),
        f("delivery.after_register_s.p95"),
        f("store.occupancy.peak"),
        f("store.bytes.peak"),
        f("sip.responses.503")
    );
    if let Some((name, u)) = servers(doc).into_iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        let _ = write!(
            s,
            " Busiest server: <code>{}</code> at {} utilisation.",
            escape(&name),
            escape(&fmt_value("u.utilisation", u))
        );
    }
    s.push_str("</p>\n");
    s
}

/// The server nodes (members of pools by their own ids) and their utilisation.
fn servers(doc: &Value) -> Vec<(String, f64)> {
    doc["metrics"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("servers.")?.strip_suffix(".utilisation")?;
            Some((name.to_string(), v.as_f64()?))
        })
        .collect()
}

fn topics_table(doc: &Value) -> String {
    let mut s = String::from(
        "<div class=\"scroll\"><table><thead><tr><th>what</th><th class=\"num\">value</th><th>metric</th></tr></thead><tbody>\n",
    );
    for (topic, rows) in TOPICS {
        let rows: Vec<_> = rows.iter().filter(|(k, _)| doc["metrics"].get(*k).is_some()).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "<tr><th colspan=\"3\">{}</th></tr>", escape(topic));
        for (k, what) in rows {
            let value = match (*k, metric(doc, k)) {
                ("busy_hour.hour_of_day", Some(h)) => format!("{h:02}:00"),
                (_, Some(x)) => fmt_value(k, x),
                (_, None) => "-".into(),
            };
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
                escape(what),
                escape(&value),
                escape(k)
            );
        }
    }
    s.push_str("</tbody></table></div>\n");
    // Servers, one row each.
    let names: Vec<String> = servers(doc).into_iter().map(|s| s.0).collect();
    if !names.is_empty() {
        s.push_str("<h3>Servers</h3>\n<table><thead><tr><th>server</th><th class=\"num\">utilisation</th><th class=\"num\">queue, time average</th><th class=\"num\">queue, peak</th><th class=\"num\">503 sent</th></tr></thead><tbody>\n");
        for n in names {
            let cell = |suffix: &str| {
                let k = format!("servers.{n}.{suffix}");
                escape(&metric(doc, &k).map(|x| fmt_value(&k, x)).unwrap_or_else(|| "-".into()))
            };
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&n),
                cell("utilisation"),
                cell("queue.time_avg"),
                cell("queue.peak"),
                cell("rejected_503")
            );
        }
        s.push_str("</tbody></table>\n");
    }
    // Recovery after each event of the model.
    let recoveries: Vec<(String, Option<f64>)> = doc["metrics"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("events.") && k.ends_with(".recovery_s"))
        .map(|(k, v)| (k.clone(), v.as_f64()))
        .collect();
    if !recoveries.is_empty() {
        s.push_str("<h3>Recovery after events</h3>\n<ul>\n");
        for (k, v) in recoveries {
            let text = v.map(|x| fmt_value(&k, x)).unwrap_or_else(|| "not before the horizon".into());
            let _ = writeln!(s, "<li><code>{}</code>: {}</li>", escape(&k), escape(&text));
        }
        s.push_str("</ul>\n");
    }
    s
}

pub fn page(dir: &Path) -> Result<String, String> {
    let results = dir.join("results.json");
    let doc = read(&results)?;
    let model = &doc["model"];
    let name = model["name"].as_str().unwrap_or("run");
    let mut header = format!("<h1>{} <span class=\"meta\">run</span></h1>\n", escape(name));
    if let Some(d) = model["description"].as_str().filter(|d| !d.is_empty()) {
        let _ = writeln!(header, "<p class=\"lead\">{}</p>", escape(d));
    }
    let v = |k: &str| metric(&doc, k).map(|x| fmt_value("n", x)).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        header,
        "<p class=\"meta\">Seed {}; {} users in {} groups; horizon {}, warm-up {} (statistics over the last {}); ddsim {}{}.</p>",
        doc["seed"],
        escape(&v("run.users")),
        escape(&v("run.groups")),
        escape(model["horizon"].as_str().unwrap_or("?")),
        escape(model["warmup"].as_str().unwrap_or("?")),
        escape(&metric(&doc, "run.window_s").map(crate::units::format_duration_short).unwrap_or_else(|| "?".into())),
        escape(doc["ddsim_version"].as_str().unwrap_or("?")),
        written_at(&results).map(|w| format!(", written {w}")).unwrap_or_default()
    );
    if let Some(point) = doc["params"]["point"].as_str() {
        let _ = writeln!(
            header,
            "<p class=\"meta\">Point <code>{}</code>, replication {} of experiment {}.</p>",
            escape(point),
            doc["params"]["replication"],
            escape(doc["params"]["experiment"].as_str().unwrap_or("?"))
        );
    }
    let mut answer = format!("<div class=\"answer\">{}</div>\n", headline(&doc));
    answer.push_str(&topics_table(&doc));
    answer.push_str("<p class=\"meta\">Every metric, time series and histogram is in <a href=\"results.json\">results.json</a>.</p>\n");
    let model_section = page::json_details("The model that ran, fully defaulted", model, false);
    let files = page::files_list(
        dir,
        &[
            ("results.json", "every metric, the time series, the hourly series and the delay histograms"),
            ("charts/", "every chart as SVG and PNG"),
        ],
    );
    Ok(page::document(
        &format!("{name}: ddsim run report"),
        &header,
        &[
            ("summary", "Main results", answer),
            ("charts", "Charts", page::gallery(dir)),
            ("model", "Model", model_section),
            ("files", "Files", files),
        ],
    ))
}
