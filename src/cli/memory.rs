//! The process's allocator: the system's, with transparent huge pages asked for on large
//! allocations. A run of a million users reads per-user and per-membership arrays of hundreds
//! of megabytes at random; with 4 KiB pages almost every such read also misses the TLB, with
//! 2 MiB pages the page walks all but vanish (BENCHMARKS.md, issue 15). Small allocations, and
//! machines without transparent huge pages, are untouched: the advice is only advice.

use std::alloc::{GlobalAlloc, Layout, System};

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

// SAFETY: every call is passed to the system allocator unchanged; `advise` only adds advice
// about the memory it returned.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}
