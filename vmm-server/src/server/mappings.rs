//! The patent's calls: `mmap_peer` maps part of an object into another process, `munmap_peer` takes a range away.

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
        id: ObjectId,
        offset: u64,
    ) -> Result<u64, Error> {
        let o = self.object(id)?;
        let target = self.resolve(target)?;
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
        let end = check_range(offset, len)?;
        if end > o.size {
            return Err(Error::OutsideObject);
        }
        if addr != 0 && Some(addr) != o.base.checked_add(offset) {
            return Err(Error::WrongAddress);
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
        // attachment also gets the header page.
        let todo: Vec<(usize, Frame<K::Cap>)> = o
            .frames
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| {
                let wanted = range.contains(i) || (att.is_none() && *i == 0);
                wanted && att.is_none_or(|a| a.maps[*i].is_none())
            })
            .collect();
        self.check_mappings(target.pid(), todo.len())?;

        let base = o.base;
        let attaching = att.is_none();
        let refs: Vec<_> = todo.iter().map(|(i, f)| (*i, f)).collect();
        let mut txn = Txn::new();
        let maps = match self.map_frames(&mut txn, target.pid(), base, &refs, prot) {
            Ok(m) => m,
            Err(e) => return self.rollback(txn, e),
        };
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        if attaching {
            o.attachments.push(Attachment {
                task: target,
                rights: prot,
                maps: alloc::vec![None; o.frames.len()],
                pending: BTreeSet::new(),
            });
        }
        let i = o.position(target).ok_or(Error::NotAttached)?;
        for ((f, _), m) in todo.iter().zip(maps) {
            o.attachments[i].maps[*f] = Some(m);
        }
        if attaching {
            self.write_header(id);
        }
        Ok(base + offset)
    }

    pub(super) fn munmap_peer(
        &mut self,
        who: TaskId,
        target: Target,
        addr: u64,
        len: u64,
    ) -> Result<(), Error> {
        let target = self.resolve(target)?;
        let end = check_range(addr, len)?;
        if !in_window(addr, len) {
            return Err(Error::OutsideWindow);
        }
        let o = self.state.objects.values().find(|o| o.contains_addr(addr)).ok_or(Error::OutsideObject)?;
        if target != who {
            o.may_manage(who)?;
        }
        if o.attachment(target).is_none() {
            return Err(Error::NotAttached);
        }
        if end > o.base + o.size {
            return Err(Error::OutsideObject);
        }
        let range = o.frames_in(addr - o.base, end - o.base)?;

        let id = o.id;
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        let i = o.position(target).ok_or(Error::NotAttached)?;
        o.attachments[i].pending.retain(|f| !range.contains(f));
        for m in o.attachments[i].maps[range].iter_mut() {
            if let Some(m) = m.take() {
                self.kernel.delete(m.copy);
            }
        }
        let still = small_slots(o, Some(&o.attachments[i]));
        let obj_range = (o.base, o.base + o.reserve);
        release_tables(&mut self.kernel, &mut self.state.procs, obj_range, &still, target.pid());
        Ok(())
    }
}
