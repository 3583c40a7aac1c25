//! A block allocator that lives inside a shared object, addressed by
//! offsets, and grows the object by a whole pool when it runs out
//! (patent ¶12: pools linked together, structures spanning pools).
//!
//! All of its state is in the object's memory, so every attached process can
//! open the same pool and follow the same offsets; the handle [`Pool`] holds
//! only where the control block is. The memory is reached through
//! [`SharedMemory`] (word loads and stores at offsets, and a grow request),
//! which the real system backs with the mapping and the server's `Grow`.
//!
//! The allocator itself does no locking: one process allocates at a time (the
//! owner in client-server mode, or peers that agree on a lock).
//!
//! Offset 0 is the object's header page, never a block, so it serves as the
//! null offset in links.
//!
//! Layout: control block at `ctl` (8 words: [`POOL_MAGIC`], block size, pool
//! bytes, first pool, last pool, free-list head, pool count, blocks in use);
//! each pool starts with 2 words (next pool, bump offset) followed by blocks.
//! A free block's first word links to the next free block.
//!
//! ```
//! use libshm::pool::{ArrayMemory, Pool, SharedMemory};
//! let mut mem = ArrayMemory::<4096>::new(4096);
//! let pool = Pool::create(&mut mem, 64, 32, 4096).unwrap();
//! let a = pool.alloc(&mut mem).unwrap();
//! mem.store(a, 42).unwrap();
//! assert_eq!(mem.load(a), Ok(42));
//! pool.free(&mut mem, a).unwrap();
//! assert_eq!(pool.alloc(&mut mem), Ok(a));
//! ```

use crate::layout::PAGE_SIZE;
use crate::protocol::Error;
use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"SHMPOOL1"` little endian, at the control block's start.
///
/// ```
/// assert_eq!(&libshm::pool::POOL_MAGIC.to_le_bytes(), b"SHMPOOL1");
/// ```
pub const POOL_MAGIC: u64 = u64::from_le_bytes(*b"SHMPOOL1");
/// Bytes of the control block.
pub const CONTROL_BYTES: u64 = size_of::<Control>() as u64;
const _: () = assert!(CONTROL_BYTES == 64);
/// Bytes at the start of each pool before its first block.
pub const POOL_HEADER_BYTES: u64 = size_of::<PoolStart>() as u64;
const _: () = assert!(POOL_HEADER_BYTES == 16);

const WORD: u64 = 8;
const NULL: u64 = 0;

/// The control block in the object, a word a field (the one definition
/// of where each lies; the pool reaches them one word at a time through
/// [`SharedMemory`]).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Control {
    magic: u64,
    block: u64,
    pool_bytes: u64,
    first: u64,
    last: u64,
    free: u64,
    pools: u64,
    in_use: u64,
}

/// The start of each pool: the next pool's offset and the bump pointer.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct PoolStart {
    next: u64,
    bump: u64,
}

const CTL_MAGIC: u64 = offset_of!(Control, magic) as u64;
const CTL_BLOCK: u64 = offset_of!(Control, block) as u64;
const CTL_POOL_BYTES: u64 = offset_of!(Control, pool_bytes) as u64;
const CTL_FIRST: u64 = offset_of!(Control, first) as u64;
const CTL_LAST: u64 = offset_of!(Control, last) as u64;
const CTL_FREE: u64 = offset_of!(Control, free) as u64;
const CTL_POOLS: u64 = offset_of!(Control, pools) as u64;
const CTL_IN_USE: u64 = offset_of!(Control, in_use) as u64;

const POOL_NEXT: u64 = offset_of!(PoolStart, next) as u64;
const POOL_BUMP: u64 = offset_of!(PoolStart, bump) as u64;

/// Why a pool operation failed.
///
/// ```
/// use libshm::pool::{ArrayMemory, PoolError, SharedMemory};
/// let mem = ArrayMemory::<512>::new(4096);
/// assert_eq!(mem.load(4096), Err(PoolError::OutOfBounds));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// An offset past the object's end.
    OutOfBounds,
    /// An offset not 8-byte aligned.
    Unaligned,
    /// No pool control block at this offset.
    NotAPool,
    /// `free` of an offset that is not an allocated block.
    NotABlock,
    /// Block size or pool size unusable (see [`Pool::create`]).
    BadGeometry,
    /// Growing the object failed (the server's answer).
    Grow(Error),
    /// A store to memory the caller may only read (the header page, or an
    /// object it attached read-only).
    ReadOnly,
}

/// Word access to a shared object's memory by offset, and a way to grow it.
///
/// ```
/// use libshm::pool::{ArrayMemory, SharedMemory};
/// let mut m = ArrayMemory::<1024>::new(4096);
/// m.grow(8192).unwrap();
/// assert_eq!(m.size(), 8192);
/// ```
pub trait SharedMemory {
    /// The object's current size in bytes.
    fn size(&self) -> u64;
    /// Reads the word at `offset` (8-aligned, inside the object).
    fn load(&self, offset: u64) -> Result<u64, PoolError>;
    /// Writes the word at `offset` (8-aligned, inside the object).
    fn store(&mut self, offset: u64, value: u64) -> Result<(), PoolError>;
    /// Grows the object to `new_size` bytes; on return every attached process
    /// sees the new memory (zero-filled).
    fn grow(&mut self, new_size: u64) -> Result<(), PoolError>;
}

/// Checks an offset for a word access to memory of `size` bytes; the word's
/// index on success.
///
/// ```
/// use libshm::pool::{check_word, PoolError};
/// assert_eq!(check_word(16, 4096), Ok(2));
/// assert_eq!(check_word(3, 4096), Err(PoolError::Unaligned));
/// assert_eq!(check_word(4092, 4096), Err(PoolError::Unaligned));
/// assert_eq!(check_word(4096, 4096), Err(PoolError::OutOfBounds));
/// ```
pub fn check_word(offset: u64, size: u64) -> Result<usize, PoolError> {
    if !offset.is_multiple_of(WORD) {
        return Err(PoolError::Unaligned);
    }
    if offset.checked_add(WORD).is_none_or(|end| end > size) {
        return Err(PoolError::OutOfBounds);
    }
    usize::try_from(offset / WORD).map_err(|_| PoolError::OutOfBounds)
}

/// Memory in a fixed array of `N` words, of which the first `size` bytes are
/// the object: for tests and examples, without an allocator.
///
/// ```
/// use libshm::pool::{ArrayMemory, PoolError, SharedMemory};
/// let mut m = ArrayMemory::<1024>::new(4096);
/// assert_eq!(m.grow(16384), Err(PoolError::Grow(libshm::protocol::Error::TooLarge)));
/// ```
#[derive(Clone, Debug)]
pub struct ArrayMemory<const N: usize> {
    words: [u64; N],
    size: u64,
}

impl<const N: usize> ArrayMemory<N> {
    /// Zeroed memory of `size` bytes (at most `N` words).
    ///
    /// # Panics
    /// If `size` exceeds `N` words.
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, SharedMemory};
    /// assert_eq!(ArrayMemory::<512>::new(4096).size(), 4096);
    /// ```
    pub fn new(size: u64) -> Self {
        assert!(size <= Self::CAPACITY, "ArrayMemory: size beyond capacity");
        ArrayMemory { words: [0; N], size }
    }

    const CAPACITY: u64 = N as u64 * WORD;
}

impl<const N: usize> SharedMemory for ArrayMemory<N> {
    fn size(&self) -> u64 {
        self.size
    }
    fn load(&self, offset: u64) -> Result<u64, PoolError> {
        Ok(self.words[check_word(offset, self.size)?])
    }
    fn store(&mut self, offset: u64, value: u64) -> Result<(), PoolError> {
        self.words[check_word(offset, self.size)?] = value;
        Ok(())
    }
    fn grow(&mut self, new_size: u64) -> Result<(), PoolError> {
        if new_size > Self::CAPACITY {
            return Err(PoolError::Grow(Error::TooLarge));
        }
        if new_size <= self.size {
            return Err(PoolError::Grow(Error::NotGrowing));
        }
        self.size = new_size;
        Ok(())
    }
}

/// A pool's numbers.
///
/// ```
/// use libshm::pool::{ArrayMemory, Pool};
/// let mut mem = ArrayMemory::<2048>::new(4096);
/// let p = Pool::create(&mut mem, 0x100, 64, 4096).unwrap();
/// assert_eq!(p.stats(&mem).unwrap().pools, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes per block.
    pub block_size: u64,
    /// Bytes per pool.
    pub pool_bytes: u64,
    /// Pools linked so far.
    pub pools: u64,
    /// Blocks allocated and not freed.
    pub in_use: u64,
}

/// A handle on a pool allocator whose state lives in shared memory.
///
/// ```
/// use libshm::pool::{ArrayMemory, Pool};
/// let mut mem = ArrayMemory::<2048>::new(4096);
/// Pool::create(&mut mem, 0x100, 64, 4096).unwrap();
/// // Any peer can open it by the control block's offset.
/// let again = Pool::open(&mem, 0x100).unwrap();
/// assert_eq!(again.stats(&mem).unwrap().block_size, 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    ctl: u64,
}

impl Pool {
    /// Writes a control block at `ctl` (which must already be inside the
    /// object) and grows the object by the first pool.
    ///
    /// `block_size` must be a non-zero multiple of 8; `pool_bytes` a multiple
    /// of the page size with room for at least one block after the pool
    /// header. The object's size must be page-aligned (it always is).
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, Pool, PoolError};
    /// let mut mem = ArrayMemory::<2048>::new(4096);
    /// assert_eq!(Pool::create(&mut mem, 0x100, 12, 4096), Err(PoolError::BadGeometry));
    /// assert_eq!(Pool::create(&mut mem, 0x100, 16, 1000), Err(PoolError::BadGeometry));
    /// ```
    pub fn create<M: SharedMemory>(
        mem: &mut M,
        ctl: u64,
        block_size: u64,
        pool_bytes: u64,
    ) -> Result<Pool, PoolError> {
        let fits = POOL_HEADER_BYTES.checked_add(block_size).is_some_and(|need| need <= pool_bytes);
        if block_size == 0
            || !block_size.is_multiple_of(WORD)
            || !pool_bytes.is_multiple_of(PAGE_SIZE)
            || !fits
        {
            return Err(PoolError::BadGeometry);
        }
        // The whole control block must be inside the object.
        check_word(ctl + CONTROL_BYTES - WORD, mem.size())?;
        check_word(ctl, mem.size())?;
        let pool = Pool { ctl };
        pool.set(mem, CTL_BLOCK, block_size)?;
        pool.set(mem, CTL_POOL_BYTES, pool_bytes)?;
        for field in [CTL_FIRST, CTL_LAST, CTL_FREE, CTL_POOLS, CTL_IN_USE] {
            pool.set(mem, field, 0)?;
        }
        // Magic last: a half-written control block is never mistaken for one.
        pool.set(mem, CTL_MAGIC, POOL_MAGIC)?;
        pool.add_pool(mem)?;
        Ok(pool)
    }

    /// Opens the pool whose control block is at `ctl`.
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, Pool, PoolError};
    /// let mem = ArrayMemory::<512>::new(4096);
    /// assert_eq!(Pool::open(&mem, 0x100), Err(PoolError::NotAPool));
    /// ```
    pub fn open<M: SharedMemory>(mem: &M, ctl: u64) -> Result<Pool, PoolError> {
        let pool = Pool { ctl };
        if pool.get(mem, CTL_MAGIC)? != POOL_MAGIC {
            return Err(PoolError::NotAPool);
        }
        Ok(pool)
    }

    /// The control block's offset.
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, Pool};
    /// let mut mem = ArrayMemory::<2048>::new(4096);
    /// assert_eq!(Pool::create(&mut mem, 0x100, 8, 4096).unwrap().control(), 0x100);
    /// ```
    pub fn control(&self) -> u64 {
        self.ctl
    }

    fn get<M: SharedMemory>(&self, mem: &M, field: u64) -> Result<u64, PoolError> {
        mem.load(self.ctl + field)
    }

    fn set<M: SharedMemory>(&self, mem: &mut M, field: u64, v: u64) -> Result<(), PoolError> {
        mem.store(self.ctl + field, v)
    }

    /// Grows the object by one pool at its end and links it last.
    fn add_pool<M: SharedMemory>(&self, mem: &mut M) -> Result<u64, PoolError> {
        let pool_bytes = self.get(mem, CTL_POOL_BYTES)?;
        let at = mem.size();
        let new_size = at.checked_add(pool_bytes).ok_or(PoolError::OutOfBounds)?;
        mem.grow(new_size)?;
        mem.store(at + POOL_NEXT, NULL)?;
        mem.store(at + POOL_BUMP, at + POOL_HEADER_BYTES)?;
        // Link only once the pool is initialised, so a reader following the
        // chain never sees a half-made pool.
        match self.get(mem, CTL_LAST)? {
            NULL => self.set(mem, CTL_FIRST, at)?,
            last => mem.store(last + POOL_NEXT, at)?,
        }
        self.set(mem, CTL_LAST, at)?;
        let pools = self.get(mem, CTL_POOLS)?;
        self.set(mem, CTL_POOLS, pools + 1)?;
        Ok(at)
    }

    /// Allocates one block (its contents are whatever was there: zero for a
    /// fresh one). Takes a freed block first, then the last pool's unused
    /// space, then grows the object by a new pool.
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, Pool};
    /// let mut mem = ArrayMemory::<4096>::new(4096);
    /// let p = Pool::create(&mut mem, 0x100, 2048, 4096).unwrap();
    /// let a = p.alloc(&mut mem).unwrap();
    /// let b = p.alloc(&mut mem).unwrap(); // a second pool: 2 blocks do not fit in one
    /// assert_eq!(p.stats(&mem).unwrap().pools, 2);
    /// assert_ne!(a, b);
    /// ```
    pub fn alloc<M: SharedMemory>(&self, mem: &mut M) -> Result<u64, PoolError> {
        let block = match self.get(mem, CTL_FREE)? {
            NULL => self.bump(mem)?,
            head => {
                let next = mem.load(head)?;
                self.set(mem, CTL_FREE, next)?;
                head
            }
        };
        let in_use = self.get(mem, CTL_IN_USE)?;
        self.set(mem, CTL_IN_USE, in_use + 1)?;
        Ok(block)
    }

    fn bump<M: SharedMemory>(&self, mem: &mut M) -> Result<u64, PoolError> {
        let block = self.get(mem, CTL_BLOCK)?;
        let pool_bytes = self.get(mem, CTL_POOL_BYTES)?;
        let mut last = self.get(mem, CTL_LAST)?;
        let mut at = mem.load(last + POOL_BUMP)?;
        if at + block > last + pool_bytes {
            last = self.add_pool(mem)?;
            at = last + POOL_HEADER_BYTES;
        }
        mem.store(last + POOL_BUMP, at + block)?;
        Ok(at)
    }

    /// Returns a block to the pool. Refuses offsets that are not the start of
    /// a block handed out by [`Pool::alloc`] (a double free is not detected).
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, Pool, PoolError};
    /// let mut mem = ArrayMemory::<2048>::new(4096);
    /// let p = Pool::create(&mut mem, 0x100, 32, 4096).unwrap();
    /// let a = p.alloc(&mut mem).unwrap();
    /// assert_eq!(p.free(&mut mem, a + 8), Err(PoolError::NotABlock));
    /// assert_eq!(p.free(&mut mem, a + 32), Err(PoolError::NotABlock)); // never allocated
    /// ```
    pub fn free<M: SharedMemory>(&self, mem: &mut M, block: u64) -> Result<(), PoolError> {
        if !self.is_block(mem, block)? {
            return Err(PoolError::NotABlock);
        }
        let head = self.get(mem, CTL_FREE)?;
        mem.store(block, head)?;
        self.set(mem, CTL_FREE, block)?;
        let in_use = self.get(mem, CTL_IN_USE)?;
        self.set(mem, CTL_IN_USE, in_use.saturating_sub(1))
    }

    fn is_block<M: SharedMemory>(&self, mem: &M, block: u64) -> Result<bool, PoolError> {
        let size = self.get(mem, CTL_BLOCK)?;
        let pools = self.get(mem, CTL_POOLS)?;
        let mut pool = self.get(mem, CTL_FIRST)?;
        // Bounded by the pool count, so a corrupted chain cannot loop forever.
        for _ in 0..pools {
            let first = pool + POOL_HEADER_BYTES;
            let bump = mem.load(pool + POOL_BUMP)?;
            if (first..bump).contains(&block) {
                return Ok((block - first).is_multiple_of(size));
            }
            pool = mem.load(pool + POOL_NEXT)?;
        }
        Ok(false)
    }

    /// The pool's numbers.
    ///
    /// ```
    /// use libshm::pool::{ArrayMemory, Pool};
    /// let mut mem = ArrayMemory::<2048>::new(4096);
    /// let p = Pool::create(&mut mem, 0x100, 64, 4096).unwrap();
    /// p.alloc(&mut mem).unwrap();
    /// assert_eq!(p.stats(&mem).unwrap().in_use, 1);
    /// ```
    pub fn stats<M: SharedMemory>(&self, mem: &M) -> Result<PoolStats, PoolError> {
        Ok(PoolStats {
            block_size: self.get(mem, CTL_BLOCK)?,
            pool_bytes: self.get(mem, CTL_POOL_BYTES)?,
            pools: self.get(mem, CTL_POOLS)?,
            in_use: self.get(mem, CTL_IN_USE)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Memory that counts grows and can refuse them.
    struct Grower {
        mem: ArrayMemory<{ 64 * 512 }>,
        grows: u32,
        refuse: bool,
    }

    impl SharedMemory for Grower {
        fn size(&self) -> u64 {
            self.mem.size()
        }
        fn load(&self, o: u64) -> Result<u64, PoolError> {
            self.mem.load(o)
        }
        fn store(&mut self, o: u64, v: u64) -> Result<(), PoolError> {
            self.mem.store(o, v)
        }
        fn grow(&mut self, n: u64) -> Result<(), PoolError> {
            if self.refuse {
                return Err(PoolError::Grow(Error::QuotaExceeded));
            }
            assert_eq!((n - self.mem.size()) % PAGE_SIZE, 0, "grows by whole pages");
            self.grows += 1;
            self.mem.grow(n)
        }
    }

    #[test]
    fn linked_list_spans_pools() {
        let mut m = Grower { mem: ArrayMemory::new(PAGE_SIZE), grows: 0, refuse: false };
        let p = Pool::create(&mut m, 0x100, 16, PAGE_SIZE).unwrap();
        // Build a list of 1000 (value, next) nodes: 4 KiB pools hold 255 each.
        let mut head = NULL;
        for v in 0..1000u64 {
            let n = p.alloc(&mut m).unwrap();
            m.store(n, v).unwrap();
            m.store(n + 8, head).unwrap();
            head = n;
        }
        assert_eq!(p.stats(&m).unwrap().pools, 4);
        assert_eq!(m.grows, 4);
        let (mut sum, mut n) = (0, head);
        while n != NULL {
            sum += m.load(n).unwrap();
            n = m.load(n + 8).unwrap();
        }
        assert_eq!(sum, 999 * 1000 / 2);
    }

    #[test]
    fn grow_failure_is_reported_and_pool_still_usable() {
        let mut m = Grower { mem: ArrayMemory::new(PAGE_SIZE), grows: 0, refuse: false };
        let p = Pool::create(&mut m, 0x100, 2048, PAGE_SIZE).unwrap();
        p.alloc(&mut m).unwrap();
        m.refuse = true;
        assert_eq!(p.alloc(&mut m), Err(PoolError::Grow(Error::QuotaExceeded)));
        assert_eq!(p.stats(&m).unwrap().in_use, 1);
        m.refuse = false;
        p.alloc(&mut m).unwrap();
        assert_eq!(p.stats(&m).unwrap().in_use, 2);
    }

    #[test]
    fn control_block_must_fit() {
        let mut m = ArrayMemory::<1024>::new(PAGE_SIZE);
        assert_eq!(Pool::create(&mut m, PAGE_SIZE - 8, 8, PAGE_SIZE), Err(PoolError::OutOfBounds));
        assert_eq!(Pool::create(&mut m, 4, 8, PAGE_SIZE), Err(PoolError::Unaligned));
    }

    proptest! {
        /// Random alloc/free: blocks never overlap, stay inside pools, and the
        /// in-use count is exact.
        #[test]
        fn alloc_free_never_overlaps(ops in proptest::collection::vec(any::<(bool, u8)>(), 1..300),
                                     block in (1u64..64).prop_map(|b| b * 8)) {
            let mut m = ArrayMemory::<{ 64 * 512 }>::new(PAGE_SIZE);
            let p = Pool::create(&mut m, 0x40, block, PAGE_SIZE).unwrap();
            let mut live: BTreeSet<u64> = BTreeSet::new();
            for (alloc, pick) in ops {
                if alloc || live.is_empty() {
                    match p.alloc(&mut m) {
                        Ok(b) => {
                            prop_assert!(b >= PAGE_SIZE && b + block <= m.size());
                            prop_assert!(live.range(b.saturating_sub(block - 1)..b + block).next().is_none());
                            live.insert(b);
                        }
                        Err(e) => { prop_assert_eq!(e, PoolError::Grow(Error::TooLarge)); }
                    }
                } else {
                    let b = *live.iter().nth(usize::from(pick) % live.len()).unwrap();
                    p.free(&mut m, b).unwrap();
                    live.remove(&b);
                }
                prop_assert_eq!(p.stats(&m).unwrap().in_use, live.len() as u64);
            }
        }
    }
}
