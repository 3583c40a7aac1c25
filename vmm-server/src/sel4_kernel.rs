//! [`Sel4Kernel`]: the server's [`Kernel`] on the real seL4 5.0, one
//! invocation (or a short fixed sequence) per method, through our `sel4`
//! crate. Which slot and which untyped each object gets is decided by
//! [`vmm_server::untyped`] (host-tested); this module only invokes.
//!
//! Private addresses it uses in its own VSpace (all below 4 GiB, outside
//! the shared window, clear of image, stack, IPC buffer and info page):
//!
//! | address | what |
//! |---|---|
//! | [`SCRATCH_PAGE`] (2 MiB) | the 4 KiB frame last written (`write_frame`), left mapped until another is written or it is freed |
//! | [`SCRATCH_LARGE`] (`IMAGE_END`) | the same for a 2 MiB frame |
//! | [`crate::heap::HEAP_BASE`].. | the heap |
//!
//! `[0, 2 MiB)` stays unmapped, so null pointers still fault.
//!
//! Deleting a mapped frame cap does not remove its mapping everywhere in
//! seL4 5.0: on x86 `Arch_finaliseCap` unmaps a frame only when its *last*
//! cap goes (`final &&`), so a copy deleted (or revoked) while the original
//! lives stays mapped; AArch64 unmaps on every delete. The [`Kernel`]
//! contract (a deleted or revoked copy takes its mapping with it) is kept on
//! both by unmapping copies explicitly first where the kernel would not
//! ([`UNMAP_BEFORE_DELETE`]). Only copies the server made are unmapped, never
//! a cap that arrived in a message.

use libshm::layout::{TableLevel, IMAGE_BASE, IMAGE_END, LARGE_PAGE_SIZE, PAGE_SIZE, SHOOTDOWN_BASE};
use libshm::protocol::{Prot, ServerStats};
use profile_markers::Phase;
use runtime::{slots, ProcessInfo};
use sel4::cap_type::{
    CNode, Granule, LargePage, PageDirectory, PageTable, PageUpperDirectory, Untyped, VSpace,
};
use sel4::{debug_println, Cap, CapRights, FixedSizeObject, ObjectType, TranslationTable};
use vmm_server::untyped::{Copies, Make, Pool, Retype, Slot, Slots, LARGE_BITS, SMALL_BITS};
use vmm_server::{Kernel, KernelError, ObjectKind, PageSize};

/// Where `write_frame` maps a 4 KiB frame: the first page of the 2 MiB
/// directly below the image (its page table is made at start-up and kept).
pub const SCRATCH_PAGE: u64 = 0x20_0000;
/// Where `write_frame` maps a 2 MiB frame: the first 2 MiB slot above the
/// image's room (never given a page table).
pub const SCRATCH_LARGE: u64 = IMAGE_END;

const _: () = assert!(SCRATCH_PAGE + LARGE_PAGE_SIZE <= IMAGE_BASE);
const _: () = assert!(SCRATCH_LARGE.is_multiple_of(LARGE_PAGE_SIZE));
// The pool hands out 4 KiB untypeds for every paging structure.
const _: () = assert!(
    <Granule as FixedSizeObject>::SIZE_BITS == SMALL_BITS as usize
        && <PageTable as FixedSizeObject>::SIZE_BITS == SMALL_BITS as usize
        && <PageDirectory as FixedSizeObject>::SIZE_BITS == SMALL_BITS as usize
        && <PageUpperDirectory as FixedSizeObject>::SIZE_BITS == SMALL_BITS as usize
        && <LargePage as FixedSizeObject>::SIZE_BITS == LARGE_BITS as usize
);

/// Whether a frame copy must be unmapped before it is deleted or revoked
/// (see the module docs).
pub const UNMAP_BEFORE_DELETE: bool = cfg!(target_arch = "x86_64");

/// The server's own CNode, the root of its CSpace: a slot number resolves
/// with depth 64.
const fn cnode() -> Cap<CNode> {
    Cap::from_cptr(slots::CNODE)
}

const fn own_vspace() -> Cap<VSpace> {
    Cap::from_cptr(slots::VSPACE)
}

/// The kernel's refusal as the server's logic knows it.
pub fn kernel_error(e: sel4::Error) -> KernelError {
    use sel4::Error as E;
    match e {
        E::NotEnoughMemory => KernelError::OutOfMemory,
        E::DeleteFirst => KernelError::DeleteFirst,
        E::FailedLookup => KernelError::FailedLookup,
        // IllegalOperation: the cap does not support the invocation, i.e. a
        // cap of the wrong type.
        E::InvalidCapability | E::IllegalOperation => KernelError::InvalidCapability,
        E::InvalidArgument | E::AlignmentError | E::RangeError | E::TruncatedMessage | E::RevokeFirst => {
            KernelError::InvalidArgument
        }
    }
}

/// Logs an invocation the server's logic expects never to fail (a bug if
/// it does); the server carries on.
fn report(r: sel4::Result<()>, what: &str, slot: Slot) {
    if let Err(e) = r {
        debug_println!("vmm-server: {what} of slot {slot} failed: {e}");
    }
}

fn object_type(kind: ObjectKind) -> ObjectType {
    match kind {
        ObjectKind::Frame(PageSize::Small) => Granule::OBJECT_TYPE,
        ObjectKind::Frame(PageSize::Large) => LargePage::OBJECT_TYPE,
        ObjectKind::Table(TableLevel::L1) => PageUpperDirectory::OBJECT_TYPE,
        ObjectKind::Table(TableLevel::L2) => PageDirectory::OBJECT_TYPE,
        ObjectKind::Table(TableLevel::L3) => PageTable::OBJECT_TYPE,
    }
}

fn cap_rights(prot: Prot) -> CapRights {
    match prot {
        // The server maps nothing for PROT_NONE; a copy with no rights is
        // still inaccessible if one is ever made.
        Prot::None => CapRights::NONE,
        Prot::Read => CapRights::READ_ONLY,
        Prot::ReadWrite => CapRights::READ_WRITE,
    }
}

/// The pool's two invocations.
struct Invoke;

impl Retype for Invoke {
    fn retype(&mut self, untyped: Slot, make: Make, dest: Slot) -> Result<(), KernelError> {
        let (ty, size_bits) = match make {
            Make::Untyped { size_bits } => (ObjectType::Untyped, size_bits as usize),
            Make::Object(kind) => (object_type(kind), 0),
        };
        Cap::<Untyped>::from_cptr(untyped).retype(ty, size_bits, cnode(), dest, 1).map_err(kernel_error)
    }

    fn revoke(&mut self, untyped: Slot) {
        report(cnode().slot(untyped).revoke(), "revoke (free)", untyped);
    }
}

/// The real kernel: the untyped pool, the slots, and which frame copies
/// came from which original.
pub struct Sel4Kernel {
    pool: Pool,
    copies: Copies,
    /// The 4 KiB frame left mapped at [`SCRATCH_PAGE`] after its last
    /// write: a grow rewrites the same header word each time, and keeping
    /// it mapped saves a map and an unmap per grow (about 1 700
    /// instructions, a tenth of a one-peer grow).
    scratch: Option<Slot>,
    /// On a multicore kernel, the empty level-2 table [`Kernel::shoot_down`]
    /// maps into a VSpace and takes out again.
    flusher: Option<Slot>,
}

impl Sel4Kernel {
    /// Takes over the untyped caps `info` names and the free `slots` (what
    /// the heap left, whose books it starts), and makes the paging structures of its own scratch
    /// addresses.
    pub fn new(info: &ProcessInfo, mut slots: Slots) -> Result<Self, KernelError> {
        // The heap is up: from here on, giving a slot back never allocates.
        slots.keep_books()?;
        let bits = u32::try_from(info.untyped_size_bits).unwrap_or(u32::MAX);
        let mut k = Sel4Kernel {
            scratch: None,
            pool: Pool::new(slots, info.untyped_start..info.untyped_end, bits),
            copies: Copies::default(),
            flusher: None,
        };
        k.own_tables(SCRATCH_PAGE, TableLevel::L3)?;
        k.own_tables(SCRATCH_LARGE, TableLevel::L2)?;
        if sel4::SMP {
            k.flusher = Some(k.alloc(ObjectKind::Table(TableLevel::L2))?);
        }
        Ok(k)
    }

    /// A free slot (the receive loop's slot for the next incoming cap).
    pub fn take_slot(&mut self) -> Option<Slot> {
        self.pool.slots_mut().take().ok()
    }

    /// Slots still free.
    pub fn free_slots(&self) -> u64 {
        self.pool.slots().available()
    }

    /// Makes sure the paging structures down to `level` exist over `vaddr`
    /// in the server's own VSpace; the ones made here are kept for good.
    fn own_tables(&mut self, vaddr: u64, level: TableLevel) -> Result<(), KernelError> {
        for l in TableLevel::ALL.into_iter().filter(|l| *l <= level) {
            let t = self.alloc(ObjectKind::Table(l))?;
            match self.map_table(t, l, slots::VSPACE, l.base_of(vaddr)) {
                Ok(()) => {}
                // Already there (the supervisor mapped the image under it).
                Err(KernelError::DeleteFirst) => self.free(t),
                Err(e) => {
                    self.free(t);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Removes the mapping of a copy the server made, where deleting it
    /// would not.
    /// Unmaps `frame` from [`SCRATCH_PAGE`] if it is the one left there
    /// (before it is freed: the slot may hold another frame next).
    fn leave_scratch(&mut self, frame: Slot) {
        if self.scratch == Some(frame) {
            self.leave_scratch_any();
        }
    }

    /// Unmaps whatever frame was left at [`SCRATCH_PAGE`].
    fn leave_scratch_any(&mut self) {
        if let Some(f) = self.scratch.take() {
            report(Cap::<Granule>::from_cptr(f).unmap(), "scratch unmap", f);
        }
    }

    fn unmap_copy(copy: Slot) {
        if UNMAP_BEFORE_DELETE {
            report(Cap::<Granule>::from_cptr(copy).unmap(), "unmap", copy);
        }
    }

    /// Unmaps every copy of `original`, before a revoke deletes them.
    fn unmap_copies(&self, original: Slot) {
        if UNMAP_BEFORE_DELETE {
            self.copies.of(original).for_each(Self::unmap_copy);
        }
    }

    /// Gives back the slots of every copy of `original` (the kernel has just
    /// deleted them all).
    fn release_copies(&mut self, original: Slot) {
        while let Some(c) = self.copies.take_one(original) {
            self.pool.slots_mut().give(c);
        }
    }

    fn map_table_as<T: TranslationTable>(table: Slot, vspace: Slot, vaddr: u64) -> sel4::Result<()> {
        Cap::<T>::from_cptr(table).map_table(Cap::from_cptr(vspace), vaddr as usize)
    }
}

impl Kernel for Sel4Kernel {
    type Cap = Slot;

    fn alloc(&mut self, kind: ObjectKind) -> Result<Slot, KernelError> {
        let _phase = Phase::Frames.scoped();
        self.pool.alloc(&mut Invoke, kind)
    }

    fn free(&mut self, cap: Slot) {
        self.leave_scratch(cap);
        // Revoking the object's own untyped takes any copy left with it.
        self.unmap_copies(cap);
        let freed = self.pool.free(&mut Invoke, cap);
        self.release_copies(cap);
        if !freed {
            debug_println!("vmm-server: free of slot {cap}, not an object of the pool");
            self.delete(cap);
        }
    }

    fn map_table(
        &mut self,
        table: Slot,
        level: TableLevel,
        vspace: Slot,
        vaddr: u64,
    ) -> Result<(), KernelError> {
        let _phase = Phase::Tables.scoped();
        match level {
            TableLevel::L1 => Self::map_table_as::<PageUpperDirectory>(table, vspace, vaddr),
            TableLevel::L2 => Self::map_table_as::<PageDirectory>(table, vspace, vaddr),
            TableLevel::L3 => Self::map_table_as::<PageTable>(table, vspace, vaddr),
        }
        .map_err(kernel_error)
    }

    fn shoot_down(&mut self, vspace: Slot) {
        let Some(table) = self.flusher else { return };
        // Unmapping it clears it (empty already) and flushes `vspace` on
        // every core that runs it (the kernel's TLB bitmap of the VSpace).
        let flushed = Self::map_table_as::<PageDirectory>(table, vspace, SHOOTDOWN_BASE)
            .and_then(|()| Cap::<PageDirectory>::from_cptr(table).unmap_table());
        if let Err(e) = flushed {
            debug_println!("vmm-server: shoot-down of VSpace slot {vspace} failed: {e}");
        }
    }

    fn copy(&mut self, frame: Slot) -> Result<Slot, KernelError> {
        let dest = self.pool.slots_mut().take()?;
        let copied = {
            let _phase = Phase::Copies.scoped();
            cnode().slot(dest).copy(cnode().slot(frame), CapRights::READ_WRITE)
        };
        match copied {
            Ok(()) => {
                if let Err(e) = self.copies.add(frame, dest) {
                    report(cnode().slot(dest).delete(), "delete", dest);
                    self.pool.slots_mut().give(dest);
                    return Err(e);
                }
                Ok(dest)
            }
            Err(e) => {
                self.pool.slots_mut().give(dest);
                Err(kernel_error(e))
            }
        }
    }

    fn map_frame(&mut self, frame: Slot, vspace: Slot, vaddr: u64, rights: Prot) -> Result<(), KernelError> {
        // `Page_Map` is one invocation for every frame size; `Granule` only
        // names it.
        let _phase = Phase::Maps.scoped();
        Cap::<Granule>::from_cptr(frame)
            .map(Cap::from_cptr(vspace), vaddr as usize, cap_rights(rights), false)
            .map_err(kernel_error)
    }

    fn delete(&mut self, cap: Slot) {
        if self.pool.kind_of(cap).is_some() {
            // An object's only cap: deleting it is freeing it.
            return self.free(cap);
        }
        if self.copies.remove(cap) {
            Self::unmap_copy(cap);
        }
        report(cnode().slot(cap).delete(), "delete", cap);
        self.pool.slots_mut().give(cap);
    }

    fn signal(&mut self, cap: Slot) {
        // Non-blocking whatever the cap is: on a notification a signal, on
        // an endpoint a message dropped if nobody waits, on anything else
        // an invalid (label 0) invocation whose error goes nowhere.
        sel4::nb_send(cap, sel4::MessageInfo::new(0, 0, 0, 0));
    }

    fn revoke(&mut self, frame: Slot) {
        self.unmap_copies(frame);
        report(cnode().slot(frame).revoke(), "revoke", frame);
        self.release_copies(frame);
    }

    fn write_frame(&mut self, frame: Slot, offset: u64, bytes: &[u8]) {
        let (addr, size) = match self.pool.kind_of(frame) {
            Some(ObjectKind::Frame(PageSize::Small)) => (SCRATCH_PAGE, PAGE_SIZE),
            Some(ObjectKind::Frame(PageSize::Large)) => (SCRATCH_LARGE, LARGE_PAGE_SIZE),
            _ => return debug_println!("vmm-server: write_frame to slot {frame}, not a frame of the pool"),
        };
        if offset.checked_add(bytes.len() as u64).is_none_or(|end| end > size) {
            return debug_println!(
                "vmm-server: write_frame of {} bytes at {offset} past the frame",
                bytes.len()
            );
        }
        // The original cap is never mapped anywhere else (every peer maps a
        // copy), so it can map here; a 4 KiB frame stays until another is
        // written or it is freed, a 2 MiB one only for the write.
        let small = size == PAGE_SIZE;
        if !(small && self.scratch == Some(frame)) {
            if small {
                self.leave_scratch_any();
            }
            let page = Cap::<Granule>::from_cptr(frame);
            if let Err(e) = page.map(own_vspace(), addr as usize, CapRights::READ_WRITE, false) {
                return debug_println!("vmm-server: write_frame could not map slot {frame}: {e}");
            }
            if small {
                self.scratch = Some(frame);
            }
        }
        // SAFETY: the frame is mapped read-write at `addr` (just now, or
        // since its last write, for `scratch`), nothing else in this
        // single-threaded process uses that range, and `[offset, offset +
        // len)` lies inside the frame.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (addr + offset) as *mut u8, bytes.len()) };
        // Visible to a reader on another core before anything written
        // after (the header's rewrite count relies on it).
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
        if !small {
            report(Cap::<Granule>::from_cptr(frame).unmap(), "write_frame unmap", frame);
        }
    }

    fn stats(&self) -> ServerStats {
        let slots = self.pool.slots();
        let heap = runtime::heap::stats();
        ServerStats {
            heap_bytes: heap.size as u64,
            heap_used: heap.used as u64,
            heap_peak: heap.peak as u64,
            slots: slots.used() + slots.available(),
            slots_used: slots.used(),
            slots_peak: slots.peak(),
        }
    }
}
