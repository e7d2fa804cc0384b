//! Counters, the latency histogram, time-weighted levels and time series, and the results
//! document (`results.json`). Metric names are stable and documented in the README.
//!
//! [`Stats`] is what the network functions count; [`Measurement`] is what a run measures over
//! time from it and from the servers' [`ServerLoad`]: the end of warm-up, the samples of the
//! time series, the hourly series and the busy hour, the recovery after each outage, and at the
//! end the metrics, after checking conservation.
//!
//! The parts, one file each: [`delay`] (histograms on fixed log-spaced buckets), [`hourly`]
//! (per-hour series and the busy hour), [`recovery`] (back to the pre-event range after an
//! event), [`measurement`] (what a run measures over time, from warm-up to the end).

pub mod delay;
pub mod hourly;
mod measurement;
pub mod recovery;

pub use delay::DelayHistogram;
pub use measurement::Measurement;

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
    /// The same latencies on the fixed buckets of [`DelayHistogram`], for hourly quantiles.
    pub latency_buckets: DelayHistogram,
    /// Per delivered item, from the PF's receipt of the 3rd-party REGISTER that triggered its
    /// delivery (or from its arrival, if later) to its MSRP delivery.
    pub after_register: DelayHistogram,
    /// The same from the client's REGISTER that led to that 3rd-party REGISTER.
    pub after_client_register: DelayHistogram,
    pub occupancy: Level,
    pub bytes: Level,
    /// Delivery episodes under way (started and not ended): the deliveries pending at the PFs.
    pub episodes_open: Level,
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
    /// Copies of generated messages addressed to members whose device could not take them
    /// when the message was sent: the demand on the stores, which no policy can change.
    pub workload_deferred_demand: u64,
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
            latency_buckets: DelayHistogram::default(),
            after_register: DelayHistogram::default(),
            after_client_register: DelayHistogram::default(),
            occupancy: Level::default(),
            bytes: Level::default(),
            episodes_open: Level::default(),
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
            workload_deferred_demand: 0,
            deliveries_interval: 0,
        }
    }

    /// Starts the measured window at `now`: counters to zero, levels restart their averages.
    pub fn reset(&mut self, now: u64) {
        let (occ, bytes) = (std::mem::take(&mut self.occupancy), std::mem::take(&mut self.bytes));
        let episodes = std::mem::take(&mut self.episodes_open);
        *self = Stats::new();
        self.occupancy = occ;
        self.bytes = bytes;
        self.episodes_open = episodes;
        self.occupancy.reset(now);
        self.bytes.reset(now);
        self.episodes_open.reset(now);
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
        self.latency_buckets.record(ticks);
    }

    /// The delays of a delivered item from the registrations that triggered its delivery: at
    /// the PF (3rd-party REGISTER) and at the client (its REGISTER).
    #[inline]
    pub fn record_after_register(&mut self, at_pf: u64, at_client: u64) {
        self.after_register.record(at_pf);
        self.after_client_register.record(at_client);
    }

    /// Latency histogram on the fixed edges of `latency_edges_s` (non-empty buckets only).
    pub fn latency_histogram(&self) -> Value {
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
        self.after_register.put("delivery.after_register_s", &mut m);
        self.after_client_register.put("delivery.after_client_register_s", &mut m);
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
            ("workload.deferred_demand", self.workload_deferred_demand),
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

/// A time-weighted average and peak of a level (queue length, store occupancy, ...). The peak
/// is kept per period (an hour, see [`Level::take_period_peak`]) so that each hour has its own;
/// the peak since the reset is the largest of them.
#[derive(Clone, Debug, Default)]
pub struct Level {
    value: u64,
    area: f64,
    since: Time,
    /// The peak of the periods closed since the reset.
    peak: u64,
    /// The peak of the current period.
    period_peak: u64,
    /// The peak since the last sample of the time series (see [`Level::take_interval_peak`]).
    interval_peak: u64,
}

impl Level {
    #[inline]
    pub fn set(&mut self, now: Time, v: u64) {
        self.area += self.value as f64 * now.saturating_sub(self.since) as f64;
        self.since = now;
        self.value = v;
        if v > self.period_peak {
            self.period_peak = v;
        }
        if v > self.interval_peak {
            self.interval_peak = v;
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
    /// The peak since the reset.
    pub fn peak(&self) -> u64 {
        self.peak.max(self.period_peak)
    }
    /// Closes a period: returns its peak and starts the next at the current level.
    pub fn take_period_peak(&mut self) -> u64 {
        let p = self.period_peak;
        self.peak = self.peak.max(p);
        self.period_peak = self.value;
        p
    }
    /// Closes a sampling interval: returns the largest level in it (including the level at its
    /// start) and starts the next at the current level. Independent of periods and of the
    /// reset at warm-up, so that the time series runs across both.
    pub fn take_interval_peak(&mut self) -> u64 {
        std::mem::replace(&mut self.interval_peak, self.value)
    }
    /// Restarts the statistics at `now` (end of warm-up), keeping the current level.
    pub fn reset(&mut self, now: Time) {
        self.area = 0.0;
        self.since = now;
        self.peak = self.value;
        self.period_peak = self.value;
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
    /// The values of a column so far.
    pub fn values(&self, column: usize) -> &[f64] {
        &self.columns[column]
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
