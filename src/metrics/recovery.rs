//! Recovery after an event of the model's `events[]` (an outage): how long after its end the
//! system is back to how it was before it, read from the sampled time series.
//!
//! The series watched are every server's queue (its mean over each sampling interval), the rate
//! of 503 responses, and the deliveries in progress (delivery episodes started and not ended).
//! Each one's pre-event range is [min, max] of its samples over the hour before the event
//! starts (only samples of the measured window; if the window opened less than an hour before,
//! those since it opened), widened by a tolerance: samples of a noisy series over one hour
//! rarely cover all of its usual values. Looking at the samples after the event's end, the
//! system has recovered at the start of the first sampling interval from which every series
//! stays in its range for [`CONSECUTIVE`] samples in a row (each sample describes the interval
//! that ends at it); `recovery_s` is the time from the end of the event to then (0 if that
//! interval began before the end), so its resolution is the sampling interval. None: no samples
//! before the event, or not recovered (for that many samples) before the horizon.

use crate::engine::Time;
use crate::units::SEC;

/// Consecutive samples in range that make a recovery.
pub const CONSECUTIVE: usize = 3;
/// The pre-event window.
pub const BEFORE: Time = 3600 * SEC;
/// The range is widened on each side by this share of its width...
pub const TOLERANCE_WIDTH: f64 = 0.5;
/// ...and by this share of its upper end, and by at least the series' own minimum (one message
/// queued, 0.1 503s per minute, one delivery in progress: see `Measurement`).
pub const TOLERANCE_LEVEL: f64 = 0.1;

/// The recovery time in seconds of an event over [start, end), from samples taken every
/// `interval` at `t` (in ticks, increasing) of the series in `series` (each one value per
/// sample, with its minimum tolerance), counting only samples from `window_start` on for the
/// pre-event range.
pub fn recovery_s(
    t: &[Time],
    interval: Time,
    series: &[(&[f64], f64)],
    window_start: Time,
    start: Time,
    end: Time,
) -> Option<f64> {
    let from = start.saturating_sub(BEFORE).max(window_start);
    let pre: Vec<usize> = (0..t.len()).filter(|&i| t[i] > from && t[i] <= start).collect();
    if pre.is_empty() {
        return None;
    }
    let ranges: Vec<(f64, f64)> = series
        .iter()
        .map(|&(s, min_tolerance)| {
            let lo = pre.iter().map(|&i| s[i]).fold(f64::INFINITY, f64::min);
            let hi = pre.iter().map(|&i| s[i]).fold(f64::NEG_INFINITY, f64::max);
            let tol = (TOLERANCE_WIDTH * (hi - lo) + TOLERANCE_LEVEL * hi.abs()).max(min_tolerance);
            (lo - tol, hi + tol)
        })
        .collect();
    let in_range = |i: usize| series.iter().zip(&ranges).all(|((s, _), (lo, hi))| s[i] >= *lo && s[i] <= *hi);
    let first = t.partition_point(|&x| x <= end);
    let mut run = 0;
    for i in first..t.len() {
        if in_range(i) {
            run += 1;
            if run == CONSECUTIVE {
                let back = t[i + 1 - CONSECUTIVE].saturating_sub(interval);
                return Some(back.saturating_sub(end) as f64 / SEC as f64);
            }
        } else {
            run = 0;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Time = 60 * SEC;

    #[test]
    fn recovered_at_the_first_of_enough_samples_back_in_range() {
        // Samples every 10 minutes; an event from 60 to 80 minutes.
        let t: Vec<Time> = (1..=20).map(|k| k * 10 * MIN).collect();
        let mut queue = vec![2.0; 20];
        // Pre-event values 1..3 (range [1, 3] widened by 1 + 0.3 = [-0.3, 4.3]); a surge after.
        queue[3] = 1.0;
        queue[4] = 3.0;
        for (i, v) in [(8, 50.0), (9, 20.0), (10, 4.0), (11, 9.0)] {
            queue[i] = v;
        }
        let flat = vec![0.0; 20];
        // Back at 110 minutes for one sample only, out again at 120, back from 130 minutes on:
        // the interval from 120 minutes on is the first of three in range, 40 minutes after
        // the end.
        assert_eq!(recovery_s(&t, 10 * MIN, &[(&queue, 1.0), (&flat, 0.1)], 0, 60 * MIN, 80 * MIN), Some(2400.0));
        // Any series out of range holds the recovery back.
        let mut rate = flat.clone();
        rate[13] = 5.0;
        assert_eq!(recovery_s(&t, 10 * MIN, &[(&queue, 1.0), (&rate, 0.1)], 0, 60 * MIN, 80 * MIN), Some(3600.0));
        // Back only for the last two samples before the horizon: not recovered.
        queue[12..18].fill(100.0);
        assert_eq!(recovery_s(&t, 10 * MIN, &[(&queue, 1.0)], 0, 60 * MIN, 80 * MIN), None);
        // In range from the first sample on, whose interval began during the event: 0.
        assert_eq!(recovery_s(&t, 10 * MIN, &[(&flat, 1.0)], 0, 60 * MIN, 75 * MIN), Some(0.0));
        // No sample before the event in the window: no pre-event range.
        assert_eq!(recovery_s(&t, 10 * MIN, &[(&queue, 1.0)], 60 * MIN, 60 * MIN, 80 * MIN), None);
    }
}
