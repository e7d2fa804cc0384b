//! What a chart's axis says about the metric it shows: the unit its values are read in, and
//! the quantity in words ("delivery latency (arrival at the PF to delivery), 95th percentile"),
//! since the ticks carry the unit (s, m, h; %; KiB). Also the note a chart of delays gets when
//! its points lost different shares of their items: a delay is measured on delivered items
//! only, and what a store dropped is not in it.

use crate::plot::chart::Unit;
use serde_json::Value;

/// The delays measured per delivered item (histograms, and the statistics of results.json).
const DELAYS: [(&str, &str); 3] = [
    ("delivery.latency_s", "delivery latency (arrival at the PF to delivery)"),
    ("delivery.after_register_s", "delay from the 3rd-party REGISTER to delivery"),
    ("delivery.after_client_register_s", "delay from the client's REGISTER to delivery"),
];

/// The unit a metric (or ratio) is read in.
pub fn unit_of(expr: &str) -> Unit {
    if expr.contains('/') || expr.ends_with("utilisation") || expr.ends_with("utilisation.max") {
        return Unit::Share;
    }
    if expr.ends_with(".count") {
        return Unit::Count;
    }
    if expr.contains("latency_s") || expr.ends_with("_s") || expr.contains("_s.") {
        return Unit::Seconds;
    }
    if expr.contains("bytes") {
        return Unit::Bytes;
    }
    Unit::Count
}

/// Whether a metric is a delay of delivered items (so blind to the items that were lost).
pub fn is_delay(expr: &str) -> bool {
    let e = expr.strip_prefix("busy_hour.").unwrap_or(expr);
    !expr.contains('/') && !e.ends_with(".count") && DELAYS.iter().any(|(d, _)| e.starts_with(d))
}

/// A delay histogram's quantity in words (the x axis of its CDF).
pub fn delay_words(metric: &str) -> &'static str {
    DELAYS.iter().find(|(d, _)| *d == metric).map_or(DELAYS[0].1, |(_, w)| w)
}

/// A metric in words, for an axis: the delays and the common statistics and counters by
/// name, anything else as its own name. A ratio `a/b` is both sides in words.
pub fn metric_words(expr: &str) -> String {
    if let Some((a, b)) = expr.split_once('/') {
        return format!("{} / {}", metric_words(a.trim()), metric_words(b.trim()));
    }
    if let Some(rest) = expr.strip_prefix("busy_hour.") {
        return format!("{}, in the busy hour", metric_words(rest));
    }
    for (d, words) in DELAYS {
        if let Some(stat) = expr.strip_prefix(d) {
            let stat = match stat.trim_start_matches('.') {
                "" => "",
                "p50" => ", median",
                "p95" => ", 95th percentile",
                "p99" => ", 99th percentile",
                "mean" => ", mean",
                "max" => ", maximum",
                "count" => ", items counted",
                s => return format!("{words}, {s}"),
            };
            return format!("{words}{stat}");
        }
    }
    if let Some(rest) = expr.strip_prefix("servers.") {
        for (suffix, words) in [
            (".queue.peak", "largest input queue"),
            (".queue.time_avg", "mean input queue"),
            (".queue.max", "largest input queue in each interval"),
            (".queue", "input queue, mean per interval"),
            (".utilisation.max", "largest share of workers busy in each interval"),
            (".utilisation.mean", "utilisation, mean over the pool"),
            (".utilisation", "utilisation"),
            (".rejected_503", "requests refused with 503"),
        ] {
            if let Some(node) = rest.strip_suffix(suffix) {
                return format!("{words} of {node}");
            }
        }
    }
    let words = match expr {
        "store.occupancy" => "items held by the PFs",
        "store.bytes" => "bytes held by the PFs",
        "delivery.per_minute" => "deferred items delivered per minute",
        "delivery.in_progress" => "delivery episodes under way",
        "workload.online_users" => "devices switched on",
        "sip.responses.503.per_minute" => "503 responses per minute",
        "sip.INVITE.per_minute" => "INVITEs sent per minute",
        "deferred.delivered" => "deferred messages delivered",
        "deferred.offered" => "deferred messages offered",
        "deferred.dropped_overflow" => "deferred messages dropped by a store limit",
        "deferred.expired" => "deferred messages expired (TTL)",
        "deferred.pending_at_end" => "deferred messages still held at the end",
        "workload.deferred_demand" => "deferred demand (copies for absent members)",
        _ => return expr.to_string(),
    };
    words.to_string()
}

/// The share of a run's deferred messages lost (dropped by a store limit or expired), of
/// those that reached the stores.
fn lost_share(doc: &Value) -> Option<(f64, f64)> {
    let m = |k: &str| doc["metrics"][format!("deferred.{k}")].as_f64();
    let inflow = m("pending_at_warmup")? + m("offered")? + m("queued_behind")?;
    (inflow > 0.0).then(|| (m("dropped_overflow").unwrap_or(0.0) / inflow, m("expired").unwrap_or(0.0) / inflow))
}

/// Points whose lost shares differ by more than this (a percentage point) get the note.
const LOSS_SPREAD: f64 = 0.01;

/// The note a chart of a delay gets when its points (each a set of runs) differ in loss: the
/// delay is that of the items delivered, and the items lost are not in it. None when they do
/// not differ.
pub fn survivors_note(points: &[Vec<&Value>]) -> Option<String> {
    let shares: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|runs| {
            let s: Vec<(f64, f64)> = runs.iter().filter_map(|d| lost_share(d)).collect();
            (!s.is_empty()).then(|| {
                let n = s.len() as f64;
                (s.iter().map(|x| x.0).sum::<f64>() / n, s.iter().map(|x| x.1).sum::<f64>() / n)
            })
        })
        .collect();
    let range = |f: &dyn Fn(&(f64, f64)) -> f64| {
        let v: Vec<f64> = shares.iter().map(f).collect();
        (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    };
    let (lo, hi) = range(&|s| s.0 + s.1);
    if shares.len() < 2 || hi - lo <= LOSS_SPREAD {
        return None;
    }
    let pct = |v: f64| format!("{}%", crate::units::trimmed(v * 100.0, if v < 0.01 { 2 } else { 1 }));
    let mut note = format!(
        "delay of delivered items only: {} to {} of the deferred messages were lost (store limit, TTL) and are not in it",
        pct(lo),
        pct(hi)
    );
    let (olo, ohi) = range(&|s| s.0);
    let drop_oldest = points.iter().flatten().any(|d| d["model"]["policy"]["store"]["overflow"] == "drop_oldest");
    if ohi - olo > LOSS_SPREAD && drop_oldest {
        note.push_str("; a store at its limit drops its oldest items, so small stores deliver the youngest");
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_read_in_words_and_units() {
        assert_eq!(
            metric_words("delivery.latency_s.p95"),
            "delivery latency (arrival at the PF to delivery), 95th percentile"
        );
        assert_eq!(unit_of("delivery.latency_s.p95"), Unit::Seconds);
        assert_eq!(unit_of("delivery.latency_s.count"), Unit::Count);
        assert_eq!(unit_of("servers.pf1.utilisation.max"), Unit::Share);
        assert_eq!(metric_words("servers.pf1.queue.peak"), "largest input queue of pf1");
        assert_eq!(metric_words("a.b/c.d"), "a.b / c.d");
        assert!(is_delay("delivery.after_register_s.p99") && is_delay("busy_hour.delivery.latency_s.p95"));
        assert!(!is_delay("delivery.latency_s.count") && !is_delay("deferred.delivered"));
    }

    #[test]
    fn delays_say_when_points_lost_different_shares() {
        let run = |dropped: u64| {
            json!({"model": {"policy": {"store": {"overflow": "drop_oldest"}}},
                   "metrics": {"deferred.pending_at_warmup": 0, "deferred.offered": 1000, "deferred.queued_behind": 0,
                               "deferred.dropped_overflow": dropped, "deferred.expired": 0}})
        };
        let (a, b, c) = (run(300), run(2), run(4));
        let note = survivors_note(&[vec![&a], vec![&b]]).unwrap();
        assert!(note.contains("0.2% to 30%") && note.contains("oldest"), "{note}");
        assert_eq!(survivors_note(&[vec![&b], vec![&c]]), None);
    }
}
