//! Sets of frame indices kept as runs: a lazy attachment's pending frames
//! cost one record per run, so attaching to a large object costs what is
//! mapped, not what the object could hold.

use alloc::collections::BTreeMap;
use core::ops::Range;

/// Disjoint, non-adjacent, non-empty runs `start -> end` (half-open).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs(BTreeMap<usize, usize>);

impl Runs {
    /// No frame.
    pub(crate) fn new() -> Self {
        Runs(BTreeMap::new())
    }

    /// The frames of `r` (none if it is empty).
    pub(crate) fn of(r: Range<usize>) -> Self {
        let mut runs = Runs::new();
        runs.insert(r);
        runs
    }

    /// How many runs: the records this set costs.
    pub(crate) fn runs(&self) -> u64 {
        self.0.len() as u64
    }

    /// The runs, in order (for the invariant checker).
    #[cfg(any(test, feature = "test-kit"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.0.iter().map(|(&s, &e)| s..e)
    }

    pub(crate) fn contains(&self, i: usize) -> bool {
        self.0.range(..=i).next_back().is_some_and(|(_, &end)| i < end)
    }

    /// Whether any frame of `r` is in the set.
    pub(crate) fn intersects(&self, r: Range<usize>) -> bool {
        r.start < r.end && self.0.range(..r.end).next_back().is_some_and(|(_, &end)| end > r.start)
    }

    /// Adds `r`, merging the runs it touches.
    pub(crate) fn insert(&mut self, r: Range<usize>) {
        if r.start >= r.end {
            return;
        }
        let (mut start, mut end) = (r.start, r.end);
        // Every run that overlaps or touches `r` starts at or before its end.
        while let Some((&s, &e)) = self.0.range(..=end).next_back() {
            if e < start {
                break;
            }
            self.0.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    /// Takes `r` out, keeping what the runs it cuts have on either side.
    pub(crate) fn remove(&mut self, r: Range<usize>) {
        if r.start >= r.end {
            return;
        }
        while let Some((&s, &e)) = self.0.range(..r.end).next_back() {
            if e <= r.start {
                break;
            }
            self.0.remove(&s);
            if e > r.end {
                self.0.insert(r.end, e);
            }
            if s < r.start {
                // Ends at r.start: the next look finds it and stops.
                self.0.insert(s, r.start);
            }
        }
    }

    /// How many runs there would be after [`Runs::remove`] of `r`, without
    /// changing anything (its charge is made first).
    pub(crate) fn runs_after_remove(&self, r: Range<usize>) -> u64 {
        let mut n = self.runs();
        if r.start >= r.end {
            return n;
        }
        for (&s, &e) in self.0.range(..r.end).rev() {
            if e <= r.start {
                break;
            }
            n = n - 1 + u64::from(s < r.start) + u64::from(e > r.end);
        }
        n
    }

    /// How many runs there would be after [`Runs::insert`] of `r`.
    pub(crate) fn runs_after_insert(&self, r: Range<usize>) -> u64 {
        if r.start >= r.end {
            return self.runs();
        }
        let touched = self.0.range(..=r.end).rev().take_while(|(_, &e)| e >= r.start).count() as u64;
        self.runs() + 1 - touched
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
