//! The benchmark's root task (`make bench`): the supervisor's side of the
//! benchmark. It starts the owner (`bench/peer`), starts peers when the owner asks, gives
//! everyone the endpoint and notifications of the notify-and-acknowledge
//! protocol, and measures the floor when the owner asks: the kernel
//! invocations a grow needs, issued from here with no IPC and no
//! bookkeeping. The owner prints the other designs' figures.
//!
//! The floor mirrors the object's grow: frames allocated from untyped
//! memory, a page table made where a grow crosses into a new 2 MiB, a copy
//! of each frame cap mapped into each of the M + 1 VSpaces (owner and
//! peers) at the same offsets as the object's pages, in a region of the
//! shared window ([`FLOOR_BASE`]) the memory manager never uses. Our CNode
//! has 4096 slots and a grow holds up to 65 x 512 copies, so copies are
//! made in a scratch slot and moved into a large side CNode; the moves are
//! not timed (the counter is read around the invocations the grow needs).

#![no_std]
#![no_main]
#![deny(unsafe_code)]

use bench_contract::cycles;
use bench_contract::{
    design, peer_notify_slot, report, slots, Request, Role, BASE, LARGE_BASE, LARGE_PAGES, MAX_PEERS,
    OBJECT_MAX, PAGES, REPEATS,
};
use libshm::layout::{TableLevel, LARGE_PAGE_SIZE, PAGE_SIZE, WINDOW_BASE};
use libshm::protocol::{Budget, TaskId};
use root_task::objects::Objects;
use root_task::process::SpawnError;
use root_task::supervisor::{Event, Supervisor};
use root_task::Root;
use sel4::cap_type::{
    CNode, Endpoint, Granule, LargePage, Notification, PageDirectory, PageTable, Untyped, VSpace,
};
use sel4::{debug_println, CPtr, Cap, CapRights, FixedSizeObject, ObjectType, TranslationTable};

include!(concat!(env!("OUT_DIR"), "/system.rs"));

root_task::image!(SYSTEM, run);

/// The program every benchmark process runs.
const PROGRAM: &str = "bench-peer";
/// Most supervisor events the benchmark handles before it gives up.
const MAX_EVENTS: usize = 4096;

/// Where the floor maps: the second GiB of the window, with page
/// directories of its own, clear of the objects the memory manager places
/// from the window's start.
const FLOOR_BASE: u64 = WINDOW_BASE + TableLevel::L2.span();
const _: () = assert!(WINDOW_BASE + OBJECT_MAX + LARGE_PAGE_SIZE <= FLOOR_BASE);
/// log2 slots of the side CNode: every frame, copy and table of the
/// largest floor run (512 frames, 65 x 512 copies, 65 x 3 tables).
const SIDE_BITS: usize = 16;
/// log2 bytes of the untyped the timed objects come from: 2 MiB of frames
/// and 65 page tables.
const FRAMES_BITS: usize = 22;
/// log2 bytes of the untyped the untimed setup tables come from: a page
/// directory and a page table for each of 65 VSpaces.
const TABLES_BITS: usize = 20;
/// Most objects one `Untyped_Retype` makes (the kernel's
/// `CONFIG_RETYPE_FAN_OUT_LIMIT`).
const FAN_OUT: u64 = 256;

/// Why the benchmark stopped.
type Outcome<T = ()> = Result<T, &'static str>;

fn kernel<T>(r: sel4::Result<T>, what: &'static str) -> Outcome<T> {
    r.map_err(|e| {
        debug_println!("bench: {what}: {e}");
        what
    })
}

fn spawned(r: Result<TaskId, SpawnError>) -> Outcome<TaskId> {
    r.map_err(|e| {
        debug_println!("bench: spawn: {e:?}");
        "spawn a benchmark process"
    })
}

/// Runs the benchmark; returns the root task's exit code.
fn run(root: &mut Root) -> u8 {
    let Root { objs, sup } = root;
    let outcome = Bench::new(objs, sup).and_then(|mut b| b.drive(objs, sup));
    debug_println!(
        "bench: {} processes live, {} bytes of process memory free at the end",
        sup.live(),
        sup.free_bytes()
    );
    match outcome {
        Ok(()) => {
            debug_println!("bench: done");
            0
        }
        Err(what) => {
            debug_println!("bench: FAILED: {what}");
            1
        }
    }
}

struct Bench {
    owner: TaskId,
    peers: [Option<TaskId>; MAX_PEERS as usize],
    started: u16,
    answers: Cap<Endpoint>,
    release: Cap<Notification>,
    floor: Floor,
}

impl Bench {
    fn new(objs: &mut Objects, sup: &mut Supervisor) -> Outcome<Bench> {
        let answers = kernel(objs.alloc::<Endpoint>(), "the answer endpoint")?;
        let release = kernel(objs.alloc::<Notification>(), "the release notification")?;
        let floor = Floor::new(objs)?;
        let priority = sup.system().supervisor.app_priority;
        let owner = spawned(sup.spawn_with(
            objs,
            PROGRAM,
            "bench-owner",
            Role::Owner.arg(),
            priority,
            Budget::DEFAULT,
        ))?;
        let give = |slot, cap: CPtr, rights| sup.give_cap(owner, slot, cap, rights, 0);
        kernel(give(slots::ANSWERS, answers.cptr(), CapRights::ALL), "give the owner its endpoint")?;
        kernel(give(slots::RELEASE, release.cptr(), CapRights::WRITE_ONLY), "give the owner release")?;
        Ok(Bench { owner, peers: [None; MAX_PEERS as usize], started: 0, answers, release, floor })
    }

    /// Serves the owner's requests until it says it is done.
    fn drive(&mut self, objs: &mut Objects, sup: &mut Supervisor) -> Outcome {
        for _ in 0..MAX_EVENTS {
            match sup.next_event(objs) {
                Event::Report { task, value } if task == self.owner => match Request::decode(value) {
                    Some(Request::Peers(m)) => self.start_peers(objs, sup, m)?,
                    Some(Request::Floor(m)) => self.floor(sup, m)?,
                    Some(Request::Done(ok)) => return if ok { Ok(()) } else { Err("the owner failed") },
                    None => return Err("an unknown request"),
                },
                Event::Exited { code, .. } if code != 0 => return Err("a benchmark process failed"),
                Event::Faulted { .. } => return Err("a benchmark process faulted"),
                _ => {}
            }
        }
        Err("too many events")
    }

    /// Peers up to `m`, each with its notification (the owner may signal
    /// it), the answer endpoint (send only, badged with its index + 1) and
    /// the release notification (wait only).
    fn start_peers(&mut self, objs: &mut Objects, sup: &mut Supervisor, m: u16) -> Outcome {
        while self.started < m.min(MAX_PEERS) {
            let i = self.started;
            let notify = kernel(objs.alloc::<Notification>(), "a peer's notification")?;
            let task = spawned(sup.spawn(objs, PROGRAM, "bench-peer", Role::Peer(i).arg(), 0))?;
            let give = |task, slot, cap: Cap<_>, rights, badge| {
                kernel(sup.give_cap(task, slot, cap.cptr(), rights, badge), "give a peer its caps")
            };
            give(task, slots::NOTIFY, notify, CapRights::READ_ONLY, 0)?;
            give(task, slots::ANSWERS, self.answers.cast(), CapRights::WRITE_ONLY, u64::from(i) + 1)?;
            give(task, slots::RELEASE, self.release.cast(), CapRights::READ_ONLY, 0)?;
            // Badged, so every signal makes the notification active.
            give(self.owner, peer_notify_slot(i), notify, CapRights::WRITE_ONLY, 1)?;
            self.peers[usize::from(i)] = Some(task);
            self.started += 1;
        }
        Ok(())
    }

    /// The floor for the owner and the first `m` peers, every grow size.
    /// The processes are all blocked (the owner waits for this), so the
    /// counter sees only this work.
    fn floor(&mut self, sup: &Supervisor, m: u16) -> Outcome {
        let mut vspaces = [Cap::from_cptr(0); MAX_PEERS as usize + 1];
        let tasks = core::iter::once(Some(self.owner)).chain(self.peers[..usize::from(m)].iter().copied());
        for (slot, task) in vspaces.iter_mut().zip(tasks) {
            *slot = task.and_then(|t| sup.vspace(t)).ok_or("a peer's VSpace")?;
        }
        let vspaces = &vspaces[..usize::from(m) + 1];
        for k in PAGES {
            let mut times = self.floor.times(vspaces, |f, v| f.small(v, k))?;
            report(design::FLOOR, m, k, &mut times);
            let mut times = self.floor.times(vspaces, |f, v| f.small_shrink(v, k))?;
            report(design::FLOOR_SHRINK, m, k, &mut times);
        }
        let mut times = self.floor.times(vspaces, |f, v| f.large(v))?;
        report(design::FLOOR_2M, m, LARGE_PAGES, &mut times);
        Ok(())
    }
}

/// The floor's objects: a side CNode for the caps, an untyped for the
/// timed objects and one for the untimed setup tables, a scratch slot.
struct Floor {
    side: Cap<CNode>,
    frames: Cap<Untyped>,
    tables: Cap<Untyped>,
    scratch: CPtr,
    /// Next free slot of the side CNode.
    next: CPtr,
}

impl Floor {
    fn new(objs: &mut Objects) -> Outcome<Floor> {
        Ok(Floor {
            side: kernel(objs.alloc_cnode(SIDE_BITS), "the floor's CNode")?,
            frames: Cap::from_cptr(kernel(objs.alloc_raw(ObjectType::Untyped, FRAMES_BITS), "untyped")?),
            tables: Cap::from_cptr(kernel(objs.alloc_raw(ObjectType::Untyped, TABLES_BITS), "untyped")?),
            scratch: kernel(objs.slot(), "a scratch slot")?,
            next: 0,
        })
    }

    fn root() -> Cap<CNode> {
        Cap::from_cptr(sel4::CAP_INIT_THREAD_CNODE as CPtr)
    }

    fn side_slot(&self, i: CPtr) -> sel4::Slot {
        self.side.slot_at(i, SIDE_BITS as u8)
    }

    /// Moves the scratch slot's cap into the side CNode (untimed).
    fn park(&mut self) -> Outcome {
        kernel(self.side_slot(self.next).move_from(Self::root().slot(self.scratch)), "park a cap")?;
        self.next += 1;
        Ok(())
    }

    /// The times of [`REPEATS`] runs of `run` over `vspaces`.
    fn times(
        &mut self,
        vspaces: &[Cap<VSpace>],
        mut run: impl FnMut(&mut Floor, &[Cap<VSpace>]) -> Outcome<u64>,
    ) -> Outcome<[u64; REPEATS]> {
        let mut times = [0; REPEATS];
        for t in times.iter_mut() {
            let spent = self.setup_tables(vspaces).and_then(|()| run(self, vspaces));
            self.clean()?;
            *t = spent?;
        }
        Ok(times)
    }

    /// Untimed: in each VSpace, a page directory for the floor's GiB and a
    /// page table for its first 2 MiB, as the object has them before a grow.
    fn setup_tables(&mut self, vspaces: &[Cap<VSpace>]) -> Outcome {
        for &vspace in vspaces {
            self.table::<PageDirectory>(self.tables, vspace, FLOOR_BASE)?;
            self.park()?;
            self.table::<PageTable>(self.tables, vspace, FLOOR_BASE)?;
            self.park()?;
        }
        Ok(())
    }

    /// Untimed: everything goes, tables first (on x86 a deleted frame copy
    /// keeps its mapping unless it is the frame's last cap: with the tables
    /// gone, those entries are unreachable before the frames are reused).
    fn clean(&mut self) -> Outcome {
        kernel(Self::root().slot(self.tables.cptr()).revoke(), "revoke the floor's tables")?;
        kernel(Self::root().slot(self.frames.cptr()).revoke(), "revoke the floor's frames")?;
        self.next = 0;
        Ok(())
    }

    /// One retype of a `T` into the scratch slot, mapped into `vspace` at `vaddr`.
    fn table<T: TranslationTable>(&self, from: Cap<Untyped>, vspace: Cap<VSpace>, vaddr: u64) -> Outcome {
        kernel(from.retype(T::OBJECT_TYPE, 0, Self::root(), self.scratch, 1), "retype a table")?;
        kernel(Cap::<T>::from_cptr(self.scratch).map_table(vspace, vaddr as usize), "map a table")
    }

    /// Frames of type `T` retyped into the side CNode from `first`, `count` of them.
    fn alloc_frames<T: FixedSizeObject>(&self, first: CPtr, count: u64) -> Outcome {
        let mut made = 0;
        while made < count {
            let n = (count - made).min(FAN_OUT);
            let r = self.frames.retype(T::OBJECT_TYPE, 0, self.side, first + made, n as usize);
            kernel(r, "retype frames")?;
            made += n;
        }
        Ok(())
    }

    /// Copies frame `frame` (a side slot) into the scratch slot and maps
    /// the copy at `vaddr`.
    fn map_copy<T: sel4::Frame>(&self, frame: CPtr, vspace: Cap<VSpace>, vaddr: u64) -> Outcome {
        let copy = Self::root().slot(self.scratch).copy(self.side_slot(frame), CapRights::READ_WRITE);
        kernel(copy, "copy a frame cap")?;
        let map = Cap::<T>::from_cptr(self.scratch).map(vspace, vaddr as usize, CapRights::READ_WRITE, false);
        kernel(map, "map a frame")
    }

    /// The floor of a grow by `pages` 4 KiB pages from [`BASE`].
    fn small(&mut self, vspaces: &[Cap<VSpace>], pages: u64) -> Outcome<u64> {
        let first = self.next;
        let start = cycles();
        self.alloc_frames::<Granule>(first, pages)?;
        let mut spent = cycles() - start;
        self.next += pages;
        for &vspace in vspaces {
            for j in 0..pages {
                let vaddr = FLOOR_BASE + BASE + j * PAGE_SIZE;
                let start = cycles();
                // The grow crosses into a new 2 MiB: its page table first.
                if vaddr.is_multiple_of(LARGE_PAGE_SIZE) {
                    self.table::<PageTable>(self.frames, vspace, vaddr)?;
                    spent += cycles() - start;
                    self.park()?;
                }
                let start = cycles();
                self.map_copy::<Granule>(first + j, vspace, vaddr)?;
                spent += cycles() - start;
                self.park()?;
            }
        }
        Ok(spent)
    }

    /// The floor of the shrink back from a grow by `pages` (made untimed):
    /// revoking each frame, which deletes its copy in every VSpace and so
    /// unmaps it there. (The page table a grow past 2 MiB made is left to
    /// `clean`.)
    fn small_shrink(&mut self, vspaces: &[Cap<VSpace>], pages: u64) -> Outcome<u64> {
        let first = self.next;
        self.small(vspaces, pages)?;
        let start = cycles();
        for j in 0..pages {
            kernel(self.side_slot(first + j).revoke(), "revoke a frame")?;
        }
        Ok(cycles() - start)
    }

    /// The floor of a grow by one 2 MiB page at [`LARGE_BASE`].
    fn large(&mut self, vspaces: &[Cap<VSpace>]) -> Outcome<u64> {
        let frame = self.next;
        let start = cycles();
        self.alloc_frames::<LargePage>(frame, 1)?;
        let mut spent = cycles() - start;
        self.next += 1;
        for &vspace in vspaces {
            let start = cycles();
            self.map_copy::<LargePage>(frame, vspace, FLOOR_BASE + LARGE_BASE)?;
            spent += cycles() - start;
            self.park()?;
        }
        Ok(spent)
    }
}
