//! The server's heap (its tables live there): 2 MiB frames retyped straight
//! from its own untyped memory and mapped at [`HEAP_BASE`] at start-up,
//! before anything allocates, and handed to the runtime's allocator (the
//! supervisor maps no heap for the memory manager).
//!
//! Sized once (see [`vmm_server::untyped::heap_bytes`]) rather than grown:
//! growing from inside the allocator would re-enter the untyped pool, whose
//! own bookkeeping allocates, and would clobber message registers mid-IPC.
//! The server's tables are bounded by its CNode (every record is a cap), so
//! a heap sized from the slot count suffices.

use core::ops::Range;

use libshm::layout::{TableLevel, LARGE_PAGE_SIZE};
pub use libshm::layout::{HEAP_BASE, HEAP_MAX};
use runtime::slots;
use sel4::cap_type::{CNode, LargePage, PageDirectory, PageUpperDirectory, Untyped, VSpace};
use sel4::{Cap, CapRights, Error, FixedSizeObject, ObjectType, TranslationTable};
use vmm_server::untyped::{Slot, Slots};

/// Makes objects straight from the untyped caps, in order, before the pool
/// exists (the pool later carves what they leave). It only takes slots:
/// [`Slots::give`] allocates, and there is no heap yet (a failure here ends
/// the process anyway).
struct Raw<'a> {
    slots: &'a mut Slots,
    next: Slot,
    end: Slot,
}

impl Raw<'_> {
    fn make(&mut self, ty: ObjectType) -> sel4::Result<Slot> {
        let dest = self.slots.take().map_err(|_| Error::NotEnoughMemory)?;
        while self.next < self.end {
            let cnode = Cap::<CNode>::from_cptr(slots::CNODE);
            match Cap::<Untyped>::from_cptr(self.next).retype(ty, 0, cnode, dest, 1) {
                Err(Error::NotEnoughMemory) => self.next += 1,
                r => return r.map(|()| dest),
            }
        }
        Err(Error::NotEnoughMemory)
    }

    /// Maps a new `T` over `vaddr` in our VSpace if the level is missing.
    fn table<T: TranslationTable>(&mut self, vaddr: u64) -> sel4::Result<()> {
        let t = self.make(T::OBJECT_TYPE)?;
        match Cap::<T>::from_cptr(t).map_table(own_vspace(), vaddr as usize) {
            // Present after all: drop ours (its 4 KiB stays with its
            // untyped, its slot stays taken: giving it back would allocate).
            Err(Error::DeleteFirst) => {
                let _ = Cap::<CNode>::from_cptr(slots::CNODE).slot(t).delete();
                Ok(())
            }
            r => r,
        }
    }
}

fn own_vspace() -> Cap<VSpace> {
    Cap::from_cptr(slots::VSPACE)
}

/// Maps `bytes` (a multiple of 2 MiB, at most [`HEAP_MAX`]) of heap from
/// the untyped caps `untypeds`, taking slots from `slots`, and hands the
/// range to the allocator. Call once, before anything allocates.
pub fn init(slots: &mut Slots, untypeds: Range<Slot>, bytes: u64) -> sel4::Result<()> {
    let bytes = bytes.min(HEAP_MAX);
    let mut raw = Raw { slots, next: untypeds.start, end: untypeds.end };
    for vaddr in (HEAP_BASE..HEAP_BASE + bytes).step_by(LARGE_PAGE_SIZE as usize) {
        let frame = Cap::<LargePage>::from_cptr(raw.make(LargePage::OBJECT_TYPE)?);
        let map = || frame.map(own_vspace(), vaddr as usize, CapRights::READ_WRITE, false);
        let mut mapped = map();
        if mapped == Err(Error::FailedLookup) {
            raw.table::<PageUpperDirectory>(TableLevel::L1.base_of(vaddr))?;
            raw.table::<PageDirectory>(TableLevel::L2.base_of(vaddr))?;
            mapped = map();
        }
        mapped?;
    }
    // SAFETY: `[HEAP_BASE, HEAP_BASE + bytes)` was just mapped read-write
    // in our VSpace, lies outside image, stack, IPC buffer and info page,
    // and nothing but the allocator ever uses it; this runs once.
    unsafe { runtime::heap::give(HEAP_BASE as *mut u8, bytes as usize) };
    Ok(())
}
