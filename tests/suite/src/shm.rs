//! On-target tests of peer-mapped shared memory: real processes
//! (`tests/testapp`) creating, growing, mapping and cutting objects through
//! the memory manager, on the real kernel.
//!
//! The supervisor only starts processes (passing each its behaviour and a
//! parameter in `arg`) and collects what they report, how they exit and
//! where they fault; the processes coordinate among themselves through the
//! shared object alone (`test_contract` says who does what).

use crate::harness::{ensure, isolated, Cast, Check, Ending, Env, Failure, Test};
use libshm::layout::{in_window, PAGE_SIZE};
use libshm::protocol::Prot;
use test_contract::*;

/// The shared-memory tests.
pub const TESTS: [Test; 8] = [
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
    (
        "mmap_peer and munmap_peer as QNX has them: lengths rounded up, empty ranges, hints, pid 0, PROT_NONE",
        qnx_semantics,
    ),
];

/// Starts an owner and waits for its ready report, which must satisfy `ok`.
fn owner(
    env: &mut Env,
    cast: &mut Cast,
    name: &'static str,
    arg: u64,
    ok: impl FnOnce(u64) -> bool,
) -> Result<u64, Failure> {
    let task = cast.spawn(env, name, arg, Ending::Pass)?;
    let value = cast.ready(env, task)?;
    ensure(ok(value), "the owner got ready")?;
    Ok(value)
}

/// (a) The grower waits (header) for its 8 peers, grows, writes a value into
/// each new page and raises a flag; each peer sees the flag, the new size
/// in the header and every value, with no message between them. Peers
/// attach read-only, so the new pages reach them with their own rights.
fn grow_seen_by_peers(env: &mut Env) -> Check {
    owner_and_peers(
        env,
        ("shm-grower", Behaviour::GrowOwner.arg()),
        ("shm-grow-peer", Behaviour::GrowPeer.arg()),
        GROW_PEERS,
    )
}

/// An owner that reports `READY`, then `peers` copies of one peer, all of
/// which must pass.
fn owner_and_peers(
    env: &mut Env,
    owner_spec: (&'static str, u64),
    peer: (&'static str, u64),
    peers: u16,
) -> Check {
    isolated(env, |env, cast| {
        owner(env, cast, owner_spec.0, owner_spec.1, |v| v == Report::Ready.value())?;
        for _ in 0..peers {
            cast.spawn(env, peer.0, peer.1, Ending::Pass)?;
        }
        cast.finish(env)
    })
}

/// (f) One process fills a page, grows three times (the last adds a 2 MiB
/// frame) and checks all earlier data after each.
fn grow_keeps_data(env: &mut Env) -> Check {
    isolated(env, |env, cast| {
        cast.spawn(env, "shm-keeper", Behaviour::GrowKeepsData.arg(), Ending::Pass)?;
        cast.finish(env)
    })
}

/// (b) The builder's pool grows the object by whole pools while it links
/// 1000 nodes by absolute address; 4 read-only walkers follow the links from
/// the root and find every node and the pool count.
fn list_spans_pools(env: &mut Env) -> Check {
    owner_and_peers(
        env,
        ("shm-list-builder", Behaviour::ListBuilder.arg()),
        ("shm-list-walker", Behaviour::ListWalker.arg()),
        LIST_WALKERS,
    )
}

/// (c) Two processes that never attach get a page mapped by the owner: one
/// read-write by pid (it writes an answer the owner reads), one read-only by
/// alias; a wrong address and an unknown alias are refused.
fn mmap_by_pid_and_alias(env: &mut Env) -> Check {
    isolated(env, |env, cast| {
        let by_pid = Behaviour::MmapTarget.with(Prot::ReadWrite.bits());
        let target = cast.spawn(env, "shm-pid-target", by_pid, Ending::Pass)?;
        cast.spawn(env, MMAP_ALIAS, Behaviour::MmapTarget.with(Prot::Read.bits()), Ending::Pass)?;
        cast.spawn(env, "shm-mapper", Behaviour::MmapOwner.with(target.pid().into()), Ending::Pass)?;
        cast.finish(env)
    })
}

/// (d) Three peers read a page; the owner takes it from each with
/// `munmap_peer` by pid (pids from the header) and keeps its own; each peer
/// then touches it and the supervisor sees a VM fault at exactly its
/// address (seL4 5.0 on x86 reports the low 32 bits: the window is below
/// 4 GiB).
fn munmap_faults(env: &mut Env) -> Check {
    removal(env, Behaviour::UnmapOwner.arg(), Behaviour::UnmapPeer)
}

/// (d) As [`munmap_faults`], the owner shrinking the object instead: one
/// call takes the pages from every peer.
fn shrink_faults(env: &mut Env) -> Check {
    removal(env, Behaviour::ShrinkOwner.arg(), Behaviour::ShrinkPeer)
}

fn removal(env: &mut Env, owner_arg: u64, peer: Behaviour) -> Check {
    isolated(env, |env, cast| {
        let page = owner(env, cast, "shm-cutter", owner_arg, |addr| in_window(addr, PAGE_SIZE))?;
        for i in 0..UNMAP_PEERS {
            cast.spawn(env, "shm-cut-peer", peer.with(i.into()), Ending::FaultAt(page))?;
        }
        cast.finish(env)
    })
}

/// (h) The owner checks the QNX cases on its own object and reports the
/// address of page 1; a peer attached with `PROT_NONE` faults there.
fn qnx_semantics(env: &mut Env) -> Check {
    isolated(env, |env, cast| {
        let page = owner(env, cast, "shm-qnx", Behaviour::QnxOwner.arg(), |a| in_window(a, PAGE_SIZE))?;
        cast.spawn(env, "shm-qnx-none", Behaviour::QnxNone.arg(), Ending::FaultAt(page))?;
        cast.finish(env)
    })
}

/// (e) A client of a client-server object (clients read-only) is refused a
/// read-write attach (`RightsExceeded`), and grow, shrink, set-root,
/// destroy, `mmap_peer` into and `munmap_peer` from the owner (`NotOwner`);
/// it still reads, and the owner finds its object unchanged.
fn client_refused(env: &mut Env) -> Check {
    isolated(env, |env, cast| {
        owner(env, cast, "shm-cs-owner", Behaviour::CsOwner.arg(), |v| v == Report::Ready.value())?;
        cast.spawn(env, "shm-cs-client", Behaviour::CsClient.arg(), Ending::Pass)?;
        cast.finish(env)
    })
}
