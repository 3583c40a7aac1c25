//! The undo log of a request's acquire phase: what to give back if a later step fails.

use super::*;

/// The undo log of the acquire phase.
pub(super) struct Txn<C> {
    /// Frames allocated.
    pub(super) frames: Vec<C>,
    /// Cap copies made (and mapped).
    pub(super) copies: Vec<C>,
    /// Paging structures entered in a process's table.
    pub(super) tables: Vec<(Pid, TableLevel, u64, Option<C>)>,
    /// What was charged to whom, in order: a push per charge (a grow
    /// charges every peer), so logging one neither hashes nor searches.
    pub(super) charges: Vec<(Pid, Usage)>,
}

impl<C: Copy> Txn<C> {
    /// An empty log.
    pub(super) fn new() -> Self {
        Txn { frames: Vec::new(), copies: Vec::new(), tables: Vec::new(), charges: Vec::new() }
    }

    /// Allocates a frame, logged (the log's room is made first, so a
    /// frame is never made that the log could not hold).
    pub(super) fn alloc_frame<K: Kernel<Cap = C>>(
        &mut self,
        kernel: &mut K,
        size: PageSize,
    ) -> Result<C, Error> {
        room(&mut self.frames, 1)?;
        let cap = kernel.alloc(ObjectKind::Frame(size)).map_err(kernel_error)?;
        self.frames.push(cap);
        Ok(cap)
    }

    /// Copies a frame cap, logged likewise.
    pub(super) fn copy<K: Kernel<Cap = C>>(&mut self, kernel: &mut K, frame: C) -> Result<C, Error> {
        room(&mut self.copies, 1)?;
        let copy = kernel.copy(frame).map_err(kernel_error)?;
        self.copies.push(copy);
        Ok(copy)
    }

    /// Undoes everything, in reverse: mappings, then paging structures
    /// (deepest first, as they were made root-first), then frames; and
    /// gives back every charge.
    pub(super) fn rollback<K: Kernel<Cap = C>>(self, kernel: &mut K, state: &mut State<C>) {
        for (pid, cost) in self.charges {
            budget::credit(&mut state.usage, pid, cost);
        }
        self.copies.into_iter().rev().for_each(|c| kernel.delete(c));
        for (pid, level, vaddr, cap) in self.tables.into_iter().rev() {
            if let Some(p) = state.procs.get_mut(&pid) {
                let _ = p.tables.remove(&(level, vaddr));
            }
            if let Some(c) = cap {
                kernel.free(c);
            }
        }
        self.frames.into_iter().rev().for_each(|c| kernel.free(c));
    }
}

impl<K: Kernel> Server<K> {
    /// Undo `txn` and fail with `e`.
    pub(super) fn rollback<T>(&mut self, txn: Txn<K::Cap>, e: Error) -> Result<T, Error> {
        txn.rollback(&mut self.kernel, &mut self.state);
        Err(e)
    }
}
