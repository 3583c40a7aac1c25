//! AArch64 boot loader for seL4 5.0 on QEMU `virt`.
//!
//! seL4's own elfloader lives in seL4_tools, which we do not have, so this is
//! ours: QEMU's `-kernel` loads this ELF at 0x60000000 and starts it with the
//! MMU off, at EL1 (or EL2 with `-machine virtualization=on`). It copies the
//! embedded kernel to its physical addresses, places the embedded root task
//! in RAM right after it, drops to EL1, maps the kernel window and RAM,
//! turns on the MMU and caches and calls the kernel's `init_kernel` entry.
//!
//! On any target other than aarch64-unknown-none this crate is a stub binary,
//! so that host-side workspace builds and tests are unaffected.
#![cfg_attr(target_os = "none", no_std, no_main)]
// The hardware boundary: the boot loader runs before the kernel.
#![allow(unsafe_code)]

mod layout;
mod mmu;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod uart;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("loader: build with --target aarch64-unknown-none (it is a bare-metal image)");
    std::process::exit(2);
}
