//! On-target tests of processes: spawning from ELF images, identity by
//! badge, faults and restarts, isolation, and memory given back.

use crate::harness::{
    ensure, fail, isolated, next, spawned, Check, Ending, Env, Test, MAX_EVENTS, TEST_PROGRAM,
};
use libshm::protocol::{TaskId, GENERATION_BITS};
use root_task::supervisor::Event;
use sel4::debug_println;
use sel4::FaultType;
use test_contract::{Behaviour, Report, HEAP_BYTES, HEAP_PROCESS, STARTER, STORM_RESTARTS, UNMAPPED};

/// The process tests.
pub const TESTS: [Test; 9] = [
    ("32 apps each call the supervisor and get an answer", thirty_two_apps),
    ("a crash is reported, restarted as generation + 1, its old badge refused", crash_and_restart),
    ("invoking a cap not given fails with the kernel's error, nothing else", cap_abuse),
    ("an app cannot see another app's memory", isolation),
    ("100 spawns and teardowns give back every byte", teardown_returns_memory),
    ("the memory manager knows each process it serves", memory_manager_knows),
    ("a process gets the heap its description gives, and no more", described_heap),
    (
        "a process starts what its description allows, waits for its exit codes, and is refused the rest",
        start_and_wait,
    ),
    ("restarts past the last generation never reuse an identity", restart_storm),
];

/// Every process spawned by `spawn` must report a pass and exit with 0;
/// nothing may fault or be refused.
fn all_pass(env: &mut Env, spawn: &[(&'static str, Behaviour)]) -> Check {
    isolated(env, |env, cast| {
        for (name, behaviour) in spawn {
            cast.spawn(env, name, behaviour.arg(), Ending::Pass)?;
        }
        cast.finish(env)
    })
}

fn thirty_two_apps(env: &mut Env) -> Check {
    all_pass(env, &[("caller", Behaviour::Ping); 32])
}

fn crash_and_restart(env: &mut Env) -> Check {
    let first = spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "crasher", Behaviour::Crash.arg(), 1))?;
    ensure(
        next(env) == Event::Report { task: first, value: Report::Pass.value() },
        "first generation pings",
    )?;
    let second = match next(env) {
        Event::Faulted { task, fault, addr, restarted: Some(next) } if task == first => {
            ensure(fault == FaultType::VMFault as u64, "a VM fault")?;
            ensure(addr == UNMAPPED, "at the address it touched")?;
            next
        }
        _ => return Err(fail("the crash was not reported and restarted")),
    };
    ensure(Some(second) == first.next_generation(), "restarted with the same pid, generation + 1")?;
    ensure(
        next(env) == Event::Report { task: second, value: Report::Pass.value() },
        "second generation knows its identity",
    )?;
    ensure(next(env) == Event::Exited { task: second, code: 0 }, "second generation exits")?;

    // A process holding a cap with the first generation's badge is refused.
    stale_badge_refused(env, first, "the stale badge is refused")
}

/// A process holding a cap with `old`'s badge is refused by the
/// supervisor, sees the stale error and exits.
fn stale_badge_refused(env: &mut Env, old: TaskId, refused: &'static str) -> Check {
    let caller = spawned(env.sup.spawn_with_badge(
        &mut env.objs,
        TEST_PROGRAM,
        "stale",
        Behaviour::StaleCaller.arg(),
        old,
    ))?;
    ensure(matches!(next(env), Event::Refused { .. }), refused)?;
    ensure(
        next(env) == Event::Report { task: caller, value: Report::Pass.value() },
        "the caller saw the stale error",
    )?;
    ensure(next(env) == Event::Exited { task: caller, code: 0 }, "the caller exits")
}

/// A process that faults at once is restarted through every generation of
/// its pid and once more: that restart gets a fresh pid, and the first and
/// the last identity of the old pid stay refused as stale.
fn restart_storm(env: &mut Env) -> Check {
    let first = spawned(env.sup.spawn(
        &mut env.objs,
        TEST_PROGRAM,
        "stormer",
        Behaviour::Storm.arg(),
        STORM_RESTARTS,
    ))?;
    let (mut current, mut fresh_pids) = (first, 0);
    for _ in 0..STORM_RESTARTS {
        let restarted = match next(env) {
            Event::Faulted { task, restarted: Some(r), .. } if task == current => r,
            _ => return Err(fail("every incarnation's fault is reported and restarted")),
        };
        match current.next_generation() {
            Some(n) => ensure(restarted == n, "restarted as the next generation")?,
            None => {
                ensure(restarted.generation() == 0, "past the last generation: generation 0")?;
                ensure(restarted.pid() > first.pid(), "of a pid never used before")?;
                fresh_pids += 1;
            }
        }
        current = restarted;
    }
    ensure(fresh_pids == 1, "one fresh pid")?;
    ensure(
        next(env) == Event::Report { task: current, value: Report::Pass.value() },
        "the last incarnation knows its identity",
    )?;
    ensure(next(env) == Event::Exited { task: current, code: 0 }, "the last incarnation exits")?;
    let last_of_first = TaskId::new(first.pid(), (1 << GENERATION_BITS) - 1).ok_or(fail("a task id"))?;
    for old in [first, last_of_first] {
        stale_badge_refused(env, old, "an old identity's badge is refused")?;
    }
    debug_println!(
        "restart storm: {STORM_RESTARTS} restarts, pid {} retired after generation {}, restarted as pid {}; \
         old badges refused",
        first.pid(),
        last_of_first.generation(),
        current.pid()
    );
    Ok(())
}

fn cap_abuse(env: &mut Env) -> Check {
    all_pass(env, &[("abuser", Behaviour::CapAbuse)])
}

fn isolation(env: &mut Env) -> Check {
    all_pass(env, &[("isolated", Behaviour::Isolation); 2])
}

fn teardown_returns_memory(env: &mut Env) -> Check {
    const ROUNDS: usize = 100;
    let before = env.sup.free_bytes();
    for _ in 0..ROUNDS {
        let task = spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "short", Behaviour::Exit.arg(), 0))?;
        ensure(next(env) == Event::Exited { task, code: 0 }, "the process exits")?;
    }
    sel4::debug_println!(
        "free process memory: {} bytes before, {} after {ROUNDS} rounds",
        before,
        env.sup.free_bytes()
    );
    ensure(env.sup.free_bytes() == before && env.sup.live() == 0, "free memory is back where it started")
}

fn memory_manager_knows(env: &mut Env) -> Check {
    all_pass(env, &[("registered", Behaviour::Registered)])
}

fn described_heap(env: &mut Env) -> Check {
    let desc =
        env.sup.system().process(HEAP_PROCESS).ok_or(fail("the suite's description has the heap user"))?;
    ensure(
        desc.heap_bytes == HEAP_BYTES && Behaviour::of(desc.arg) == Some(Behaviour::Heap),
        "as described",
    )?;
    let task = spawned(env.sup.start_described(&mut env.objs, HEAP_PROCESS))?;
    ensure(next(env) == Event::Report { task, value: Report::Pass.value() }, "its heap works")?;
    ensure(next(env) == Event::Exited { task, code: 0 }, "it exits")
}

fn start_and_wait(env: &mut Env) -> Check {
    isolated(env, |env, _| {
        let starter = spawned(env.sup.start_described(&mut env.objs, STARTER))?;
        let (mut started, mut child_exited, mut child_faulted, mut passed) = (0, false, false, false);
        for _ in 0..MAX_EVENTS {
            match next(env) {
                Event::Started { by, .. } => {
                    ensure(by == starter, "only the starter starts")?;
                    started += 1;
                }
                Event::Exited { task, code: 0 } if task != starter => child_exited = true,
                Event::Faulted { restarted: None, .. } => child_faulted = true,
                Event::Report { task, value } if task == starter => passed = value == Report::Pass.value(),
                Event::Report { .. } => {}
                Event::Exited { task, code } if task == starter => {
                    ensure(code == 0, "the starter exits with 0")?;
                    ensure(passed, "every start and wait went as the description says")?;
                    ensure(started == 2, "two children started")?;
                    return ensure(child_exited && child_faulted, "one child exited, the other faulted");
                }
                e => {
                    sel4::debug_println!("  unexpected: {e:?}");
                    return Err(fail("an unexpected event"));
                }
            }
        }
        Err(fail("the starter did not end"))
    })
}
