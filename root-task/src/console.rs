//! The console when the kernel cannot print (built without
//! `CONFIG_DEBUG_BUILD`, as production seL4 is: no `seL4_DebugPutChar`).
//! With the `serial-console` feature the root task writes the serial
//! device itself, and tells its processes ([`ProcessInfo::console`]) to
//! send their lines to it (the supervisor's `Print`), which it writes the
//! same way. Without the feature, everyone prints through the debug kernel.
//!
//! [`ProcessInfo::console`]: libshm::layout::ProcessInfo::console

/// Whether output goes to the serial device (the `serial-console` feature).
pub const SERIAL: bool = cfg!(feature = "serial-console");

/// The first PC serial port, which QEMU's `-serial` shows.
#[cfg(all(feature = "serial-console", target_arch = "x86_64"))]
const COM1: u16 = 0x3f8;

/// Writes `bytes` to COM1's transmit register through the IO port cap the
/// kernel gives the root task (QEMU's UART needs no set-up and never
/// holds a byte back).
#[cfg(all(feature = "serial-console", target_arch = "x86_64"))]
fn write_serial(bytes: &[u8]) {
    use sel4::IoPortExt;
    let port = sel4::Cap::<sel4::cap_type::IoPort>::from_cptr(sel4::CAP_IO_PORT as u64);
    for &b in bytes {
        // Nowhere to report a failed write to: the console is what failed.
        let _ = port.out8(COM1, b);
    }
}

/// QEMU virt's PL011 UART: its registers' page, a device untyped of its
/// own (the platform hands it to user space).
#[cfg(all(feature = "serial-console", target_arch = "aarch64"))]
const PL011: u64 = 0x0900_0000;
/// Where the root task maps it (below the window it fills frames through).
#[cfg(all(feature = "serial-console", target_arch = "aarch64"))]
const PL011_VADDR: usize = 0x2fff_f000;

/// Writes `bytes` to the PL011's data register (QEMU's UART never holds a
/// byte back, so the flag register need not be read).
#[cfg(all(feature = "serial-console", target_arch = "aarch64"))]
fn write_serial(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: `init` mapped the UART's register page at PL011_VADDR
        // before setting this sink; the data register is its first word.
        unsafe { core::ptr::write_volatile(PL011_VADDR as *mut u32, u32::from(b)) };
    }
}

/// Maps the PL011's page into the root task; `false` if the kernel gave
/// no such device untyped or it could not be mapped.
#[cfg(all(feature = "serial-console", target_arch = "aarch64"))]
fn map_pl011(bi: &sel4::BootInfo, objs: &mut crate::objects::Objects) -> bool {
    use sel4::cap_type::{Granule, Untyped};
    use sel4::{Cap, CapRights, FixedSizeObject};
    let Some((ut, _)) = bi.untypeds().find(|(_, d)| {
        let (paddr, bits, device) = (d.paddr, d.size_bits, d.is_device);
        device != 0 && paddr == PL011 && usize::from(bits) == sel4::PAGE_BITS
    }) else {
        return false;
    };
    let Ok(slot) = objs.slot() else { return false };
    let frame = Cap::<Granule>::from_cptr(slot);
    Cap::<Untyped>::from_cptr(ut).retype(Granule::OBJECT_TYPE, 0, objs.cnode, slot, 1).is_ok()
        && objs.map_frame(objs.vspace, frame, PL011_VADDR, CapRights::READ_WRITE).is_ok()
}

/// Sends the root task's console to the serial device (a no-op without the
/// `serial-console` feature). Called at boot before anything prints.
pub fn init(bi: &sel4::BootInfo, objs: &mut crate::objects::Objects) {
    let _ = (bi, &objs);
    #[cfg(all(feature = "serial-console", target_arch = "x86_64"))]
    sel4::set_console(write_serial);
    // Without the UART there is nowhere to say so: the run stays silent and
    // the simulate script's time bound ends it.
    #[cfg(all(feature = "serial-console", target_arch = "aarch64"))]
    if map_pl011(bi, objs) {
        sel4::set_console(write_serial);
    }
}

/// Writes a process's line (its `Print`) where the root task's own output goes.
pub fn write(bytes: &[u8]) {
    sel4::debug_write_bytes(bytes);
}
