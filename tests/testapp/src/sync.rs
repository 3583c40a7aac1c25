//! The typed-data and lock behaviours: processes contending for a shared
//! mutex while its holder is killed, and slice copies across a grow.

use core::sync::atomic::Ordering;

use libshm::layout::PAGE_SIZE as PAGE;
use libshm::pool::PoolError;
use libshm::protocol::{Mode, Prot};
use libshm::shm::{SharedObject, Timeout};
use libshm::sync::{SharedAtomicU64, SharedMutex};
use runtime::supervisor;
use runtime::ProcessInfo;
use test_contract::*;

use crate::shm::{check, expect, finish, leave, poll, wait_attached, Outcome};

pub fn run(info: &ProcessInfo) -> Option<Outcome> {
    Some(match Behaviour::of(info.arg) {
        Some(Behaviour::MutexOwner) => mutex_owner(),
        Some(Behaviour::MutexWorker) => mutex_worker(param(info.arg)),
        Some(Behaviour::SliceOwner) => slice_owner(),
        Some(Behaviour::SlicePeer) => slice_peer(),
        Some(Behaviour::NotifyOwner) => notify_owner(),
        Some(Behaviour::NotifySubscriber) => notify_subscriber(),
        Some(Behaviour::NotifyStuck) => notify_stuck(),
        _ => return None,
    })
}

fn counter(obj: &SharedObject, offset: u64) -> SharedAtomicU64 {
    obj.ptr::<u64>(offset).atomic()
}

fn mutex(obj: &SharedObject) -> Result<SharedMutex<u64>, &'static str> {
    SharedMutex::at(obj, MUTEX_AT).map_err(|_| "the mutex fits the object")
}

fn mutex_owner() -> Outcome {
    let obj = expect(
        SharedObject::create(MUTEX_OBJECT, Mode::Peer, MUTEX_SIZE, MUTEX_SIZE, Prot::ReadWrite),
        "create the mutex object",
    )?;
    supervisor::report(Report::Ready.value());
    let outcome = (|| {
        let m = mutex(&obj)?;
        let done = counter(&obj, MUTEX_DONE);
        // The workers but the victim finish; the victim is killed holding
        // the lock; then only the owner is attached.
        check(poll(|| done.load(Ordering::Acquire) == MUTEX_WORKERS - 1), "every other worker finishes")?;
        wait_attached(&obj, 1, "the victim is gone and the workers left")?;
        let g = m.lock();
        let recovered = counter(&obj, MUTEX_RECOVERED);
        if g.recovered() {
            recovered.fetch_add(1, Ordering::Relaxed);
        }
        check(g.get() == MUTEX_WORKERS * MUTEX_INCREMENTS, "the count is exact")?;
        check(recovered.load(Ordering::Relaxed) == 1, "the dead holder's lock is taken over once")?;
        check(m.holder().is_some(), "the lock names its holder")
    })();
    finish(obj, outcome, |_| Ok(()))
}

fn mutex_worker(index: u64) -> Outcome {
    let obj = expect(SharedObject::open(MUTEX_OBJECT, Prot::ReadWrite), "attach to the mutex object")?;
    let m = mutex(&obj)?;
    let recovered = counter(&obj, MUTEX_RECOVERED);
    for _ in 0..MUTEX_INCREMENTS {
        let mut g = m.lock();
        if g.recovered() {
            recovered.fetch_add(1, Ordering::Relaxed);
        }
        g.set(g.get() + 1);
    }
    if index == MUTEX_VICTIM {
        let _held = m.lock();
        supervisor::report(Report::KillNow.value());
        loop {
            sel4::yield_now();
        }
    }
    counter(&obj, MUTEX_DONE).fetch_add(1, Ordering::Release);
    leave(obj, Ok(()))
}

/// Refused with exactly `e`.
fn refused(r: Result<(), PoolError>, e: PoolError, what: &'static str) -> Outcome {
    check(r == Err(e), what)
}

fn slice_owner() -> Outcome {
    let mut obj = expect(
        SharedObject::create(SLICE_OBJECT, Mode::Peer, SLICE_FROM, SLICE_TO, Prot::ReadWrite),
        "create the slice object",
    )?;
    supervisor::report(Report::Ready.value());
    let outcome = (|| {
        wait_attached(&obj, 2, "the peer attaches")?;
        expect(obj.grow(SLICE_TO), "grow")?;
        let mut chunk = [0u8; 512];
        for from in (0..SLICE_BYTES).step_by(chunk.len()) {
            let n = (SLICE_BYTES - from).min(chunk.len() as u64) as usize;
            chunk.iter_mut().zip(from..).for_each(|(b, i)| *b = slice_byte(i));
            check(obj.write_from(SLICE_BYTES_AT + from, &chunk[..n]).is_ok(), "write the bytes")?;
        }
        let mut words = [0u64; 64];
        for from in (0..SLICE_WORDS).step_by(words.len()) {
            words.iter_mut().zip(from..).for_each(|(w, i)| *w = slice_word(i));
            check(obj.write_from(SLICE_WORDS_AT + 8 * from, &words).is_ok(), "write the words")?;
        }
        obj.store_release(SLICE_FLAG, 1);
        Ok(())
    })();
    finish(obj, outcome, |_| Ok(()))
}

fn slice_peer() -> Outcome {
    let obj = expect(SharedObject::open(SLICE_OBJECT, Prot::ReadWrite), "attach before the grow")?;
    let outcome = (|| {
        check(poll(|| obj.load_acquire(SLICE_FLAG) == 1), "the owner copies the patterns in")?;
        let mut chunk = [0u8; 700];
        for from in (0..SLICE_BYTES).step_by(chunk.len()) {
            let n = (SLICE_BYTES - from).min(chunk.len() as u64) as usize;
            check(obj.read_into(SLICE_BYTES_AT + from, &mut chunk[..n]).is_ok(), "read the bytes")?;
            check(chunk[..n].iter().zip(from..).all(|(b, i)| *b == slice_byte(i)), "the bytes arrive")?;
        }
        let mut words = [0u64; 100];
        for from in (0..SLICE_WORDS).step_by(words.len()) {
            let n = (SLICE_WORDS - from).min(words.len() as u64) as usize;
            check(obj.read_into(SLICE_WORDS_AT + 8 * from, &mut words[..n]).is_ok(), "read the words")?;
            check(words[..n].iter().zip(from..).all(|(w, i)| *w == slice_word(i)), "the words arrive")?;
        }
        refused(obj.read_into(SLICE_TO - 8, &mut [0u64; 2]), PoolError::OutOfBounds, "a read past the end")?;
        refused(
            obj.read_into(SLICE_WORDS_AT + 4, &mut [0u64; 1]),
            PoolError::Unaligned,
            "a misaligned read",
        )?;
        refused(obj.write_from(8, &[1u64]), PoolError::ReadOnly, "a write into the header page")?;
        refused(obj.write_from(SLICE_TO - 4, &[1u64; 1]), PoolError::Unaligned, "a misaligned write")?;
        refused(obj.write_from(SLICE_TO, b"x"), PoolError::OutOfBounds, "a write past the end")
    })();
    leave(obj, outcome)
}

/// Yields a subscriber waits for one change at most.
const NOTIFY_PATIENCE: u32 = 200_000;

fn notify_owner() -> Outcome {
    let mut obj = expect(
        SharedObject::create(NOTIFY_OBJECT, Mode::Peer, NOTIFY_FROM, 64 * PAGE, Prot::ReadWrite),
        "create the notify object",
    )?;
    supervisor::report(Report::Ready.value());
    let outcome = (|| {
        let (ready, acks) = (counter(&obj, NOTIFY_READY), counter(&obj, NOTIFY_ACKS));
        let all = NOTIFY_SUBSCRIBERS + 1;
        check(poll(|| ready.load(Ordering::Acquire) == all), "every subscriber subscribes")?;
        for round in 1..=NOTIFY_ROUNDS {
            expect(obj.grow(NOTIFY_FROM + round * PAGE), "grow with subscribers")?;
            let want = round * NOTIFY_SUBSCRIBERS;
            check(poll(|| acks.load(Ordering::Acquire) == want), "each subscriber is woken by the grow")?;
        }
        expect(obj.set_root(NOTIFY_ROOT), "set the root")?;
        let want = (NOTIFY_ROUNDS + 1) * NOTIFY_SUBSCRIBERS;
        check(poll(|| acks.load(Ordering::Acquire) == want), "each subscriber is woken by set_root")
    })();
    // The stuck subscriber is killed by the suite, then the others leave.
    finish(obj, outcome, |_| Ok(()))
}

fn subscribe_to_notify() -> Result<SharedObject, &'static str> {
    let obj = expect(SharedObject::open(NOTIFY_OBJECT, Prot::ReadWrite), "attach to the notify object")?;
    expect(obj.subscribe(), "subscribe")?;
    counter(&obj, NOTIFY_READY).fetch_add(1, Ordering::Release);
    Ok(obj)
}

fn notify_subscriber() -> Outcome {
    let mut obj = subscribe_to_notify()?;
    let acks = counter(&obj, NOTIFY_ACKS);
    let outcome = (|| {
        for round in 1..=NOTIFY_ROUNDS {
            let change = obj.wait_for_change(Timeout::Yields(NOTIFY_PATIENCE));
            let size = NOTIFY_FROM + round * PAGE;
            check(change.is_some_and(|c| c.size == size), "woken by the grow, its pages mapped")?;
            // The new page is mapped here already: touch it.
            check(obj.load(size - 8) == 0, "the new page reads as zero")?;
            acks.fetch_add(1, Ordering::Release);
        }
        let change = obj.wait_for_change(Timeout::Yields(NOTIFY_PATIENCE));
        check(change.is_some_and(|c| c.root == NOTIFY_ROOT), "woken by set_root with the root")?;
        acks.fetch_add(1, Ordering::Release);
        Ok(())
    })();
    leave(obj, outcome)
}

fn notify_stuck() -> Outcome {
    let _obj = subscribe_to_notify()?;
    loop {
        sel4::yield_now();
    }
}
