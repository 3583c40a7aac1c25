//! Output through the debug kernel's `seL4_DebugPutChar`.

use crate::arch;
use crate::Syscall;

/// Print one byte on the kernel's serial console.
pub fn debug_put_char(c: u8) {
    // SAFETY: DebugPutChar reads one register and touches no memory.
    unsafe { arch::syscall(Syscall::DebugPutChar as i64, c as u64, 0, &mut [0; 4]) };
}

/// Print a string on the kernel's serial console.
pub fn debug_write(s: &str) {
    s.bytes().for_each(debug_put_char)
}

/// A `core::fmt::Write` sink on the kernel console, for `write!`.
pub struct DebugWriter;

impl core::fmt::Write for DebugWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        debug_write(s);
        Ok(())
    }
}

/// `print!` to the kernel console.
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::DebugWriter, format_args!($($arg)*));
    }};
}

/// `println!` to the kernel console.
#[macro_export]
macro_rules! debug_println {
    () => { $crate::debug_print!("\n") };
    ($($arg:tt)*) => {{
        $crate::debug_print!($($arg)*);
        $crate::debug_print!("\n");
    }};
}
