//! The pool against a model of seL4 5.0's untyped rules: a retype starts at
//! the free index, which resets to 0 only when the untyped has no children;
//! a revoke deletes every descendant. The model also checks that no two live
//! objects overlap and that a retype never lands on an occupied slot.

use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::tests::heap;

const SMALL: ObjectKind = ObjectKind::Frame(PageSize::Small);
const LARGE: ObjectKind = ObjectKind::Frame(PageSize::Large);
const TABLE: ObjectKind = ObjectKind::Table(libshm::layout::TableLevel::L3);
const MIB: u64 = 1 << 20;

#[derive(Debug)]
struct Ut {
    base: u64,
    bits: u32,
    free_index: u64,
}

#[derive(Debug)]
struct CapRec {
    parent: Option<Slot>,
    /// Physical range, for objects (not untypeds).
    object: Option<(u64, u64)>,
}

/// Models the kernel's side of untyped memory.
#[derive(Debug, Default)]
struct Model {
    caps: BTreeMap<Slot, CapRec>,
    uts: BTreeMap<Slot, Ut>,
    kids: BTreeMap<Slot, BTreeSet<Slot>>,
    /// Live objects' physical ranges, by start.
    live: BTreeMap<u64, u64>,
}

const PARENT0: Slot = 1 << 40;

impl Model {
    /// `n` parents of `2^bits` bytes in slots `PARENT0..`.
    fn new(n: u64, bits: u32) -> (Self, Range<Slot>) {
        let mut m = Model::default();
        for i in 0..n {
            m.caps.insert(PARENT0 + i, CapRec { parent: None, object: None });
            m.uts.insert(PARENT0 + i, Ut { base: i << bits, bits, free_index: 0 });
        }
        (m, PARENT0..PARENT0 + n)
    }

    fn children(&self, slot: Slot) -> Vec<Slot> {
        self.kids.get(&slot).map(|k| k.iter().copied().collect()).unwrap_or_default()
    }

    fn insert(&mut self, slot: Slot, rec: CapRec) {
        if let Some(p) = rec.parent {
            self.kids.entry(p).or_default().insert(slot);
        }
        if let Some((a, b)) = rec.object {
            let before = self.live.range(..b).next_back();
            assert!(before.is_none_or(|(_, &end)| end <= a), "{a:x}..{b:x} overlaps a live object");
            self.live.insert(a, b);
        }
        self.caps.insert(slot, rec);
    }

    fn remove(&mut self, slot: Slot) {
        if let Some(rec) = self.caps.remove(&slot) {
            if let Some(p) = rec.parent {
                self.kids.entry(p).or_default().remove(&slot);
            }
            if let Some((a, _)) = rec.object {
                self.live.remove(&a);
            }
        }
        self.uts.remove(&slot);
        self.kids.remove(&slot);
    }

    fn live_bytes(&self) -> u64 {
        self.live.iter().map(|(a, b)| b - a).sum()
    }
}

impl Retype for Model {
    fn retype(&mut self, untyped: Slot, make: Make, dest: Slot) -> Result<(), KernelError> {
        // The model is the kernel: its heap is not the pool's.
        let _kernel = heap::KernelWork::enter();
        assert!(!self.caps.contains_key(&dest), "retype into occupied slot {dest}");
        let has_children = !self.children(untyped).is_empty();
        let ut = self.uts.get_mut(&untyped).expect("retype from a non-untyped");
        if !has_children {
            ut.free_index = 0;
        }
        let bits = match make {
            Make::Untyped { size_bits } => size_bits,
            Make::Object(k) => k.bytes().trailing_zeros(),
        };
        let at = ut.free_index.next_multiple_of(1 << bits);
        if bits > ut.bits || at + (1 << bits) > 1 << ut.bits {
            return Err(KernelError::OutOfMemory);
        }
        ut.free_index = at + (1 << bits);
        let base = ut.base + at;
        let object = match make {
            Make::Untyped { size_bits } => {
                self.uts.insert(dest, Ut { base, bits: size_bits, free_index: 0 });
                None
            }
            Make::Object(_) => Some((base, base + (1 << bits))),
        };
        self.insert(dest, CapRec { parent: Some(untyped), object });
        Ok(())
    }

    fn revoke(&mut self, untyped: Slot) {
        let _kernel = heap::KernelWork::enter();
        for c in self.children(untyped) {
            self.revoke(c);
            self.remove(c);
        }
    }
}

fn pool(parents: u64, bits: u32, slots: u64) -> (Pool, Model) {
    let (m, range) = Model::new(parents, bits);
    (Pool::new(Slots::new(16..16 + slots).unwrap(), range, bits), m)
}

/// Allocates `kind` until the pool says no; returns the slots.
fn fill(p: &mut Pool, m: &mut Model, kind: ObjectKind) -> Vec<Slot> {
    let mut got = Vec::new();
    loop {
        match p.alloc(m, kind) {
            Ok(s) => got.push(s),
            Err(e) => {
                assert_eq!(e, KernelError::OutOfMemory);
                return got;
            }
        }
    }
}

#[test]
fn slots_are_reused_and_run_out() {
    let mut s = Slots::new(10..12).unwrap();
    let a = s.take().unwrap();
    let b = s.take().unwrap();
    assert_eq!(s.take(), Err(KernelError::OutOfMemory));
    s.give(a);
    s.give(a);
    assert_eq!(s.available(), 1);
    assert_eq!(s.take(), Ok(a));
    s.give(9);
    s.give(12);
    assert_eq!(s.available(), 0);
    s.give(b);
    assert_eq!(s.take(), Ok(b));
}

#[test]
fn all_memory_goes_to_small_then_to_large_and_back() {
    let (mut p, mut m) = pool(2, 22, 10_000);
    let small = fill(&mut p, &mut m, SMALL);
    assert_eq!(small.len() as u64, 8 * MIB / 4096);
    assert_eq!(m.live_bytes(), 8 * MIB);
    small.iter().for_each(|&s| assert!(p.free(&mut m, s)));
    assert_eq!(m.live_bytes(), 0);

    let large = fill(&mut p, &mut m, LARGE);
    assert_eq!(large.len(), 4, "every split chunk is taken back for 2 MiB frames");
    large.iter().for_each(|&s| assert!(p.free(&mut m, s)));

    let again = fill(&mut p, &mut m, TABLE);
    assert_eq!(again.len() as u64, 8 * MIB / 4096);
}

#[test]
fn grow_shrink_cycles_neither_leak_memory_nor_slots() {
    // 4 chunks; a header page pins one, the cycles need the other three whole.
    let (mut p, mut m) = pool(1, 23, 2_000);
    let header = p.alloc(&mut m, SMALL).unwrap();
    let mut available = None;
    for round in 0..200 {
        let mut got: Vec<Slot> = (0..3).map(|_| p.alloc(&mut m, LARGE).unwrap()).collect();
        got.extend((0..100).map(|i| p.alloc(&mut m, if i % 10 == 0 { TABLE } else { SMALL }).unwrap()));
        if round % 2 == 0 {
            got.reverse();
        }
        got.iter().for_each(|&s| assert!(p.free(&mut m, s)));
        let now = p.slots().available();
        assert_eq!(*available.get_or_insert(now), now, "slots leak in round {round}");
    }
    assert_eq!(m.live_bytes(), 4096);
    assert_eq!(p.kind_of(header), Some(SMALL));
}

#[test]
fn small_parents_give_small_objects_only() {
    let (mut p, mut m) = pool(3, 20, 2_000);
    assert_eq!(p.alloc(&mut m, LARGE), Err(KernelError::OutOfMemory));
    assert_eq!(fill(&mut p, &mut m, SMALL).len() as u64, 3 * MIB / 4096);
}

#[test]
fn running_out_of_slots_is_out_of_memory_and_loses_nothing() {
    let (mut p, mut m) = pool(1, 22, 3);
    // chunk + 4 KiB untyped + frame: exactly three slots.
    let f = p.alloc(&mut m, SMALL).unwrap();
    assert_eq!(p.alloc(&mut m, SMALL), Err(KernelError::OutOfMemory));
    assert!(p.free(&mut m, f));
    assert_eq!(p.alloc(&mut m, SMALL), Ok(f));
}

#[test]
fn freeing_revokes_what_was_derived_from_the_object() {
    let (mut p, mut m) = pool(1, 21, 100);
    let f = p.alloc(&mut m, SMALL).unwrap();
    // A copy the pool does not know of, as `CNode_Copy` would make it.
    m.insert(99, CapRec { parent: Some(f), object: None });
    assert!(p.free(&mut m, f));
    assert!(!m.caps.contains_key(&99));
    // The 4 KiB untyped is childless again: the next object reuses it.
    assert!(p.alloc(&mut m, SMALL).is_ok());
}

#[test]
fn copies_are_tracked_per_original() {
    let mut c = Copies::default();
    c.add(1, 10).unwrap();
    c.add(2, 20).unwrap();
    c.add(1, 11).unwrap();
    assert!(c.is_copy(11));
    assert!(c.remove(11));
    assert!(!c.remove(11));
    assert_eq!(c.take_one(1), Some(10));
    assert!(!c.is_copy(10));
    assert_eq!(c.take_one(1), None);
    assert_eq!(c.of(2).collect::<Vec<_>>(), vec![20]);
}

proptest! {
    /// The copies behave as a map from copy to original, listed by original.
    #[test]
    fn copies_are_a_map(ops in proptest::collection::vec((0u8..3, 0u64..4, 0u64..24), 0..80)) {
        let mut c = Copies::default();
        let mut model: BTreeMap<Slot, Slot> = BTreeMap::new();
        for (op, original, copy) in ops {
            let copy = copy + 100;
            match op {
                0 if !model.contains_key(&copy) => {
                    c.add(original, copy).unwrap();
                    model.insert(copy, original);
                }
                1 => prop_assert_eq!(c.remove(copy), model.remove(&copy).is_some()),
                _ => {
                    let had = model.values().any(|o| *o == original);
                    let got = c.take_one(original);
                    prop_assert_eq!(got.is_some(), had);
                    if let Some(g) = got {
                        prop_assert_eq!(model.remove(&g), Some(original));
                    }
                }
            }
            for o in 0..4 {
                let mut got: Vec<_> = c.of(o).collect();
                got.sort_unstable();
                let want: Vec<_> = model.iter().filter(|(_, v)| **v == o).map(|(k, _)| *k).collect();
                prop_assert_eq!(got, want);
            }
            prop_assert!((100..124).all(|s| c.is_copy(s) == model.contains_key(&s)));
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// An allocation of a kind, after one that fails at its heap
    /// allocation of this number (if any).
    Alloc(u8, Option<u8>),
    Free(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let fail = prop::option::weighted(0.2, 0u8..6);
    prop_oneof![4 => (0u8..3, fail).prop_map(|(k, f)| Op::Alloc(k, f)), 1 => any::<usize>().prop_map(Op::Free)]
}

proptest! {
    /// Whatever the order, an allocation fails only when the memory is
    /// really taken: a 4 KiB one when every byte is live, a 2 MiB one when
    /// every 2 MiB chunk holds something live. Freeing everything gives it
    /// all back, slots included. With no heap at some allocation of its
    /// books, an allocation fails with `OutOfMemory` and loses nothing;
    /// freeing never allocates.
    #[test]
    fn allocation_fails_only_when_memory_is_taken(ops in prop::collection::vec(op(), 1..1200)) {
        // 4 MiB: 1024 small objects, so long runs reach both kinds of "full".
        let (mut p, mut m) = pool(2, 21, 100_000);
        let capacity = 4 * MIB;
        let slots_at_start = p.slots().available();
        let mut live: Vec<Slot> = Vec::new();
        for o in ops {
            match o {
                Op::Alloc(k, fail) => {
                    let kind = [SMALL, LARGE, TABLE][k as usize];
                    if let Some(n) = fail {
                        let (r, used) = heap::failing(Some(n.into()), || p.alloc(&mut m, kind));
                        match r {
                            Ok(s) => live.push(s),
                            Err(e) => prop_assert!(e == KernelError::OutOfMemory || used <= u64::from(n)),
                        }
                    }
                    match p.alloc(&mut m, kind) {
                        Ok(s) => live.push(s),
                        Err(e) => {
                            prop_assert_eq!(e, KernelError::OutOfMemory);
                            if kind == LARGE {
                                let used: BTreeSet<u64> =
                                    m.live.keys().map(|a| a >> LARGE_BITS).collect();
                                prop_assert_eq!(used.len() as u64, capacity >> LARGE_BITS);
                            } else {
                                prop_assert_eq!(m.live_bytes(), capacity);
                            }
                        }
                    }
                }
                Op::Free(i) if !live.is_empty() => {
                    let s = live.swap_remove(i % live.len());
                    let (freed, used) = heap::failing(None, || p.free(&mut m, s));
                    prop_assert!(freed);
                    prop_assert_eq!(used, 0, "freeing allocated");
                }
                Op::Free(_) => {}
            }
        }
        live.into_iter().for_each(|s| assert!(p.free(&mut m, s)));
        prop_assert_eq!(m.live_bytes(), 0);
        let large = fill(&mut p, &mut m, LARGE);
        prop_assert_eq!(large.len() as u64, capacity >> LARGE_BITS);
        large.into_iter().for_each(|s| assert!(p.free(&mut m, s)));
        // What stays taken: one slot per chunk carved.
        prop_assert_eq!(p.slots().available(), slots_at_start - (capacity >> LARGE_BITS));
    }
}

#[test]
fn copies_table_grows_by_an_eighth() {
    let mut c = Copies::default();
    for s in 512..33792 {
        c.add(s / 65, s).unwrap();
    }
    let bytes = c.slots.capacity() * core::mem::size_of::<Entry>();
    assert!(bytes <= 33792 * 16 * 9 / 8, "{bytes} bytes for 33792 slots");
}
