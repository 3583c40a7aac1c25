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
//! let mut s = Slots::new(16..18).unwrap();
//! let a = s.take().unwrap();
//! s.give(a);
//! assert_eq!(s.take(), Ok(a));
//! ```

use alloc::vec::Vec;
use core::hash::{BuildHasherDefault, Hasher};
use core::ops::Range;

use hashbrown::HashMap;

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
/// Giving a slot back never allocates (it runs where nothing may fail):
/// every slot handed out has room kept for it in the free list, made when
/// it was handed out. A bit per slot says which are out, so a slot given
/// back twice is still handed out once.
///
/// ```
/// use vmm_server::{untyped::Slots, KernelError};
/// let mut s = Slots::new(5..6).unwrap();
/// assert_eq!(s.take(), Ok(5));
/// assert_eq!(s.take(), Err(KernelError::OutOfMemory));
/// ```
#[derive(Clone, Debug)]
pub struct Slots {
    start: Slot,
    next: Slot,
    end: Slot,
    /// Slots given back, taken again last in first out.
    free: Vec<Slot>,
    /// A bit per slot of the range: handed out. Empty before the heap.
    out: Vec<u64>,
    /// Most slots ever taken at once.
    peak: u64,
}

impl Slots {
    /// The slots of `range`, all free, with their books (a bit per slot,
    /// on the heap).
    ///
    /// ```
    /// assert_eq!(vmm_server::untyped::Slots::new(10..20).unwrap().available(), 10);
    /// ```
    pub fn new(range: Range<Slot>) -> Result<Self, KernelError> {
        let mut s = Self::before_heap(range);
        s.keep_books()?;
        Ok(s)
    }

    /// The slots of `range` for use before there is a heap: taking never
    /// allocates, and nothing is given back (it is ignored) until
    /// [`Slots::keep_books`].
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::before_heap(3..9);
    /// let a = s.take().unwrap();
    /// s.give(a);
    /// assert_eq!(s.available(), 5);
    /// ```
    pub const fn before_heap(range: Range<Slot>) -> Self {
        let end = if range.end > range.start { range.end } else { range.start };
        Slots { start: range.start, next: range.start, end, free: Vec::new(), out: Vec::new(), peak: 0 }
    }

    /// Starts the books (once there is a heap): the slots taken so far are
    /// out, and room is kept for giving each back.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::before_heap(3..9);
    /// let a = s.take().unwrap();
    /// s.keep_books().unwrap();
    /// s.give(a);
    /// assert_eq!(s.available(), 6);
    /// ```
    pub fn keep_books(&mut self) -> Result<(), KernelError> {
        if !self.out.is_empty() || self.end == self.start {
            return Ok(());
        }
        let words = (self.end - self.start).div_ceil(64) as usize;
        let mut out = Vec::new();
        out.try_reserve_exact(words).map_err(|_| KernelError::OutOfMemory)?;
        out.resize(words, 0);
        self.out = out;
        for slot in self.start..self.next {
            self.mark(slot, true);
        }
        self.free.try_reserve((self.next - self.start) as usize).map_err(|_| KernelError::OutOfMemory)
    }

    fn books(&self) -> bool {
        !self.out.is_empty()
    }

    fn mark(&mut self, slot: Slot, out: bool) -> bool {
        let i = (slot - self.start) as usize;
        let (word, bit) = (&mut self.out[i / 64], 1u64 << (i % 64));
        let was = *word & bit != 0;
        if out {
            *word |= bit;
        } else {
            *word &= !bit;
        }
        was
    }

    /// A free slot; [`KernelError::OutOfMemory`] when none is left, or
    /// when there is no heap for the room to give it back.
    ///
    /// ```
    /// assert!(vmm_server::untyped::Slots::new(0..0).unwrap().take().is_err());
    /// ```
    pub fn take(&mut self) -> Result<Slot, KernelError> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.next < self.end => {
                if self.books() {
                    // Room to give back every slot handed out, this one too.
                    let out = (self.next + 1 - self.start) as usize;
                    self.free.try_reserve(out).map_err(|_| KernelError::OutOfMemory)?;
                }
                self.next += 1;
                self.next - 1
            }
            None => return Err(KernelError::OutOfMemory),
        };
        if self.books() {
            self.mark(slot, true);
        }
        self.peak = self.peak.max(self.used());
        Ok(slot)
    }

    /// Slots taken now.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::new(0..3).unwrap();
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

    /// Gives back a slot that is empty again, into room kept for it.
    /// Slots not handed out are ignored.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::new(3..4).unwrap();
    /// s.give(100);
    /// let a = s.take().unwrap();
    /// s.give(a);
    /// s.give(a);
    /// assert_eq!(s.available(), 1);
    /// ```
    pub fn give(&mut self, slot: Slot) {
        if self.books() && (self.start..self.next).contains(&slot) && self.mark(slot, false) {
            debug_assert!(self.free.len() < self.free.capacity(), "no room kept");
            self.free.push(slot);
        }
    }

    /// Slots that [`Slots::take`] can still hand out.
    ///
    /// ```
    /// let mut s = vmm_server::untyped::Slots::new(0..3).unwrap();
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
/// let mut p = Pool::new(Slots::new(100..200).unwrap(), 10..11, 21);
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
    live: HashMap<Slot, Live, BuildHasherDefault<SlotHasher>>,
    /// The 4 KiB untypeds carved (the most `idle` can hold).
    carved: usize,
}

/// Room for `n` more in `v`, or [`KernelError::OutOfMemory`].
fn room<T>(v: &mut Vec<T>, n: usize) -> Result<(), KernelError> {
    v.try_reserve(n).map_err(|_| KernelError::OutOfMemory)
}

/// Room in `v` for `total` entries in all.
fn room_for<T>(v: &mut Vec<T>, total: usize) -> Result<(), KernelError> {
    let more = total.saturating_sub(v.len());
    room(v, more)
}

/// Hashes a slot for the pool's and the copies' tables, and a pid for the
/// server's budget tables: slots are small numbers the server chose and
/// pids the supervisor's (no client picks them), so a multiplicative hash
/// spreads them well enough.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|b| self.write_u64(u64::from(*b)));
    }

    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }

    fn write_u64(&mut self, v: u64) {
        // Fibonacci hashing: 2^64 divided by the golden ratio.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Pool {
    /// A pool over the untyped caps `parents`, each `2^parent_bits` bytes,
    /// taking slots from `slots`.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// let p = Pool::new(Slots::new(0..10).unwrap(), 20..24, 22);
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
            live: HashMap::default(),
            carved: 0,
        }
    }

    /// The slot allocator (for caps that are not objects of the pool:
    /// copies, received caps).
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// let mut p = Pool::new(Slots::new(0..1).unwrap(), 0..0, 21);
    /// assert_eq!(p.slots_mut().take(), Ok(0));
    /// ```
    pub fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }

    /// The slot allocator, to look at.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// assert_eq!(Pool::new(Slots::new(0..4).unwrap(), 0..0, 21).slots().available(), 4);
    /// ```
    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// What the object in `slot` is, if the pool made it and it is live.
    ///
    /// ```
    /// use vmm_server::untyped::{Pool, Slots};
    /// assert_eq!(Pool::new(Slots::new(0..4).unwrap(), 0..0, 21).kind_of(3), None);
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
    /// let mut p = Pool::new(Slots::new(0..100).unwrap(), 200..201, 20);
    /// let r = p.alloc(&mut Yes, ObjectKind::Frame(PageSize::Large));
    /// assert_eq!(r, Err(KernelError::OutOfMemory));
    /// ```
    pub fn alloc(&mut self, r: &mut impl Retype, kind: ObjectKind) -> Result<Slot, KernelError> {
        // Room for its record before it exists.
        self.live.try_reserve(1).map_err(|_| KernelError::OutOfMemory)?;
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
    /// let mut p = Pool::new(Slots::new(0..100).unwrap(), 200..201, 21);
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
            // Room for the new chunk, and for it in the free list later
            // (freeing must not allocate).
            room(&mut self.chunks, 1)?;
            room_for(&mut self.free_chunks, self.chunks.len() + 1)?;
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
            self.carved -= carved.len();
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
                    room(&mut self.open, 1)?;
                    let c = self.free_chunk(r)?;
                    self.chunks[c].state = ChunkState::Split { carved: Vec::new(), idle: 0 };
                    self.open.push(c);
                    c
                }
            };
            // Room for the new untyped in its chunk's list, and in the
            // idle list later (parking must not allocate).
            if let ChunkState::Split { carved, .. } = &mut self.chunks[c].state {
                room(carved, 1)?;
            }
            room_for(&mut self.idle, self.carved + 1)?;
            let dest = self.slots.take()?;
            match r.retype(self.chunks[c].cap, Make::Untyped { size_bits: SMALL_BITS }, dest) {
                Ok(()) => {
                    self.carved += 1;
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
/// c.add(1, 10).unwrap();
/// c.add(1, 11).unwrap();
/// assert!(c.remove(10));
/// assert_eq!(c.take_one(1), Some(11));
/// ```
///
/// A list per original through a table indexed by slot: slots are the
/// server's own small numbers, handed out densely from its CNode, so a
/// dense table costs 16 bytes a slot where hash tables cost about 100 a
/// copy, and a lookup is an index. Recording a copy is fallible (the table
/// grows to cover the slot) and forgetting one allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Copies {
    /// By slot: as a copy, its original and neighbours in the original's
    /// list; as an original, its first copy.
    slots: Vec<Entry>,
}

/// The fewest slots the copies' table grows by.
const GROWTH_MIN: usize = 1024;

/// No slot (the tables' slots fit 32 bits: a CNode has at most 2^32).
const NO_SLOT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The slot's original if it is a copy, else [`NO_SLOT`].
    original: u32,
    prev: u32,
    next: u32,
    /// The slot's first copy if it is an original with copies.
    first: u32,
}

const EMPTY: Entry = Entry { original: NO_SLOT, prev: NO_SLOT, next: NO_SLOT, first: NO_SLOT };

fn slot(s: u32) -> Option<Slot> {
    (s != NO_SLOT).then_some(Slot::from(s))
}

impl Copies {
    fn entry(&self, s: Slot) -> Entry {
        usize::try_from(s).ok().and_then(|i| self.slots.get(i)).copied().unwrap_or(EMPTY)
    }

    /// The entry of a slot the table covers.
    fn at(&mut self, s: u32) -> &mut Entry {
        &mut self.slots[s as usize]
    }

    /// Records that `copy` was made from `original`; with no heap for the
    /// record, [`KernelError::OutOfMemory`] and nothing recorded.
    ///
    /// ```
    /// let mut c = vmm_server::untyped::Copies::default();
    /// c.add(1, 10).unwrap();
    /// assert!(c.is_copy(10));
    /// ```
    pub fn add(&mut self, original: Slot, copy: Slot) -> Result<(), KernelError> {
        let (o, c) = match (u32::try_from(original), u32::try_from(copy)) {
            (Ok(o), Ok(c)) if o != NO_SLOT && c != NO_SLOT && o != c => (o, c),
            _ => return Err(KernelError::InvalidArgument),
        };
        let need = o.max(c) as usize + 1;
        if need > self.slots.len() {
            // Grown by an eighth at a time: a doubling would leave up to
            // half the table unused, and slots come densely.
            let len = self.slots.len();
            if need > self.slots.capacity() {
                let target = need.max(len + len / 8).max(GROWTH_MIN);
                self.slots.try_reserve_exact(target - len).map_err(|_| KernelError::OutOfMemory)?;
            }
            self.slots.resize(need, EMPTY);
        }
        let next = self.at(o).first;
        if next != NO_SLOT {
            self.at(next).prev = c;
        }
        self.at(o).first = c;
        let e = self.at(c);
        (e.original, e.prev, e.next) = (o, NO_SLOT, next);
        Ok(())
    }

    /// Whether `slot` holds a recorded copy.
    ///
    /// ```
    /// assert!(!vmm_server::untyped::Copies::default().is_copy(3));
    /// ```
    pub fn is_copy(&self, slot: Slot) -> bool {
        self.entry(slot).original != NO_SLOT
    }

    /// Forgets `copy` (allocates nothing); whether it was recorded.
    ///
    /// ```
    /// let mut c = vmm_server::untyped::Copies::default();
    /// c.add(1, 10).unwrap();
    /// assert!(c.remove(10));
    /// assert!(!c.remove(10));
    /// ```
    pub fn remove(&mut self, copy: Slot) -> bool {
        let l = self.entry(copy);
        if l.original == NO_SLOT {
            return false;
        }
        if l.prev != NO_SLOT {
            self.at(l.prev).next = l.next;
        } else {
            self.at(l.original).first = l.next;
        }
        if l.next != NO_SLOT {
            self.at(l.next).prev = l.prev;
        }
        // A copy's slot covered by the table: `entry` found it there.
        let e = &mut self.slots[copy as usize];
        (e.original, e.prev, e.next) = (NO_SLOT, NO_SLOT, NO_SLOT);
        true
    }

    /// The copies of `original`.
    ///
    /// ```
    /// let mut c = vmm_server::untyped::Copies::default();
    /// c.add(1, 2).unwrap();
    /// assert_eq!(c.of(1).collect::<Vec<_>>(), vec![2]);
    /// ```
    pub fn of(&self, original: Slot) -> impl Iterator<Item = Slot> + '_ {
        let mut at = slot(self.entry(original).first);
        core::iter::from_fn(move || {
            let c = at?;
            at = slot(self.entry(c).next);
            Some(c)
        })
    }

    /// Forgets one copy of `original` and returns it (none left: `None`);
    /// taking them all allocates nothing.
    ///
    /// ```
    /// let mut c = vmm_server::untyped::Copies::default();
    /// c.add(1, 10).unwrap();
    /// assert_eq!((c.take_one(1), c.take_one(1)), (Some(10), None));
    /// ```
    pub fn take_one(&mut self, original: Slot) -> Option<Slot> {
        let c = slot(self.entry(original).first)?;
        self.remove(c);
        Some(c)
    }
}

#[cfg(test)]
mod tests;
