//! The recovery behaviours: a lazily attached peer whose first
//! touches the memory manager repairs, a process that dies and reattaches
//! as its next generation, and a client that takes its whole quota while
//! another still grows. What each does is written down in
//! `test_contract`.

use crate::shm::{check, expect, finish, leave, poll, refused, wait_released, Outcome};
use libshm::client::Ipc;
use libshm::layout::{MAX_OBJECT_SIZE, PAGE_SIZE, PROCESS_QUOTA_BYTES};
use libshm::protocol::{Client, Error, MapFlags, Mode, Name, Prot, Target};
use libshm::shm::SharedObject;
use libshm::shm::{mmap_peer, munmap_peer};
use runtime::slots;
use runtime::supervisor;
use runtime::ProcessInfo;
use sel4::cap_type::Tcb;
use sel4::Cap;
use test_contract::*;

/// Runs the recovery behaviour `arg` selects, if it is one.
pub fn run(info: &ProcessInfo) -> Option<Outcome> {
    Some(match Behaviour::of(info.arg) {
        Some(Behaviour::LazyOwner) => lazy_owner(),
        Some(Behaviour::LazyPeer) => lazy_peer(),
        Some(Behaviour::ReattachKeeper) => reattach_keeper(info),
        Some(Behaviour::Reattacher) => reattacher(info),
        Some(Behaviour::QuotaHog) => quota_hog(),
        Some(Behaviour::QuotaNeighbour) => quota_neighbour(),
        Some(Behaviour::KillKeeper) => kill_keeper(),
        Some(Behaviour::KillVictim) => kill_victim(),
        Some(Behaviour::StuckOwner) => stuck_owner(),
        Some(Behaviour::StuckPeer) => stuck_peer(param(info.arg)),
        Some(Behaviour::StuckWatcher) => stuck_watcher(info),
        Some(Behaviour::LateOwner) => late_owner(),
        Some(Behaviour::Latecomer) => latecomer(),
        _ => return None,
    })
}

fn lazy_owner() -> Outcome {
    let obj = expect(
        SharedObject::create(LAZY_OBJECT, Mode::Peer, LAZY_SIZE, LAZY_SIZE, Prot::ReadWrite),
        "create the lazy object",
    )?;
    LAZY_READS.iter().for_each(|&at| obj.store(at, lazy_value(at)));
    supervisor::report(Report::Ready.value());
    // On another core the peer may not have attached yet when this one
    // looks: its write, its last step before it detaches, says it came.
    let written = || obj.load(LAZY_WRITE_AT) == lazy_value(LAZY_WRITE_AT);
    let arrived = check(poll(written), "the lazy write arrives");
    finish(obj, arrived, |_| Ok(()))
}

/// Every load and store below that first touches a page faults; the
/// memory manager maps it and the thread goes on as if nothing happened.
fn lazy_peer() -> Outcome {
    let obj = expect(SharedObject::open_lazy(LAZY_OBJECT, Prot::ReadWrite), "attach lazily")?;
    let outcome = LAZY_READS
        .iter()
        .try_for_each(|&at| check(obj.load(at) == lazy_value(at), "a lazily mapped page holds the data"));
    obj.store(LAZY_WRITE_AT, lazy_value(LAZY_WRITE_AT));
    leave(obj, outcome)
}

/// The entries of `obj`'s header for `pid`, with their generations; `None`
/// while the server is rewriting the page.
fn generations_of(obj: &SharedObject, pid: u16) -> Option<([u16; 2], usize)> {
    let h = obj.header().ok()?;
    let mut gens = [0; 2];
    let mut n = 0;
    for a in h.attached().filter(|a| a.task.pid() == pid) {
        *gens.get_mut(n)? = a.task.generation();
        n += 1;
    }
    Some((gens, n))
}

fn reattach_keeper(info: &ProcessInfo) -> Outcome {
    let obj = expect(
        SharedObject::create(REATTACH_OBJECT, Mode::Peer, REATTACH_FROM, REATTACH_MAX, Prot::ReadWrite),
        "create the reattach object",
    )?;
    obj.store(REATTACH_ROOT, REATTACH_ROOT_VALUE);
    let rooted = expect(obj.set_root(REATTACH_ROOT), "set the root");
    supervisor::report(Report::Ready.value());
    // The other process: the first entry that is not ours.
    let mut other = None;
    let seen = poll(|| {
        other = obj.header().ok().and_then(|h| h.attached().map(|a| a.task).find(|t| t.pid() != info.pid));
        other.is_some()
    });
    let outcome = rooted.and(check(seen, "generation 0 attaches")).and_then(|()| {
        let first = other.ok_or("generation 0 attaches")?;
        check(first.generation() == 0, "the header names generation 0 first")?;
        obj.store_release(REATTACH_SEEN_AT, reattach_seen(first.generation()));
        // Until the next generation is in, the header never names two
        // incarnations of the pid.
        let mut twice = false;
        let back = poll(|| match generations_of(&obj, first.pid()) {
            Some((_, n)) if n > 1 => {
                twice = true;
                true
            }
            Some((gens, 1)) => gens[0] > first.generation(),
            _ => false,
        });
        check(!twice, "the header names a dead incarnation beside its successor")?;
        check(back, "the next generation appears in the header")?;
        obj.store_release(REATTACH_SEEN_AT, reattach_seen(first.generation() + 1));
        Ok(())
    });
    finish(obj, outcome, |obj| check(obj.load(REATTACH_ROOT) == REATTACH_ROOT_VALUE, "the root data stays"))
}

fn reattacher(info: &ProcessInfo) -> Outcome {
    if info.restarts == 0 {
        let mut obj = expect(SharedObject::open(REATTACH_OBJECT, Prot::ReadWrite), "attach")?;
        expect(obj.grow(REATTACH_TO), "grow")?;
        obj.store(REATTACH_MARK_AT, REATTACH_MARK);
        supervisor::report(Report::Ready.value());
        // Die only once the keeper has seen this generation in the header.
        check(
            poll(|| obj.load_acquire(REATTACH_SEEN_AT) == reattach_seen(0)),
            "the keeper sees generation 0",
        )?;
        // SAFETY: deliberately reading unmapped memory (outside the shared
        // window) to die with the object attached.
        let _ = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
        return Err("generation 0 survived its crash");
    }
    // Before attaching again: the dead generation has left the object
    // (only the keeper is attached).
    let mut mm = Ipc::new(slots::MEMORY_MANAGER);
    let object = expect(mm.open(expect(Name::new(REATTACH_OBJECT), "name")?), "open")?;
    let stat = expect(mm.stat(object.id), "stat")?;
    check(stat.attached == 1 && stat.rights.is_none(), "the dead generation left the object")?;
    let found = expect(SharedObject::open(REATTACH_OBJECT, Prot::ReadWrite), "attach again")?;
    let me = info.task();
    let outcome = (|| {
        check(found.size() == REATTACH_TO, "the reattach maps the grown size")?;
        check(expect(found.root(), "get the root")? == REATTACH_ROOT, "the root pointer comes back")?;
        check(found.header().map(|h| h.root) == Ok(REATTACH_ROOT), "the header has the root")?;
        check(found.load(REATTACH_ROOT) == REATTACH_ROOT_VALUE, "the root data is as it was")?;
        check(found.load(REATTACH_MARK_AT) == REATTACH_MARK, "the dead generation's mark is as it was")?;
        let entries = generations_of(&found, me.pid());
        check(entries == Some(([me.generation(), 0], 1)), "the header names this generation only")?;
        let seen = poll(|| found.load_acquire(REATTACH_SEEN_AT) == reattach_seen(me.generation()));
        check(seen, "the keeper sees this generation")
    })();
    leave(found, outcome)
}

fn quota_hog() -> Outcome {
    // Its budget's memory, in whole 2 MiB (the grow below is one).
    let quota = runtime::info().budget.memory;
    let quota_max = 2 * quota;
    let mut obj = expect(
        SharedObject::create(QUOTA_OBJECT, Mode::Peer, PAGE_SIZE, quota_max, Prot::ReadWrite),
        "create the hog's object",
    )?;
    let outcome = (|| {
        expect(obj.grow(quota), "grow to the whole quota")?;
        refused(obj.grow(quota + PAGE_SIZE), Error::QuotaExceeded, "grow past the quota")?;
        let more =
            SharedObject::create(QUOTA_NEIGHBOUR_OBJECT, Mode::Peer, PAGE_SIZE, PAGE_SIZE, Prot::ReadWrite);
        refused(more.map(|_| ()), Error::QuotaExceeded, "create past the quota")?;
        supervisor::report(Report::Ready.value());
        wait_released(&obj)
    })();
    finish(obj, outcome, |_| Ok(()))
}

fn quota_neighbour() -> Outcome {
    let mut mine = expect(
        SharedObject::create(
            QUOTA_NEIGHBOUR_OBJECT,
            Mode::Peer,
            PAGE_SIZE,
            QUOTA_NEIGHBOUR_SIZE,
            Prot::ReadWrite,
        ),
        "create beside the hog",
    )?;
    let grown = expect(mine.grow(QUOTA_NEIGHBOUR_SIZE), "grow while the hog holds its quota");
    let outcome = grown.and_then(|_| {
        let last = QUOTA_NEIGHBOUR_SIZE - PAGE_SIZE;
        mine.store(last, QUOTA_VALUE);
        check(mine.load(last) == QUOTA_VALUE, "the grown memory works")
    });
    let destroyed = expect(mine.destroy(), "destroy");
    let hog = expect(SharedObject::open(QUOTA_OBJECT, Prot::ReadWrite), "open the hog's object")?;
    hog.store_release(RELEASE_FLAG, RELEASED);
    leave(hog, outcome.and(destroyed))
}

const _: () = assert!(2 * PROCESS_QUOTA_BYTES <= MAX_OBJECT_SIZE);

fn kill_keeper() -> Outcome {
    let mut obj = expect(
        SharedObject::create(KILL_OBJECT, Mode::Peer, KILL_FROM, KILL_MAX, Prot::ReadWrite),
        "create the kill object",
    )?;
    obj.store(KILL_VALUE_AT, KILL_VALUE);
    supervisor::report(Report::Ready.value());
    let outcome = (|| {
        check(poll(|| obj.load_acquire(KILL_COUNT_AT) >= KILL_AFTER), "the victim loops")?;
        supervisor::report(Report::KillNow.value());
        // The victim left the header, and the object is in one of the two
        // states its requests make, never between.
        check(poll(|| obj.attached_count() == 1), "the killed victim leaves the header")?;
        let size = obj.sync_size();
        check(size == KILL_FROM || size == KILL_TO, "the size is one the victim's requests make")?;
        let stat = expect(obj.stat(), "stat")?;
        check(stat.info.size == size && stat.attached == 1, "the server agrees with the header")?;
        // Every page up to the size is mapped here (a missing one would
        // fault), and the server still serves the object.
        for at in (0..size).step_by(PAGE_SIZE as usize) {
            let _ = obj.load(at);
        }
        check(obj.load(KILL_VALUE_AT) == KILL_VALUE, "the data survives the kill")?;
        if size == KILL_FROM {
            expect(obj.grow(KILL_TO), "grow after the kill")?;
        }
        expect(obj.shrink(KILL_FROM), "shrink after the kill").map(drop)
    })();
    finish(obj, outcome, |_| Ok(()))
}

fn kill_victim() -> Outcome {
    let mut obj = expect(SharedObject::open(KILL_OBJECT, Prot::ReadWrite), "attach")?;
    for round in 0..KILL_ROUNDS {
        expect(obj.grow(KILL_TO), "grow")?;
        obj.store_release(KILL_COUNT_AT, 2 * round + 1);
        expect(obj.shrink(KILL_FROM), "shrink")?;
        obj.store_release(KILL_COUNT_AT, 2 * round + 2);
    }
    leave(obj, Err("the victim was never killed"))
}

/// Waits until the watcher has acknowledged `step`.
fn acked(obj: &SharedObject, step: u64) -> Outcome {
    check(poll(|| obj.load_acquire(STUCK_ACK_AT) == step + 1), "the watcher checks each step")
}

fn stuck_owner() -> Outcome {
    let mut obj = expect(
        SharedObject::create(STUCK_OBJECT, Mode::Peer, STUCK_FROM, STUCK_MAX, Prot::ReadWrite),
        "create the stuck object",
    )?;
    obj.store(STUCK_MAP_OFFSET, STUCK_VALUE);
    supervisor::report(Report::Ready.value());
    let outcome = (|| {
        acked(&obj, 0)?;
        expect(obj.grow(STUCK_TO), "grow with stuck peers")?;
        obj.store(STUCK_FROM, grow_value(STUCK_FROM));
        obj.store(STUCK_SHRUNK, grow_value(STUCK_SHRUNK));
        obj.store_release(STUCK_STEP_AT, 1);
        acked(&obj, 1)?;
        expect(obj.shrink(STUCK_SHRUNK), "shrink with stuck peers")?;
        obj.store_release(STUCK_STEP_AT, 2);
        acked(&obj, 2)?;
        let watcher = Target::Alias(expect(Name::new(STUCK_WATCHER_NAME), "alias")?);
        let map =
            mmap_peer(watcher, 0, PAGE_SIZE, Prot::ReadWrite, MapFlags::SHARED, obj.id(), STUCK_MAP_OFFSET);
        expect(map, "mmap_peer with stuck peers")?;
        obj.store_release(STUCK_STEP_AT, 3);
        acked(&obj, 3)
    })();
    // The supervisor ends the stopped and the spinning peer once the
    // watcher is done; then the owner is alone and destroys the object.
    finish(obj, outcome, |_| Ok(()))
}

fn stuck_peer(kind: u64) -> Outcome {
    let obj = expect(SharedObject::open(STUCK_OBJECT, Prot::ReadWrite), "attach")?;
    supervisor::report(Report::Ready.value());
    match kind {
        STUCK_DEAD => {
            // SAFETY: deliberately reading unmapped memory (outside the
            // shared window) to die with the object attached.
            let _ = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
        }
        STUCK_STOPPED => {
            let _ = Cap::<Tcb>::from_cptr(slots::TCB).suspend();
        }
        _ => loop {
            core::hint::spin_loop();
        },
    }
    leave(obj, Err("a stuck peer went on"))
}

/// Waits until the owner has done step `n`.
fn step(obj: &SharedObject, n: u64) -> bool {
    poll(|| obj.load_acquire(STUCK_STEP_AT) == n)
}

/// Step `n` checked: tell the owner.
fn ack(obj: &SharedObject, step: u64) {
    obj.store_release(STUCK_ACK_AT, step + 1);
}

fn stuck_watcher(info: &ProcessInfo) -> Outcome {
    let mut obj = expect(SharedObject::open(STUCK_OBJECT, Prot::ReadWrite), "attach")?;
    let me = Target::Task(info.task());
    let outcome = (|| {
        // Give up one page, for the owner's mmap_peer to bring back.
        expect(munmap_peer(me, obj.base() + STUCK_MAP_OFFSET, PAGE_SIZE), "munmap_peer ourselves")?;
        ack(&obj, 0);
        check(step(&obj, 1), "the owner grows")?;
        check(obj.sync_size() == STUCK_TO, "the grow is in the header")?;
        check(obj.load(STUCK_FROM) == grow_value(STUCK_FROM), "a new 4 KiB page is mapped here")?;
        check(obj.load(STUCK_SHRUNK) == grow_value(STUCK_SHRUNK), "the new 2 MiB frame is mapped here")?;
        ack(&obj, 1);
        check(step(&obj, 2), "the owner shrinks")?;
        check(obj.sync_size() == STUCK_SHRUNK, "the shrink is in the header")?;
        ack(&obj, 2);
        check(step(&obj, 3), "the owner maps")?;
        check(obj.load(STUCK_MAP_OFFSET) == STUCK_VALUE, "mmap_peer brought the page back")?;
        ack(&obj, 3);
        Ok(())
    })();
    leave(obj, outcome)
}

/// Grows a page at a time with a latecomer arriving part-way: every grow
/// maps into whoever is attached when it runs, so nothing is ever missing.
fn late_owner() -> Outcome {
    let mut obj = expect(
        SharedObject::create(LATE_OBJECT, Mode::Peer, 2 * PAGE_SIZE, LATE_PAGES * PAGE_SIZE, Prot::ReadWrite),
        "create the late object",
    )?;
    for page in 2..LATE_PAGES {
        expect(obj.grow((page + 1) * PAGE_SIZE), "grow by a page")?;
        obj.store(page * PAGE_SIZE, late_value(page));
        if page == 2 {
            supervisor::report(Report::Ready.value());
        }
        sel4::yield_now();
    }
    obj.store_release(LATE_GROWN_AT, 1);
    let seen = check(poll(|| obj.load_acquire(LATE_DONE_AT) == 1), "the latecomer checks every page");
    finish(obj, seen, |_| Ok(()))
}

/// Attaches while the owner grows; each newest page the header names is
/// already mapped here (a fault would end this process), and in the end
/// every page holds its value.
fn latecomer() -> Outcome {
    let mut obj = expect(SharedObject::open(LATE_OBJECT, Prot::ReadWrite), "attach while it grows")?;
    // Otherwise this test would not be about a grow in progress.
    let early = check(obj.load_acquire(LATE_GROWN_AT) == 0, "attached before the growing ends");
    let grown = poll(|| {
        let pages = obj.sync_size() / PAGE_SIZE;
        let newest = obj.load((pages - 1) * PAGE_SIZE);
        // The owner writes a page right after growing into it: zero or its value.
        newest == 0 || newest == late_value(pages - 1)
    } && obj.load_acquire(LATE_GROWN_AT) == 1);
    let outcome = early.and(check(grown, "the owner finishes growing")).and_then(|()| {
        check(obj.sync_size() == LATE_PAGES * PAGE_SIZE, "the header names the final size")?;
        check(
            (2..LATE_PAGES).all(|page| obj.load(page * PAGE_SIZE) == late_value(page)),
            "every page holds its value",
        )
    });
    obj.store_release(LATE_DONE_AT, 1);
    leave(obj, outcome)
}
