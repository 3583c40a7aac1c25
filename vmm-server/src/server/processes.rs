//! Processes: registering one (with its VSpace), its alias, and forgetting one that died.

use super::*;

impl<K: Kernel> Server<K> {
    pub(super) fn register_process(
        &mut self,
        task: TaskId,
        alias: Option<Name>,
        budget: Budget,
        cap: &mut Option<K::Cap>,
    ) -> Result<(), Error> {
        if self.state.procs.contains_key(&task.pid()) {
            return Err(Error::ProcessExists);
        }
        if let Some(name) = alias {
            if self.find_alias(name).is_ok() {
                return Err(Error::AliasTaken);
            }
        }
        if self.state.procs.len() >= self.limits.max_processes {
            return Err(Error::TooManyProcesses);
        }
        // Its budget must fit beside every other promise; a pid coming back
        // is promised at least what its objects still hold.
        let (usage, budgets) = (&self.state.usage, &self.state.budgets);
        let others = budget::promised(usage, budgets, task.pid()).ok_or(Error::BudgetUnavailable)?;
        let mine = budget.max(&usage.get(&task.pid()).copied().unwrap_or(Usage::NONE));
        if !others.checked_add(&mine).is_some_and(|t| self.limits.capacity.holds(&t)) {
            return Err(Error::BudgetUnavailable);
        }
        // Room for its records before its VSpace cap is taken.
        self.state.procs.reserve(1)?;
        self.state.budgets.reserve(1)?;
        let vspace = cap.take().ok_or(Error::WrongCaps)?;
        let process = Process { task, alias, vspace, tables: VecMap::new() };
        self.state.procs.insert_reserved(task.pid(), process);
        self.state.budgets.insert_reserved(task.pid(), budget);
        self.state.seen.insert(task.pid());
        Ok(())
    }

    pub(super) fn register_alias(&mut self, who: TaskId, name: Name) -> Result<(), Error> {
        match self.find_alias(name) {
            Ok(t) if t != who => return Err(Error::AliasTaken),
            _ => {}
        }
        if let Some(p) = self.state.procs.get_mut(&who.pid()) {
            p.alias = Some(name);
        }
        for i in 0..self.state.objects.len() {
            match self.state.objects.at(i) {
                Some((id, o)) if o.attachment(who).is_some() => self.write_header(id),
                _ => {}
            }
        }
        Ok(())
    }

    /// A process is gone (died, or the supervisor unregistered it): it leaves
    /// every object's header, its mappings and paging structures are freed
    /// and its VSpace cap deleted. Objects it owns stay (a restart of the
    /// same pid owns them again). Unknown pids are ignored.
    ///
    /// ```
    /// let mut s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// s.process_died(42);
    /// ```
    pub fn process_died(&mut self, pid: Pid) {
        let Some(task) = self.state.procs.get(&pid).map(|p| p.task) else {
            return;
        };
        // By position: dropping an attachment keeps the objects (and
        // nothing here may allocate: a death must always be handled).
        for i in 0..self.state.objects.len() {
            if let Some((id, _)) = self.state.objects.at(i) {
                self.drop_attachment(id, task);
            }
        }
        if let Some(p) = self.state.procs.remove(&pid) {
            // Deepest level first (they are in level order), so no
            // structure is freed under another.
            for ((level, _), t) in p.tables.into_entries().rev() {
                if let Some(c) = t.cap {
                    self.kernel.free(c);
                    budget::credit(&mut self.state.usage, t.payer, Usage::table(level));
                }
            }
            self.kernel.delete(p.vspace);
        }
        self.state.budgets.remove(&pid);
    }
}
