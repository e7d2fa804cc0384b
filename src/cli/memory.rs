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
/// Allocations from this size on are mapped on their own (see [`configure`]).
const MAPPED: usize = 32 << 20;

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
        libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED as libc::c_int);
    }
}

// SAFETY: every block comes from the system allocator and goes back to it (a mapped block's
// realloc as an allocation, a copy and a deallocation); `advise` and `advise_heap` only add
// advice about memory it handed out.
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
        // The system's realloc moves a block mapped on its own with `mremap`, and the pages it
        // moves lose their huge pages: the slab of pending events, grown by doubling, ended in
        // 4 KiB pages. Such a block is copied into a fresh, advised one instead.
        if new_size >= MAPPED || layout.size() >= MAPPED {
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
        advise(p, new_size);
        advise_heap();
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    // The binary's tests run under this allocator (main.rs sets it as the global one), so this
    // exercises its own paths: a block mapped on its own is copied into a fresh one rather than
    // moved by the system's realloc, and the heap is advised as it grows.

    #[test]
    fn vectors_growing_and_shrinking_across_the_allocators_sizes_keep_their_contents() {
        super::configure();
        let value = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let intact = |v: &[u64]| v.iter().enumerate().all(|(i, &x)| x == value(i));
        // Grows by doubling from 8 bytes to 64 MiB: small to small in the heap, past `LARGE`,
        // then from the heap to a mapped block, and mapped to mapped.
        let mut v: Vec<u64> = Vec::new();
        for i in 0..(8 << 20) {
            v.push(value(i));
        }
        assert!(intact(&v));
        // Shrinks: mapped to mapped, mapped to the heap, then to a small block.
        for len in [5 << 20, 1 << 20, 1000] {
            v.truncate(len);
            v.shrink_to_fit();
            assert!(intact(&v), "after shrinking to {len}");
        }
        // Many small allocations grow the heap through `advise_heap`; their contents hold too.
        let boxes: Vec<Box<[u32; 64]>> = (0..200_000u32).map(|i| Box::new([i; 64])).collect();
        assert!(boxes.iter().enumerate().all(|(i, b)| b.iter().all(|&x| x == i as u32)));
    }
}
