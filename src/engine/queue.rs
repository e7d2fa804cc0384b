//! The pending-event set: events ordered by (time, sequence number), so that events scheduled
//! for the same instant run in the order they were scheduled. Payloads live in a slab; the
//! ordering structures hold 16-byte keys only.
//!
//! `EventQueue`, the engine's, is a calendar queue, because ddsim's event mix is two
//! populations: messages and service completions due within milliseconds, and timers (presence
//! changes, answer delays, IMDN timers, retries, TTLs) due seconds to days ahead. Keys are
//! appended, unsorted, to the bucket of their fine slot of 33 ms (a ring of 4096, spanning one
//! 134 s coarse slot) or of their coarse slot (a ring of 4096, spanning 6.4 days), or beyond that
//! to an overflow heap, as in a hierarchical timing wheel; a coarse bucket is spread over the fine
//! ring when its slot comes due, and a fine bucket, when its slot does, is sorted once and becomes
//! the *run*, taken in order. Keys scheduled into the current fine slot after that (messages and
//! service completions, mostly) go to a small binary heap that stays hot in cache, and each pop
//! takes the earlier of the run's next key and the heap's top. A far timer thus costs a few
//! appends and its share of one sort of a few hundred keys, where one big heap costs two descents
//! through millions of keys, each level a cache miss; and since the run is in order, the payload
//! of the event a few pops ahead is known and asked for early (a far timer's payload was written
//! long ago and is no longer in cache). The order of events is exactly that of a single heap on
//! (time, seq): only the work differs.
//!
//! The alternatives it was measured against (BENCHMARKS.md, `cargo bench --bench engine`) are
//! kept here, behind the same `PendingEvents` trait, so that whole runs can be timed with each.

use super::Time;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A pending event's place in the order: its time, then its scheduling sequence number, with
/// the payload's slab slot packed below the sequence number (16 bytes, four to a cache line).
/// Sequence numbers are unique, so the slot bits never decide an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub time: Time,
    order: u64,
}

/// Bits of `Key::order` for the slot: up to 2^28 (268 million) pending events; the other 36
/// bits number 2^36 (69 billion) events scheduled in one run.
const SLOT_BITS: u32 = 28;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const MAX_SEQ: u64 = (1 << (64 - SLOT_BITS)) - 1;

impl Key {
    #[inline]
    fn slot(self) -> usize {
        (self.order & SLOT_MASK) as usize
    }
    /// The key's place among the keys of its fine slot, in one word: its time within the slot
    /// (`FINE_BITS`), then its sequence number (36 bits). The keys of one slot share the
    /// time's higher bits, so this orders them as (time, seq) does, with one comparison in
    /// place of two.
    #[inline]
    fn in_slot(self) -> u64 {
        (self.time & ((1 << FINE_BITS) - 1)) << (64 - SLOT_BITS) | self.order >> SLOT_BITS
    }
}

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // The heaps are max-heaps: reverse so the earliest (time, seq) is on top.
        (other.time, other.order).cmp(&(self.time, self.order))
    }
}
impl PartialOrd for Key {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A pending-event set: the engine is generic over it so that implementations can be compared
/// on ddsim's own runs. Every implementation pops in (time, scheduling order).
pub trait PendingEvents<E>: Default {
    fn push(&mut self, time: Time, event: E);
    /// Removes and returns the earliest event.
    fn pop(&mut self) -> Option<(Time, E)>;
    /// Time of the earliest event.
    fn peek_time(&mut self) -> Option<Time>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Largest number of pending events seen.
    fn peak(&self) -> usize;
    /// Makes room for `n` pending events at once, where the set would otherwise grow as they
    /// come (a hint: the room is address space, and memory only once used).
    fn reserve(&mut self, _n: usize) {}
    /// The payload of the earliest event, if the set can tell it cheaply: for prefetching the
    /// state it will touch, never for deciding anything.
    fn upcoming(&self) -> Option<&E> {
        None
    }
}

/// Payloads by slot, with a free list (LIFO, so a freed slot, warm in cache, is reused first),
/// and the sequence numbers and peak count every implementation needs.
struct Slab<E> {
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
    live: usize,
    peak: usize,
}

impl<E> Default for Slab<E> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), seq: 0, live: 0, peak: 0 }
    }
}

impl<E> Slab<E> {
    #[inline]
    fn insert(&mut self, time: Time, event: E) -> Key {
        let slot = match self.free.pop() {
            Some(s) => {
                let place = &mut self.slots[s as usize];
                debug_assert!(place.is_none(), "a free slot holds no payload");
                // SAFETY: `place` is a valid, aligned, exclusive reference. `ptr::write` does
                // not drop the old value, which is `None` for a free slot (so nothing leaks):
                // an assignment would load the slot's discriminant first to drop it, and that
                // load is a cache miss whenever the slot was freed long ago, where a store
                // retires without waiting for the line.
                unsafe { std::ptr::write(place, Some(event)) };
                // The next slot to fill was freed who knows when: start loading it now, so
                // that filling it does not wait.
                if let Some(&next) = self.free.last() {
                    self.warm_slot(next as usize);
                }
                s
            }
            None => {
                // Only a new slot can outgrow the key's slot bits.
                assert!(self.slots.len() as u64 <= SLOT_MASK, "more pending events than the queue's keys can number");
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        assert!(self.seq <= MAX_SEQ, "more events scheduled than the queue's keys can number");
        let key = Key { time, order: self.seq << SLOT_BITS | slot as u64 };
        self.seq += 1;
        self.live += 1;
        if self.live > self.peak {
            self.peak = self.live;
        }
        key
    }

    /// Loads the payloads of `keys` into the cache ahead of their use. The loads are
    /// independent, so the processor overlaps their misses, where popping the events one by
    /// one would wait for each miss in turn (a far timer's payload was written long ago).
    fn warm(&self, keys: &[Key]) {
        for k in keys {
            self.warm_slot(k.slot());
        }
    }

    /// Starts loading slot `i` (both cache lines a payload spans).
    #[inline]
    fn warm_slot(&self, i: usize) {
        super::prefetch(&self.slots[i]);
    }

    #[inline]
    fn remove(&mut self, k: Key) -> (Time, E) {
        let e = self.slots[k.slot()].take().expect("every key has a payload");
        self.free.push(k.slot() as u32);
        self.live -= 1;
        (k.time, e)
    }
}

/// A bucketed level of the calendar: `1 << RING_BITS` buckets of unsorted keys and a bitmap
/// of the occupied ones.
const RING_BITS: u32 = 12;
const RING: u64 = 1 << RING_BITS;
const RING_MASK: u64 = RING - 1;

/// The largest vector (in keys) kept for reuse when its bucket empties.
const SPARE_MAX: usize = 1 << 10;

struct Ring {
    buckets: Vec<Vec<Key>>,
    occupied: [u64; (RING / 64) as usize],
    len: usize,
    /// Emptied buckets' vectors, reused by the next bucket to fill: a coarse bucket comes
    /// round only every 6.4 days, and keeping its capacity until then would hold memory in
    /// proportion to every key ever scheduled rather than to those pending.
    spare: Vec<Vec<Key>>,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            buckets: (0..RING).map(|_| Vec::new()).collect(),
            occupied: [0; (RING / 64) as usize],
            len: 0,
            spare: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, slot: u64, key: Key) {
        let i = (slot & RING_MASK) as usize;
        let bucket = &mut self.buckets[i];
        if bucket.capacity() == 0
            && let Some(v) = self.spare.pop()
        {
            *bucket = v;
        }
        bucket.push(key);
        self.occupied[i / 64] |= 1 << (i % 64);
        self.len += 1;
    }

    /// The first occupied slot at or after `cur`, if any (slots map to buckets modulo the
    /// ring's size; the caller keeps every slot it holds within `RING` of `cur`).
    fn next_occupied(&self, cur: u64) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let start = cur & RING_MASK;
        let words = self.occupied.len();
        let first = (start / 64) as usize;
        // The first word without the bits before `start`, every other word once, and the
        // first word again for the bits before `start` (wrapping around).
        for i in 0..=words {
            let w = (first + i) % words;
            let mut bits = self.occupied[w];
            if i == 0 {
                bits &= !0u64 << (start % 64);
            }
            if bits != 0 {
                let index = w as u64 * 64 + bits.trailing_zeros() as u64;
                return Some(cur + (index.wrapping_sub(start) & RING_MASK));
            }
        }
        unreachable!("a non-empty ring has an occupied bucket")
    }

    /// Empties the bucket of `slot` and returns its keys; give the vector back with `recycle`.
    fn take(&mut self, slot: u64) -> Vec<Key> {
        let i = (slot & RING_MASK) as usize;
        self.occupied[i / 64] &= !(1u64 << (i % 64));
        self.len -= self.buckets[i].len();
        std::mem::take(&mut self.buckets[i])
    }

    /// Keeps an emptied bucket's vector for reuse, unless it is large: a big coarse bucket's
    /// vector, reused by a fine bucket of a few hundred keys, would hold its memory for
    /// nothing, and every vector in the pool would in time grow to the largest bucket's size.
    fn recycle(&mut self, mut v: Vec<Key>) {
        if v.capacity() <= SPARE_MAX {
            v.clear();
            self.spare.push(v);
        }
    }
}

/// How many pops ahead in the run a payload is asked for.
const RUN_LEAD: usize = 4;

/// Fine slots: 2^15 ticks (33 ms); 4096 of them make one coarse slot (2^27 ticks, 134 s);
/// 4096 coarse slots span 6.4 days.
const FINE_BITS: u32 = 15;
// `Key::in_slot` packs a time within a fine slot and a sequence number into one word.
const _: () = assert!(FINE_BITS + (64 - SLOT_BITS) <= 64);
const COARSE_BITS: u32 = FINE_BITS + RING_BITS;

/// The engine's pending-event set: a calendar queue in the manner of a hierarchical timing
/// wheel (see the module documentation). Invariants, with `near` < `boundary` <= `fine` <
/// `fine_end` <= `coarse` < `fine_end + RING` coarse slots <= `overflow`:
/// - `run`: the keys of the last fine slot to come due, sorted, taken from `run_next` on;
/// - `near`: keys due before `boundary` scheduled since, a binary heap;
/// - `fine`: keys due in `[boundary, fine_end)`, by fine slot (`fine_end` ends a coarse slot);
/// - `coarse`: keys due in the next `RING` coarse slots from `fine_end`, by coarse slot;
/// - `overflow`: keys due later still, a binary heap (the rare timer days ahead).
pub struct EventQueue<E> {
    slab: Slab<E>,
    run: Vec<Key>,
    run_next: usize,
    near: BinaryHeap<Key>,
    boundary: Time,
    fine: Ring,
    fine_end: Time,
    coarse: Ring,
    overflow: BinaryHeap<Key>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            slab: Slab::default(),
            run: Vec::new(),
            run_next: 0,
            near: BinaryHeap::new(),
            boundary: 0,
            fine: Ring::new(),
            fine_end: 1 << COARSE_BITS,
            coarse: Ring::new(),
            overflow: BinaryHeap::new(),
        }
    }

    #[inline]
    fn place(&mut self, key: Key) {
        let t = key.time;
        if t < self.boundary {
            self.near.push(key);
        } else if t < self.fine_end {
            self.fine.push(t >> FINE_BITS, key);
        } else if (t >> COARSE_BITS) - (self.fine_end >> COARSE_BITS) < RING {
            self.coarse.push(t >> COARSE_BITS, key);
        } else {
            self.overflow.push(key);
        }
    }

    /// The earliest key of the run and the near heap, and whether it is the run's.
    #[inline]
    fn head(&self) -> Option<(Key, bool)> {
        match (self.run.get(self.run_next), self.near.peek()) {
            // `Key`'s order is reversed (the heaps are max-heaps): greater is earlier.
            (Some(&a), Some(&b)) => Some(if a > b { (a, true) } else { (b, false) }),
            (Some(&a), None) => Some((a, true)),
            (None, Some(&b)) => Some((b, false)),
            (None, None) => None,
        }
    }

    /// `head`, refilling the run from the rings when both are empty; None if no key is left.
    #[inline]
    fn head_refilled(&mut self) -> Option<(Key, bool)> {
        loop {
            if let Some(h) = self.head() {
                return Some(h);
            }
            if !self.refill() {
                return None;
            }
        }
    }

    /// Makes the next occupied fine slot's keys the run (sorted), first spreading the next
    /// occupied coarse slot over the fine ring when it is empty. Returns false if no key is left.
    #[cold]
    fn refill(&mut self) -> bool {
        loop {
            if let Some(slot) = self.fine.next_occupied(self.boundary >> FINE_BITS) {
                let mut keys = self.fine.take(slot);
                keys.sort_unstable_by_key(|k| k.in_slot());
                self.slab.warm(&keys[..keys.len().min(RUN_LEAD)]);
                let done = std::mem::replace(&mut self.run, keys);
                self.run_next = 0;
                if done.capacity() > 0 {
                    self.fine.recycle(done);
                }
                self.boundary = (slot + 1) << FINE_BITS;
                return true;
            }
            let from = self.fine_end >> COARSE_BITS;
            let ring_next = self.coarse.next_occupied(from);
            let overflow_next = self.overflow.peek().map(|k| k.time >> COARSE_BITS);
            let next = match (ring_next, overflow_next) {
                (None, None) => return false,
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
            };
            self.boundary = next << COARSE_BITS;
            self.fine_end = (next + 1) << COARSE_BITS;
            if ring_next == Some(next) {
                let keys = self.coarse.take(next);
                for &k in &keys {
                    self.fine.push(k.time >> FINE_BITS, k);
                }
                self.coarse.recycle(keys);
            }
            while self.overflow.peek().is_some_and(|k| k.time >> COARSE_BITS == next) {
                let k = self.overflow.pop().expect("peeked");
                self.fine.push(k.time >> FINE_BITS, k);
            }
        }
    }
}

impl<E> PendingEvents<E> for EventQueue<E> {
    #[inline]
    fn push(&mut self, time: Time, event: E) {
        let key = self.slab.insert(time, event);
        self.place(key);
    }

    #[inline]
    fn pop(&mut self) -> Option<(Time, E)> {
        let (k, from_run) = self.head_refilled()?;
        if from_run {
            self.run_next += 1;
            // The run is in order: the event `RUN_LEAD` pops ahead is known, so its payload
            // gets that long to arrive.
            if let Some(ahead) = self.run.get(self.run_next + RUN_LEAD - 1) {
                self.slab.warm_slot(ahead.slot());
            }
        } else {
            self.near.pop();
            // The event after next is one of the new root's two children: start loading both
            // payloads, so that the next pop finds its event's (see `upcoming`) in cache.
            let near = self.near.as_slice();
            for c in near.iter().skip(1).take(2) {
                self.slab.warm_slot(c.slot());
            }
        }
        Some(self.slab.remove(k))
    }

    fn peek_time(&mut self) -> Option<Time> {
        self.head_refilled().map(|(k, _)| k.time)
    }

    fn len(&self) -> usize {
        self.slab.live
    }
    fn peak(&self) -> usize {
        self.slab.peak
    }
    fn reserve(&mut self, n: usize) {
        self.slab.slots.reserve_exact(n.saturating_sub(self.slab.slots.len()));
    }
    #[inline]
    fn upcoming(&self) -> Option<&E> {
        self.head().and_then(|(k, _)| self.slab.slots[k.slot()].as_ref())
    }
}

/// Alternative: one binary heap of keys (the hold floor's structure).
pub struct HeapQueue<E> {
    slab: Slab<E>,
    heap: BinaryHeap<Key>,
}

impl<E> Default for HeapQueue<E> {
    fn default() -> Self {
        HeapQueue { slab: Slab::default(), heap: BinaryHeap::new() }
    }
}

impl<E> PendingEvents<E> for HeapQueue<E> {
    #[inline]
    fn push(&mut self, time: Time, event: E) {
        let key = self.slab.insert(time, event);
        self.heap.push(key);
    }
    #[inline]
    fn pop(&mut self) -> Option<(Time, E)> {
        let k = self.heap.pop()?;
        Some(self.slab.remove(k))
    }
    fn peek_time(&mut self) -> Option<Time> {
        self.heap.peek().map(|k| k.time)
    }
    fn len(&self) -> usize {
        self.slab.live
    }
    fn peak(&self) -> usize {
        self.slab.peak
    }
}

/// Alternative: one 4-ary heap of keys (shallower than a binary heap, four children in one
/// cache line).
pub struct QuaternaryHeapQueue<E> {
    slab: Slab<E>,
    heap: dary_heap::QuaternaryHeap<Key>,
}

impl<E> Default for QuaternaryHeapQueue<E> {
    fn default() -> Self {
        QuaternaryHeapQueue { slab: Slab::default(), heap: dary_heap::QuaternaryHeap::new() }
    }
}

impl<E> PendingEvents<E> for QuaternaryHeapQueue<E> {
    #[inline]
    fn push(&mut self, time: Time, event: E) {
        let key = self.slab.insert(time, event);
        self.heap.push(key);
    }
    #[inline]
    fn pop(&mut self) -> Option<(Time, E)> {
        let k = self.heap.pop()?;
        Some(self.slab.remove(k))
    }
    fn peek_time(&mut self) -> Option<Time> {
        self.heap.peek().map(|k| k.time)
    }
    fn len(&self) -> usize {
        self.slab.live
    }
    fn peak(&self) -> usize {
        self.slab.peak
    }
}

/// Alternative: two binary heaps, a small one for the current one-second slot and a big one
/// beyond, refilled a slot at a time (the engine's queue before the calendar ring).
pub struct TwoHeapQueue<E> {
    slab: Slab<E>,
    near: BinaryHeap<Key>,
    far: BinaryHeap<Key>,
    boundary: Time,
}

impl<E> Default for TwoHeapQueue<E> {
    fn default() -> Self {
        TwoHeapQueue { slab: Slab::default(), near: BinaryHeap::new(), far: BinaryHeap::new(), boundary: 1 << 20 }
    }
}

impl<E> TwoHeapQueue<E> {
    fn refill(&mut self) -> bool {
        let Some(first) = self.far.peek() else { return false };
        self.boundary = ((first.time >> 20) + 1) << 20;
        while self.far.peek().is_some_and(|k| k.time < self.boundary) {
            self.near.push(self.far.pop().expect("peeked"));
        }
        true
    }
}

impl<E> PendingEvents<E> for TwoHeapQueue<E> {
    #[inline]
    fn push(&mut self, time: Time, event: E) {
        let key = self.slab.insert(time, event);
        if time < self.boundary { self.near.push(key) } else { self.far.push(key) }
    }
    #[inline]
    fn pop(&mut self) -> Option<(Time, E)> {
        while self.near.is_empty() {
            if !self.refill() {
                return None;
            }
        }
        let k = self.near.pop()?;
        Some(self.slab.remove(k))
    }
    fn peek_time(&mut self) -> Option<Time> {
        while self.near.is_empty() {
            if !self.refill() {
                return None;
            }
        }
        self.near.peek().map(|k| k.time)
    }
    fn len(&self) -> usize {
        self.slab.live
    }
    fn peak(&self) -> usize {
        self.slab.peak
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

    /// Random holds with near, far and very far increments (beyond the ring), many equal
    /// times: every implementation pops the same sequence of (time, payload) as one heap.
    fn same_order_as_one_heap<Q: PendingEvents<u64>>() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let (mut a, mut b) = (Q::default(), HeapQueue::default());
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
            let d = match rng.random_range(0..20) {
                // Up to 10 days: past the calendar's 6.4 days, into its overflow heap.
                0 => rng.random_range(0..864_000_000_000u64),
                1 => rng.random_range(0..3_600_000_000u64),
                2..=5 => rng.random_range(0..3) * 1000,
                _ => rng.random_range(0..2_000_000u64),
            };
            a.push(now + d, i);
            b.push(now + d, i);
            assert_eq!(a.len(), b.len());
        }
        while let Some(x) = b.pop() {
            assert_eq!(a.pop(), Some(x));
        }
        assert!(a.is_empty() && a.pop().is_none());
    }

    #[test]
    fn calendar_gives_exactly_the_order_of_one_heap() {
        same_order_as_one_heap::<EventQueue<u64>>();
    }

    #[test]
    fn the_alternatives_give_exactly_the_order_of_one_heap() {
        same_order_as_one_heap::<TwoHeapQueue<u64>>();
        same_order_as_one_heap::<QuaternaryHeapQueue<u64>>();
    }

    #[test]
    fn sparse_far_events_across_the_ring_come_out_in_order() {
        // A handful of events days apart (the tiny model's presence timers): the rings are
        // nearly empty and wrap; the overflow heap holds what lies beyond 6.4 days.
        let mut q = EventQueue::new();
        let day = 86_400_000_000u64;
        let times = [5 * day + 7, 3, day / 2, 3 * day, day / 2, 12 * day, 7 * day, 7 * day, 2 * day + 1, 30 * day];
        for (i, &t) in times.iter().enumerate() {
            q.push(t, i);
        }
        let mut sorted: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
        sorted.sort();
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, sorted);
    }

    #[test]
    fn a_big_bucket_does_not_leave_its_memory_in_the_pool() {
        // 100,000 timers in one coarse slot (two minutes, a day ahead), then small traffic:
        // the coarse bucket's vector is dropped when it empties, not handed on to small
        // buckets, where it would hold 1.6 MB for a few keys.
        let mut q = EventQueue::new();
        let day = 86_400_000_000u64;
        for i in 0..100_000u64 {
            q.push(day + i * 1000, i);
        }
        let mut n = 0;
        while let Some((t, _)) = q.pop() {
            n += 1;
            if n % 10 == 0 && t < 2 * day {
                q.push(t + 40_000, 0);
            }
        }
        let pooled = |r: &Ring| r.spare.iter().chain(&r.buckets).map(|v| v.capacity()).max().unwrap_or(0);
        assert!(pooled(&q.fine) <= SPARE_MAX && pooled(&q.coarse) <= SPARE_MAX);
        assert_eq!(std::mem::size_of::<Key>(), 16, "four keys to a cache line");
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::new();
        for i in 0..100u64 {
            q.push(i, i);
            assert_eq!(q.pop(), Some((i, i)));
        }
        assert_eq!(q.slab.slots.len(), 1);
    }
}
