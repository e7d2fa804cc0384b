//! Daily profiles: clocks whose speed follows the hour of the day.
//!
//! A profiled process draws its durations exactly as an unprofiled one would (the same
//! distributions, the same random streams, the same number of draws), but in *operational
//! time*: a [`DailyClock`] runs faster in busy hours and slower in quiet ones, and a duration
//! drawn on it is converted into simulated time by inverting its cumulative speed. So every
//! distribution of the model keeps working under a profile, and a profile changes when things
//! happen, never which random numbers are drawn (common random numbers hold with or without one).
//!
//! - **Traffic.** A group's message gaps run on a clock of speed m(h), the hourly multipliers
//!   normalised to mean 1: Poisson messages become a non-homogeneous Poisson process of rate
//!   r·m(h) (inversion of the cumulative rate, Çinlar's method), and the daily mean stays r.
//! - **Presence.** A class whose online share should be π(h) in hour h draws its online periods
//!   on a clock of speed ρ(h)^-½ and its offline periods on one of speed ρ(h)^½, where ρ(h) is
//!   the odds of π(h) over the odds of the class's stationary share p̄ = E[on] / (E[on] +
//!   E[off]). Online periods stretch by √ρ and offline ones shrink by √ρ, so the ratio of
//!   their mean lengths is that of π(h) to 1 − π(h), and when periods are short against an hour
//!   the share online follows π(h). Splitting ρ evenly between the two clocks (rather than
//!   stretching only one) keeps the number of presence changes per day close to the
//!   unprofiled model's, so the registration load is not distorted. Long periods smooth and
//!   delay the profile: that is what real populations do too (a phone switched off at night
//!   stays off until morning).

use crate::engine::Time;
use crate::units::{DAY, HOUR};

/// A clock that runs at `speed[h]` operational ticks per tick of simulated time during local
/// hour h, where local time is simulated time plus an offset.
#[derive(Clone, Debug)]
pub struct DailyClock {
    speed: [f64; 24],
    /// Operational ticks from local midnight to the start of each hour; `cum[24]` is the day.
    cum: [f64; 25],
    /// Added to simulated time to get local time, in [0, DAY).
    offset: u64,
}

impl DailyClock {
    /// A clock with the given hourly speeds (finite, non-negative, not all zero) and UTC offset.
    pub fn new(speed: [f64; 24], utc_offset_h: i32) -> DailyClock {
        let mut cum = [0.0; 25];
        for h in 0..24 {
            cum[h + 1] = cum[h] + speed[h] * HOUR as f64;
        }
        assert!(cum[24] > 0.0, "a daily clock must run in some hour");
        let offset = (utc_offset_h as i64 * HOUR as i64).rem_euclid(DAY as i64) as u64;
        DailyClock { speed, cum, offset }
    }

    /// The clock of a traffic profile: multipliers normalised to a mean of 1.
    pub fn traffic(multipliers: &[f64]) -> DailyClock {
        let mean = multipliers.iter().sum::<f64>() / 24.0;
        DailyClock::new(std::array::from_fn(|h| multipliers[h] / mean), 0)
    }

    /// The two clocks (online, offline) of a presence profile for a class whose stationary
    /// online share without a profile is `p_bar`.
    pub fn presence(shares: &[f64], p_bar: f64, utc_offset_h: i32) -> (DailyClock, DailyClock) {
        let odds = |p: f64| p / (1.0 - p);
        let p_bar = p_bar.clamp(1e-9, 1.0 - 1e-9);
        let rho: [f64; 24] = std::array::from_fn(|h| odds(shares[h]) / odds(p_bar));
        (
            DailyClock::new(std::array::from_fn(|h| rho[h].sqrt().recip()), utc_offset_h),
            DailyClock::new(std::array::from_fn(|h| rho[h].sqrt()), utc_offset_h),
        )
    }

    /// The local hour of day at simulated time `t`.
    pub fn hour(&self, t: Time) -> usize {
        (((t + self.offset) % DAY) / HOUR) as usize
    }

    /// The speed at simulated time `t` (for the tests: the engine only advances clocks).
    #[cfg(test)]
    fn speed_at(&self, t: Time) -> f64 {
        self.speed[self.hour(t)]
    }

    /// The simulated time at which `op` operational ticks have passed since `t0`: at least
    /// `t0 + 1` when `op` is positive, so that a process always moves forward.
    pub fn advance(&self, t0: Time, op: u64) -> Time {
        if op == 0 {
            return t0;
        }
        let local = t0 + self.offset;
        let (day, x) = (local / DAY, local % DAY);
        let h = (x / HOUR) as usize;
        // Where in the day's operational time `t0` is, and where the end is.
        let target = self.cum[h] + self.speed[h] * (x - h as u64 * HOUR) as f64 + op as f64;
        let whole_days = (target / self.cum[24]).floor();
        let rem = target - whole_days * self.cum[24];
        // The hour in which the remainder falls (hours of speed 0 are never the answer).
        let k = (0..24).find(|&k| self.cum[k + 1] >= rem && self.speed[k] > 0.0).unwrap_or(23);
        let within = ((rem - self.cum[k]) / self.speed[k].max(f64::MIN_POSITIVE)).clamp(0.0, HOUR as f64);
        let end = (day as f64 + whole_days) * DAY as f64 + (k as u64 * HOUR) as f64 + within;
        (crate::units::round_u64(end).saturating_sub(self.offset)).max(t0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_clock_is_the_identity() {
        let c = DailyClock::new([1.0; 24], 0);
        for (t0, op) in [(0, 1), (5, 7 * HOUR), (3 * DAY + 17, 2 * DAY + 3)] {
            assert_eq!(c.advance(t0, op), t0 + op);
        }
    }

    #[test]
    fn a_double_speed_hour_takes_half_the_time_and_a_stopped_hour_is_skipped() {
        let mut speed = [1.0; 24];
        speed[1] = 2.0;
        speed[2] = 0.0;
        let c = DailyClock::new(speed, 0);
        // From 01:00, one operational hour takes half an hour.
        assert_eq!(c.advance(HOUR, HOUR), HOUR + HOUR / 2);
        // From 01:30, 01:30-02:00 gives one operational hour; the stopped hour gives none, so
        // one more tick lands after 03:00.
        assert_eq!(c.advance(HOUR + HOUR / 2, HOUR), 2 * HOUR);
        assert!(c.advance(HOUR + HOUR / 2, HOUR + 10) > 3 * HOUR);
        // A whole operational day is a whole simulated day, from anywhere.
        let day_op = (22.0 * HOUR as f64 + 2.0 * HOUR as f64) as u64;
        assert_eq!(c.advance(5 * HOUR + 3, day_op), DAY + 5 * HOUR + 3);
    }

    #[test]
    fn the_offset_shifts_local_hours() {
        let mut speed = [1.0; 24];
        speed[0] = 3.0;
        let c = DailyClock::new(speed, 2);
        // Simulated 22:00 is local midnight.
        assert_eq!(c.hour(22 * HOUR), 0);
        assert_eq!(c.speed_at(22 * HOUR + 1), 3.0);
        assert_eq!(c.advance(22 * HOUR, 3 * HOUR), 23 * HOUR);
        let west = DailyClock::new(speed, -5);
        assert_eq!(west.hour(5 * HOUR), 0);
    }

    #[test]
    fn presence_clocks_set_the_odds_of_the_profile() {
        // Stationary share 0.5; a profile of 0.8 means online periods 2x longer than offline.
        let (on, off) = DailyClock::presence(&[0.8; 24], 0.5, 0);
        let (a, b) = (on.speed_at(0), off.speed_at(0));
        assert!(((1.0 / a) / (1.0 / b) - 4.0).abs() < 1e-12, "odds 4 of 0.8 over odds 1 of 0.5");
        assert!((a * b - 1.0).abs() < 1e-12, "the two clocks move in opposite directions");
    }
}
