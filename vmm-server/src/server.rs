//! The memory manager's state machine.
//!
//! Every entry point follows the same three phases, which is what makes a
//! failed request leave the server and every process exactly as they were:
//!
//! 1. **Validate** every field against the current state, with no side
//!    effect at all.
//! 2. **Acquire**: the fallible kernel work (allocating frames and paging
//!    structures, copying caps, mapping), each step recorded in a [`Txn`]. If
//!    any step fails, the log is undone in reverse (copies deleted, structures
//!    and frames freed) and the error returned; the server's tables have not
//!    been touched yet.
//! 3. **Commit**: update the tables, then do the destructive kernel work
//!    (revoke, delete, free), which cannot fail on caps the server holds, and
//!    rewrite the header page.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use libshm::header::{Attached, Header, HEADER_BYTES};
use libshm::layout::{
    in_window, TableLevel, LARGE_PAGE_SIZE, MAX_ATTACHMENTS, MAX_MAPPINGS_PER_PROCESS, MAX_OBJECTS,
    MAX_OBJECT_SIZE, MAX_PROCESSES, PAGE_SIZE, PROCESS_QUOTA_BYTES, WINDOW_BASE, WINDOW_END,
};
use libshm::protocol::{
    Badge, Error, FaultReason, Mode, Name, ObjectId, ObjectInfo, ObjectStat, Pid, Prot, Reply, Request,
    Response, Target, TaskId,
};

use crate::kernel::{Kernel, KernelError, ObjectKind, PageSize};

/// The server's table sizes and quotas; [`Default`] takes them from
/// [`libshm::layout`]. Tests shrink them to reach the "full" paths.
///
/// ```
/// let l = vmm_server::Limits::default();
/// assert_eq!(l.max_objects, libshm::layout::MAX_OBJECTS);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Registered processes at once.
    pub max_processes: usize,
    /// Live objects at once.
    pub max_objects: usize,
    /// Processes attached to one object (at most the header's capacity).
    pub max_attachments: usize,
    /// Frame mappings held by one process.
    pub max_mappings: usize,
    /// Bytes of frames one pid may have paid for (creates and grows).
    pub quota_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_processes: MAX_PROCESSES,
            max_objects: MAX_OBJECTS,
            max_attachments: MAX_ATTACHMENTS,
            max_mappings: MAX_MAPPINGS_PER_PROCESS,
            quota_bytes: PROCESS_QUOTA_BYTES,
        }
    }
}

/// What to do with a thread that faulted in the shared window.
///
/// ```
/// use vmm_server::{FaultOutcome, FaultReason};
/// assert_ne!(FaultOutcome::Resume, FaultOutcome::Report(FaultReason::NotMapped));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// The page is (again) mapped: reply to the fault and the thread resumes.
    Resume,
    /// Not the memory manager's to repair: tell the supervisor why.
    Report(FaultReason),
}

/// A paging structure the server knows about in a VSpace: `Some` if the
/// server made it (and frees it), `None` if it was already there (made by the
/// root task, e.g. the level-1 structure shared with the image).
type TableCap<C> = Option<C>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Process<C> {
    pub task: TaskId,
    pub alias: Option<Name>,
    pub vspace: C,
    pub tables: BTreeMap<(TableLevel, u64), TableCap<C>>,
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attachment<C> {
    pub task: TaskId,
    pub rights: Prot,
    /// One entry per frame of the object, in the same order.
    pub maps: Vec<Option<Mapping<C>>>,
    /// Frames it is entitled to but that are not mapped yet (a lazy attach):
    /// mapped on first touch. `munmap_peer` and shrink take frames out, so a
    /// page removed on purpose is never repaired.
    pub pending: BTreeSet<usize>,
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
    fn attachment(&self, task: TaskId) -> Option<&Attachment<C>> {
        self.attachments.iter().find(|a| a.task == task)
    }

    fn position(&self, task: TaskId) -> Option<usize> {
        self.attachments.iter().position(|a| a.task == task)
    }

    /// The rights `pid` may attach itself with.
    fn self_max(&self, pid: Pid) -> Prot {
        match self.mode {
            Mode::ClientServer if pid != self.owner => self.client_prot,
            _ => Prot::ReadWrite,
        }
    }

    /// Owner's operations: grow, shrink, set root, map into others.
    fn may_manage(&self, who: TaskId) -> Result<(), Error> {
        match self.mode {
            Mode::ClientServer if who.pid() != self.owner => Err(Error::NotOwner),
            Mode::Peer if self.attachment(who).is_none() => Err(Error::NotAttached),
            _ => Ok(()),
        }
    }

    fn contains_addr(&self, addr: u64) -> bool {
        (self.base..self.base + self.reserve).contains(&addr)
    }

    /// Indices of the frames overlapping `[from, to)`, which must not cut a
    /// frame.
    fn frames_in(&self, from: u64, to: u64) -> Result<core::ops::Range<usize>, Error> {
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

    fn info(&self) -> ObjectInfo {
        ObjectInfo { id: self.id, mode: self.mode, base: self.base, size: self.size, max_size: self.max_size }
    }
}

/// Mapping rights of frame `index` for a holder of `prot`: the header page is
/// always read-only, since only the server writes it.
fn frame_prot(index: usize, prot: Prot) -> Prot {
    if index == 0 {
        Prot::Read
    } else {
        prot
    }
}

/// The frames that cover `[from, to)` of an object: a 2 MiB frame for every
/// 2 MiB-aligned 2 MiB chunk entirely inside the range (except the first
/// chunk, which holds the 4 KiB header page), 4 KiB frames elsewhere.
pub(crate) fn frame_plan(from: u64, to: u64) -> Vec<(u64, PageSize)> {
    let mut plan = Vec::new();
    let mut at = from;
    while at < to {
        let size = if at != 0 && at.is_multiple_of(LARGE_PAGE_SIZE) && to - at >= LARGE_PAGE_SIZE {
            PageSize::Large
        } else {
            PageSize::Small
        };
        plan.push((at, size));
        at += size.bytes();
    }
    plan
}

fn kernel_error(e: KernelError) -> Error {
    match e {
        KernelError::OutOfMemory => Error::OutOfMemory,
        _ => Error::Kernel,
    }
}

fn page_aligned(v: u64) -> Result<(), Error> {
    if v.is_multiple_of(PAGE_SIZE) {
        Ok(())
    } else {
        Err(Error::Unaligned)
    }
}

/// Checks `[start, start + len)`: aligned, non-empty, not overflowing.
fn check_range(start: u64, len: u64) -> Result<u64, Error> {
    page_aligned(start)?;
    page_aligned(len)?;
    if len == 0 {
        return Err(Error::ZeroLength);
    }
    start.checked_add(len).ok_or(Error::Overflow)
}

/// The undo log of the acquire phase.
struct Txn<C> {
    frames: Vec<C>,
    copies: Vec<C>,
    tables: Vec<(Pid, TableLevel, u64, TableCap<C>)>,
}

impl<C: Copy> Txn<C> {
    fn new() -> Self {
        Txn { frames: Vec::new(), copies: Vec::new(), tables: Vec::new() }
    }

    /// Undoes everything, in reverse: mappings, then paging structures
    /// (deepest first, as they were made root-first), then frames.
    fn rollback<K: Kernel<Cap = C>>(self, kernel: &mut K, procs: &mut BTreeMap<Pid, Process<C>>) {
        self.copies.into_iter().rev().for_each(|c| kernel.delete(c));
        for (pid, level, vaddr, cap) in self.tables.into_iter().rev() {
            if let Some(p) = procs.get_mut(&pid) {
                p.tables.remove(&(level, vaddr));
            }
            if let Some(c) = cap {
                kernel.free(c);
            }
        }
        self.frames.into_iter().rev().for_each(|c| kernel.free(c));
    }
}

/// Makes sure every paging structure above a frame of `size` at `vaddr`
/// exists in `proc`'s VSpace.
fn ensure_tables<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    txn: &mut Txn<K::Cap>,
    vaddr: u64,
    size: PageSize,
) -> Result<(), Error> {
    for level in TableLevel::ALL.into_iter().filter(|l| *l <= size.table()) {
        let base = level.base_of(vaddr);
        if proc.tables.contains_key(&(level, base)) {
            continue;
        }
        let cap = kernel.alloc(ObjectKind::Table(level)).map_err(kernel_error)?;
        let entry = match kernel.map_table(cap, level, proc.vspace, base) {
            Ok(()) => Some(cap),
            // Someone else (the root task) made this one: use it, never free it.
            Err(KernelError::DeleteFirst) => {
                kernel.free(cap);
                None
            }
            Err(e) => {
                kernel.free(cap);
                return Err(kernel_error(e));
            }
        };
        proc.tables.insert((level, base), entry);
        txn.tables.push((proc.task.pid(), level, base, entry));
    }
    Ok(())
}

/// Maps a copy of `frame` into `proc` at `base + frame.offset`.
fn map_into<K: Kernel>(
    kernel: &mut K,
    proc: &mut Process<K::Cap>,
    txn: &mut Txn<K::Cap>,
    frame: &Frame<K::Cap>,
    base: u64,
    prot: Prot,
) -> Result<Mapping<K::Cap>, Error> {
    let vaddr = base + frame.offset;
    ensure_tables(kernel, proc, txn, vaddr, frame.size)?;
    let copy = kernel.copy(frame.cap).map_err(kernel_error)?;
    txn.copies.push(copy);
    kernel.map_frame(copy, proc.vspace, vaddr, prot).map_err(kernel_error)?;
    Ok(Mapping { prot, copy })
}

/// Frees `pid`'s level-3 structures in `obj`'s range that no longer hold a
/// mapping, so that a later 2 MiB frame can take their slot.
fn release_tables<K: Kernel>(
    kernel: &mut K,
    procs: &mut BTreeMap<Pid, Process<K::Cap>>,
    obj_range: (u64, u64),
    still_mapped: &BTreeSet<u64>,
    pid: Pid,
) {
    let Some(proc) = procs.get_mut(&pid) else {
        return;
    };
    let (base, end) = obj_range;
    let empty: Vec<_> = proc
        .tables
        .range((TableLevel::L3, base)..(TableLevel::L3, end))
        .filter(|((_, va), cap)| cap.is_some() && !still_mapped.contains(va))
        .map(|(k, _)| *k)
        .collect();
    for key in empty {
        if let Some(Some(cap)) = proc.tables.remove(&key) {
            kernel.free(cap);
        }
    }
}

/// The level-3 slots (2 MiB bases) where `att` has a 4 KiB page mapped.
fn small_slots<C: Copy>(obj: &Object<C>, att: Option<&Attachment<C>>) -> BTreeSet<u64> {
    att.into_iter()
        .flat_map(|a| a.maps.iter().zip(&obj.frames))
        .filter(|(m, f)| m.is_some() && f.size == PageSize::Small)
        .map(|(_, f)| TableLevel::L3.base_of(obj.base + f.offset))
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State<C> {
    pub procs: BTreeMap<Pid, Process<C>>,
    pub objects: BTreeMap<ObjectId, Object<C>>,
    pub next_object: u32,
}

/// The memory manager: all of its decisions, over a [`Kernel`].
///
/// ```
/// use vmm_server::{fake::FakeKernel, Server};
/// use libshm::protocol::*;
/// let mut k = FakeKernel::new(64 << 20);
/// let vspace = k.new_vspace();
/// let mut s = Server::new(k);
/// let task = TaskId::new(1, 0).unwrap();
/// let sup = Badge::Supervisor.encode();
/// let r = s.handle(sup, Request::RegisterProcess { task, alias: None }, Some(vspace));
/// assert_eq!(r, Response::Ok(Reply::Done));
/// let me = Badge::Process(task).encode();
/// let create = Request::Create {
///     name: Name::new("t").unwrap(), mode: Mode::Peer,
///     size: 8192, max_size: 1 << 20, client_prot: Prot::ReadWrite,
/// };
/// let Response::Ok(Reply::Object(info)) = s.handle(me, create, None) else { panic!() };
/// let r = s.handle(me, Request::Attach { object: info.id, prot: Prot::ReadWrite }, None);
/// assert_eq!(r, Response::Ok(Reply::Attached { base: info.base, size: 8192, root: 0 }));
/// s.kernel_mut().write_u64(vspace, info.base + 4096, 7).unwrap();
/// ```
#[derive(Debug)]
pub struct Server<K: Kernel> {
    kernel: K,
    limits: Limits,
    pub(crate) state: State<K::Cap>,
}

impl<K: Kernel> Server<K> {
    /// A server with the default [`Limits`].
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert_eq!(s.limits(), vmm_server::Limits::default());
    /// ```
    pub fn new(kernel: K) -> Self {
        Self::with_limits(kernel, Limits::default())
    }

    /// A server with other limits (`max_attachments` is capped at the
    /// header's capacity).
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Limits, Server};
    /// let l = Limits { max_objects: 2, ..Limits::default() };
    /// assert_eq!(Server::with_limits(FakeKernel::new(1 << 20), l).limits().max_objects, 2);
    /// ```
    pub fn with_limits(kernel: K, mut limits: Limits) -> Self {
        limits.max_attachments = limits.max_attachments.min(MAX_ATTACHMENTS);
        Server {
            kernel,
            limits,
            state: State { procs: BTreeMap::new(), objects: BTreeMap::new(), next_object: 1 },
        }
    }

    /// The limits in force.
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert!(s.limits().quota_bytes > 0);
    /// ```
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The kernel.
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert_eq!(s.kernel().free_bytes(), 1 << 20);
    /// ```
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// The kernel, mutably (tests touch memory through it).
    ///
    /// ```
    /// let mut s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// let _ = s.kernel_mut().new_vspace();
    /// ```
    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// An object's identity and geometry, if it exists.
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert!(s.object_info(libshm::protocol::ObjectId(1)).is_none());
    /// ```
    pub fn object_info(&self, id: ObjectId) -> Option<ObjectInfo> {
        self.state.objects.get(&id).map(Object::info)
    }

    /// Decodes and handles one message (the on-target receive loop's call).
    /// `cap` is the cap that came with it, if any; the server keeps it only
    /// when the request consumes it, and deletes it otherwise.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Server};
    /// use libshm::protocol::{Error, Response};
    /// let mut s = Server::new(FakeKernel::new(1 << 20));
    /// assert_eq!(s.handle_message(1, 999, &[], None), Response::Err(Error::UnknownLabel));
    /// ```
    pub fn handle_message(&mut self, badge: u64, label: u64, words: &[u64], cap: Option<K::Cap>) -> Response {
        match Request::decode(label, words) {
            Ok(req) => self.handle(badge, req, cap),
            Err(e) => {
                if let Some(c) = cap {
                    self.kernel.delete(c);
                }
                Response::Err(e)
            }
        }
    }

    /// Handles one decoded request from the sender with this badge. `cap` is
    /// as for [`Server::handle_message`].
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Server};
    /// use libshm::protocol::{Badge, Error, Request, Response, TaskId};
    /// let mut s = Server::new(FakeKernel::new(1 << 20));
    /// let task = TaskId::new(1, 0).unwrap();
    /// let r = s.handle(Badge::Process(task).encode(), Request::UnregisterProcess { task }, None);
    /// assert_eq!(r, Response::Err(Error::NotSupervisor));
    /// ```
    pub fn handle(&mut self, badge: u64, request: Request, cap: Option<K::Cap>) -> Response {
        let mut cap = cap;
        let result = self.dispatch(badge, request, &mut cap);
        if let Some(c) = cap {
            self.kernel.delete(c);
        }
        result.into()
    }

    fn dispatch(&mut self, badge: u64, request: Request, cap: &mut Option<K::Cap>) -> Result<Reply, Error> {
        let badge = Badge::decode(badge)?;
        if request.is_supervisor_only() != (badge == Badge::Supervisor) {
            return Err(match badge {
                Badge::Supervisor => Error::UnknownProcess,
                Badge::Process(_) => Error::NotSupervisor,
            });
        }
        if request.caps_expected() != usize::from(cap.is_some()) {
            return Err(Error::WrongCaps);
        }
        let who = match badge {
            Badge::Supervisor => None,
            Badge::Process(task) => {
                self.live(task)?;
                Some(task)
            }
        };
        // Supervisor requests are handled here; process requests below.
        let who = match (who, request) {
            (None, Request::RegisterProcess { task, alias }) => {
                return self.register_process(task, alias, cap);
            }
            (None, Request::UnregisterProcess { task }) => {
                self.live(task)?;
                self.process_died(task.pid());
                return Ok(Reply::Done);
            }
            (None, Request::ResolveFault { task, addr, write }) => {
                return Ok(match self.handle_fault(task, addr, write) {
                    FaultOutcome::Resume => Reply::Done,
                    FaultOutcome::Report(reason) => Reply::Unrepaired(reason),
                });
            }
            (Some(who), _) => who,
            (None, _) => return Err(Error::UnknownProcess),
        };
        match request {
            Request::RegisterAlias { name } => self.register_alias(who, name),
            Request::LookupAlias { name } => self.find_alias(name).map(Reply::Task),
            Request::Create { name, mode, size, max_size, client_prot } => {
                self.create(who, name, mode, size, max_size, client_prot)
            }
            Request::Open { name } => self
                .state
                .objects
                .values()
                .find(|o| o.name == name)
                .map(|o| Reply::Object(o.info()))
                .ok_or(Error::UnknownName),
            Request::Attach { object, prot } => self.attach(who, object, prot, false),
            Request::AttachLazy { object, prot } => self.attach(who, object, prot, true),
            Request::Detach { object } => self.detach(who, object),
            Request::MmapPeer { target, addr, len, prot, flags: _, object, offset } => {
                self.mmap_peer(who, target, addr, len, prot, object, offset)
            }
            Request::MunmapPeer { target, addr, len } => self.munmap_peer(who, target, addr, len),
            Request::Grow { object, new_size } => self.grow(who, object, new_size),
            Request::Shrink { object, new_size } => self.shrink(who, object, new_size),
            Request::SetRoot { object, offset } => self.set_root(who, object, offset),
            Request::GetRoot { object } => {
                let o = self.object(object)?;
                if o.attachment(who).is_none() && o.owner != who.pid() {
                    return Err(Error::NotAttached);
                }
                Ok(Reply::Root { offset: o.root })
            }
            Request::Stat { object } => {
                let o = self.object(object)?;
                Ok(Reply::Stat(ObjectStat {
                    info: o.info(),
                    root: o.root,
                    attached: o.attachments.len() as u16,
                    rights: o.attachment(who).map(|a| a.rights),
                    owner: o.owner,
                }))
            }
            Request::Destroy { object } => self.destroy(who, object),
            Request::RegisterProcess { .. }
            | Request::UnregisterProcess { .. }
            | Request::ResolveFault { .. } => Err(Error::NotSupervisor),
        }
    }

    /// Checks that `task` is the registered incarnation of its pid.
    fn live(&self, task: TaskId) -> Result<(), Error> {
        match self.state.procs.get(&task.pid()) {
            None => Err(Error::UnknownProcess),
            Some(p) if p.task != task => Err(Error::StaleGeneration),
            Some(_) => Ok(()),
        }
    }

    fn find_alias(&self, name: Name) -> Result<TaskId, Error> {
        self.state.procs.values().find(|p| p.alias == Some(name)).map(|p| p.task).ok_or(Error::UnknownAlias)
    }

    fn resolve(&self, target: Target) -> Result<TaskId, Error> {
        match target {
            Target::Pid(pid) => self.state.procs.get(&pid).map(|p| p.task).ok_or(Error::UnknownProcess),
            Target::Task(task) => self.live(task).map(|()| task),
            Target::Alias(name) => self.find_alias(name),
        }
    }

    fn object(&self, id: ObjectId) -> Result<&Object<K::Cap>, Error> {
        self.state.objects.get(&id).ok_or(Error::UnknownObject)
    }

    /// Mappings `pid` holds over all objects.
    fn mappings_of(&self, pid: Pid) -> usize {
        self.state
            .objects
            .values()
            .flat_map(|o| &o.attachments)
            .filter(|a| a.task.pid() == pid)
            .map(|a| a.maps.iter().flatten().count())
            .sum()
    }

    fn check_mappings(&self, pid: Pid, more: usize) -> Result<(), Error> {
        if self.mappings_of(pid) + more > self.limits.max_mappings {
            return Err(Error::TooManyMappings);
        }
        Ok(())
    }

    /// Checks `pid` may pay for `bytes` more of frames.
    fn check_quota(&self, pid: Pid, bytes: u64) -> Result<(), Error> {
        let used: u64 = self
            .state
            .objects
            .values()
            .flat_map(|o| &o.frames)
            .filter(|f| f.payer == pid)
            .map(|f| f.size.bytes())
            .sum();
        if used.saturating_add(bytes) > self.limits.quota_bytes {
            return Err(Error::QuotaExceeded);
        }
        Ok(())
    }

    /// Allocates frames for `plan`, recording them in `txn`.
    fn alloc_frames(
        &mut self,
        txn: &mut Txn<K::Cap>,
        plan: &[(u64, PageSize)],
        payer: Pid,
    ) -> Result<Vec<Frame<K::Cap>>, Error> {
        plan.iter()
            .map(|&(offset, size)| {
                let cap = self.kernel.alloc(ObjectKind::Frame(size)).map_err(kernel_error)?;
                txn.frames.push(cap);
                Ok(Frame { offset, size, cap, payer })
            })
            .collect()
    }

    /// Maps `frames` (the object's frames from index `first`) into `pid`.
    fn map_frames(
        &mut self,
        txn: &mut Txn<K::Cap>,
        pid: Pid,
        base: u64,
        frames: &[(usize, &Frame<K::Cap>)],
        prot: Prot,
    ) -> Result<Vec<Mapping<K::Cap>>, Error> {
        let proc = self.state.procs.get_mut(&pid).ok_or(Error::UnknownProcess)?;
        frames
            .iter()
            .map(|&(i, f)| map_into(&mut self.kernel, proc, txn, f, base, frame_prot(i, prot)))
            .collect()
    }

    fn rollback<T>(&mut self, txn: Txn<K::Cap>, e: Error) -> Result<T, Error> {
        txn.rollback(&mut self.kernel, &mut self.state.procs);
        Err(e)
    }

    /// Rewrites an object's header page from the tables.
    fn write_header(&mut self, id: ObjectId) {
        let Some(o) = self.state.objects.get(&id) else {
            return;
        };
        let mut h = Header::new(o.id, o.mode, o.owner, o.base, o.size, o.max_size);
        h.root = o.root;
        for a in &o.attachments {
            let alias = self.state.procs.get(&a.task.pid()).and_then(|p| p.alias);
            // Cannot fail: max_attachments <= the header's capacity.
            let _ = h.push(Attached { task: a.task, alias, rights: a.rights });
        }
        let mut page = [0u8; HEADER_BYTES];
        h.encode(&mut page);
        self.kernel.write_frame(o.frames[0].cap, 0, &page);
    }

    fn register_process(
        &mut self,
        task: TaskId,
        alias: Option<Name>,
        cap: &mut Option<K::Cap>,
    ) -> Result<Reply, Error> {
        if self.state.procs.contains_key(&task.pid()) {
            return Err(Error::ProcessExists);
        }
        if let Some(name) = alias {
            if self.find_alias(name).is_ok() {
                return Err(Error::AliasTaken);
            }
        }
        if self.state.procs.len() >= self.limits.max_processes {
            return Err(Error::TooManyProcesses);
        }
        let vspace = cap.take().ok_or(Error::WrongCaps)?;
        self.state.procs.insert(task.pid(), Process { task, alias, vspace, tables: BTreeMap::new() });
        Ok(Reply::Done)
    }

    fn register_alias(&mut self, who: TaskId, name: Name) -> Result<Reply, Error> {
        match self.find_alias(name) {
            Ok(t) if t != who => return Err(Error::AliasTaken),
            _ => {}
        }
        if let Some(p) = self.state.procs.get_mut(&who.pid()) {
            p.alias = Some(name);
        }
        let attached: Vec<_> =
            self.state.objects.values().filter(|o| o.attachment(who).is_some()).map(|o| o.id).collect();
        attached.into_iter().for_each(|id| self.write_header(id));
        Ok(Reply::Done)
    }

    /// First fit of `reserve` bytes in the window, 2 MiB-aligned.
    fn place(&self, reserve: u64) -> Result<u64, Error> {
        let mut used: Vec<(u64, u64)> =
            self.state.objects.values().map(|o| (o.base, o.base + o.reserve)).collect();
        used.sort_unstable();
        let mut at = WINDOW_BASE;
        for (start, end) in used {
            if start - at >= reserve {
                break;
            }
            at = end;
        }
        if WINDOW_END - at >= reserve {
            Ok(at)
        } else {
            Err(Error::WindowFull)
        }
    }

    fn create(
        &mut self,
        who: TaskId,
        name: Name,
        mode: Mode,
        size: u64,
        max_size: u64,
        client_prot: Prot,
    ) -> Result<Reply, Error> {
        if size == 0 || max_size == 0 {
            return Err(Error::ZeroLength);
        }
        page_aligned(size)?;
        page_aligned(max_size)?;
        if size > max_size || (mode == Mode::Peer && client_prot != Prot::ReadWrite) {
            return Err(Error::BadGeometry);
        }
        if max_size > MAX_OBJECT_SIZE {
            return Err(Error::TooLarge);
        }
        if self.state.objects.values().any(|o| o.name == name) {
            return Err(Error::NameTaken);
        }
        if self.state.objects.len() >= self.limits.max_objects {
            return Err(Error::TooManyObjects);
        }
        self.check_quota(who.pid(), size)?;
        let reserve = max_size.next_multiple_of(LARGE_PAGE_SIZE);
        let base = self.place(reserve)?;

        let mut txn = Txn::new();
        let frames = match self.alloc_frames(&mut txn, &frame_plan(0, size), who.pid()) {
            Ok(f) => f,
            Err(e) => return self.rollback(txn, e),
        };
        let id = ObjectId(self.state.next_object);
        self.state.next_object = self.state.next_object.wrapping_add(1).max(1);
        let obj = Object {
            id,
            name,
            mode,
            client_prot,
            owner: who.pid(),
            base,
            reserve,
            size,
            max_size,
            root: 0,
            frames,
            attachments: Vec::new(),
        };
        let info = obj.info();
        self.state.objects.insert(id, obj);
        self.write_header(id);
        Ok(Reply::Object(info))
    }

    /// Attaches `who`; `lazy` maps only the header page now and leaves the
    /// others pending for [`Server::handle_fault`].
    fn attach(&mut self, who: TaskId, id: ObjectId, prot: Prot, lazy: bool) -> Result<Reply, Error> {
        let o = self.object(id)?;
        if o.attachment(who).is_some() {
            return Err(Error::AlreadyAttached);
        }
        if !o.self_max(who.pid()).allows(prot) {
            return Err(Error::RightsExceeded);
        }
        if o.attachments.len() >= self.limits.max_attachments {
            return Err(Error::TooManyAttachments);
        }
        let now = if lazy { 1 } else { o.frames.len() };
        self.check_mappings(who.pid(), now)?;

        let frames: Vec<_> = o.frames.iter().cloned().enumerate().take(now).collect();
        let pending = (now..o.frames.len()).collect();
        let base = o.base;
        let refs: Vec<_> = frames.iter().map(|(i, f)| (*i, f)).collect();
        let mut txn = Txn::new();
        let maps = match self.map_frames(&mut txn, who.pid(), base, &refs, prot) {
            Ok(m) => m,
            Err(e) => return self.rollback(txn, e),
        };
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        let mut maps: Vec<_> = maps.into_iter().map(Some).collect();
        maps.resize(o.frames.len(), None);
        o.attachments.push(Attachment { task: who, rights: prot, maps, pending });
        let reply = Reply::Attached { base: o.base, size: o.size, root: o.root };
        self.write_header(id);
        Ok(reply)
    }

    /// Removes `task`'s attachment to `id`, deleting its mappings and the
    /// paging structures that become empty.
    fn drop_attachment(&mut self, id: ObjectId, task: TaskId) {
        let Some(o) = self.state.objects.get_mut(&id) else {
            return;
        };
        let Some(i) = o.position(task) else {
            return;
        };
        let att = o.attachments.remove(i);
        att.maps.into_iter().flatten().for_each(|m| self.kernel.delete(m.copy));
        let range = (o.base, o.base + o.reserve);
        release_tables(&mut self.kernel, &mut self.state.procs, range, &BTreeSet::new(), task.pid());
        self.write_header(id);
    }

    fn detach(&mut self, who: TaskId, id: ObjectId) -> Result<Reply, Error> {
        if self.object(id)?.attachment(who).is_none() {
            return Err(Error::NotAttached);
        }
        self.drop_attachment(id, who);
        Ok(Reply::Done)
    }

    #[allow(clippy::too_many_arguments)]
    fn mmap_peer(
        &mut self,
        who: TaskId,
        target: Target,
        addr: u64,
        len: u64,
        prot: Prot,
        id: ObjectId,
        offset: u64,
    ) -> Result<Reply, Error> {
        let o = self.object(id)?;
        let target = self.resolve(target)?;
        // Authority: whose grant bounds the rights of a new attachment.
        let grant = if target == who {
            o.self_max(who.pid())
        } else {
            o.may_manage(who)?;
            match o.mode {
                Mode::ClientServer => Prot::ReadWrite,
                Mode::Peer => o.attachment(who).map_or(Prot::Read, |a| a.rights),
            }
        };
        let end = check_range(offset, len)?;
        if end > o.size {
            return Err(Error::OutsideObject);
        }
        if addr != 0 && Some(addr) != o.base.checked_add(offset) {
            return Err(Error::WrongAddress);
        }
        let range = o.frames_in(offset, end)?;
        let att = o.attachment(target);
        let bound = att.map_or(grant, |a| a.rights);
        if !bound.allows(prot) {
            return Err(Error::RightsExceeded);
        }
        if att.is_none() && o.attachments.len() >= self.limits.max_attachments {
            return Err(Error::TooManyAttachments);
        }
        // Pages already mapped keep their mapping (and rights); a new
        // attachment also gets the header page.
        let todo: Vec<(usize, Frame<K::Cap>)> = o
            .frames
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| {
                let wanted = range.contains(i) || (att.is_none() && *i == 0);
                wanted && att.is_none_or(|a| a.maps[*i].is_none())
            })
            .collect();
        self.check_mappings(target.pid(), todo.len())?;

        let base = o.base;
        let attaching = att.is_none();
        let refs: Vec<_> = todo.iter().map(|(i, f)| (*i, f)).collect();
        let mut txn = Txn::new();
        let maps = match self.map_frames(&mut txn, target.pid(), base, &refs, prot) {
            Ok(m) => m,
            Err(e) => return self.rollback(txn, e),
        };
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        if attaching {
            o.attachments.push(Attachment {
                task: target,
                rights: prot,
                maps: alloc::vec![None; o.frames.len()],
                pending: BTreeSet::new(),
            });
        }
        let i = o.position(target).ok_or(Error::NotAttached)?;
        for ((f, _), m) in todo.iter().zip(maps) {
            o.attachments[i].maps[*f] = Some(m);
        }
        if attaching {
            self.write_header(id);
        }
        Ok(Reply::Mapped { addr: base + offset })
    }

    fn munmap_peer(&mut self, who: TaskId, target: Target, addr: u64, len: u64) -> Result<Reply, Error> {
        let target = self.resolve(target)?;
        let end = check_range(addr, len)?;
        if !in_window(addr, len) {
            return Err(Error::OutsideWindow);
        }
        let o = self.state.objects.values().find(|o| o.contains_addr(addr)).ok_or(Error::OutsideObject)?;
        if target != who {
            o.may_manage(who)?;
        }
        if o.attachment(target).is_none() {
            return Err(Error::NotAttached);
        }
        if end > o.base + o.size {
            return Err(Error::OutsideObject);
        }
        let range = o.frames_in(addr - o.base, end - o.base)?;

        let id = o.id;
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        let i = o.position(target).ok_or(Error::NotAttached)?;
        o.attachments[i].pending.retain(|f| !range.contains(f));
        for m in o.attachments[i].maps[range].iter_mut() {
            if let Some(m) = m.take() {
                self.kernel.delete(m.copy);
            }
        }
        let still = small_slots(o, Some(&o.attachments[i]));
        let obj_range = (o.base, o.base + o.reserve);
        release_tables(&mut self.kernel, &mut self.state.procs, obj_range, &still, target.pid());
        Ok(Reply::Done)
    }

    fn grow(&mut self, who: TaskId, id: ObjectId, new_size: u64) -> Result<Reply, Error> {
        let o = self.object(id)?;
        o.may_manage(who)?;
        page_aligned(new_size)?;
        if new_size <= o.size {
            return Err(Error::NotGrowing);
        }
        if new_size > o.max_size {
            return Err(Error::TooLarge);
        }
        let plan = frame_plan(o.size, new_size);
        self.check_quota(who.pid(), new_size - o.size)?;
        let peers: Vec<(TaskId, Prot)> = o.attachments.iter().map(|a| (a.task, a.rights)).collect();
        for (task, _) in &peers {
            self.check_mappings(task.pid(), plan.len())?;
        }

        let base = o.base;
        let first = o.frames.len();
        let mut txn = Txn::new();
        let frames = match self.alloc_frames(&mut txn, &plan, who.pid()) {
            Ok(f) => f,
            Err(e) => return self.rollback(txn, e),
        };
        let refs: Vec<_> = frames.iter().enumerate().map(|(i, f)| (first + i, f)).collect();
        let mut maps = Vec::with_capacity(peers.len());
        for (task, rights) in &peers {
            match self.map_frames(&mut txn, task.pid(), base, &refs, *rights) {
                Ok(m) => maps.push(m),
                Err(e) => return self.rollback(txn, e),
            }
        }
        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        o.frames.extend(frames);
        for (a, m) in o.attachments.iter_mut().zip(maps) {
            a.maps.extend(m.into_iter().map(Some));
        }
        o.size = new_size;
        self.write_header(id);
        Ok(Reply::Size { size: new_size })
    }

    fn shrink(&mut self, who: TaskId, id: ObjectId, new_size: u64) -> Result<Reply, Error> {
        let o = self.object(id)?;
        o.may_manage(who)?;
        page_aligned(new_size)?;
        if new_size >= o.size || new_size < PAGE_SIZE {
            return Err(Error::NotShrinking);
        }
        let cut = o.frames_in(new_size, o.size)?.start;

        let o = self.state.objects.get_mut(&id).ok_or(Error::UnknownObject)?;
        // Revoking the originals takes every copy, and so every mapping in
        // every process, in one step each.
        for f in o.frames.drain(cut..).rev() {
            self.kernel.revoke(f.cap);
            self.kernel.free(f.cap);
        }
        o.attachments.iter_mut().for_each(|a| {
            a.maps.truncate(cut);
            a.pending.retain(|f| *f < cut);
        });
        o.size = new_size;
        if o.root >= new_size {
            o.root = 0;
        }
        let range = (o.base, o.base + o.reserve);
        let slots: Vec<(Pid, BTreeSet<u64>)> =
            o.attachments.iter().map(|a| (a.task.pid(), small_slots(o, Some(a)))).collect();
        for (pid, still) in slots {
            release_tables(&mut self.kernel, &mut self.state.procs, range, &still, pid);
        }
        self.write_header(id);
        Ok(Reply::Size { size: new_size })
    }

    fn set_root(&mut self, who: TaskId, id: ObjectId, offset: u64) -> Result<Reply, Error> {
        let o = self.object(id)?;
        o.may_manage(who)?;
        if offset >= o.size {
            return Err(Error::OutsideObject);
        }
        if let Some(o) = self.state.objects.get_mut(&id) {
            o.root = offset;
        }
        self.write_header(id);
        Ok(Reply::Done)
    }

    fn destroy(&mut self, who: TaskId, id: ObjectId) -> Result<Reply, Error> {
        let o = self.object(id)?;
        if o.owner != who.pid() {
            o.may_manage(who)?;
        }
        if o.attachments.iter().any(|a| a.task != who) {
            return Err(Error::ObjectBusy);
        }
        self.drop_attachment(id, who);
        if let Some(o) = self.state.objects.remove(&id) {
            for f in o.frames.into_iter().rev() {
                self.kernel.revoke(f.cap);
                self.kernel.free(f.cap);
            }
        }
        Ok(Reply::Done)
    }

    /// A process is gone (died, or the supervisor unregistered it): it leaves
    /// every object's header, its mappings and paging structures are freed
    /// and its VSpace cap deleted. Objects it owns stay (a restart of the
    /// same pid owns them again). Unknown pids are ignored.
    ///
    /// ```
    /// let mut s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// s.process_died(42);
    /// ```
    pub fn process_died(&mut self, pid: Pid) {
        let Some(task) = self.state.procs.get(&pid).map(|p| p.task) else {
            return;
        };
        let ids: Vec<ObjectId> = self.state.objects.keys().copied().collect();
        ids.into_iter().for_each(|id| self.drop_attachment(id, task));
        if let Some(p) = self.state.procs.remove(&pid) {
            // Deepest level first, so no structure is freed under another.
            let mut tables: Vec<_> = p.tables.into_iter().collect();
            tables.sort_by_key(|((level, _), _)| core::cmp::Reverse(*level));
            for (_, cap) in tables {
                if let Some(c) = cap {
                    self.kernel.free(c);
                }
            }
            self.kernel.delete(p.vspace);
        }
    }

    /// A thread of `task` faulted at `addr` in the shared window. If the page
    /// belongs to an object it is attached to and it holds a mapping there
    /// with enough rights, the mapping is made again and the thread may
    /// resume (lazy repair); anything else is reported.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, FaultOutcome, FaultReason, Server};
    /// use libshm::protocol::TaskId;
    /// let mut s = Server::new(FakeKernel::new(1 << 20));
    /// let t = TaskId::new(1, 0).unwrap();
    /// assert_eq!(s.handle_fault(t, 0, false), FaultOutcome::Report(FaultReason::UnknownProcess));
    /// ```
    pub fn handle_fault(&mut self, task: TaskId, addr: u64, is_write: bool) -> FaultOutcome {
        match self.repair(task, addr, is_write) {
            Ok(()) => FaultOutcome::Resume,
            Err(r) => FaultOutcome::Report(r),
        }
    }

    fn repair(&mut self, task: TaskId, addr: u64, is_write: bool) -> Result<(), FaultReason> {
        self.live(task).map_err(|e| match e {
            Error::StaleGeneration => FaultReason::StaleGeneration,
            _ => FaultReason::UnknownProcess,
        })?;
        if !in_window(addr, 1) {
            return Err(FaultReason::OutsideWindow);
        }
        let o = self.state.objects.values().find(|o| o.contains_addr(addr)).ok_or(FaultReason::NoObject)?;
        let a = o.position(task).ok_or(FaultReason::NotAttached)?;
        let offset = addr - o.base;
        if offset >= o.size {
            return Err(FaultReason::OutsideObject);
        }
        let f = o.frames.partition_point(|f| f.offset + f.size.bytes() <= offset);
        let att = &o.attachments[a];
        let Some(m) = att.maps[f] else {
            return if att.pending.contains(&f) {
                self.map_pending(task, o.id, a, f)
            } else {
                Err(FaultReason::NotMapped)
            };
        };
        if is_write && !m.prot.writable() {
            return Err(FaultReason::AccessViolation);
        }
        // The records say mapped, the hardware disagrees (or raced): delete
        // the old copy first (it would otherwise unmap the new mapping of the
        // same frame) and map a new one.
        let (id, base, frame) = (o.id, o.base, o.frames[f].clone());
        self.kernel.delete(m.copy);
        let mut txn = Txn::new();
        let result = self.map_frames(&mut txn, task.pid(), base, &[(f, &frame)], m.prot);
        let new = match result {
            Ok(mut v) => v.pop(),
            Err(_) => {
                txn.rollback(&mut self.kernel, &mut self.state.procs);
                None
            }
        };
        if let Some(o) = self.state.objects.get_mut(&id) {
            o.attachments[a].maps[f] = new;
        }
        new.map(|_| ()).ok_or(FaultReason::RepairFailed)
    }

    /// First touch of frame `f` of a lazy attachment (`a` of object `id`):
    /// map it with the attachment's rights. Any access may map it, since the
    /// rights were checked at attach; a write to a read-only page faults
    /// again and is then reported as an access violation.
    fn map_pending(&mut self, task: TaskId, id: ObjectId, a: usize, f: usize) -> Result<(), FaultReason> {
        self.check_mappings(task.pid(), 1).map_err(|_| FaultReason::RepairFailed)?;
        let o = self.state.objects.get(&id).ok_or(FaultReason::NoObject)?;
        let (base, frame, rights) = (o.base, o.frames[f].clone(), o.attachments[a].rights);
        let mut txn = Txn::new();
        let mapped = match self.map_frames(&mut txn, task.pid(), base, &[(f, &frame)], frame_prot(f, rights))
        {
            Ok(mut v) => v.pop(),
            Err(_) => {
                txn.rollback(&mut self.kernel, &mut self.state.procs);
                None
            }
        };
        let m = mapped.ok_or(FaultReason::RepairFailed)?;
        if let Some(att) = self.state.objects.get_mut(&id).map(|o| &mut o.attachments[a]) {
            att.maps[f] = Some(m);
            att.pending.remove(&f);
        }
        Ok(())
    }
}
