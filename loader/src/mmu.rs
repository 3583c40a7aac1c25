//! The loader's translation tables: what the seL4 5.0 kernel needs mapped at
//! its entry (its own window, in 2 MiB blocks), plus an identity map so the
//! loader keeps running once the MMU is on. The kernel installs its own
//! tables early in `init_kernel`; these are only used until then.
//!
//! 4 KiB granule, 48-bit VAs (4 levels, L0..L3), as TCR_EL1 below says.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

use crate::layout::{BLOCK_SIZE, KERNEL_PHYS_BASE, KERNEL_RAM_END, KERNEL_VIRT_BASE, RAM_BASE, RAM_END};

/// The kernel's MAIR_EL1: 0 Device-nGnRnE, 1 Device-nGnRE, 2 Device-GRE,
/// 3 Normal non-cacheable, 4 Normal write-back, 5 Normal write-through.
pub const MAIR_EL1: u64 = 0x0000_aaff_440c_0400;
const ATTR_DEVICE: u64 = 0;
const ATTR_NORMAL: u64 = 4;

/// TCR_EL1 as the kernel expects: T0SZ = T1SZ = 16 (48-bit), 4 KiB granules
/// for both halves, write-back walks, 16-bit ASIDs. IPS comes from the CPU.
const TCR_EL1_BASE: u64 = 0x10_8510_0510;

pub fn tcr_el1(id_aa64mmfr0: u64) -> u64 {
    TCR_EL1_BASE | ((id_aa64mmfr0 & 0b111) << 32)
}

const DESC_TABLE: u64 = 0b11;
const DESC_BLOCK: u64 = 0b01;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 0b11 << 8;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const GIB: u64 = 1 << 30;

const fn block(pa: u64, attr: u64) -> u64 {
    let kind = if attr == ATTR_DEVICE { PXN | UXN } else { SH_INNER };
    pa | (attr << 2) | AF | kind | DESC_BLOCK
}

/// Index of `va` in a table of `level` (0..=3).
const fn index(va: u64, level: u32) -> usize {
    ((va >> (39 - 9 * level)) & 0x1ff) as usize
}

#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Table {
    const EMPTY: Table = Table([0; 512]);

    /// The table's address; the loader runs identity-mapped, so it is also
    /// the physical address the walker needs.
    fn addr(&self) -> u64 {
        self as *const Table as u64
    }
}

pub struct Tables {
    low_l0: Table,
    low_l1: Table,
    high_l0: Table,
    high_l1: Table,
    high_l2: Table,
}

impl Tables {
    pub const fn new() -> Tables {
        Tables {
            low_l0: Table::EMPTY,
            low_l1: Table::EMPTY,
            high_l0: Table::EMPTY,
            high_l1: Table::EMPTY,
            high_l2: Table::EMPTY,
        }
    }

    /// Fill the tables; returns (TTBR0_EL1, TTBR1_EL1).
    pub fn build(&mut self) -> (u64, u64) {
        // Identity: the first GiB (devices: GIC, UART, ...) and RAM.
        const { assert!(RAM_BASE == GIB && RAM_END - RAM_BASE <= GIB) };
        self.low_l0.0[0] = self.low_l1.addr() | DESC_TABLE;
        self.low_l1.0[0] = block(0, ATTR_DEVICE);
        self.low_l1.0[1] = block(RAM_BASE, ATTR_NORMAL);

        // Kernel window: KERNEL_VIRT_BASE -> KERNEL_PHYS_BASE, all of the RAM
        // the kernel manages, which fits one L2 table (< 1 GiB).
        const { assert!(KERNEL_RAM_END - KERNEL_PHYS_BASE <= GIB) };
        const { assert!(KERNEL_PHYS_BASE.is_multiple_of(BLOCK_SIZE) && KERNEL_VIRT_BASE.is_multiple_of(GIB)) };
        self.high_l0.0[index(KERNEL_VIRT_BASE, 0)] = self.high_l1.addr() | DESC_TABLE;
        self.high_l1.0[index(KERNEL_VIRT_BASE, 1)] = self.high_l2.addr() | DESC_TABLE;
        for pa in (KERNEL_PHYS_BASE..KERNEL_RAM_END).step_by(BLOCK_SIZE as usize) {
            let va = KERNEL_VIRT_BASE + (pa - KERNEL_PHYS_BASE);
            self.high_l2.0[index(va, 2)] = block(pa, ATTR_NORMAL);
        }
        (self.low_l0.addr(), self.high_l0.addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_window_maps_2mib_blocks_to_phys_base() {
        let mut t = Box::new(Tables::new());
        let (ttbr0, ttbr1) = t.build();
        assert_eq!(ttbr0 % 4096, 0);
        assert_eq!(ttbr1, t.high_l0.addr());
        assert_eq!(t.high_l0.0[511] & !0xfff, t.high_l1.addr());
        assert_eq!(t.high_l1.0[0] & !0xfff, t.high_l2.addr());
        let first = t.high_l2.0[0];
        assert_eq!(first & 0xffff_ffff_f000, KERNEL_PHYS_BASE);
        assert_eq!((first >> 2) & 7, ATTR_NORMAL);
        assert_eq!(first & 0b11, DESC_BLOCK);
        assert_eq!(first & PXN, 0, "kernel code must be executable");
        let n = ((KERNEL_RAM_END - KERNEL_PHYS_BASE) / BLOCK_SIZE) as usize;
        assert_eq!(t.high_l2.0[n - 1] & 0xffff_ffff_f000, KERNEL_RAM_END - BLOCK_SIZE);
        assert_eq!(t.high_l2.0[n], 0);
    }

    #[test]
    fn identity_map_has_devices_and_ram() {
        let mut t = Box::new(Tables::new());
        t.build();
        assert_eq!((t.low_l1.0[0] >> 2) & 7, ATTR_DEVICE);
        assert_ne!(t.low_l1.0[0] & PXN, 0);
        assert_eq!(t.low_l1.0[1] & 0xffff_ffff_f000, RAM_BASE);
    }

    #[test]
    fn tcr_takes_ips_from_the_cpu() {
        assert_eq!(tcr_el1(0x1122), 0x12_8510_0510);
        assert_eq!(index(KERNEL_VIRT_BASE, 0), 511);
    }
}
