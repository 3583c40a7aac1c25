//! The server's state: processes (with the paging structures the server
//! made in their VSpaces), objects, their frames, attachments and
//! mappings.

use super::*;

/// A paging structure the server knows about in a VSpace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Table<C> {
    /// `Some` if the server made it (and frees it), `None` if it was already
    /// there (made by the root task, e.g. the level-1 structure shared with
    /// the image).
    pub cap: Option<C>,
    /// Who was charged for it (when the server made it).
    pub payer: Pid,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Process<C> {
    pub task: TaskId,
    pub alias: Option<Name>,
    pub vspace: C,
    pub tables: VecMap<(TableLevel, u64), Table<C>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame<C> {
    pub offset: u64,
    pub size: PageSize,
    pub cap: C,
    /// Whose quota it counts against.
    pub payer: Pid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapping<C> {
    pub prot: Prot,
    pub copy: C,
    /// Who was charged for the copy's slot: the holder, or the caller of
    /// the `mmap_peer` that made it.
    pub payer: Pid,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attachment<C> {
    pub task: TaskId,
    pub rights: Prot,
    /// The frames it has mapped, by index in the object's frames.
    pub maps: VecMap<usize, Mapping<C>>,
    /// Frames it is entitled to but that are not mapped yet (a lazy attach):
    /// mapped on first touch. `munmap_peer` and shrink take frames out, so a
    /// page removed on purpose is never repaired.
    pub pending: Runs,
    /// The notification it asked to be signalled on with on every change
    /// (its cap, charged to it as a slot).
    pub subscriber: Option<C>,
}

impl<C> Attachment<C> {
    /// A new attachment with nothing mapped or pending.
    pub fn new(task: TaskId, rights: Prot) -> Self {
        Attachment { task, rights, maps: VecMap::new(), pending: Runs::new(), subscriber: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Object<C> {
    pub id: ObjectId,
    pub name: Name,
    pub mode: Mode,
    pub client_prot: Prot,
    pub owner: Pid,
    pub base: u64,
    /// Bytes of window reserved: `max_size` rounded up to 2 MiB.
    pub reserve: u64,
    pub size: u64,
    pub max_size: u64,
    pub root: u64,
    /// Cover `[0, size)` in offset order; frame 0 is the header page.
    pub frames: Vec<Frame<C>>,
    pub attachments: Vec<Attachment<C>>,
}

impl<C: Copy> Object<C> {
    pub(super) fn attachment(&self, task: TaskId) -> Option<&Attachment<C>> {
        self.attachments.iter().find(|a| a.task == task)
    }

    pub(super) fn position(&self, task: TaskId) -> Option<usize> {
        self.attachments.iter().position(|a| a.task == task)
    }

    /// The rights `pid` may attach itself with.
    pub(super) fn self_max(&self, pid: Pid) -> Prot {
        match self.mode {
            Mode::ClientServer if pid != self.owner => self.client_prot,
            _ => Prot::ReadWrite,
        }
    }

    /// Owner's operations: grow, shrink, set root, map into others.
    pub(super) fn may_manage(&self, who: TaskId) -> Result<(), Error> {
        match self.mode {
            Mode::ClientServer if who.pid() != self.owner => Err(Error::NotOwner),
            Mode::Peer if self.attachment(who).is_none() => Err(Error::NotAttached),
            _ => Ok(()),
        }
    }

    pub(super) fn contains_addr(&self, addr: u64) -> bool {
        (self.base..self.base + self.reserve).contains(&addr)
    }

    /// Indices of the frames overlapping `[from, to)`, which must not cut a
    /// frame.
    pub(super) fn frames_in(&self, from: u64, to: u64) -> Result<core::ops::Range<usize>, Error> {
        let first = self.frames.partition_point(|f| f.offset + f.size.bytes() <= from);
        let end = self.frames.partition_point(|f| f.offset < to);
        let cuts = |i: usize, at: u64| {
            self.frames.get(i).is_some_and(|f| f.offset < at && at < f.offset + f.size.bytes())
        };
        if cuts(first, from) || (end > 0 && cuts(end - 1, to)) {
            return Err(Error::SplitsLargePage);
        }
        Ok(first..end)
    }

    pub(super) fn info(&self) -> ObjectInfo {
        ObjectInfo { id: self.id, mode: self.mode, base: self.base, size: self.size, max_size: self.max_size }
    }
}

/// A set of pids: a bit each (pids are 16 bits, so 8 KiB, allocated once).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PidSet(alloc::boxed::Box<[u64; PidSet::WORDS]>);

impl PidSet {
    const WORDS: usize = (Pid::MAX as usize + 1) / 64;

    pub fn new() -> Self {
        PidSet(alloc::boxed::Box::new([0; PidSet::WORDS]))
    }

    pub fn insert(&mut self, pid: Pid) {
        self.0[usize::from(pid) / 64] |= 1 << (pid % 64);
    }

    pub fn contains(&self, pid: Pid) -> bool {
        self.0[usize::from(pid) / 64] & 1 << (pid % 64) != 0
    }
}

impl core::fmt::Debug for PidSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PidSet({} pids)", self.0.iter().map(|w| w.count_ones()).sum::<u32>())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State<C> {
    pub procs: PidTable<Process<C>>,
    /// Every pid ever registered: a badge or task id naming one that is no
    /// longer (or differently) registered is an earlier incarnation.
    pub seen: PidSet,
    /// What each pid has been charged for and holds (no entry: nothing).
    pub usage: PidTable<Usage>,
    /// The budget of each registered pid.
    pub budgets: PidTable<Budget>,
    pub objects: VecMap<ObjectId, Object<C>>,
    pub next_object: u32,
    /// Header rewrites, twice (see `libshm::header::REWRITES_OFFSET`).
    pub rewrites: u64,
}
