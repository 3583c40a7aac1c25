//! Console output: through the debug kernel's `seL4_DebugPutChar`, or,
//! for a kernel built without it (production seL4 has no debug calls),
//! through a sink the program sets ([`set_console`]): the root task writes
//! the serial device itself, a process sends its lines to the root task.

use core::sync::atomic::{AtomicPtr, Ordering};

use crate::arch;
use crate::Syscall;

/// Where output goes instead of the kernel: a `fn(&[u8])`, or null for
/// `seL4_DebugPutChar`.
static SINK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Sends all console output from here on to `sink` instead of the
/// kernel's `seL4_DebugPutChar` (which a production kernel does not have).
///
/// ```no_run,ignore-linux
/// #![no_std]
/// #![no_main]
/// # #[panic_handler]
/// # fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
/// fn nowhere(_: &[u8]) {}
///
/// fn quiet() {
///     sel4::set_console(nowhere);
///     sel4::debug_println!("dropped");
/// }
/// ```
pub fn set_console(sink: fn(&[u8])) {
    SINK.store(sink as *mut (), Ordering::Release);
}

fn kernel_put_char(c: u8) {
    // SAFETY: DebugPutChar reads one register and touches no memory.
    unsafe { arch::syscall(Syscall::DebugPutChar as i64, c as u64, 0, &mut [0; 4]) };
}

/// Writes `bytes` on the console.
///
/// ```no_run,ignore-linux
/// #![no_std]
/// #![no_main]
/// # #[panic_handler]
/// # fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
/// fn hello() {
///     sel4::debug_write_bytes(b"raw\n");
/// }
/// ```
pub fn debug_write_bytes(bytes: &[u8]) {
    let sink = SINK.load(Ordering::Acquire);
    if sink.is_null() {
        bytes.iter().copied().for_each(kernel_put_char);
    } else {
        // SAFETY: only `set_console` stores here, and it stores a `fn(&[u8])`.
        let sink: fn(&[u8]) = unsafe { core::mem::transmute::<*mut (), fn(&[u8])>(sink) };
        sink(bytes);
    }
}

/// Print one byte on the console.
pub fn debug_put_char(c: u8) {
    debug_write_bytes(&[c]);
}

/// Print a string on the console.
pub fn debug_write(s: &str) {
    debug_write_bytes(s.as_bytes());
}

/// A `core::fmt::Write` sink on the console, for `write!`.
pub struct DebugWriter;

impl core::fmt::Write for DebugWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        debug_write(s);
        Ok(())
    }
}

/// `print!` to the console.
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::DebugWriter, format_args!($($arg)*));
    }};
}

/// `println!` to the console.
#[macro_export]
macro_rules! debug_println {
    () => { $crate::debug_print!("\n") };
    ($($arg:tt)*) => {{
        $crate::debug_print!($($arg)*);
        $crate::debug_print!("\n");
    }};
}
