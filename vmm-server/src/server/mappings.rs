//! The patent's calls: `mmap_peer` maps part of an object into another
//! process, `munmap_peer` takes a range away. Both follow QNX's calls of
//! the same names: `len` is rounded up to whole pages, pid 0 is the
//! caller, and unmapping a range with nothing mapped succeeds; where the
//! one-address rule differs (every process maps an object at the same
//! address), the rustdoc of `libshm::shm::mmap_peer` says so.

use super::*;

impl<K: Kernel> Server<K> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn mmap_peer(
        &mut self,
        who: TaskId,
        target: Target,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        id: ObjectId,
        offset: u64,
    ) -> Result<u64, Error> {
        let o = self.object(id)?;
        let target = self.resolve(target, who)?;
        // Authority: whose grant bounds the rights of a new attachment.
        let grant = if target == who {
            o.self_max(who.pid())
        } else {
            o.may_manage(who)?;
            match o.mode {
                Mode::ClientServer => Prot::ReadWrite,
                Mode::Peer => o.attachment(who).map_or(Prot::Read, |a| a.rights),
            }
        };
        let end = page_range(offset, len)?;
        if end > o.size {
            return Err(Error::OutsideObject);
        }
        // Without MAP_FIXED the address is a hint, and the object's one
        // address is where it goes.
        if flags.is_fixed() {
            page_aligned(addr)?;
            if Some(addr) != o.base.checked_add(offset) {
                return Err(Error::WrongAddress);
            }
        }
        let range = o.frames_in(offset, end)?;
        let att = o.attachment(target);
        let bound = att.map_or(grant, |a| a.rights);
        if !bound.allows(prot) {
            return Err(Error::RightsExceeded);
        }
        if att.is_none() && o.attachments.len() >= self.limits.max_attachments {
            return Err(Error::TooManyAttachments);
        }
        // Pages already mapped keep their mapping (and rights); a new
        // attachment also gets the header page; PROT_NONE maps nothing.
        let header = (att.is_none() && range.start > 0).then_some(0);
        let todo: Vec<(usize, Frame<K::Cap>)> = header
            .into_iter()
            .chain(range.clone())
            .filter(|&i| prot != Prot::None && att.is_none_or(|a| !a.maps.contains_key(i)))
            .map(|i| (i, o.frames[i].clone()))
            .collect();
        // What it maps is no longer pending: that may split a run.
        let (runs_before, runs_after) = match att {
            Some(a) if prot != Prot::None => (a.pending.runs(), a.pending.runs_after_remove(range.clone())),
            Some(a) => (a.pending.runs(), a.pending.runs()),
            None => (0, 0),
        };
        self.check_mappings(target.pid(), todo.len() + runs_after.saturating_sub(runs_before) as usize)?;

        let base = o.base;
        let attaching = att.is_none();
        let refs: Vec<_> = todo.iter().map(|(i, f)| (*i, f)).collect();
        let mut txn = Txn::new();
        let maps = match self.map_frames(&mut txn, target.pid(), base, &refs, prot, who.pid()) {
            Ok(m) => m,
            Err(e) => return self.rollback(txn, e),
        };
        let State { objects, usage, .. } = &mut self.state;
        let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        if attaching {
            o.attachments.push(Attachment::new(target, prot));
        }
        let i = o.position(target).ok_or(Error::NotAttached)?;
        let att = &mut o.attachments[i];
        att.maps.extend(todo.iter().map(|(f, _)| *f).zip(maps));
        if prot != Prot::None {
            att.pending.remove(range);
        }
        budget::recount(usage, target.pid(), runs_before, runs_after);
        if attaching {
            self.write_header(id);
        }
        Ok(base + offset)
    }

    /// Removes `target`'s mappings of every page in `[addr, addr + len)`,
    /// across objects and gaps; pages with no mapping are left alone, so a
    /// range with none succeeds and changes nothing. Everything is checked
    /// first (authority over each object where the target has mappings in
    /// the range, no 2 MiB frame cut), then everything is removed.
    pub(super) fn munmap_peer(
        &mut self,
        who: TaskId,
        target: Target,
        addr: u64,
        len: u64,
    ) -> Result<(), Error> {
        let target = self.resolve(target, who)?;
        let end = page_range(addr, len)?;
        if !in_window(addr, end - addr) {
            return Err(Error::OutsideWindow);
        }
        let mut hit = Vec::new();
        // Records the target holds after, less before: a hole punched in a
        // run of pending frames is one more (Linux's munmap, too, may fail
        // with ENOMEM when a split would pass the limit on mappings).
        let mut more_runs = 0u64;
        let mut fewer = 0u64;
        for o in self.state.objects.values() {
            let Some(att) = o.attachment(target) else { continue };
            let (from, to) = (addr.max(o.base), end.min(o.base + o.size));
            if from >= to {
                continue;
            }
            let range = o.frames_in(from - o.base, to - o.base)?;
            let unmapped = att.maps.range(range.clone()).count() as u64;
            if unmapped == 0 && !att.pending.intersects(range.clone()) {
                continue;
            }
            if target != who {
                o.may_manage(who)?;
            }
            let (before, after) = (att.pending.runs(), att.pending.runs_after_remove(range.clone()));
            more_runs += after.saturating_sub(before);
            fewer += unmapped + before.saturating_sub(after);
            hit.push((o.id, range));
        }
        if more_runs > fewer {
            self.check_mappings(target.pid(), (more_runs - fewer) as usize)?;
        }
        for (id, range) in hit {
            let State { objects, usage, .. } = &mut self.state;
            let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
            let i = o.position(target).ok_or(Error::NotAttached)?;
            let att = &mut o.attachments[i];
            let before = att.pending.runs();
            att.pending.remove(range.clone());
            budget::recount(usage, target.pid(), before, att.pending.runs());
            for m in att.maps.take_range(range.clone()) {
                self.kernel.delete(m.copy);
                budget::credit_mapping(usage, target.pid(), &m);
            }
            let still = small_slots(o, Some(&o.attachments[i]));
            let obj_range = (o.base, o.base + o.reserve);
            release_tables(&mut self.kernel, &mut self.state, obj_range, &still, target.pid());
        }
        Ok(())
    }
}
