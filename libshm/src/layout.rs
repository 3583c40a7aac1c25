//! The fixed process layout, written down once for the root task, the memory
//! manager and the apps.
//!
//! Every process has the same *shared window*: a virtual range reserved for
//! the memory manager alone. Nothing else (image, stack, heap, IPC buffer)
//! may be placed in it, so a peer's own mappings can never collide with a
//! shared object, and an object mapped at one address in the window is at that
//! address in every process (patent ¶12: pointers stored in shared memory are
//! valid everywhere).
//!
//! The window lies at 1 GiB..3 GiB: below 4 GiB because seL4 5.0's x86
//! fault handler keeps fault addresses in 32 bits, and the memory manager
//! must tell exactly which page of the window a process touched. It is
//! inside the first level-1 paging structure (the first 512 GiB), which the
//! image also uses: the memory manager must therefore cope with that
//! level-1 structure already being present (it does).
//!
//! # Example
//! ```
//! use libshm::layout::{in_window, WINDOW_BASE, WINDOW_SIZE};
//! assert!(in_window(WINDOW_BASE, WINDOW_SIZE));
//! assert!(!in_window(WINDOW_BASE - 1, 1));
//! ```

use crate::protocol::{TaskId, NAME_MAX};

/// log2 of the small page size.
pub const PAGE_BITS: u32 = 12;
/// The small page (4 KiB frame) size.
pub const PAGE_SIZE: u64 = 1 << PAGE_BITS;
const _: () = assert!(PAGE_SIZE == 4096);
/// log2 of the large page size.
pub const LARGE_PAGE_BITS: u32 = 21;
/// The large page (2 MiB frame) size; also the alignment of every object's
/// base address, so that no two objects share a level-3 paging structure.
pub const LARGE_PAGE_SIZE: u64 = 1 << LARGE_PAGE_BITS;
const _: () = assert!(LARGE_PAGE_SIZE == 2 << 20);

/// Number of paging levels (the VSpace root is level 0).
pub const PAGING_LEVELS: u8 = 4;
const _: () = assert!(PAGING_LEVELS == 4);
/// Index bits translated by each paging level (512 entries per structure).
pub const INDEX_BITS: u32 = 9;
const _: () = assert!(1u64 << INDEX_BITS == 512);

/// A paging structure below the VSpace root.
///
/// | level | x86_64 | AArch64 | one entry of the level above covers |
/// |---|---|---|---|
/// | `L1` | PDPT | PUD | 512 GiB |
/// | `L2` | PageDirectory | PD | 1 GiB |
/// | `L3` | PageTable | PT | 2 MiB |
///
/// ```
/// use libshm::layout::TableLevel;
/// assert_eq!(TableLevel::L3.span(), 2 << 20);
/// assert_eq!(TableLevel::L2.parent(), Some(TableLevel::L1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableLevel {
    /// x86_64 PDPT, AArch64 PUD.
    L1 = 1,
    /// x86_64 PageDirectory, AArch64 PD.
    L2 = 2,
    /// x86_64 PageTable, AArch64 PT.
    L3 = 3,
}

impl TableLevel {
    /// All levels, root-most first: the order in which they must be mapped.
    ///
    /// ```
    /// use libshm::layout::TableLevel;
    /// assert_eq!(TableLevel::ALL[0], TableLevel::L1);
    /// ```
    pub const ALL: [TableLevel; 3] = [TableLevel::L1, TableLevel::L2, TableLevel::L3];

    /// Bytes of virtual address space one structure of this level translates
    /// (its whole range; it sits in one slot of the level above).
    ///
    /// ```
    /// use libshm::layout::TableLevel;
    /// assert_eq!(TableLevel::L1.span(), 512 << 30);
    /// assert_eq!(TableLevel::L2.span(), 1 << 30);
    /// ```
    pub const fn span(self) -> u64 {
        1 << (PAGE_BITS + INDEX_BITS * (PAGING_LEVELS as u32 - self as u32))
    }

    /// The level this one is mapped into, `None` for `L1` (it goes into the
    /// VSpace root, which always exists).
    ///
    /// ```
    /// use libshm::layout::TableLevel;
    /// assert_eq!(TableLevel::L1.parent(), None);
    /// ```
    pub const fn parent(self) -> Option<TableLevel> {
        match self {
            TableLevel::L1 => None,
            TableLevel::L2 => Some(TableLevel::L1),
            TableLevel::L3 => Some(TableLevel::L2),
        }
    }

    /// The base address of the structure of this level that translates
    /// `vaddr`.
    ///
    /// ```
    /// use libshm::layout::TableLevel;
    /// assert_eq!(TableLevel::L3.base_of(0x20_0030_1234), 0x20_0020_0000);
    /// ```
    pub const fn base_of(self, vaddr: u64) -> u64 {
        vaddr & !(self.span() - 1)
    }
}

/// First address of the shared window.
pub const WINDOW_BASE: u64 = 0x4000_0000;
const _: () = assert!(WINDOW_BASE.is_multiple_of(LARGE_PAGE_SIZE));
/// Size of the shared window (2 GiB).
pub const WINDOW_SIZE: u64 = 0x8000_0000;
const _: () = assert!(WINDOW_SIZE == 2 << 30);
/// One past the last address of the shared window.
pub const WINDOW_END: u64 = WINDOW_BASE + WINDOW_SIZE;
const _: () = assert!(WINDOW_END == 0xc000_0000);

/// Reserved in every process, right above the window: the memory manager
/// maps an empty level-2 table here and takes it out again to make every
/// core drop a process's stale translations (seL4 5.0's x86_64 SMP kernel
/// flushes a VSpace on all its cores when a level-2 table leaves it, but
/// not when a page of another VSpace than the caller's does).
pub const SHOOTDOWN_BASE: u64 = WINDOW_END;
const _: () = assert!(SHOOTDOWN_BASE.is_multiple_of(LARGE_PAGE_SIZE << INDEX_BITS));

/// The word a memory manager built with its `poison-freed` feature (the
/// test suite's) writes over every 4 KiB of a frame it takes out of an
/// object, once the frame is unmapped everywhere and before its memory is
/// reused: a process that still reads it through a stale translation sees
/// this instead of its data.
pub const FREED_FRAME_POISON: u64 = 0xdead_f4ee_dead_f4ee;

/// Whether `[addr, addr + len)` lies inside the shared window (false on
/// overflow or for `len == 0`).
///
/// ```
/// use libshm::layout::{in_window, WINDOW_END};
/// assert!(!in_window(WINDOW_END - 4096, 8192));
/// assert!(!in_window(u64::MAX, 2));
/// ```
pub const fn in_window(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => len > 0 && addr >= WINDOW_BASE && end <= WINDOW_END,
        None => false,
    }
}

/// log2 bytes of untyped memory the root task keeps for itself (its own
/// objects after the memory manager's pool has taken what is left).
pub const ROOT_RESERVE_BITS: usize = 25;

/// Most processes the memory manager registers at once.
pub const MAX_PROCESSES: usize = 128;
const _: () = assert!(MAX_PROCESSES >= MAX_ATTACHMENTS);
/// Most shared objects that exist at once.
pub const MAX_OBJECTS: usize = 256;
const _: () = assert!(MAX_OBJECTS > 0);
/// Most processes attached to one object: the capacity of the header's
/// attached-processes table (benchmarks run 64 peers plus a grower).
pub const MAX_ATTACHMENTS: usize = 96;
const _: () = assert!(MAX_ATTACHMENTS > 64);
// The default budget (`protocol::Budget::DEFAULT`), field by field; a
// system description sets each process's own.
/// Mapping records (a mapping, or a run of pending pages) one process holds
/// by default.
pub const MAX_MAPPINGS_PER_PROCESS: usize = 8192;
const _: () = assert!(MAX_MAPPINGS_PER_PROCESS == 8192);
/// Bytes of frames one process may be charged for by default (objects it
/// created or grew).
pub const PROCESS_QUOTA_BYTES: u64 = 16 << 20;
const _: () = assert!(PROCESS_QUOTA_BYTES.is_multiple_of(LARGE_PAGE_SIZE));
/// Cap slots of the memory manager one process may be charged for by
/// default (a frame's cap, a mapping's copy and a paging structure take one
/// each).
pub const PROCESS_SLOT_BUDGET: u64 = 8192;
const _: () = assert!(PROCESS_SLOT_BUDGET == 8192);
/// Bytes of paging structures the memory manager may make for one process
/// by default (64 tables: each maps 2 MiB of 4 KiB pages or 1 GiB of 2 MiB
/// ones).
pub const PROCESS_TABLE_BUDGET: u64 = 64 * PAGE_SIZE;
const _: () = assert!(PROCESS_TABLE_BUDGET == 64 * 4096);
/// Bytes of the shared window one process's objects may reserve by
/// default: an eighth of it, so eight such budgets fit beside each other.
pub const PROCESS_WINDOW_BUDGET: u64 = WINDOW_SIZE / 8;
/// Objects one process may own by default.
pub const PROCESS_OBJECT_BUDGET: u64 = 16;
/// Bytes of heap for a memory manager that may hold `slots` caps and owns `pool`
/// bytes of untyped memory: every cap it holds has a record of a few dozen
/// bytes (frame, mapping, table entry, plus container slack), so 128 bytes a
/// slot; in whole 2 MiB pages, at least one, at most 32 MiB, and at most a
/// quarter of the pool when that leaves a page.
///
/// ```
/// use libshm::layout::memory_manager_heap_bytes as heap_bytes;
/// assert_eq!(heap_bytes(1 << 12, 64 << 20), 2 << 20);
/// assert_eq!(heap_bytes(1 << 16, 64 << 20), 8 << 20);
/// assert_eq!(heap_bytes(1 << 20, 64 << 20), 16 << 20);
/// ```
pub fn memory_manager_heap_bytes(slots: u64, pool: u64) -> u64 {
    const PAGE: u64 = LARGE_PAGE_SIZE;
    slots.saturating_mul(128).clamp(PAGE, 32 << 20).min(pool / 4).max(PAGE).next_multiple_of(PAGE)
}

/// Largest `max_size` of one object (its reservation in the window).
pub const MAX_OBJECT_SIZE: u64 = 1 << 30;
const _: () = assert!(MAX_OBJECT_SIZE <= WINDOW_SIZE);

/// First address above user space on x86_64 (the narrower of the two arches).
const X86_64_USER_TOP: u64 = 1 << 47;

// The window is in user space on both arches, starts on a level-2 boundary
// and is whole 2 MiB units (objects are placed at 2 MiB-aligned addresses).
const _: () = assert!(WINDOW_END <= X86_64_USER_TOP);
// Fault addresses are exact only below 4 GiB on x86 seL4 5.0.
const _: () = assert!(WINDOW_END <= 1 << 32);
const _: () = assert!(WINDOW_BASE.is_multiple_of(TableLevel::L2.span()));
const _: () = assert!(WINDOW_SIZE.is_multiple_of(LARGE_PAGE_SIZE));

/// Where every spawned program is linked and loaded.
///
/// The rest of a process's private layout sits below 4 GiB as well: seL4
/// 5.0's x86 fault handler keeps fault addresses in 32 bits, so a fault on
/// a private page is reported exactly.
pub const IMAGE_BASE: u64 = 0x40_0000;
const _: () = assert!(IMAGE_BASE < IMAGE_END);
/// First address above the room for a program's image.
pub const IMAGE_END: u64 = 0x1000_0000;
/// Top of the main thread's stack; the page at `STACK_TOP` stays unmapped.
pub const STACK_TOP: u64 = 0x2000_0000;
/// Pages of stack; the page below them stays unmapped, so an overflow faults.
pub const STACK_PAGES: u64 = 16;
/// The main thread's IPC buffer.
pub const IPC_BUFFER: u64 = STACK_TOP + PAGE_SIZE;
const _: () = assert!(IPC_BUFFER.is_multiple_of(PAGE_SIZE));
/// The read-only page where the supervisor describes the process to itself.
pub const PROCESS_INFO: u64 = IPC_BUFFER + PAGE_SIZE;

/// First address of a process's heap: above the image's room and a 2 MiB
/// scratch slot the memory manager writes frames through. The system
/// description sizes each process's heap; it is mapped before the process
/// starts.
pub const HEAP_BASE: u64 = IMAGE_END + LARGE_PAGE_SIZE;
/// The most heap a process may have.
pub const HEAP_MAX: u64 = 32 << 20;

const _: () = assert!(PROCESS_INFO + PAGE_SIZE <= WINDOW_BASE);
const _: () = assert!(STACK_TOP - (STACK_PAGES + 1) * PAGE_SIZE >= IMAGE_END);
const _: () = assert!(HEAP_BASE + HEAP_MAX <= STACK_TOP - (STACK_PAGES + 1) * PAGE_SIZE);
const _: () = assert!(HEAP_BASE.is_multiple_of(LARGE_PAGE_SIZE));

// The process ABI: what the supervisor gives every process it spawns,
// the one definition the root task, the runtime and libshm use.

/// Cap slots every spawned process finds filled in its CNode.
pub mod slots {
    /// A cap slot number (seL4's `CPtr`).
    pub type CPtr = u64;
    /// Its own CNode.
    pub const CNODE: CPtr = 1;
    /// Its own VSpace root.
    pub const VSPACE: CPtr = 2;
    /// Its own TCB.
    pub const TCB: CPtr = 3;
    /// Endpoint to the supervisor (the root task), badged with its identity.
    pub const SUPERVISOR: CPtr = 4;
    /// Endpoint to the memory manager, badged with its identity (null in the
    /// memory manager itself).
    pub const MEMORY_MANAGER: CPtr = 5;
    /// Where the kernel sends its faults (the supervisor, same badge).
    pub const FAULT: CPtr = 6;
    /// The endpoint the memory manager serves (only in the memory manager).
    pub const SERVICE: CPtr = 7;
    /// Slots the supervisor fills for tests (only where [`super::ProcessInfo::arg`] says so).
    pub const EXTRA: CPtr = 8;
    /// A notification of its own: what it waits on to be woken by the
    /// memory manager when an object it subscribed to changes.
    pub const NOTIFICATION: CPtr = 9;
    /// The badge of [`NOTIFICATION`]: the word a signal sets, so a poll
    /// tells a signal from none.
    pub const NOTIFICATION_BADGE: u64 = 1;
    /// First slot the process may use freely.
    pub const FIRST_FREE: CPtr = 16;
}

/// Marks a page the supervisor filled in.
pub const PROCESS_INFO_MAGIC: u64 = u64::from_le_bytes(*b"SEL4PROC");

/// What the supervisor tells a process about itself, in a read-only page at
/// [`PROCESS_INFO`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProcessInfo {
    /// [`PROCESS_INFO_MAGIC`].
    pub magic: u64,
    /// Process id.
    pub pid: u16,
    /// Generation: changes on every restart.
    pub generation: u16,
    /// Bytes of `name` in use.
    pub name_len: u32,
    /// Name alias, e.g. "spreadsheet".
    pub name: [u8; NAME_MAX],
    /// log2 of the number of slots of its CNode.
    pub cnode_bits: u64,
    /// First free slot of its CNode.
    pub free_slots_start: slots::CPtr,
    /// First slot after the free ones.
    pub free_slots_end: slots::CPtr,
    /// First of the untyped caps it was given (the memory manager's pool).
    pub untyped_start: slots::CPtr,
    /// First slot after them.
    pub untyped_end: slots::CPtr,
    /// log2 size of each of those untypeds.
    pub untyped_size_bits: u64,
    /// A word the supervisor passes (the behaviour of a test app).
    pub arg: u64,
    /// How often this process has been restarted after a fault (0 on its
    /// first start).
    pub restarts: u64,
    /// Bytes of heap mapped at [`HEAP_BASE`] (the system
    /// description's `heap`, in whole pages; 0: none).
    pub heap_bytes: u64,
    /// What the memory manager promised it (the system description's
    /// `budget`): past it, a request is refused with `ENOMEM`.
    pub budget: crate::protocol::Budget,
    /// Where its console output goes: [`CONSOLE_KERNEL`] or
    /// [`CONSOLE_SUPERVISOR`].
    pub console: u64,
}

/// [`ProcessInfo::console`]: the debug kernel prints (`seL4_DebugPutChar`).
pub const CONSOLE_KERNEL: u64 = 0;
/// [`ProcessInfo::console`]: the kernel cannot print (a production build);
/// lines go to the supervisor, which writes the serial device.
pub const CONSOLE_SUPERVISOR: u64 = 1;

impl ProcessInfo {
    /// The name as text.
    pub fn name(&self) -> &str {
        let len = (self.name_len as usize).min(NAME_MAX);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }

    /// The identity the supervisor and the memory manager know it by.
    pub fn task(&self) -> TaskId {
        TaskId::new(self.pid, self.generation).expect("supervisor writes valid generations")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry() {
        assert_eq!(TableLevel::L1.span(), 1 << 39);
        assert_eq!(TableLevel::L2.span(), 1 << 30);
        assert_eq!(TableLevel::L3.span(), LARGE_PAGE_SIZE);
        // The window fits in one level-1 structure.
        assert_eq!(TableLevel::L1.base_of(WINDOW_BASE), TableLevel::L1.base_of(WINDOW_END - 1));
    }
}
