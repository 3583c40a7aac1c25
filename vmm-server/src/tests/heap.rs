//! The host tests' allocator: the system's, counting what each thread
//! holds, and able to make a thread's `n`-th allocation fail. Tests use it
//! to weigh what a request leaves the server holding, and to show that a
//! request that finds no heap memory at any of its allocations fails with
//! `OutOfMemory` and changes nothing (an infallible allocation that fails
//! aborts the test binary: that is the bug it finds). The fake kernel's
//! own allocations are never failed: its heap stands for the kernel's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counted;

thread_local! {
    /// Bytes this thread has allocated and not freed.
    static HELD: Cell<i64> = const { Cell::new(0) };
    /// Allocations to let through before one fails (`None`: no failure).
    static FAIL_AFTER: Cell<Option<u64>> = const { Cell::new(None) };
    /// Allocations seen while armed.
    static SEEN: Cell<u64> = const { Cell::new(0) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Depth of the fake kernel's own work.
    static IN_KERNEL: Cell<u32> = const { Cell::new(0) };
}

/// Whether this allocation is one the test wants to fail. Thread-locals
/// with constant initialisers and no destructor never allocate.
fn fails() -> bool {
    let counted = ARMED.try_with(Cell::get).unwrap_or(false) && IN_KERNEL.try_with(Cell::get) == Ok(0);
    if !counted {
        return false;
    }
    let seen = SEEN.with(|s| s.replace(s.get() + 1));
    FAIL_AFTER.with(Cell::get) == Some(seen)
}

fn held(delta: i64) {
    let _ = HELD.try_with(|h| h.set(h.get() + delta));
}

// SAFETY: every call is passed on unchanged to the system allocator,
// except one that fails (returns null, as an exhausted allocator does).
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fails() {
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's layout is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            held(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        held(-(layout.size() as i64));
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if fails() {
            return core::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`, and the caller's new size is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            held(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static COUNTED: Counted = Counted;

/// The bytes `f` leaves this thread holding.
pub(crate) fn measure(f: impl FnOnce()) -> i64 {
    let before = HELD.with(Cell::get);
    f();
    HELD.with(Cell::get) - before
}

/// Runs `f` with the server's `n`-th allocation in it failing (`None`:
/// none), and returns what it returned and how many allocations it made
/// (counting the failed one).
pub(crate) fn failing<T>(n: Option<u64>, f: impl FnOnce() -> T) -> (T, u64) {
    SEEN.with(|s| s.set(0));
    FAIL_AFTER.with(|a| a.set(n));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, SEEN.with(Cell::get))
}

/// The fake kernel at work (see the module's rustdoc), until dropped.
pub(crate) struct KernelWork;

impl KernelWork {
    pub(crate) fn enter() -> Self {
        IN_KERNEL.with(|k| k.set(k.get() + 1));
        KernelWork
    }
}

impl Drop for KernelWork {
    fn drop(&mut self) {
        IN_KERNEL.with(|k| k.set(k.get() - 1));
    }
}
