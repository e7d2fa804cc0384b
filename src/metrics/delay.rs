//! A delay histogram on fixed log-spaced buckets: 48 per decade (each bucket 4.9% wider than
//! the one before) from 1 ms to 10^7 s, the same edges in every run, so that histograms of
//! several hours, days or runs add up bucket by bucket. It also keeps the exact count, sum and
//! maximum, so that the mean and the maximum are exact; quantiles are read as the upper edge of
//! the bucket that holds them (at most 4.9% above the true value, never above the maximum).

use crate::engine::Time;
use crate::units::SEC;
use serde_json::{Value, json};

/// Buckets per decade.
pub const PER_DECADE: usize = 48;
const DECADES: usize = 10;
const BUCKETS: usize = PER_DECADE * DECADES + 1;
/// Upper edge of the first bucket, in seconds.
const FIRST_EDGE_S: f64 = 1e-3;

/// Upper edge of bucket `i`, in seconds.
pub fn edge_s(i: usize) -> f64 {
    FIRST_EDGE_S * 10f64.powf(i as f64 / PER_DECADE as f64)
}

/// The bucket of a delay of `ticks`: the first whose upper edge is at least the delay (values
/// beyond the last edge go in the last bucket).
#[inline]
fn bucket(ticks: u64) -> usize {
    let s = ticks as f64 / SEC as f64;
    if s <= FIRST_EDGE_S {
        return 0;
    }
    let i = ((s / FIRST_EDGE_S).log10() * PER_DECADE as f64).ceil() as usize;
    // The logarithm may land one bucket off at an edge; the edges themselves decide.
    let i = if i > 0 && s <= edge_s(i - 1) { i - 1 } else { i };
    i.min(BUCKETS - 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayHistogram {
    counts: Vec<u64>,
    n: u64,
    sum_us: u128,
    max_us: u64,
}

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram { counts: vec![0; BUCKETS], n: 0, sum_us: 0, max_us: 0 }
    }
}

impl DelayHistogram {
    #[inline]
    pub fn record(&mut self, ticks: Time) {
        self.counts[bucket(ticks)] += 1;
        self.n += 1;
        self.sum_us += ticks as u128;
        self.max_us = self.max_us.max(ticks);
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// The largest delay recorded, in seconds (0 when empty).
    pub fn max_s(&self) -> f64 {
        self.max_us as f64 / SEC as f64
    }

    /// Bucket counts only (what an hour's histogram is made of: the difference of two).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The bucket counts recorded since `earlier` (a copy of these counts taken before).
    pub fn counts_since(&self, earlier: &[u64]) -> Vec<u64> {
        self.counts.iter().zip(earlier).map(|(a, b)| a - b).collect()
    }

    /// The `q`-quantile of bucket counts `counts` (None when empty): the upper edge of the bucket
    /// holding the value of rank ceil(q n), capped at `max_s` when the maximum is known.
    pub fn quantile_of(counts: &[u64], q: f64, max_s: Option<f64>) -> Option<f64> {
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut acc = 0;
        for (i, c) in counts.iter().enumerate() {
            acc += c;
            if acc >= rank {
                let e = edge_s(i);
                return Some(max_s.map_or(e, |m| e.min(m)));
            }
        }
        unreachable!("rank <= n")
    }

    /// `{mean,p50,p95,p99,max,count}` under `prefix` (0 for an empty histogram, as
    /// `delivery.latency_s`).
    pub fn put(&self, prefix: &str, m: &mut serde_json::Map<String, Value>) {
        let max_s = self.max_s();
        let q = |p: f64| Self::quantile_of(&self.counts, p, Some(max_s)).unwrap_or(0.0);
        let mean = if self.n == 0 { 0.0 } else { self.sum_us as f64 / self.n as f64 / SEC as f64 };
        m.insert(format!("{prefix}.mean"), json!(mean));
        m.insert(format!("{prefix}.p50"), json!(q(0.5)));
        m.insert(format!("{prefix}.p95"), json!(q(0.95)));
        m.insert(format!("{prefix}.p99"), json!(q(0.99)));
        m.insert(format!("{prefix}.max"), json!(max_s));
        m.insert(format!("{prefix}.count"), json!(self.n));
    }

    /// The histogram as results.json gives it: `{unit, le, count}`, non-empty buckets only.
    pub fn to_value(&self) -> Value {
        let (le, c): (Vec<f64>, Vec<u64>) =
            self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (edge_s(i), *c)).unzip();
        json!({ "unit": "s", "le": le, "count": c })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::MS;

    #[test]
    fn buckets_are_fixed_log_spaced_and_hold_their_upper_edge() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(MS), 0);
        // A value on an edge belongs to that edge's bucket, one just above to the next.
        for i in [1, 47, 48, 100, 300] {
            let e = (edge_s(i) * SEC as f64) as u64;
            assert_eq!(bucket(e), i, "edge {i}");
            assert_eq!(bucket(e + e / 100), i + 1, "above edge {i}");
        }
        assert!((edge_s(PER_DECADE) - 1e-2).abs() < 1e-12);
        assert_eq!(bucket(u64::MAX / 2), BUCKETS - 1);
        let ratio = edge_s(11) / edge_s(10);
        assert!(ratio < 1.05, "buckets fine enough to tell 10% apart: {ratio}");
    }

    #[test]
    fn quantiles_are_within_a_bucket_and_mean_and_max_exact() {
        let mut h = DelayHistogram::default();
        // 1 s, 2 s, ..., 100 s.
        for s in 1..=100u64 {
            h.record(s * SEC);
        }
        let q = |p| DelayHistogram::quantile_of(h.counts(), p, Some(100.0)).unwrap();
        for (p, v) in [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0)] {
            assert!(q(p) >= v && q(p) <= v * 1.05, "p{p}: {}", q(p));
        }
        assert_eq!(q(1.0), 100.0, "capped at the maximum");
        let mut m = serde_json::Map::new();
        h.put("d", &mut m);
        assert_eq!(m["d.mean"], json!(50.5));
        assert_eq!(m["d.max"], json!(100.0));
        assert_eq!(m["d.count"], json!(100));
        assert_eq!(DelayHistogram::quantile_of(&[0; 4], 0.5, None), None);
    }
}
