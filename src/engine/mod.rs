//! The engine: virtual time, the pending-event set and seeded random streams. It knows nothing
//! of SIP or of the network functions; `sim` drives the nodes with it.

pub mod deadlines;
pub mod queue;
pub mod rng;

pub use queue::EventQueue;

/// Virtual time in ticks of one microsecond since the start of the run.
pub type Time = u64;

/// `prefetch` of element `i` of `v`, if there is one.
#[inline(always)]
pub fn prefetch_at<T>(v: &[T], i: usize) {
    if let Some(x) = v.get(i) {
        prefetch(x);
    }
}

/// Asks the processor to start loading the cache lines that hold `x` (the first and, if `x`
/// spans two, the last), and returns at once: a hint, which changes no state and whose only
/// effect is that a later read of `x` may find it in cache. The engine uses it to fetch the
/// state of the next events while it runs this one.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    let first = x as *const T as *const u8;
    prefetch_line(first);
    let last = first.wrapping_add(size_of::<T>().max(1) - 1);
    if (last as usize) / 64 != (first as usize) / 64 {
        prefetch_line(last);
    }
}

#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch dereferences nothing: it cannot fault, whatever the address, and
    // changes no state the program can observe.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
