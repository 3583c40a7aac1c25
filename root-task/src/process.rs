//! Building a process from an ELF image: its CNode, VSpace, TCB, IPC
//! buffer, stack and info page, all retyped from one untyped *arena* that
//! belongs to the process alone, so that tearing it down is one revoke of
//! the arena and gives every byte back.

use crate::objects::{self, ObjectSource, Objects};
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::AnyEndian;
use elf::ElfBytes;
use libshm::layout::{slots, ProcessInfo, CONSOLE_KERNEL, CONSOLE_SUPERVISOR, PROCESS_INFO_MAGIC};
use libshm::layout::{
    HEAP_BASE, HEAP_MAX, IMAGE_BASE, IMAGE_END, IPC_BUFFER, PAGE_SIZE, PROCESS_INFO, STACK_PAGES, STACK_TOP,
};
use libshm::protocol::NAME_MAX;
use libshm::protocol::{Badge, Budget, TaskId};
use sel4::cap_type::{AsidPool, CNode, Endpoint, Granule, Notification, Tcb, Untyped, VSpace};
use sel4::{CPtr, Cap, CapRights, Error, FixedSizeObject, ObjectType, TcbConfig};

/// The most app arenas a description may ask for (the tables are this big;
/// the description decides how many are used). `libshm::layout` bounds the
/// processes alive at once; one of them is the memory manager.
pub const MAX_ARENAS: usize = libshm::layout::MAX_PROCESSES - 1;
/// Root-CNode slots each arena reserves: the process's CNode, VSpace and
/// TCB, then scratch slots objects pass through before they are parked.
const ARENA_SLOTS: CPtr = 16;
const CNODE_SLOT: CPtr = 0;
const VSPACE_SLOT: CPtr = 1;
const TCB_SLOT: CPtr = 2;
const FIRST_SCRATCH: CPtr = 3;

/// Where the root task maps a frame while it fills it.
const COPY_WINDOW: usize = 0x3000_0000;

/// The rights a process gets on the supervisor's endpoint: it may call
/// (grant is what makes seL4 5.0 hand out a reply cap) but not receive.
const CALLER_RIGHTS: CapRights = CapRights { read: false, write: true, grant: true };

/// Why a spawn failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The kernel refused an invocation.
    Kernel(Error),
    /// The image is not an ELF for this machine, or lies outside the image area.
    BadImage,
    /// No free arena.
    NoArena,
    /// The description places it on a core the kernel does not have.
    NoSuchCore,
    /// The image embeds no program of that name.
    UnknownProgram,
    /// The system description names no process so.
    NotDescribed,
    /// Every pid has been handed out once (pids are never reused).
    NoIdentity,
    /// The memory manager refused to register it: `BudgetUnavailable` when
    /// what the live processes were promised leaves too little for its
    /// budget.
    Refused(libshm::protocol::Error),
}

impl From<Error> for SpawnError {
    fn from(e: Error) -> Self {
        SpawnError::Kernel(e)
    }
}

/// Fixed-size untyped blocks, one per live process.
pub struct Arenas {
    first: CPtr,
    count: usize,
    bits: usize,
    large: CPtr,
    slot_blocks: CPtr,
    /// `in_use[count]` is the large arena.
    in_use: [bool; MAX_ARENAS + 1],
}

/// Which kind of arena a process needs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArenaSize {
    /// An app's.
    Small,
    /// The memory manager's (one at a time).
    Large,
}

impl Arenas {
    /// Carve `count` (at most [`MAX_ARENAS`]) arenas of `2^bits` bytes and
    /// one of `2^large_bits` (0: none) out of the root task's untyped memory.
    pub fn new(objs: &mut Objects, count: usize, bits: usize, large_bits: usize) -> Result<Self, Error> {
        if count > MAX_ARENAS {
            return Err(Error::RangeError);
        }
        let first = objs.alloc_many(ObjectType::Untyped, bits, count)?;
        let large = if large_bits > 0 { objs.alloc_raw(ObjectType::Untyped, large_bits)? } else { 0 };
        let slot_blocks = objs.slots((count + 1) * ARENA_SLOTS as usize)?;
        let mut in_use = [false; MAX_ARENAS + 1];
        // No large arena: never handed out.
        in_use[count] = large_bits == 0;
        Ok(Arenas { first, count, bits, large, slot_blocks, in_use })
    }

    fn take(&mut self, size: ArenaSize) -> Option<usize> {
        let i = match size {
            ArenaSize::Small => self.in_use[..self.count].iter().position(|used| !used)?,
            ArenaSize::Large => Some(self.count).filter(|&i| !self.in_use[i])?,
        };
        self.in_use[i] = true;
        Some(i)
    }

    /// Delete everything made from arena `i` and mark it free.
    pub fn give_back(&mut self, cnode: Cap<CNode>, i: usize) -> Result<(), Error> {
        cnode.slot(self.untyped(i).cptr()).revoke()?;
        self.in_use[i] = false;
        Ok(())
    }

    fn untyped(&self, i: usize) -> Cap<Untyped> {
        Cap::from_cptr(if i == self.count { self.large } else { self.first + i as CPtr })
    }

    fn slot(&self, i: usize, n: CPtr) -> CPtr {
        self.slot_blocks + i as CPtr * ARENA_SLOTS + n
    }

    /// Bytes of arena memory not held by any process.
    pub fn free_bytes(&self) -> u64 {
        self.in_use[..self.count].iter().filter(|used| !**used).count() as u64 * (1 << self.bits)
    }
}

/// What the supervisor keeps of a live process: the arena it was built
/// from (its CNode, VSpace and TCB caps sit in that arena's root slots).
#[derive(Copy, Clone, Debug)]
pub struct ProcessCaps {
    /// The arena everything came from.
    pub arena: usize,
    /// Its VSpace root (the memory manager gets a copy when it registers).
    pub vspace: Cap<VSpace>,
    /// Its CNode (the benchmark's supervisor puts more caps in it).
    pub cnode: Cap<CNode>,
    /// Its thread, built stopped: [`ProcessCaps::run`] starts it.
    pub tcb: Cap<Tcb>,
}

impl ProcessCaps {
    /// Before the process exists.
    pub const NONE: ProcessCaps =
        ProcessCaps { arena: 0, vspace: Cap::from_cptr(0), cnode: Cap::from_cptr(0), tcb: Cap::from_cptr(0) };

    /// Starts the thread [`spawn`] built. Until then it has not run, on any
    /// core, so whatever must know it first (the memory manager) can learn
    /// of it before its first call.
    pub fn run(&self) -> Result<(), SpawnError> {
        Ok(self.tcb.resume()?)
    }
}

/// What the memory manager is given besides what every process gets.
#[derive(Copy, Clone, Debug)]
pub struct Serve {
    /// The endpoint it serves, put in [`slots::SERVICE`] with every right.
    pub service: Cap<Endpoint>,
    /// Untyped caps for its pool: consecutive root slots, moved to it.
    pub untyped_first: CPtr,
    /// How many.
    pub untyped_count: usize,
    /// log2 size of each.
    pub untyped_bits: usize,
}

/// What to start.
pub struct Spawn<'a> {
    /// Its identity.
    pub task: TaskId,
    /// Name alias.
    pub name: &'a str,
    /// ELF image.
    pub image: &'a [u8],
    /// The word passed in its info page.
    pub arg: u64,
    /// Scheduling priority.
    pub priority: u8,
    /// The core it runs on (below the kernel's node count).
    pub core: u32,
    /// Bytes of heap, mapped at [`HEAP_BASE`].
    pub heap_bytes: u64,
    /// What the memory manager is asked to promise it (told to it in its
    /// info page).
    pub budget: Budget,
    /// How often it was restarted before.
    pub restarts: u64,
    /// A cap to the supervisor with this (normally stale) identity, put in
    /// [`slots::EXTRA`].
    pub extra_badge: Option<TaskId>,
    /// log2 of its CNode's slots.
    pub cnode_bits: usize,
    /// Its arena.
    pub arena: ArenaSize,
    /// The memory manager's endpoint, badged with the process's identity
    /// into [`slots::MEMORY_MANAGER`].
    pub memory_manager: Option<Cap<Endpoint>>,
    /// Set for the memory manager itself.
    pub serve: Option<Serve>,
}

/// Allocates from one arena; objects pass through scratch slots of the root
/// CNode and are then parked in the new process's CNode, which keeps them
/// alive (a mapped frame or table dies with its last cap).
struct Builder<'a> {
    arenas: &'a Arenas,
    arena: usize,
    cnode: Cap<CNode>,
    cnode_bits: usize,
    next_scratch: CPtr,
    next_park: CPtr,
    park_end: CPtr,
}

impl Builder<'_> {
    fn retype_at(&self, object_type: ObjectType, size_bits: usize, slot: CPtr) -> Result<CPtr, Error> {
        let root = Cap::<CNode>::from_cptr(sel4::CAP_INIT_THREAD_CNODE as CPtr);
        self.arenas.untyped(self.arena).retype(object_type, size_bits, root, slot, 1)?;
        Ok(slot)
    }

    fn alloc<T: FixedSizeObject>(&mut self) -> Result<Cap<T>, Error> {
        self.alloc_raw(T::OBJECT_TYPE, 0).map(Cap::from_cptr)
    }

    /// Move a cap from a scratch slot into the process's CNode.
    fn park(&mut self, cptr: CPtr) -> Result<(), Error> {
        if self.next_park >= self.park_end {
            return Err(Error::NotEnoughMemory);
        }
        let root = Cap::<CNode>::from_cptr(sel4::CAP_INIT_THREAD_CNODE as CPtr);
        self.cnode.slot_at(self.next_park, self.cnode_bits as u8).move_from(root.slot(cptr))?;
        self.next_park += 1;
        Ok(())
    }
}

impl ObjectSource for Builder<'_> {
    fn alloc_raw(&mut self, object_type: ObjectType, size_bits: usize) -> Result<CPtr, Error> {
        // Scratch slots are reused in turn; each is parked before the
        // turn comes round again (mapping nests at most four deep).
        let slot = self.arenas.slot(self.arena, self.next_scratch);
        self.next_scratch =
            FIRST_SCRATCH + (self.next_scratch + 1 - FIRST_SCRATCH) % (ARENA_SLOTS - FIRST_SCRATCH);
        self.retype_at(object_type, size_bits, slot)
    }

    fn keep(&mut self, table: CPtr) -> Result<(), Error> {
        self.park(table)
    }
}

/// Fill a fresh frame through the root task's copy window.
fn fill_frame(objs: &mut Objects, frame: Cap<Granule>, fill: impl FnOnce(&mut [u8])) -> Result<(), Error> {
    objs.map_frame(objs.vspace, frame, COPY_WINDOW, CapRights::READ_WRITE)?;
    // SAFETY: the frame was just mapped read-write at COPY_WINDOW and only
    // this function touches that address; it is unmapped before returning.
    let bytes = unsafe { core::slice::from_raw_parts_mut(COPY_WINDOW as *mut u8, PAGE_SIZE as usize) };
    fill(bytes);
    frame.unmap()
}

#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = elf::abi::EM_X86_64;
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = elf::abi::EM_AARCH64;

/// Build a process, its thread stopped on its core: returns the caps the
/// supervisor keeps ([`ProcessCaps::run`] starts it).
pub fn spawn(
    objs: &mut Objects,
    arenas: &mut Arenas,
    supervisor_ep: Cap<Endpoint>,
    spec: &Spawn,
) -> Result<ProcessCaps, SpawnError> {
    let elf = ElfBytes::<AnyEndian>::minimal_parse(spec.image).map_err(|_| SpawnError::BadImage)?;
    if elf.ehdr.e_machine != MACHINE {
        return Err(SpawnError::BadImage);
    }
    let arena = arenas.take(spec.arena).ok_or(SpawnError::NoArena)?;
    let result = build(objs, arenas, arena, supervisor_ep, spec, &elf);
    if result.is_err() {
        // Whatever was made goes back with the arena.
        arenas.give_back(objs.cnode, arena)?;
    }
    result
}

fn build(
    objs: &mut Objects,
    arenas: &mut Arenas,
    arena: usize,
    supervisor_ep: Cap<Endpoint>,
    spec: &Spawn,
    elf: &ElfBytes<AnyEndian>,
) -> Result<ProcessCaps, SpawnError> {
    let root = objs.cnode;
    let mut b = Builder {
        arenas,
        arena,
        cnode: Cap::from_cptr(0),
        cnode_bits: spec.cnode_bits,
        next_scratch: FIRST_SCRATCH,
        next_park: 1 << (spec.cnode_bits - 1),
        park_end: 1 << spec.cnode_bits,
    };
    let cnode_slot = arenas.slot(arena, CNODE_SLOT);
    let cnode = Cap::<CNode>::from_cptr(b.retype_at(ObjectType::CapTable, spec.cnode_bits, cnode_slot)?);
    b.cnode = cnode;
    let vspace =
        Cap::<VSpace>::from_cptr(b.retype_at(VSpace::OBJECT_TYPE, 0, arenas.slot(arena, VSPACE_SLOT))?);
    Cap::<AsidPool>::from_cptr(sel4::CAP_INIT_THREAD_ASID_POOL as CPtr).assign(vspace)?;
    let tcb = Cap::<Tcb>::from_cptr(b.retype_at(Tcb::OBJECT_TYPE, 0, arenas.slot(arena, TCB_SLOT))?);

    // The image, segment by segment, page by page, with the segment's rights.
    let segments = elf.segments().ok_or(SpawnError::BadImage)?;
    for seg in segments.iter().filter(|s| s.p_type == PT_LOAD) {
        let (start, end) = (seg.p_vaddr, seg.p_vaddr.checked_add(seg.p_memsz).ok_or(SpawnError::BadImage)?);
        if start < IMAGE_BASE || end > IMAGE_END {
            return Err(SpawnError::BadImage);
        }
        let data = elf.segment_data(&seg).map_err(|_| SpawnError::BadImage)?;
        let rights = if seg.p_flags & PF_W != 0 { CapRights::READ_WRITE } else { CapRights::READ_ONLY };
        let mut page = start & !(PAGE_SIZE - 1);
        while page < end {
            let frame = b.alloc::<Granule>()?;
            fill_frame(objs, frame, |bytes| {
                // The part of the file image that falls in this page.
                for (i, byte) in bytes.iter_mut().enumerate() {
                    let at = page + i as u64;
                    if at >= start && at - start < data.len() as u64 {
                        *byte = data[(at - start) as usize];
                    }
                }
            })?;
            let executable = seg.p_flags & PF_X != 0;
            objects::map_frame(&mut b, vspace, frame, page as usize, rights, executable)?;
            if executable {
                // The bytes went in through the data side; fetch must see them.
                frame.sync_instruction_cache()?;
            }
            b.park(frame.cptr())?;
            page += PAGE_SIZE;
        }
    }

    // Stack, with an unmapped guard page below it and above it.
    for i in 1..=STACK_PAGES {
        let frame = b.alloc::<Granule>()?;
        objects::map_frame(
            &mut b,
            vspace,
            frame,
            (STACK_TOP - i * PAGE_SIZE) as usize,
            CapRights::READ_WRITE,
            false,
        )?;
        b.park(frame.cptr())?;
    }

    // The heap, zeroed (fresh frames are), whole pages.
    if spec.heap_bytes > HEAP_MAX {
        return Err(SpawnError::Kernel(Error::RangeError));
    }
    for page in
        (HEAP_BASE..HEAP_BASE + spec.heap_bytes.next_multiple_of(PAGE_SIZE)).step_by(PAGE_SIZE as usize)
    {
        let frame = b.alloc::<Granule>()?;
        objects::map_frame(&mut b, vspace, frame, page as usize, CapRights::READ_WRITE, false)?;
        b.park(frame.cptr())?;
    }

    // The info page, read-only to the process.
    let info_frame = b.alloc::<Granule>()?;
    let info = process_info(spec);
    fill_frame(objs, info_frame, |bytes| write_info(bytes, &info))?;
    objects::map_frame(&mut b, vspace, info_frame, PROCESS_INFO as usize, CapRights::READ_ONLY, false)?;
    b.park(info_frame.cptr())?;

    // Its CSpace: the well-known slots.
    let guard = sel4::guard_cap_data(0, (sel4::WORD_BITS - spec.cnode_bits) as u64);
    let own = |slot: CPtr| cnode.slot_at(slot, spec.cnode_bits as u8);
    own(slots::CNODE).mint(root.slot(cnode.cptr()), CapRights::ALL, guard)?;
    own(slots::VSPACE).copy(root.slot(vspace.cptr()), CapRights::ALL)?;
    own(slots::TCB).copy(root.slot(tcb.cptr()), CapRights::ALL)?;
    let badge = Badge::Process(spec.task).encode();
    let mint_badged = |slot: CPtr, ep: Cap<Endpoint>, badge: u64| {
        own(slot).mint(root.slot(ep.cptr()), CALLER_RIGHTS, sel4::badge_cap_data(badge))
    };
    mint_badged(slots::SUPERVISOR, supervisor_ep, badge)?;
    mint_badged(slots::FAULT, supervisor_ep, badge)?;
    if let Some(extra) = spec.extra_badge {
        mint_badged(slots::EXTRA, supervisor_ep, Badge::Process(extra).encode())?;
    }
    if let Some(mm) = spec.memory_manager {
        mint_badged(slots::MEMORY_MANAGER, mm, badge)?;
    }
    // Its own notification, to wait on (the memory manager signals it on a
    // change of an object it subscribed to).
    let note = b.alloc::<Notification>()?;
    let badged = sel4::badge_cap_data(slots::NOTIFICATION_BADGE);
    own(slots::NOTIFICATION).mint(root.slot(note.cptr()), CapRights::ALL, badged)?;
    b.park(note.cptr())?;
    if let Some(serve) = spec.serve {
        own(slots::SERVICE).copy(root.slot(serve.service.cptr()), CapRights::ALL)?;
        for i in 0..serve.untyped_count as CPtr {
            own(slots::FIRST_FREE + i).move_from(root.slot(serve.untyped_first + i))?;
        }
    }

    // The thread: IPC buffer, then registers, then run.
    let ipc = b.alloc::<Granule>()?;
    objects::map_frame(&mut b, vspace, ipc, IPC_BUFFER as usize, CapRights::READ_WRITE, false)?;
    tcb.configure(&TcbConfig {
        fault_ep: slots::FAULT,
        mcp: spec.priority,
        priority: spec.priority,
        cspace: cnode,
        cspace_data: guard,
        vspace,
        ipc_buffer: IPC_BUFFER as usize,
        ipc_buffer_frame: ipc,
    })?;
    b.park(ipc.cptr())?;
    place(tcb, spec.core)?;
    let regs = sel4::thread_context(elf.ehdr.e_entry as usize, STACK_TOP as usize, PROCESS_INFO, IPC_BUFFER);
    tcb.write_registers(false, &regs)?;
    Ok(ProcessCaps { arena, vspace, cnode, tcb })
}

/// Puts the thread on `core` before it first runs.
#[cfg(feature = "smp")]
fn place(tcb: Cap<Tcb>, core: u32) -> Result<(), SpawnError> {
    Ok(tcb.set_affinity(core as sel4::Word)?)
}

/// A uniprocessor kernel has core 0 only (the supervisor never asks for
/// another: it places by BootInfo's node count).
#[cfg(not(feature = "smp"))]
fn place(_: Cap<Tcb>, core: u32) -> Result<(), SpawnError> {
    if core == 0 {
        Ok(())
    } else {
        Err(SpawnError::NoSuchCore)
    }
}

fn process_info(spec: &Spawn) -> ProcessInfo {
    let (untyped_count, untyped_bits) =
        spec.serve.map_or((0, 0), |s| (s.untyped_count as CPtr, s.untyped_bits as u64));
    let mut name = [0; NAME_MAX];
    let len = spec.name.len().min(NAME_MAX);
    name[..len].copy_from_slice(&spec.name.as_bytes()[..len]);
    ProcessInfo {
        magic: PROCESS_INFO_MAGIC,
        pid: spec.task.pid(),
        generation: spec.task.generation(),
        name_len: len as u32,
        name,
        cnode_bits: spec.cnode_bits as u64,
        free_slots_start: slots::FIRST_FREE + untyped_count,
        free_slots_end: 1 << (spec.cnode_bits - 1),
        untyped_start: slots::FIRST_FREE,
        untyped_end: slots::FIRST_FREE + untyped_count,
        untyped_size_bits: untyped_bits,
        arg: spec.arg,
        restarts: spec.restarts,
        heap_bytes: spec.heap_bytes.next_multiple_of(PAGE_SIZE),
        budget: spec.budget,
        console: if crate::console::SERIAL { CONSOLE_SUPERVISOR } else { CONSOLE_KERNEL },
    }
}

/// Copy `info` into the page's first bytes.
fn write_info(bytes: &mut [u8], info: &ProcessInfo) {
    // SAFETY: ProcessInfo is plain old data (integers and byte arrays).
    let raw = unsafe {
        core::slice::from_raw_parts(
            info as *const ProcessInfo as *const u8,
            core::mem::size_of::<ProcessInfo>(),
        )
    };
    bytes[..raw.len()].copy_from_slice(raw);
}
