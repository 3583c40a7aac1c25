//! The patent's calls: `mmap_peer` maps part of an object into another
//! process, `munmap_peer` takes a range away. Both follow QNX's calls of
//! the same names: `len` is rounded up to whole pages, pid 0 is the
//! caller, and unmapping a range with nothing mapped succeeds; where the
//! one-address rule differs (every process maps an object at the same
//! address), the rustdoc of `libshm::shm::mmap_peer` says so.

use super::*;

/// The frames an `mmap_peer` maps: the header page (for a new attachment)
/// and those of `range` the attachment does not map yet; none for
/// `PROT_NONE`.
fn to_map<C: Copy>(
    header: Option<usize>,
    range: core::ops::Range<usize>,
    att: Option<&Attachment<C>>,
    prot: Prot,
) -> impl Iterator<Item = usize> + Clone + '_ {
    header
        .into_iter()
        .chain(range)
        .filter(move |&i| prot != Prot::None && att.is_none_or(|a| !a.maps.contains_key(&i)))
}

/// An attachment with something in a range, and its frames there.
type Unmapping<'a, C> = Option<(&'a Attachment<C>, core::ops::Range<usize>)>;

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
        // What it maps is no longer pending: that may split a run.
        let runs = match att {
            Some(a) if prot != Prot::None => (a.pending.runs(), a.pending.runs_after_remove(range.clone())),
            Some(a) => (a.pending.runs(), a.pending.runs()),
            None => (0, 0),
        };
        let more = to_map(header, range.clone(), att, prot).count() + runs.1.saturating_sub(runs.0) as usize;
        self.check_mappings(target.pid(), more)?;

        let base = o.base;
        let attaching = att.is_none();
        let mut txn = Txn::new();
        let mut maps = Vec::new();
        let acquired = (|| -> Result<(), Error> {
            let (mut m, objects) = self.mapper();
            let o = objects.get(&id).ok_or(Error::UnknownObject)?;
            let att = o.attachment(target);
            let todo = to_map(header, range.clone(), att, prot).map(|i| (i, &o.frames[i]));
            m.map_frames(&mut txn, target.pid(), base, todo, prot, who.pid(), &mut maps)?;
            budget::grown(m.ledger.usage, m.ledger.budgets, &mut txn, target.pid(), runs)?;
            // Room for the records the commit adds.
            let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
            if attaching {
                room(&mut o.attachments, 1)?;
                o.attachments.push(Attachment::new(target, prot));
            }
            let i = o.position(target).ok_or(Error::NotAttached)?;
            o.attachments[i].maps.reserve(maps.len())?;
            o.attachments[i].pending.reserve()
        })();
        if let Err(e) = acquired {
            // A new attachment is taken out again (it is the last).
            if attaching {
                if let Some(o) = self.state.objects.get_mut(&id) {
                    o.attachments.retain(|a| a.task != target);
                }
            }
            return self.rollback(txn, e);
        }
        let State { objects, usage, .. } = &mut self.state;
        let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        let i = o.position(target).ok_or(Error::NotAttached)?;
        let att = &mut o.attachments[i];
        att.maps.extend_reserved(maps);
        if prot != Prot::None {
            att.pending.remove(range);
        }
        budget::shrunk(usage, target.pid(), runs);
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
        // Records the target holds after, less before: a hole punched in a
        // run of pending frames is one more (Linux's munmap, too, may fail
        // with ENOMEM when a split would pass the limit on mappings).
        let mut more_runs = 0u64;
        let mut fewer = 0u64;
        for o in self.state.objects.values() {
            let Some((att, range)) = Self::unmapping(o, target, addr, end)? else { continue };
            if target != who {
                o.may_manage(who)?;
            }
            let (before, after) = (att.pending.runs(), att.pending.runs_after_remove(range.clone()));
            more_runs += after.saturating_sub(before);
            fewer += att.maps.range(range).count() as u64 + before.saturating_sub(after);
        }
        if more_runs > fewer {
            self.check_mappings(target.pid(), (more_runs - fewer) as usize)?;
        }
        // Room for a split run in each, and its charge, before anything
        // changes.
        let mut txn = Txn::new();
        for i in 0..self.state.objects.len() {
            let State { objects, usage, budgets, .. } = &mut self.state;
            let Some((id, o)) = objects.at(i) else { break };
            let Ok(Some((att, range))) = Self::unmapping(o, target, addr, end) else { continue };
            let runs = (att.pending.runs(), att.pending.runs_after_remove(range));
            let a = o.position(target).ok_or(Error::NotAttached)?;
            let reserved = objects.get_mut(&id).ok_or(Error::UnknownObject)?.attachments[a].pending.reserve();
            if let Err(e) =
                reserved.and_then(|()| budget::grown(usage, budgets, &mut txn, target.pid(), runs))
            {
                return self.rollback(txn, e);
            }
        }
        let State { objects, procs, usage, .. } = &mut self.state;
        let Some(proc) = procs.get_mut(&target.pid()) else {
            return Err(Error::UnknownProcess);
        };
        for i in 0..objects.len() {
            let Some((id, o)) = objects.at(i) else { break };
            let Some((_, range)) = Self::unmapping(o, target, addr, end)? else { continue };
            let o = objects.get_mut(&id).ok_or(Error::UnknownObject)?;
            let a = o.position(target).ok_or(Error::NotAttached)?;
            let att = &mut o.attachments[a];
            let before = att.pending.runs();
            att.pending.remove(range.clone());
            budget::shrunk(usage, target.pid(), (before, att.pending.runs()));
            for m in att.maps.take_range(range) {
                self.kernel.delete(m.copy);
                budget::credit_mapping(usage, target.pid(), &m);
            }
            let (o, att) = (&*o, &o.attachments[a]);
            let obj_range = (o.base, o.base + o.reserve);
            release_tables(&mut self.kernel, proc, usage, obj_range, |slot| small_mapped_in(o, att, slot));
        }
        // Another process than the caller may be running on another core.
        if target != who {
            self.kernel.shoot_down(proc.vspace);
        }
        Ok(())
    }

    /// `target`'s attachment to `o` and the frames of it in `[addr, end)`,
    /// if it has any mapped or pending there; an error if the range cuts a
    /// 2 MiB frame.
    fn unmapping(
        o: &Object<K::Cap>,
        target: TaskId,
        addr: u64,
        end: u64,
    ) -> Result<Unmapping<'_, K::Cap>, Error> {
        let Some(att) = o.attachment(target) else { return Ok(None) };
        let (from, to) = (addr.max(o.base), end.min(o.base + o.size));
        if from >= to {
            return Ok(None);
        }
        let range = o.frames_in(from - o.base, to - o.base)?;
        if att.maps.range(range.clone()).next().is_none() && !att.pending.intersects(range.clone()) {
            return Ok(None);
        }
        Ok(Some((att, range)))
    }
}
