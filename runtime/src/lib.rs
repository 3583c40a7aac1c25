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

#[cfg(feature = "heap")]
pub mod heap;
pub mod supervisor;

use libshm::layout::PROCESS_INFO;
use libshm::protocol::TaskId;
use sel4::CPtr;

/// Cap slots every spawned process finds filled in its CNode.
pub mod slots {
    use sel4::CPtr;
    /// Its own CNode.
    pub const CNODE: CPtr = 1;
    /// Its own VSpace root.
    pub const VSPACE: CPtr = 2;
    /// Its own TCB.
    pub const TCB: CPtr = 3;
    /// Endpoint to the supervisor (the root task), badged with its identity.
    pub const SUPERVISOR: CPtr = 4;
    /// Endpoint to the memory manager, badged with its identity (null in the
    /// memory manager itself).
    pub const MEMORY_MANAGER: CPtr = libshm::layout::MEMORY_MANAGER_SLOT;
    /// Where the kernel sends its faults (the supervisor, same badge).
    pub const FAULT: CPtr = 6;
    /// The endpoint the memory manager serves (only in the memory manager).
    pub const SERVICE: CPtr = 7;
    /// Slots the supervisor fills for tests (only where [`super::ProcessInfo::arg`] says so).
    pub const EXTRA: CPtr = 8;
    /// First slot the process may use freely.
    pub const FIRST_FREE: CPtr = 16;
}

/// Longest process name, in bytes.
pub const NAME_LEN: usize = 32;

/// Marks a page the supervisor filled in.
pub const PROCESS_INFO_MAGIC: u64 = u64::from_le_bytes(*b"SEL4PROC");

/// What the supervisor tells a process about itself, in a read-only page at
/// [`libshm::layout::PROCESS_INFO`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProcessInfo {
    /// [`PROCESS_INFO_MAGIC`].
    pub magic: u64,
    /// Process id.
    pub pid: u16,
    /// Generation: changes on every restart.
    pub generation: u16,
    /// Bytes of `name` in use.
    pub name_len: u32,
    /// Name alias, e.g. "spreadsheet".
    pub name: [u8; NAME_LEN],
    /// log2 of the number of slots of its CNode.
    pub cnode_bits: u64,
    /// First free slot of its CNode.
    pub free_slots_start: CPtr,
    /// First slot after the free ones.
    pub free_slots_end: CPtr,
    /// First of the untyped caps it was given (the memory manager's pool).
    pub untyped_start: CPtr,
    /// First slot after them.
    pub untyped_end: CPtr,
    /// log2 size of each of those untypeds.
    pub untyped_size_bits: u64,
    /// A word the supervisor passes (the behaviour of a test app).
    pub arg: u64,
    /// How often this process has been restarted after a fault (0 on its
    /// first start).
    pub restarts: u64,
    /// Bytes of heap mapped at [`libshm::layout::HEAP_BASE`] (the system
    /// description's `heap`, in whole pages; 0: none).
    pub heap_bytes: u64,
}

impl ProcessInfo {
    /// The name as text.
    pub fn name(&self) -> &str {
        let len = (self.name_len as usize).min(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }

    /// The identity the supervisor and the memory manager know it by.
    pub fn task(&self) -> TaskId {
        TaskId::new(self.pid, self.generation).expect("supervisor writes valid generations")
    }
}

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
    #[cfg(feature = "heap")]
    heap::init(info);
    supervisor::exit(main(info))
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
