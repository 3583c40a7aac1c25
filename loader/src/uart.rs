//! Output on QEMU virt's PL011 UART0, the console the kernel uses too.

use core::fmt;
use core::ptr::{read_volatile, write_volatile};

const UART0: usize = 0x0900_0000;
const UARTDR: usize = 0x000;
const UARTFR: usize = 0x018;
const UARTFR_TXFF: u32 = 1 << 5;

pub struct Uart;

impl Uart {
    fn put(byte: u8) {
        // SAFETY: PL011 registers at QEMU virt's fixed address; device memory
        // (MMU off, or identity-mapped as Device-nGnRnE by mmu.rs).
        unsafe {
            while read_volatile((UART0 + UARTFR) as *const u32) & UARTFR_TXFF != 0 {}
            write_volatile((UART0 + UARTDR) as *mut u32, u32::from(byte));
        }
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(Uart::put);
        Ok(())
    }
}

/// `println!` for the loader; every line starts with "loader: ".
macro_rules! log {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::uart::Uart, "loader: {}", format_args!($($arg)*));
    }};
}
pub(crate) use log;
