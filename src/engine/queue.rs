//! The pending-event set: events ordered by (time, sequence number), so that events scheduled
//! for the same instant run in the order they were scheduled. Payloads live in a slab; the
//! ordering structures hold 24-byte keys only.
//!
//! Two tiers, because ddsim's event mix is two populations: messages and service completions
//! due within milliseconds, and timers (presence changes, registration refreshes, TTLs,
//! retries) due minutes or days ahead. Keys due before `boundary` live in a binary heap; later
//! ones are appended, unsorted, to buckets of `width` ticks and enter the heap only when their
//! bucket comes due. The heap stays small and hot in cache; a far timer costs one append. The
//! order of events is exactly that of a single heap on (time, seq) — only the work differs.
//! (BENCHMARKS.md compares this with a plain binary heap on ddsim's own event stream.)

use super::Time;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

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

/// Width of a far bucket: 2^20 ticks, about one second of virtual time.
const WIDTH_BITS: u32 = 20;

pub struct EventQueue<E> {
    near: BinaryHeap<Key>,
    /// Keys with `time >= boundary`, by bucket (`time >> WIDTH_BITS`).
    far: BTreeMap<u64, Vec<Key>>,
    far_len: usize,
    /// Every key in `near` is due before this; every key in `far` at or after it.
    boundary: Time,
    spare: Vec<Vec<Key>>,
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
            far: BTreeMap::new(),
            far_len: 0,
            boundary: 1 << WIDTH_BITS,
            spare: Vec::new(),
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
            let spare = &mut self.spare;
            self.far.entry(time >> WIDTH_BITS).or_insert_with(|| spare.pop().unwrap_or_default()).push(key);
            self.far_len += 1;
        }
        let len = self.len();
        if len > self.peak {
            self.peak = len;
        }
    }

    /// Moves the earliest far bucket into the heap. Returns false if there is none.
    #[cold]
    fn refill(&mut self) -> bool {
        let Some((bucket, mut keys)) = self.far.pop_first() else { return false };
        self.boundary = (bucket + 1) << WIDTH_BITS;
        self.far_len -= keys.len();
        self.near.extend(keys.drain(..));
        self.spare.push(keys);
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
        self.near.len() + self.far_len
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
