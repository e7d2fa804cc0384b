//! The pending-event set: events ordered by (time, sequence number), so that events scheduled
//! for the same instant run in the order they were scheduled. Payloads live in a slab; the
//! ordering structures hold 24-byte keys only.
//!
//! Two tiers, because ddsim's event mix is two populations: messages and service completions
//! due within milliseconds, and timers (presence changes, registration refreshes, TTLs,
//! retries) due minutes or days ahead. Keys due before `boundary` (the end of the current
//! one-second slot) live in a small binary heap that stays hot in cache; later ones wait in a
//! second heap and move over a slot at a time. Most events are pushed to and popped from the
//! small heap only. The order of events is exactly that of a single heap on (time, seq) — only
//! the work differs.
//! (BENCHMARKS.md compares this with a plain binary heap on ddsim's own event stream.)

use super::Time;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub time: Time,
    pub seq: u64,
    pub slot: u32,
}

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) is on top.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}
impl PartialOrd for Key {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Width of a slot: 2^20 ticks, about one second of virtual time.
const WIDTH_BITS: u32 = 20;

pub struct EventQueue<E> {
    near: BinaryHeap<Key>,
    /// Keys with `time >= boundary`.
    far: BinaryHeap<Key>,
    /// Every key in `near` is due before this; every key in `far` at or after it.
    boundary: Time,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
    peak: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            near: BinaryHeap::new(),
            far: BinaryHeap::new(),
            boundary: 1 << WIDTH_BITS,
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            peak: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, time: Time, event: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(event);
                s
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        let key = Key { time, seq: self.seq, slot };
        self.seq += 1;
        if time < self.boundary {
            self.near.push(key);
        } else {
            self.far.push(key);
        }
        let len = self.len();
        if len > self.peak {
            self.peak = len;
        }
    }

    /// Moves the next slot's keys from the far heap to the near one. Returns false if there
    /// are none.
    #[cold]
    fn refill(&mut self) -> bool {
        let Some(first) = self.far.peek() else { return false };
        self.boundary = ((first.time >> WIDTH_BITS) + 1) << WIDTH_BITS;
        while let Some(k) = self.far.peek() {
            if k.time >= self.boundary {
                break;
            }
            self.near.push(self.far.pop().expect("peeked"));
        }
        true
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        while self.near.is_empty() {
            if !self.refill() {
                return None;
            }
        }
        let k = self.near.pop()?;
        let e = self.slots[k.slot as usize].take().expect("every key has a payload");
        self.free.push(k.slot);
        Some((k.time, e))
    }

    /// Time of the earliest event.
    pub fn peek_time(&mut self) -> Option<Time> {
        while self.near.is_empty() {
            if !self.refill() {
                return None;
            }
        }
        self.near.peek().map(|k| k.time)
    }

    pub fn len(&self) -> usize {
        self.near.len() + self.far.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Largest number of pending events seen.
    pub fn peak(&self) -> usize {
        self.peak
    }
    /// Events scheduled so far.
    pub fn scheduled(&self) -> u64 {
        self.seq
    }
}

/// The plain alternative: one binary heap of keys, for comparison in benchmarks.
pub struct HeapQueue<E> {
    heap: BinaryHeap<Key>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for HeapQueue<E> {
    fn default() -> Self {
        HeapQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), seq: 0 }
    }
}

impl<E> HeapQueue<E> {
    #[inline]
    pub fn push(&mut self, time: Time, event: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(event);
                s
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Key { time, seq: self.seq, slot });
        self.seq += 1;
    }
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        let k = self.heap.pop()?;
        let e = self.slots[k.slot as usize].take().expect("every key has a payload");
        self.free.push(k.slot);
        Some((k.time, e))
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn pops_in_time_order_and_fifo_at_equal_times() {
        let mut q = EventQueue::new();
        q.push(30, "c");
        q.push(10, "a1");
        q.push(20, "b");
        q.push(10, "a2");
        q.push(10, "a3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(10, "a1"), (10, "a2"), (10, "a3"), (20, "b"), (30, "c")]);
        assert_eq!(q.peak(), 5);
    }

    #[test]
    fn two_tiers_give_exactly_the_order_of_one_heap() {
        // Random holds with near and far increments, many equal times: the same sequence of
        // (time, payload) as the single heap.
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let (mut a, mut b) = (EventQueue::new(), HeapQueue::default());
        let mut now = 0u64;
        for i in 0..2000u64 {
            let t = rng.random_range(0..5_000_000u64) / 1000 * 1000;
            a.push(t, i);
            b.push(t, i);
        }
        for i in 2000..200_000u64 {
            let (ta, ea) = a.pop().unwrap();
            let (tb, eb) = b.pop().unwrap();
            assert_eq!((ta, ea), (tb, eb));
            assert!(ta >= now);
            now = ta;
            let d = match rng.random_range(0..10) {
                0 => rng.random_range(0..100_000_000_000u64),
                1..=3 => rng.random_range(0..3) * 1000,
                _ => rng.random_range(0..2_000_000u64),
            };
            a.push(now + d, i);
            b.push(now + d, i);
        }
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::new();
        for i in 0..100u64 {
            q.push(i, i);
            assert_eq!(q.pop(), Some((i, i)));
        }
        assert_eq!(q.slots.len(), 1);
    }
}
