//! Start-up and shutdown of the root task: its stack, what the entry point
//! ([`crate::image!`]) calls, the panic handler and the exit protocol of the
//! simulate script.

use crate::system::System;
use crate::Root;
use core::cell::UnsafeCell;
use sel4::BootInfo;

/// Bytes of stack for the root task's main thread (the supervisor keeps its
/// process table on it; a stack overflow would silently run into statics).
pub const STACK_SIZE: usize = 256 * 1024;

/// A stack: only ever touched through the stack pointer.
#[repr(C, align(16))]
pub struct Stack<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: each stack is handed to exactly one thread, which alone uses it.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Default for Stack<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Stack<N> {
    /// A zeroed stack.
    pub const fn new() -> Self {
        Stack(UnsafeCell::new([0; N]))
    }

    /// The initial stack pointer: the top of the stack (extra threads of
    /// the suite).
    pub fn top(&self) -> usize {
        self.0.get() as usize + N
    }
}

/// The main thread's stack ([`crate::image!`]'s `_start` switches to it).
pub static MAIN_STACK: Stack<STACK_SIZE> = Stack::new();

/// Called by [`crate::image!`]'s entry: set up, run `main`, exit with its
/// status.
///
/// # Safety
///
/// `bootinfo` is the pointer the kernel passed the root task at entry.
pub unsafe fn start(bootinfo: *const BootInfo, system: &'static System, main: fn(&mut Root) -> u8) -> ! {
    // SAFETY: the kernel passes the BootInfo frame's address at entry and
    // keeps it mapped for the life of the root task.
    let bi = unsafe { BootInfo::from_ptr(bootinfo) };
    // SAFETY: BootInfo names the root task's own IPC buffer.
    unsafe { sel4::set_ipc_buffer(bi.ipc_buffer as *mut sel4::IpcBuffer) };
    let mut root = crate::boot(bi, system);
    exit(main(&mut root))
}

/// Print the end-of-run marker the simulate script waits for and stop the
/// machine with `code` (0 = success).
pub fn exit(code: u8) -> ! {
    sel4::debug_println!("@@SEL4-EXIT {code}@@");
    #[cfg(target_arch = "x86_64")]
    {
        use sel4::IoPortExt;
        // QEMU's isa-debug-exit device: exits with (code << 1) | 1.
        const DEBUG_EXIT_PORT: u16 = 0xf4;
        let port = sel4::Cap::<sel4::cap_type::IoPort>::from_cptr(sel4::CAP_IO_PORT as u64);
        let _ = port.out8(DEBUG_EXIT_PORT, code);
    }
    loop {
        // The script ends QEMU on the marker; wait without burning the CPU.
        sel4::yield_now();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    sel4::debug_println!("root task panicked: {info}");
    exit(PANIC_EXIT_CODE)
}

/// Exit status after a panic, distinct from a failing test run.
pub const PANIC_EXIT_CODE: u8 = 101;
