//! The process's allocator: the system's, with transparent huge pages asked for on large
//! allocations and on the main heap. A run of a million users reads per-user and
//! per-membership arrays of hundreds of megabytes at random, and its small allocations (the
//! calendar's buckets, the deferred stores) fill a heap of a few hundred more; with 4 KiB pages
//! almost every such read also misses the TLB, with 2 MiB pages the page walks all but vanish
//! (BENCHMARKS.md, issue 15). Machines without transparent huge pages are untouched: the
//! advice is only advice.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub struct HugePageAlloc;

/// Allocations from this size on are advised to use huge pages.
const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
fn advise(p: *mut u8, size: usize) {
    if p.is_null() || size < LARGE {
        return;
    }
    // Only the whole huge pages inside the allocation.
    let start = (p as usize).next_multiple_of(HUGE_PAGE);
    let end = (p as usize + size) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: the range lies inside an allocation this process owns; MADV_HUGEPAGE changes
        // how its pages are backed, never their contents. A failure (no THP) is harmless.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_: *mut u8, _: usize) {}

/// The main heap's end as far as it has been advised (0 until the first allocation).
static HEAP_ADVISED: AtomicUsize = AtomicUsize::new(0);

/// Advises huge pages on what the main heap has grown by since the last call. The heap grows
/// in steps of at least `M_TOP_PAD` (see [`configure`]), so all but the last 2 MiB of a step
/// can be backed by huge pages: a 2 MiB page needs its whole range advised before its first
/// byte is touched.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn advise_heap() {
    // SAFETY: `sbrk(0)` only reads the current program break.
    let end = unsafe { libc::sbrk(0) } as usize;
    let done = HEAP_ADVISED.load(Relaxed);
    if end == done {
        return;
    }
    HEAP_ADVISED.store(end, Relaxed);
    // The first call, or a heap that shrank (trimmed): nothing new to advise.
    if done == 0 || end < done {
        return;
    }
    let start = done / 4096 * 4096;
    // SAFETY: [start, end) lies in the heap, which this process owns; MADV_HUGEPAGE changes how
    // its pages are backed, never their contents. Threads racing here at worst repeat the
    // advice or miss some (only speed is at stake).
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn advise_heap() {}

/// Sets the system allocator up for huge pages: the heap grows in steps of 32 MiB, and freed
/// space at its top is kept up to 64 MiB. Allocations from 32 MiB on are mapped on their own
/// (and advised by [`HugePageAlloc`]); smaller ones come from the heap, where a freed buffer is
/// reused without the kernel zeroing fresh pages for it again (the limit is where glibc's own
/// adaptive threshold stops, which setting the other two parameters turns off). Call once,
/// before the run allocates.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; each value is in range.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

// SAFETY: every call is passed to the system allocator unchanged; `advise` only adds advice
// about the memory it returned.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        advise_heap();
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        advise_heap();
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= LARGE {
            // SAFETY: as for `alloc`; the new block is at least as large as what is copied.
            unsafe {
                let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    System.dealloc(ptr, layout);
                }
                return new;
            }
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise_heap();
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    // The binary's tests run under this allocator (main.rs sets it as the global one), so these
    // exercise its own paths: a vector growing past `LARGE` is copied into a fresh block rather
    // than moved by the system's realloc, and the heap is advised as it grows.

    #[test]
    fn a_vector_growing_and_shrinking_across_the_large_size_keeps_its_contents() {
        super::configure();
        // Grows by doubling from 8 bytes to 16 MiB: every reallocation path, small to small,
        // small to large and large to large.
        let value = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let intact = |v: &[u64]| v.iter().enumerate().all(|(i, &x)| x == value(i));
        let mut v: Vec<u64> = Vec::new();
        for i in 0..(2 << 20) {
            v.push(value(i));
        }
        assert!(intact(&v));
        // Large to large (smaller), then large to small.
        v.truncate(600_000);
        v.shrink_to_fit();
        assert!(v.capacity() * 8 >= super::LARGE);
        assert!(intact(&v));
        v.truncate(1000);
        v.shrink_to_fit();
        assert!(intact(&v));
        // Many small allocations grow the heap through `advise_heap`; their contents hold too.
        let boxes: Vec<Box<[u32; 64]>> = (0..200_000u32).map(|i| Box::new([i; 64])).collect();
        assert!(boxes.iter().enumerate().all(|(i, b)| b.iter().all(|&x| x == i as u32)));
    }
}
