//! Deadlines that all run for the same duration (Timer B and F, 64·T1; a class's registration
//! expiry; the refresh interval): they expire in the order they were set, so a FIFO with one
//! armed engine timer replaces one pending event per transaction. Most such timers never fire
//! (the response comes first); here an answered transaction costs nothing but its entry. When
//! the list's timer fires, the owner says which entries still matter (`live`): stale ones at the
//! head of the list are dropped then and there, so the timer is armed only for a deadline that
//! may still fire. Staleness must be for good (a generation that has moved on never comes back).

use super::Time;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct Deadlines<K> {
    queue: VecDeque<(Time, K)>,
    armed: bool,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines { queue: VecDeque::new(), armed: false }
    }
}

impl<K: Copy> Deadlines<K> {
    /// Adds a deadline, no earlier than the last one added. Returns the time to arm the
    /// owner's timer at, if it is not armed already.
    #[inline]
    pub fn push(&mut self, at: Time, key: K) -> Option<Time> {
        debug_assert!(self.queue.back().is_none_or(|b| b.0 <= at), "deadlines must be added in order");
        self.queue.push_back((at, key));
        if self.armed {
            None
        } else {
            self.armed = true;
            Some(at)
        }
    }

    /// The owner's timer fired at `now`: appends the keys that are due and still `live` to
    /// `due`, drops the stale keys that follow them, and returns when to arm the timer next,
    /// if at all.
    pub fn expire(&mut self, now: Time, due: &mut Vec<K>, mut live: impl FnMut(&K) -> bool) -> Option<Time> {
        self.armed = false;
        while let Some(&(t, k)) = self.queue.front() {
            if t > now && live(&k) {
                break;
            }
            self.queue.pop_front();
            if t <= now && live(&k) {
                due.push(k);
            }
        }
        let next = self.queue.front().map(|&(t, _)| t);
        self.armed = next.is_some();
        next
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_armed_timer_serves_every_deadline_in_order() {
        let mut d = Deadlines::default();
        assert_eq!(d.push(10, 'a'), Some(10));
        assert_eq!(d.push(12, 'b'), None);
        assert_eq!(d.push(12, 'c'), None);
        let mut due = vec![];
        assert_eq!(d.expire(10, &mut due, |_| true), Some(12));
        assert_eq!(due, vec!['a']);
        due.clear();
        assert_eq!(d.expire(12, &mut due, |_| true), None);
        assert_eq!(due, vec!['b', 'c']);
        assert_eq!(d.push(20, 'd'), Some(20), "re-armed after running dry");
    }

    #[test]
    fn stale_deadlines_are_skipped_and_never_fire() {
        // 'x' entries are answered transactions: the timer is armed past them.
        let mut d = Deadlines::default();
        for (t, k) in [(10, 'a'), (11, 'x'), (12, 'x'), (13, 'b'), (14, 'x'), (15, 'x')] {
            d.push(t, k);
        }
        let live = |k: &char| *k != 'x';
        let mut due = vec![];
        assert_eq!(d.expire(10, &mut due, live), Some(13), "armed for b, not for the stale 11 and 12");
        assert_eq!(due, vec!['a']);
        due.clear();
        assert_eq!(d.expire(13, &mut due, live), None, "nothing live is left");
        assert_eq!(due, vec!['b']);
        assert!(d.is_empty());
    }
}

/// Deadline lists by duration: one FIFO per distinct duration (there are a handful: 64·T1,
/// each class's registration expiry and refresh interval).
#[derive(Clone, Debug)]
pub struct DeadlineSet<K> {
    lists: Vec<(u64, Deadlines<K>)>,
}

impl<K> Default for DeadlineSet<K> {
    fn default() -> Self {
        DeadlineSet { lists: Vec::new() }
    }
}

impl<K: Copy> DeadlineSet<K> {
    /// Adds `key`, due `duration` after `now`. Returns (time, list index) to arm a timer for,
    /// if that list's timer is not armed already.
    #[inline]
    pub fn after(&mut self, now: Time, duration: u64, key: K) -> Option<(Time, u16)> {
        let i = match self.lists.iter().position(|(d, _)| *d == duration) {
            Some(i) => i,
            None => {
                self.lists.push((duration, Deadlines::default()));
                self.lists.len() - 1
            }
        };
        self.lists[i].1.push(now + duration, key).map(|t| (t, i as u16))
    }

    /// List `index`'s timer fired at `now`: see `Deadlines::expire`.
    pub fn expire(&mut self, index: u16, now: Time, due: &mut Vec<K>, live: impl FnMut(&K) -> bool) -> Option<Time> {
        self.lists.get_mut(index as usize).and_then(|(_, d)| d.expire(now, due, live))
    }
}
