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

use crate::kernel::{Kernel, KernelError, ObjectKind, PageSize};
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

mod faults;
mod mappings;
mod objects;
mod paging;
mod processes;
mod state;
mod txn;
use state::*;

pub(crate) use paging::frame_plan;
use paging::*;
use txn::Txn;

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
}
