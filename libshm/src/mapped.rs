//! Volatile loads and stores in the shared window: the crate's only
//! `unsafe` code, and the whole of its contract.
//!
//! Why a plain (safe) function may read or write any aligned address in the
//! window: the process layout ([`crate::layout`]) reserves the window for the
//! memory manager's mappings, so no Rust allocation (image, stack, heap) is
//! ever there and an access aliases nothing the compiler reasons about. The
//! memory is outside the Rust abstract machine, written by other processes
//! at any time: accesses are volatile, never through references, and the
//! values are [`Plain`] (every bit pattern valid), so whatever another
//! process wrote is a valid value. Atomic operations make an atomic
//! reference for the one operation only, as `AtomicU64::from_ptr` allows
//! for memory other processes access atomically too. A page that is not mapped (never, or no
//! longer after a shrink or `munmap_peer`), or mapped read-only for a store,
//! faults: the kernel stops the thread and its fault handler (the
//! supervisor) tears the process down, so the access never returns with
//! garbage.
//!
//! Built for seL4 only: on a host the same addresses may hold anything.

use crate::layout::{in_window, PROCESS_INFO};
use crate::protocol::TaskId;
use core::mem::{align_of, size_of};
use core::sync::atomic::{AtomicU32, AtomicU64};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// What may be read from and written to shared memory: types that any bit
/// pattern is a valid value of, with no padding, no references and no
/// interior mutability. Implemented for every type with `zerocopy`'s
/// [`FromBytes`], [`IntoBytes`] and [`Immutable`]: the integer types,
/// arrays of them, [`crate::shm::SharedPtr`], and an app's own
/// `#[repr(C)]` struct by deriving them (the derive checks at compile time
/// that it has no padding; no `unsafe` in the app).
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::shm::SharedPtr;
/// use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
///
/// #[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
/// #[repr(C)]
/// struct Entry {
///     value: u64,
///     next: SharedPtr<Entry>,
/// }
///
/// let head: SharedPtr<Entry> = table.ptr(4096);
/// head.write(Entry { value: 1, next: SharedPtr::null() });
/// assert_eq!(head.read().value, 1);
/// # Ok(()) }
/// ```
pub trait Plain: FromBytes + IntoBytes + Immutable + Copy + 'static {}

impl<T: FromBytes + IntoBytes + Immutable + Copy + 'static> Plain for T {}

/// Whether a `T` at `addr` lies wholly inside the shared window and is
/// aligned for `T`.
fn in_window_aligned<T>(addr: u64) -> bool {
    in_window(addr, size_of::<T>() as u64) && addr.is_multiple_of(align_of::<T>() as u64)
}

/// Reads the `T` at `addr` (volatile).
///
/// # Panics
/// If `[addr, addr + size_of::<T>())` is not inside the shared window, or
/// `addr` is not aligned for `T`.
pub(crate) fn read<T: Plain>(addr: u64) -> T {
    assert!(
        in_window_aligned::<T>(addr),
        "shared memory read at {addr:#x}: outside the window or misaligned"
    );
    // SAFETY: aligned, in the window where no Rust object lives; `T: Plain`; an unmapped page faults.
    unsafe { core::ptr::read_volatile(addr as *const T) }
}

/// Writes `value` at `addr` (volatile).
///
/// # Panics
/// As [`read`].
pub(crate) fn write<T: Plain>(addr: u64, value: T) {
    assert!(
        in_window_aligned::<T>(addr),
        "shared memory write at {addr:#x}: outside the window or misaligned"
    );
    // SAFETY: as in `read`; a store to a read-only page faults instead of writing.
    unsafe { core::ptr::write_volatile(addr as *mut T, value) }
}

/// Runs `f` on the atomic `u64` at `addr`, for that one operation.
///
/// # Panics
/// As [`read`].
pub(crate) fn with_atomic_u64<R>(addr: u64, f: impl FnOnce(&AtomicU64) -> R) -> R {
    assert!(in_window_aligned::<u64>(addr), "shared atomic at {addr:#x}: outside the window or misaligned");
    // SAFETY: aligned, in the window where no Rust object lives (so nothing else holds a reference); other processes access it atomically or volatilely; an unmapped page faults.
    f(unsafe { AtomicU64::from_ptr(addr as *mut u64) })
}

/// Runs `f` on the atomic `u32` at `addr`, for that one operation.
///
/// # Panics
/// As [`read`].
pub(crate) fn with_atomic_u32<R>(addr: u64, f: impl FnOnce(&AtomicU32) -> R) -> R {
    assert!(in_window_aligned::<u32>(addr), "shared atomic at {addr:#x}: outside the window or misaligned");
    // SAFETY: as in `with_atomic_u64`.
    f(unsafe { AtomicU32::from_ptr(addr as *mut u32) })
}

/// This process's identity, from its info page.
pub(crate) fn own_task() -> TaskId {
    // SAFETY: the supervisor maps the info page read-only at PROCESS_INFO before the process runs and never changes it; the runtime checked its magic before `main`.
    let (pid, generation) = unsafe {
        let info = PROCESS_INFO as *const crate::layout::ProcessInfo;
        (core::ptr::addr_of!((*info).pid).read(), core::ptr::addr_of!((*info).generation).read())
    };
    TaskId::new(pid, generation).expect("the supervisor writes valid generations")
}
