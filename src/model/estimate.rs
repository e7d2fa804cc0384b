//! A pre-flight estimate of what a run of a model will cost: peak memory and events, from the
//! model's structure alone, before anything is built. `ddsim run` refuses a model whose
//! estimate does not fit in the machine's available memory; `ddsim check` prints it.
//!
//! Memory is the sum of what the structure holds (bytes per user and per group membership,
//! measured at virtual time 0 with `--set horizon=1s`), what the deferred stores hold at their
//! fullest, what grows with simulated time per user and with traffic. The coefficients were
//! fitted by non-negative least squares to the peak RSS of ten runs of the shipped models and
//! variants, three of them stopped at time 0 (BENCHMARKS.md, issue 15), which they reproduce
//! within 10%. The stores' content is the expected number of stored items: per membership of a user
//! who can be offline, the probability of being offline times the expected items its group
//! sent during the current absence so far, capped by the per-session limit and the TTL; the
//! age of an absence in progress follows the equilibrium (length-biased) law of the offline
//! periods, and from empty stores it cannot exceed the horizon. That expectation is taken by
//! sampling (a fixed seed, so the estimate is a function of the model).
//!
//! Events: each message copy to a recipient, each presence change and each registration
//! refresh costs a number of events measured on the shipped models.

use super::{MessageRate, Model, Start};
use crate::dist::Sampler;
use crate::units::SEC;
use rand::SeedableRng;

/// Bytes of a process before any model is built (code, tables, allocator).
const BASE_BYTES: f64 = 6e6;
/// Bytes per user at time 0: client, S-CSCF binding, PF user state, random streams, its
/// first pending events.
const BYTES_PER_USER: f64 = 446.0;
/// Bytes per group membership: PF per-membership state, CF member entry, the lists.
const BYTES_PER_MEMBERSHIP: f64 = 153.0;
/// Bytes per stored item at the peak, with what a stored item brings along (its pending
/// notifications, its session queue's buffer): from empty stores, and from a steady-state
/// start.
const BYTES_PER_ITEM_EMPTY: f64 = 147.0;
const BYTES_PER_ITEM_STEADY: f64 = 167.0;
/// Bytes per user per simulated day that accumulate beyond the stores (dialog and transport
/// state reached on first use), up to the first day.
const BYTES_PER_USER_DAY: f64 = 185.0;
/// Bytes per message copy delivered over the run (buffers that grow with traffic).
const BYTES_PER_COPY: f64 = 0.2;
/// Events per message copy to a recipient (CF fan-out, PF, MSRP SEND and its 200, IMDNs).
const EVENTS_PER_COPY: f64 = 21.6;
/// Events per presence change of a user (REGISTER, 3rd-party REGISTER, NOTIFY, deferred
/// delivery sessions, re-joins).
const EVENTS_PER_PRESENCE_CHANGE: f64 = 52.0;
/// Events per registration refresh.
const EVENTS_PER_REFRESH: f64 = 8.0;
/// Samples of an absence's age per user class.
const SAMPLES: usize = 4096;

/// What a run of a model is expected to cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub users: f64,
    pub memberships: f64,
    /// Expected items in the deferred stores at their fullest.
    pub stored_items: f64,
    /// Expected peak resident memory, bytes.
    pub peak_bytes: f64,
    /// Expected events over the horizon.
    pub events: f64,
}

fn mean_of(d: &Sampler) -> f64 {
    let m = d.mean();
    if m.is_finite() { m } else { 0.0 }
}

/// The estimate for a validated model.
pub fn estimate(model: &Model) -> Estimate {
    let horizon_s = model.horizon.secs_f64();
    let users: f64 = model.population.iter().map(|c| c.users as f64).sum();
    let groups = model.groups.count as f64;
    // Members per group, by class.
    let members_of = |class: &str| -> f64 {
        model
            .groups
            .members
            .iter()
            .filter(|m| m.class == class)
            .map(|m| m.count.compile().map(|s| mean_of(&s)).unwrap_or(0.0))
            .sum()
    };
    let per_group: f64 = model.population.iter().map(|c| members_of(&c.class)).sum();
    let memberships = groups * per_group;
    let group_rate = match &model.groups.message_rate {
        MessageRate::Rate(r) => r.0,
        MessageRate::Gaps(d) => {
            d.compile().map(|s| mean_of(&s)).map_or(0.0, |m| if m > 0.0 { SEC as f64 / m } else { 0.0 })
        }
    };
    let messages = groups * group_rate * horizon_s;
    let copies = messages * (per_group - 1.0).max(0.0);

    let per_session = model.policy.store.per_session.map_or(f64::INFINITY, f64::from);
    let ttl_s = model.policy.store.ttl.map_or(f64::INFINITY, |d| d.secs_f64());
    let age_cap_s = match model.start {
        Start::Empty => horizon_s.min(ttl_s),
        _ => ttl_s,
    };
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x6573_7469_6d61_7465);
    let (mut stored_items, mut presence_changes) = (0.0, 0.0);
    for class in model.population.iter().filter(|c| !c.always_online) {
        let (Ok(on), Ok(off)) = (class.online.compile(), class.offline.compile()) else { continue };
        let (on_s, off_s) = (mean_of(&on) / SEC as f64, mean_of(&off) / SEC as f64);
        if on_s + off_s <= 0.0 {
            continue;
        }
        presence_changes += class.users as f64 * 2.0 * horizon_s / (on_s + off_s);
        let p_off = off_s / (on_s + off_s);
        let mut sum = 0.0;
        for _ in 0..SAMPLES {
            let age_s = rand::Rng::random::<f64>(&mut rng) * off.sample_length_biased(&mut rng) / SEC as f64;
            sum += (group_rate * age_s.min(age_cap_s)).min(per_session);
        }
        stored_items += groups * members_of(&class.class) * p_off * sum / SAMPLES as f64;
    }
    let refreshes: f64 =
        model.population.iter().map(|c| c.users as f64 * horizon_s / c.registration_expiry.secs_f64().max(1.0)).sum();
    let days = (horizon_s / 86_400.0).min(1.0);
    let per_item = match model.start {
        Start::Empty => BYTES_PER_ITEM_EMPTY,
        _ => BYTES_PER_ITEM_STEADY,
    };
    let peak_bytes = BASE_BYTES
        + users * (BYTES_PER_USER + BYTES_PER_USER_DAY * days)
        + memberships * BYTES_PER_MEMBERSHIP
        + stored_items * per_item
        + copies * BYTES_PER_COPY;
    let events =
        copies * EVENTS_PER_COPY + presence_changes * EVENTS_PER_PRESENCE_CHANGE + refreshes * EVENTS_PER_REFRESH;
    Estimate { users, memberships, stored_items, peak_bytes, events }
}
