//! Deadlines that all run for the same duration (Timer B and F, 64·T1; a class's registration
//! expiry; the refresh interval): they expire in the order they were set, so a FIFO with one
//! armed engine timer replaces one pending event per transaction. Most such timers never fire
//! (the response comes first); here an answered transaction costs nothing but its entry, which
//! the owner recognises as stale (by generation) when its deadline passes.

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

    /// The owner's timer fired at `now`: appends the keys that are due to `due` (the owner
    /// checks whether each still matters) and returns when to arm the timer next, if at all.
    pub fn expire(&mut self, now: Time, due: &mut Vec<K>) -> Option<Time> {
        self.armed = false;
        while let Some(&(t, k)) = self.queue.front() {
            if t > now {
                break;
            }
            due.push(k);
            self.queue.pop_front();
        }
        let next = self.queue.front().map(|&(t, _)| t);
        self.armed = next.is_some();
        next
    }

    pub fn len(&self) -> usize {
        self.queue.len()
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
        assert_eq!(d.expire(10, &mut due), Some(12));
        assert_eq!(due, vec!['a']);
        due.clear();
        assert_eq!(d.expire(12, &mut due), None);
        assert_eq!(due, vec!['b', 'c']);
        assert_eq!(d.push(20, 'd'), Some(20), "re-armed after running dry");
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
    pub fn expire(&mut self, index: u16, now: Time, due: &mut Vec<K>) -> Option<Time> {
        self.lists.get_mut(index as usize).and_then(|(_, d)| d.expire(now, due))
    }

    /// Entries held (stale ones included).
    pub fn len(&self) -> usize {
        self.lists.iter().map(|(_, d)| d.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
