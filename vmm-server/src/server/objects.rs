//! Objects: placing, creating, attaching and detaching, growing and shrinking, the root offset, destroying, and rewriting the header page.

use super::*;

/// What a peer pays for the pages a grow adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pays {
    /// Their mappings, made now.
    Mappings,
    /// A run of pending frames, mapped on touch.
    Pending,
    /// Nothing: it gets none (`PROT_NONE`, or no budget left at all).
    Nothing,
}

impl<K: Kernel> Server<K> {
    /// Rewrites an object's header page from the tables.
    pub(super) fn write_header(&mut self, id: ObjectId) {
        let Some(o) = self.state.objects.get(&id) else {
            return;
        };
        let mut h = Header::new(o.id, o.mode, o.owner, o.base, o.size, o.max_size);
        h.root = o.root;
        for a in &o.attachments {
            let alias = self.state.procs.get(&a.task.pid()).and_then(|p| p.alias);
            // Cannot fail: max_attachments <= the header's capacity.
            let _ = h.push(Attached { task: a.task, alias, rights: a.rights });
        }
        let mut page = [0u8; HEADER_BYTES];
        h.encode(&mut page);
        self.kernel.write_frame(o.frames[0].cap, 0, &page);
    }

    /// First fit of `reserve` bytes in the window, 2 MiB-aligned.
    pub(super) fn place(&self, reserve: u64) -> Result<u64, Error> {
        let mut used: Vec<(u64, u64)> =
            self.state.objects.values().map(|o| (o.base, o.base + o.reserve)).collect();
        used.sort_unstable();
        let mut at = WINDOW_BASE;
        for (start, end) in used {
            if start - at >= reserve {
                break;
            }
            at = end;
        }
        if WINDOW_END - at >= reserve {
            Ok(at)
        } else {
            Err(Error::WindowFull)
        }
    }

    pub(super) fn create(
        &mut self,
        who: TaskId,
        name: Name,
        mode: Mode,
        size: u64,
        max_size: u64,
        client_prot: Prot,
    ) -> Result<ObjectInfo, Error> {
        if size == 0 || max_size == 0 {
            return Err(Error::ZeroLength);
        }
        page_aligned(size)?;
        page_aligned(max_size)?;
        if size > max_size || (mode == Mode::Peer && client_prot != Prot::ReadWrite) {
            return Err(Error::BadGeometry);
        }
        if max_size > MAX_OBJECT_SIZE {
            return Err(Error::TooLarge);
        }
        if self.state.objects.values().any(|o| o.name == name) {
            return Err(Error::NameTaken);
        }
        if self.state.objects.len() >= self.limits.max_objects {
            return Err(Error::TooManyObjects);
        }
        self.check_quota(who.pid(), size)?;
        let reserve = max_size.next_multiple_of(LARGE_PAGE_SIZE);
        budget::check(&self.state.usage, &self.state.budgets, who.pid(), Usage::object(reserve))?;
        let base = self.place(reserve)?;

        let mut txn = Txn::new();
        if let Err(e) = budget::charge(
            &mut self.state.usage,
            &self.state.budgets,
            &mut txn,
            who.pid(),
            Usage::object(reserve),
        ) {
            return self.rollback(txn, e);
        }
        let frames = match self.alloc_frames(&mut txn, &frame_plan(0, size), who.pid()) {
            Ok(f) => f,
            Err(e) => return self.rollback(txn, e),
        };
        let id = ObjectId(self.state.next_object);
        self.state.next_object = self.state.next_object.wrapping_add(1).max(1);
        let obj = Object {
            id,
            name,
            mode,
            client_prot,
            owner: who.pid(),
            base,
            reserve,
            size,
            max_size,
            root: 0,
            frames,
            attachments: Vec::new(),
        };
        let info = obj.info();
        self.state.objects.insert(id, obj);
        self.write_header(id);
        Ok(info)
    }

    /// Attaches `who`; `lazy` maps only the header page now and leaves the
    /// others pending for [`Server::handle_fault`].
    pub(super) fn attach(
        &mut self,
        who: TaskId,
        id: ObjectId,
        prot: Prot,
        lazy: bool,
    ) -> Result<AttachInfo, Error> {
        let o = self.object(id)?;
        if o.attachment(who).is_some() {
            return Err(Error::AlreadyAttached);
        }
        if !o.self_max(who.pid()).allows(prot) {
            return Err(Error::RightsExceeded);
        }
        if o.attachments.len() >= self.limits.max_attachments {
            return Err(Error::TooManyAttachments);
        }
        // Lazily: the header now, the rest on touch. PROT_NONE: nothing,
        // ever (any touch is an access violation).
        let now = match (prot, lazy) {
            (Prot::None, _) => 0,
            (_, true) => 1,
            (_, false) => o.frames.len(),
        };
        // The rest, if any, is one run of pending frames: one record.
        let pending = if prot == Prot::None { Runs::new() } else { Runs::of(now..o.frames.len()) };
        self.check_mappings(who.pid(), now + pending.runs() as usize)?;

        let frames: Vec<_> = o.frames.iter().cloned().enumerate().take(now).collect();
        let base = o.base;
        let refs: Vec<_> = frames.iter().map(|(i, f)| (*i, f)).collect();
        let mut txn = Txn::new();
        let maps = match self.map_frames(&mut txn, who.pid(), base, &refs, prot, who.pid()) {
            Ok(m) => m,
            Err(e) => return self.rollback(txn, e),
        };
        let State { objects, usage, .. } = &mut self.state;
        let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        budget::commit_charge(usage, who.pid(), Usage::held(pending.runs()));
        let maps = (0..).zip(maps).collect();
        o.attachments.push(Attachment { task: who, rights: prot, maps, pending });
        let reply = AttachInfo { base: o.base, size: o.size, root: o.root };
        self.write_header(id);
        Ok(reply)
    }

    /// Removes `task`'s attachment to `id`, deleting its mappings and the
    /// paging structures that become empty.
    pub(super) fn drop_attachment(&mut self, id: ObjectId, task: TaskId) {
        let Some(o) = self.state.objects.get_mut(&id) else {
            return;
        };
        let Some(i) = o.position(task) else {
            return;
        };
        let att = o.attachments.remove(i);
        let range = (o.base, o.base + o.reserve);
        for m in att.maps.into_values() {
            self.kernel.delete(m.copy);
            budget::credit_mapping(&mut self.state.usage, task.pid(), &m);
        }
        budget::credit(&mut self.state.usage, task.pid(), Usage::held(att.pending.runs()));
        release_tables(&mut self.kernel, &mut self.state, range, &BTreeSet::new(), task.pid());
        self.write_header(id);
    }

    pub(super) fn detach(&mut self, who: TaskId, id: ObjectId) -> Result<(), Error> {
        if self.object(id)?.attachment(who).is_none() {
            return Err(Error::NotAttached);
        }
        self.drop_attachment(id, who);
        Ok(())
    }

    pub(super) fn grow(&mut self, who: TaskId, id: ObjectId, new_size: u64) -> Result<u64, Error> {
        let o = self.object(id)?;
        o.may_manage(who)?;
        page_aligned(new_size)?;
        if new_size <= o.size {
            return Err(Error::NotGrowing);
        }
        if new_size > o.max_size {
            return Err(Error::TooLarge);
        }
        let plan = frame_plan(o.size, new_size);
        self.check_quota(who.pid(), new_size - o.size)?;
        // Each peer pays for the new pages it holds. One whose budget cannot
        // take them all (at most: a copy each, and every paging structure
        // above them) gets them pending instead, mapped on its first touch
        // if it then can pay: a peer at its budget never makes a grow fail.
        // One that cannot even pay for one more run of pending frames gets
        // nothing: its touch of a new page faults, as it would for want of
        // budget to repair it.
        let most = mapping_cost(&plan, o.base);
        let new = o.frames.len()..o.frames.len() + plan.len();
        let peers: Vec<(TaskId, Prot, Pays)> = o
            .attachments
            .iter()
            .map(|a| {
                let pid = a.task.pid();
                let pays = if a.rights == Prot::None {
                    Pays::Nothing
                } else if budget::check(&self.state.usage, &self.state.budgets, pid, most).is_ok() {
                    Pays::Mappings
                } else {
                    let runs = a.pending.runs_after_insert(new.clone()) - a.pending.runs();
                    match budget::check(&self.state.usage, &self.state.budgets, pid, Usage::held(runs)) {
                        Ok(()) => Pays::Pending,
                        Err(_) => Pays::Nothing,
                    }
                };
                (a.task, a.rights, pays)
            })
            .collect();

        let base = o.base;
        let first = o.frames.len();
        let mut txn = Txn::new();
        let frames = match self.alloc_frames(&mut txn, &plan, who.pid()) {
            Ok(f) => f,
            Err(e) => return self.rollback(txn, e),
        };
        let refs: Vec<_> = frames.iter().enumerate().map(|(i, f)| (first + i, f)).collect();
        let mut maps = Vec::new();
        if maps.try_reserve_exact(peers.len()).is_err() {
            return self.rollback(txn, Error::OutOfMemory);
        }
        for (task, rights, pays) in &peers {
            // A PROT_NONE attachment gets nothing mapped, now or later.
            if *pays != Pays::Mappings {
                maps.push(Vec::new());
                continue;
            }
            match self.map_frames(&mut txn, task.pid(), base, &refs, *rights, task.pid()) {
                Ok(m) => maps.push(m),
                Err(e) => return self.rollback(txn, e),
            }
        }
        let State { objects, usage, .. } = &mut self.state;
        let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        o.frames.extend(frames);
        for ((a, m), (_, _, pays)) in o.attachments.iter_mut().zip(maps).zip(&peers) {
            if *pays == Pays::Pending {
                let before = a.pending.runs();
                a.pending.insert(new.clone());
                budget::recount(usage, a.task.pid(), before, a.pending.runs());
            }
            a.maps.extend((first..).zip(m));
        }
        o.size = new_size;
        self.write_header(id);
        Ok(new_size)
    }

    pub(super) fn shrink(&mut self, who: TaskId, id: ObjectId, new_size: u64) -> Result<u64, Error> {
        let o = self.object(id)?;
        o.may_manage(who)?;
        page_aligned(new_size)?;
        if new_size >= o.size || new_size < PAGE_SIZE {
            return Err(Error::NotShrinking);
        }
        let cut = o.frames_in(new_size, o.size)?.start;

        let State { objects, usage, .. } = &mut self.state;
        let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        // Revoking the originals takes every copy, and so every mapping in
        // every process, in one step each.
        for f in o.frames.drain(cut..).rev() {
            self.kernel.revoke(f.cap);
            self.kernel.free(f.cap);
            budget::credit(usage, f.payer, Usage::frame(f.size));
        }
        o.attachments.iter_mut().for_each(|a| {
            let holder = a.task.pid();
            a.maps.take_range(cut..usize::MAX).for_each(|m| budget::credit_mapping(usage, holder, &m));
            let before = a.pending.runs();
            a.pending.remove(cut..usize::MAX);
            budget::recount(usage, a.task.pid(), before, a.pending.runs());
        });
        o.size = new_size;
        if o.root >= new_size {
            o.root = 0;
        }
        let range = (o.base, o.base + o.reserve);
        let slots: Vec<(Pid, BTreeSet<u64>)> =
            o.attachments.iter().map(|a| (a.task.pid(), small_slots(o, Some(a)))).collect();
        for (pid, still) in slots {
            release_tables(&mut self.kernel, &mut self.state, range, &still, pid);
        }
        self.write_header(id);
        Ok(new_size)
    }

    pub(super) fn set_root(&mut self, who: TaskId, id: ObjectId, offset: u64) -> Result<(), Error> {
        let o = self.object(id)?;
        o.may_manage(who)?;
        if offset >= o.size {
            return Err(Error::OutsideObject);
        }
        if let Some(o) = self.state.objects.get_mut(&id) {
            o.root = offset;
        }
        self.write_header(id);
        Ok(())
    }

    pub(super) fn destroy(&mut self, who: TaskId, id: ObjectId) -> Result<(), Error> {
        let o = self.object(id)?;
        if o.owner != who.pid() {
            o.may_manage(who)?;
        }
        if o.attachments.iter().any(|a| a.task != who) {
            return Err(Error::ObjectBusy);
        }
        self.drop_attachment(id, who);
        if let Some(o) = self.state.objects.remove(&id) {
            budget::credit(&mut self.state.usage, o.owner, Usage::object(o.reserve));
            for f in o.frames.into_iter().rev() {
                self.kernel.revoke(f.cap);
                self.kernel.free(f.cap);
                budget::credit(&mut self.state.usage, f.payer, Usage::frame(f.size));
            }
        }
        Ok(())
    }
}
