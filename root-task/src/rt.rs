//! Start-up and shutdown of the root task: the entry point the kernel
//! jumps to, its stack, the panic handler and the exit protocol of the
//! simulate script.

use core::cell::UnsafeCell;

/// Bytes of stack for the root task's main thread.
pub const STACK_SIZE: usize = 64 * 1024;

/// A stack: only ever touched through the stack pointer.
#[repr(C, align(16))]
pub struct Stack<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: each stack is handed to exactly one thread, which alone uses it.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Stack<N> {
    /// A zeroed stack.
    pub const fn new() -> Self {
        Stack(UnsafeCell::new([0; N]))
    }

    /// The initial stack pointer: the top of the stack (extra threads of
    /// the suite).
    #[cfg(feature = "suite")]
    pub fn top(&self) -> usize {
        self.0.get() as usize + N
    }
}

static MAIN_STACK: Stack<STACK_SIZE> = Stack::new();

// The kernel enters with no stack (rsp/sp = 0) and the BootInfo pointer in
// the first argument register; give ourselves a stack and call Rust.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".section .text.start",
    ".global _start",
    "_start:",
    "    lea rsp, [rip + {stack} + {size}]",
    "    xor ebp, ebp",
    "    call {main}",
    "    ud2",
    stack = sym MAIN_STACK,
    size = const STACK_SIZE,
    main = sym crate::main,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".section .text.start",
    ".global _start",
    "_start:",
    "    adrp x9, {stack}",
    "    add x9, x9, :lo12:{stack}",
    "    mov x10, #{size}",
    "    add sp, x9, x10",
    "    mov x29, xzr",
    "    bl {main}",
    "    brk #0",
    stack = sym MAIN_STACK,
    size = const STACK_SIZE,
    main = sym crate::main,
);

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
