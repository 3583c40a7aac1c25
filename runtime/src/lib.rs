//! The runtime of every process the root task spawns (the memory manager
//! and the apps): the entry point, the [`ProcessInfo`] page the supervisor
//! writes, the well-known cap slots, the calls to the supervisor, and with
//! the `heap` feature the app heap (`alloc` over the heap the system
//! description gives the process).
//!
//! A program says `runtime::entry!(main);` with `fn main(&ProcessInfo) -> i32`.
//! The supervisor starts it with the stack pointer at
//! [`libshm::layout::STACK_TOP`] and two arguments: the address of its
//! [`ProcessInfo`] and of its IPC buffer.
//!
//! A whole program (compiled for both bare-metal targets by `make doc-test`;
//! the host test run skips it, `ignore-linux`):
//!
//! ```no_run,ignore-linux
//! #![no_std]
//! #![no_main]
//! use runtime::ProcessInfo;
//!
//! runtime::entry!(main);
//!
//! fn main(info: &ProcessInfo) -> i32 {
//!     sel4::debug_println!("{} (pid {}) started, argument {}", info.name(), info.pid, info.arg);
//!     0 // the exit code the supervisor sees
//! }
//! ```

#![no_std]
#![warn(missing_docs)]
// The loader boundary: the entry point, the info page, the heap.
#![allow(unsafe_code)]

mod console;
#[cfg(feature = "heap")]
pub mod heap;
pub mod supervisor;

use libshm::layout::PROCESS_INFO;

pub use libshm::layout::{slots, ProcessInfo, PROCESS_INFO_MAGIC};

/// Called by [`entry!`]: set up the thread, run `main`, exit with its code.
pub fn start(info: u64, ipc_buffer: u64, main: fn(&'static ProcessInfo) -> i32) -> ! {
    // SAFETY: the supervisor passes this thread's IPC buffer address.
    unsafe { sel4::set_ipc_buffer(ipc_buffer as *mut sel4::IpcBuffer) };
    debug_assert_eq!(info, PROCESS_INFO);
    // SAFETY: the supervisor maps and fills the info page before the start
    // and never changes it while the process lives.
    let info: &'static ProcessInfo = unsafe { &*(info as *const ProcessInfo) };
    if info.magic != PROCESS_INFO_MAGIC {
        supervisor::exit(EXIT_BAD_START)
    }
    console::init(info);
    #[cfg(feature = "heap")]
    heap::init(info);
    supervisor::exit(main(info))
}

/// This process's info page (what the supervisor told it at its start).
///
/// ```no_run,ignore-linux
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 {
/// let budget = runtime::info().budget;
/// sel4::debug_println!("may hold {} MiB of shared memory", budget.memory >> 20);
/// # 0 }
/// ```
pub fn info() -> &'static ProcessInfo {
    // SAFETY: `start` checked the page before `main` ran (no code of the
    // program runs before it); it is mapped read-only for the process's
    // whole life and never changes.
    unsafe { &*(PROCESS_INFO as *const ProcessInfo) }
}

/// Exit code of a process whose info page was missing.
pub const EXIT_BAD_START: i32 = 126;
/// Exit code of a process that panicked.
pub const EXIT_PANIC: i32 = 101;

/// Called by [`entry!`]'s panic handler.
pub fn panic(info: &core::panic::PanicInfo) -> ! {
    sel4::debug_println!("panic: {info}");
    supervisor::exit(EXIT_PANIC)
}

/// Declare the program's `main(&ProcessInfo) -> i32`: defines `_start` and
/// the panic handler.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        // The one symbol the supervisor enters by: `no_mangle` is the
        // boundary with the loader, not an unsafe operation of the app's.
        #[allow(unsafe_code)]
        #[no_mangle]
        extern "C" fn _start(info: u64, ipc_buffer: u64) -> ! {
            $crate::start(info, ipc_buffer, $main)
        }

        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo) -> ! {
            $crate::panic(info)
        }
    };
}
