//! Typed capabilities and the invocations on them.

use crate::arch;
use crate::sys;
use crate::{CPtr, CapRights, ObjectType, Result, UserContext, Word, USER_CONTEXT_WORDS, WORD_BITS};
use core::fmt;
use core::marker::PhantomData;

/// A capability of type `T` at `cptr` in the caller's CSpace.
pub struct Cap<T> {
    cptr: CPtr,
    _type: PhantomData<T>,
}

impl<T> Cap<T> {
    /// Name the cap in slot `cptr` as one of type `T`.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Cap { cptr, _type: PhantomData }
    }

    /// The slot address.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same slot seen as another type (for slots whose content changed).
    pub const fn cast<U>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }
}

impl<T> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Cap<T> {}
impl<T> PartialEq for Cap<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}
impl<T> Eq for Cap<T> {}
impl<T> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({})", core::any::type_name::<T>().rsplit("::").next().unwrap_or("?"), self.cptr)
    }
}

/// Marker types naming what a [`Cap`] refers to.
pub mod cap_type {
    macro_rules! markers {
        ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
            $( $(#[$doc])* #[derive(Copy, Clone, Debug)] pub struct $name; )*
        };
    }
    markers! {
        /// Untyped memory.
        Untyped,
        /// A thread control block.
        Tcb,
        /// An IPC endpoint.
        Endpoint,
        /// A notification object.
        Notification,
        /// A CNode (a table of capabilities).
        CNode,
        /// An address-space root (x86_64 PML4, AArch64 PGD).
        VSpace,
        /// The ASID control cap.
        AsidControl,
        /// An ASID pool.
        AsidPool,
        /// The IRQ control cap.
        IrqControl,
        /// A 4 KiB frame.
        Granule,
        /// A 2 MiB frame.
        LargePage,
        /// Paging structure one level below the root, spanning 512 GiB
        /// (x86_64 PDPT, AArch64 PUD).
        PageUpperDirectory,
        /// Paging structure spanning 1 GiB (a page directory).
        PageDirectory,
        /// Paging structure spanning 2 MiB (a page table).
        PageTable,
        /// The x86 I/O port range cap.
        IoPort,
        /// A cap of unknown type.
        Unspecified,
    }
}

use cap_type::*;

/// Objects that `Untyped_Retype` makes with a fixed size.
pub trait FixedSizeObject {
    /// The object type passed to retype.
    const OBJECT_TYPE: ObjectType;
    /// log2 of the object's size in bytes.
    const SIZE_BITS: usize;
}

macro_rules! fixed_size {
    ($($ty:ty => $obj:expr, $bits:expr;)*) => {
        $( impl FixedSizeObject for $ty {
            const OBJECT_TYPE: ObjectType = $obj;
            const SIZE_BITS: usize = $bits;
        } )*
    };
}

fixed_size! {
    Tcb => ObjectType::Tcb, crate::TCB_BITS;
    Endpoint => ObjectType::Endpoint, crate::ENDPOINT_BITS;
    Notification => ObjectType::Notification, crate::NOTIFICATION_BITS;
    Granule => arch::GRANULE_OBJECT, crate::PAGE_BITS;
    LargePage => arch::LARGE_PAGE_OBJECT, crate::LARGE_PAGE_BITS;
    PageTable => arch::PAGE_TABLE_OBJECT, crate::PAGE_TABLE_BITS;
    PageDirectory => arch::PAGE_DIRECTORY_OBJECT, crate::PAGE_DIR_BITS;
    PageUpperDirectory => arch::PAGE_UPPER_DIRECTORY_OBJECT, arch::PAGE_UPPER_DIRECTORY_BITS;
    VSpace => arch::VSPACE_OBJECT, arch::VSPACE_BITS;
}

/// A frame size: 4 KiB ([`Granule`]) or 2 MiB ([`LargePage`]).
pub trait Frame: FixedSizeObject {}
impl Frame for Granule {}
impl Frame for LargePage {}

/// An intermediate paging structure, mapped into a VSpace before anything
/// below it.
pub trait TranslationTable: FixedSizeObject {
    /// log2 of the virtual range one such structure covers.
    const SPAN_BITS: usize;
    /// Map it into `vspace` to cover `vaddr`.
    fn map_raw(cptr: CPtr, vspace: CPtr, vaddr: usize) -> Result<()>;
    /// Remove it from the VSpace it is mapped in.
    fn unmap_raw(cptr: CPtr) -> Result<()>;
}

macro_rules! translation_tables {
    ($($ty:ty: span $span:expr, $map:ident, $unmap:ident;)*) => {
        $( impl TranslationTable for $ty {
            const SPAN_BITS: usize = $span;
            fn map_raw(cptr: CPtr, vspace: CPtr, vaddr: usize) -> Result<()> {
                arch::$map(cptr, vspace, vaddr)
            }
            fn unmap_raw(cptr: CPtr) -> Result<()> {
                arch::$unmap(cptr)
            }
        } )*
    };
}

translation_tables! {
    PageTable: span crate::LARGE_PAGE_BITS, page_table_map, page_table_unmap;
    PageDirectory: span crate::HUGE_PAGE_BITS, page_directory_map, page_directory_unmap;
    PageUpperDirectory: span crate::HUGE_PAGE_BITS + arch::INDEX_BITS, page_upper_directory_map, page_upper_directory_unmap;
}

impl Cap<Untyped> {
    /// Make `count` objects of `object_type` (size `size_bits` for the
    /// variable-size ones) into consecutive slots of `dest` from `offset`.
    pub fn retype(
        self,
        object_type: ObjectType,
        size_bits: usize,
        dest: Cap<CNode>,
        offset: CPtr,
        count: usize,
    ) -> Result<()> {
        // Index 0 at depth 0 names `dest` itself as the destination CNode.
        sys::untyped_retype(
            self.cptr,
            object_type as Word,
            size_bits as Word,
            dest.cptr,
            0,
            0,
            offset,
            count as Word,
        )
    }

    /// Make one fixed-size object of type `T` into slot `slot` of `dest`.
    pub fn retype_one<T: FixedSizeObject>(self, dest: Cap<CNode>, slot: CPtr) -> Result<Cap<T>> {
        self.retype(T::OBJECT_TYPE, 0, dest, slot, 1)?;
        Ok(Cap::from_cptr(slot))
    }
}

/// A slot named by a CNode, an index in it and the depth of the index
/// (`seL4_AbsoluteCPtr` in rust-sel4's terms): what CNode methods act on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The CNode the index is resolved in.
    pub root: Cap<CNode>,
    /// The index.
    pub index: CPtr,
    /// How many bits of the index to resolve.
    pub depth: u8,
}

impl Cap<CNode> {
    /// The slot that `cptr` names when this CNode is a CSpace root:
    /// resolved through all `WORD_BITS` bits, as the kernel does for cptrs.
    pub const fn slot(self, cptr: CPtr) -> Slot {
        Slot { root: self, index: cptr, depth: WORD_BITS as u8 }
    }

    /// A slot of this CNode by index, resolving `depth` bits.
    pub const fn slot_at(self, index: CPtr, depth: u8) -> Slot {
        Slot { root: self, index, depth }
    }
}

impl Slot {
    /// Copy the cap in `src` here, with at most `rights`.
    pub fn copy(self, src: Slot, rights: CapRights) -> Result<()> {
        sys::cnode_copy(
            self.root.cptr,
            self.index,
            self.depth,
            src.root.cptr,
            src.index,
            src.depth,
            rights.word(),
        )
    }

    /// Copy `src` here with at most `rights`, setting its badge (endpoints,
    /// notifications) or guard (CNodes) to `data`.
    pub fn mint(self, src: Slot, rights: CapRights, data: Word) -> Result<()> {
        sys::cnode_mint(
            self.root.cptr,
            self.index,
            self.depth,
            src.root.cptr,
            src.index,
            src.depth,
            rights.word(),
            data,
        )
    }

    /// Move the cap in `src` here.
    pub fn move_from(self, src: Slot) -> Result<()> {
        sys::cnode_move(self.root.cptr, self.index, self.depth, src.root.cptr, src.index, src.depth)
    }

    /// Move the cap in `src` here, changing its badge or guard to `data`.
    pub fn mutate(self, src: Slot, data: Word) -> Result<()> {
        sys::cnode_mutate(self.root.cptr, self.index, self.depth, src.root.cptr, src.index, src.depth, data)
    }

    /// Delete the cap in this slot.
    pub fn delete(self) -> Result<()> {
        sys::cnode_delete(self.root.cptr, self.index, self.depth)
    }

    /// Delete every cap derived from the one in this slot.
    pub fn revoke(self) -> Result<()> {
        sys::cnode_revoke(self.root.cptr, self.index, self.depth)
    }

    /// Save the reply cap of the last call here (`CNode_SaveCaller`).
    pub fn save_caller(self) -> Result<()> {
        sys::cnode_save_caller(self.root.cptr, self.index, self.depth)
    }
}

/// What a new thread starts with: address spaces, IPC buffer, fault endpoint.
#[derive(Copy, Clone, Debug)]
pub struct TcbConfig {
    /// Where faults go (a cptr in the thread's own CSpace), 0 for none.
    pub fault_ep: CPtr,
    /// Highest priority the thread may give itself or others.
    pub mcp: u8,
    /// Priority.
    pub priority: u8,
    /// CSpace root.
    pub cspace: Cap<CNode>,
    /// Guard data for the CSpace root, 0 to keep the cap's own.
    pub cspace_data: Word,
    /// Address-space root.
    pub vspace: Cap<VSpace>,
    /// IPC buffer address in `vspace`.
    pub ipc_buffer: usize,
    /// The frame that backs the IPC buffer.
    pub ipc_buffer_frame: Cap<Granule>,
}

impl Cap<Tcb> {
    /// `TCB_Configure`.
    pub fn configure(self, c: &TcbConfig) -> Result<()> {
        sys::tcb_configure(
            self.cptr,
            c.fault_ep,
            crate::priority_word(c.mcp, c.priority),
            c.cspace.cptr,
            c.cspace_data,
            c.vspace.cptr,
            0,
            c.ipc_buffer as Word,
            c.ipc_buffer_frame.cptr,
        )
    }

    /// `TCB_SetPriority`.
    pub fn set_priority(self, priority: u8) -> Result<()> {
        sys::tcb_set_priority(self.cptr, priority)
    }

    /// `TCB_SetAffinity`: run the thread on core `core` (multicore kernels
    /// only; `core` must be below BootInfo's node count).
    #[cfg(feature = "smp")]
    pub fn set_affinity(self, core: Word) -> Result<()> {
        sys::tcb_set_affinity(self.cptr, core)
    }

    /// Write all registers; start the thread if `resume`.
    pub fn write_registers(self, resume: bool, regs: &UserContext) -> Result<()> {
        sys::tcb_write_registers(self.cptr, resume, 0, USER_CONTEXT_WORDS as Word, regs)
    }

    /// Read all registers; stop the thread first if `suspend`.
    pub fn read_registers(self, suspend: bool) -> Result<UserContext> {
        sys::tcb_read_registers(self.cptr, suspend, 0, USER_CONTEXT_WORDS as Word)
    }

    /// Make the thread runnable.
    pub fn resume(self) -> Result<()> {
        sys::tcb_resume(self.cptr)
    }

    /// Stop the thread.
    pub fn suspend(self) -> Result<()> {
        sys::tcb_suspend(self.cptr)
    }

    /// Bind a notification: signals arrive while the thread waits on an endpoint.
    pub fn bind_notification(self, ntfn: Cap<Notification>) -> Result<()> {
        sys::tcb_bind_notification(self.cptr, ntfn.cptr)
    }
}

impl<T: TranslationTable> Cap<T> {
    /// Map this paging structure into `vspace` so that it covers `vaddr`.
    pub fn map_table(self, vspace: Cap<VSpace>, vaddr: usize) -> Result<()> {
        T::map_raw(self.cptr, vspace.cptr, vaddr)
    }

    /// Remove this paging structure (and what it maps) from its VSpace.
    pub fn unmap_table(self) -> Result<()> {
        T::unmap_raw(self.cptr)
    }
}

impl<T: Frame> Cap<T> {
    /// Map the frame at `vaddr` in `vspace` with `rights`; data pages are
    /// never executable where the arch can say so.
    pub fn map(self, vspace: Cap<VSpace>, vaddr: usize, rights: CapRights, executable: bool) -> Result<()> {
        arch::frame_map(self.cptr, vspace.cptr, vaddr, rights, executable)
    }

    /// Make instructions written into the (mapped) frame visible to
    /// instruction fetch: needed on AArch64 before running new code, a
    /// no-op on x86.
    pub fn sync_instruction_cache(self) -> Result<()> {
        arch::frame_sync_instruction_cache(self.cptr, 1 << T::SIZE_BITS)
    }

    /// Remove the frame's mapping.
    pub fn unmap(self) -> Result<()> {
        arch::frame_unmap(self.cptr)
    }

    /// The frame's physical address.
    pub fn physical_address(self) -> Result<usize> {
        arch::frame_address(self.cptr)
    }
}

impl Cap<AsidPool> {
    /// Give `vspace` an ASID from this pool; needed before mapping into it.
    pub fn assign(self, vspace: Cap<VSpace>) -> Result<()> {
        arch::asid_pool_assign(self.cptr, vspace.cptr)
    }
}

pub use arch::{thread_context, IoPortExt};
