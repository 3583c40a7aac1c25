//! Shared memory as apps use it, on seL4: [`SharedObject`] (one shared
//! object, mapped at the same address in every attached process),
//! [`SharedPtr`] (a typed absolute address in the shared window, valid in
//! every peer) and the patent's C-like [`mmap_peer`] / [`munmap_peer`].
//!
//! Every call that changes an object is one request to the memory manager
//! through the app's cap in [`slots::MEMORY_MANAGER`]. Reading and writing
//! the object is plain volatile loads and stores, with no message at all:
//! when a peer grows the object, the new pages are mapped here before its
//! grow returns, and the header page (mapped read-only into every attached
//! process) shows the new size ([`SharedObject::sync_size`]).
//!
//! Accesses are checked where it is cheap: word offsets against the size
//! this handle last knew (a panic when out of bounds), pointers against the
//! shared window. A page another process removed (shrink, `munmap_peer`)
//! faults on touch: the supervisor is told the address and ends the process.
//!
//! This module exists only when built for seL4 (`target_os = "none"`). Its
//! examples are whole programs (hidden lines give each the `runtime` entry
//! point) that `make doc-test` compiles for both bare-metal targets; they
//! are not run, since they need a running memory manager. The on-target
//! suite makes the same calls for real.
//!
//! ```no_run
//! # #![no_std]
//! # #![no_main]
//! # runtime::entry!(main);
//! # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
//! # fn example() -> Result<(), libshm::protocol::Error> {
//! # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
//! use libshm::protocol::{Mode, Prot};
//! use libshm::shm::SharedObject;
//! let mut table = SharedObject::create("table", Mode::Peer, 2 * 4096, 1 << 20, Prot::ReadWrite)?;
//! table.store(4096, 42);
//! table.grow(4 * 4096)?; // every attached peer has 4 pages mapped now
//! table.store(3 * 4096, 7);
//! table.destroy()?;
//! # Ok(()) }
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::sync::atomic::{fence, Ordering};

use crate::client::Ipc;
use crate::header::{
    attached_in_word, Header, HeaderError, COUNTS_WORD_OFFSET, HEADER_BYTES, ROOT_OFFSET, SIZE_OFFSET,
};
use crate::layout::{slots, PAGE_SIZE};
use crate::mapped;
pub use crate::mapped::Plain;
use crate::pool::{check_word, PoolError, SharedMemory};
use crate::protocol::{
    AttachInfo, Client, Error, MapFlags, Mode, Name, ObjectId, ObjectInfo, ObjectStat, Prot, Target,
};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The memory manager, through this process's cap to it.
/// The header page of the object at `base`, decoded (see
/// [`SharedObject::header`]).
pub(crate) fn header_at(base: u64) -> Result<Header, HeaderError> {
    const WORDS: usize = HEADER_BYTES / size_of::<u64>();
    let rewrites_at = base + crate::header::REWRITES_OFFSET as u64;
    let rewrites = || mapped::with_atomic_u64(rewrites_at, |w| w.load(core::sync::atomic::Ordering::Acquire));
    let before = rewrites();
    if before % 2 == 1 {
        return Err(HeaderError::Rewriting);
    }
    let words: [u64; WORDS] = mapped::read(base);
    // The copy is done before the count is read again.
    core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    if rewrites() != before {
        return Err(HeaderError::Rewriting);
    }
    let mut page = [0u8; HEADER_BYTES];
    for (chunk, w) in page.chunks_exact_mut(size_of::<u64>()).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    Header::decode(&page)
}

fn mm() -> Ipc {
    Ipc::new(slots::MEMORY_MANAGER)
}

/// `mmap_peer(pid, addr, len, prot, flags, fd, off)`: maps `len` bytes
/// (rounded up to whole pages) of object `fd` from offset `off` into process
/// `pid` (a pid, an exact incarnation, an alias, or [`Target::CALLER`], pid
/// 0), and returns the address mapped. The target becomes attached if it
/// was not, with `prot` as its rights; [`Prot::None`] attaches it with no
/// access (nothing is mapped, any touch faults).
///
/// As in QNX, `addr` is a hint unless `flags` has `MAP_FIXED`. Unlike QNX,
/// an object is mapped at one address in every process (so that pointers
/// inside it work in every peer): the result is always the object's base
/// plus `off`, and with `MAP_FIXED` any other `addr` is refused with
/// [`Error::WrongAddress`] (`ENXIO`). Pages the target already has keep
/// their mapping and rights.
///
/// Only an attached peer (peer mode) or the owner (client-server mode) may
/// map into another process; anyone may map into itself within the rights
/// it could attach with. `prot` may not exceed what the target holds or the
/// caller may grant ([`Error::RightsExceeded`]). `off` must be page-aligned
/// ([`Error::Unaligned`]) and `off + len` inside the object's current size
/// ([`Error::OutsideObject`], `ENXIO`).
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::protocol::{MapFlags, Name, Prot, Target};
/// let viewer = Target::Alias(Name::new("viewer")?);
/// let addr = libshm::shm::mmap_peer(viewer, 0, 4096, Prot::Read, MapFlags::SHARED, table.id(), 4096)?;
/// assert_eq!(addr, table.base() + 4096);
/// # Ok(()) }
/// ```
pub fn mmap_peer(
    pid: Target,
    addr: u64,
    len: u64,
    prot: Prot,
    flags: MapFlags,
    fd: ObjectId,
    off: u64,
) -> Result<u64, Error> {
    mm().mmap_peer(pid, addr, len, prot, flags, fd, off)
}

/// `munmap_peer(pid, addr, len)`: removes every mapping process `pid` (pid
/// 0 is the caller) has in `[addr, addr + len)`, `len` rounded up to whole
/// pages, across objects. The next touch there faults. As in QNX, pages
/// with no mapping are left alone, so a range with none succeeds and
/// changes nothing.
///
/// `addr` must be page-aligned ([`Error::Unaligned`]) and the range inside
/// the shared window ([`Error::OutsideWindow`], `EINVAL`). A 2 MiB frame goes
/// whole or not at all ([`Error::SplitsLargePage`]: QNX would split it; a
/// seL4 large frame cannot be). The caller may always unmap from itself;
/// from others only where it could map into them ([`mmap_peer`]), checked
/// for every object the range touches before anything is removed.
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::protocol::Target;
/// libshm::shm::munmap_peer(Target::Pid(7), table.base() + 4096, 4096)?;
/// # Ok(()) }
/// ```
pub fn munmap_peer(pid: Target, addr: u64, len: u64) -> Result<(), Error> {
    mm().munmap_peer(pid, addr, len)
}

/// What [`SharedObject::wait_for_change`] found: the object's size and
/// root offset after the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Its size (every page up to it is mapped here already).
    pub size: u64,
    /// Its root offset.
    pub root: u64,
}

/// How long [`SharedObject::wait_for_change`] waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Until a change comes (blocked in the kernel).
    Never,
    /// At most this many yields of the processor, polling between them.
    Yields(u32),
}

/// A shared object this process is attached to: its address (the same in
/// every attached process), the size it last knew, and its rights.
///
/// Dropping the handle leaves the process attached (the mappings stay until
/// [`SharedObject::detach`] or the process ends).
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::protocol::Prot;
/// let table = libshm::shm::SharedObject::open("table", Prot::Read)?;
/// let first = table.load(table.root()?);
/// # Ok(()) }
/// ```
pub struct SharedObject {
    id: ObjectId,
    mode: Mode,
    base: u64,
    size: u64,
    max_size: u64,
    prot: Prot,
}

impl fmt::Debug for SharedObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedObject({:?} at {:#x}, {} bytes, {:?})", self.id, self.base, self.size, self.prot)
    }
}

impl SharedObject {
    /// Creates an object named `name` (`size` bytes now, at most `max_size`,
    /// both page-aligned; the first page is the header) and attaches the
    /// caller read-write. The caller owns it; `client_prot` is the widest
    /// rights a client may attach with in [`Mode::ClientServer`] (must be
    /// [`Prot::ReadWrite`] in [`Mode::Peer`]). If the attach fails the object
    /// is destroyed again.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use libshm::protocol::{Mode, Prot};
    /// let t = libshm::shm::SharedObject::create("t", Mode::ClientServer, 8192, 1 << 20, Prot::Read)?;
    /// # Ok(()) }
    /// ```
    pub fn create(
        name: &str,
        mode: Mode,
        size: u64,
        max_size: u64,
        client_prot: Prot,
    ) -> Result<SharedObject, Error> {
        let name = Name::new(name)?;
        let info = mm().create(name, mode, size, max_size, client_prot)?;
        SharedObject::attach(info, Prot::ReadWrite).inspect_err(|_| {
            // Leave no object nobody is attached to; the attach error is
            // the one to report.
            let _ = mm().destroy(info.id);
        })
    }

    /// Finds the object named `name` and attaches the caller with `prot`.
    /// The handle knows the object's address and current size;
    /// [`SharedObject::root`] gives where its data structure starts.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let t = libshm::shm::SharedObject::open("t", libshm::protocol::Prot::ReadWrite)?;
    /// # Ok(()) }
    /// ```
    pub fn open(name: &str, prot: Prot) -> Result<SharedObject, Error> {
        let info = mm().open(Name::new(name)?)?;
        SharedObject::attach(info, prot)
    }

    /// As [`SharedObject::open`], but only the header page is mapped now:
    /// every other page is mapped by the memory manager on first touch (the
    /// supervisor forwards the fault), with no message to this process.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let t = libshm::shm::SharedObject::open_lazy("t", libshm::protocol::Prot::Read)?;
    /// # Ok(()) }
    /// ```
    pub fn open_lazy(name: &str, prot: Prot) -> Result<SharedObject, Error> {
        let info = mm().open(Name::new(name)?)?;
        SharedObject::attached(info, prot, mm().attach_lazy(info.id, prot)?)
    }

    /// A handle on an object another process mapped into this one with
    /// [`mmap_peer`] (this process is attached, but did not attach itself):
    /// finds it by name and asks for its size and this process's rights.
    /// [`Error::NotAttached`] if no mapping was made here. Only the ranges the
    /// mapper chose (and the header page) are mapped; touching another page
    /// of the object faults.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let t = libshm::shm::SharedObject::adopt("t")?;
    /// # Ok(()) }
    /// ```
    pub fn adopt(name: &str) -> Result<SharedObject, Error> {
        let info = mm().open(Name::new(name)?)?;
        let stat = mm().stat(info.id)?;
        let prot = stat.rights.ok_or(Error::NotAttached)?;
        Ok(SharedObject::known(stat.info, prot))
    }

    fn known(info: ObjectInfo, prot: Prot) -> SharedObject {
        SharedObject {
            id: info.id,
            mode: info.mode,
            base: info.base,
            size: info.size,
            max_size: info.max_size,
            prot,
        }
    }

    fn attach(info: ObjectInfo, prot: Prot) -> Result<SharedObject, Error> {
        SharedObject::attached(info, prot, mm().attach(info.id, prot)?)
    }

    /// The handle once attached; the object must be where `Open` said.
    fn attached(info: ObjectInfo, prot: Prot, at: AttachInfo) -> Result<SharedObject, Error> {
        if at.base != info.base {
            // The server broke the protocol: no handle to a place we do not know.
            return Err(Error::BadValue);
        }
        Ok(SharedObject { size: at.size, ..SharedObject::known(info, prot) })
    }

    /// The object's id (the patent's `fd`).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # use libshm::protocol::{MapFlags, Prot, Target};
    /// # let (target, prot, flags) = (Target::Pid(7), Prot::Read, MapFlags::SHARED);
    /// let addr = libshm::shm::mmap_peer(target, 0, 4096, prot, flags, table.id(), 4096)?;
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Its address, the same in every attached process.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// assert!(libshm::layout::in_window(table.base(), table.size()));
    /// # Ok(()) }
    /// ```
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Its size in bytes (the header page included) as this handle last
    /// knew it: from the attach, this process's grows and shrinks, or
    /// [`SharedObject::refresh`] / [`SharedObject::sync_size`].
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let pages = table.size() / libshm::layout::PAGE_SIZE;
    /// # Ok(()) }
    /// ```
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The largest size it may grow to.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// assert!(table.size() <= table.max_size());
    /// # Ok(()) }
    /// ```
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Peer or client-server.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// assert_eq!(table.mode(), libshm::protocol::Mode::Peer);
    /// # Ok(()) }
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// This process's rights to it.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// if table.prot().writable() { table.store(4096, 1) }
    /// # Ok(()) }
    /// ```
    pub fn prot(&self) -> Prot {
        self.prot
    }

    /// Asks the memory manager for the current size (`Stat`), remembers and
    /// returns it.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let size = table.refresh()?;
    /// # Ok(()) }
    /// ```
    pub fn refresh(&mut self) -> Result<u64, Error> {
        self.size = self.stat()?.info.size;
        Ok(self.size)
    }

    /// The memory manager's description of the object (`Stat`): geometry,
    /// root, how many are attached, this process's rights, the owner.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let owner = table.stat()?.owner;
    /// # Ok(()) }
    /// ```
    pub fn stat(&self) -> Result<ObjectStat, Error> {
        mm().stat(self.id)
    }

    /// Reads the current size from the header page, with no message at all
    /// (the server writes it there once every attached process has the new
    /// pages mapped), remembers and returns it.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let old = table.size();
    /// if table.sync_size() > old { let v = table.load(old); }
    /// # Ok(()) }
    /// ```
    pub fn sync_size(&mut self) -> u64 {
        self.size = mapped::read(self.base + SIZE_OFFSET);
        self.size
    }

    /// How many processes are attached now, from the header page (no
    /// message).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// while table.attached_count() < 3 { /* wait for the readers */ }
    /// # Ok(()) }
    /// ```
    pub fn attached_count(&self) -> u16 {
        attached_in_word(mapped::read(self.base + COUNTS_WORD_OFFSET))
    }

    /// The whole header page, decoded (no message). The server may rewrite
    /// it while it is being copied here, so a decode error or a mix of two
    /// states is possible while the object changes: read again then.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// if let Ok(header) = table.header() {
    ///     for a in header.attached() { /* a.task, a.alias, a.rights */ }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn header(&self) -> Result<Header, HeaderError> {
        header_at(self.base)
    }

    /// Grows the object to `new_size` bytes (page-aligned); before this
    /// returns, the new (zero-filled) pages are mapped into every attached
    /// process. Returns the new size. In client-server mode only the owner
    /// may ([`Error::NotOwner`]).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// table.grow(table.size() + 4096)?;
    /// # Ok(()) }
    /// ```
    pub fn grow(&mut self, new_size: u64) -> Result<u64, Error> {
        self.size = mm().grow(self.id, new_size)?;
        Ok(self.size)
    }

    /// Shrinks the object to `new_size` bytes (page-aligned, at least the
    /// header page); the cut pages leave every attached process at once.
    /// Returns the new size. In client-server mode only the owner may.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// table.shrink(2 * 4096)?;
    /// # Ok(()) }
    /// ```
    pub fn shrink(&mut self, new_size: u64) -> Result<u64, Error> {
        self.size = mm().shrink(self.id, new_size)?;
        Ok(self.size)
    }

    /// Records `offset` as where the object's data structure starts
    /// (patent \[19\], \[49\]): every process that attaches later learns it.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # let head = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, 4096);
    /// table.set_root(head.offset_in(&table).unwrap())?;
    /// # Ok(()) }
    /// ```
    pub fn set_root(&self, offset: u64) -> Result<(), Error> {
        mm().set_root(self.id, offset)
    }

    /// The offset of the data structure's root (0 until someone sets it).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use libshm::shm::SharedPtr;
    /// let head: SharedPtr<[u64; 2]> = SharedPtr::from_offset(&table, table.root()?);
    /// # Ok(()) }
    /// ```
    pub fn root(&self) -> Result<u64, Error> {
        mm().get_root(self.id)
    }

    /// The address of the word at `offset`, if it is 8-aligned and inside
    /// the size this handle knows.
    fn word_addr(&self, offset: u64) -> Result<u64, PoolError> {
        check_word(offset, self.size)?;
        Ok(self.base + offset)
    }

    /// The address of the word at `offset` for a store: as
    /// [`SharedObject::word_addr`], and writable by this process.
    fn writable_word_addr(&self, offset: u64) -> Result<u64, PoolError> {
        self.may_write(offset)?;
        self.word_addr(offset)
    }

    /// Whether this process may store at `offset`: not in the header page
    /// (the server's alone), and only with write rights.
    pub(crate) fn may_write(&self, offset: u64) -> Result<(), PoolError> {
        if !self.prot.writable() || offset < PAGE_SIZE {
            return Err(PoolError::ReadOnly);
        }
        Ok(())
    }

    /// Reads the word at `offset` (volatile).
    ///
    /// # Panics
    /// If `offset` is not 8-aligned or the word is not inside
    /// [`SharedObject::size`]. A page another process removed faults.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let v = table.load(4096);
    /// # Ok(()) }
    /// ```
    pub fn load(&self, offset: u64) -> u64 {
        match self.word_addr(offset) {
            Ok(addr) => mapped::read(addr),
            Err(e) => panic!("load at offset {offset:#x} of {self:?}: {e:?}"),
        }
    }

    /// Writes the word at `offset` (volatile).
    ///
    /// # Panics
    /// As [`SharedObject::load`], and for a store into the header page
    /// (the server's alone) or an object this process may only read.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// table.store(4096, 42);
    /// # Ok(()) }
    /// ```
    pub fn store(&self, offset: u64, value: u64) {
        match self.writable_word_addr(offset) {
            Ok(addr) => mapped::write(addr, value),
            Err(e) => panic!("store at offset {offset:#x} of {self:?}: {e:?}"),
        }
    }

    /// [`SharedObject::load`], then an acquire fence: what the writer
    /// stored before its [`SharedObject::store_release`] of this word is
    /// visible after it.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # const FLAG: u64 = 4096; const DATA: u64 = 4104; const READY: u64 = 1;
    /// if table.load_acquire(FLAG) == READY { let v = table.load(DATA); }
    /// # Ok(()) }
    /// ```
    pub fn load_acquire(&self, offset: u64) -> u64 {
        let value = self.load(offset);
        fence(Ordering::Acquire);
        value
    }

    /// A release fence, then [`SharedObject::store`]: publishes every store
    /// before it to a peer that reads this word with
    /// [`SharedObject::load_acquire`].
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # const FLAG: u64 = 4096; const DATA: u64 = 4104; const READY: u64 = 1;
    /// table.store(DATA, 7);
    /// table.store_release(FLAG, READY);
    /// # Ok(()) }
    /// ```
    pub fn store_release(&self, offset: u64, value: u64) {
        fence(Ordering::Release);
        self.store(offset, value);
    }

    /// Asks to be woken on every change of the object: after each grow,
    /// shrink or `set_root` (by any process), once the change is mapped,
    /// the memory manager signals this process's notification
    /// (`layout::slots::NOTIFICATION`), without waiting for anyone, and
    /// [`SharedObject::wait_for_change`] returns. One notification serves
    /// all of a process's subscriptions, so a wake-up may be for another
    /// object: look at what it returns. Detaching ends the subscription.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use libshm::shm::Timeout;
    /// table.subscribe()?;
    /// if let Some(change) = table.wait_for_change(Timeout::Never) {
    ///     let (size, root) = (change.size, change.root);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self) -> Result<(), Error> {
        Ipc::with_cap(slots::MEMORY_MANAGER, slots::NOTIFICATION).subscribe(self.id)
    }

    /// Waits until the memory manager signals a change (see
    /// [`SharedObject::subscribe`]) or `timeout` passes; returns the
    /// object's size and root then, or `None` if nothing came. Waiting
    /// blocks in the kernel ([`Timeout::Never`]); seL4 5.0 (without MCS)
    /// has no timed wait, so a bounded wait polls the notification between
    /// yields ([`Timeout::Yields`]).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use libshm::shm::Timeout;
    /// let grown = table.wait_for_change(Timeout::Yields(1000)).is_some_and(|c| c.size > 8192);
    /// # Ok(()) }
    /// ```
    pub fn wait_for_change(&mut self, timeout: Timeout) -> Option<Change> {
        let signalled = match timeout {
            Timeout::Never => {
                sel4::wait(slots::NOTIFICATION);
                true
            }
            Timeout::Yields(n) => (0..=n).any(|i| {
                if i > 0 {
                    sel4::yield_now();
                }
                sel4::nb_recv(slots::NOTIFICATION).1 & slots::NOTIFICATION_BADGE != 0
            }),
        };
        signalled.then(|| Change { size: self.sync_size(), root: mapped::read(self.base + ROOT_OFFSET) })
    }

    /// A typed pointer to `offset` in this object: [`SharedPtr::from_offset`].
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let counter = table.ptr::<u64>(4096);
    /// # Ok(()) }
    /// ```
    pub fn ptr<T>(&self, offset: u64) -> SharedPtr<T> {
        SharedPtr::from_offset(self, offset)
    }

    /// The object's size now, from its header page (no message): what a
    /// grow or a shrink by another process made it, already mapped.
    fn live_size(&self) -> u64 {
        mapped::read(self.base + SIZE_OFFSET)
    }

    /// The address of `n` values of `T` at `offset`, if they lie inside the
    /// object's current size and `offset` is aligned for `T`.
    fn span<T>(&self, offset: u64, n: usize) -> Result<u64, PoolError> {
        if !offset.is_multiple_of(core::mem::align_of::<T>() as u64) {
            return Err(PoolError::Unaligned);
        }
        let bytes = (size_of::<T>() as u64).checked_mul(n as u64).ok_or(PoolError::OutOfBounds)?;
        match offset.checked_add(bytes) {
            Some(end) if end <= self.live_size() => Ok(self.base + offset),
            _ => Err(PoolError::OutOfBounds),
        }
    }

    /// Copies `dst.len()` values out of the object from `offset` on
    /// (volatile). Checked against the object's size now (the header's, so
    /// what another process just grew it by can be read at once):
    /// [`PoolError::OutOfBounds`] past it, [`PoolError::Unaligned`] for an
    /// offset not aligned for `T`; nothing is copied then. A shrink racing
    /// the copy faults, as any access to a removed page does.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// let mut name = [0u8; 16];
    /// table.read_into(4096, &mut name)?;
    /// # Ok(()) }
    /// ```
    pub fn read_into<T: Plain>(&self, offset: u64, dst: &mut [T]) -> Result<(), PoolError> {
        let at = self.span::<T>(offset, dst.len())?;
        let step = size_of::<T>() as u64;
        for (i, d) in dst.iter_mut().enumerate() {
            *d = mapped::read(at + i as u64 * step);
        }
        Ok(())
    }

    /// Copies `src` into the object from `offset` on (volatile), checked
    /// as [`SharedObject::read_into`] is; [`PoolError::ReadOnly`] for the
    /// header page or an object this process may only read.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// table.write_from(4096, b"hello, peers")?;
    /// # Ok(()) }
    /// ```
    pub fn write_from<T: Plain>(&self, offset: u64, src: &[T]) -> Result<(), PoolError> {
        self.may_write(offset)?;
        let at = self.span::<T>(offset, src.len())?;
        let step = size_of::<T>() as u64;
        for (i, v) in src.iter().enumerate() {
            mapped::write(at + i as u64 * step, *v);
        }
        Ok(())
    }

    /// Detaches this process: every page of the object leaves its address
    /// space.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// table.detach()?;
    /// # Ok(()) }
    /// ```
    pub fn detach(self) -> Result<(), Error> {
        mm().detach(self.id)
    }

    /// Destroys the object (owner, or an attached peer in peer mode), which
    /// no other process may be attached to ([`Error::ObjectBusy`]); this
    /// process is detached first. Its memory goes back to the server.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// table.destroy()?;
    /// # Ok(()) }
    /// ```
    pub fn destroy(self) -> Result<(), Error> {
        mm().destroy(self.id)
    }
}

/// The object as [`crate::pool`] memory, so a [`crate::pool::Pool`] lives
/// in real shared memory and grows it by whole pools (patent \[12\]). Offsets
/// are checked against the size this handle knows: if other processes grow
/// the object too, call [`SharedObject::sync_size`] first.
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::pool::{Pool, SharedMemory};
/// let pool = Pool::create(&mut table, 4096, 16, 4096).expect("room for the pool");
/// let node = pool.alloc(&mut table).expect("a free block");
/// table.store(node, 1);
/// # Ok(()) }
/// ```
impl SharedMemory for SharedObject {
    fn size(&self) -> u64 {
        self.size
    }

    fn load(&self, offset: u64) -> Result<u64, PoolError> {
        self.word_addr(offset).map(mapped::read)
    }

    fn store(&mut self, offset: u64, value: u64) -> Result<(), PoolError> {
        self.writable_word_addr(offset).map(|addr| mapped::write(addr, value))
    }

    fn grow(&mut self, new_size: u64) -> Result<(), PoolError> {
        SharedObject::grow(self, new_size).map(|_| ()).map_err(PoolError::Grow)
    }
}

/// A typed pointer into shared memory: an absolute address in the shared
/// window. Since every attached process has an object at the same address,
/// a `SharedPtr` stored inside the object is valid in every peer (patent
/// \[12\]); it is itself [`Plain`], so it can be stored there.
///
/// Contract: [`SharedPtr::read`] and [`SharedPtr::write`] are safe because
/// they can only reach the shared window, where no Rust object lives: each
/// access checks that the whole `T` is inside the window and aligned (a
/// panic otherwise, e.g. for the null pointer), and `T` must be [`Plain`] so
/// that whatever another process stored is a valid `T`. They do not check
/// that the page is mapped or writable: if not, the access faults and the
/// supervisor ends the process. Accesses are volatile; nothing orders them
/// against other processes' beyond program order (use
/// [`SharedObject::store_release`] / [`SharedObject::load_acquire`] on a
/// flag to publish).
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::shm::SharedPtr;
/// let node: SharedPtr<[u64; 2]> = table.ptr(4096);
/// node.write([42, SharedPtr::<[u64; 2]>::null().addr()]);
/// assert_eq!(node.read()[0], 42);
/// # Ok(()) }
/// ```
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct SharedPtr<T> {
    addr: u64,
    /// Says what it points to without owning one (and without making the
    /// pointer's auto traits depend on `T`).
    _points_to: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedPtr<T> {}

impl<T> PartialEq for SharedPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl<T> Eq for SharedPtr<T> {}

impl<T> fmt::Debug for SharedPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedPtr({:#x})", self.addr)
    }
}

impl<T> SharedPtr<T> {
    /// The null pointer (address 0, outside the window: an access panics).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// assert!(libshm::shm::SharedPtr::<u64>::null().is_null());
    /// # Ok(()) }
    /// ```
    pub const fn null() -> Self {
        SharedPtr::from_addr(0)
    }

    /// Whether it is null.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # use libshm::shm::SharedPtr;
    /// # let mut node = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// while !node.is_null() { node = SharedPtr::from_addr(node.read()[1]); }
    /// # Ok(()) }
    /// ```
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }

    /// The absolute address.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// assert_eq!(table.ptr::<u64>(4096).addr(), table.base() + 4096);
    /// # Ok(()) }
    /// ```
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// A pointer to `addr` (checked at each access, not here).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # use libshm::shm::SharedPtr;
    /// # let mut node = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// let next = SharedPtr::<[u64; 2]>::from_addr(node.read()[1]);
    /// # Ok(()) }
    /// ```
    pub const fn from_addr(addr: u64) -> Self {
        SharedPtr { addr, _points_to: PhantomData }
    }

    /// The pointer to `offset` in `object`.
    ///
    /// # Panics
    /// If a `T` at `offset` would reach past the size `object` knows.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use libshm::shm::SharedPtr;
    /// let head = SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// # Ok(()) }
    /// ```
    pub fn from_offset(object: &SharedObject, offset: u64) -> Self {
        let fits = offset.checked_add(size_of::<T>() as u64).is_some_and(|end| end <= object.size);
        assert!(fits, "SharedPtr at offset {offset:#x} past the end of {object:?}");
        SharedPtr::from_addr(object.base + offset)
    }

    /// Its offset in `object`, if it points inside it.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # let head = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, 4096);
    /// table.set_root(head.offset_in(&table).unwrap())?;
    /// # Ok(()) }
    /// ```
    pub fn offset_in(self, object: &SharedObject) -> Option<u64> {
        self.addr.checked_sub(object.base).filter(|&o| o < object.size)
    }

    /// The same address as a pointer to a `U` (e.g. a field at the start).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # use libshm::shm::SharedPtr;
    /// # let mut node = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// let value: SharedPtr<u64> = node.cast();
    /// # Ok(()) }
    /// ```
    pub const fn cast<U>(self) -> SharedPtr<U> {
        SharedPtr::from_addr(self.addr)
    }

    /// The address `bytes` further on (wrapping; checked at each access).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # use libshm::shm::SharedPtr;
    /// # let mut node = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// let next_field: SharedPtr<u64> = node.cast::<u64>().byte_add(8);
    /// # Ok(()) }
    /// ```
    pub const fn byte_add(self, bytes: u64) -> Self {
        SharedPtr::from_addr(self.addr.wrapping_add(bytes))
    }

    /// The pointer to the field `offset` bytes into the `T`, of the type
    /// `field` names: what [`shared_field!`](crate::shared_field) expands
    /// to, which takes both from the field's name so they cannot disagree.
    /// (Memory-safe whatever the arguments: every access is checked.)
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// let pair: libshm::shm::SharedPtr<[u64; 2]> = table.ptr(4096);
    /// let second = pair.project(8, |p| &p[1]);
    /// second.write(7);
    /// # Ok(()) }
    /// ```
    pub fn project<F>(self, offset: usize, field: fn(&T) -> &F) -> SharedPtr<F> {
        let _ = field;
        SharedPtr::from_addr(self.addr.wrapping_add(offset as u64))
    }
}

impl SharedPtr<u64> {
    /// The same word as an atomic (e.g. a `u64` field reached with
    /// [`shared_field!`](crate::shared_field)).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use core::sync::atomic::Ordering;
    /// let hits = table.ptr::<u64>(4096).atomic();
    /// hits.fetch_add(1, Ordering::Relaxed);
    /// # Ok(()) }
    /// ```
    pub const fn atomic(self) -> crate::sync::SharedAtomicU64 {
        crate::sync::SharedAtomicU64::at(self.addr)
    }
}

impl SharedPtr<u32> {
    /// The same word as an atomic.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// use core::sync::atomic::Ordering;
    /// let flags = table.ptr::<u32>(4096).atomic();
    /// flags.fetch_or(1, Ordering::Release);
    /// # Ok(()) }
    /// ```
    pub const fn atomic(self) -> crate::sync::SharedAtomicU32 {
        crate::sync::SharedAtomicU32::at(self.addr)
    }
}

/// A pointer to a field of the struct a [`SharedPtr`] points to, checked
/// at compile time: `shared_field!(ptr, Type, field)` is a
/// `SharedPtr<FieldType>` (the struct's type is named because `offset_of!`
/// needs it; a wrong one does not compile).
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::protocol::Error> {
/// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
/// use libshm::shared_field;
/// use libshm::shm::SharedPtr;
/// use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
///
/// #[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
/// #[repr(C)]
/// struct Entry {
///     value: u64,
///     next: SharedPtr<Entry>,
/// }
///
/// let head: SharedPtr<Entry> = table.ptr(4096);
/// let next: SharedPtr<SharedPtr<Entry>> = shared_field!(head, Entry, next);
/// next.write(SharedPtr::null());
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! shared_field {
    ($ptr:expr, $ty:ty, $field:ident) => {
        $crate::shm::SharedPtr::<$ty>::project($ptr, ::core::mem::offset_of!($ty, $field), |v: &$ty| {
            &v.$field
        })
    };
}

impl<T: Plain> SharedPtr<T> {
    /// Reads the `T` (volatile).
    ///
    /// # Panics
    /// If the `T` is not wholly inside the shared window or misaligned (the
    /// null pointer included).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # let mut node = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// let [value, next] = node.read();
    /// # Ok(()) }
    /// ```
    pub fn read(self) -> T {
        mapped::read(self.addr)
    }

    /// Writes `value` (volatile).
    ///
    /// # Panics
    /// As [`SharedPtr::read`]. A page mapped read-only faults.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::protocol::Error> {
    /// # let mut table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
    /// # let mut node = libshm::shm::SharedPtr::<[u64; 2]>::from_offset(&table, table.root()?);
    /// node.write([42, 0]);
    /// # Ok(()) }
    /// ```
    pub fn write(self, value: T) {
        mapped::write(self.addr, value)
    }
}
