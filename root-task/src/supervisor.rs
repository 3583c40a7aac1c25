//! The process table and the supervisor's side of every process's life:
//! spawning from the embedded programs, answering calls, taking faults and
//! exits, tearing down and restarting with the next generation.

use crate::objects::Objects;
use crate::process::{self, ArenaSize, Arenas, ProcessCaps, Serve, Spawn, SpawnError};
use libshm::client;
use libshm::layout::{in_window, PROCESS_QUOTA_BYTES};
use libshm::protocol::{Badge, Error, FaultReason, Name, Pid, Reply, Request, TaskId};
use runtime::supervisor::{Op, OK, STALE};
use sel4::cap_type::Endpoint;
use sel4::{debug_println, CPtr, Cap, CapRights, FaultType, MessageInfo, ObjectType};

/// Most processes alive at once.
pub const MAX_PROCESSES: usize = process::ARENAS;

/// The first pid handed out (0 names no process).
const FIRST_PID: Pid = 1;

/// Priority of spawned processes: below the root task's, so the supervisor
/// always gets to answer.
pub const PROCESS_PRIORITY: u8 = 100;

/// The memory manager's program, name and priority: above the apps, so a
/// request is answered before its caller runs again.
const MEMORY_MANAGER: (&str, &str, u8) = ("vmm-server", "memory-manager", 150);
/// log2 of the slots of the memory manager's CNode. The benchmark's
/// largest grow keeps 65 x 514 frame copies (64 peers and the owner, 514
/// pages each); only the lower half of the CNode is free for them.
const MM_CNODE_BITS: usize = if cfg!(feature = "bench") { 17 } else { 14 };
/// The memory manager's pool: this many untypeds of `2^MM_POOL_BITS` bytes.
const MM_POOL: (usize, usize) = (16, 22);
/// A client's quota is at most this share of the pool, so one client
/// cannot starve the others (nor the server's heap and page tables).
const QUOTA_SHARES: u64 = 4;
const _: () = assert!(PROCESS_QUOTA_BYTES * QUOTA_SHARES <= (MM_POOL.0 as u64) << MM_POOL.1);

/// The programs embedded in this image (see `build.rs`).
mod programs {
    include!(concat!(env!("OUT_DIR"), "/programs.rs"));
}

/// One live process.
#[derive(Clone, Copy)]
struct Process {
    task: TaskId,
    name: &'static str,
    program: &'static str,
    arg: u64,
    restarts_left: u32,
    restarts: u64,
    caps: ProcessCaps,
}

/// What happened, as the supervisor's caller sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A process reported a result word.
    Report {
        /// Who.
        task: TaskId,
        /// What.
        value: u64,
    },
    /// A process exited and was torn down.
    Exited {
        /// Who.
        task: TaskId,
        /// Its exit code.
        code: i32,
    },
    /// A process faulted and was torn down; `restarted` is the new identity.
    Faulted {
        /// Who.
        task: TaskId,
        /// The kernel's fault type (label).
        fault: u64,
        /// The faulting address, for VM faults.
        addr: u64,
        /// The restarted process, if its policy said so.
        restarted: Option<TaskId>,
    },
    /// A message with a badge naming no live process was refused.
    Refused {
        /// The badge.
        badge: u64,
    },
    /// Handled inside the supervisor (a ping, or a fault in the shared
    /// window that the memory manager repaired: see [`Supervisor::repairs`]).
    Handled,
}

/// The running memory manager, as the supervisor reaches it.
#[derive(Copy, Clone)]
struct MemoryManager {
    task: TaskId,
    /// Our cap to its endpoint, badged as the supervisor.
    caller: CPtr,
    /// Its endpoint object, minted into every app with the app's badge.
    service: Cap<Endpoint>,
}

/// The root task as supervisor.
pub struct Supervisor {
    arenas: Arenas,
    ep: Cap<Endpoint>,
    mm: Option<MemoryManager>,
    table: [Option<Process>; MAX_PROCESSES],
    /// The generation each pid had last, so a new spawn continues it.
    /// The next fresh pid. A pid names one process for life: a restart keeps
    /// it (with the next generation), a new process never reuses a dead
    /// one's, so nothing the memory manager keeps by pid (ownership, quota)
    /// passes to a stranger.
    next_pid: Pid,
    /// Faults the memory manager repaired (threads resumed unaware).
    repairs: u64,
}

impl Supervisor {
    /// Set up the arenas and the endpoint processes reach us through, and
    /// start the memory manager if the image has it.
    pub fn new(objs: &mut Objects) -> Result<Self, SpawnError> {
        let mut sup = Supervisor {
            arenas: Arenas::new(objs)?,
            ep: objs.alloc::<Endpoint>()?,
            mm: None,
            table: [None; MAX_PROCESSES],
            next_pid: FIRST_PID,
            repairs: 0,
        };
        if programs::PROGRAMS.iter().any(|(name, _)| *name == MEMORY_MANAGER.0) {
            sup.start_memory_manager(objs)?;
        }
        Ok(sup)
    }

    fn start_memory_manager(&mut self, objs: &mut Objects) -> Result<(), SpawnError> {
        let (count, bits) = MM_POOL;
        let service = objs.alloc::<Endpoint>()?;
        // One at a time, so no single untyped must hold the whole pool;
        // the slots still come out consecutive.
        let untyped_first = objs.alloc_raw(ObjectType::Untyped, bits)?;
        for _ in 1..count {
            objs.alloc_raw(ObjectType::Untyped, bits)?;
        }
        let caller = objs.slot()?;
        let supervisor_badge = sel4::badge_cap_data(Badge::SUPERVISOR.encode());
        let rights = CapRights { read: false, write: true, grant: true };
        objs.cnode.slot(caller).mint(objs.cnode.slot(service.cptr()), rights, supervisor_badge)?;
        let serve = Serve { service, untyped_first, untyped_count: count, untyped_bits: bits };
        let (program, name, _) = MEMORY_MANAGER;
        let task = self.next_task()?;
        let p =
            Process { task, name, program, arg: 0, restarts_left: 0, restarts: 0, caps: ProcessCaps::NONE };
        self.start(objs, p, None, Some(serve))?;
        self.mm = Some(MemoryManager { task, caller, service });
        Ok(())
    }

    /// How many faults the memory manager has repaired so far.
    #[cfg(feature = "suite")]
    pub fn repairs(&self) -> u64 {
        self.repairs
    }

    /// Bytes of process memory free: what the arenas of dead processes hold.
    pub fn free_bytes(&self) -> u64 {
        self.arenas.free_bytes()
    }

    /// The VSpace root of a live process.
    #[cfg(all(feature = "bench", not(feature = "suite")))]
    pub fn vspace(&self, task: TaskId) -> Option<Cap<sel4::cap_type::VSpace>> {
        self.process(task).map(|p| p.caps.vspace)
    }

    /// Puts a copy of our cap `src` into slot `slot` of a live app's CNode,
    /// with `rights` and `badge` (0: none). Done before the supervisor next
    /// waits, it is there before the app runs again (apps run below the
    /// supervisor's priority).
    #[cfg(all(feature = "bench", not(feature = "suite")))]
    pub fn give_cap(
        &self,
        task: TaskId,
        slot: CPtr,
        src: CPtr,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), sel4::Error> {
        let p = self.process(task).ok_or(sel4::Error::InvalidArgument)?;
        let root = Cap::<sel4::cap_type::CNode>::from_cptr(sel4::CAP_INIT_THREAD_CNODE as CPtr);
        let dest = p.caps.cnode.slot_at(slot, process::APP_CNODE_BITS as u8);
        dest.mint(root.slot(src), rights, sel4::badge_cap_data(badge))
    }

    /// The live process `task` names, if its generation is current.
    fn process(&self, task: TaskId) -> Option<Process> {
        self.table[self.slot_of(task.pid())?].filter(|p| p.task == task)
    }

    /// How many apps are alive (the memory manager is not counted).
    pub fn live(&self) -> usize {
        let mm = self.mm.map(|mm| mm.task);
        self.table.iter().flatten().filter(|p| Some(p.task) != mm).count()
    }

    /// Start `program` as `name`; `restarts` is how often it is restarted
    /// after a fault.
    pub fn spawn(
        &mut self,
        objs: &mut Objects,
        program: &'static str,
        name: &'static str,
        arg: u64,
        restarts: u32,
    ) -> Result<TaskId, SpawnError> {
        let task = self.next_task()?;
        self.start(
            objs,
            Process {
                task,
                name,
                program,
                arg,
                restarts_left: restarts,
                restarts: 0,
                caps: ProcessCaps::NONE,
            },
            None,
            None,
        )
    }

    /// Like [`Supervisor::spawn`], giving the process a cap whose badge is
    /// `stale`'s identity in [`runtime::slots::EXTRA`] (the suite's test of
    /// stale badges).
    #[cfg(feature = "suite")]
    pub fn spawn_with_badge(
        &mut self,
        objs: &mut Objects,
        program: &'static str,
        name: &'static str,
        arg: u64,
        stale: TaskId,
    ) -> Result<TaskId, SpawnError> {
        let task = self.next_task()?;
        self.start(
            objs,
            Process { task, name, program, arg, restarts_left: 0, restarts: 0, caps: ProcessCaps::NONE },
            Some(stale),
            None,
        )
    }

    /// The identity of a new process: a fresh pid, generation 0. Pids wrap
    /// after `Pid::MAX` spawns, skipping live ones.
    fn next_task(&mut self) -> Result<TaskId, SpawnError> {
        if self.table.iter().all(Option::is_some) {
            return Err(SpawnError::NoArena);
        }
        loop {
            let pid = self.next_pid;
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(FIRST_PID);
            if self.table.iter().flatten().all(|p| p.task.pid() != pid) {
                return Ok(TaskId::new(pid, 0).expect("generation 0 is valid"));
            }
        }
    }

    /// The table slot of the live process with `pid`.
    fn slot_of(&self, pid: Pid) -> Option<usize> {
        self.table.iter().position(|p| p.is_some_and(|p| p.task.pid() == pid))
    }

    fn start(
        &mut self,
        objs: &mut Objects,
        mut p: Process,
        extra_badge: Option<TaskId>,
        serve: Option<Serve>,
    ) -> Result<TaskId, SpawnError> {
        let image = programs::PROGRAMS.iter().find(|(n, _)| *n == p.program).ok_or(SpawnError::BadImage)?.1;
        let is_mm = serve.is_some();
        let spec = Spawn {
            task: p.task,
            name: p.name,
            image,
            arg: p.arg,
            restarts: p.restarts,
            priority: if is_mm { MEMORY_MANAGER.2 } else { PROCESS_PRIORITY },
            extra_badge,
            cnode_bits: if is_mm { MM_CNODE_BITS } else { process::APP_CNODE_BITS },
            arena: if is_mm { ArenaSize::Large } else { ArenaSize::Small },
            memory_manager: self.mm.map(|mm| mm.service),
            serve,
        };
        p.caps = process::spawn(objs, &mut self.arenas, self.ep, &spec)?;
        let i = self.table.iter().position(Option::is_none).ok_or(SpawnError::NoArena)?;
        self.table[i] = Some(p);
        debug_println!("spawned pid {} '{}' generation {}", p.task.pid(), p.name, p.task.generation());
        self.register(&p);
        Ok(p.task)
    }

    /// Tell the memory manager about a new process and give it the VSpace.
    fn register(&self, p: &Process) {
        let Some(mm) = self.mm else { return };
        let alias = Name::new(p.name).ok();
        let request = |alias| Request::RegisterProcess { task: p.task, alias };
        let mut result = client::call(mm.caller, &request(alias), Some(p.caps.vspace.cptr()));
        if result == Err(Error::AliasTaken) {
            // Names need not be unique among apps; aliases must be.
            result = client::call(mm.caller, &request(None), Some(p.caps.vspace.cptr()));
        }
        if let Err(e) = result {
            debug_println!("memory manager refused pid {}: {e:?}", p.task.pid());
        }
    }

    /// Asks the memory manager to repair a fault in the shared window. The
    /// faulting thread's reply cap stays ours across this call: a Call
    /// blocks on its own reply and does not clear the caller slot.
    fn resolve_fault(&self, task: TaskId, addr: u64, write: bool) -> Result<Reply, Error> {
        let mm = self.mm.ok_or(Error::UnknownProcess)?;
        client::call(mm.caller, &Request::ResolveFault { task, addr, write }, None)
    }

    fn unregister(&self, p: &Process) {
        let Some(mm) = self.mm.filter(|mm| mm.task != p.task) else { return };
        if let Err(e) = client::call(mm.caller, &Request::UnregisterProcess { task: p.task }, None) {
            debug_println!("memory manager could not forget pid {}: {e:?}", p.task.pid());
        }
    }

    /// The live process a badge names, if its generation is current.
    fn lookup(&self, badge: u64) -> Option<Process> {
        match Badge::decode(badge) {
            Ok(Badge::Process(task)) => self.process(task),
            _ => None,
        }
    }

    /// Tear a process down: its arena, and with it every object it had.
    fn tear_down(&mut self, objs: &mut Objects, p: &Process) {
        self.unregister(p);
        if let Some(i) = self.slot_of(p.task.pid()) {
            self.table[i] = None;
        }
        if let Err(e) = self.arenas.give_back(objs.cnode, p.caps.arena) {
            debug_println!("teardown of pid {} failed: {e}", p.task.pid());
        }
    }

    /// End a live process now, as if it had died: the memory manager forgets
    /// it and its arena is given back. No restart. False if `task` is not
    /// alive.
    #[cfg(feature = "suite")]
    pub fn kill(&mut self, objs: &mut Objects, task: TaskId) -> bool {
        match self.process(task) {
            Some(p) => {
                self.tear_down(objs, &p);
                true
            }
            None => false,
        }
    }

    /// Wait for the next message and deal with it.
    pub fn next_event(&mut self, objs: &mut Objects) -> Event {
        let (info, badge) = sel4::recv(self.ep.cptr());
        let Some(p) = self.lookup(badge) else {
            // A badge of a dead generation (or none of ours): say so, change nothing.
            sel4::reply(MessageInfo::new(STALE, 0, 0, 0));
            return Event::Refused { badge };
        };
        let label = info.label();
        if let Some(fault) = fault_type(label) {
            return self.fault(objs, p, fault);
        }
        match Op::from_label(label) {
            Some(Op::Ping) => {
                sel4::set_mr(0, p.task.pid() as u64);
                sel4::set_mr(1, p.task.generation() as u64);
                sel4::reply(MessageInfo::new(OK, 0, 0, 2));
                Event::Handled
            }
            Some(Op::Report) => {
                let value = sel4::get_mr(0);
                sel4::reply(MessageInfo::new(OK, 0, 0, 0));
                Event::Report { task: p.task, value }
            }
            Some(Op::Exit) => {
                let code = sel4::get_mr(0) as i32;
                self.tear_down(objs, &p);
                Event::Exited { task: p.task, code }
            }
            None => {
                sel4::reply(MessageInfo::new(libshm::protocol::Error::UnknownLabel.code(), 0, 0, 0));
                Event::Handled
            }
        }
    }

    fn fault(&mut self, objs: &mut Objects, p: Process, fault: FaultType) -> Event {
        // Where each fault message keeps the faulting instruction (seL4 5.0's
        // layout, per arch: an unknown syscall's registers come first).
        let (ip, addr) = match fault {
            FaultType::VMFault => (sel4::get_mr(sel4::VM_FAULT_IP), sel4::get_mr(sel4::VM_FAULT_ADDR)),
            FaultType::UnknownSyscall => (sel4::get_mr(sel4::UNKNOWN_SYSCALL_FAULT_IP), 0),
            FaultType::UserException => (sel4::get_mr(sel4::USER_EXCEPTION_FAULT_IP), 0),
            _ => (sel4::get_mr(sel4::CAP_FAULT_IP), 0),
        };
        let mut reason = None;
        if fault == FaultType::VMFault && in_window(addr, 1) {
            match self.resolve_fault(p.task, addr, is_write(sel4::get_mr(sel4::VM_FAULT_FSR))) {
                Ok(Reply::Done) => {
                    // Mapped by the memory manager: an empty reply to the
                    // fault message resumes the thread at the faulting
                    // instruction (seL4 5.0).
                    sel4::reply(MessageInfo::new(0, 0, 0, 0));
                    self.repairs += 1;
                    return Event::Handled;
                }
                Ok(Reply::Unrepaired(r)) => reason = Some(r),
                other => debug_println!("memory manager could not decide a fault: {other:?}"),
            }
        }
        debug_println!(
            // The program's name, not only the alias: tools/simulate finds
            // its symbols by it.
            "fault: pid {} '{}' generation {}: {:?} at address {:#x}, ip {:#x} in {}{}",
            p.task.pid(),
            p.name,
            p.task.generation(),
            fault,
            addr,
            ip,
            p.program,
            ReasonText(reason)
        );
        self.tear_down(objs, &p);
        let restarted = if p.restarts_left > 0 {
            let next = Process {
                task: p.task.next_generation(),
                restarts_left: p.restarts_left - 1,
                restarts: p.restarts + 1,
                ..p
            };
            match self.start(objs, next, None, None) {
                Ok(task) => Some(task),
                Err(e) => {
                    debug_println!("restart of pid {} failed: {e:?}", p.task.pid());
                    None
                }
            }
        } else {
            None
        };
        Event::Faulted { task: p.task, fault: fault as u64, addr, restarted }
    }
}

/// The fault type a message label names, if it is one of the kernel's.
fn fault_type(label: u64) -> Option<FaultType> {
    [FaultType::CapFault, FaultType::UnknownSyscall, FaultType::UserException, FaultType::VMFault]
        .into_iter()
        .find(|f| *f as u64 == label)
}

/// Whether a VM fault's status word says the access was a write: bit 1 of
/// the x86 page-fault error code, WnR (bit 6) of the AArch64 syndrome.
fn is_write(fsr: u64) -> bool {
    const WRITE_BIT: u64 = if cfg!(target_arch = "x86_64") { 1 << 1 } else { 1 << 6 };
    fsr & WRITE_BIT != 0
}

/// The memory manager's reason for not repairing a fault, in a report line.
struct ReasonText(Option<FaultReason>);

impl core::fmt::Display for ReasonText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(r) => write!(f, " (memory manager: {r:?})"),
            None => Ok(()),
        }
    }
}
