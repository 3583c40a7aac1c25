//! Faults in the shared window: repairing a lazily attached page, or saying why not.

use super::*;

impl<K: Kernel> Server<K> {
    /// A thread of `task` faulted at `addr` in the shared window. If the page
    /// belongs to an object it is attached to and it holds a mapping there
    /// with enough rights, the mapping is made again and the thread may
    /// resume (lazy repair); anything else is reported.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, FaultOutcome, FaultReason, Server};
    /// use libshm::protocol::TaskId;
    /// let mut s = Server::new(FakeKernel::new(1 << 20));
    /// let t = TaskId::new(1, 0).unwrap();
    /// assert_eq!(s.handle_fault(t, 0, false), FaultOutcome::Report(FaultReason::UnknownProcess));
    /// ```
    pub fn handle_fault(&mut self, task: TaskId, addr: u64, is_write: bool) -> FaultOutcome {
        match self.repair(task, addr, is_write) {
            Ok(()) => FaultOutcome::Resume,
            Err(r) => FaultOutcome::Report(r),
        }
    }

    pub(super) fn repair(&mut self, task: TaskId, addr: u64, is_write: bool) -> Result<(), FaultReason> {
        self.live(task).map_err(|e| match e {
            Error::StaleGeneration => FaultReason::StaleGeneration,
            _ => FaultReason::UnknownProcess,
        })?;
        if !in_window(addr, 1) {
            return Err(FaultReason::OutsideWindow);
        }
        let o = self.state.objects.values().find(|o| o.contains_addr(addr)).ok_or(FaultReason::NoObject)?;
        let a = o.position(task).ok_or(FaultReason::NotAttached)?;
        let offset = addr - o.base;
        if offset >= o.size {
            return Err(FaultReason::OutsideObject);
        }
        let f = o.frames.partition_point(|f| f.offset + f.size.bytes() <= offset);
        let att = &o.attachments[a];
        if att.rights == Prot::None {
            return Err(FaultReason::AccessViolation);
        }
        let Some(m) = att.maps.get(&f).copied() else {
            return if att.pending.contains(f) {
                self.map_pending(task, o.id, a, f)
            } else {
                Err(FaultReason::NotMapped)
            };
        };
        if is_write && !m.prot.writable() {
            return Err(FaultReason::AccessViolation);
        }
        // The records say mapped, the hardware disagrees (or raced): map a
        // new copy in place of the old one. The old copy is deleted first
        // (it would otherwise unmap the new mapping of the same frame), so
        // if no new one can be made the page stays unmapped, and says so.
        let id = o.id;
        self.kernel.delete(m.copy);
        budget::credit_mapping(&mut self.state.usage, task.pid(), &m);
        let new = self.map_one(task, id, f, m.prot, (0, 0));
        if let Some(att) = self.state.objects.get_mut(&id).map(|o| &mut o.attachments[a]) {
            match new {
                Ok(m) => att.maps.insert_reserved(f, m),
                Err(_) => drop(att.maps.remove(&f)),
            }
        }
        new.map(|_| ())
    }

    /// Maps frame `f` of object `id` into `task` with `prot`, charging it
    /// for the mapping and for its pending runs becoming `runs` (before,
    /// after); on failure everything it did is undone.
    fn map_one(
        &mut self,
        task: TaskId,
        id: ObjectId,
        f: usize,
        prot: Prot,
        runs: (u64, u64),
    ) -> Result<Mapping<K::Cap>, FaultReason> {
        let mut txn = Txn::new();
        let mut out = Vec::new();
        let (mut m, objects) = self.mapper();
        let mapped = match objects.get(&id) {
            Some(o) => {
                let frame = core::iter::once((f, &o.frames[f]));
                m.map_frames(&mut txn, task.pid(), o.base, frame, prot, task.pid(), &mut out).and_then(|()| {
                    budget::grown(m.ledger.usage, m.ledger.budgets, &mut txn, task.pid(), runs)
                })
            }
            None => Err(Error::UnknownObject),
        };
        match mapped.map(|()| out.pop()) {
            Ok(Some((_, m))) => Ok(m),
            _ => {
                txn.rollback(&mut self.kernel, &mut self.state);
                Err(FaultReason::RepairFailed)
            }
        }
    }

    /// First touch of frame `f` of a lazy attachment (`a` of object `id`):
    /// map it with the attachment's rights. Any access may map it, since the
    /// rights were checked at attach; a write to a read-only page faults
    /// again and is then reported as an access violation.
    pub(super) fn map_pending(
        &mut self,
        task: TaskId,
        id: ObjectId,
        a: usize,
        f: usize,
    ) -> Result<(), FaultReason> {
        let o = self.state.objects.get(&id).ok_or(FaultReason::NoObject)?;
        let pending = &o.attachments[a].pending;
        // Mapping one frame out of the middle of a run splits it.
        let runs = (pending.runs(), pending.runs_after_remove(f..f + 1));
        let more = 1 + runs.1.saturating_sub(runs.0) as usize;
        self.check_mappings(task.pid(), more).map_err(|_| FaultReason::RepairFailed)?;
        let rights = frame_prot(f, o.attachments[a].rights);
        // Room for the records first, so nothing after the mapping can fail.
        let o = self.state.objects.get_mut(&id).ok_or(FaultReason::NoObject)?;
        let att = &mut o.attachments[a];
        att.maps.reserve(1).map_err(|_| FaultReason::RepairFailed)?;
        att.pending.reserve().map_err(|_| FaultReason::RepairFailed)?;
        let m = self.map_one(task, id, f, rights, runs)?;
        let State { objects, usage, .. } = &mut self.state;
        if let Some(att) = objects.get_mut(&id).map(|o| &mut o.attachments[a]) {
            att.maps.insert_reserved(f, m);
            att.pending.remove(f..f + 1);
            budget::shrunk(usage, task.pid(), runs);
        }
        Ok(())
    }
}
