//! Counters, the latency histogram, time-weighted levels and time series, and the results
//! document (`results.json`). Metric names are stable and documented in the README.
//!
//! [`Stats`] is what the network functions count; [`Measurement`] is what a run measures over
//! time from it and from the servers' [`ServerLoad`]: the end of warm-up, the samples of the
//! time series, and at the end the metrics, after checking conservation.

// MSER-5: where a series' initial transient ends, for choosing the warm-up.
pub mod mser;

use crate::engine::Time;
use crate::protocol::{MsgKind, STATUS_CODES};
use crate::units::{MS, SEC};
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The conservation counters of one kind of deferred item (messages or notifications):
/// `pending_at_warmup + offered + queued_behind = delivered + discarded_decline + discarded_bye
///  + dropped_overflow + expired + pending_at_end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conservation {
    pub pending_at_warmup: u64,
    /// Copies that reached a PF while the user's device could not take them (offline or gone).
    pub offered: u64,
    /// Copies for an online user held behind older pending data of the same group session, so
    /// that nothing is reordered (DD-17). These depend on the delivery policy; `offered` does not.
    pub queued_behind: u64,
    pub delivered: u64,
    pub discarded_decline: u64,
    pub discarded_bye: u64,
    pub dropped_overflow: u64,
    pub expired: u64,
    pub pending_at_end: u64,
}

impl Conservation {
    pub fn inflow(&self) -> u64 {
        self.pending_at_warmup + self.offered + self.queued_behind
    }
    pub fn outflow(&self) -> u64 {
        self.delivered
            + self.discarded_decline
            + self.discarded_bye
            + self.dropped_overflow
            + self.expired
            + self.pending_at_end
    }
    pub fn holds(&self) -> bool {
        self.inflow() == self.outflow()
    }
    fn put(&self, prefix: &str, m: &mut Map<String, Value>) {
        for (k, v) in [
            ("pending_at_warmup", self.pending_at_warmup),
            ("offered", self.offered),
            ("queued_behind", self.queued_behind),
            ("delivered", self.delivered),
            ("discarded_decline", self.discarded_decline),
            ("discarded_bye", self.discarded_bye),
            ("dropped_overflow", self.dropped_overflow),
            ("expired", self.expired),
            ("pending_at_end", self.pending_at_end),
        ] {
            m.insert(format!("{prefix}.{k}"), json!(v));
        }
    }
}

/// Everything counted during a run. Reset at the end of warm-up.
pub struct Stats {
    pub sent: [u64; MsgKind::COUNT],
    /// `sip.responses.<code>`, the last slot for codes not in `STATUS_CODES`.
    pub responses: [u64; STATUS_CODES.len() + 1],
    pub deferred: Conservation,
    pub notifications: Conservation,
    latency_ms: Histogram<u64>,
    latency_sum_us: u128,
    pub occupancy: Level,
    pub bytes: Level,
    pub sessions_started: u64,
    pub sessions_succeeded: u64,
    pub sessions_declined: u64,
    pub sessions_interrupted: u64,
    pub sessions_gave_up: u64,
    pub invites: u64,
    pub invite_timeouts: u64,
    pub retries_scheduled: u64,
    pub attempts_sum: u64,
    pub attempts_n: u64,
    pub attempts_max: u64,
    pub delivery_msrp_timeouts: u64,
    pub delivery_closed_inactive: u64,
    pub delivery_restarts: u64,
    pub gso_sent: u64,
    pub groups_rejoins: u64,
    pub groups_restarts: u64,
    pub groups_copies_lost: u64,
    pub groups_upstream_lost: u64,
    pub imdn_undeliverable: u64,
    pub live_sent: u64,
    pub live_failed: u64,
    pub registrations_ok: u64,
    pub registrations_failed: u64,
    pub registrations_expired: u64,
    pub third_party_failed: u64,
    pub third_party_retries: u64,
    pub lost_unregistered: u64,
    pub lost_network: u64,
    pub dropped_device_offline: u64,
    pub workload_messages: u64,
    pub workload_no_sender: u64,
    pub workload_online: u64,
    pub workload_offline: u64,
    pub workload_offline_ungraceful: u64,
    /// Deliveries since the last time-series sample.
    pub deliveries_interval: u64,
}

/// Upper edges of the latency histogram exported in results.json: 20 log-spaced buckets per
/// decade from 1 ms to 100 days, fixed so that histograms of several runs add up bucket by bucket.
pub fn latency_edges_s() -> Vec<f64> {
    (0..=200).map(|i| 1e-3 * 10f64.powf(i as f64 / 20.0)).take_while(|e| *e <= 1e7).collect()
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            sent: [0; MsgKind::COUNT],
            responses: [0; STATUS_CODES.len() + 1],
            deferred: Conservation::default(),
            notifications: Conservation::default(),
            latency_ms: Histogram::new_with_bounds(1, 1_000 * 86_400 * 100, 3).expect("valid bounds"),
            latency_sum_us: 0,
            occupancy: Level::default(),
            bytes: Level::default(),
            sessions_started: 0,
            sessions_succeeded: 0,
            sessions_declined: 0,
            sessions_interrupted: 0,
            sessions_gave_up: 0,
            invites: 0,
            invite_timeouts: 0,
            retries_scheduled: 0,
            attempts_sum: 0,
            attempts_n: 0,
            attempts_max: 0,
            delivery_msrp_timeouts: 0,
            delivery_closed_inactive: 0,
            delivery_restarts: 0,
            gso_sent: 0,
            groups_rejoins: 0,
            groups_restarts: 0,
            groups_copies_lost: 0,
            groups_upstream_lost: 0,
            imdn_undeliverable: 0,
            live_sent: 0,
            live_failed: 0,
            registrations_ok: 0,
            registrations_failed: 0,
            registrations_expired: 0,
            third_party_failed: 0,
            third_party_retries: 0,
            lost_unregistered: 0,
            lost_network: 0,
            dropped_device_offline: 0,
            workload_messages: 0,
            workload_no_sender: 0,
            workload_online: 0,
            workload_offline: 0,
            workload_offline_ungraceful: 0,
            deliveries_interval: 0,
        }
    }

    /// Starts the measured window at `now`: counters to zero, levels restart their averages.
    pub fn reset(&mut self, now: u64) {
        let (occ, bytes) = (std::mem::take(&mut self.occupancy), std::mem::take(&mut self.bytes));
        *self = Stats::new();
        self.occupancy = occ;
        self.bytes = bytes;
        self.occupancy.reset(now);
        self.bytes.reset(now);
    }

    #[inline]
    pub fn count_response(&mut self, code: u16) {
        self.responses[crate::protocol::status_index(code)] += 1;
    }

    #[inline]
    pub fn record_latency(&mut self, ticks: u64) {
        self.latency_sum_us += ticks as u128;
        let ms = (ticks / MS).max(1).min(self.latency_ms.high());
        self.latency_ms.record(ms).expect("clamped to the histogram's range");
    }

    /// Latency histogram on the fixed edges of `latency_edges_s` (non-empty buckets only).
    pub fn latency_buckets(&self) -> Value {
        let edges = latency_edges_s();
        let mut counts = vec![0u64; edges.len()];
        for v in self.latency_ms.iter_recorded() {
            let s = self.latency_ms.highest_equivalent(v.value_iterated_to()) as f64 / 1e3;
            let i = edges.partition_point(|e| *e < s).min(edges.len() - 1);
            counts[i] += v.count_at_value();
        }
        let (le, c): (Vec<f64>, Vec<u64>) =
            edges.iter().zip(&counts).filter(|(_, c)| **c > 0).map(|(e, c)| (*e, *c)).unzip();
        json!({ "unit": "s", "le": le, "count": c })
    }

    /// The flat `metrics` map of results.json (the parts the stats know; the engine adds
    /// servers.* and run.*).
    pub fn to_metrics(&self, window_start: u64, now: u64) -> Map<String, Value> {
        let mut m = Map::new();
        self.deferred.put("deferred", &mut m);
        self.notifications.put("notifications", &mut m);
        let h = &self.latency_ms;
        let q = |p: f64| {
            if h.is_empty() { 0.0 } else { h.value_at_quantile(p) as f64 / 1e3 }
        };
        let n = h.len();
        let mean = if n == 0 { 0.0 } else { self.latency_sum_us as f64 / n as f64 / SEC as f64 };
        m.insert("delivery.latency_s.mean".into(), json!(mean));
        m.insert("delivery.latency_s.p50".into(), json!(q(0.5)));
        m.insert("delivery.latency_s.p95".into(), json!(q(0.95)));
        m.insert("delivery.latency_s.p99".into(), json!(q(0.99)));
        m.insert("delivery.latency_s.max".into(), json!(if n == 0 { 0.0 } else { h.max() as f64 / 1e3 }));
        m.insert("delivery.latency_s.count".into(), json!(n));
        for (k, v) in [
            ("delivery.sessions.started", self.sessions_started),
            ("delivery.sessions.succeeded", self.sessions_succeeded),
            ("delivery.sessions.declined", self.sessions_declined),
            ("delivery.sessions.interrupted", self.sessions_interrupted),
            ("delivery.sessions.gave_up", self.sessions_gave_up),
            ("delivery.invites", self.invites),
            ("delivery.invite_timeouts", self.invite_timeouts),
            ("delivery.retries", self.retries_scheduled),
            ("delivery.msrp_timeouts", self.delivery_msrp_timeouts),
            ("delivery.closed_inactive", self.delivery_closed_inactive),
            ("delivery.restarts", self.delivery_restarts),
            ("delivery.gso_sent", self.gso_sent),
            ("groups.rejoins", self.groups_rejoins),
            ("groups.restarts", self.groups_restarts),
            ("groups.copies_lost", self.groups_copies_lost),
            ("groups.upstream_lost", self.groups_upstream_lost),
            ("groups.imdn_undeliverable", self.imdn_undeliverable),
            ("live.sent", self.live_sent),
            ("live.failed", self.live_failed),
            ("registrations.ok", self.registrations_ok),
            ("registrations.failed", self.registrations_failed),
            ("registrations.expired", self.registrations_expired),
            ("registrations.third_party_failed", self.third_party_failed),
            ("registrations.third_party_retries", self.third_party_retries),
            ("network.lost", self.lost_network),
            ("network.lost_unregistered", self.lost_unregistered),
            ("network.dropped_device_offline", self.dropped_device_offline),
            ("workload.messages", self.workload_messages),
            ("workload.no_sender", self.workload_no_sender),
            ("workload.online", self.workload_online),
            ("workload.offline", self.workload_offline),
            ("workload.offline_ungraceful", self.workload_offline_ungraceful),
        ] {
            m.insert(k.into(), json!(v));
        }
        let (mean_a, max_a) = if self.attempts_n == 0 {
            (0.0, 0)
        } else {
            (self.attempts_sum as f64 / self.attempts_n as f64, self.attempts_max)
        };
        m.insert("delivery.attempts_per_session.mean".into(), json!(mean_a));
        m.insert("delivery.attempts_per_session.max".into(), json!(max_a));
        m.insert("store.occupancy.peak".into(), json!(self.occupancy.peak()));
        m.insert("store.occupancy.time_avg".into(), json!(self.occupancy.time_avg(window_start, now)));
        m.insert("store.bytes.peak".into(), json!(self.bytes.peak()));
        m.insert("store.bytes.time_avg".into(), json!(self.bytes.time_avg(window_start, now)));
        for k in MsgKind::ALL {
            let name = match k {
                MsgKind::SipResponse => "sip.responses.total".to_string(),
                MsgKind::Send => "msrp.SEND".to_string(),
                MsgKind::MsrpResponse => "msrp.responses.200".to_string(),
                MsgKind::Report => "msrp.REPORT".to_string(),
                k => format!("sip.{}", k.name()),
            };
            m.insert(name, json!(self.sent[k as usize]));
        }
        for (i, c) in STATUS_CODES.iter().enumerate() {
            m.insert(format!("sip.responses.{c}"), json!(self.responses[i]));
        }
        m.insert("sip.responses.other".into(), json!(self.responses[STATUS_CODES.len()]));
        m
    }
}

/// A time-weighted average and peak of a level (queue length, store occupancy, ...).
#[derive(Clone, Debug, Default)]
pub struct Level {
    value: u64,
    area: f64,
    since: Time,
    peak: u64,
}

impl Level {
    #[inline]
    pub fn set(&mut self, now: Time, v: u64) {
        self.area += self.value as f64 * now.saturating_sub(self.since) as f64;
        self.since = now;
        self.value = v;
        if v > self.peak {
            self.peak = v;
        }
    }
    #[inline]
    pub fn add(&mut self, now: Time, d: i64) {
        let v = (self.value as i64 + d).max(0) as u64;
        self.set(now, v);
    }
    pub fn value(&self) -> u64 {
        self.value
    }
    pub fn peak(&self) -> u64 {
        self.peak
    }
    /// Restarts the statistics at `now` (end of warm-up), keeping the current level.
    pub fn reset(&mut self, now: Time) {
        self.area = 0.0;
        self.since = now;
        self.peak = self.value;
    }
    /// Time average over [start, now].
    pub fn time_avg(&self, start: Time, now: Time) -> f64 {
        let area = self.area + self.value as f64 * now.saturating_sub(self.since) as f64;
        if now > start { area / (now - start) as f64 } else { self.value as f64 }
    }
    /// The integral so far (level × ticks), for interval averages.
    pub fn area_until(&self, now: Time) -> f64 {
        self.area + self.value as f64 * now.saturating_sub(self.since) as f64
    }
}

/// The load of one server node over time: busy workers, queue length, and the requests it
/// refused with 503.
#[derive(Clone, Debug, Default)]
pub struct ServerLoad {
    pub workers: u32,
    pub busy: Level,
    pub queue: Level,
    pub rejected_503: u64,
}

impl ServerLoad {
    /// Starts the measured window at `now`.
    pub fn reset(&mut self, now: Time) {
        self.busy.reset(now);
        self.queue.reset(now);
        self.rejected_503 = 0;
    }
}

/// Sampled time series: named columns, one value per sampling instant. Columns are named
/// once, when the run starts; a sample pushes by index.
#[derive(Default)]
pub struct TimeSeries {
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
}

impl TimeSeries {
    /// Adds a column and returns its index.
    pub fn column(&mut self, name: impl Into<String>) -> usize {
        self.names.push(name.into());
        self.columns.push(Vec::new());
        self.columns.len() - 1
    }
    #[inline]
    pub fn push(&mut self, column: usize, v: f64) {
        self.columns[column].push(v);
    }
    /// The columns that have values, by name.
    pub fn to_value(&self) -> Value {
        let by_name: BTreeMap<&str, &Vec<f64>> =
            self.names.iter().map(String::as_str).zip(&self.columns).filter(|(_, c)| !c.is_empty()).collect();
        serde_json::to_value(by_name).expect("numbers serialize")
    }
}

/// A run that lost or invented a deferred item: a bug, reported instead of results.
#[derive(Debug, thiserror::Error)]
#[error(
    "conservation broken for {kind}: in {inflow} (pending_at_warmup + offered + queued_behind) != out {outflow} ({detail})"
)]
pub struct ConservationBroken {
    pub kind: &'static str,
    pub inflow: u64,
    pub outflow: u64,
    pub detail: String,
}

/// A server's columns in the time series, and its integrals at the last sample.
struct ServerColumns {
    name: String,
    queue: usize,
    utilisation: usize,
    busy_area: f64,
    queue_area: f64,
}

/// What a run measures over time: the measured window (from the end of warm-up), the time
/// series, and at the end the metrics of results.json.
pub struct Measurement {
    interval: Time,
    window_start: Time,
    series: TimeSeries,
    t_s: usize,
    occupancy: usize,
    bytes: usize,
    per_minute: usize,
    /// In node order, the server nodes only.
    servers: Vec<ServerColumns>,
}

impl Measurement {
    /// Sampling every `interval`, of the servers named (in node order).
    pub fn new<'a>(interval: Time, servers: impl Iterator<Item = &'a str>) -> Measurement {
        let mut series = TimeSeries::default();
        let (t_s, occupancy, bytes, per_minute) = (
            series.column("t_s"),
            series.column("store.occupancy"),
            series.column("store.bytes"),
            series.column("delivery.per_minute"),
        );
        let servers = servers
            .map(|name| ServerColumns {
                name: name.to_string(),
                queue: series.column(format!("servers.{name}.queue")),
                utilisation: series.column(format!("servers.{name}.utilisation")),
                busy_area: 0.0,
                queue_area: 0.0,
            })
            .collect();
        Measurement { interval, window_start: 0, series, t_s, occupancy, bytes, per_minute, servers }
    }

    pub fn interval(&self) -> Time {
        self.interval
    }
    pub fn window_start(&self) -> Time {
        self.window_start
    }

    /// The end of warm-up: counters restart, levels restart their averages, and the stores'
    /// contents become `pending_at_warmup` (messages, notifications).
    pub fn warmup<'a>(
        &mut self,
        now: Time,
        stats: &mut Stats,
        servers: impl Iterator<Item = &'a mut ServerLoad>,
        pending: (u64, u64),
    ) {
        // The time series run across warm-up: keep what the current sampling interval has
        // accumulated so far, which the reset below would lose.
        let deliveries = stats.deliveries_interval;
        stats.reset(now);
        stats.deliveries_interval = deliveries;
        for (c, s) in self.servers.iter_mut().zip(servers) {
            let busy = s.busy.area_until(now) - c.busy_area;
            let queue = s.queue.area_until(now) - c.queue_area;
            s.reset(now);
            c.busy_area = -busy;
            c.queue_area = -queue;
        }
        self.window_start = now;
        stats.deferred.pending_at_warmup = pending.0;
        stats.notifications.pending_at_warmup = pending.1;
    }

    /// A sample: the levels now, and per server the averages over the interval that ends now
    /// (not snapshots: a queue that fills and drains between two samples still shows).
    pub fn sample<'a>(&mut self, now: Time, stats: &mut Stats, servers: impl Iterator<Item = &'a ServerLoad>) {
        let interval = self.interval as f64;
        self.series.push(self.t_s, now as f64 / SEC as f64);
        self.series.push(self.occupancy, stats.occupancy.value() as f64);
        self.series.push(self.bytes, stats.bytes.value() as f64);
        let per_min = stats.deliveries_interval as f64 * (60.0 * SEC as f64) / interval;
        self.series.push(self.per_minute, per_min);
        stats.deliveries_interval = 0;
        for (c, s) in self.servers.iter_mut().zip(servers) {
            let area = s.busy.area_until(now);
            let prev = std::mem::replace(&mut c.busy_area, area);
            let util = ((area - prev).max(0.0) / (interval * s.workers as f64)).min(1.0);
            let q_area = s.queue.area_until(now);
            let q_prev = std::mem::replace(&mut c.queue_area, q_area);
            self.series.push(c.queue, (q_area - q_prev).max(0.0) / interval);
            self.series.push(c.utilisation, util);
        }
    }

    /// The end of the run at `now`, with `pending` items still held: checks conservation and
    /// returns the metrics (counters and servers; the engine adds `run.*`) and the time series.
    pub fn finish<'a>(
        self,
        now: Time,
        stats: &mut Stats,
        servers: impl Iterator<Item = &'a ServerLoad>,
        pending: (u64, u64),
    ) -> Result<(Map<String, Value>, Value), ConservationBroken> {
        stats.deferred.pending_at_end = pending.0;
        stats.notifications.pending_at_end = pending.1;
        for (kind, c) in [("deferred messages", stats.deferred), ("deferred notifications", stats.notifications)] {
            if !c.holds() {
                return Err(ConservationBroken {
                    kind,
                    inflow: c.inflow(),
                    outflow: c.outflow(),
                    detail: format!("{c:?}"),
                });
            }
        }
        let start = self.window_start;
        let mut metrics = stats.to_metrics(start, now);
        for (c, s) in self.servers.iter().zip(servers) {
            let name = &c.name;
            metrics
                .insert(format!("servers.{name}.utilisation"), json!(s.busy.time_avg(start, now) / s.workers as f64));
            metrics.insert(format!("servers.{name}.queue.peak"), json!(s.queue.peak()));
            metrics.insert(format!("servers.{name}.queue.time_avg"), json!(s.queue.time_avg(start, now)));
            metrics.insert(format!("servers.{name}.rejected_503"), json!(s.rejected_503));
        }
        Ok((metrics, self.series.to_value()))
    }
}
