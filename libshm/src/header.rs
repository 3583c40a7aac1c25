//! The header in an object's first page (patent ¶42): written only by the
//! memory manager, mapped read-only into every attached process.
//!
//! Byte layout (little endian, offsets in bytes; the private `Page`
//! struct is its one definition, and the build checks it against this
//! table's published offsets):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | [`MAGIC`] |
//! | 8 | 4 | [`VERSION`] |
//! | 12 | 4 | mode (0 peer, 1 client-server) |
//! | 16 | 8 | size |
//! | 24 | 8 | max size |
//! | 32 | 8 | root offset |
//! | 40 | 8 | base address |
//! | 48 | 4 | object id |
//! | 52 | 2 | owner pid |
//! | 54 | 2 | number of attached processes |
//! | 56 | 8 | rewrites: odd while the memory manager rewrites the page |
//! | 64 | 40 × [`MAX_ATTACHMENTS`] | attached processes |
//!
//! Each attached-process entry: pid (2 bytes, at 0), generation (2, at 2),
//! rights (1, at 4: POSIX bits), 3 reserved zero bytes, alias (32 at 8,
//! zero-padded, all zero for none). Unused entries are all zero.
//!
//! ```
//! use libshm::header::{Header, HEADER_BYTES};
//! use libshm::protocol::{Mode, ObjectId};
//! let h = Header::new(ObjectId(1), Mode::Peer, 2, 1 << 37, 4096, 1 << 20);
//! let mut page = [0u8; HEADER_BYTES];
//! h.encode(&mut page);
//! assert_eq!(Header::decode(&page), Ok(h));
//! ```

use core::mem::{offset_of, size_of};

use crate::layout::{MAX_ATTACHMENTS, PAGE_SIZE};
use crate::protocol::{Mode, Name, ObjectId, Pid, Prot, TaskId, NAME_MAX};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"PEERSHM\x01"` little endian: marks a page as an object header.
///
/// ```
/// assert_eq!(&libshm::header::MAGIC.to_le_bytes(), b"PEERSHM\x01");
/// ```
pub const MAGIC: u64 = u64::from_le_bytes(*b"PEERSHM\x01");
/// Layout version; bumped on any change to the table above.
pub const VERSION: u32 = 2;
const _: () = assert!(VERSION == 2);
/// Offset of the rewrite count: the memory manager makes it odd before it
/// rewrites the page and even again after, so a reader on another core
/// that sees the same even count before and after its copy has a page no
/// rewrite tore (the size word alone is written in place, one aligned
/// store). [`Header::encode`] leaves it zero.
///
/// ```
/// assert_eq!(libshm::header::REWRITES_OFFSET, 56);
/// ```
pub const REWRITES_OFFSET: usize = offset_of!(Page, rewrites);

/// Bytes the header is encoded into: the whole first page.
pub const HEADER_BYTES: usize = PAGE_SIZE as usize;
const _: () = assert!(HEADER_BYTES == 4096);

/// The page as it lies in memory: every field little-endian at a fixed
/// place, derived (no hand-kept offsets; `zerocopy` checks there is no
/// padding, so encoding writes every byte).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Page {
    magic: U64,
    version: U32,
    mode: U32,
    size: U64,
    max_size: U64,
    root: U64,
    base: U64,
    object: U32,
    owner: U16,
    count: U16,
    rewrites: U64,
    entries: [Entry; MAX_ATTACHMENTS],
    rest: [u8; HEADER_BYTES - ENTRIES_OFFSET - MAX_ATTACHMENTS * ENTRY_BYTES],
}

/// One attached process in the page.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Entry {
    pid: U16,
    generation: U16,
    rights: u8,
    reserved: [u8; 3],
    name: [u8; NAME_MAX],
}

const _: () = assert!(size_of::<Page>() == HEADER_BYTES);
const _: () = assert!(size_of::<Entry>() == ENTRY_BYTES);
const _: () = assert!(offset_of!(Page, entries) == ENTRIES_OFFSET);
const OFF_SIZE: usize = offset_of!(Page, size);
const OFF_ROOT: usize = offset_of!(Page, root);
const OFF_OBJECT: usize = offset_of!(Page, object);
const OFF_COUNT: usize = offset_of!(Page, count);
// The published offsets stay where version 1 put them.
const _: () = assert!(OFF_SIZE == 16 && OFF_ROOT == 32 && OFF_OBJECT == 48 && OFF_COUNT == 54);

/// Byte offset of the size field, one aligned word: a process may load that
/// word alone to learn the object's current size without decoding the page.
/// The server rewrites it only after a grow has mapped the new pages into
/// every attached process, so a size read here is always mapped.
///
/// ```
/// use libshm::header::{Header, SIZE_OFFSET};
/// use libshm::protocol::{Mode, ObjectId};
/// let mut page = [0u8; 4096];
/// Header::new(ObjectId(1), Mode::Peer, 2, 1 << 30, 8192, 1 << 20).encode(&mut page);
/// let at = SIZE_OFFSET as usize;
/// assert_eq!(u64::from_le_bytes(page[at..at + 8].try_into().unwrap()), 8192);
/// ```
pub const SIZE_OFFSET: u64 = OFF_SIZE as u64;
/// Byte offset of the root-offset field, one aligned word.
pub const ROOT_OFFSET: u64 = OFF_ROOT as u64;
const _: () = assert!(ROOT_OFFSET.is_multiple_of(8));
/// Byte offset of the aligned word holding the object id, the owner pid and
/// the number of attached processes; [`attached_in_word`] extracts the last.
pub const COUNTS_WORD_OFFSET: u64 = OFF_OBJECT as u64;
const _: () = assert!(COUNTS_WORD_OFFSET.is_multiple_of(8));

/// The number of attached processes, from the little-endian word at
/// [`COUNTS_WORD_OFFSET`] (one aligned load, so never torn).
///
/// ```
/// use libshm::header::{attached_in_word, Attached, Header, COUNTS_WORD_OFFSET};
/// use libshm::protocol::{Mode, ObjectId, Prot, TaskId};
/// let mut h = Header::new(ObjectId(9), Mode::Peer, 2, 1 << 30, 8192, 1 << 20);
/// h.push(Attached { task: TaskId::new(2, 0).unwrap(), alias: None, rights: Prot::Read }).unwrap();
/// let mut page = [0u8; 4096];
/// h.encode(&mut page);
/// let at = COUNTS_WORD_OFFSET as usize;
/// assert_eq!(attached_in_word(u64::from_le_bytes(page[at..at + 8].try_into().unwrap())), 1);
/// ```
pub const fn attached_in_word(word: u64) -> u16 {
    (word >> ((OFF_COUNT - OFF_OBJECT) * u8::BITS as usize)) as u16
}

// Single-word reads of these fields need them word-aligned, the count inside
// the counts word.
const WORD_BYTES: usize = size_of::<u64>();
const _: () = assert!(
    OFF_SIZE.is_multiple_of(WORD_BYTES)
        && OFF_ROOT.is_multiple_of(WORD_BYTES)
        && OFF_OBJECT.is_multiple_of(WORD_BYTES)
);
const _: () = assert!(OFF_COUNT + size_of::<u16>() <= OFF_OBJECT + WORD_BYTES);

/// Offset of the first attached-process entry.
pub const ENTRIES_OFFSET: usize = 64;
const _: () = assert!(ENTRIES_OFFSET == 64);
/// Bytes per attached-process entry.
pub const ENTRY_BYTES: usize = 40;
const _: () = assert!(ENTRY_BYTES == 40);
const _: () = assert!(ENTRIES_OFFSET + ENTRY_BYTES * MAX_ATTACHMENTS <= HEADER_BYTES);

/// One attached process as the header lists it.
///
/// ```
/// use libshm::header::Attached;
/// use libshm::protocol::{Prot, TaskId};
/// let a = Attached { task: TaskId::new(1, 0).unwrap(), alias: None, rights: Prot::Read };
/// assert_eq!(a.rights, Prot::Read);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    /// Which incarnation.
    pub task: TaskId,
    /// Its alias, if it has one.
    pub alias: Option<Name>,
    /// Its rights to the object.
    pub rights: Prot,
}

/// Why a page is not a valid header.
///
/// ```
/// use libshm::header::{Header, HeaderError};
/// assert_eq!(Header::decode(&[0; 4096]), Err(HeaderError::BadMagic));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The buffer is shorter than [`HEADER_BYTES`].
    Short,
    /// Not a header.
    BadMagic,
    /// A header of another layout version.
    BadVersion,
    /// A field holds an impossible value.
    Corrupt,
    /// The memory manager was rewriting the page while it was read (see
    /// [`REWRITES_OFFSET`]): read it again.
    Rewriting,
}

/// An object's header.
///
/// ```
/// use libshm::header::{Attached, Header};
/// use libshm::protocol::{Mode, ObjectId, Prot, TaskId};
/// let mut h = Header::new(ObjectId(1), Mode::ClientServer, 2, 1 << 37, 8192, 1 << 20);
/// h.push(Attached { task: TaskId::new(2, 0).unwrap(), alias: None, rights: Prot::ReadWrite }).unwrap();
/// assert_eq!(h.attached().count(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The object's id.
    pub object: ObjectId,
    /// Its mode.
    pub mode: Mode,
    /// The owner's pid.
    pub owner: Pid,
    /// Its address, the same in every process.
    pub base: u64,
    /// Current size in bytes (the header page included).
    pub size: u64,
    /// Largest size.
    pub max_size: u64,
    /// Offset of the data structure's root (patent ¶19, ¶49).
    pub root: u64,
    count: usize,
    entries: [Option<Attached>; MAX_ATTACHMENTS],
}

impl Header {
    /// A header with nobody attached and root offset 0.
    ///
    /// ```
    /// use libshm::header::Header;
    /// use libshm::protocol::{Mode, ObjectId};
    /// assert_eq!(Header::new(ObjectId(1), Mode::Peer, 0, 0, 4096, 4096).root, 0);
    /// ```
    pub fn new(object: ObjectId, mode: Mode, owner: Pid, base: u64, size: u64, max_size: u64) -> Self {
        Header {
            object,
            mode,
            owner,
            base,
            size,
            max_size,
            root: 0,
            count: 0,
            entries: [None; MAX_ATTACHMENTS],
        }
    }

    /// The attached processes, in attach order.
    ///
    /// ```
    /// use libshm::header::Header;
    /// use libshm::protocol::{Mode, ObjectId};
    /// assert!(Header::new(ObjectId(1), Mode::Peer, 0, 0, 4096, 4096).attached().next().is_none());
    /// ```
    pub fn attached(&self) -> impl Iterator<Item = &Attached> + '_ {
        self.entries[..self.count].iter().flatten()
    }

    /// Lists one more process; `Err` with the entry back if the table is full.
    ///
    /// ```
    /// use libshm::header::{Attached, Header};
    /// use libshm::protocol::{Mode, ObjectId, Prot, TaskId};
    /// let mut h = Header::new(ObjectId(1), Mode::Peer, 0, 0, 4096, 4096);
    /// let a = Attached { task: TaskId::new(1, 0).unwrap(), alias: None, rights: Prot::Read };
    /// for _ in 0..libshm::layout::MAX_ATTACHMENTS { h.push(a).unwrap(); }
    /// assert_eq!(h.push(a), Err(a));
    /// ```
    pub fn push(&mut self, a: Attached) -> Result<(), Attached> {
        let slot = self.entries.get_mut(self.count).ok_or(a)?;
        *slot = Some(a);
        self.count += 1;
        Ok(())
    }

    /// Writes the header into the first [`HEADER_BYTES`] of `page` (every
    /// byte of it: unused entries and reserved fields become zero).
    ///
    /// # Panics
    /// If `page` is shorter than [`HEADER_BYTES`].
    ///
    /// ```
    /// use libshm::header::{Header, MAGIC};
    /// use libshm::protocol::{Mode, ObjectId};
    /// let mut page = [0xffu8; 4096];
    /// Header::new(ObjectId(1), Mode::Peer, 0, 0, 4096, 4096).encode(&mut page);
    /// assert_eq!(page[..8], MAGIC.to_le_bytes());
    /// assert_eq!(page[4095], 0);
    /// ```
    pub fn encode(&self, page: &mut [u8]) {
        let Ok(p) = Page::mut_from_bytes(&mut page[..HEADER_BYTES]) else {
            unreachable!("a page is HEADER_BYTES of bytes, with no alignment needed")
        };
        p.as_mut_bytes().fill(0);
        p.magic = MAGIC.into();
        p.version = VERSION.into();
        p.mode = (self.mode as u32).into();
        p.size = self.size.into();
        p.max_size = self.max_size.into();
        p.root = self.root.into();
        p.base = self.base.into();
        p.object = self.object.0.into();
        p.owner = self.owner.into();
        p.count = (self.count as u16).into();
        for (e, a) in p.entries.iter_mut().zip(self.attached()) {
            e.pid = a.task.pid().into();
            e.generation = a.task.generation().into();
            e.rights = a.rights.bits() as u8;
            if let Some(n) = a.alias {
                e.name = *n.padded();
            }
        }
    }

    /// Reads a header, checking every field.
    ///
    /// ```
    /// use libshm::header::{Header, HeaderError};
    /// assert_eq!(Header::decode(&[0; 8]), Err(HeaderError::Short));
    /// ```
    pub fn decode(page: &[u8]) -> Result<Header, HeaderError> {
        let page = page.get(..HEADER_BYTES).ok_or(HeaderError::Short)?;
        let Ok(p) = Page::ref_from_bytes(page) else {
            unreachable!("a page is HEADER_BYTES of bytes, with no alignment needed")
        };
        if p.magic.get() != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if p.version.get() != VERSION {
            return Err(HeaderError::BadVersion);
        }
        let mode = Mode::from_word(p.mode.get().into()).map_err(|_| HeaderError::Corrupt)?;
        let count = usize::from(p.count.get());
        if count > MAX_ATTACHMENTS {
            return Err(HeaderError::Corrupt);
        }
        let mut h = Header::new(
            ObjectId(p.object.get()),
            mode,
            p.owner.get(),
            p.base.get(),
            p.size.get(),
            p.max_size.get(),
        );
        h.root = p.root.get();
        if p.entries[count..].iter().any(|e| e.as_bytes().iter().any(|&b| b != 0)) {
            return Err(HeaderError::Corrupt);
        }
        for e in &p.entries[..count] {
            let task = TaskId::new(e.pid.get(), e.generation.get());
            let rights = Prot::from_bits(e.rights.into()).ok();
            let alias = match e.name {
                [0, ..] => (e.name == [0; NAME_MAX]).then_some(None),
                _ => Name::from_padded(&e.name).ok().map(Some),
            };
            match (task, rights, alias, e.reserved == [0; 3]) {
                (Some(task), Some(rights), Some(alias), true) => {
                    // Cannot overflow: count <= MAX_ATTACHMENTS.
                    let _ = h.push(Attached { task, alias, rights });
                }
                _ => return Err(HeaderError::Corrupt),
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        let mut h =
            Header::new(ObjectId(0x0102_0304), Mode::ClientServer, 7, 0x20_0020_0000, 0x3000, 0x40_0000);
        h.root = 0x1010;
        h.push(Attached {
            task: TaskId::new(7, 1).unwrap(),
            alias: Some(Name::new("owner").unwrap()),
            rights: Prot::ReadWrite,
        })
        .unwrap();
        h.push(Attached { task: TaskId::new(0x0a0b, 0x7ff).unwrap(), alias: None, rights: Prot::Read })
            .unwrap();
        h
    }

    #[test]
    fn layout_is_byte_exact() {
        let mut p = [0u8; HEADER_BYTES];
        sample().encode(&mut p);
        assert_eq!(&p[0..8], b"PEERSHM\x01");
        assert_eq!(p[8..12], [2, 0, 0, 0]);
        assert_eq!(p[12..16], [1, 0, 0, 0]);
        assert_eq!(p[16..24], 0x3000u64.to_le_bytes());
        assert_eq!(p[24..32], 0x40_0000u64.to_le_bytes());
        assert_eq!(p[32..40], 0x1010u64.to_le_bytes());
        assert_eq!(p[40..48], 0x20_0020_0000u64.to_le_bytes());
        assert_eq!(p[48..52], [4, 3, 2, 1]);
        assert_eq!(p[52..54], [7, 0]);
        assert_eq!(p[54..56], [2, 0]);
        assert_eq!(p[64..72], [7, 0, 1, 0, 3, 0, 0, 0]);
        assert_eq!(&p[72..77], b"owner");
        assert_eq!(p[104..112], [0x0b, 0x0a, 0xff, 0x07, 1, 0, 0, 0]);
        assert!(p[112..].iter().all(|&b| b == 0));
        assert_eq!(Header::decode(&p), Ok(sample()));
    }

    #[test]
    fn corrupt_headers_are_refused() {
        let mut p = [0u8; HEADER_BYTES];
        sample().encode(&mut p);
        for (at, v, err) in [
            (8, 1, HeaderError::BadVersion),
            (12, 2, HeaderError::Corrupt),
            (54, 200, HeaderError::Corrupt),
            (68, 2, HeaderError::Corrupt),    // rights write-only
            (70, 1, HeaderError::Corrupt),    // reserved byte
            (72, b' ', HeaderError::Corrupt), // bad alias byte
            (150, 1, HeaderError::Corrupt),   // unused entry not zero
            (67, 0x08, HeaderError::Corrupt), // generation too wide
        ] {
            let mut q = p;
            q[at] = v;
            assert_eq!(Header::decode(&q), Err(err), "byte {at}");
        }
        // The rewrite count is the readers' to check, not a field.
        let mut q = p;
        q[REWRITES_OFFSET] = 7;
        assert_eq!(Header::decode(&q), Ok(sample()));
    }
}
