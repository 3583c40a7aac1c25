//! The app heap: the pages the supervisor mapped at
//! [`libshm::layout::HEAP_BASE`] before the process started (the system
//! description's `heap`, [`ProcessInfo::heap_bytes`]), handed to a global
//! allocator before `main` runs. With no heap every allocation fails.
//!
//! ```no_run,ignore-linux
//! #![no_std]
//! #![no_main]
//! extern crate alloc;
//!
//! runtime::entry!(main);
//!
//! fn main(info: &runtime::ProcessInfo) -> i32 {
//!     let mut rows = alloc::vec::Vec::new();
//!     if rows.try_reserve(16).is_err() {
//!         return 1; // the description gave too little heap
//!     }
//!     rows.push(info.pid);
//!     0
//! }
//! ```

use crate::ProcessInfo;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};
use libshm::layout::{HEAP_BASE, HEAP_MAX};
use linked_list_allocator::LockedHeap;

/// The allocator, counting the most bytes it ever had in use.
struct Counted {
    heap: LockedHeap,
    peak: AtomicUsize,
}

// SAFETY: every call is passed on unchanged to `linked_list_allocator`'s
// allocator, which upholds `GlobalAlloc`'s contract; the count only reads.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the inner allocator's.
        let p = unsafe { self.heap.alloc(layout) };
        self.peak.fetch_max(self.heap.lock().used(), Ordering::Relaxed);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: Counted = Counted { heap: LockedHeap::empty(), peak: AtomicUsize::new(0) };

/// The heap's size and use, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// What was given to the allocator.
    pub size: usize,
    /// In use now.
    pub used: usize,
    /// Most ever in use at once.
    pub peak: usize,
}

/// How much of the heap is in use, now and at most.
///
/// ```no_run,ignore-linux
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 {
/// let s = runtime::heap::stats();
/// sel4::debug_println!("heap: {} of {} bytes at most", s.peak, s.size);
/// # 0 }
/// ```
pub fn stats() -> Stats {
    let heap = HEAP.heap.lock();
    Stats { size: heap.size(), used: heap.used(), peak: HEAP.peak.load(Ordering::Relaxed) }
}

/// Called by [`crate::start`] before `main`.
pub(crate) fn init(info: &ProcessInfo) {
    let bytes = info.heap_bytes.min(HEAP_MAX);
    if bytes > 0 {
        // SAFETY: the supervisor mapped `bytes` read-write at HEAP_BASE for
        // this process alone before starting it; nothing else uses the
        // range, and this runs once, before anything allocates.
        unsafe { give(HEAP_BASE as *mut u8, bytes as usize) };
    }
}

/// Hand `bytes` at `base`, memory the process mapped for itself, to the
/// allocator: for a process whose description gives it no heap but that
/// makes one (the memory manager maps its own from its pool).
///
/// # Safety
///
/// The range is mapped read-write, used by nothing else for the life of
/// the process, and no heap was given before (by the description or by an
/// earlier call).
pub unsafe fn give(base: *mut u8, bytes: usize) {
    // SAFETY: as the caller guarantees.
    unsafe { HEAP.heap.lock().init(base, bytes) };
}
