//! A table by frame index kept as a sorted vector: an attachment's
//! mappings. It takes memory for what is mapped only, and the common
//! change, a grow mapping pages past the last, is a vector append (a
//! B-tree insert per page per peer showed in the benchmark's 64-peer grow).

use alloc::vec::Vec;
use core::ops::Range;

/// Entries `(index, value)` in increasing index order, no index twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sparse<V>(Vec<(usize, V)>);

impl<V> Default for Sparse<V> {
    fn default() -> Self {
        Sparse(Vec::new())
    }
}

impl<V> Sparse<V> {
    fn find(&self, i: usize) -> Result<usize, usize> {
        self.0.binary_search_by_key(&i, |(k, _)| *k)
    }

    /// Entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn contains_key(&self, i: usize) -> bool {
        self.find(i).is_ok()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&V> {
        self.find(i).ok().map(|at| &self.0[at].1)
    }

    /// Sets `i` to `v`.
    pub(crate) fn insert(&mut self, i: usize, v: V) {
        match self.find(i) {
            Ok(at) => self.0[at].1 = v,
            Err(at) => self.0.insert(at, (i, v)),
        }
    }

    pub(crate) fn remove(&mut self, i: usize) -> Option<V> {
        self.find(i).ok().map(|at| self.0.remove(at).1)
    }

    /// Adds entries, in increasing index order; an append when they all
    /// come after the last (a grow), else one insert each.
    pub(crate) fn extend(&mut self, entries: impl IntoIterator<Item = (usize, V)>) {
        for (i, v) in entries {
            match self.0.last() {
                Some((last, _)) if *last >= i => self.insert(i, v),
                _ => self.0.push((i, v)),
            }
        }
    }

    /// The entries with an index in `r`.
    pub(crate) fn range(&self, r: Range<usize>) -> impl Iterator<Item = (usize, &V)> {
        let from = self.find(r.start).unwrap_or_else(|at| at);
        self.0[from..].iter().take_while(move |(k, _)| *k < r.end).map(|(k, v)| (*k, v))
    }

    /// Takes out the entries with an index in `r`.
    pub(crate) fn take_range(&mut self, r: Range<usize>) -> impl Iterator<Item = V> + '_ {
        let from = self.find(r.start).unwrap_or_else(|at| at);
        let to = self.find(r.end).unwrap_or_else(|at| at).max(from);
        self.0.drain(from..to).map(|(_, v)| v)
    }

    /// The indices.
    pub(crate) fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().map(|(k, _)| *k)
    }

    /// Every entry, in index order (for the invariant checker).
    #[cfg(any(test, feature = "test-kit"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &V)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// The values, taken out.
    pub(crate) fn into_values(self) -> impl Iterator<Item = V> {
        self.0.into_iter().map(|(_, v)| v)
    }
}

impl<V> FromIterator<(usize, V)> for Sparse<V> {
    fn from_iter<T: IntoIterator<Item = (usize, V)>>(iter: T) -> Self {
        let mut s = Sparse::default();
        s.extend(iter);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::Sparse;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        /// It behaves as a map from index to value.
        #[test]
        fn sparse_is_a_map(ops in proptest::collection::vec((0u8..4, 0usize..40, 0usize..8), 0..60)) {
            let mut s = Sparse::default();
            let mut m = BTreeMap::new();
            for (op, i, n) in ops {
                match op {
                    0 => { s.insert(i, n); m.insert(i, n); }
                    1 => { prop_assert_eq!(s.remove(i), m.remove(&i)); }
                    2 => {
                        s.extend((i..i + n).map(|k| (k, k)));
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
                prop_assert!((0..50).all(|k| s.get(k) == m.get(&k) && s.contains_key(k) == m.contains_key(&k)));
                let r: Vec<_> = s.range(5..20).map(|(k, _)| k).collect();
                prop_assert_eq!(r, m.range(5..20).map(|(k, _)| *k).collect::<Vec<_>>());
            }
        }
    }
}
