//! What a run measures over time from the counters and the servers' loads: the measured window
//! (from the end of warm-up), the sampled time series, the hourly series, and at the end the
//! metrics of results.json with the busy hour and the recovery after each event.

use super::hourly::Hourly;
use super::recovery::recovery_s;
use super::{ConservationBroken, ServerLoad, Stats, TimeSeries};
use crate::engine::Time;
use crate::units::SEC;
use serde_json::{Map, Value, json};
use std::ops::Range;

/// A server's columns in the time series, and its integrals at the last sample.
struct ServerColumns {
    name: String,
    queue: usize,
    utilisation: usize,
    queue_max: usize,
    utilisation_max: usize,
    busy_area: f64,
    queue_area: f64,
}

fn responses_503(s: &Stats) -> u64 {
    s.responses[crate::protocol::status_index(503)]
}

fn invites(s: &Stats) -> u64 {
    s.sent[crate::protocol::MsgKind::Invite as usize]
}

/// What a run measures over time: the measured window (from the end of warm-up), the time
/// series, the hours, and at the end the metrics of results.json.
pub struct Measurement {
    interval: Time,
    window_start: Time,
    series: TimeSeries,
    t_s: usize,
    occupancy: usize,
    bytes: usize,
    per_minute: usize,
    per_minute_503: usize,
    per_minute_invite: usize,
    in_progress: usize,
    online: usize,
    /// In node order, the server nodes only.
    servers: Vec<ServerColumns>,
    /// 503 responses counted up to the last sample (the counter restarts at warm-up: this
    /// moves with it so that the interval across warm-up keeps its 503s).
    last_503: i64,
    /// INVITEs sent up to the last sample (moved likewise).
    last_invite: i64,
    /// The integral of the deliveries in progress at the last sample (moved likewise).
    in_progress_area: f64,
    hourly: Hourly,
    /// The model's events, as [start, end) in ticks.
    events: Vec<(Time, Time)>,
    /// The pools of servers, each with its members (a range of `servers`).
    pools: Vec<(String, Range<usize>)>,
}

impl Measurement {
    /// Sampling every `interval`, of the servers named (in node order); `events` are the
    /// model's events (outages) as [start, end).
    pub fn new<'a>(interval: Time, servers: impl Iterator<Item = &'a str>, events: Vec<(Time, Time)>) -> Measurement {
        let mut series = TimeSeries::default();
        let (t_s, occupancy, bytes, per_minute, per_minute_503, in_progress) = (
            series.column("t_s"),
            series.column("store.occupancy"),
            series.column("store.bytes"),
            series.column("delivery.per_minute"),
            series.column("sip.responses.503.per_minute"),
            series.column("delivery.in_progress"),
        );
        let online = series.column("workload.online_users");
        let per_minute_invite = series.column("sip.INVITE.per_minute");
        let servers: Vec<ServerColumns> = servers
            .map(|name| ServerColumns {
                name: name.to_string(),
                queue: series.column(format!("servers.{name}.queue")),
                utilisation: series.column(format!("servers.{name}.utilisation")),
                queue_max: series.column(format!("servers.{name}.queue.max")),
                utilisation_max: series.column(format!("servers.{name}.utilisation.max")),
                busy_area: 0.0,
                queue_area: 0.0,
            })
            .collect();
        let hourly = Hourly::new(servers.iter().map(|s| s.name.clone()).collect());
        Measurement {
            interval,
            window_start: 0,
            series,
            t_s,
            occupancy,
            bytes,
            per_minute,
            per_minute_503,
            per_minute_invite,
            in_progress,
            online,
            servers,
            last_503: 0,
            last_invite: 0,
            in_progress_area: 0.0,
            hourly,
            events,
            pools: vec![],
        }
    }

    /// The same, with pools of servers: each with its members, a range of the servers named
    /// (in their order). A pool's results add up its members' (`finish`).
    pub fn with_pools(mut self, pools: Vec<(String, Range<usize>)>) -> Measurement {
        self.pools = pools;
        self
    }

    pub fn interval(&self) -> Time {
        self.interval
    }
    pub fn window_start(&self) -> Time {
        self.window_start
    }

    /// The end of the hour in progress: the run closes it (`close_hour`) before the first event
    /// at or after it.
    #[inline]
    pub fn next_hour(&self) -> Time {
        self.hourly.next_boundary()
    }

    /// Closes the hour in progress at its end (see `next_hour`).
    pub fn close_hour<'a>(&mut self, stats: &Stats, servers: impl Iterator<Item = &'a mut ServerLoad>) {
        self.hourly.close(self.hourly.next_boundary(), stats, servers);
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
        self.last_503 -= responses_503(stats) as i64;
        self.last_invite -= invites(stats) as i64;
        self.in_progress_area -= stats.episodes_open.area_until(now);
        stats.reset(now);
        stats.deliveries_interval = deliveries;
        let mut loads = vec![];
        for (c, s) in self.servers.iter_mut().zip(servers) {
            let busy = s.busy.area_until(now) - c.busy_area;
            let queue = s.queue.area_until(now) - c.queue_area;
            s.reset(now);
            c.busy_area = -busy;
            c.queue_area = -queue;
            loads.push(&*s);
        }
        self.hourly.restart(now, stats, loads.into_iter());
        self.window_start = now;
        stats.deferred.pending_at_warmup = pending.0;
        stats.notifications.pending_at_warmup = pending.1;
    }

    /// A sample: the levels now, and per server the averages and the peaks over the interval
    /// that ends now (not snapshots: a queue that fills and drains between two samples still
    /// shows). `online`: the devices switched on now.
    pub fn sample<'a>(
        &mut self,
        now: Time,
        stats: &mut Stats,
        servers: impl Iterator<Item = &'a mut ServerLoad>,
        online: u64,
    ) {
        let interval = self.interval as f64;
        let per_minute = (60.0 * SEC as f64) / interval;
        self.series.push(self.t_s, now as f64 / SEC as f64);
        self.series.push(self.occupancy, stats.occupancy.value() as f64);
        self.series.push(self.bytes, stats.bytes.value() as f64);
        self.series.push(self.per_minute, stats.deliveries_interval as f64 * per_minute);
        stats.deliveries_interval = 0;
        let r503 = responses_503(stats) as i64;
        self.series.push(self.per_minute_503, (r503 - self.last_503) as f64 * per_minute);
        self.last_503 = r503;
        let inv = invites(stats) as i64;
        self.series.push(self.per_minute_invite, (inv - self.last_invite) as f64 * per_minute);
        self.last_invite = inv;
        let area = stats.episodes_open.area_until(now);
        let prev = std::mem::replace(&mut self.in_progress_area, area);
        self.series.push(self.in_progress, (area - prev).max(0.0) / interval);
        self.series.push(self.online, online as f64);
        for (c, s) in self.servers.iter_mut().zip(servers) {
            let area = s.busy.area_until(now);
            let prev = std::mem::replace(&mut c.busy_area, area);
            let util = ((area - prev).max(0.0) / (interval * s.workers as f64)).min(1.0);
            let q_area = s.queue.area_until(now);
            let q_prev = std::mem::replace(&mut c.queue_area, q_area);
            self.series.push(c.queue, (q_area - q_prev).max(0.0) / interval);
            self.series.push(c.utilisation, util);
            self.series.push(c.queue_max, s.queue.take_interval_peak() as f64);
            let busy_max = s.busy.take_interval_peak() as f64 / s.workers as f64;
            self.series.push(c.utilisation_max, busy_max.min(1.0));
        }
    }

    /// `events.<i>.recovery_s` of every event (see `recovery`).
    fn recovery(&self, m: &mut Map<String, Value>) {
        let t: Vec<Time> = self.series.values(self.t_s).iter().map(|s| (s * SEC as f64).round() as Time).collect();
        // Each with its smallest tolerance: a message queued, a 503 per 10 minutes, a delivery.
        let mut watched: Vec<(&[f64], f64)> = self.servers.iter().map(|c| (self.series.values(c.queue), 1.0)).collect();
        watched.push((self.series.values(self.per_minute_503), 0.1));
        watched.push((self.series.values(self.in_progress), 1.0));
        for (i, &(start, end)) in self.events.iter().enumerate() {
            let r = recovery_s(&t, self.interval, &watched, self.window_start, start, end);
            m.insert(format!("events.{i}.recovery_s"), r.map_or(Value::Null, |v| json!(v)));
        }
    }

    /// The end of the run at `now`, with `pending` items still held: checks conservation and
    /// returns the metrics (counters, servers, busy hour, recoveries; the engine adds `run.*`),
    /// the time series and the hourly series.
    pub fn finish<'a>(
        mut self,
        now: Time,
        stats: &mut Stats,
        servers: impl Iterator<Item = &'a mut ServerLoad>,
        pending: (u64, u64),
    ) -> Result<(Map<String, Value>, Value, Value), ConservationBroken> {
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
        let mut servers: Vec<&mut ServerLoad> = servers.collect();
        // The hours still open, the last one partial unless the horizon is on the hour.
        while self.hourly.next_boundary() <= now {
            let at = self.hourly.next_boundary();
            self.hourly.close(at, stats, servers.iter_mut().map(|s| &mut **s));
        }
        self.hourly.close(now, stats, servers.iter_mut().map(|s| &mut **s));
        let start = self.window_start;
        let mut metrics = stats.to_metrics(start, now);
        let mut utilisation = Vec::with_capacity(servers.len());
        for (c, s) in self.servers.iter().zip(&servers) {
            let name = &c.name;
            let u = s.busy.time_avg(start, now) / s.workers as f64;
            utilisation.push(u);
            metrics.insert(format!("servers.{name}.utilisation"), json!(u));
            metrics.insert(format!("servers.{name}.queue.peak"), json!(s.queue.peak()));
            metrics.insert(format!("servers.{name}.queue.time_avg"), json!(s.queue.time_avg(start, now)));
            metrics.insert(format!("servers.{name}.rejected_503"), json!(s.rejected_503));
        }
        for (pool, members) in &self.pools {
            let u = &utilisation[members.clone()];
            let of = &servers[members.clone()];
            let mean = u.iter().sum::<f64>() / u.len() as f64;
            metrics.insert(format!("servers.{pool}.utilisation.mean"), json!(mean));
            metrics
                .insert(format!("servers.{pool}.utilisation.max"), json!(u.iter().copied().fold(f64::MIN, f64::max)));
            metrics.insert(
                format!("servers.{pool}.queue.peak"),
                json!(of.iter().map(|s| s.queue.peak()).max().unwrap_or(0)),
            );
            metrics
                .insert(format!("servers.{pool}.rejected_503"), json!(of.iter().map(|s| s.rejected_503).sum::<u64>()));
        }
        self.hourly.busy_hour(&mut metrics);
        self.recovery(&mut metrics);
        Ok((metrics, self.series.to_value(), self.hourly.to_value()))
    }
}
