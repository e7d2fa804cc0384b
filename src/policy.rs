//! Retry policies for deferred delivery (seed c) 2): "for any other SIP error responses it MAY
//! re-attempt the deferred delivery ... based on service provider policies") and the limits of
//! the deferred store.

use crate::engine::rng::Rng;
use crate::model::{Jitter, RetryPolicy, StorePolicy};
use rand::Rng as _;

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Re-attempt after this many ticks.
    After(u64),
    /// Stop re-attempting: the data stays stored until the next registration re-arms the
    /// policy, or its TTL expires. Counted as `delivery.sessions.gave_up`.
    GiveUp,
}

impl RetryPolicy {
    /// Decides the next step after `attempts` INVITEs (the first included) have failed.
    /// `prev_wait` is the previous wait (0 before the first retry), `elapsed` the time since the
    /// first INVITE of this delivery.
    pub fn next(&self, attempts: u32, prev_wait: u64, elapsed: u64, rng: &mut Rng) -> Retry {
        let (wait, max_attempts, give_up_after) = match self {
            RetryPolicy::None {} => return Retry::GiveUp,
            RetryPolicy::Fixed { interval, max_attempts, give_up_after } => (interval.0, *max_attempts, *give_up_after),
            RetryPolicy::Exponential { initial, factor, max_interval, max_attempts, jitter, give_up_after } => {
                let cap = max_interval.map(|m| m.0).unwrap_or(u64::MAX);
                let exp = attempts.saturating_sub(1).min(1000) as i32;
                let base = (initial.0 as f64 * factor.powi(exp)).min(cap as f64).max(1.0);
                let wait = match jitter {
                    Jitter::None => base,
                    // "Full jitter": uniform on [0, base].
                    Jitter::Full => rng.random_range(0.0..=base),
                    // "Equal jitter": half fixed, half uniform.
                    Jitter::Equal => base / 2.0 + rng.random_range(0.0..=base / 2.0),
                    // "Decorrelated jitter": uniform on [initial, 3 × previous wait], capped.
                    Jitter::Decorrelated => {
                        let lo = initial.0 as f64;
                        let hi = (prev_wait.max(initial.0) as f64 * 3.0).max(lo);
                        rng.random_range(lo..=hi).min(cap as f64)
                    }
                };
                (wait.round() as u64, *max_attempts, *give_up_after)
            }
        };
        if attempts >= max_attempts {
            return Retry::GiveUp;
        }
        if let Some(g) = give_up_after
            && elapsed + wait > g.0
        {
            return Retry::GiveUp;
        }
        Retry::After(wait.max(1))
    }
}

/// The store limits in the units the PF checks on every insertion.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    pub per_session: u64,
    pub per_user: u64,
    pub per_server: u64,
    pub per_session_bytes: u64,
    pub per_user_bytes: u64,
    pub per_server_bytes: u64,
    pub drop_oldest: bool,
    pub ttl: Option<u64>,
}

impl From<&StorePolicy> for StoreLimits {
    fn from(s: &StorePolicy) -> Self {
        let lim = |v: Option<u64>| v.unwrap_or(u64::MAX);
        StoreLimits {
            per_session: lim(s.per_session.map(u64::from)),
            per_user: lim(s.per_user.map(u64::from)),
            per_server: lim(s.per_server),
            per_session_bytes: lim(s.per_session_bytes.map(|b| b.0)),
            per_user_bytes: lim(s.per_user_bytes.map(|b| b.0)),
            per_server_bytes: lim(s.per_server_bytes.map(|b| b.0)),
            drop_oldest: s.overflow == crate::model::Overflow::DropOldest,
            ttl: s.ttl.map(|t| t.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{Stream, stream};
    use crate::units::{Duration, HOUR, MIN, SEC};

    fn rng() -> Rng {
        stream(1, Stream::Retry, 0)
    }

    #[test]
    fn dd11_exponential_backoff_without_jitter_doubles_to_the_cap() {
        let p = RetryPolicy::Exponential {
            initial: Duration(30 * SEC),
            factor: 2.0,
            max_interval: Some(Duration(2 * MIN)),
            max_attempts: 6,
            jitter: Jitter::None,
            give_up_after: None,
        };
        let waits: Vec<Retry> = (1..=6).map(|a| p.next(a, 0, 0, &mut rng())).collect();
        let s = SEC;
        assert_eq!(
            waits,
            vec![
                Retry::After(30 * s),
                Retry::After(60 * s),
                Retry::After(120 * s),
                Retry::After(120 * s),
                Retry::After(120 * s),
                Retry::GiveUp
            ]
        );
    }

    #[test]
    fn dd11_max_attempts_counts_the_first_invite() {
        let p = RetryPolicy::Fixed { interval: Duration(5 * MIN), max_attempts: 1, give_up_after: None };
        assert_eq!(p.next(1, 0, 0, &mut rng()), Retry::GiveUp);
        let p = RetryPolicy::Fixed { interval: Duration(5 * MIN), max_attempts: 3, give_up_after: None };
        assert_eq!(p.next(2, 0, 0, &mut rng()), Retry::After(5 * MIN));
        assert_eq!(p.next(3, 0, 0, &mut rng()), Retry::GiveUp);
    }

    #[test]
    fn dd11_give_up_after_bounds_total_time() {
        let p =
            RetryPolicy::Fixed { interval: Duration(HOUR), max_attempts: 100, give_up_after: Some(Duration(90 * MIN)) };
        assert_eq!(p.next(1, 0, 0, &mut rng()), Retry::After(HOUR));
        assert_eq!(p.next(2, HOUR, HOUR, &mut rng()), Retry::GiveUp);
        assert_eq!(RetryPolicy::None {}.next(1, 0, 0, &mut rng()), Retry::GiveUp);
    }

    #[test]
    fn jittered_waits_stay_in_their_ranges() {
        let mk = |jitter| RetryPolicy::Exponential {
            initial: Duration(10 * SEC),
            factor: 2.0,
            max_interval: Some(Duration(10 * MIN)),
            max_attempts: 100,
            jitter,
            give_up_after: None,
        };
        let mut r = rng();
        for attempt in 1..8u32 {
            let base = (10 * SEC * (1 << (attempt - 1))).min(10 * MIN);
            for _ in 0..200 {
                let Retry::After(w) = mk(Jitter::Full).next(attempt, 0, 0, &mut r) else { panic!() };
                assert!(w <= base);
                let Retry::After(w) = mk(Jitter::Equal).next(attempt, 0, 0, &mut r) else { panic!() };
                assert!(w >= base / 2 && w <= base);
                let Retry::After(w) = mk(Jitter::Decorrelated).next(attempt, base, 0, &mut r) else { panic!() };
                assert!(w >= 10 * SEC && w <= (3 * base).min(10 * MIN));
            }
        }
    }
}
