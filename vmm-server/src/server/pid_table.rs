//! A table keyed by pid whose every growth is fallible: the processes, what
//! each pid has been charged and its budget, looked up for every peer of
//! every grow. A
//! hash table, since pids only grow (a dense array would grow with every
//! pid ever handed out) and a sorted vector costs a binary search per
//! lookup (the profile of a 64-peer grow showed the budget checks at a
//! fifth of the server's work).

use core::hash::BuildHasherDefault;

use hashbrown::HashMap;
use libshm::protocol::{Error, Pid};

use crate::untyped::SlotHasher;

/// Values by pid, in no particular order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PidTable<V>(HashMap<Pid, V, BuildHasherDefault<SlotHasher>>);

impl<V> PidTable<V> {
    /// An empty table (allocates nothing).
    pub(crate) fn new() -> Self {
        PidTable(HashMap::with_hasher(BuildHasherDefault::default()))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.0.values()
    }

    pub(crate) fn contains_key(&self, pid: &Pid) -> bool {
        self.0.contains_key(pid)
    }

    pub(crate) fn get(&self, pid: &Pid) -> Option<&V> {
        self.0.get(pid)
    }

    pub(crate) fn get_mut(&mut self, pid: &Pid) -> Option<&mut V> {
        self.0.get_mut(pid)
    }

    /// Room for `n` more entries, or `OutOfMemory` (nothing changed).
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), Error> {
        self.0.try_reserve(n).map_err(|_| Error::OutOfMemory)
    }

    /// Sets `pid`'s value, in room [`PidTable::reserve`] made (so it does
    /// not allocate).
    pub(crate) fn insert_reserved(&mut self, pid: Pid, v: V) {
        debug_assert!(self.0.len() < self.0.capacity() || self.0.contains_key(&pid));
        self.0.insert(pid, v);
    }

    pub(crate) fn remove(&mut self, pid: &Pid) -> Option<V> {
        self.0.remove(pid)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = Pid> + '_ {
        self.0.keys().copied()
    }

    /// Every entry (the invariant checker's).
    #[cfg(any(test, feature = "test-kit"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Pid, &V)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }
}
