//! A process for the supervisor's on-target tests. `ProcessInfo::arg`
//! selects what it does (`test_contract`); it reports `PASS` or 0
//! through the supervisor before it exits, or it faults on purpose. The
//! shared-memory behaviours are in [`shm`].

#![no_std]
#![no_main]
// Faults on purpose: reads of unmapped memory are the point of some tests.
#![allow(unsafe_code)]

mod exhaust;
mod hostile;
mod multicore;
mod recovery;
mod rng;
mod shm;
mod soak;
mod sync;

use core::sync::atomic::{AtomicU64, Ordering};
use libshm::client::Ipc;
use libshm::protocol::{Client, Error as ShmError, Name};
use runtime::supervisor;
use runtime::{slots, ProcessInfo};
use sel4::cap_type::Tcb;
use sel4::{Cap, Error};
use test_contract::*;

extern crate alloc;

runtime::entry!(main);

/// Every copy of this program has this static at the same address.
static MINE: AtomicU64 = AtomicU64::new(0);

fn verdict(ok: bool) -> u64 {
    if ok { Report::Pass } else { Report::Fail }.value()
}

fn main(info: &ProcessInfo) -> i32 {
    let me = info.task();
    if let Some(value) = hostile::run(info) {
        supervisor::report(value);
        return 0;
    }
    if let Some(outcome) = shm::run(info)
        .or_else(|| soak::run(info))
        .or_else(|| recovery::run(info))
        .or_else(|| exhaust::run(info))
        .or_else(|| sync::run(info))
        .or_else(|| multicore::run(info))
    {
        if let Err(what) = outcome {
            sel4::debug_println!("testapp pid {} ({}): failed: {what}", info.pid, info.name());
        }
        supervisor::report(verdict(outcome.is_ok()));
        return 0;
    }
    match Behaviour::of(info.arg) {
        Some(Behaviour::Ping) => supervisor::report(verdict(supervisor::ping() == Ok(me))),
        Some(Behaviour::Crash) => {
            supervisor::report(verdict(supervisor::ping() == Ok(me)));
            if info.restarts == 0 {
                // SAFETY: deliberately reading unmapped memory to fault.
                let _ = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
            }
        }
        Some(Behaviour::CapAbuse) => {
            let r = Cap::<Tcb>::from_cptr(EMPTY_SLOT).set_priority(0);
            supervisor::report(verdict(r == Err(Error::InvalidCapability)));
        }
        Some(Behaviour::Isolation) => {
            let tag = 0x5eed_0000 | info.pid as u64;
            MINE.store(tag, Ordering::SeqCst);
            for _ in 0..10 {
                sel4::yield_now();
            }
            supervisor::report(verdict(MINE.load(Ordering::SeqCst) == tag));
        }
        Some(Behaviour::StaleCaller) => supervisor::report(verdict(
            supervisor::ping_through(slots::EXTRA) == Err(ShmError::StaleGeneration),
        )),
        Some(Behaviour::Registered) => {
            let answer =
                Name::new(info.name()).and_then(|name| Ipc::new(slots::MEMORY_MANAGER).lookup_alias(name));
            supervisor::report(verdict(answer == Ok(info.task())));
        }
        Some(Behaviour::Heap) => supervisor::report(verdict(heap_works(info))),
        Some(Behaviour::Storm) => {
            if info.restarts < u64::from(STORM_RESTARTS) {
                // SAFETY: deliberately reading unmapped memory to fault.
                let _ = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
            }
            supervisor::report(verdict(supervisor::ping() == Ok(me)));
        }
        Some(Behaviour::Starter) => {
            let outcome = starts_and_waits();
            if let Err(what) = outcome {
                sel4::debug_println!("testapp pid {} ({}): failed: {what}", info.pid, info.name());
            }
            supervisor::report(verdict(outcome.is_ok()))
        }
        _ => {}
    }
    0
}

/// The heap is there, as large as the description says, and no larger.
fn heap_works(info: &ProcessInfo) -> bool {
    let mut words = alloc::vec::Vec::new();
    if info.heap_bytes != HEAP_BYTES || words.try_reserve_exact(HEAP_WORDS).is_err() {
        return false;
    }
    words.extend((0..HEAP_WORDS as u64).map(|i| i * 3));
    let sum: u64 = words.iter().sum();
    let n = HEAP_WORDS as u64;
    let mut too_much = alloc::vec::Vec::<u8>::new();
    sum == 3 * n * (n - 1) / 2 && too_much.try_reserve_exact(HEAP_BYTES as usize).is_err()
}

/// Every start and wait the description does not allow is refused with
/// its error; the allowed ones start, and their exit codes come back.
/// The children run below us, so none runs before we wait for it.
fn starts_and_waits() -> Result<(), &'static str> {
    use libshm::protocol::supervisor::Op;
    use libshm::protocol::TaskId;
    use supervisor::{start, wait, EXIT_FAULTED};
    let check = |ok: bool, what| if ok { Ok(()) } else { Err(what) };
    check(start("no-such-process") == Err(ShmError::UnknownAlias), "an unknown name")?;
    check(start(FORBIDDEN_CHILD) == Err(ShmError::NotPermitted), "another's child")?;
    check(start(HEAP_PROCESS) == Err(ShmError::NotPermitted), "a process that starts at boot")?;
    check(start(STARTER) == Err(ShmError::NotPermitted), "ourselves")?;
    check(start("two words") == Err(ShmError::BadName), "a bad name")?;
    // A start with too few words, sent by hand.
    let (reply, _) = sel4::call(slots::SUPERVISOR, sel4::MessageInfo::new(Op::Start.label(), 0, 0, 1));
    check(reply.label() == ShmError::ShortMessage.code(), "a short start message")?;
    let stranger = TaskId::new(999, 0).ok_or("a task id")?;
    check(wait(stranger) == Err(ShmError::UnknownProcess), "a wait for a process we did not start")?;
    let child = start(STARTED_CHILD).map_err(|_| "start the child")?;
    check(start(STARTED_CHILD) == Err(ShmError::AlreadyRunning), "a second start of a running child")?;
    check(wait(child) == Ok(0), "the child's exit code")?;
    check(wait(child) == Err(ShmError::UnknownProcess), "a second wait")?;
    let faulting = start(FAULTING_CHILD).map_err(|_| "start the faulting child")?;
    check(wait(faulting) == Ok(EXIT_FAULTED), "a fault with no restart left")
}
