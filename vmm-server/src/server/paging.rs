//! Frames and paging structures: which frames cover a range, the tables above a mapping, mapping copies into a VSpace and freeing tables that hold nothing.

use super::*;

/// Mapping rights of frame `index` for a holder of `prot`: the header page is
/// always read-only, since only the server writes it.
pub(super) fn frame_prot(index: usize, prot: Prot) -> Prot {
    if index == 0 {
        Prot::Read
    } else {
        prot
    }
}

/// The frames that cover `[from, to)` of an object: a 2 MiB frame for every
/// 2 MiB-aligned 2 MiB chunk entirely inside the range (except the first
/// chunk, which holds the 4 KiB header page), 4 KiB frames elsewhere.
pub(crate) fn frame_plan(from: u64, to: u64) -> Vec<(u64, PageSize)> {
    let mut plan = Vec::new();
    let mut at = from;
    while at < to {
        let size = if at != 0 && at.is_multiple_of(LARGE_PAGE_SIZE) && to - at >= LARGE_PAGE_SIZE {
            PageSize::Large
        } else {
            PageSize::Small
        };
        plan.push((at, size));
        at += size.bytes();
    }
    plan
}

/// Makes sure every paging structure above a frame of `size` at `vaddr`
/// exists in `proc`'s VSpace.
pub(super) fn ensure_tables<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    txn: &mut Txn<K::Cap>,
    vaddr: u64,
    size: PageSize,
) -> Result<(), Error> {
    for level in TableLevel::ALL.into_iter().filter(|l| *l <= size.table()) {
        let base = level.base_of(vaddr);
        if proc.tables.contains_key(&(level, base)) {
            continue;
        }
        let cap = kernel.alloc(ObjectKind::Table(level)).map_err(kernel_error)?;
        let entry = match kernel.map_table(cap, level, proc.vspace, base) {
            Ok(()) => Some(cap),
            // Someone else (the root task) made this one: use it, never free it.
            Err(KernelError::DeleteFirst) => {
                kernel.free(cap);
                None
            }
            Err(e) => {
                kernel.free(cap);
                return Err(kernel_error(e));
            }
        };
        proc.tables.insert((level, base), entry);
        txn.tables.push((proc.task.pid(), level, base, entry));
    }
    Ok(())
}

/// Maps a copy of `frame` into `proc` at `base + frame.offset`.
pub(super) fn map_into<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    txn: &mut Txn<K::Cap>,
    frame: &Frame<K::Cap>,
    base: u64,
    prot: Prot,
) -> Result<Mapping<K::Cap>, Error> {
    let vaddr = base + frame.offset;
    ensure_tables(kernel, proc, txn, vaddr, frame.size)?;
    let copy = kernel.copy(frame.cap).map_err(kernel_error)?;
    txn.copies.push(copy);
    kernel.map_frame(copy, proc.vspace, vaddr, prot).map_err(kernel_error)?;
    Ok(Mapping { prot, copy })
}

/// Frees `pid`'s level-3 structures in `obj`'s range that no longer hold a
/// mapping, so that a later 2 MiB frame can take their slot.
pub(super) fn release_tables<K: Kernel>(
    kernel: &mut K,
    procs: &mut BTreeMap<Pid, Process<K::Cap>>,
    obj_range: (u64, u64),
    still_mapped: &BTreeSet<u64>,
    pid: Pid,
) {
    let Some(proc) = procs.get_mut(&pid) else {
        return;
    };
    let (base, end) = obj_range;
    let empty: Vec<_> = proc
        .tables
        .range((TableLevel::L3, base)..(TableLevel::L3, end))
        .filter(|((_, va), cap)| cap.is_some() && !still_mapped.contains(va))
        .map(|(k, _)| *k)
        .collect();
    for key in empty {
        if let Some(Some(cap)) = proc.tables.remove(&key) {
            kernel.free(cap);
        }
    }
}

/// The level-3 slots (2 MiB bases) where `att` has a 4 KiB page mapped.
pub(super) fn small_slots<C: Copy>(obj: &Object<C>, att: Option<&Attachment<C>>) -> BTreeSet<u64> {
    att.into_iter()
        .flat_map(|a| a.maps.iter().zip(&obj.frames))
        .filter(|(m, f)| m.is_some() && f.size == PageSize::Small)
        .map(|(_, f)| TableLevel::L3.base_of(obj.base + f.offset))
        .collect()
}

impl<K: Kernel> Server<K> {
    /// Allocates frames for `plan`, recording them in `txn`.
    pub(super) fn alloc_frames(
        &mut self,
        txn: &mut Txn<K::Cap>,
        plan: &[(u64, PageSize)],
        payer: Pid,
    ) -> Result<Vec<Frame<K::Cap>>, Error> {
        plan.iter()
            .map(|&(offset, size)| {
                let cap = self.kernel.alloc(ObjectKind::Frame(size)).map_err(kernel_error)?;
                txn.frames.push(cap);
                Ok(Frame { offset, size, cap, payer })
            })
            .collect()
    }

    /// Maps `frames` (the object's frames from index `first`) into `pid`.
    pub(super) fn map_frames(
        &mut self,
        txn: &mut Txn<K::Cap>,
        pid: Pid,
        base: u64,
        frames: &[(usize, &Frame<K::Cap>)],
        prot: Prot,
    ) -> Result<Vec<Mapping<K::Cap>>, Error> {
        let proc = self.state.procs.get_mut(&pid).ok_or(Error::UnknownProcess)?;
        frames
            .iter()
            .map(|&(i, f)| map_into(&mut self.kernel, proc, txn, f, base, frame_prot(i, prot)))
            .collect()
    }
}
