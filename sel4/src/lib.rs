//! Rust bindings to the seL4 5.0 microkernel, for x86_64 and AArch64.
//!
//! Shaped like rust-sel4's `sel4` crate: typed capabilities ([`Cap`]),
//! invocations as methods on them, [`BootInfo`], [`MessageInfo`] and the
//! IPC buffer. Every kernel number here (invocation labels, object types,
//! error codes, syscall numbers, bitfield layouts, register order) is
//! generated at build time from the kernel's own libsel4 XML, headers and
//! bitfield specifications for the configuration in
//! `tools/kernel/config/<arch>.h`; see `build/main.rs`.
//!
//! A root task's entry (the kernel starts it with the address of
//! [`BootInfo`]), compiled for both bare-metal targets by `make doc-test` (the
//! host test run skips it, `ignore-linux`):
//!
//! ```no_run,ignore-linux
//! #![no_std]
//! #![no_main]
//! # #[panic_handler]
//! # fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
//!
//! #[no_mangle]
//! extern "C" fn _start(bootinfo: *const sel4::BootInfo) -> ! {
//!     // SAFETY: the kernel passes its BootInfo frame, mapped for good.
//!     let bi = unsafe { sel4::BootInfo::from_ptr(bootinfo) };
//!     // SAFETY: BootInfo names this thread's IPC buffer.
//!     unsafe { sel4::set_ipc_buffer(bi.ipc_buffer as *mut sel4::IpcBuffer) };
//!     let free = bi.empty.end - bi.empty.start;
//!     sel4::debug_println!("{free} free slots, {} untyped caps", bi.untypeds().count());
//!     loop {}
//! }
//! ```
//!
//! All `unsafe` of the crate sits in the per-arch syscall and IPC-buffer
//! code and in [`BootInfo`]'s access to kernel-provided memory.

#![no_std]
#![warn(missing_docs)]
// The kernel boundary: system calls, the IPC buffer, boot info.
#![allow(unsafe_code)]

mod arch;
mod bootinfo;
mod cap;
mod debug;
mod ipc;

#[allow(missing_docs, non_camel_case_types, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}

pub use bootinfo::{BootInfo, SlotRegion, UntypedDesc};
pub use cap::*;
pub use debug::{debug_put_char, debug_write, debug_write_bytes, set_console, DebugWriter};
pub use generated::*;
pub use ipc::*;

/// A capability pointer: an address in the caller's CSpace.
pub type CPtr = u64;

/// A machine word.
pub type Word = u64;

/// The position of a field inside a one-word bitfield block.
#[derive(Copy, Clone, Debug)]
pub struct BitField {
    /// Bit offset of the field's least significant bit.
    pub shift: u32,
    /// Width of the field in bits.
    pub width: u32,
}

impl BitField {
    /// The largest value the field holds.
    pub const fn max(self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1 << self.width) - 1
        }
    }

    /// Read the field from `word`.
    pub const fn get(self, word: u64) -> u64 {
        (word >> self.shift) & self.max()
    }

    /// Return `word` with the field set to `value` (truncated to the width).
    pub const fn set(self, word: u64, value: u64) -> u64 {
        (word & !(self.max() << self.shift)) | ((value & self.max()) << self.shift)
    }
}

/// Capability rights (`seL4_CapRights_t`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CapRights {
    /// May read (receive on endpoints, read frames).
    pub read: bool,
    /// May write (send on endpoints, write frames).
    pub write: bool,
    /// May transfer caps through IPC.
    pub grant: bool,
}

impl CapRights {
    /// Every right.
    pub const ALL: CapRights = CapRights { read: true, write: true, grant: true };
    /// Read and write, no grant.
    pub const READ_WRITE: CapRights = CapRights { read: true, write: true, grant: false };
    /// Read only.
    pub const READ_ONLY: CapRights = CapRights { read: true, write: false, grant: false };
    /// Write only (for example a send-only endpoint).
    pub const WRITE_ONLY: CapRights = CapRights { read: false, write: true, grant: false };
    /// No right at all (a frame mapped this way is the kernel's only).
    pub const NONE: CapRights = CapRights { read: false, write: false, grant: false };

    /// The kernel's word encoding.
    pub const fn word(self) -> u64 {
        let w = cap_rights::CAP_ALLOW_READ.set(0, self.read as u64);
        let w = cap_rights::CAP_ALLOW_WRITE.set(w, self.write as u64);
        cap_rights::CAP_ALLOW_GRANT.set(w, self.grant as u64)
    }
}

/// Whether these bindings are for seL4's multicore kernel (the `smp`
/// feature): code that must act differently on more than one core (a TLB
/// shootdown the kernel leaves out) asks here.
pub const SMP: bool = cfg!(feature = "smp");

/// Cap data for `CNode_Mint`/`Mutate` carrying a badge (`seL4_CapData_t`).
pub const fn badge_cap_data(badge: u64) -> u64 {
    let w = cap_badge::CAP_DATA_TYPE.set(0, CAP_DATA_BADGE);
    cap_badge::BADGE.set(w, badge)
}

/// The largest badge the kernel can carry.
pub const MAX_BADGE: u64 = cap_badge::BADGE.max();

/// Cap data that sets a CNode's guard (`seL4_CapData_t`, guard form).
pub const fn guard_cap_data(guard: u64, guard_size: u64) -> u64 {
    let w = cnode_guard::CAP_DATA_TYPE.set(0, CAP_DATA_GUARD);
    let w = cnode_guard::GUARD_BITS.set(w, guard);
    cnode_guard::GUARD_SIZE.set(w, guard_size)
}

/// Scheduling parameters for `TCB_Configure` (`seL4_PrioProps_t`).
pub const fn priority_word(mcp: u8, prio: u8) -> u64 {
    let w = prio_props::MCP.set(0, mcp as u64);
    prio_props::PRIO.set(w, prio as u64)
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "seL4 error {:?} ({})", self, *self as u64)
    }
}

/// The result of an invocation.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_info_round_trips_every_field() {
        let info = MessageInfo::new(MAX_LABEL, 0b101, MSG_MAX_EXTRA_CAPS as u64, MSG_MAX_LENGTH as u64);
        assert_eq!(info.label(), MAX_LABEL);
        assert_eq!(info.caps_unwrapped(), 0b101);
        assert_eq!(info.extra_caps(), MSG_MAX_EXTRA_CAPS);
        assert_eq!(info.length(), MSG_MAX_LENGTH);
    }

    #[test]
    fn message_info_fields_do_not_overlap() {
        let label_only = MessageInfo::new(MAX_LABEL, 0, 0, 0);
        assert_eq!(label_only.length(), 0);
        assert_eq!(label_only.extra_caps(), 0);
        assert_eq!(MessageInfo::new(0, 0, 0, 7).label(), 0);
    }

    #[test]
    fn rights_words_are_distinct_bits() {
        let words = [CapRights::READ_ONLY.word(), CapRights::WRITE_ONLY.word(), CapRights::READ_WRITE.word()];
        assert_eq!(words[0] | words[1], words[2]);
        assert_eq!(words[0] & words[1], 0);
        assert_ne!(CapRights::ALL.word(), CapRights::READ_WRITE.word());
    }

    #[test]
    fn badge_and_guard_cap_data_differ_in_type_bit() {
        assert_eq!(cap_badge::BADGE.get(badge_cap_data(0x1234)), 0x1234);
        assert_ne!(
            cap_badge::CAP_DATA_TYPE.get(badge_cap_data(1)),
            cnode_guard::CAP_DATA_TYPE.get(guard_cap_data(0, 1))
        );
        assert_eq!(cnode_guard::GUARD_SIZE.get(guard_cap_data(0, 60)), 60);
        assert_eq!(MAX_BADGE, (1 << cap_badge::BADGE.width) - 1);
    }

    #[test]
    fn bitfield_set_truncates_to_width() {
        let f = BitField { shift: 4, width: 3 };
        assert_eq!(f.set(0, 0xff), 0b111 << 4);
        assert_eq!(f.get(f.set(u64::MAX, 2)), 2);
    }

    #[test]
    fn labels_follow_the_kernel_numbering() {
        // The notes measured X86IOPortOut8 = 47 for this configuration.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(InvocationLabel::X86IOPortOut8 as u64, 47);
        assert_eq!(InvocationLabel::UntypedRetype as u64, 1);
    }
}
