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
        let _phase = Phase::Header.scoped();
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
        // A reader on another core may copy the page meanwhile: the count
        // is odd from before the first byte changes until after the last
        // (each write_frame is complete and visible before the next).
        self.state.rewrites = self.state.rewrites.wrapping_add(2);
        let (odd, even) = (self.state.rewrites.wrapping_sub(1), self.state.rewrites);
        let cap = o.frames[0].cap;
        let at = libshm::header::REWRITES_OFFSET;
        page[at..at + 8].copy_from_slice(&odd.to_le_bytes());
        self.kernel.write_frame(cap, at as u64, &odd.to_le_bytes());
        self.kernel.write_frame(cap, 0, &page);
        self.kernel.write_frame(cap, at as u64, &even.to_le_bytes());
    }

    /// First fit of `reserve` bytes in the window, 2 MiB-aligned. No
    /// start before the end of an object overlapping `[at, at + reserve)`
    /// can fit, so each step passes one object (quadratic in the objects,
    /// which are few, and it allocates nothing).
    pub(super) fn place(&self, reserve: u64) -> Result<u64, Error> {
        let mut at = WINDOW_BASE;
        while WINDOW_END - at >= reserve {
            let overlap =
                self.state.objects.values().find(|o| o.base < at + reserve && at < o.base + o.reserve);
            match overlap {
                Some(o) => at = o.base + o.reserve,
                None => return Ok(at),
            }
        }
        Err(Error::WindowFull)
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
        let frames = match self.state.objects.reserve(1) {
            Ok(()) => self.mapper().0.alloc_frames(&mut txn, frame_plan(0, size), who.pid()),
            Err(e) => Err(e),
        };
        let frames = match frames {
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
        self.state.objects.insert_reserved(id, obj);
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
        let rest = if prot == Prot::None { 0..0 } else { now..o.frames.len() };
        let runs = u64::from(!rest.is_empty());
        self.check_mappings(who.pid(), now + runs as usize)?;

        let mut txn = Txn::new();
        let mut maps = Vec::new();
        let acquired = (|| -> Result<Attachment<K::Cap>, Error> {
            let pending = Runs::of(rest)?;
            let mut att =
                Attachment { task: who, rights: prot, maps: VecMap::new(), pending, subscriber: None };
            let (mut m, objects) = self.mapper();
            let o = objects.get(&id).ok_or(Error::UnknownObject)?;
            m.ledger.charge(&mut txn, who.pid(), Usage::held(runs))?;
            let frames = o.frames.iter().enumerate().take(now);
            m.map_frames(&mut txn, who.pid(), o.base, frames, prot, who.pid(), &mut maps)?;
            att.maps.reserve(maps.len())?;
            Ok(att)
        })();
        let mut att = match acquired.and_then(|att| {
            room(&mut self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?.attachments, 1)
                .map(|()| att)
        }) {
            Ok(att) => att,
            Err(e) => return self.rollback(txn, e),
        };
        att.maps.extend_reserved(maps);
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        o.attachments.push(att);
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
        let State { procs, usage, .. } = &mut self.state;
        for m in att.maps.into_values() {
            self.kernel.delete(m.copy);
            budget::credit_mapping(usage, task.pid(), &m);
        }
        budget::credit(usage, task.pid(), Usage::held(att.pending.runs()));
        if let Some(n) = att.subscriber {
            self.kernel.delete(n);
            budget::credit(usage, task.pid(), Usage::COPY);
        }
        if let Some(p) = procs.get_mut(&task.pid()) {
            release_tables(&mut self.kernel, p, usage, range, |_| false);
        }
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
        let pages = plan.clone().count();
        self.check_quota(who.pid(), new_size - o.size)?;
        // Each peer pays for the new pages it holds. One whose budget cannot
        // take them all (at most: a copy each, and every paging structure
        // above them) gets them pending instead, mapped on its first touch
        // if it then can pay: a peer at its budget never makes a grow fail.
        // One that cannot even pay for one more run of pending frames gets
        // nothing: its touch of a new page faults, as it would for want of
        // budget to repair it.
        let most = mapping_cost(plan.clone(), o.base);
        let new = o.frames.len()..o.frames.len() + pages;
        let pays = |a: &Attachment<K::Cap>| {
            let pid = a.task.pid();
            if a.rights == Prot::None {
                Pays::Nothing
            } else if budget::check(&self.state.usage, &self.state.budgets, pid, most).is_ok() {
                Pays::Mappings
            } else {
                let runs = a.pending.runs_after_insert(new.clone()) - a.pending.runs();
                match budget::check(&self.state.usage, &self.state.budgets, pid, Usage::held(runs)) {
                    Ok(()) => Pays::Pending,
                    Err(_) => Pays::Nothing,
                }
            }
        };
        let mut peers = Vec::new();
        room(&mut peers, o.attachments.len())?;
        peers.extend(o.attachments.iter().map(pays));

        let (base, first) = (o.base, o.frames.len());
        Phase::Bookkeeping.enter();
        let mut txn = Txn::new();
        // Every peer's new mappings, one after another, in one vector.
        let mut maps = Vec::new();
        let acquired = (|| -> Result<Vec<Frame<K::Cap>>, Error> {
            let paying = peers.iter().filter(|p| **p == Pays::Mappings).count();
            room(&mut maps, paying * pages)?;
            // The log's room at once, not grown (and rehashed) peer by
            // peer: a charge for the grower and each peer, a copy for
            // each new mapping, and the frames.
            room(&mut txn.charges, peers.len() + 1)?;
            room(&mut txn.copies, paying * pages)?;
            room(&mut txn.frames, pages)?;
            let (mut m, objects) = self.mapper();
            let frames = m.alloc_frames(&mut txn, plan, who.pid())?;
            let o = objects.get(&id).ok_or(Error::UnknownObject)?;
            for (a, pays) in o.attachments.iter().zip(&peers) {
                let pid = a.task.pid();
                match pays {
                    Pays::Mappings => {
                        let refs = frames.iter().enumerate().map(|(i, f)| (first + i, f));
                        // Checked above for the most these pages can cost
                        // it; only the grower is charged (its frames) since.
                        m.ledger.covered = (pid != who.pid()).then_some(pid);
                        let mapped = m.map_frames(&mut txn, pid, base, refs, a.rights, pid, &mut maps);
                        m.ledger.covered = None;
                        mapped?;
                    }
                    Pays::Pending => {
                        let runs = (a.pending.runs(), a.pending.runs_after_insert(new.clone()));
                        budget::grown(m.ledger.usage, m.ledger.budgets, &mut txn, pid, runs)?;
                    }
                    Pays::Nothing => {}
                }
            }
            // Room for the records the commit adds.
            let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
            room(&mut o.frames, pages)?;
            for (a, pays) in o.attachments.iter_mut().zip(&peers) {
                match pays {
                    Pays::Mappings => a.maps.reserve(pages)?,
                    Pays::Pending => a.pending.reserve()?,
                    Pays::Nothing => {}
                }
            }
            Ok(frames)
        })();
        let frames = match acquired {
            Ok(f) => f,
            Err(e) => return self.rollback(txn, e),
        };
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        o.frames.extend(frames);
        let mut maps = maps.into_iter();
        for (a, pays) in o.attachments.iter_mut().zip(&peers) {
            match pays {
                Pays::Mappings => a.maps.extend_reserved(maps.by_ref().take(pages)),
                Pays::Pending => a.pending.insert(new.clone()),
                Pays::Nothing => {}
            }
        }
        o.size = new_size;
        // Only the size changed: one word of the header (the rest of the
        // page is as the last full rewrite left it).
        let header = o.frames[0].cap;
        {
            let _phase = Phase::Header.scoped();
            self.kernel.write_frame(header, SIZE_OFFSET, &new_size.to_le_bytes());
        }
        self.notify(id);
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

        let State { objects, procs, usage, .. } = &mut self.state;
        let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        // Revoking the originals takes every copy, and so every mapping in
        // every process, in one step each; then no core may still
        // translate them (the caller is blocked in its call, a peer may be
        // running on another core: see Kernel::shoot_down); only then is
        // the memory given back, to be reused.
        for f in o.frames[cut..].iter().rev() {
            self.kernel.revoke(f.cap);
        }
        for a in o.attachments.iter().filter(|a| a.task != who) {
            if let Some(p) = procs.get(&a.task.pid()) {
                self.kernel.shoot_down(p.vspace);
            }
        }
        for f in o.frames.drain(cut..).rev() {
            give_back(&mut self.kernel, usage, &f);
        }
        o.attachments.iter_mut().for_each(|a| {
            let holder = a.task.pid();
            a.maps.take_range(cut..usize::MAX).for_each(|m| budget::credit_mapping(usage, holder, &m));
            // Taking a tail out never splits a run (so never allocates).
            let before = a.pending.runs();
            a.pending.remove(cut..usize::MAX);
            budget::shrunk(usage, holder, (before, a.pending.runs()));
        });
        o.size = new_size;
        if o.root >= new_size {
            o.root = 0;
        }
        let range = (o.base, o.base + o.reserve);
        let State { objects, procs, usage, .. } = &mut self.state;
        let o = objects.get(&id).ok_or(Error::UnknownObject)?;
        for a in &o.attachments {
            if let Some(p) = procs.get_mut(&a.task.pid()) {
                release_tables(&mut self.kernel, p, usage, range, |slot| small_mapped_in(o, a, slot));
            }
        }
        self.write_header(id);
        self.notify(id);
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
        self.notify(id);
        Ok(())
    }

    /// Signals every subscriber of `id`: the change is mapped and in the
    /// header. Never blocks (see [`Kernel::signal`]).
    fn notify(&mut self, id: ObjectId) {
        let _phase = Phase::Notify.scoped();
        if let Some(o) = self.state.objects.get(&id) {
            for n in o.attachments.iter().filter_map(|a| a.subscriber) {
                self.kernel.signal(n);
            }
        }
    }

    /// `who` is signalled on every change of `id` through `cap` (taken from
    /// the message), in place of any notification it gave before.
    pub(super) fn subscribe(
        &mut self,
        who: TaskId,
        id: ObjectId,
        cap: &mut Option<K::Cap>,
    ) -> Result<(), Error> {
        let i = self.object(id)?.position(who).ok_or(Error::NotAttached)?;
        let mut txn = Txn::new();
        budget::charge(&mut self.state.usage, &self.state.budgets, &mut txn, who.pid(), Usage::COPY)?;
        let (Some(new), Some(o)) = (cap.take(), self.state.objects.get_mut(&id)) else {
            return self.rollback(txn, Error::WrongCaps);
        };
        if let Some(old) = o.attachments[i].subscriber.replace(new) {
            self.kernel.delete(old);
            budget::credit(&mut self.state.usage, who.pid(), Usage::COPY);
        }
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
                give_back(&mut self.kernel, &mut self.state.usage, &f);
            }
        }
        Ok(())
    }
}

/// Frees a frame already revoked (unmapped everywhere, and no core still
/// translating it) and credits its payer.
fn give_back<K: Kernel>(kernel: &mut K, usage: &mut PidTable<Usage>, f: &Frame<K::Cap>) {
    poison(kernel, f);
    kernel.free(f.cap);
    budget::credit(usage, f.payer, Usage::frame(f.size));
}

/// With `poison-freed`: overwrites a frame just unmapped everywhere (and
/// not yet freed) with [`libshm::layout::FREED_FRAME_POISON`], every 4 KiB
/// of it.
#[cfg(feature = "poison-freed")]
fn poison<K: Kernel>(kernel: &mut K, f: &Frame<K::Cap>) {
    let mut page = [0u8; PAGE_SIZE as usize];
    for word in page.chunks_exact_mut(8) {
        word.copy_from_slice(&libshm::layout::FREED_FRAME_POISON.to_le_bytes());
    }
    for at in (0..f.size.bytes()).step_by(PAGE_SIZE as usize) {
        kernel.write_frame(f.cap, at, &page);
    }
}

/// Without `poison-freed` a freed frame is left as it is (the kernel zeroes
/// it when its memory is retyped again).
#[cfg(not(feature = "poison-freed"))]
fn poison<K: Kernel>(_: &mut K, _: &Frame<K::Cap>) {}
