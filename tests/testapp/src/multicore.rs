//! The shootdown behaviours: an owner that takes a page away, round after
//! round, from a peer reading it on another core.

use libshm::layout::FREED_FRAME_POISON;
use libshm::protocol::{Mode, Prot};
use libshm::shm::SharedObject;
use runtime::supervisor;
use runtime::ProcessInfo;
use test_contract::*;

use crate::shm::{check, expect, finish, leave, Outcome};

/// Yields before a wait gives up: far more than a peer's restart takes
/// (the supervisor rebuilds it from its image), still bounded.
const PATIENCE: u64 = 20_000_000;

pub fn run(info: &ProcessInfo) -> Option<Outcome> {
    Some(match Behaviour::of(info.arg) {
        Some(Behaviour::ShootdownOwner) => owner(),
        Some(Behaviour::ShootdownPeer) => peer(info),
        _ => return None,
    })
}

/// Yields until `ready()`, at most [`PATIENCE`] times.
fn wait(mut ready: impl FnMut() -> bool, what: &'static str) -> Outcome {
    for _ in 0..PATIENCE {
        if ready() {
            return Ok(());
        }
        sel4::yield_now();
    }
    check(ready(), what)
}

/// A task as the peer publishes it.
fn task_word(pid: u16, generation: u16) -> u64 {
    u64::from(pid) << 16 | u64::from(generation) | 1 << 32
}

fn owner() -> Outcome {
    let mut obj = expect(
        SharedObject::create(SHOOTDOWN_OBJECT, Mode::Peer, SHOOTDOWN_SIZE, SHOOTDOWN_SIZE, Prot::ReadWrite),
        "create the shootdown object",
    )?;
    supervisor::report(obj.base() + SHOOTDOWN_TARGET);
    let outcome = rounds(&mut obj);
    obj.store_release(SHOOTDOWN_DONE, 1);
    // The incarnation after the last round's fault attaches, sees the
    // flag and leaves.
    let last = SHOOTDOWN_ROUNDS + 1;
    let left =
        outcome.and_then(|()| wait(|| obj.load_acquire(SHOOTDOWN_ATTACHED) == last, "the last peer comes"));
    finish(obj, left, |_| Ok(()))
}

fn rounds(obj: &mut SharedObject) -> Outcome {
    for round in 0..SHOOTDOWN_ROUNDS {
        obj.store(SHOOTDOWN_TARGET, shootdown_value(round));
        obj.store_release(SHOOTDOWN_ROUND, round + 1);
        // A lazy round shrinks as soon as its peer is attached, racing its
        // first touch (a repair, or a fault if the shrink came first); an
        // eager one once the peer is reading the page.
        let (word, what) = if shootdown_lazy(round) {
            (SHOOTDOWN_ATTACHED, "the round's peer attaches")
        } else {
            (SHOOTDOWN_SPINNING, "the round's peer reads the page")
        };
        wait(|| obj.load_acquire(word) == round + 1, what)?;
        let peer = obj.load_acquire(SHOOTDOWN_PEER);
        expect(obj.shrink(SHOOTDOWN_SHRUNK), "shrink the target page away")?;
        // The peer's next read faults; the supervisor ends that incarnation
        // and the memory manager forgets it.
        let gone = || match obj.header() {
            Ok(h) => !h.attached().any(|a| task_word(a.task.pid(), a.task.generation()) == peer),
            Err(_) => false,
        };
        wait(gone, "the round's peer faults and is gone")?;
        check(obj.load(SHOOTDOWN_BAD) == 0, "no peer read anything but its round's value")?;
        expect(obj.grow(SHOOTDOWN_SIZE), "grow the target page back")?;
    }
    Ok(())
}

fn peer(info: &ProcessInfo) -> Outcome {
    let round = info.restarts;
    let open = if shootdown_lazy(round) { SharedObject::open_lazy } else { SharedObject::open };
    let mut obj = expect(open(SHOOTDOWN_OBJECT, Prot::ReadWrite), "attach to the shootdown object")?;
    let done = || obj.load_acquire(SHOOTDOWN_DONE) == 1;
    wait(|| done() || obj.load_acquire(SHOOTDOWN_ROUND) == round + 1, "our round comes")?;
    if done() {
        obj.store_release(SHOOTDOWN_ATTACHED, round + 1);
        return leave(obj, Ok(()));
    }
    // Attached while the page was away, this handle knows the smaller
    // size: the owner grew it back before it published the round.
    obj.sync_size();
    let me = info.task();
    obj.store(SHOOTDOWN_PEER, task_word(me.pid(), me.generation()));
    obj.store_release(SHOOTDOWN_ATTACHED, round + 1);
    // The size this handle knows covers the target, so every load is made:
    // each sees the round's value until the shrink, then faults.
    let expected = shootdown_value(round);
    let mut seen = obj.load(SHOOTDOWN_TARGET);
    if seen == expected {
        obj.store_release(SHOOTDOWN_SPINNING, round + 1);
        while seen == expected {
            seen = obj.load(SHOOTDOWN_TARGET);
        }
    }
    obj.store(SHOOTDOWN_BAD, seen);
    sel4::debug_println!(
        "shootdown peer, round {round}: read {seen:#x} ({})",
        if seen == FREED_FRAME_POISON { "the freed frame's poison" } else { "not the round's value" }
    );
    leave(obj, Err("a read after the page was taken did not fault"))
}
