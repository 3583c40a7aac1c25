//! On-target tests of peer-mapped shared memory: real processes
//! (`tests/testapp`) creating, growing, mapping and cutting objects through
//! the memory manager, on the real kernel.
//!
//! The supervisor only starts processes (passing each its behaviour and a
//! parameter in `arg`) and collects what they report, how they exit and
//! where they fault; the processes coordinate among themselves through the
//! shared object alone (`test_contract` says who does what).

use crate::harness::{ensure, fail, Check, Env, Failure, Test};
use crate::processes::{next, spawned, MAX_EVENTS, TEST_PROGRAM};
use libshm::layout::{in_window, PAGE_SIZE};
use libshm::protocol::{Prot, TaskId};
use root_task::supervisor::Event;
use sel4::{debug_println, FaultType};
use test_contract::*;

/// The shared-memory tests.
pub const TESTS: [Test; 7] = [
    (
        "8 peers see a grow (4 KiB and 2 MiB pages) at once, with no message from the grower",
        grow_seen_by_peers,
    ),
    ("data written before a grow is intact after it, 2 MiB page included", grow_keeps_data),
    ("a linked list spanning 4 pools is walked by every peer", list_spans_pools),
    ("mmap_peer maps into a process by pid and by alias", mmap_by_pid_and_alias),
    ("munmap_peer takes a page from every peer: a touch faults at its address", munmap_faults),
    ("a shrink takes pages from every peer at once: a touch faults at its address", shrink_faults),
    ("a client in client-server mode is refused grow, shrink and mapping into others", client_refused),
];

/// Most processes one test runs.
const MAX_MEMBERS: usize = 12;

/// How a process of a test must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Report `PASS`, then exit with code 0.
    Pass,
    /// Fault (a VM fault) at exactly this address, having reported nothing.
    FaultAt(u64),
}

#[derive(Clone, Copy)]
struct Member {
    task: TaskId,
    ending: Ending,
    passed: bool,
    done: bool,
}

/// The processes of one test and what has become of them.
struct Scene {
    members: [Option<Member>; MAX_MEMBERS],
}

impl Scene {
    fn new() -> Self {
        Scene { members: [None; MAX_MEMBERS] }
    }

    fn spawn(
        &mut self,
        env: &mut Env,
        name: &'static str,
        arg: u64,
        ending: Ending,
    ) -> Result<TaskId, Failure> {
        let slot = self.members.iter_mut().find(|m| m.is_none()).ok_or(fail("too many processes"))?;
        let task = spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, name, arg, 0))?;
        *slot = Some(Member { task, ending, passed: false, done: false });
        Ok(task)
    }

    fn member(&mut self, task: TaskId) -> Result<&mut Member, Failure> {
        self.members.iter_mut().flatten().find(|m| m.task == task).ok_or(fail("an event from a stranger"))
    }

    /// The first report of `task` (an owner's ready signal); nothing else
    /// may happen before it.
    fn ready(&mut self, env: &mut Env, task: TaskId) -> Result<u64, Failure> {
        match next(env) {
            Event::Report { task: t, value } if t == task => Ok(value),
            e => {
                debug_println!("  waiting for pid {} to get ready: {e:?}", task.pid());
                Err(fail("the owner did not get ready"))
            }
        }
    }

    /// Collects events until every process has ended as it must.
    fn finish(&mut self, env: &mut Env) -> Check {
        for _ in 0..MAX_EVENTS {
            if self.members.iter().flatten().all(|m| m.done) {
                return Ok(());
            }
            let event = next(env);
            self.take(event).inspect_err(|_| debug_println!("  unexpected: {event:?}"))?;
        }
        Err(fail("the processes did not all end"))
    }

    fn take(&mut self, event: Event) -> Check {
        match event {
            Event::Report { task, value } => {
                let m = self.member(task)?;
                ensure(m.ending == Ending::Pass && value == PASS, "a process reported a failed check")?;
                m.passed = true;
            }
            Event::Exited { task, code } => {
                let m = self.member(task)?;
                ensure(m.ending == Ending::Pass, "a process exited instead of faulting")?;
                ensure(m.passed && code == 0, "a process exited without passing")?;
                m.done = true;
            }
            Event::Faulted { task, fault, addr, .. } => {
                let m = self.member(task)?;
                ensure(m.ending == Ending::FaultAt(addr), "a fault at an address other than the page's")?;
                ensure(fault == FaultType::VMFault as u64, "a VM fault")?;
                m.done = true;
            }
            Event::Refused { .. } => return Err(fail("a message was refused")),
            Event::Started { .. } => return Err(fail("a process started another")),
            Event::Handled => {}
        }
        Ok(())
    }
}

/// Runs `body`, then waits until every process it started has ended (after
/// a failure too), so the next test starts from nothing. Every process
/// waits a bounded time, so this ends.
fn isolated(env: &mut Env, body: impl FnOnce(&mut Env, &mut Scene) -> Check) -> Check {
    let mut scene = Scene::new();
    let outcome = body(env, &mut scene);
    for _ in 0..MAX_EVENTS {
        if env.sup.live() == 0 {
            return outcome;
        }
        next(env);
    }
    outcome.and(Err(fail("processes were left running")))
}

/// Starts an owner and waits for its ready report, which must satisfy `ok`.
fn owner(
    env: &mut Env,
    scene: &mut Scene,
    name: &'static str,
    arg: u64,
    ok: impl FnOnce(u64) -> bool,
) -> Result<u64, Failure> {
    let task = scene.spawn(env, name, arg, Ending::Pass)?;
    let value = scene.ready(env, task)?;
    ensure(ok(value), "the owner got ready")?;
    Ok(value)
}

/// (a) The grower waits (header) for its 8 peers, grows, writes a value into
/// each new page and raises a flag; each peer sees the flag, the new size
/// in the header and every value, with no message between them. Peers
/// attach read-only, so the new pages reach them with their own rights.
fn grow_seen_by_peers(env: &mut Env) -> Check {
    owner_and_peers(env, ("shm-grower", GROW_OWNER), ("shm-grow-peer", GROW_PEER), GROW_PEERS)
}

/// An owner that reports `READY`, then `peers` copies of one peer, all of
/// which must pass.
fn owner_and_peers(
    env: &mut Env,
    owner_spec: (&'static str, u64),
    peer: (&'static str, u64),
    peers: u16,
) -> Check {
    isolated(env, |env, scene| {
        owner(env, scene, owner_spec.0, owner_spec.1, |v| v == READY)?;
        for _ in 0..peers {
            scene.spawn(env, peer.0, peer.1, Ending::Pass)?;
        }
        scene.finish(env)
    })
}

/// (f) One process fills a page, grows three times (the last adds a 2 MiB
/// frame) and checks all earlier data after each.
fn grow_keeps_data(env: &mut Env) -> Check {
    isolated(env, |env, scene| {
        scene.spawn(env, "shm-keeper", GROW_KEEPS_DATA, Ending::Pass)?;
        scene.finish(env)
    })
}

/// (b) The builder's pool grows the object by whole pools while it links
/// 1000 nodes by absolute address; 4 read-only walkers follow the links from
/// the root and find every node and the pool count.
fn list_spans_pools(env: &mut Env) -> Check {
    owner_and_peers(env, ("shm-list-builder", LIST_BUILDER), ("shm-list-walker", LIST_WALKER), LIST_WALKERS)
}

/// (c) Two processes that never attach get a page mapped by the owner: one
/// read-write by pid (it writes an answer the owner reads), one read-only by
/// alias; a wrong address and an unknown alias are refused.
fn mmap_by_pid_and_alias(env: &mut Env) -> Check {
    isolated(env, |env, scene| {
        let by_pid = with_param(MMAP_TARGET, Prot::ReadWrite.bits());
        let target = scene.spawn(env, "shm-pid-target", by_pid, Ending::Pass)?;
        scene.spawn(env, MMAP_ALIAS, with_param(MMAP_TARGET, Prot::Read.bits()), Ending::Pass)?;
        scene.spawn(env, "shm-mapper", with_param(MMAP_OWNER, target.pid().into()), Ending::Pass)?;
        scene.finish(env)
    })
}

/// (d) Three peers read a page; the owner takes it from each with
/// `munmap_peer` by pid (pids from the header) and keeps its own; each peer
/// then touches it and the supervisor sees a VM fault at exactly its
/// address (seL4 5.0 on x86 reports the low 32 bits: the window is below
/// 4 GiB).
fn munmap_faults(env: &mut Env) -> Check {
    removal(env, UNMAP_OWNER, UNMAP_PEER)
}

/// (d) As [`munmap_faults`], the owner shrinking the object instead: one
/// call takes the pages from every peer.
fn shrink_faults(env: &mut Env) -> Check {
    removal(env, SHRINK_OWNER, SHRINK_PEER)
}

fn removal(env: &mut Env, owner_arg: u64, peer_arg: u64) -> Check {
    isolated(env, |env, scene| {
        let page = owner(env, scene, "shm-cutter", owner_arg, |addr| in_window(addr, PAGE_SIZE))?;
        for i in 0..UNMAP_PEERS {
            scene.spawn(env, "shm-cut-peer", with_param(peer_arg, i.into()), Ending::FaultAt(page))?;
        }
        scene.finish(env)
    })
}

/// (e) A client of a client-server object (clients read-only) is refused a
/// read-write attach (`RightsExceeded`), and grow, shrink, set-root,
/// destroy, `mmap_peer` into and `munmap_peer` from the owner (`NotOwner`);
/// it still reads, and the owner finds its object unchanged.
fn client_refused(env: &mut Env) -> Check {
    isolated(env, |env, scene| {
        owner(env, scene, "shm-cs-owner", CS_OWNER, |v| v == READY)?;
        scene.spawn(env, "shm-cs-client", CS_CLIENT, Ending::Pass)?;
        scene.finish(env)
    })
}
