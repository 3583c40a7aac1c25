//! A map kept as a sorted vector, whose every growth is fallible: the
//! server's tables (processes, budgets, charges, objects, a process's paging
//! structures, an attachment's mappings). It takes memory for what it holds
//! only; a grow mapping pages past the last is an append (a B-tree insert
//! per page per peer showed in the benchmark's 64-peer grow); and, unlike
//! `BTreeMap`, room for an entry can be asked for before anything changes,
//! so a request that cannot get heap memory fails with `OutOfMemory` and
//! leaves everything as it was instead of aborting the server.

use alloc::vec::Vec;
use core::ops::Range;

use libshm::protocol::Error;

/// Entries `(key, value)` in increasing key order, no key twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

/// Room for `n` more in `v`, or `OutOfMemory` (nothing changed).
pub(crate) fn room<T>(v: &mut Vec<T>, n: usize) -> Result<(), Error> {
    v.try_reserve(n).map_err(|_| Error::OutOfMemory)
}

impl<K: Ord + Copy, V> VecMap<K, V> {
    /// An empty map (allocates nothing).
    pub(crate) const fn new() -> Self {
        VecMap(Vec::new())
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.cmp(k))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|at| &self.0[at].1)
    }

    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|at| &mut self.0[at].1)
    }

    /// The entry at position `i` in key order (to walk the map while
    /// changing other state, with no list of keys to allocate).
    pub(crate) fn at(&self, i: usize) -> Option<(K, &V)> {
        self.0.get(i).map(|(k, v)| (*k, v))
    }

    /// Room for `n` more entries, so that as many inserts cannot fail.
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), Error> {
        room(&mut self.0, n)
    }

    /// Sets `k` to `v`, returning the old value; a new key that finds no
    /// room fails with `OutOfMemory` and changes nothing.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Result<Option<V>, Error> {
        match self.find(&k) {
            Ok(at) => Ok(Some(core::mem::replace(&mut self.0[at].1, v))),
            Err(at) => {
                self.reserve(1)?;
                self.0.insert(at, (k, v));
                Ok(None)
            }
        }
    }

    /// [`VecMap::insert`] where room was reserved before (a commit phase,
    /// which must not fail): it cannot allocate.
    pub(crate) fn insert_reserved(&mut self, k: K, v: V) {
        debug_assert!(self.0.len() < self.0.capacity() || self.contains_key(&k), "no room reserved");
        let _ = self.insert(k, v);
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        self.find(k).ok().map(|at| self.0.remove(at).1)
    }

    /// Adds entries, in increasing key order, in room reserved before: an
    /// append when they all come after the last (a grow), else an insert
    /// each.
    pub(crate) fn extend_reserved(&mut self, entries: impl IntoIterator<Item = (K, V)>) {
        for (k, v) in entries {
            match self.0.last() {
                Some((last, _)) if *last >= k => self.insert_reserved(k, v),
                _ => {
                    debug_assert!(self.0.len() < self.0.capacity(), "no room reserved");
                    self.0.push((k, v));
                }
            }
        }
    }

    /// The entries with a key in `r`.
    pub(crate) fn range(&self, r: Range<K>) -> impl DoubleEndedIterator<Item = (K, &V)> {
        let from = self.find(&r.start).unwrap_or_else(|at| at);
        let to = self.find(&r.end).unwrap_or_else(|at| at).max(from);
        self.0[from..to].iter().map(|(k, v)| (*k, v))
    }

    /// Takes out the entries with a key in `r`.
    pub(crate) fn take_range(&mut self, r: Range<K>) -> impl Iterator<Item = V> + '_ {
        let from = self.find(&r.start).unwrap_or_else(|at| at);
        let to = self.find(&r.end).unwrap_or_else(|at| at).max(from);
        self.0.drain(from..to).map(|(_, v)| v)
    }

    /// Keeps the entries `keep` says yes to (it may change them).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    #[cfg(any(test, feature = "test-kit"))]
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (K, &V)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// The entries, taken out, in key order.
    pub(crate) fn into_entries(self) -> impl DoubleEndedIterator<Item = (K, V)> {
        self.0.into_iter()
    }

    /// The values, taken out.
    pub(crate) fn into_values(self) -> impl DoubleEndedIterator<Item = V> {
        self.0.into_iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        /// It behaves as a map.
        #[test]
        fn vec_map_is_a_map(ops in proptest::collection::vec((0u8..4, 0usize..40, 0usize..8), 0..60)) {
            let mut s = VecMap::default();
            let mut m = BTreeMap::new();
            for (op, i, n) in ops {
                match op {
                    0 => { prop_assert_eq!(s.insert(i, n).unwrap(), m.insert(i, n)); }
                    1 => { prop_assert_eq!(s.remove(&i), m.remove(&i)); }
                    2 => {
                        s.reserve(n).unwrap();
                        s.extend_reserved((i..i + n).map(|k| (k, k)));
                        m.extend((i..i + n).map(|k| (k, k)));
                    }
                    _ => {
                        let got: Vec<_> = s.take_range(i..i + n).collect();
                        let want: Vec<_> = m.range(i..i + n).map(|(_, v)| *v).collect();
                        m.retain(|k, _| !(i..i + n).contains(k));
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(s.iter().map(|(k, v)| (k, *v)).collect::<Vec<_>>(), m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
                prop_assert_eq!(s.len(), m.len());
                prop_assert!((0..50).all(|k| s.get(&k) == m.get(&k) && s.contains_key(&k) == m.contains_key(&k)));
                let r: Vec<_> = s.range(5..20).map(|(k, _)| k).collect();
                prop_assert_eq!(r, m.range(5..20).map(|(k, _)| *k).collect::<Vec<_>>());
            }
        }
    }
}
