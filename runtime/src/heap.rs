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
use libshm::layout::{HEAP_BASE, HEAP_MAX};
use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

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
    unsafe { HEAP.lock().init(base, bytes) };
}
