//! Sets of frame indices kept as runs: a lazy attachment's pending frames
//! cost one record per run, so attaching to a large object costs what is
//! mapped, not what the object could hold. Kept as a sorted vector, so the
//! room a change needs (one more run at most) is asked for before the change.

use alloc::vec::Vec;
use core::ops::Range;

use super::vec_map::room;
use libshm::protocol::Error;

/// Disjoint, non-adjacent, non-empty runs `(start, end)` (half-open), in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs(Vec<(usize, usize)>);

impl Runs {
    /// No frame.
    pub(crate) const fn new() -> Self {
        Runs(Vec::new())
    }

    /// The frames of `r` (none if it is empty), or `OutOfMemory`.
    pub(crate) fn of(r: Range<usize>) -> Result<Self, Error> {
        let mut runs = Runs::new();
        runs.reserve()?;
        runs.insert(r);
        Ok(runs)
    }

    /// Room for the one more run an [`Runs::insert`] or [`Runs::remove`]
    /// may make, so that neither allocates.
    pub(crate) fn reserve(&mut self) -> Result<(), Error> {
        room(&mut self.0, 1)
    }

    /// How many runs: the records this set costs.
    pub(crate) fn runs(&self) -> u64 {
        self.0.len() as u64
    }

    /// The runs, in order (for the invariant checker).
    #[cfg(any(test, feature = "test-kit"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.0.iter().map(|&(s, e)| s..e)
    }

    pub(crate) fn contains(&self, i: usize) -> bool {
        let p = self.0.partition_point(|&(s, _)| s <= i);
        p > 0 && i < self.0[p - 1].1
    }

    /// Whether any frame of `r` is in the set.
    pub(crate) fn intersects(&self, r: Range<usize>) -> bool {
        let p = self.0.partition_point(|&(s, _)| s < r.end);
        r.start < r.end && p > 0 && self.0[p - 1].1 > r.start
    }

    /// The runs `[a, b)` that overlap or touch `r`.
    fn touching(&self, r: &Range<usize>) -> (usize, usize) {
        (self.0.partition_point(|&(_, e)| e < r.start), self.0.partition_point(|&(s, _)| s <= r.end))
    }

    /// The runs `[a, b)` that overlap `r`, and the pieces of them left
    /// on either side of it.
    fn cut(&self, r: &Range<usize>) -> (usize, usize, [Option<(usize, usize)>; 2]) {
        let a = self.0.partition_point(|&(_, e)| e <= r.start);
        let b = self.0.partition_point(|&(s, _)| s < r.end).max(a);
        if a == b {
            return (a, b, [None, None]);
        }
        let left = (self.0[a].0 < r.start).then_some((self.0[a].0, r.start));
        let right = (self.0[b - 1].1 > r.end).then_some((r.end, self.0[b - 1].1));
        (a, b, [left, right])
    }

    /// Adds `r`, merging the runs it touches (in room made by
    /// [`Runs::reserve`] if it adds a run).
    pub(crate) fn insert(&mut self, r: Range<usize>) {
        if r.start >= r.end {
            return;
        }
        let (a, b) = self.touching(&r);
        if a == b {
            debug_assert!(self.0.len() < self.0.capacity(), "no room reserved");
            self.0.insert(a, (r.start, r.end));
        } else {
            self.0[a] = (self.0[a].0.min(r.start), self.0[b - 1].1.max(r.end));
            self.0.drain(a + 1..b);
        }
    }

    /// Takes `r` out, keeping what the runs it cuts have on either side
    /// (in room made by [`Runs::reserve`] if it splits a run).
    pub(crate) fn remove(&mut self, r: Range<usize>) {
        if r.start >= r.end {
            return;
        }
        let (a, b, pieces) = self.cut(&r);
        let mut at = a;
        for piece in pieces.into_iter().flatten() {
            if at < b {
                self.0[at] = piece;
            } else {
                debug_assert!(self.0.len() < self.0.capacity(), "no room reserved");
                self.0.insert(at, piece);
            }
            at += 1;
        }
        if at < b {
            self.0.drain(at..b);
        }
    }

    /// How many runs there would be after [`Runs::remove`] of `r`, without
    /// changing anything (its charge is made first).
    pub(crate) fn runs_after_remove(&self, r: Range<usize>) -> u64 {
        if r.start >= r.end {
            return self.runs();
        }
        let (a, b, pieces) = self.cut(&r);
        self.runs() - (b - a) as u64 + pieces.iter().flatten().count() as u64
    }

    /// How many runs there would be after [`Runs::insert`] of `r`.
    pub(crate) fn runs_after_insert(&self, r: Range<usize>) -> u64 {
        if r.start >= r.end {
            return self.runs();
        }
        let (a, b) = self.touching(&r);
        self.runs() + 1 - (b - a) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::Runs;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn model(runs: &Runs) -> Vec<usize> {
        runs.iter().flatten().collect()
    }

    fn canonical(runs: &Runs) -> bool {
        let v: Vec<_> = runs.iter().collect();
        v.iter().all(|r| r.start < r.end) && v.windows(2).all(|w| w[0].end < w[1].start)
    }

    proptest! {
        /// Runs behave as the set of frames they stand for, stay canonical,
        /// and predict their own count.
        #[test]
        fn runs_are_a_set(ops in proptest::collection::vec((any::<bool>(), 0usize..40, 0usize..12), 0..40)) {
            let mut runs = Runs::new();
            let mut set = alloc::collections::BTreeSet::new();
            for (add, start, len) in ops {
                let r = start..start + len;
                runs.reserve().unwrap();
                if add {
                    let predicted = runs.runs_after_insert(r.clone());
                    runs.insert(r.clone());
                    prop_assert_eq!(runs.runs(), predicted);
                    set.extend(r);
                } else {
                    let predicted = runs.runs_after_remove(r.clone());
                    prop_assert_eq!(runs.intersects(r.clone()), r.clone().any(|i| set.contains(&i)));
                    runs.remove(r.clone());
                    prop_assert_eq!(runs.runs(), predicted);
                    set.retain(|i| !r.contains(i));
                }
                prop_assert!(canonical(&runs));
                prop_assert_eq!(model(&runs), set.iter().copied().collect::<Vec<_>>());
                prop_assert!((0..56).all(|i| runs.contains(i) == set.contains(&i)));
            }
        }
    }
}
