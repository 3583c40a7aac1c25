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
//! process wrote is a valid value. A page that is not mapped (never, or no
//! longer after a shrink or `munmap_peer`), or mapped read-only for a store,
//! faults: the kernel stops the thread and its fault handler (the
//! supervisor) tears the process down, so the access never returns with
//! garbage.
//!
//! Built for seL4 only: on a host the same addresses may hold anything.

use crate::layout::in_window;
use core::mem::{align_of, size_of};

/// Types that any bit pattern is a valid value of, with no padding and no
/// references: what may be read from and written to shared memory.
///
/// Implemented for the integer types, arrays of `Plain` types and
/// [`crate::shm::SharedPtr`]. For an own `#[repr(C)]` struct of `Plain`
/// fields without padding, a program may implement it (that is its own
/// `unsafe`); arrays of words need none.
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::shm::{Plain, SharedPtr};
/// fn first<T: Plain>(p: SharedPtr<[T; 4]>) -> T { p.read()[0] }
/// # Ok(()) }
/// ```
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid `Self`,
/// `Self` must have no padding bytes, and it must hold no references.
pub unsafe trait Plain: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => {
        // SAFETY: integers have no padding and every bit pattern is a value.
        $(unsafe impl Plain for $t {})*
    };
}
plain!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

// SAFETY: arrays of `Plain` elements have no padding and no invalid values.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

// SAFETY: a transparent `u64` address; every value is valid (each access checks it).
unsafe impl<T: 'static> Plain for crate::shm::SharedPtr<T> {}

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
