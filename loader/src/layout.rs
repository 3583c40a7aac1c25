//! Where everything goes in QEMU virt's physical memory. Pure arithmetic, so
//! it is unit-tested on the host.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

use core::fmt;

pub const PAGE_SIZE: u64 = 1 << 12;
pub const BLOCK_SIZE: u64 = 1 << 21;

/// RAM base of QEMU virt; its first MiB holds the DTB QEMU generates.
pub const RAM_BASE: u64 = 0x4000_0000;
/// End of RAM with `-m 1G`.
pub const RAM_END: u64 = 0x8000_0000;
/// Where the kernel is linked to load (the platform's physBase).
pub const KERNEL_PHYS_BASE: u64 = 0x4020_0000;
/// End of the RAM the kernel manages (the platform's avail_p_regs). The
/// loader itself lives above it (link.ld), so nothing we still use is handed
/// out as untyped memory.
pub const KERNEL_RAM_END: u64 = 0x6000_0000;
/// Kernel virtual address of KERNEL_PHYS_BASE (kernelBase).
pub const KERNEL_VIRT_BASE: u64 = 0xffff_ff80_0000_0000;

pub const fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}

pub const fn align_up(x: u64, a: u64) -> u64 {
    align_down(x + (a - 1), a)
}

/// A half-open address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    /// The smallest range covering both.
    pub fn union(self, other: Range) -> Range {
        Range { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn contains(self, inner: Range) -> bool {
        self.start <= inner.start && inner.end <= self.end && inner.start <= inner.end
    }
}

/// What `init_kernel` is told about the root task's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserImage {
    /// Physical copy of the image, page aligned (ui_p_reg_start/end).
    pub phys: Range,
    /// The image's virtual range, page aligned.
    pub virt: Range,
}

impl UserImage {
    /// phys - virt, as the kernel's `pv_offset` (a signed word).
    pub fn pv_offset(&self) -> i64 {
        self.phys.start.wrapping_sub(self.virt.start) as i64
    }

    /// Physical address of a virtual address inside the image.
    pub fn phys_of(&self, vaddr: u64) -> u64 {
        vaddr.wrapping_add(self.pv_offset() as u64)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The kernel's segments are not inside the RAM it manages.
    KernelOutsideRam(Range),
    /// The root task does not fit between the kernel and KERNEL_RAM_END.
    UserImageTooBig { needed: u64, available: u64 },
    /// The root task's image (plus IPC buffer and BootInfo pages that the
    /// kernel maps right after it) reaches into the kernel's half.
    UserImageTooHigh(Range),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::KernelOutsideRam(r) => write!(
                f,
                "kernel segments {:#x}..{:#x} are outside {KERNEL_PHYS_BASE:#x}..{KERNEL_RAM_END:#x}",
                r.start, r.end
            ),
            LayoutError::UserImageTooBig { needed, available } => {
                write!(f, "root task needs {needed:#x} bytes, only {available:#x} free after the kernel")
            }
            LayoutError::UserImageTooHigh(r) => {
                write!(f, "root task virtual range {:#x}..{:#x} is too high", r.start, r.end)
            }
        }
    }
}

/// Check the kernel's physical extent.
pub fn check_kernel(phys: Range) -> Result<(), LayoutError> {
    let ram = Range { start: KERNEL_PHYS_BASE, end: KERNEL_RAM_END };
    if ram.contains(phys) {
        Ok(())
    } else {
        Err(LayoutError::KernelOutsideRam(phys))
    }
}

/// Place a root task whose segments span `virt` in the first page after the
/// kernel's physical end. The kernel requires the image above the kernel.
pub fn place_user_image(kernel_phys_end: u64, virt: Range) -> Result<UserImage, LayoutError> {
    let virt = Range { start: align_down(virt.start, PAGE_SIZE), end: align_up(virt.end, PAGE_SIZE) };
    // The kernel maps the IPC buffer and BootInfo frames right after it.
    if virt.end.saturating_add(2 * PAGE_SIZE) > KERNEL_VIRT_BASE || virt.start == 0 {
        return Err(LayoutError::UserImageTooHigh(virt));
    }
    let start = align_up(kernel_phys_end, PAGE_SIZE);
    let needed = virt.end - virt.start;
    let available = KERNEL_RAM_END.saturating_sub(start);
    if needed > available {
        return Err(LayoutError::UserImageTooBig { needed, available });
    }
    Ok(UserImage { phys: Range { start, end: start + needed }, virt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_image_goes_after_kernel_page_aligned() {
        let ui = place_user_image(0x4025_3123, Range { start: 0x40_0123, end: 0x40_2001 }).unwrap();
        assert_eq!(ui.phys.start, 0x4025_4000);
        assert_eq!(ui.phys.end, 0x4025_7000);
        assert_eq!(ui.virt.start, 0x40_0000);
        assert_eq!(ui.virt.end, 0x40_3000);
        assert_eq!(ui.phys_of(0x40_0010), 0x4025_4010);
        assert_eq!(ui.pv_offset(), 0x4025_4000 - 0x40_0000);
    }

    #[test]
    fn pv_offset_may_be_negative() {
        let ui = place_user_image(0x4030_0000, Range { start: 0x10_0000_0000, end: 0x10_0000_1000 }).unwrap();
        assert!(ui.pv_offset() < 0);
        assert_eq!(ui.phys_of(0x10_0000_0000), 0x4030_0000);
    }

    #[test]
    fn too_big_and_too_high_are_rejected() {
        let big = Range { start: 0x40_0000, end: 0x40_0000 + 0x2000_0000 };
        assert!(matches!(place_user_image(0x4030_0000, big), Err(LayoutError::UserImageTooBig { .. })));
        let high = Range { start: KERNEL_VIRT_BASE - PAGE_SIZE, end: KERNEL_VIRT_BASE };
        assert!(matches!(place_user_image(0x4030_0000, high), Err(LayoutError::UserImageTooHigh(_))));
    }

    #[test]
    fn kernel_must_sit_in_its_ram() {
        let ok = Range { start: KERNEL_PHYS_BASE, end: 0x4030_0000 };
        assert!(check_kernel(ok).is_ok());
        let low = Range { start: RAM_BASE, end: 0x4030_0000 };
        assert!(check_kernel(low).is_err());
    }
}
