//! The per-architecture boundary: system-call instructions, the per-thread
//! IPC-buffer pointer, and the names of each arch's paging structures.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;
