//! The kernel-independent half of the on-target kernel: which CNode slot and
//! which piece of untyped memory each object gets, so that freeing an object
//! really returns its memory and its slot.
//!
//! seL4 5.0 moves an untyped's free index only forward, and resets it to 0
//! only on a retype while the untyped has no children. Objects retyped side
//! by side from one big untyped would therefore pin all of it until the last
//! one goes. So every object gets an untyped of its own size as its parent:
//!
//! - each given untyped (a *parent*) is carved, on demand, into *chunks*:
//!   child untypeds of 2 MiB (or the parent's size if smaller);
//! - a chunk is free, holds one 2 MiB frame, or is *split*: carved, on
//!   demand, into 4 KiB child untypeds, each holding one 4 KiB object
//!   (a frame or a paging structure) or idle;
//! - freeing an object revokes its own untyped (the chunk, or the 4 KiB
//!   one), which deletes the object and any cap derived from it; that
//!   untyped then has no children, so its next retype starts over at 0
//!   (the kernel zeroes it again: frames always come zero-filled);
//! - a split chunk whose 4 KiB untypeds are all idle is taken back whole
//!   (one revoke of the chunk) when a 2 MiB frame needs it.
//!
//! Nothing is lost to fragmentation except that 4 KiB objects scattered over
//! many chunks keep those chunks from holding 2 MiB frames.
//!
//! ```
//! use vmm_server::untyped::Slots;
//! let mut s = Slots::new(16..18);
//! let a = s.take().unwrap();
//! s.give(a);
//! assert_eq!(s.take(), Ok(a));
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::Range;

use crate::kernel::{KernelError, ObjectKind, PageSize};

/// A slot of the server's CNode (a cptr that resolves at depth 64).
pub type Slot = u64;

/// log2 of a 4 KiB object: frames and every paging structure.
pub const SMALL_BITS: u32 = 12;
/// log2 of a 2 MiB frame, and of a chunk.
pub const LARGE_BITS: u32 = 21;

pub use libshm::layout::memory_manager_heap_bytes as heap_bytes;

/// Free slots: a bump pointer over a range plus the slots given back.
///
/// ```
/// use vmm_server::{untyped::Slots, KernelError};
/// let mut s = Slots::new(5..6);
/// assert_eq!(s.take(), Ok(5));
/// assert_eq!(s.take(), Err(KernelError::OutOfMemory));
/// ```
#[derive(Clone, Debug)]
pub struct Slots {
    start: Slot,
    next: Slot,
    end: Slot,
    /// A set, so a slot given back twice is still handed out once.
    free: BTreeSet<Slot>,
    /// Most slots ever taken at once.
    peak: u64,
}

impl Slots {
    /// The slots of `range`, all free. Taking from the range never
    /// allocates heap memory, so this works before there is a heap.
    ///
    /// ```
    /// assert_eq!(vmm_server::untyped::Slots::new(10..20).available(), 10);
    /// ```
    pub fn new(range: Range<Slot>) -> Self {
        Slots {
            start: range.start,
            next: range.start,
            end: range.end.max(range.start),
            free: BTreeSet::new(),
            peak: 0,
        }
    }

    /// A free slot; [`KernelError::OutOfMemory`] when none is left.
    ///
    /// ```
    /// assert!(vmm_server::untyped::Slots::new(0..0).take().is_err());
    /// ```
    pub fn take(&mut self) -> Result<Slot, KernelError> {
        let slot = match self.free.pop_first() {
            Some(s) => s,
            None if self.next < self.end => {
                self.next += 1;
                self.next - 1
            }
            None => return Err(KernelError::OutOfMemory),
        };
        self.peak = self.peak.max(self.used());
        Ok(slot)
    }

    /// Slots taken now.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::new(0..3);
    /// let a = s.take().unwrap();
    /// s.take().unwrap();
    /// s.give(a);
    /// assert_eq!((s.used(), s.peak()), (1, 2));
    /// ```
    pub fn used(&self) -> u64 {
        (self.next - self.start) - self.free.len() as u64
    }

    /// Most slots ever taken at once.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Gives back a slot that is empty again. Slots never handed out are
    /// ignored.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::new(3..4);
    /// s.give(100);
    /// assert_eq!(s.available(), 1);
    /// ```
    pub fn give(&mut self, slot: Slot) {
        if (self.start..self.next).contains(&slot) {
            self.free.insert(slot);
        }
    }

    /// Slots that [`Slots::take`] can still hand out.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::new(0..3);
    /// s.take().unwrap();
    /// assert_eq!(s.available(), 2);
    /// ```
    pub fn available(&self) -> u64 {
        (self.end - self.next) + self.free.len() as u64
    }
}

/// What [`Retype::retype`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Make {
    /// A child untyped of `2^size_bits` bytes.
    Untyped {
        /// log2 of its size.
        size_bits: u32,
    },
    /// A frame or paging structure.
    Object(ObjectKind),
}

/// The two invocations the pool needs.
pub trait Retype {
    /// `Untyped_Retype` of one `make` from `untyped` into the empty `dest`.
    fn retype(&mut self, untyped: Slot, make: Make, dest: Slot) -> Result<(), KernelError>;
    /// `CNode_Revoke` of `untyped`: every object made from it goes, with
    /// every cap derived from those (mappings included).
    fn revoke(&mut self, untyped: Slot);
}

#[derive(Clone, Debug)]
enum ChunkState {
    Free,
    Large,
    /// Carved 4 KiB untypeds (in order), and how many of them are idle.
    Split {
        carved: Vec<Slot>,
        idle: usize,
    },
}

#[derive(Clone, Debug)]
struct Chunk {
    cap: Slot,
    state: ChunkState,
}

/// The untyped memory an object was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backing {
    /// A whole chunk (2 MiB frames).
    Chunk(usize),
    /// A 4 KiB untyped carved from chunk `chunk`.
    Small { untyped: Slot, chunk: usize },
}

#[derive(Clone, Copy, Debug)]
struct Live {
    kind: ObjectKind,
    backing: Backing,
}

/// The server's untyped memory and slots (see the module docs).
///
/// ```
/// use vmm_server::untyped::{Make, Pool, Retype, Slot, Slots};
/// use vmm_server::{KernelError, ObjectKind, PageSize};
/// // A stand-in that always succeeds.
/// struct Yes;
/// impl Retype for Yes {
///     fn retype(&mut self, _: Slot, _: Make, _: Slot) -> Result<(), KernelError> { Ok(()) }
///     fn revoke(&mut self, _: Slot) {}
/// }
/// let mut p = Pool::new(Slots::new(100..200), 10..11, 21);
/// let f = p.alloc(&mut Yes, ObjectKind::Frame(PageSize::Small)).unwrap();
/// assert_eq!(p.kind_of(f), Some(ObjectKind::Frame(PageSize::Small)));
/// assert!(p.free(&mut Yes, f));
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    slots: Slots,
    parents: Range<Slot>,
    /// First parent that may still have room for a chunk.
    next_parent: Slot,
    chunk_bits: u32,
    chunks: Vec<Chunk>,
    free_chunks: Vec<usize>,
    /// Split chunks not yet fully carved.
    open: Vec<usize>,
    /// Idle 4 KiB untypeds and their chunk.
    idle: Vec<(Slot, usize)>,
    live: BTreeMap<Slot, Live>,
}

impl Pool {
    /// A pool over the untyped caps `parents`, each `2^parent_bits` bytes,
    /// taking slots from `slots`.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// let p = Pool::new(Slots::new(0..10), 20..24, 22);
    /// assert_eq!(p.slots().available(), 10);
    /// ```
    pub fn new(slots: Slots, parents: Range<Slot>, parent_bits: u32) -> Self {
        Pool {
            slots,
            next_parent: parents.start,
            parents,
            chunk_bits: parent_bits.min(LARGE_BITS),
            chunks: Vec::new(),
            free_chunks: Vec::new(),
            open: Vec::new(),
            idle: Vec::new(),
            live: BTreeMap::new(),
        }
    }

    /// The slot allocator (for caps that are not objects of the pool:
    /// copies, received caps).
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// let mut p = Pool::new(Slots::new(0..1), 0..0, 21);
    /// assert_eq!(p.slots_mut().take(), Ok(0));
    /// ```
    pub fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }

    /// The slot allocator, to look at.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// assert_eq!(Pool::new(Slots::new(0..4), 0..0, 21).slots().available(), 4);
    /// ```
    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// What the object in `slot` is, if the pool made it and it is live.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// assert_eq!(Pool::new(Slots::new(0..4), 0..0, 21).kind_of(3), None);
    /// ```
    pub fn kind_of(&self, slot: Slot) -> Option<ObjectKind> {
        self.live.get(&slot).map(|l| l.kind)
    }

    /// Makes one object. On error nothing is lost: any untyped carved on
    /// the way stays in the pool for the next request.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// use vmm_server::{fake::FakeKernel, KernelError, ObjectKind, PageSize};
    /// # use vmm_server::untyped::{Make, Retype, Slot};
    /// # struct Yes;
    /// # impl Retype for Yes {
    /// #     fn retype(&mut self, _: Slot, _: Make, _: Slot) -> Result<(), KernelError> { Ok(()) }
    /// #     fn revoke(&mut self, _: Slot) {}
    /// # }
    /// // Parents of 1 MiB cannot hold a 2 MiB frame.
    /// let mut p = Pool::new(Slots::new(0..100), 200..201, 20);
    /// let r = p.alloc(&mut Yes, ObjectKind::Frame(PageSize::Large));
    /// assert_eq!(r, Err(KernelError::OutOfMemory));
    /// ```
    pub fn alloc(&mut self, r: &mut impl Retype, kind: ObjectKind) -> Result<Slot, KernelError> {
        if kind == ObjectKind::Frame(PageSize::Large) {
            if self.chunk_bits < LARGE_BITS {
                return Err(KernelError::OutOfMemory);
            }
            let c = self.free_chunk(r)?;
            let made = self.make(r, self.chunks[c].cap, kind);
            match made {
                Ok(dest) => {
                    self.chunks[c].state = ChunkState::Large;
                    self.live.insert(dest, Live { kind, backing: Backing::Chunk(c) });
                }
                Err(_) => self.free_chunks.push(c),
            }
            made
        } else {
            let (untyped, chunk) = self.small_untyped(r)?;
            let made = self.make(r, untyped, kind);
            match made {
                Ok(dest) => {
                    self.live.insert(dest, Live { kind, backing: Backing::Small { untyped, chunk } });
                }
                Err(_) => self.park(untyped, chunk),
            }
            made
        }
    }

    /// Destroys the object in `slot` by revoking its own untyped, and
    /// gives back its memory and slot. Returns false (and does nothing) if
    /// the pool did not make it. Caps derived from the object are deleted
    /// by the kernel; their slots are the caller's to give back.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// # use vmm_server::untyped::{Make, Retype, Slot};
    /// # struct Yes;
    /// # impl Retype for Yes {
    /// #     fn retype(&mut self, _: Slot, _: Make, _: Slot) -> Result<(), vmm_server::KernelError> { Ok(()) }
    /// #     fn revoke(&mut self, _: Slot) {}
    /// # }
    /// let mut p = Pool::new(Slots::new(0..100), 200..201, 21);
    /// assert!(!p.free(&mut Yes, 7));
    /// ```
    pub fn free(&mut self, r: &mut impl Retype, slot: Slot) -> bool {
        let Some(live) = self.live.remove(&slot) else {
            return false;
        };
        match live.backing {
            Backing::Chunk(c) => {
                r.revoke(self.chunks[c].cap);
                self.chunks[c].state = ChunkState::Free;
                self.free_chunks.push(c);
            }
            Backing::Small { untyped, chunk } => {
                r.revoke(untyped);
                self.park(untyped, chunk);
            }
        }
        self.slots.give(slot);
        true
    }

    /// Retypes one `kind` from `untyped` into a new slot.
    fn make(&mut self, r: &mut impl Retype, untyped: Slot, kind: ObjectKind) -> Result<Slot, KernelError> {
        let dest = self.slots.take()?;
        r.retype(untyped, Make::Object(kind), dest).inspect_err(|_| self.slots.give(dest))?;
        Ok(dest)
    }

    /// Makes a 4 KiB untyped idle.
    fn park(&mut self, untyped: Slot, chunk: usize) {
        self.idle.push((untyped, chunk));
        if let ChunkState::Split { idle, .. } = &mut self.chunks[chunk].state {
            *idle += 1;
        }
    }

    /// A chunk with no children: a free one, a newly carved one, or a split
    /// one whose 4 KiB untypeds are all idle, taken back.
    fn free_chunk(&mut self, r: &mut impl Retype) -> Result<usize, KernelError> {
        if let Some(c) = self.free_chunks.pop() {
            return Ok(c);
        }
        while self.next_parent < self.parents.end {
            let dest = self.slots.take()?;
            let make = Make::Untyped { size_bits: self.chunk_bits };
            match r.retype(self.next_parent, make, dest) {
                Ok(()) => {
                    self.chunks.push(Chunk { cap: dest, state: ChunkState::Free });
                    return Ok(self.chunks.len() - 1);
                }
                Err(KernelError::OutOfMemory) => {
                    self.slots.give(dest);
                    self.next_parent += 1;
                }
                Err(e) => {
                    self.slots.give(dest);
                    return Err(e);
                }
            }
        }
        let reclaimable = self
            .chunks
            .iter()
            .position(|c| matches!(&c.state, ChunkState::Split { carved, idle } if *idle == carved.len()));
        let c = reclaimable.ok_or(KernelError::OutOfMemory)?;
        r.revoke(self.chunks[c].cap);
        if let ChunkState::Split { carved, .. } =
            core::mem::replace(&mut self.chunks[c].state, ChunkState::Free)
        {
            carved.into_iter().for_each(|s| self.slots.give(s));
        }
        self.idle.retain(|&(_, chunk)| chunk != c);
        self.open.retain(|&o| o != c);
        Ok(c)
    }

    /// A 4 KiB untyped with no children: an idle one, or a new one carved
    /// from a split chunk (splitting a free chunk if none has room).
    fn small_untyped(&mut self, r: &mut impl Retype) -> Result<(Slot, usize), KernelError> {
        if let Some((untyped, chunk)) = self.idle.pop() {
            if let ChunkState::Split { idle, .. } = &mut self.chunks[chunk].state {
                *idle -= 1;
            }
            return Ok((untyped, chunk));
        }
        if self.chunk_bits < SMALL_BITS {
            return Err(KernelError::OutOfMemory);
        }
        let per_chunk = 1usize << (self.chunk_bits - SMALL_BITS);
        loop {
            let c = match self.open.last() {
                Some(&c) => c,
                None => {
                    let c = self.free_chunk(r)?;
                    self.chunks[c].state = ChunkState::Split { carved: Vec::new(), idle: 0 };
                    self.open.push(c);
                    c
                }
            };
            let dest = self.slots.take()?;
            match r.retype(self.chunks[c].cap, Make::Untyped { size_bits: SMALL_BITS }, dest) {
                Ok(()) => {
                    if let ChunkState::Split { carved, .. } = &mut self.chunks[c].state {
                        carved.push(dest);
                        if carved.len() >= per_chunk {
                            self.open.retain(|&o| o != c);
                        }
                    }
                    return Ok((dest, c));
                }
                // The chunk is full after all: stop carving it.
                Err(KernelError::OutOfMemory) => {
                    self.slots.give(dest);
                    self.open.retain(|&o| o != c);
                }
                Err(e) => {
                    self.slots.give(dest);
                    return Err(e);
                }
            }
        }
    }
}

/// Which frame copy was derived from which original, so that the slots a
/// `CNode_Revoke` of the original empties can be given back.
///
/// ```
/// use vmm_server::untyped::Copies;
/// let mut c = Copies::default();
/// c.add(1, 10);
/// c.add(1, 11);
/// assert!(c.remove(10));
/// assert_eq!(c.take_all(1), vec![11]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Copies {
    original_of: BTreeMap<Slot, Slot>,
    by_original: BTreeSet<(Slot, Slot)>,
}

impl Copies {
    /// Records that `copy` was derived from `original`.
    ///
    /// ```
    /// let mut c = vmm_server::untyped::Copies::default();
    /// c.add(1, 2);
    /// assert!(c.is_copy(2));
    /// ```
    pub fn add(&mut self, original: Slot, copy: Slot) {
        self.original_of.insert(copy, original);
        self.by_original.insert((original, copy));
    }

    /// Whether `slot` holds a recorded copy.
    ///
    /// ```
    /// assert!(!vmm_server::untyped::Copies::default().is_copy(2));
    /// ```
    pub fn is_copy(&self, slot: Slot) -> bool {
        self.original_of.contains_key(&slot)
    }

    /// Forgets a copy (deleted on its own); false if it was not one.
    ///
    /// ```
    /// assert!(!vmm_server::untyped::Copies::default().remove(2));
    /// ```
    pub fn remove(&mut self, copy: Slot) -> bool {
        match self.original_of.remove(&copy) {
            Some(original) => self.by_original.remove(&(original, copy)),
            None => false,
        }
    }

    /// The recorded copies of `original`.
    ///
    /// ```
    /// let mut c = vmm_server::untyped::Copies::default();
    /// c.add(1, 2);
    /// assert_eq!(c.of(1).collect::<Vec<_>>(), vec![2]);
    /// ```
    pub fn of(&self, original: Slot) -> impl Iterator<Item = Slot> + '_ {
        self.by_original.range((original, 0)..=(original, Slot::MAX)).map(|&(_, c)| c)
    }

    /// Forgets and returns every copy of `original` (all revoked at once).
    ///
    /// ```
    /// assert!(vmm_server::untyped::Copies::default().take_all(1).is_empty());
    /// ```
    pub fn take_all(&mut self, original: Slot) -> Vec<Slot> {
        let copies: Vec<Slot> = self.of(original).collect();
        for c in &copies {
            self.by_original.remove(&(original, *c));
            self.original_of.remove(c);
        }
        copies
    }
}

#[cfg(test)]
mod tests;
