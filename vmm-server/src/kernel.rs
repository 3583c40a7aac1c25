//! The kernel operations the memory manager needs, one method per seL4 5.0
//! invocation (or a short fixed sequence of them), the same on x86_64 and
//! AArch64.

use core::fmt::Debug;
use libshm::layout::{TableLevel, LARGE_PAGE_SIZE, PAGE_SIZE};
use libshm::protocol::{Prot, ServerStats};

/// A frame size.
///
/// ```
/// use vmm_server::PageSize;
/// assert_eq!(PageSize::Large.bytes(), 2 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 4 KiB: x86_64 `X86_4K`, AArch64 `ARM_SmallPageObject`.
    Small,
    /// 2 MiB: x86_64 `X86_LargePageObject`, AArch64 `ARM_LargePageObject`.
    Large,
}

impl PageSize {
    /// Bytes.
    ///
    /// ```
    /// assert_eq!(vmm_server::PageSize::Small.bytes(), 4096);
    /// ```
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Small => PAGE_SIZE,
            PageSize::Large => LARGE_PAGE_SIZE,
        }
    }

    /// The paging structure a frame of this size is mapped into.
    ///
    /// ```
    /// use libshm::layout::TableLevel;
    /// assert_eq!(vmm_server::PageSize::Large.table(), TableLevel::L2);
    /// ```
    pub const fn table(self) -> TableLevel {
        match self {
            PageSize::Small => TableLevel::L3,
            PageSize::Large => TableLevel::L2,
        }
    }
}

/// What [`Kernel::alloc`] makes.
///
/// ```
/// use vmm_server::{ObjectKind, PageSize};
/// assert_eq!(ObjectKind::Frame(PageSize::Small).bytes(), 4096);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A frame.
    Frame(PageSize),
    /// A paging structure below the VSpace root.
    Table(TableLevel),
}

impl ObjectKind {
    /// Bytes of untyped memory it takes (every paging structure is one page).
    ///
    /// ```
    /// use libshm::layout::TableLevel;
    /// assert_eq!(vmm_server::ObjectKind::Table(TableLevel::L1).bytes(), 4096);
    /// ```
    pub const fn bytes(self) -> u64 {
        match self {
            ObjectKind::Frame(s) => s.bytes(),
            ObjectKind::Table(_) => PAGE_SIZE,
        }
    }
}

/// Why the kernel refused, as seL4 5.0 reports it.
///
/// ```
/// use vmm_server::KernelError;
/// assert_ne!(KernelError::OutOfMemory, KernelError::DeleteFirst);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelError {
    /// `seL4_NotEnoughMemory` (untyped exhausted) or no free CSpace slot.
    OutOfMemory,
    /// `seL4_DeleteFirst`: the slot in the VSpace is already taken.
    DeleteFirst,
    /// `seL4_FailedLookup`: the paging structure above is missing.
    FailedLookup,
    /// `seL4_InvalidCapability`: wrong cap type, or a cap already mapped.
    InvalidCapability,
    /// `seL4_InvalidArgument` / `seL4_AlignmentError` / `seL4_RangeError`.
    InvalidArgument,
}

/// The seL4 operations behind the memory manager's decisions.
///
/// Fallible methods are the ones seL4 can refuse for reasons the server
/// cannot rule out beforehand (memory, slots, VSpace contents); on error they
/// must have changed nothing. The others act on caps the server holds and
/// cannot fail in seL4; an implementation treats a failure there as a bug.
///
/// | method | seL4 5.0 (x86_64 / AArch64) |
/// |---|---|
/// | `alloc` | `Untyped_Retype` into a free slot |
/// | `free` | `CNode_Delete` of the only cap, memory back to the pool |
/// | `map_table` | `X86_PDPT_Map`, `X86_PageDirectory_Map`, `X86_PageTable_Map` / `ARM_PageUpperDirectory_Map`, `ARM_PageDirectory_Map`, `ARM_PageTable_Map` |
/// | `copy` | `CNode_Copy` of a frame cap into a free slot |
/// | `map_frame` | `X86_Page_Map` / `ARM_Page_Map` |
/// | `delete` | `CNode_Delete` (a mapped frame copy is unmapped first) |
/// | `revoke` | `CNode_Revoke` (every copy goes, with its mapping) |
/// | `write_frame` | a store through the server's own mapping of the frame |
///
/// Mapping one frame into one process, level by level (here with the fake):
///
/// ```
/// use vmm_server::{fake::FakeKernel, Kernel, ObjectKind, PageSize};
/// use libshm::layout::{TableLevel, WINDOW_BASE};
/// use libshm::protocol::Prot;
/// let mut k = FakeKernel::new(1 << 20);
/// let vspace = k.new_vspace(); // comes with its level-1 structure
/// for level in [TableLevel::L2, TableLevel::L3] {
///     let t = k.alloc(ObjectKind::Table(level)).unwrap();
///     k.map_table(t, level, vspace, level.base_of(WINDOW_BASE)).unwrap();
/// }
/// let frame = k.alloc(ObjectKind::Frame(PageSize::Small)).unwrap();
/// let copy = k.copy(frame).unwrap();
/// k.map_frame(copy, vspace, WINDOW_BASE, Prot::Read).unwrap();
/// k.revoke(frame); // the copy, and its mapping, are gone
/// assert!(k.window_pages(vspace).is_empty());
/// ```
pub trait Kernel {
    /// An opaque cap handle (a slot in the server's CSpace).
    type Cap: Copy + Eq + Ord + Debug;

    /// Makes a new object from the server's untyped memory; frames come
    /// zero-filled.
    fn alloc(&mut self, kind: ObjectKind) -> Result<Self::Cap, KernelError>;

    /// Destroys an object made by [`Kernel::alloc`] (its only cap: every copy
    /// was revoked or deleted before); its memory goes back to the pool. A
    /// paging structure is unmapped from its VSpace.
    fn free(&mut self, cap: Self::Cap);

    /// Maps a paging structure of `level` into `vspace` at the base of the
    /// range it will translate (`vaddr` aligned to `level.span()`). Fails
    /// with [`KernelError::FailedLookup`] if the level above is missing and
    /// [`KernelError::DeleteFirst`] if the slot is taken.
    fn map_table(
        &mut self,
        table: Self::Cap,
        level: TableLevel,
        vspace: Self::Cap,
        vaddr: u64,
    ) -> Result<(), KernelError>;

    /// A new cap to the same frame, derived from `frame` (so revoking
    /// `frame` deletes it).
    fn copy(&mut self, frame: Self::Cap) -> Result<Self::Cap, KernelError>;

    /// Maps a frame cap into `vspace` at `vaddr` with `rights`. A cap maps at
    /// most once; the paging structure for `vaddr` must exist and its slot be
    /// free.
    fn map_frame(
        &mut self,
        frame: Self::Cap,
        vspace: Self::Cap,
        vaddr: u64,
        rights: Prot,
    ) -> Result<(), KernelError>;

    /// Deletes a cap: a frame copy (unmapping it) or a received cap (a VSpace
    /// cap when its process goes, or a cap that came with the wrong message).
    fn delete(&mut self, cap: Self::Cap);

    /// Deletes every cap derived from `frame`, and so every mapping of it in
    /// every VSpace, in one step; `frame` itself stays.
    fn revoke(&mut self, frame: Self::Cap);

    /// Signals the notification `cap` names (a subscriber's), never
    /// blocking; a cap of any other kind gets an empty message that does
    /// nothing (a client may send any cap as its notification).
    fn signal(&mut self, cap: Self::Cap);

    /// Writes `bytes` into a frame at `offset` (within the frame).
    fn write_frame(&mut self, frame: Self::Cap, offset: u64, bytes: &[u8]);

    /// Makes every core forget the translations just removed from `vspace`
    /// (frames unmapped from it while it may run on another core). seL4
    /// 5.0's x86_64 SMP kernel shoots a page down on other cores only when
    /// the VSpace is the caller's own, never the memory manager's case, but
    /// flushes a VSpace on every core it runs on when a level-2 table
    /// leaves it: the on-target kernel maps an empty one at
    /// `libshm::layout::SHOOTDOWN_BASE` and unmaps it. Nothing to do on one
    /// core, nor in the fake kernel.
    fn shoot_down(&mut self, _vspace: Self::Cap) {}

    /// How much of the server's own heap and cap slots are in use, now and
    /// at most (for `ServerStats`; zeros where the platform keeps no count).
    fn stats(&self) -> ServerStats {
        ServerStats::default()
    }
}
