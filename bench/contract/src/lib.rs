//! The contract between the benchmark's root task (`bench/image`,
//! `make bench`) and the benchmark program `bench/peer`: roles, cap slots, the requests the owner makes of the
//! supervisor, the commands it gives its peers, the sizes measured, and the
//! cycle counter every figure is read from.
//!
//! One owner process holds the shared object and grows it; M peer
//! processes (M in [`PEERS`]) follow its commands. A command is one word
//! and two arguments in a separate, never-grown control object plus a
//! signal on each peer's own notification (seL4 notifications carry no
//! data); every peer answers with a real IPC message on the owner's answer
//! endpoint, badged with its index.

#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
// The hardware boundary: the cycle counter.
#![allow(unsafe_code)]

use libshm::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};
use sel4::CPtr;

/// What a benchmark process is, passed as its `ProcessInfo::arg`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The owner: holds the object, grows it, times it.
    Owner,
    /// Peer number `index`: attaches and follows the owner's commands.
    Peer(u16),
}

/// The `arg` bits above the role's code hold a peer's index.
const ROLE_BITS: u32 = 16;
const OWNER_CODE: u64 = 1;
const PEER_CODE: u64 = 2;

impl Role {
    /// The `arg` that says this role.
    pub const fn arg(self) -> u64 {
        match self {
            Role::Owner => OWNER_CODE,
            Role::Peer(index) => PEER_CODE | (index as u64) << ROLE_BITS,
        }
    }

    /// The role an `arg` says, if any.
    ///
    /// ```
    /// use bench_contract::Role;
    /// for role in [Role::Owner, Role::Peer(0), Role::Peer(63)] {
    ///     assert_eq!(Role::from_arg(role.arg()), Some(role));
    /// }
    /// assert_eq!(Role::from_arg(0), None);
    /// ```
    pub fn from_arg(arg: u64) -> Option<Role> {
        match (arg & ((1 << ROLE_BITS) - 1), arg >> ROLE_BITS) {
            (OWNER_CODE, 0) => Some(Role::Owner),
            (PEER_CODE, index) => u16::try_from(index).ok().map(Role::Peer),
            _ => None,
        }
    }
}

/// Cap slots the supervisor fills in the benchmark's processes (above the
/// well-known ones of `runtime::slots`, below the half of the CNode where
/// the supervisor parks the process's own objects).
pub mod slots {
    use sel4::CPtr;
    /// The owner: the answer endpoint, to receive on. A peer: the same
    /// endpoint, send only, badged with `index + 1`.
    pub const ANSWERS: CPtr = 100;
    /// The release notification: the owner signals it, a stuck peer waits on it.
    pub const RELEASE: CPtr = 101;
    /// A peer: its own command notification, to wait on.
    pub const NOTIFY: CPtr = 102;
    /// The owner: peer `i`'s command notification, to signal, is here + `i`.
    pub const FIRST_PEER_NOTIFY: CPtr = 128;
}

/// The owner's slot for signalling peer `index`.
pub const fn peer_notify_slot(index: u16) -> CPtr {
    slots::FIRST_PEER_NOTIFY + index as CPtr
}

/// Numbers of peers measured, in order (the peers of a smaller M are among
/// those of the next).
pub const PEERS: [u16; 4] = [1, 4, 16, 64];
/// The largest M: the supervisor needs this many processes besides the
/// owner and the memory manager.
pub const MAX_PEERS: u16 = PEERS[PEERS.len() - 1];
/// Grow sizes measured, in 4 KiB pages.
pub const PAGES: [u64; 3] = [1, 16, 512];
/// Pages of the 2 MiB-page grow (one 2 MiB frame).
pub const LARGE_PAGES: u64 = LARGE_PAGE_SIZE / PAGE_SIZE;
/// Grow sizes measured with a stuck peer.
pub const STUCK_PAGES: [u64; 1] = [1];
/// Timed repeats of every figure; the median is reported.
pub const REPEATS: usize = 5;
/// With a stuck peer, notify-and-acknowledge is stopped after this many
/// times the time it took without one at the same size.
pub const STUCK_BOUND_FACTOR: u64 = 4;
/// The same on a multicore kernel: under icount the cores take turns, and
/// the others' answers can wait for their core's turn while the owner
/// polls on its own.
pub const SMP_STUCK_BOUND_FACTOR: u64 = 64;

/// The shared object every design grows.
pub const OBJECT: &str = "bench";
/// Its size between repeats: the header page and one data page.
pub const BASE: u64 = 2 * PAGE_SIZE;
/// Its size before a 2 MiB-page grow: the first 2 MiB (4 KiB pages, as the
/// header page needs), so the grow adds one 2 MiB-aligned 2 MiB frame.
pub const LARGE_BASE: u64 = LARGE_PAGE_SIZE;
/// Its largest size (the 2 MiB-page grow's end).
pub const OBJECT_MAX: u64 = 2 * LARGE_PAGE_SIZE;
/// The control object: the owner writes commands, peers read them.
pub const CONTROL: &str = "bench-control";
/// Its size: the header page and the command page.
pub const CONTROL_SIZE: u64 = 2 * PAGE_SIZE;
/// Offsets in the control object: the command word (sequence and op) ...
pub const CMD: u64 = PAGE_SIZE;
/// ... and its two arguments.
pub const ARGS: [u64; 2] = [PAGE_SIZE + 8, PAGE_SIZE + 16];

const _: () = assert!(BASE + PAGES[PAGES.len() - 1] * PAGE_SIZE <= OBJECT_MAX);

/// Bits of the command word that hold the op; the sequence number is above.
const OP_BITS: u32 = 8;

/// The command word for op `op`, the `seq`-th command.
pub const fn command_word(seq: u64, op: u64) -> u64 {
    seq << OP_BITS | op
}

/// The (sequence, op) of a command word.
pub const fn decode_command(word: u64) -> (u64, u64) {
    (word >> OP_BITS, word & ((1 << OP_BITS) - 1))
}

/// Commands to the peers ([`CMD`]).
pub mod op {
    /// Attach to [`super::OBJECT`] (read-only).
    pub const ATTACH: u64 = 1;
    /// Detach from it.
    pub const DETACH: u64 = 2;
    /// Check that the word at offset `args[0]` holds `args[1]`.
    pub const VERIFY: u64 = 3;
    /// Notify-and-acknowledge: map `args[1]` bytes from offset `args[0]`
    /// into yourself (`mmap_peer` on yourself), then answer.
    pub const MAP: u64 = 4;
    /// The peer with index `args[0]` answers, then gets stuck: it waits on
    /// the release notification and ignores every command until released.
    /// The others just answer.
    pub const STUCK: u64 = 5;
    /// Exit (no answer).
    pub const EXIT: u64 = 6;
    /// Subscribe to [`super::OBJECT`]'s changes with the peer's own
    /// notification (while attached; never waited on: the signals only
    /// cost the grower).
    pub const SUBSCRIBE: u64 = 7;
}

/// Answers of the peers (message labels, never 0: an empty `NBRecv` has
/// label 0).
pub mod answer {
    /// Started, control object attached.
    pub const READY: u64 = 1;
    /// The command was carried out.
    pub const OK: u64 = 2;
    /// The command failed.
    pub const FAIL: u64 = 3;
    /// A stuck peer was released.
    pub const RELEASED: u64 = 4;
}

/// What the owner asks of the supervisor, as a reported word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Have this many peers running (spawn the missing ones).
    Peers(u16),
    /// Measure the floor for the owner and the first this many peers.
    Floor(u16),
    /// All figures printed; `true` if every check passed.
    Done(bool),
}

const REQUEST_SHIFT: u32 = 32;
const PEERS_REQUEST: u64 = 1;
const FLOOR_REQUEST: u64 = 2;
const DONE_REQUEST: u64 = 3;

impl Request {
    /// The word to report.
    pub const fn encode(self) -> u64 {
        match self {
            Request::Peers(m) => PEERS_REQUEST << REQUEST_SHIFT | m as u64,
            Request::Floor(m) => FLOOR_REQUEST << REQUEST_SHIFT | m as u64,
            Request::Done(ok) => DONE_REQUEST << REQUEST_SHIFT | ok as u64,
        }
    }

    /// The request a reported word carries.
    pub fn decode(word: u64) -> Option<Request> {
        let arg = word & ((1 << REQUEST_SHIFT) - 1);
        match word >> REQUEST_SHIFT {
            PEERS_REQUEST => u16::try_from(arg).ok().map(Request::Peers),
            FLOOR_REQUEST => u16::try_from(arg).ok().map(Request::Floor),
            DONE_REQUEST => Some(Request::Done(arg != 0)),
            _ => None,
        }
    }
}

/// Design names, as the report tool knows them.
pub mod design {
    /// The owner's grow maps the new pages into every peer.
    pub const MMAP_PEER: &str = "mmap_peer";
    /// The same, one 2 MiB page.
    pub const MMAP_PEER_2M: &str = "mmap_peer_2m";
    /// Grow in the owner only, notify each peer, each maps for itself and answers.
    pub const NOTIFY_ACK: &str = "notify_ack";
    /// The kernel invocations alone, from the root task.
    pub const FLOOR: &str = "floor";
    /// The same, one 2 MiB page.
    pub const FLOOR_2M: &str = "floor_2m";
    /// [`MMAP_PEER`] with one peer stuck.
    pub const MMAP_PEER_STUCK: &str = "mmap_peer_stuck";
    /// [`NOTIFY_ACK`] with one peer stuck: the time the others took.
    pub const NOTIFY_ACK_STUCK: &str = "notify_ack_stuck";
    /// [`MMAP_PEER`] with every peer subscribed to the object's changes:
    /// the grow also signals M notifications.
    pub const MMAP_PEER_SUBSCRIBED: &str = "mmap_peer_subscribed";
    /// [`MMAP_PEER_SUBSCRIBED`] with one subscriber stuck (never waiting on
    /// its notification, deaf to commands).
    pub const MMAP_PEER_SUBSCRIBED_STUCK: &str = "mmap_peer_subscribed_stuck";
    /// The owner's shrink back after a [`MMAP_PEER`] grow: one call takes
    /// the pages from every peer.
    pub const SHRINK: &str = "shrink";
    /// The kernel's part of it, from the root task: revoking each frame,
    /// which deletes its copies and so its mapping in every VSpace.
    pub const FLOOR_SHRINK: &str = "floor_shrink";
}

/// The word the owner writes into the last new page of repeat `repeat` of a
/// grow by `pages` with `peers` peers, for the peers to find.
pub const fn stamp(peers: u16, pages: u64, repeat: usize) -> u64 {
    0xbe9c_0000_0000_0000 | (peers as u64) << 32 | pages << 8 | repeat as u64
}

/// The median of `samples` (sorted in place); 0 for none.
pub fn median(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

/// Prints the repeats of one figure (`BENCH-RAW`, for the log) and its
/// median (`BENCH`, for `bench/report`); returns the median.
pub fn report(design: &str, peers: u16, pages: u64, samples: &mut [u64]) -> u64 {
    sel4::debug_println!("BENCH-RAW design={design} peers={peers} pages={pages} samples={samples:?}");
    let cycles = median(samples);
    sel4::debug_println!("BENCH design={design} peers={peers} pages={pages} cycles={cycles}");
    cycles
}

/// The arch's cycle counter: x86_64 `rdtsc`, AArch64 `cntvct_el0` (the
/// boot loader lets EL0 read it). Under QEMU `-icount shift=0` both count
/// guest instructions (`cntvct_el0` one tick per 16 of them, at its
/// 62.5 MHz), so the same image gives the same counts.
#[cfg(target_arch = "x86_64")]
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the time-stamp counter into edx:eax; seL4
    // leaves CR4.TSD clear, so user mode may execute it.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    u64::from(hi) << 32 | u64::from(lo)
}

/// See the x86_64 version.
#[cfg(target_arch = "aarch64")]
pub fn cycles() -> u64 {
    let v: u64;
    // SAFETY: reads the virtual counter, a register with no side effect;
    // the loader sets CNTKCTL_EL1.EL0VCTEN so EL0 may read it. The isb
    // keeps the read from being taken before the code it times.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [Request::Peers(64), Request::Floor(1), Request::Done(true), Request::Done(false)] {
            assert_eq!(Request::decode(r.encode()), Some(r));
        }
        assert_eq!(Request::decode(0), None);
    }

    #[test]
    fn commands_round_trip() {
        assert_eq!(decode_command(command_word(77, op::MAP)), (77, op::MAP));
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 3);
        assert_eq!(median(&mut []), 0);
    }
}
