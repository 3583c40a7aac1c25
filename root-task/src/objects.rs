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
    /// How many cores the kernel runs on (BootInfo's node count).
    pub cores: usize,
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
            cores: (bi.num_nodes as usize).max(1),
        }
    }

    /// Take `cptr`, an untyped of `2^size_bits` bytes made from ours, as
    /// one to allocate from (after the others); ignored when the table is
    /// full.
    pub fn add_untyped(&mut self, cptr: CPtr, size_bits: usize) {
        if self.num_untypeds < MAX_UNTYPEDS {
            self.untypeds[self.num_untypeds] = (cptr, size_bits as u8);
            self.num_untypeds += 1;
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

    /// `count` consecutive free slots of the root CNode; returns the first.
    pub fn slots(&mut self, count: usize) -> Result<CPtr> {
        let first = self.next_slot;
        if first + count as CPtr > self.end_slot {
            return Err(Error::NotEnoughMemory);
        }
        self.next_slot += count as CPtr;
        Ok(first)
    }

    /// Make `count` objects of `object_type` and size `size_bits` (for the
    /// variable-size types) into consecutive slots, from the first untyped
    /// with room for them all; returns the first slot.
    pub fn alloc_many(&mut self, object_type: ObjectType, size_bits: usize, count: usize) -> Result<CPtr> {
        let first = self.slots(count)?;
        for &(ut, _) in &self.untypeds[..self.num_untypeds] {
            match Cap::<Untyped>::from_cptr(ut).retype(object_type, size_bits, self.cnode, first, count) {
                Err(Error::NotEnoughMemory) => continue,
                r => return r.map(|()| first),
            }
        }
        Err(Error::NotEnoughMemory)
    }

    /// Make one object of `object_type` (size `size_bits` for the
    /// variable-size types).
    pub fn alloc_raw(&mut self, object_type: ObjectType, size_bits: usize) -> Result<CPtr> {
        self.alloc_many(object_type, size_bits, 1)
    }

    /// Make one fixed-size object.
    pub fn alloc<T: FixedSizeObject>(&mut self) -> Result<Cap<T>> {
        self.alloc_raw(T::OBJECT_TYPE, 0).map(Cap::from_cptr)
    }

    /// Make a CNode of `2^size_bits` slots.
    pub fn alloc_cnode(&mut self, size_bits: usize) -> Result<Cap<CNode>> {
        self.alloc_raw(ObjectType::CapTable, size_bits).map(Cap::from_cptr)
    }

    /// Map `frame` at `vaddr` in our own VSpace (or another whose paging
    /// structures we may keep in our CNode).
    pub fn map_frame<T: Frame>(
        &mut self,
        vspace: Cap<VSpace>,
        frame: Cap<T>,
        vaddr: usize,
        rights: CapRights,
    ) -> Result<()> {
        map_frame(self, vspace, frame, vaddr, rights, false)
    }
}

impl ObjectSource for Objects {
    fn alloc_raw(&mut self, object_type: ObjectType, size_bits: usize) -> Result<CPtr> {
        Objects::alloc_raw(self, object_type, size_bits)
    }

    fn keep(&mut self, _table: CPtr) -> Result<()> {
        Ok(())
    }
}

/// Where paging structures come from while mapping, and where their caps
/// are kept afterwards (deleting a structure's last cap unmaps it).
pub trait ObjectSource {
    /// Make one object; its cap is in the returned slot of our CNode.
    fn alloc_raw(&mut self, object_type: ObjectType, size_bits: usize) -> Result<CPtr>;
    /// A paging structure was just mapped: keep its cap alive.
    fn keep(&mut self, table: CPtr) -> Result<()>;
}

/// Map `frame` at `vaddr` in `vspace`, first creating whichever paging
/// structures the kernel reports missing.
pub fn map_frame<S: ObjectSource, T: Frame>(
    src: &mut S,
    vspace: Cap<VSpace>,
    frame: Cap<T>,
    vaddr: usize,
    rights: CapRights,
    executable: bool,
) -> Result<()> {
    match frame.map(vspace, vaddr, rights, executable) {
        Err(Error::FailedLookup) => {
            // A 4 KiB frame needs a page table; a 2 MiB one sits in a directory.
            if T::SIZE_BITS == sel4::PAGE_BITS {
                map_table::<S, PageTable>(src, vspace, vaddr)?;
            } else {
                map_table::<S, PageDirectory>(src, vspace, vaddr)?;
            }
            frame.map(vspace, vaddr, rights, executable)
        }
        r => r,
    }
}

/// Map a new `T` covering `vaddr`, and the levels above it if missing.
fn map_table<S: ObjectSource, T: TranslationTable + UpperLevel>(
    src: &mut S,
    vspace: Cap<VSpace>,
    vaddr: usize,
) -> Result<()> {
    let table = Cap::<T>::from_cptr(src.alloc_raw(T::OBJECT_TYPE, 0)?);
    let mapped = match table.map_table(vspace, vaddr) {
        Err(Error::FailedLookup) if T::HAS_UPPER => {
            T::map_upper(src, vspace, vaddr)?;
            table.map_table(vspace, vaddr)
        }
        r => r,
    };
    mapped?;
    src.keep(table.cptr())
}

/// The paging level above each translation table, for [`Objects::map_table`].
trait UpperLevel {
    const HAS_UPPER: bool;
    fn map_upper<S: ObjectSource>(src: &mut S, vspace: Cap<VSpace>, vaddr: usize) -> Result<()>;
}

impl UpperLevel for PageTable {
    const HAS_UPPER: bool = true;
    fn map_upper<S: ObjectSource>(src: &mut S, vspace: Cap<VSpace>, vaddr: usize) -> Result<()> {
        map_table::<S, PageDirectory>(src, vspace, vaddr)
    }
}

impl UpperLevel for PageDirectory {
    const HAS_UPPER: bool = true;
    fn map_upper<S: ObjectSource>(src: &mut S, vspace: Cap<VSpace>, vaddr: usize) -> Result<()> {
        map_table::<S, PageUpperDirectory>(src, vspace, vaddr)
    }
}

impl UpperLevel for PageUpperDirectory {
    const HAS_UPPER: bool = false;
    fn map_upper<S: ObjectSource>(_: &mut S, _: Cap<VSpace>, _: usize) -> Result<()> {
        Err(Error::FailedLookup)
    }
}
