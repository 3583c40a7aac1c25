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

/// The most that mapping the frames of `plan` (at an object's `base`) can
/// charge the process that holds them: a copy each, and every paging
/// structure above them, as if none existed yet.
pub(super) fn mapping_cost(plan: &[(u64, PageSize)], base: u64) -> Usage {
    // The plan goes up in address, so each level's bases do too: count
    // where they change (no allocation on the grow path).
    let mut count = 0u64;
    let mut bytes = 0u64;
    for level in TableLevel::ALL {
        let mut last = None;
        for &(offset, _) in plan.iter().filter(|(_, size)| level <= size.table()) {
            let at = level.base_of(base + offset);
            if last != Some(at) {
                last = Some(at);
                count += 1;
                bytes += ObjectKind::Table(level).bytes();
            }
        }
    }
    let n = plan.len() as u64;
    Usage { tables: bytes, slots: n + count, mappings: n, ..Usage::NONE }
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

/// The budgets and what has been charged against them, for the acquire
/// phase's charges.
pub(super) struct Ledger<'a> {
    pub(super) usage: &'a mut BTreeMap<Pid, Usage>,
    pub(super) budgets: &'a BTreeMap<Pid, Budget>,
}

impl Ledger<'_> {
    fn charge<C>(&mut self, txn: &mut Txn<C>, pid: Pid, cost: Usage) -> Result<(), Error> {
        budget::charge(self.usage, self.budgets, txn, pid, cost)
    }
}

/// Makes sure every paging structure above a frame of `size` at `vaddr`
/// exists in `proc`'s VSpace; `payer` is charged for those made.
pub(super) fn ensure_tables<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    ledger: &mut Ledger<'_>,
    txn: &mut Txn<K::Cap>,
    (vaddr, size): (u64, PageSize),
    payer: Pid,
) -> Result<(), Error> {
    for level in TableLevel::ALL.into_iter().filter(|l| *l <= size.table()) {
        let base = level.base_of(vaddr);
        if proc.tables.contains_key(&(level, base)) {
            continue;
        }
        ledger.charge(txn, payer, Usage::table(level))?;
        let cap = kernel.alloc(ObjectKind::Table(level)).map_err(kernel_error)?;
        let entry = match kernel.map_table(cap, level, proc.vspace, base) {
            Ok(()) => Some(cap),
            // Someone else (the root task) made this one: use it, never free
            // it, and charge no one for it.
            Err(KernelError::DeleteFirst) => {
                kernel.free(cap);
                budget::refund(ledger.usage, txn, payer, Usage::table(level));
                None
            }
            Err(e) => {
                kernel.free(cap);
                return Err(kernel_error(e));
            }
        };
        proc.tables.insert((level, base), Table { cap: entry, payer });
        txn.tables.push((proc.task.pid(), level, base, entry));
    }
    Ok(())
}

/// Maps a copy of `frame` into `proc` at `base + frame.offset`, charging
/// `payer` for any paging structure made (the copy and holding it are
/// charged by the caller, for a whole batch at once).
#[allow(clippy::too_many_arguments)] // the mapping, its place and who pays
pub(super) fn map_into<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    ledger: &mut Ledger<'_>,
    txn: &mut Txn<K::Cap>,
    frame: &Frame<K::Cap>,
    base: u64,
    prot: Prot,
    payer: Pid,
) -> Result<Mapping<K::Cap>, Error> {
    let vaddr = base + frame.offset;
    ensure_tables(kernel, proc, ledger, txn, (vaddr, frame.size), payer)?;
    let copy = kernel.copy(frame.cap).map_err(kernel_error)?;
    txn.copies.push(copy);
    kernel.map_frame(copy, proc.vspace, vaddr, prot).map_err(kernel_error)?;
    Ok(Mapping { prot, copy, payer })
}

/// Frees `pid`'s level-3 structures in `obj`'s range that no longer hold a
/// mapping, so that a later 2 MiB frame can take their slot, and gives
/// their payers back what they cost.
pub(super) fn release_tables<K: Kernel>(
    kernel: &mut K,
    state: &mut State<K::Cap>,
    obj_range: (u64, u64),
    still_mapped: &BTreeSet<u64>,
    pid: Pid,
) {
    let State { procs, usage, .. } = state;
    let Some(proc) = procs.get_mut(&pid) else {
        return;
    };
    let (base, end) = obj_range;
    let empty: Vec<_> = proc
        .tables
        .range((TableLevel::L3, base)..(TableLevel::L3, end))
        .filter(|((_, va), t)| t.cap.is_some() && !still_mapped.contains(va))
        .map(|(k, _)| *k)
        .collect();
    for key in empty {
        if let Some(Table { cap: Some(cap), payer }) = proc.tables.remove(&key) {
            kernel.free(cap);
            budget::credit(usage, payer, Usage::table(key.0));
        }
    }
}

/// The level-3 slots (2 MiB bases) where `att` has a 4 KiB page mapped.
pub(super) fn small_slots<C: Copy>(obj: &Object<C>, att: Option<&Attachment<C>>) -> BTreeSet<u64> {
    att.into_iter()
        .flat_map(|a| a.maps.keys().map(|i| &obj.frames[i]))
        .filter(|f| f.size == PageSize::Small)
        .map(|f| TableLevel::L3.base_of(obj.base + f.offset))
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
                budget::charge(&mut self.state.usage, &self.state.budgets, txn, payer, Usage::frame(size))?;
                let cap = self.kernel.alloc(ObjectKind::Frame(size)).map_err(kernel_error)?;
                txn.frames.push(cap);
                Ok(Frame { offset, size, cap, payer })
            })
            .collect()
    }

    /// Maps `frames` (with their indices in the object) into `pid`, which
    /// holds them; `payer` is charged for the copies and paging structures
    /// (the holder itself, or the caller of an `mmap_peer`).
    #[allow(clippy::too_many_arguments)] // what, where, with which rights, who pays
    pub(super) fn map_frames(
        &mut self,
        txn: &mut Txn<K::Cap>,
        pid: Pid,
        base: u64,
        frames: &[(usize, &Frame<K::Cap>)],
        prot: Prot,
        payer: Pid,
    ) -> Result<Vec<Mapping<K::Cap>>, Error> {
        let State { procs, usage, budgets, .. } = &mut self.state;
        let proc = procs.get_mut(&pid).ok_or(Error::UnknownProcess)?;
        let mut ledger = Ledger { usage, budgets };
        // The copies and holding them, charged for the batch in one step.
        let n = frames.len() as u64;
        ledger.charge(txn, pid, Usage { mappings: n, ..Usage::NONE })?;
        ledger.charge(txn, payer, Usage { slots: n, ..Usage::NONE })?;
        let mut maps = Vec::new();
        maps.try_reserve_exact(frames.len()).map_err(|_| Error::OutOfMemory)?;
        for &(i, f) in frames {
            maps.push(map_into(
                &mut self.kernel,
                proc,
                &mut ledger,
                txn,
                f,
                base,
                frame_prot(i, prot),
                payer,
            )?);
        }
        Ok(maps)
    }
}
