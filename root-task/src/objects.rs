//! The root task's supply of kernel objects: free CNode slots and untyped
//! memory from BootInfo, and mapping frames into a VSpace, creating the
//! paging structures it lacks on the way.

use sel4::cap_type::{CNode, PageDirectory, PageTable, PageUpperDirectory, Untyped, VSpace};
use sel4::{
    BootInfo, CPtr, Cap, CapRights, Error, FixedSizeObject, Frame, ObjectType, Result, TranslationTable,
};

/// Most untyped caps we keep track of.
const MAX_UNTYPEDS: usize = sel4::MAX_NUM_BOOTINFO_UNTYPED_CAPS;

/// Allocates slots and objects for the root task.
pub struct Objects {
    /// The root task's CNode.
    pub cnode: Cap<CNode>,
    /// The root task's VSpace.
    pub vspace: Cap<VSpace>,
    next_slot: CPtr,
    end_slot: CPtr,
    /// RAM untypeds, largest first.
    untypeds: [(CPtr, u8); MAX_UNTYPEDS],
    num_untypeds: usize,
}

impl Objects {
    /// Take over the free slots and RAM untypeds BootInfo names.
    pub fn new(bi: &BootInfo) -> Self {
        let empty = bi.empty;
        let mut untypeds = [(0, 0); MAX_UNTYPEDS];
        let mut n = 0;
        for (cptr, desc) in bi.untypeds().filter(|(_, d)| d.is_device == 0) {
            untypeds[n] = (cptr, desc.size_bits);
            n += 1;
        }
        untypeds[..n].sort_unstable_by_key(|u| core::cmp::Reverse(u.1));
        Objects {
            cnode: Cap::from_cptr(sel4::CAP_INIT_THREAD_CNODE as CPtr),
            vspace: Cap::from_cptr(sel4::CAP_INIT_THREAD_VSPACE as CPtr),
            next_slot: empty.start,
            end_slot: empty.end,
            untypeds,
            num_untypeds: n,
        }
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Result<CPtr> {
        if self.next_slot >= self.end_slot {
            return Err(Error::NotEnoughMemory);
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// Make one object of `object_type` and size `size_bits` (for the
    /// variable-size types) from the first untyped with room for it.
    pub fn alloc_raw(&mut self, object_type: ObjectType, size_bits: usize) -> Result<CPtr> {
        let slot = self.slot()?;
        for &(ut, _) in &self.untypeds[..self.num_untypeds] {
            match Cap::<Untyped>::from_cptr(ut).retype(object_type, size_bits, self.cnode, slot, 1) {
                Err(Error::NotEnoughMemory) => continue,
                r => return r.map(|()| slot),
            }
        }
        Err(Error::NotEnoughMemory)
    }

    /// Make one fixed-size object.
    pub fn alloc<T: FixedSizeObject>(&mut self) -> Result<Cap<T>> {
        self.alloc_raw(T::OBJECT_TYPE, 0).map(Cap::from_cptr)
    }

    /// Make a CNode of `2^size_bits` slots.
    pub fn alloc_cnode(&mut self, size_bits: usize) -> Result<Cap<CNode>> {
        self.alloc_raw(ObjectType::CapTable, size_bits).map(Cap::from_cptr)
    }

    /// Map `frame` at `vaddr` in `vspace`, first creating whichever paging
    /// structures the kernel reports missing.
    pub fn map_frame<T: Frame>(
        &mut self,
        vspace: Cap<VSpace>,
        frame: Cap<T>,
        vaddr: usize,
        rights: CapRights,
    ) -> Result<()> {
        match frame.map(vspace, vaddr, rights, false) {
            Err(Error::FailedLookup) => {
                // A 4 KiB frame needs a page table; a 2 MiB one sits in a directory.
                if T::SIZE_BITS == sel4::PAGE_BITS {
                    self.map_table::<PageTable>(vspace, vaddr)?;
                } else {
                    self.map_table::<PageDirectory>(vspace, vaddr)?;
                }
                frame.map(vspace, vaddr, rights, false)
            }
            r => r,
        }
    }

    /// Map a new `T` covering `vaddr`, and the levels above it if missing.
    fn map_table<T: TranslationTable + UpperLevel>(
        &mut self,
        vspace: Cap<VSpace>,
        vaddr: usize,
    ) -> Result<()> {
        let table = self.alloc::<T>()?;
        match table.map_table(vspace, vaddr) {
            Err(Error::FailedLookup) if T::HAS_UPPER => {
                T::map_upper(self, vspace, vaddr)?;
                table.map_table(vspace, vaddr)
            }
            r => r,
        }
    }
}

/// The paging level above each translation table, for [`Objects::map_table`].
trait UpperLevel {
    const HAS_UPPER: bool;
    fn map_upper(objs: &mut Objects, vspace: Cap<VSpace>, vaddr: usize) -> Result<()>;
}

impl UpperLevel for PageTable {
    const HAS_UPPER: bool = true;
    fn map_upper(objs: &mut Objects, vspace: Cap<VSpace>, vaddr: usize) -> Result<()> {
        objs.map_table::<PageDirectory>(vspace, vaddr)
    }
}

impl UpperLevel for PageDirectory {
    const HAS_UPPER: bool = true;
    fn map_upper(objs: &mut Objects, vspace: Cap<VSpace>, vaddr: usize) -> Result<()> {
        objs.map_table::<PageUpperDirectory>(vspace, vaddr)
    }
}

impl UpperLevel for PageUpperDirectory {
    const HAS_UPPER: bool = false;
    fn map_upper(_: &mut Objects, _: Cap<VSpace>, _: usize) -> Result<()> {
        Err(Error::FailedLookup)
    }
}
