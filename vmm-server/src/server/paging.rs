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
pub(super) fn mapping_cost(plan: FramePlan, base: u64) -> Usage {
    // The plan goes up in address, so each level's bases do too: count
    // where they change (no allocation on the grow path).
    let mut count = 0u64;
    let mut bytes = 0u64;
    for level in TableLevel::ALL {
        let mut last = None;
        for (offset, _) in plan.clone().filter(|(_, size)| level <= size.table()) {
            let at = level.base_of(base + offset);
            if last != Some(at) {
                last = Some(at);
                count += 1;
                bytes += ObjectKind::Table(level).bytes();
            }
        }
    }
    let n = plan.count() as u64;
    Usage { tables: bytes, slots: n + count, mappings: n, ..Usage::NONE }
}

/// The frames that cover `[from, to)` of an object, in offset order: a
/// 2 MiB frame for every 2 MiB-aligned 2 MiB chunk entirely inside the
/// range (except the first chunk, which holds the 4 KiB header page),
/// 4 KiB frames elsewhere. An iterator: planning allocates nothing.
#[derive(Clone, Debug)]
pub(crate) struct FramePlan {
    at: u64,
    to: u64,
}

/// The plan for `[from, to)`.
pub(crate) fn frame_plan(from: u64, to: u64) -> FramePlan {
    FramePlan { at: from, to }
}

impl Iterator for FramePlan {
    type Item = (u64, PageSize);

    fn next(&mut self) -> Option<(u64, PageSize)> {
        let at = self.at;
        if at >= self.to {
            return None;
        }
        let size = if at != 0 && at.is_multiple_of(LARGE_PAGE_SIZE) && self.to - at >= LARGE_PAGE_SIZE {
            PageSize::Large
        } else {
            PageSize::Small
        };
        self.at += size.bytes();
        Some((at, size))
    }
}

/// The budgets and what has been charged against them, for the acquire
/// phase's charges.
pub(super) struct Ledger<'a> {
    pub(super) usage: &'a mut PidTable<Usage>,
    pub(super) budgets: &'a PidTable<Budget>,
    /// A pid already checked for everything the coming charges can add up
    /// to (a grow checks each peer for the most its pages can cost, and
    /// charges nobody else to it meanwhile): its charges need no check.
    pub(super) covered: Option<Pid>,
}

impl Ledger<'_> {
    pub(super) fn charge<C>(&mut self, txn: &mut Txn<C>, pid: Pid, cost: Usage) -> Result<(), Error> {
        if self.covered == Some(pid) {
            debug_assert!(budget::check(self.usage, self.budgets, pid, cost).is_ok(), "covered");
            budget::record(self.usage, txn, pid, cost)
        } else {
            budget::charge(self.usage, self.budgets, txn, pid, cost)
        }
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
    // Structures are made top down and only the lowest level is ever freed
    // before the process ends, so with the lowest one there all are (one
    // lookup per page on the grow path instead of one per level).
    let lowest = size.table();
    if proc.tables.contains_key(&(lowest, lowest.base_of(vaddr))) {
        return Ok(());
    }
    for level in TableLevel::ALL.into_iter().filter(|l| *l <= lowest) {
        let base = level.base_of(vaddr);
        if proc.tables.contains_key(&(level, base)) {
            continue;
        }
        ledger.charge(txn, payer, Usage::table(level))?;
        // Room in both records before the structure exists.
        proc.tables.reserve(1)?;
        room(&mut txn.tables, 1)?;
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
        proc.tables.insert_reserved((level, base), Table { cap: entry, payer });
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
    let copy = txn.copy(kernel, frame.cap)?;
    kernel.map_frame(copy, proc.vspace, vaddr, prot).map_err(kernel_error)?;
    Ok(Mapping { prot, copy, payer })
}

/// Frees `proc`'s level-3 structures in an object's range `[base, end)`
/// for which `still_mapped` (given the structure's 2 MiB base) says no, so
/// that a later 2 MiB frame can take their slot, and gives their payers
/// back what they cost. Allocates nothing: it runs where nothing may fail.
pub(super) fn release_tables<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    usage: &mut PidTable<Usage>,
    (base, end): (u64, u64),
    still_mapped: impl Fn(u64) -> bool,
) {
    proc.tables.retain(|&(level, va), t| match t.cap {
        Some(cap) if level == TableLevel::L3 && (base..end).contains(&va) && !still_mapped(va) => {
            kernel.free(cap);
            budget::credit(usage, t.payer, Usage::table(level));
            false
        }
        _ => true,
    });
}

/// Whether `att` has a 4 KiB page of `obj` mapped under the level-3
/// structure at `slot` (a 2 MiB base in the object's range).
pub(super) fn small_mapped_in<C: Copy>(obj: &Object<C>, att: &Attachment<C>, slot: u64) -> bool {
    let from = slot.saturating_sub(obj.base);
    let to = from + LARGE_PAGE_SIZE;
    let first = obj.frames.partition_point(|f| f.offset + f.size.bytes() <= from);
    let end = obj.frames.partition_point(|f| f.offset < to);
    att.maps.range(first..end).any(|(i, _)| obj.frames[i].size == PageSize::Small)
}

/// What mapping frames into processes touches: the kernel, the processes'
/// paging records and the ledger; not the objects, which the frames are
/// read from while it works.
pub(super) struct Mapper<'a, K: Kernel> {
    pub(super) kernel: &'a mut K,
    pub(super) procs: &'a mut PidTable<Process<K::Cap>>,
    pub(super) ledger: Ledger<'a>,
}

impl<K: Kernel> Server<K> {
    /// A [`Mapper`], and the objects to read frames from beside it.
    pub(super) fn mapper(&mut self) -> (Mapper<'_, K>, &VecMap<ObjectId, Object<K::Cap>>) {
        let State { procs, usage, budgets, objects, .. } = &mut self.state;
        (
            Mapper { kernel: &mut self.kernel, procs, ledger: Ledger { usage, budgets, covered: None } },
            objects,
        )
    }
}

impl<K: Kernel> Mapper<'_, K> {
    /// Allocates frames for `plan`, recording them in `txn`.
    pub(super) fn alloc_frames(
        &mut self,
        txn: &mut Txn<K::Cap>,
        plan: FramePlan,
        payer: Pid,
    ) -> Result<Vec<Frame<K::Cap>>, Error> {
        let mut frames = Vec::new();
        room(&mut frames, plan.clone().count())?;
        for (offset, size) in plan {
            self.ledger.charge(txn, payer, Usage::frame(size))?;
            let cap = txn.alloc_frame(self.kernel, size)?;
            frames.push(Frame { offset, size, cap, payer });
        }
        Ok(frames)
    }

    /// Maps `frames` (with their indices in the object) into `pid`, which
    /// holds them, appending the mappings to `out`; `payer` is charged for
    /// the copies and paging structures (the holder itself, or the caller
    /// of an `mmap_peer`).
    #[allow(clippy::too_many_arguments)] // what, where, with which rights, who pays, the results
    pub(super) fn map_frames<'f>(
        &mut self,
        txn: &mut Txn<K::Cap>,
        pid: Pid,
        base: u64,
        frames: impl Iterator<Item = (usize, &'f Frame<K::Cap>)> + Clone,
        prot: Prot,
        payer: Pid,
        out: &mut Vec<(usize, Mapping<K::Cap>)>,
    ) -> Result<(), Error>
    where
        K::Cap: 'f,
    {
        let proc = self.procs.get_mut(&pid).ok_or(Error::UnknownProcess)?;
        // The copies and holding them, charged for the batch in one step
        // (one charge when the holder pays, as every peer of a grow does).
        let n = frames.clone().count() as u64;
        let copies = Usage { slots: n, ..Usage::NONE };
        if payer == pid {
            self.ledger.charge(txn, pid, Usage { mappings: n, ..copies })?;
        } else {
            self.ledger.charge(txn, pid, Usage::held(n))?;
            self.ledger.charge(txn, payer, copies)?;
        }
        room(out, n as usize)?;
        for (i, f) in frames {
            let m = map_into(self.kernel, proc, &mut self.ledger, txn, f, base, frame_prot(i, prot), payer)?;
            out.push((i, m));
        }
        Ok(())
    }
}
