//! Phases of a profiled grow, and the marker instructions that announce
//! them to the profiler (`make profile`, the QEMU plugin in
//! `tools/profile/plugin`).
//!
//! A marker is an instruction the CPU executes as a no-op and the plugin
//! recognises by its bytes: on x86_64 the 7-byte `nopl disp32(%rax)` with
//! `disp32 = X86_TAG | id`, on AArch64 `movz xzr, #imm16` with
//! `imm16 = AARCH64_TAG | id`. From a marker on, the plugin counts every
//! instruction executed, the kernel's included, under that phase, until the
//! next marker; [`Phase::Idle`] counts nothing. The client's markers (ids
//! up to 15) open and close a measured window; the server's (16 and up)
//! change the phase only inside one, so its work for calls nobody measures
//! is not counted. Markers are emitted only
//! with the `enabled` feature, which only `make profile` turns on: every
//! other build has none.
//!
//! ```
//! use profile_markers::Phase;
//! assert_eq!(Phase::from_id(Phase::Maps.id()), Some(Phase::Maps));
//! assert!(Phase::ALL.iter().all(|p| !p.name().is_empty()));
//! ```

#![no_std]
// The marker is an instruction: inline assembly, only in profile builds.
#![cfg_attr(all(feature = "enabled", target_os = "none"), allow(unsafe_code))]

use core::sync::atomic::{AtomicU8, Ordering};

/// The x86_64 marker's displacement, with the phase id in its low byte.
pub const X86_TAG: u32 = 0x5E14_5E00;
/// The AArch64 marker's immediate, with the phase id in its low byte.
pub const AARCH64_TAG: u16 = 0xE500;

/// Which program runs a phase's own (user-mode) instructions: the report
/// names them from that program's symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// The process that calls the memory manager (the benchmark's owner).
    Client,
    /// The memory manager.
    Server,
}

macro_rules! phases {
    ($($(#[$m:meta])* $name:ident = $id:literal, $label:literal, $program:ident;)*) => {
        /// A phase of the work a grow takes, as the profiler splits it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Phase {
            $($(#[$m])* $name = $id,)*
        }

        impl Phase {
            /// Every phase, in id order.
            pub const ALL: &'static [Phase] = &[$(Phase::$name,)*];

            /// The phase's name in the report.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Phase::$name => $label,)*
                }
            }

            /// The program whose code runs in this phase besides the kernel.
            pub const fn program(self) -> Program {
                match self {
                    $(Phase::$name => Program::$program,)*
                }
            }

            /// Emits this phase's marker (nothing unless `enabled`).
            #[inline(always)]
            fn emit(self) {
                match self {
                    $(Phase::$name => marker!($id),)*
                }
            }
        }
    };
}

#[cfg(all(feature = "enabled", target_os = "none", target_arch = "x86_64"))]
macro_rules! marker {
    ($id:literal) => {
        // SAFETY: a multi-byte NOP: no register, flag or memory changes.
        unsafe {
            core::arch::asm!(".byte 0x0f, 0x1f, 0x80", ".long {tag} | {id}", tag = const X86_TAG, id = const $id,
                options(nostack, preserves_flags))
        }
    };
}

#[cfg(all(feature = "enabled", target_os = "none", target_arch = "aarch64"))]
macro_rules! marker {
    ($id:literal) => {
        // SAFETY: a MOVZ into the zero register: no register, flag or memory changes.
        unsafe {
            core::arch::asm!(".inst 0xd280001f | (({tag} | {id}) << 5)", tag = const AARCH64_TAG, id = const $id,
                options(nostack, preserves_flags))
        }
    };
}

#[cfg(not(all(feature = "enabled", target_os = "none")))]
macro_rules! marker {
    ($id:literal) => {{
        let _ = $id;
    }};
}

phases! {
    /// Not measured.
    Idle = 0, "idle", Client;
    /// The client's call: its stub and the kernel's IPC to the server.
    Call = 1, "IPC in (client stub, kernel)", Client;
    /// Copying the message out and decoding it.
    Decode = 16, "decode", Server;
    /// Checking who sent it and validating every field.
    Checks = 17, "checks", Server;
    /// Allocating frames (untyped retype).
    Frames = 18, "frame allocation", Server;
    /// Copying frame caps, one per mapping.
    Copies = 19, "cap copies", Server;
    /// Making and mapping paging structures.
    Tables = 20, "page tables", Server;
    /// Mapping frames.
    Maps = 21, "maps", Server;
    /// The server's tables: the undo log, records, budgets.
    Bookkeeping = 22, "bookkeeping", Server;
    /// Rewriting the object's header page.
    Header = 23, "header", Server;
    /// Signalling subscribers.
    Notify = 24, "notify", Server;
    /// Encoding the reply and the kernel's reply to the client.
    Reply = 25, "IPC out (reply, kernel)", Server;
}

/// The phase the last marker announced (so a scoped phase can hand back).
static CURRENT: AtomicU8 = AtomicU8::new(Phase::Idle as u8);

impl Phase {
    /// The id its marker carries.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The phase with this id, if any.
    pub fn from_id(id: u8) -> Option<Phase> {
        Phase::ALL.iter().copied().find(|p| p.id() == id)
    }

    /// From here on the work is this phase's.
    #[inline(always)]
    pub fn enter(self) {
        if cfg!(feature = "enabled") {
            CURRENT.store(self as u8, Ordering::Relaxed);
        }
        self.emit();
    }

    /// This phase until the guard drops, then back to the one before.
    #[inline(always)]
    pub fn scoped(self) -> Scoped {
        let before = if cfg!(feature = "enabled") { CURRENT.load(Ordering::Relaxed) } else { 0 };
        self.enter();
        Scoped { before }
    }
}

/// Hands the phase back when dropped (see [`Phase::scoped`]).
#[must_use = "the phase ends when this drops"]
pub struct Scoped {
    before: u8,
}

impl Drop for Scoped {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(p) = Phase::from_id(self.before) {
            p.enter();
        }
    }
}
