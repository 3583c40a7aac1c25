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
use alloc::vec::Vec;
use libshm::header::{Attached, Header, HEADER_BYTES, SIZE_OFFSET};
use libshm::layout::{
    in_window, TableLevel, LARGE_PAGE_SIZE, MAX_ATTACHMENTS, MAX_OBJECTS, MAX_OBJECT_SIZE, MAX_PROCESSES,
    PAGE_SIZE, WINDOW_BASE, WINDOW_END,
};
use libshm::protocol::{
    AttachInfo, Badge, Budget, Caller, Capacity, Error, FaultOutcome, FaultReason, Handler, MapFlags, Mode,
    Name, ObjectId, ObjectInfo, ObjectStat, Pid, Prot, Reply, Request, Sender, ServerStats, Target, TaskId,
};
use profile_markers::Phase;

mod budget;
mod faults;
mod mappings;
mod objects;
mod paging;
mod pid_table;
mod processes;
mod runs;
mod state;
mod txn;
mod vec_map;
use budget::Charge;
pub(crate) use budget::Usage;
use pid_table::PidTable;
use runs::Runs;
use state::*;
use vec_map::{room, VecMap};

pub(crate) use paging::frame_plan;
use paging::*;
use txn::Txn;

/// The server's table sizes and what it can promise all processes
/// together; [`Default`] takes the tables from [`libshm::layout`] and
/// promises without bound (the host tests' fake kernel runs out first).
/// Each process's own budget comes with its registration.
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
    /// What the budgets of all processes together may add up to.
    pub capacity: Capacity,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_processes: MAX_PROCESSES,
            max_objects: MAX_OBJECTS,
            max_attachments: MAX_ATTACHMENTS,
            capacity: Capacity::UNBOUNDED,
        }
    }
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

/// Checks `[start, start + len)` with `len` rounded up to whole pages (as
/// QNX's `mmap_peer` and `munmap_peer` do): `start` aligned, `len` not zero,
/// the end not overflowing. Returns the end.
fn page_range(start: u64, len: u64) -> Result<u64, Error> {
    page_aligned(start)?;
    if len == 0 {
        return Err(Error::ZeroLength);
    }
    let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(Error::Overflow)?;
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
/// let register = Request::RegisterProcess { task, alias: None, budget: Budget::DEFAULT };
/// let r = s.handle(sup, register, Some(vspace));
/// assert_eq!(r, Ok(Reply::RegisterProcess(())));
/// let me = Badge::Process(task).encode();
/// let create = Request::Create {
///     name: Name::new("t").unwrap(), mode: Mode::Peer,
///     size: 8192, max_size: 1 << 20, client_prot: Prot::ReadWrite,
/// };
/// let Ok(Reply::Create(info)) = s.handle(me, create, None) else { panic!() };
/// let r = s.handle(me, Request::Attach { object: info.id, prot: Prot::ReadWrite }, None);
/// assert_eq!(r, Ok(Reply::Attach(AttachInfo { base: info.base, size: 8192, root: 0 })));
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
            state: State {
                procs: PidTable::new(),
                seen: PidSet::new(),
                usage: PidTable::new(),
                budgets: PidTable::new(),
                objects: VecMap::new(),
                next_object: 1,
                rewrites: 0,
            },
        }
    }

    /// The limits in force.
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert!(s.limits().max_objects > 0);
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
    /// `cap` is the cap the kernel transferred with it, if any; the server
    /// keeps it only when the request consumes it, and deletes it otherwise.
    /// `unwrapped` counts the caps the kernel delivered as badges instead
    /// (endpoint caps to the server's own endpoint): they count against the
    /// request's caps too, so a request that must carry none is refused.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Server};
    /// use libshm::protocol::{Badge, Error, Op, TaskId};
    /// let mut s = Server::new(FakeKernel::new(1 << 20));
    /// assert_eq!(s.handle_message(1, 999, &[], None, 0), Err(Error::UnknownLabel));
    /// let stranger = Badge::Process(TaskId::new(4, 0).unwrap()).encode();
    /// assert_eq!(s.handle_message(stranger, Op::Stat.label(), &[1], None, 1), Err(Error::WrongCaps));
    /// ```
    pub fn handle_message(
        &mut self,
        badge: u64,
        label: u64,
        words: &[u64],
        cap: Option<K::Cap>,
        unwrapped: usize,
    ) -> Result<Reply, Error> {
        match Request::decode(label, words) {
            Ok(req) => {
                let mut cap = cap;
                let result = self.dispatch(badge, req, &mut cap, unwrapped);
                if let Some(c) = cap {
                    self.kernel.delete(c);
                }
                result
            }
            Err(e) => {
                if let Some(c) = cap {
                    self.kernel.delete(c);
                }
                Err(e)
            }
        }
    }

    /// Handles one decoded request from the sender with this badge. `cap` is
    /// as for [`Server::handle_message`], with no caps unwrapped.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Server};
    /// use libshm::protocol::{Badge, Error, Request, TaskId};
    /// let mut s = Server::new(FakeKernel::new(1 << 20));
    /// let task = TaskId::new(1, 0).unwrap();
    /// let r = s.handle(Badge::Process(task).encode(), Request::UnregisterProcess { task }, None);
    /// assert_eq!(r, Err(Error::NotSupervisor));
    /// ```
    pub fn handle(&mut self, badge: u64, request: Request, cap: Option<K::Cap>) -> Result<Reply, Error> {
        let mut cap = cap;
        let result = self.dispatch(badge, request, &mut cap, 0);
        if let Some(c) = cap {
            self.kernel.delete(c);
        }
        result
    }

    /// Checks who sent the request and what came with it, then hands it to
    /// its [`Handler`] method.
    fn dispatch(
        &mut self,
        badge: u64,
        request: Request,
        cap: &mut Option<K::Cap>,
        unwrapped: usize,
    ) -> Result<Reply, Error> {
        Phase::Checks.enter();
        let badge = Badge::decode(badge)?;
        let sender = match badge {
            Badge::Supervisor => Sender::Supervisor,
            Badge::Process(_) => Sender::Process,
        };
        if request.sender() != sender {
            return Err(request.sender().refusal());
        }
        // Every cap the request carries must be one the server can keep: a
        // transferred cap, never a badge the kernel unwrapped.
        if request.caps_expected() != usize::from(cap.is_some()) || unwrapped > 0 {
            return Err(Error::WrongCaps);
        }
        let caller = match badge {
            Badge::Supervisor => Caller::Supervisor(()),
            Badge::Process(task) => {
                self.live(task)?;
                Caller::Process(task)
            }
        };
        request.serve(&mut Serving { server: self, cap }, caller)
    }

    /// Checks that `task` is the registered incarnation of its pid. Any
    /// other incarnation of a pid ever registered is stale: the supervisor
    /// never hands an identity out twice.
    fn live(&self, task: TaskId) -> Result<(), Error> {
        match self.state.procs.get(&task.pid()) {
            None if self.state.seen.contains(task.pid()) => Err(Error::StaleGeneration),
            None => Err(Error::UnknownProcess),
            Some(p) if p.task != task => Err(Error::StaleGeneration),
            Some(_) => Ok(()),
        }
    }

    fn find_alias(&self, name: Name) -> Result<TaskId, Error> {
        self.state.procs.values().find(|p| p.alias == Some(name)).map(|p| p.task).ok_or(Error::UnknownAlias)
    }

    /// The process a peer operation from `who` is for.
    fn resolve(&self, target: Target, who: TaskId) -> Result<TaskId, Error> {
        match target {
            Target::CALLER => Ok(who),
            Target::Pid(pid) => self.state.procs.get(&pid).map(|p| p.task).ok_or(Error::UnknownProcess),
            Target::Task(task) => self.live(task).map(|()| task),
            Target::Alias(name) => self.find_alias(name),
        }
    }

    fn object(&self, id: ObjectId) -> Result<&Object<K::Cap>, Error> {
        self.state.objects.get(&id).ok_or(Error::UnknownObject)
    }

    /// Checks `pid` may hold `more` mappings (the acquire phase charges
    /// each one as it is made; this refuses early and cleanly).
    fn check_mappings(&self, pid: Pid, more: usize) -> Result<(), Error> {
        budget::check(
            &self.state.usage,
            &self.state.budgets,
            pid,
            Usage { mappings: more as u64, ..Usage::NONE },
        )
    }

    /// Checks `pid` may be charged `bytes` more of frames.
    fn check_quota(&self, pid: Pid, bytes: u64) -> Result<(), Error> {
        budget::check(&self.state.usage, &self.state.budgets, pid, Usage { memory: bytes, ..Usage::NONE })
    }

    /// The budget `pid` was registered with, if it is registered.
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert_eq!(s.budget(7), None);
    /// ```
    pub fn budget(&self, pid: Pid) -> Option<Budget> {
        self.state.budgets.get(&pid).copied()
    }

    /// What `pid` has been charged for and holds: bytes of frames, slots,
    /// mappings.
    ///
    /// ```
    /// let s = vmm_server::Server::new(vmm_server::fake::FakeKernel::new(1 << 20));
    /// assert_eq!(s.usage(7), (0, 0, 0));
    /// ```
    pub fn usage(&self, pid: Pid) -> (u64, u64, u64) {
        let u = self.state.usage.get(&pid).copied().unwrap_or(Usage::NONE);
        (u.memory, u.slots, u.mappings)
    }
}

/// One request being served: the server and the cap that came with the
/// message (taken by the request that keeps it; deleted otherwise).
struct Serving<'a, K: Kernel> {
    server: &'a mut Server<K>,
    cap: &'a mut Option<K::Cap>,
}

impl<K: Kernel> Handler for Serving<'_, K> {
    /// A live process (checked before serving).
    type Process = TaskId;
    type Supervisor = ();

    fn register_alias(&mut self, who: TaskId, name: Name) -> Result<(), Error> {
        self.server.register_alias(who, name)
    }

    fn lookup_alias(&mut self, _: TaskId, name: Name) -> Result<TaskId, Error> {
        self.server.find_alias(name)
    }

    fn create(
        &mut self,
        who: TaskId,
        name: Name,
        mode: Mode,
        size: u64,
        max_size: u64,
        client_prot: Prot,
    ) -> Result<ObjectInfo, Error> {
        self.server.create(who, name, mode, size, max_size, client_prot)
    }

    fn open(&mut self, _: TaskId, name: Name) -> Result<ObjectInfo, Error> {
        self.server
            .state
            .objects
            .values()
            .find(|o| o.name == name)
            .map(Object::info)
            .ok_or(Error::UnknownName)
    }

    fn attach(&mut self, who: TaskId, object: ObjectId, prot: Prot) -> Result<AttachInfo, Error> {
        self.server.attach(who, object, prot, false)
    }

    fn attach_lazy(&mut self, who: TaskId, object: ObjectId, prot: Prot) -> Result<AttachInfo, Error> {
        self.server.attach(who, object, prot, true)
    }

    fn detach(&mut self, who: TaskId, object: ObjectId) -> Result<(), Error> {
        self.server.detach(who, object)
    }

    fn mmap_peer(
        &mut self,
        who: TaskId,
        target: Target,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        object: ObjectId,
        offset: u64,
    ) -> Result<u64, Error> {
        self.server.mmap_peer(who, target, addr, len, prot, flags, object, offset)
    }

    fn munmap_peer(&mut self, who: TaskId, target: Target, addr: u64, len: u64) -> Result<(), Error> {
        self.server.munmap_peer(who, target, addr, len)
    }

    fn grow(&mut self, who: TaskId, object: ObjectId, new_size: u64) -> Result<u64, Error> {
        self.server.grow(who, object, new_size)
    }

    fn shrink(&mut self, who: TaskId, object: ObjectId, new_size: u64) -> Result<u64, Error> {
        self.server.shrink(who, object, new_size)
    }

    fn set_root(&mut self, who: TaskId, object: ObjectId, offset: u64) -> Result<(), Error> {
        self.server.set_root(who, object, offset)
    }

    fn get_root(&mut self, who: TaskId, object: ObjectId) -> Result<u64, Error> {
        let o = self.server.object(object)?;
        if o.attachment(who).is_none() && o.owner != who.pid() {
            return Err(Error::NotAttached);
        }
        Ok(o.root)
    }

    fn stat(&mut self, who: TaskId, object: ObjectId) -> Result<ObjectStat, Error> {
        let o = self.server.object(object)?;
        Ok(ObjectStat {
            info: o.info(),
            root: o.root,
            attached: o.attachments.len() as u16,
            rights: o.attachment(who).map(|a| a.rights),
            owner: o.owner,
        })
    }

    fn destroy(&mut self, who: TaskId, object: ObjectId) -> Result<(), Error> {
        self.server.destroy(who, object)
    }

    fn subscribe(&mut self, who: TaskId, object: ObjectId) -> Result<(), Error> {
        self.server.subscribe(who, object, self.cap)
    }

    fn server_stats(&mut self, _: TaskId) -> Result<ServerStats, Error> {
        Ok(self.server.kernel.stats())
    }

    fn register_process(
        &mut self,
        (): (),
        task: TaskId,
        alias: Option<Name>,
        budget: Budget,
    ) -> Result<(), Error> {
        self.server.register_process(task, alias, budget, self.cap)
    }

    fn unregister_process(&mut self, (): (), task: TaskId) -> Result<(), Error> {
        self.server.live(task)?;
        self.server.process_died(task.pid());
        Ok(())
    }

    fn resolve_fault(&mut self, (): (), task: TaskId, addr: u64, write: bool) -> Result<FaultOutcome, Error> {
        Ok(self.server.handle_fault(task, addr, write))
    }
}
