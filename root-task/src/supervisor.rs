//! The process table and the supervisor's side of every process's life:
//! spawning from the programs the system description embeds, answering
//! calls (among them starting a described process and waiting for one),
//! taking faults and exits, tearing down and restarting with the next
//! generation.

use crate::objects::Objects;
use crate::process::{self, ArenaSize, Arenas, ProcessCaps, Serve, Spawn, SpawnError, MAX_ARENAS};
use crate::system::{MemoryManagerConfig, ProcessDesc, Start, System};
use libshm::client::Ipc;
use libshm::layout::{in_window, ROOT_RESERVE_BITS};
use libshm::protocol::supervisor::{self as calls, EXIT_FAULTED, EXIT_KILLED};
use libshm::protocol::{
    Badge, Budget, Capacity, Client, Error, FaultOutcome, FaultReason, Name, Pid, TaskId, MSG_MAX_WORDS,
};
use sel4::cap_type::Endpoint;
use sel4::{debug_println, CPtr, Cap, CapRights, FaultType, MessageInfo, ObjectType};

/// Most processes alive at once: every app arena and the memory manager.
pub const MAX_PROCESSES: usize = MAX_ARENAS + 1;

/// The first pid handed out (0 names no process).
const FIRST_PID: Pid = 1;

/// Ended processes whose exit code a starter may still ask for.
const ENDED: usize = 64;

/// One live process.
#[derive(Clone, Copy)]
struct Process {
    task: TaskId,
    name: &'static str,
    program: &'static str,
    arg: u64,
    priority: u8,
    heap_bytes: u64,
    budget: Budget,
    restarts_left: u32,
    restarts: u64,
    /// The core it runs on: as described, or (`None`) placed by the
    /// supervisor when it starts; a restart keeps the core.
    core: Option<u32>,
    /// The process that started it through [`calls::Request::Start`]: the one that may
    /// wait for it.
    started_by: Option<Pid>,
    /// The pid whose end it is blocked waiting for ([`calls::Request::Wait`]); its
    /// reply cap is in its table slot's reply slot.
    waiting_for: Option<Pid>,
    caps: ProcessCaps,
}

impl Process {
    /// A new process with generation 0 of `task`, as `desc` says.
    fn described(task: TaskId, desc: &ProcessDesc, started_by: Option<Pid>) -> Process {
        Process {
            task,
            name: desc.name,
            program: desc.program,
            arg: desc.arg,
            priority: desc.priority,
            heap_bytes: desc.heap_bytes,
            budget: desc.budget,
            restarts_left: desc.restarts,
            restarts: 0,
            core: desc.core,
            started_by,
            waiting_for: None,
            caps: ProcessCaps::NONE,
        }
    }
}

/// A process that ended, kept until its starter waits for it.
#[derive(Clone, Copy)]
struct Ended {
    pid: Pid,
    started_by: Pid,
    code: i32,
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
    /// A process started another one the description let it start.
    Started {
        /// The new process.
        task: TaskId,
        /// The one that asked.
        by: TaskId,
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
    /// The memory manager ended (exited, faulted or was killed): every
    /// other process was ended with it, since none can be served any more.
    MemoryManagerEnded {
        /// Its identity.
        task: TaskId,
        /// Its exit code ([`EXIT_FAULTED`] if it faulted).
        code: i32,
    },
    /// A message with a badge naming no live process was refused.
    Refused {
        /// The badge.
        badge: u64,
    },
    /// Handled inside the supervisor (a ping, a wait, a refused start, or a
    /// fault in the shared window that the memory manager repaired: see
    /// [`Supervisor::repairs`]).
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
    system: &'static System,
    arenas: Arenas,
    ep: Cap<Endpoint>,
    mm: Option<MemoryManager>,
    table: [Option<Process>; MAX_PROCESSES],
    /// Where a waiting process's reply cap is kept: one slot per table slot.
    reply_slots: CPtr,
    ended: [Option<Ended>; ENDED],
    next_ended: usize,
    /// The next fresh pid (`None` once all are used). A pid names one
    /// process for life: a restart keeps it (with the next generation), a
    /// new process never reuses a dead one's, so nothing the memory manager
    /// keeps by pid (ownership, quota) passes to a stranger. A process that
    /// has used up its pid's generations is restarted under a fresh pid.
    next_pid: Option<Pid>,
    /// Faults the memory manager repaired (threads resumed unaware).
    repairs: u64,
    /// The kernel's cores, and how many processes were spread over them.
    cores: usize,
    spread: usize,
}

impl Supervisor {
    /// Set up the arenas and the endpoint processes reach us through, and
    /// start the memory manager. The processes
    /// that start at boot are started by [`Supervisor::boot`].
    pub fn new(objs: &mut Objects, system: &'static System) -> Result<Self, SpawnError> {
        let config = &system.supervisor;
        let large_bits = system.memory_manager.arena_bits;
        let mut sup = Supervisor {
            system,
            arenas: Arenas::new(objs, config.arenas, config.arena_bits, large_bits)?,
            ep: objs.alloc::<Endpoint>()?,
            mm: None,
            table: [None; MAX_PROCESSES],
            reply_slots: objs.slots(MAX_PROCESSES)?,
            ended: [None; ENDED],
            next_ended: 0,
            next_pid: Some(FIRST_PID),
            repairs: 0,
            cores: objs.cores,
            spread: 0,
        };
        sup.start_memory_manager(objs, &system.memory_manager)?;
        Ok(sup)
    }

    /// The description this supervisor runs.
    pub fn system(&self) -> &'static System {
        self.system
    }

    fn start_memory_manager(
        &mut self,
        objs: &mut Objects,
        config: &MemoryManagerConfig,
    ) -> Result<(), SpawnError> {
        let (mut count, bits) = (config.pool_count, config.pool_bits);
        let service = objs.alloc::<Endpoint>()?;
        // What the root task needs later, kept out of the pool's way.
        let reserve = objs.alloc_raw(ObjectType::Untyped, ROOT_RESERVE_BITS)?;
        // One at a time, so no single untyped must hold the whole pool;
        // the slots still come out consecutive.
        let untyped_first = objs.alloc_raw(ObjectType::Untyped, bits)?;
        for _ in 1..count {
            objs.alloc_raw(ObjectType::Untyped, bits)?;
        }
        // Then every further one the machine has, up to what the memory
        // manager's CNode can keep the books of: its capacity follows the
        // machine.
        if config.pool_rest {
            let free_slots = 1u64 << (config.cnode_bits - 1);
            let most = (Capacity::pool_limit(free_slots) >> bits) as usize;
            while count < most {
                match objs.alloc_raw(ObjectType::Untyped, bits) {
                    Ok(_) => count += 1,
                    Err(sel4::Error::NotEnoughMemory) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        objs.add_untyped(reserve, ROOT_RESERVE_BITS);
        debug_println!(
            "supervisor: the memory manager's pool: {count} untypeds of {} KiB",
            (1u64 << bits) >> 10
        );
        let caller = objs.slot()?;
        let supervisor_badge = sel4::badge_cap_data(Badge::SUPERVISOR.encode());
        let rights = CapRights { read: false, write: true, grant: true };
        objs.cnode.slot(caller).mint(objs.cnode.slot(service.cptr()), rights, supervisor_badge)?;
        let serve = Serve { service, untyped_first, untyped_count: count, untyped_bits: bits };
        let task = self.next_task()?;
        let desc = ProcessDesc {
            name: config.name,
            program: config.program,
            start: Start::Boot,
            priority: config.priority,
            restarts: 0,
            heap_bytes: 0,
            arg: 0,
            // Not registered with itself: no budget.
            budget: Budget::NONE,
            core: Some(config.core),
        };
        self.start(objs, Process::described(task, &desc, None), None, Some((serve, config.cnode_bits)))?;
        self.mm = Some(MemoryManager { task, caller, service });
        Ok(())
    }

    /// Start every process the description starts at boot, in its order.
    pub fn boot(&mut self, objs: &mut Objects) -> Result<(), SpawnError> {
        for desc in self.system.processes.iter().filter(|p| p.start == Start::Boot) {
            let task = self.next_task()?;
            self.start(objs, Process::described(task, desc, None), None, None)?;
        }
        Ok(())
    }

    /// Start the process the description calls `name` now, whatever its
    /// `start` says (for a root task that drives processes itself).
    pub fn start_described(&mut self, objs: &mut Objects, name: &str) -> Result<TaskId, SpawnError> {
        let desc = self.system.process(name).ok_or(SpawnError::NotDescribed)?;
        let task = self.next_task()?;
        self.start(objs, Process::described(task, desc, None), None, None)
    }

    /// How many faults the memory manager has repaired so far.
    pub fn repairs(&self) -> u64 {
        self.repairs
    }

    /// Bytes of process memory free: what the arenas of dead processes hold.
    pub fn free_bytes(&self) -> u64 {
        self.arenas.free_bytes()
    }

    /// The VSpace root of a live process.
    pub fn vspace(&self, task: TaskId) -> Option<Cap<sel4::cap_type::VSpace>> {
        self.process(task).map(|p| p.caps.vspace)
    }

    /// Puts a copy of our cap `src` into slot `slot` of a live app's CNode,
    /// with `rights` and `badge` (0: none). Done before the supervisor next
    /// waits, it is there before the app runs again (apps run below the
    /// supervisor's priority).
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
        let dest = p.caps.cnode.slot_at(slot, self.system.supervisor.app_cnode_bits as u8);
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

    /// Start `program` as `name` at the description's app priority, with no
    /// heap; `restarts` is how often it is restarted after a fault. For a
    /// root task that drives processes itself (the suite, the benchmark).
    pub fn spawn(
        &mut self,
        objs: &mut Objects,
        program: &'static str,
        name: &'static str,
        arg: u64,
        restarts: u32,
    ) -> Result<TaskId, SpawnError> {
        self.spawn_on(objs, program, name, arg, restarts, None)
    }

    /// Like [`Supervisor::spawn`], on core `core` if given (a test that
    /// needs two processes on different cores; refused unless the kernel
    /// has it), else spread as `spawn` does.
    pub fn spawn_on(
        &mut self,
        objs: &mut Objects,
        program: &'static str,
        name: &'static str,
        arg: u64,
        restarts: u32,
        core: Option<u32>,
    ) -> Result<TaskId, SpawnError> {
        let task = self.next_task()?;
        let p = Process { core, ..self.by_program(task, program, name, arg, restarts) };
        self.start(objs, p, None, None)
    }

    /// Like [`Supervisor::spawn`], with this priority (below the memory
    /// manager's) and budget instead of the description's app priority and
    /// app budget (a root task that knows one process needs more, e.g. the
    /// benchmark's owner).
    pub fn spawn_with(
        &mut self,
        objs: &mut Objects,
        program: &'static str,
        name: &'static str,
        arg: u64,
        priority: u8,
        budget: Budget,
    ) -> Result<TaskId, SpawnError> {
        if priority >= self.system.memory_manager.priority {
            return Err(SpawnError::Kernel(sel4::Error::RangeError));
        }
        let task = self.next_task()?;
        let mut p = self.by_program(task, program, name, arg, 0);
        p.priority = priority;
        p.budget = budget;
        self.start(objs, p, None, None)
    }

    /// A process of `program` as the suite or benchmark spawns it: the
    /// description's app priority and app budget, no heap.
    fn by_program(
        &self,
        task: TaskId,
        program: &'static str,
        name: &'static str,
        arg: u64,
        restarts: u32,
    ) -> Process {
        let (priority, budget) = (self.system.supervisor.app_priority, self.system.supervisor.app_budget);
        let desc = ProcessDesc {
            name,
            program,
            start: Start::Boot,
            priority,
            restarts,
            heap_bytes: 0,
            arg,
            budget,
            core: None,
        };
        Process::described(task, &desc, None)
    }

    /// Like [`Supervisor::spawn`], giving the process a cap whose badge is
    /// `stale`'s identity in [`runtime::slots::EXTRA`] (the suite's test of
    /// stale badges).
    pub fn spawn_with_badge(
        &mut self,
        objs: &mut Objects,
        program: &'static str,
        name: &'static str,
        arg: u64,
        stale: TaskId,
    ) -> Result<TaskId, SpawnError> {
        let task = self.next_task()?;
        self.start(objs, self.by_program(task, program, name, arg, 0), Some(stale), None)
    }

    /// The identity of a new process: a pid never handed out before,
    /// generation 0. Pids are not reused, so no identity ever comes back:
    /// a badge or `TaskId` of an earlier incarnation stays stale for good.
    fn next_task(&mut self) -> Result<TaskId, SpawnError> {
        if self.table.iter().all(Option::is_some) {
            return Err(SpawnError::NoArena);
        }
        let pid = self.next_pid.ok_or(SpawnError::NoIdentity)?;
        self.next_pid = pid.checked_add(1);
        TaskId::new(pid, 0).ok_or(SpawnError::NoIdentity)
    }

    /// The identity a restarted process gets: its pid's next generation, or
    /// a fresh pid once the generations are used up (the old pid retires).
    fn restart_task(&mut self, task: TaskId) -> Result<TaskId, SpawnError> {
        match task.next_generation() {
            Some(next) => Ok(next),
            None => self.next_task(),
        }
    }

    /// The table slot of the live process with `pid`.
    fn slot_of(&self, pid: Pid) -> Option<usize> {
        self.table.iter().position(|p| p.is_some_and(|p| p.task.pid() == pid))
    }

    /// Build `p` and enter it in the table; `serve` (with its CNode's
    /// size) makes it the memory manager.
    fn start(
        &mut self,
        objs: &mut Objects,
        mut p: Process,
        extra_badge: Option<TaskId>,
        serve: Option<(Serve, usize)>,
    ) -> Result<TaskId, SpawnError> {
        let image = self.system.image(p.program).ok_or(SpawnError::UnknownProgram)?;
        let i = self.table.iter().position(Option::is_none).ok_or(SpawnError::NoArena)?;
        let core = self.place(p.core)?;
        p.core = Some(core);
        let spec = Spawn {
            task: p.task,
            name: p.name,
            image,
            arg: p.arg,
            restarts: p.restarts,
            priority: p.priority,
            core,
            heap_bytes: p.heap_bytes,
            budget: p.budget,
            extra_badge,
            cnode_bits: serve.map_or(self.system.supervisor.app_cnode_bits, |(_, bits)| bits),
            arena: if serve.is_some() { ArenaSize::Large } else { ArenaSize::Small },
            memory_manager: self.mm.map(|mm| mm.service),
            serve: serve.map(|(s, _)| s),
        };
        p.caps = process::spawn(objs, &mut self.arenas, self.ep, &spec)?;
        self.table[i] = Some(p);
        // It has not run yet (built stopped, on whatever core): if the
        // memory manager cannot promise its budget, it never does, and it
        // is known there before its first call.
        if let Err(e) = self.register(&p) {
            debug_println!(
                "supervisor: the memory manager refused pid {} '{}' with budget {:?}: {e}",
                p.task.pid(),
                p.name,
                p.budget
            );
            self.tear_down(objs, &p, None);
            return Err(SpawnError::Refused(e));
        }
        if let Err(e) = p.caps.run() {
            self.tear_down(objs, &p, None);
            return Err(e);
        }
        debug_println!(
            "spawned pid {} '{}' generation {} on core {core}",
            p.task.pid(),
            p.name,
            p.task.generation()
        );
        Ok(p.task)
    }

    /// The core a process runs on: the one it asks for, if the kernel has
    /// it; else the next in turn, starting after the memory manager's, so
    /// that processes share its core last.
    fn place(&mut self, wanted: Option<u32>) -> Result<u32, SpawnError> {
        if let Some(core) = wanted {
            return if (core as usize) < self.cores { Ok(core) } else { Err(SpawnError::NoSuchCore) };
        }
        let mm_core = self.system.memory_manager.core as usize;
        let core = (mm_core + 1 + self.spread) % self.cores;
        self.spread += 1;
        Ok(core as u32)
    }

    /// How many cores the kernel runs processes on.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Tell the memory manager about a new process and give it the VSpace.
    fn register(&self, p: &Process) -> Result<(), Error> {
        let Some(mm) = self.mm else { return Ok(()) };
        let alias = Name::new(p.name).ok();
        let mut mm = Ipc::with_cap(mm.caller, p.caps.vspace.cptr());
        let mut result = mm.register_process(p.task, alias, p.budget);
        if result == Err(Error::AliasTaken) {
            // Names need not be unique among apps; aliases must be.
            result = mm.register_process(p.task, None, p.budget);
        }
        result
    }

    /// Asks the memory manager to repair a fault in the shared window. The
    /// faulting thread's reply cap stays ours across this call: a Call
    /// blocks on its own reply and does not clear the caller slot.
    fn resolve_fault(&self, task: TaskId, addr: u64, write: bool) -> Result<FaultOutcome, Error> {
        let mm = self.mm.ok_or(Error::UnknownProcess)?;
        Ipc::new(mm.caller).resolve_fault(task, addr, write)
    }

    fn unregister(&self, p: &Process) {
        let Some(mm) = self.mm.filter(|mm| mm.task != p.task) else { return };
        match Ipc::new(mm.caller).unregister_process(p.task) {
            // Refused at registration: nothing to forget.
            Ok(()) | Err(Error::UnknownProcess) => {}
            Err(e) => debug_println!("memory manager could not forget pid {}: {e:?}", p.task.pid()),
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
    /// `code` is what a process waiting for its end is told, if it ended
    /// for good (a process about to be restarted has not).
    fn tear_down(&mut self, objs: &mut Objects, p: &Process, code: Option<i32>) {
        self.unregister(p);
        if let Some(i) = self.slot_of(p.task.pid()) {
            self.table[i] = None;
            // A reply cap it left waiting answers no one now.
            let _ = objs.cnode.slot(self.reply_slots + i as CPtr).delete();
        }
        if let Err(e) = self.arenas.give_back(objs.cnode, p.caps.arena) {
            debug_println!("teardown of pid {} failed: {e}", p.task.pid());
        }
        if let Some(code) = code {
            self.ended_for_good(p, code);
        }
    }

    /// Tell the starter of `p` its exit code now if it is waiting, or keep
    /// the code until it asks.
    fn ended_for_good(&mut self, p: &Process, code: i32) {
        let Some(starter) = p.started_by else { return };
        let waiter = self
            .table
            .iter()
            .position(|w| w.is_some_and(|w| w.task.pid() == starter && w.waiting_for == Some(p.task.pid())));
        match waiter {
            Some(i) => {
                if let Some(w) = self.table[i].as_mut() {
                    w.waiting_for = None;
                }
                sel4::send(self.reply_slots + i as CPtr, response(&Ok(calls::Reply::Wait(code))));
            }
            None => {
                // The oldest code is forgotten first; its starter then gets
                // `UnknownProcess`.
                self.ended[self.next_ended] = Some(Ended { pid: p.task.pid(), started_by: starter, code });
                self.next_ended = (self.next_ended + 1) % ENDED;
            }
        }
    }

    /// Whether the memory manager is running (it ends only by a failure,
    /// and then every process is ended with it).
    pub fn memory_manager_alive(&self) -> bool {
        self.mm.is_some()
    }

    fn is_memory_manager(&self, p: &Process) -> bool {
        self.mm.is_some_and(|mm| mm.task == p.task)
    }

    /// The memory manager `mm` has ended: say so loudly and end every other
    /// process, which would otherwise wait for it forever.
    fn memory_manager_ended(&mut self, objs: &mut Objects, mm: &Process, code: i32) -> Event {
        self.mm = None;
        let others = self.table;
        debug_println!(
            "supervisor: FAILED: the memory manager (pid {}) ended with {code}; ending the {} other processes",
            mm.task.pid(),
            others.iter().flatten().count()
        );
        for p in others.iter().flatten() {
            self.tear_down(objs, p, Some(EXIT_KILLED));
        }
        Event::MemoryManagerEnded { task: mm.task, code }
    }

    /// End a live process now, as if it had died: the memory manager forgets
    /// it and its arena is given back. No restart; a process waiting for
    /// it gets [`EXIT_KILLED`]. False if `task` is not alive.
    pub fn kill(&mut self, objs: &mut Objects, task: TaskId) -> bool {
        match self.process(task) {
            Some(p) => {
                self.tear_down(objs, &p, Some(EXIT_KILLED));
                if self.is_memory_manager(&p) {
                    self.memory_manager_ended(objs, &p, EXIT_KILLED);
                }
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
            sel4::reply(response(&Err(Error::StaleGeneration)));
            return Event::Refused { badge };
        };
        let label = info.label();
        if let Some(fault) = fault_type(label) {
            return self.fault(objs, p, fault);
        }
        let mut words = [0; MSG_MAX_WORDS];
        let len = info.length().min(MSG_MAX_WORDS);
        sel4::with_ipc_buffer(|b| words[..len].copy_from_slice(&b.msg[..len]));
        let request = match calls::Request::decode(label, &words[..len]) {
            Ok(r) => r,
            Err(e) => {
                sel4::reply(response(&Err(e)));
                return Event::Handled;
            }
        };
        match request {
            calls::Request::Ping {} => {
                sel4::reply(response(&Ok(calls::Reply::Ping(p.task))));
                Event::Handled
            }
            calls::Request::Report { value } => {
                sel4::reply(response(&Ok(calls::Reply::Report(()))));
                Event::Report { task: p.task, value }
            }
            calls::Request::Exit { code } => {
                // Never answered: the caller is gone.
                self.tear_down(objs, &p, Some(code));
                if self.is_memory_manager(&p) {
                    return self.memory_manager_ended(objs, &p, code);
                }
                Event::Exited { task: p.task, code }
            }
            calls::Request::Start { name } => {
                let started = self.start_by_request(objs, &p, name);
                sel4::reply(response(&started.map(calls::Reply::Start)));
                match started {
                    Ok(task) => Event::Started { task, by: p.task },
                    Err(_) => Event::Handled,
                }
            }
            calls::Request::Wait { pid } => {
                if let Err(e) = self.wait(objs, &p, pid) {
                    sel4::reply(response(&Err(e)));
                }
                Event::Handled
            }
            calls::Request::Print { text } => {
                crate::console::write(text.as_bytes());
                sel4::reply(response(&Ok(calls::Reply::Print(()))));
                Event::Handled
            }
        }
    }

    /// `Start` from `caller`: the description must name the process and
    /// let the caller start it, and it must not be running.
    fn start_by_request(
        &mut self,
        objs: &mut Objects,
        caller: &Process,
        name: Name,
    ) -> Result<TaskId, Error> {
        let desc = self.system.process(name.as_str()).ok_or(Error::UnknownAlias)?;
        if desc.start != (Start::OnRequest { by: caller.name }) {
            return Err(Error::NotPermitted);
        }
        if self.table.iter().flatten().any(|p| p.name == desc.name) {
            return Err(Error::AlreadyRunning);
        }
        let task = self.next_task().map_err(|_| Error::TooManyProcesses)?;
        self.start(objs, Process::described(task, desc, Some(caller.task.pid())), None, None).map_err(|e| {
            debug_println!("cannot start '{}' for pid {}: {e:?}", desc.name, caller.task.pid());
            match e {
                SpawnError::NoArena => Error::TooManyProcesses,
                // Described for a core this kernel does not have.
                SpawnError::NoSuchCore => Error::BadValue,
                _ => Error::OutOfMemory,
            }
        })
    }

    /// `Wait` from `caller` for `pid`, a process it started: answered now
    /// if it has ended, else when it does (its reply cap is kept).
    fn wait(&mut self, objs: &mut Objects, caller: &Process, pid: Pid) -> Result<(), Error> {
        let me = caller.task.pid();
        let ended = self.ended.iter().position(|e| e.is_some_and(|e| e.pid == pid && e.started_by == me));
        if let Some(i) = ended {
            let code = self.ended[i].take().map_or(0, |e| e.code);
            sel4::reply(response(&Ok(calls::Reply::Wait(code))));
            return Ok(());
        }
        let started = self.table.iter().flatten().any(|p| p.task.pid() == pid && p.started_by == Some(me));
        if !started {
            return Err(Error::UnknownProcess);
        }
        let i = self.slot_of(me).ok_or(Error::UnknownProcess)?;
        let slot = objs.cnode.slot(self.reply_slots + i as CPtr);
        let _ = slot.delete();
        slot.save_caller().map_err(|_| Error::Kernel)?;
        if let Some(w) = self.table[i].as_mut() {
            w.waiting_for = Some(pid);
        }
        Ok(())
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
                Ok(FaultOutcome::Resume) => {
                    // Mapped by the memory manager: an empty reply to the
                    // fault message resumes the thread at the faulting
                    // instruction (seL4 5.0).
                    sel4::reply(MessageInfo::new(0, 0, 0, 0));
                    self.repairs += 1;
                    return Event::Handled;
                }
                Ok(FaultOutcome::Report(r)) => reason = Some(r),
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
        if self.is_memory_manager(&p) {
            // Its tables are gone with it: nothing could be served again.
            self.tear_down(objs, &p, Some(EXIT_FAULTED));
            return self.memory_manager_ended(objs, &p, EXIT_FAULTED);
        }
        let restart = p.restarts_left > 0;
        self.tear_down(objs, &p, if restart { None } else { Some(EXIT_FAULTED) });
        let restarted = if restart {
            let next = self.restart_task(p.task).map(|task| Process {
                task,
                restarts_left: p.restarts_left - 1,
                restarts: p.restarts + 1,
                waiting_for: None,
                ..p
            });
            match next.and_then(|next| self.start(objs, next, None, None)) {
                Ok(task) => Some(task),
                Err(e) => {
                    debug_println!("restart of pid {} failed: {e:?}", p.task.pid());
                    self.ended_for_good(&p, EXIT_FAULTED);
                    None
                }
            }
        } else {
            None
        };
        Event::Faulted { task: p.task, fault: fault as u64, addr, restarted }
    }
}

/// Puts a response to a supervisor call in the IPC buffer; returns the
/// message info to send it with.
fn response(r: &Result<calls::Reply, Error>) -> MessageInfo {
    let mut words = [0; calls::Reply::MAX_WORDS];
    let (label, len) = calls::Reply::encode_response(r, &mut words);
    sel4::with_ipc_buffer(|b| b.msg[..len].copy_from_slice(&words[..len]));
    MessageInfo::new(label, 0, 0, len as u64)
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
