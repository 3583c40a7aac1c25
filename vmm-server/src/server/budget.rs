//! What each process has been charged for, against its budget.
//!
//! Every resource the server spends for a request is charged, before it is
//! spent, to the process that caused it (its payer): the memory of frames
//! and paging structures, and the server's cap slots (a frame's cap, a
//! mapping's copy, a paging structure's cap). The process whose VSpace holds
//! a mapping is charged for holding it as well, and an object's owner for
//! the object and the part of the shared window it reserves. A charge past the budget is
//! refused with an `ENOMEM` error and nothing is spent; the charges of the
//! acquire phase are in the request's [`Txn`] and are given back with
//! everything else on a rollback, and every free gives back what was
//! charged for it. So no process can use up what the others were promised.

use super::*;

/// What one pid has been charged for: as payer (memory, slots) and as the
/// holder of mappings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Bytes of frames.
    pub memory: u64,
    /// Bytes of paging structures the server made in VSpaces.
    pub tables: u64,
    /// Cap slots of the server's CNode.
    pub slots: u64,
    /// Mappings its VSpace holds.
    pub mappings: u64,
    /// Objects it owns.
    pub objects: u64,
    /// Bytes of the shared window its objects reserve.
    pub window: u64,
}

impl Usage {
    /// A frame: its memory and its cap.
    pub(super) const fn frame(size: PageSize) -> Usage {
        Usage { memory: size.bytes(), slots: 1, ..Usage::NONE }
    }

    /// A paging structure the server made: its memory and its cap.
    pub(super) const fn table(level: TableLevel) -> Usage {
        Usage { tables: ObjectKind::Table(level).bytes(), slots: 1, ..Usage::NONE }
    }

    /// An object, for its owner: its record and its reservation.
    pub(super) const fn object(reserve: u64) -> Usage {
        Usage { objects: 1, window: reserve, ..Usage::NONE }
    }

    /// Nothing.
    pub(super) const NONE: Usage =
        Usage { memory: 0, tables: 0, slots: 0, mappings: 0, objects: 0, window: 0 };

    /// A mapping's copy of a frame cap, for its payer.
    pub(super) const COPY: Usage = Usage { slots: 1, ..Usage::NONE };

    /// A mapping, for the process that holds it.
    pub(super) const HELD: Usage = Usage::held(1);

    /// `n` records a process holds: mappings, or runs of pending frames.
    pub(super) const fn held(n: u64) -> Usage {
        Usage { mappings: n, ..Usage::NONE }
    }

    fn plus(self, o: Usage) -> Option<Usage> {
        Some(Usage {
            memory: self.memory.checked_add(o.memory)?,
            tables: self.tables.checked_add(o.tables)?,
            slots: self.slots.checked_add(o.slots)?,
            mappings: self.mappings.checked_add(o.mappings)?,
            objects: self.objects.checked_add(o.objects)?,
            window: self.window.checked_add(o.window)?,
        })
    }

    fn minus(self, o: Usage) -> Usage {
        Usage {
            memory: self.memory.saturating_sub(o.memory),
            tables: self.tables.saturating_sub(o.tables),
            slots: self.slots.saturating_sub(o.slots),
            mappings: self.mappings.saturating_sub(o.mappings),
            objects: self.objects.saturating_sub(o.objects),
            window: self.window.saturating_sub(o.window),
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        *self == Usage::default()
    }
}

impl Usage {
    /// As a budget: what a process that holds this needs at least.
    pub(crate) const fn as_budget(&self) -> Budget {
        Budget {
            memory: self.memory,
            tables: self.tables,
            slots: self.slots,
            mappings: self.mappings,
            objects: self.objects,
            window: self.window,
        }
    }
}

/// Whether `pid` may be charged `cost` more, and the error if not. A pid
/// with no budget (not registered) may be charged nothing.
pub(super) fn check(
    usage: &BTreeMap<Pid, Usage>,
    budgets: &BTreeMap<Pid, Budget>,
    pid: Pid,
    cost: Usage,
) -> Result<(), Error> {
    let now = usage.get(&pid).copied().unwrap_or_default();
    let after = now.plus(cost).ok_or(Error::QuotaExceeded)?;
    let b = budgets.get(&pid).copied().unwrap_or(Budget::NONE);
    if after.memory > b.memory {
        return Err(Error::QuotaExceeded);
    }
    if after.tables > b.tables {
        return Err(Error::TablesExceeded);
    }
    if after.slots > b.slots {
        return Err(Error::SlotsExceeded);
    }
    if after.mappings > b.mappings {
        return Err(Error::TooManyMappings);
    }
    if after.objects > b.objects {
        return Err(Error::ObjectsExceeded);
    }
    if after.window > b.window {
        return Err(Error::WindowExceeded);
    }
    Ok(())
}

/// What the server has promised every pid but `except`: a registered
/// process its budget (or what it holds, if more), a pid no longer
/// registered what it still holds (the objects a dead owner left).
pub(super) fn promised(
    usage: &BTreeMap<Pid, Usage>,
    budgets: &BTreeMap<Pid, Budget>,
    except: Pid,
) -> Option<Budget> {
    let pids = budgets.keys().chain(usage.keys().filter(|p| !budgets.contains_key(p)));
    pids.filter(|&&p| p != except)
        .try_fold(Budget::NONE, |sum, &p| sum.checked_add(&promise(usage, budgets, p)))
}

/// What `pid` is promised: the larger of its budget and its holdings.
pub(super) fn promise(usage: &BTreeMap<Pid, Usage>, budgets: &BTreeMap<Pid, Budget>, pid: Pid) -> Budget {
    let b = budgets.get(&pid).copied().unwrap_or(Budget::NONE);
    at_least(b, usage.get(&pid).copied().unwrap_or_default())
}

/// `b`, raised to what `held` holds where that is more.
pub(super) fn at_least(b: Budget, held: Usage) -> Budget {
    b.max(&held.as_budget())
}

/// Charges `pid` `cost` if its budget allows, recording the charge in
/// `txn` so that a rollback gives it back.
pub(super) fn charge<C>(
    usage: &mut BTreeMap<Pid, Usage>,
    budgets: &BTreeMap<Pid, Budget>,
    txn: &mut Txn<C>,
    pid: Pid,
    cost: Usage,
) -> Result<(), Error> {
    check(usage, budgets, pid, cost)?;
    if cost.is_zero() {
        return Ok(());
    }
    let entry = usage.entry(pid).or_default();
    *entry = entry.plus(cost).unwrap_or(*entry);
    let sum = txn.charges.entry(pid).or_default();
    *sum = sum.plus(cost).unwrap_or(*sum);
    Ok(())
}

/// Charges `pid` `cost` in the commit phase, where nothing can fail any
/// more: the charge was checked with [`check`] in the validate phase.
pub(super) fn commit_charge(usage: &mut BTreeMap<Pid, Usage>, pid: Pid, cost: Usage) {
    if !cost.is_zero() {
        let entry = usage.entry(pid).or_default();
        *entry = entry.plus(cost).unwrap_or(*entry);
    }
}

/// Charges or credits `pid` for holding `after` records instead of
/// `before` (a change of its pending runs, in the commit phase, checked
/// before).
pub(super) fn recount(usage: &mut BTreeMap<Pid, Usage>, pid: Pid, before: u64, after: u64) {
    if after > before {
        commit_charge(usage, pid, Usage::held(after - before));
    } else {
        credit(usage, pid, Usage::held(before - after));
    }
}

/// Takes back a charge `charge` made in `txn` (the thing was not spent
/// after all).
pub(super) fn refund<C>(usage: &mut BTreeMap<Pid, Usage>, txn: &mut Txn<C>, pid: Pid, cost: Usage) {
    if let Some(sum) = txn.charges.get_mut(&pid) {
        *sum = sum.minus(cost);
    }
    credit(usage, pid, cost);
}

/// Gives `cost` back to `pid` (a free, or a rollback).
pub(super) fn credit(usage: &mut BTreeMap<Pid, Usage>, pid: Pid, cost: Usage) {
    if let Some(u) = usage.get_mut(&pid) {
        *u = u.minus(cost);
        if u.is_zero() {
            usage.remove(&pid);
        }
    }
}

/// Gives back what a mapping cost its payer and its holder.
pub(super) fn credit_mapping<C>(usage: &mut BTreeMap<Pid, Usage>, holder: Pid, m: &Mapping<C>) {
    credit(usage, m.payer, Usage::COPY);
    credit(usage, holder, Usage::HELD);
}
