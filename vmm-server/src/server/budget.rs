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

/// What one pid has been charged for, in the fields of its budget: as
/// payer (memory, tables, slots), as the holder of mapping records, as an
/// owner (objects, window).
pub(crate) type Usage = Budget;

/// The charges the server makes, in the fields of a budget.
pub(super) trait Charge {
    /// A mapping's copy of a frame cap, for its payer.
    const COPY: Self;
    /// A mapping, for the process that holds it.
    const HELD: Self;
    /// A frame: its memory and its cap.
    fn frame(size: PageSize) -> Self;
    /// A paging structure the server made: its memory and its cap.
    fn table(level: TableLevel) -> Self;
    /// An object, for its owner: its record and its reservation.
    fn object(reserve: u64) -> Self;
    /// `n` records a process holds: mappings, or runs of pending frames.
    fn held(n: u64) -> Self;
}

impl Charge for Usage {
    const COPY: Usage = Usage { slots: 1, ..Usage::NONE };
    const HELD: Usage = Usage { mappings: 1, ..Usage::NONE };

    fn frame(size: PageSize) -> Usage {
        Usage { memory: size.bytes(), slots: 1, ..Usage::NONE }
    }

    fn table(level: TableLevel) -> Usage {
        Usage { tables: ObjectKind::Table(level).bytes(), slots: 1, ..Usage::NONE }
    }

    fn object(reserve: u64) -> Usage {
        Usage { objects: 1, window: reserve, ..Usage::NONE }
    }

    fn held(n: u64) -> Usage {
        Usage { mappings: n, ..Usage::NONE }
    }
}

/// Whether `pid` may be charged `cost` more, and the error if not. A pid
/// with no budget (not registered) may be charged nothing.
pub(super) fn check(
    usage: &PidTable<Usage>,
    budgets: &PidTable<Budget>,
    pid: Pid,
    cost: Usage,
) -> Result<(), Error> {
    let b = budgets.get(&pid).unwrap_or(&Budget::NONE);
    let after = match usage.get(&pid) {
        Some(now) => now.checked_add(&cost).ok_or(Error::QuotaExceeded)?,
        None => cost,
    };
    // Field by field, in the order the errors are reported (the grow path
    // checks every peer, so no table of limits is built).
    if after.memory > b.memory {
        Err(Error::QuotaExceeded)
    } else if after.tables > b.tables {
        Err(Error::TablesExceeded)
    } else if after.slots > b.slots {
        Err(Error::SlotsExceeded)
    } else if after.mappings > b.mappings {
        Err(Error::TooManyMappings)
    } else if after.objects > b.objects {
        Err(Error::ObjectsExceeded)
    } else if after.window > b.window {
        Err(Error::WindowExceeded)
    } else {
        Ok(())
    }
}

/// What the server has promised every pid but `except`: a registered
/// process its budget (or what it holds, if more), a pid no longer
/// registered what it still holds (the objects a dead owner left).
pub(super) fn promised(usage: &PidTable<Usage>, budgets: &PidTable<Budget>, except: Pid) -> Option<Budget> {
    let pids = budgets.keys().chain(usage.keys().filter(|p| !budgets.contains_key(p)));
    pids.filter(|&p| p != except)
        .try_fold(Budget::NONE, |sum, p| sum.checked_add(&promise(usage, budgets, p)))
}

/// What `pid` is promised: the larger of its budget and its holdings.
pub(super) fn promise(usage: &PidTable<Usage>, budgets: &PidTable<Budget>, pid: Pid) -> Budget {
    let b = budgets.get(&pid).copied().unwrap_or(Budget::NONE);
    b.max(&usage.get(&pid).copied().unwrap_or(Usage::NONE))
}

/// Charges `pid` `cost` if its budget allows, recording the charge in
/// `txn` so that a rollback gives it back. The records it needs are made
/// first: with no heap for them it fails with `OutOfMemory`, changing
/// nothing.
pub(super) fn charge<C>(
    usage: &mut PidTable<Usage>,
    budgets: &PidTable<Budget>,
    txn: &mut Txn<C>,
    pid: Pid,
    cost: Usage,
) -> Result<(), Error> {
    check(usage, budgets, pid, cost)?;
    record(usage, txn, pid, cost)
}

/// Charges `pid` `cost` already checked against its budget (see
/// [`charge`]).
pub(super) fn record<C>(
    usage: &mut PidTable<Usage>,
    txn: &mut Txn<C>,
    pid: Pid,
    cost: Usage,
) -> Result<(), Error> {
    if cost == Usage::NONE {
        return Ok(());
    }
    usage.reserve(1)?;
    room(&mut txn.charges, 1)?;
    add(usage, pid, &cost);
    txn.charges.push((pid, cost));
    Ok(())
}

/// Adds `cost` to `pid`'s sum, in room reserved before (a sum checked
/// against a budget cannot overflow).
fn add(sums: &mut PidTable<Usage>, pid: Pid, cost: &Usage) {
    match sums.get_mut(&pid) {
        Some(sum) => *sum = sum.checked_add(cost).unwrap_or(*sum),
        None => sums.insert_reserved(pid, *cost),
    }
}

/// Charges `pid` for holding `after` records instead of `before` (a
/// change of its pending runs), in the acquire phase; a drop is given
/// back by [`shrunk`] when the change is made.
pub(super) fn grown<C>(
    usage: &mut PidTable<Usage>,
    budgets: &PidTable<Budget>,
    txn: &mut Txn<C>,
    pid: Pid,
    (before, after): (u64, u64),
) -> Result<(), Error> {
    charge(usage, budgets, txn, pid, Usage::held(after.saturating_sub(before)))
}

/// Gives `pid` back what it no longer holds when its `before` records
/// become `after` (charged before by [`grown`] if they grew).
pub(super) fn shrunk(usage: &mut PidTable<Usage>, pid: Pid, (before, after): (u64, u64)) {
    credit(usage, pid, Usage::held(before.saturating_sub(after)));
}

/// Takes back a charge `charge` made in `txn` (the thing was not spent
/// after all).
pub(super) fn refund<C>(usage: &mut PidTable<Usage>, txn: &mut Txn<C>, pid: Pid, cost: Usage) {
    // The charge being taken back is the pid's last one.
    if let Some((_, sum)) = txn.charges.iter_mut().rev().find(|(p, _)| *p == pid) {
        *sum = sum.saturating_sub(&cost);
    }
    credit(usage, pid, cost);
}

/// Gives `cost` back to `pid` (a free, or a rollback).
pub(super) fn credit(usage: &mut PidTable<Usage>, pid: Pid, cost: Usage) {
    if let Some(u) = usage.get_mut(&pid) {
        *u = u.saturating_sub(&cost);
        if *u == Usage::NONE {
            usage.remove(&pid);
        }
    }
}

/// Gives back what a mapping cost its payer and its holder.
pub(super) fn credit_mapping<C>(usage: &mut PidTable<Usage>, holder: Pid, m: &Mapping<C>) {
    credit(usage, m.payer, Usage::COPY);
    credit(usage, holder, Usage::HELD);
}
