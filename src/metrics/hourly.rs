//! Hourly series and the busy hour.
//!
//! Simulated time 0 is midnight of day 1, so the hour of day of an instant `t` is
//! `floor(t / 1 h) mod 24`. The run closes an hour when its first event at or after the hour's
//! end comes up (no event of its own): every counter is cumulative, so an hour's counts are the
//! differences of the counters at its two ends, exactly what the events of that hour counted,
//! and an hour's level averages are the differences of the levels' integrals. Nothing on the
//! hot path changes: counting stays one add, and closing an hour is one comparison per event.
//!
//! The measured window rarely starts and ends on the hour: its first and last hours are partial
//! (from the end of warm-up, to the horizon). They are in the series, with their `duration_s`,
//! so that the series add up to the window's totals; the busy hour uses full hours only.
//!
//! The busy hour is the time-consistent busy hour of ITU-T E.500: the hour of the day whose
//! offered traffic, averaged over the days of the window, is the largest. Offered traffic is
//! taken as the chat messages generated (`workload.messages`); ties go to the earlier hour.

use super::{DelayHistogram, ServerLoad, Stats};
use crate::engine::Time;
use crate::units::SEC;
use serde_json::{Map, Value, json};

pub const HOUR: Time = 3600 * SEC;

/// The counters with an hourly series, as named in `metrics`.
pub const COUNTS: [&str; 5] =
    ["workload.messages", "deferred.offered", "deferred.delivered", "sip.responses.503", "delivery.invites"];
/// The delays with hourly quantiles.
pub const DELAYS: [&str; 3] = ["delivery.latency_s", "delivery.after_register_s", "delivery.after_client_register_s"];
const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)];
/// Per server node: `servers.<node>.<column>`.
const SERVER_COLUMNS: [&str; 4] = ["utilisation", "queue.time_avg", "queue.peak", "rejected_503"];

fn counts_of(s: &Stats) -> [u64; COUNTS.len()] {
    let r503 = s.responses[crate::protocol::status_index(503)];
    [s.workload_messages, s.deferred.offered, s.deferred.delivered, r503, s.invites]
}

fn delays_of(s: &Stats) -> [&DelayHistogram; DELAYS.len()] {
    [&s.latency_buckets, &s.after_register, &s.after_client_register]
}

/// The hourly columns (beside `t_s`, `hour_of_day` and `duration_s`), in order, for servers
/// with these names.
pub fn column_names<S: AsRef<str>>(servers: &[S]) -> Vec<String> {
    let mut v: Vec<String> = COUNTS.iter().map(|c| c.to_string()).collect();
    for s in servers {
        v.extend(SERVER_COLUMNS.iter().map(|c| format!("servers.{}.{c}", s.as_ref())));
    }
    for d in DELAYS {
        v.extend(QUANTILES.iter().map(|(q, _)| format!("{d}.{q}")));
    }
    v
}

/// The `busy_hour.*` metrics for servers with these names.
pub fn busy_hour_names<S: AsRef<str>>(servers: &[S]) -> Vec<String> {
    let mut v = vec!["busy_hour.hour_of_day".to_string(), "busy_hour.days".to_string()];
    v.extend(column_names(servers).into_iter().map(|c| format!("busy_hour.{c}")));
    v
}

/// What one server did in an hour.
#[derive(Clone, Debug)]
struct ServerHour {
    utilisation: f64,
    queue_avg: f64,
    queue_peak: u64,
    rejected_503: u64,
}

/// One hour of the window (or the part of it in the window).
#[derive(Clone, Debug)]
struct Hour {
    start: Time,
    end: Time,
    counts: [u64; COUNTS.len()],
    delays: [Vec<u64>; DELAYS.len()],
    /// The largest of each delay up to the end of the hour: a bound for its quantiles, which
    /// are read as bucket edges.
    max_s: [f64; DELAYS.len()],
    servers: Vec<ServerHour>,
}

impl Hour {
    fn is_full(&self) -> bool {
        self.end - self.start == HOUR
    }
    fn hour_of_day(&self) -> u64 {
        (self.start / HOUR) % 24
    }
    /// The hour's values of the columns of `column_names`, in order (None: no value, such as a
    /// quantile of an hour without deliveries).
    fn values(&self) -> Vec<Option<f64>> {
        let mut v: Vec<Option<f64>> = self.counts.iter().map(|c| Some(*c as f64)).collect();
        for s in &self.servers {
            v.extend([Some(s.utilisation), Some(s.queue_avg), Some(s.queue_peak as f64), Some(s.rejected_503 as f64)]);
        }
        for (d, max) in self.delays.iter().zip(self.max_s) {
            v.extend(QUANTILES.iter().map(|(_, q)| DelayHistogram::quantile_of(d, *q, Some(max))));
        }
        v
    }
}

/// Cumulative values at the start of the hour in progress.
#[derive(Clone, Debug)]
struct Base {
    counts: [u64; COUNTS.len()],
    delays: [Vec<u64>; DELAYS.len()],
    /// Per server: rejected so far, and the integrals of busy workers and of the queue.
    servers: Vec<(u64, f64, f64)>,
}

impl Base {
    fn at<'a>(now: Time, stats: &Stats, servers: impl Iterator<Item = &'a ServerLoad>) -> Base {
        Base {
            counts: counts_of(stats),
            delays: delays_of(stats).map(|d| d.counts().to_vec()),
            servers: servers.map(|s| (s.rejected_503, s.busy.area_until(now), s.queue.area_until(now))).collect(),
        }
    }
}

/// The hours of the measured window so far, and the one in progress.
#[derive(Clone, Debug)]
pub struct Hourly {
    servers: Vec<String>,
    hours: Vec<Hour>,
    start: Time,
    next: Time,
    base: Base,
}

impl Hourly {
    /// The hours of a run that starts at 0 with all counters at zero, for these servers.
    pub fn new(servers: Vec<String>) -> Hourly {
        let base = Base {
            counts: [0; COUNTS.len()],
            delays: std::array::from_fn(|_| DelayHistogram::default().counts().to_vec()),
            servers: vec![(0, 0.0, 0.0); servers.len()],
        };
        Hourly { servers, hours: vec![], start: 0, next: HOUR, base }
    }

    /// The end of the hour in progress.
    #[inline]
    pub fn next_boundary(&self) -> Time {
        self.next
    }

    /// The measured window starts at `now` (counters and levels were just reset): what came
    /// before is dropped.
    pub fn restart<'a>(&mut self, now: Time, stats: &Stats, servers: impl Iterator<Item = &'a ServerLoad>) {
        self.hours.clear();
        self.base = Base::at(now, stats, servers);
        self.start = now;
        self.next = (now / HOUR + 1) * HOUR;
    }

    /// Closes the hour in progress at `at` (its end, or the horizon): counts since its start,
    /// averages of the levels over it, the queues' peaks in it.
    pub fn close<'a>(&mut self, at: Time, stats: &Stats, servers: impl Iterator<Item = &'a mut ServerLoad>) {
        let servers: Vec<&mut ServerLoad> = servers.collect();
        let base = Base::at(at, stats, servers.iter().map(|s| &**s));
        if at > self.start {
            let span = (at - self.start) as f64;
            let old = &self.base;
            let per_server = servers
                .into_iter()
                .zip(base.servers.iter().zip(&old.servers))
                .map(|(s, (now, then))| ServerHour {
                    utilisation: (now.1 - then.1) / (span * s.workers.max(1) as f64),
                    queue_avg: (now.2 - then.2) / span,
                    queue_peak: s.queue.take_period_peak(),
                    rejected_503: now.0 - then.0,
                })
                .collect();
            let delays = std::array::from_fn(|i| delays_of(stats)[i].counts_since(&old.delays[i]));
            self.hours.push(Hour {
                start: self.start,
                end: at,
                counts: std::array::from_fn(|i| base.counts[i] - old.counts[i]),
                delays,
                max_s: delays_of(stats).map(DelayHistogram::max_s),
                servers: per_server,
            });
        }
        self.base = base;
        self.start = at;
        self.next = (at / HOUR + 1) * HOUR;
    }

    /// `results.json` `hourly`: columns by name, one value per hour (null where an hour has no
    /// value: a quantile of an hour without deliveries).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        let col = |f: &dyn Fn(&Hour) -> Value| Value::Array(self.hours.iter().map(f).collect());
        m.insert("t_s".into(), col(&|h| json!(h.start as f64 / SEC as f64)));
        m.insert("hour_of_day".into(), col(&|h| json!(h.hour_of_day())));
        m.insert("duration_s".into(), col(&|h| json!((h.end - h.start) as f64 / SEC as f64)));
        let rows: Vec<Vec<Option<f64>>> = self.hours.iter().map(Hour::values).collect();
        for (i, name) in column_names(&self.servers).into_iter().enumerate() {
            m.insert(name, Value::Array(rows.iter().map(|r| r[i].map_or(Value::Null, |v| json!(v))).collect()));
        }
        Value::Object(m)
    }

    /// The time-consistent busy hour and every hourly column averaged over it across days:
    /// `busy_hour.*` (null when the window holds no full hour). Counts and levels are means over
    /// the days; quantiles come from the hour's histograms of all those days merged.
    pub fn busy_hour(&self, m: &mut Map<String, Value>) {
        let names = busy_hour_names(&self.servers);
        let full: Vec<&Hour> = self.hours.iter().filter(|h| h.is_full()).collect();
        let mut best: Option<(u64, f64)> = None;
        for hod in 0..24 {
            let days: Vec<&&Hour> = full.iter().filter(|h| h.hour_of_day() == hod).collect();
            if days.is_empty() {
                continue;
            }
            let mean = days.iter().map(|h| h.counts[0] as f64).sum::<f64>() / days.len() as f64;
            if best.is_none_or(|(_, b)| mean > b) {
                best = Some((hod, mean));
            }
        }
        let Some((hod, _)) = best else {
            for n in names {
                m.insert(n, Value::Null);
            }
            m.insert("busy_hour.days".into(), json!(0));
            return;
        };
        let days: Vec<&Hour> = full.into_iter().filter(|h| h.hour_of_day() == hod).collect();
        let n = days.len() as f64;
        let rows: Vec<Vec<Option<f64>>> = days.iter().map(|h| h.values()).collect();
        let mut values: Vec<Value> = vec![json!(hod), json!(days.len())];
        let quantile_columns = DELAYS.len() * QUANTILES.len();
        let plain = rows[0].len() - quantile_columns;
        for i in 0..plain {
            values.push(json!(
                rows.iter().map(|r| r[i].expect("counts and levels always have a value")).sum::<f64>() / n
            ));
        }
        for (d, _) in DELAYS.iter().enumerate() {
            let mut merged = vec![0u64; days[0].delays[d].len()];
            for h in &days {
                for (a, b) in merged.iter_mut().zip(&h.delays[d]) {
                    *a += b;
                }
            }
            let max = days.iter().map(|h| h.max_s[d]).fold(0.0, f64::max);
            for (_, q) in QUANTILES {
                values.push(DelayHistogram::quantile_of(&merged, q, Some(max)).map_or(Value::Null, |v| json!(v)));
            }
        }
        for (name, v) in names.into_iter().zip(values) {
            m.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(workers: u32) -> ServerLoad {
        ServerLoad { workers, ..Default::default() }
    }

    #[test]
    fn hours_split_the_counts_and_average_levels_over_each_hour() {
        let mut stats = Stats::new();
        let mut servers = [load(2)];
        let mut h = Hourly::new(vec!["pf1".into()]);
        // Warm-up ends at 0:30; 3 messages and a queue of 4 from 0:45, then at 1:15 the queue
        // empties and 5 more messages come; the run ends at 2:00.
        let t = |min: u64| min * 60 * SEC;
        stats.workload_messages = 7;
        stats.reset(t(30));
        servers[0].reset(t(30));
        h.restart(t(30), &stats, servers.iter());
        stats.workload_messages += 3;
        servers[0].queue.set(t(45), 4);
        servers[0].busy.set(t(45), 2);
        h.close(h.next_boundary(), &stats, servers.iter_mut());
        stats.workload_messages += 5;
        servers[0].queue.set(t(75), 0);
        servers[0].busy.set(t(75), 0);
        h.close(t(120), &stats, servers.iter_mut());
        let v = h.to_value();
        assert_eq!(v["t_s"], json!([1800.0, 3600.0]));
        assert_eq!(v["duration_s"], json!([1800.0, 3600.0]));
        assert_eq!(v["workload.messages"], json!([3.0, 5.0]));
        // The first (partial) hour: queue 4 for 15 of its 30 minutes, both workers busy.
        assert_eq!(v["servers.pf1.queue.time_avg"], json!([2.0, 1.0]));
        assert_eq!(v["servers.pf1.utilisation"], json!([0.5, 0.25]));
        assert_eq!(v["servers.pf1.queue.peak"], json!([4.0, 4.0]));
        assert_eq!(v["delivery.latency_s.p50"], json!([null, null]));
        // Only the full hour (1:00) counts for the busy hour.
        let mut m = Map::new();
        h.busy_hour(&mut m);
        assert_eq!(m["busy_hour.hour_of_day"], json!(1));
        assert_eq!(m["busy_hour.workload.messages"], json!(5.0));
        assert_eq!(m["busy_hour.delivery.after_register_s.p95"], Value::Null);
        assert_eq!(m.len(), busy_hour_names(&["pf1"]).len());
    }

    #[test]
    fn a_window_without_a_full_hour_has_no_busy_hour() {
        let stats = Stats::new();
        let mut h = Hourly::new(vec![]);
        h.restart(10 * 60 * SEC, &stats, std::iter::empty());
        h.close(50 * 60 * SEC, &stats, std::iter::empty());
        let mut m = Map::new();
        h.busy_hour(&mut m);
        assert_eq!(m["busy_hour.hour_of_day"], Value::Null);
        assert_eq!(m["busy_hour.days"], json!(0));
        assert_eq!(h.to_value()["workload.messages"], json!([0.0]));
    }
}
