//! On-target tests of processes: spawning from ELF images, identity by
//! badge, faults and restarts, isolation, and memory given back.

use crate::harness::{ensure, fail, Check, Env, Failure, Test};
use libshm::protocol::TaskId;
use root_task::process::SpawnError;
use root_task::supervisor::Event;
use sel4::FaultType;
use test_contract::{PASS, UNMAPPED};

/// The process tests.
pub const TESTS: [Test; 6] = [
    ("32 apps each call the supervisor and get an answer", thirty_two_apps),
    ("a crash is reported, restarted as generation + 1, its old badge refused", crash_and_restart),
    ("invoking a cap not given fails with the kernel's error, nothing else", cap_abuse),
    ("an app cannot see another app's memory", isolation),
    ("100 spawns and teardowns give back every byte", teardown_returns_memory),
    ("the memory manager knows each process it serves", memory_manager_knows),
];

/// The program every on-target test spawns.
pub const TEST_PROGRAM: &str = "testapp";
/// Most events any test waits for before it gives up.
pub const MAX_EVENTS: usize = 512;

/// A spawn's result as a check's failure.
pub fn spawned(r: Result<TaskId, SpawnError>) -> Result<TaskId, Failure> {
    r.map_err(|e| match e {
        SpawnError::Kernel(err) => Failure { what: "spawn", error: Some(err) },
        SpawnError::BadImage => fail("spawn: bad image"),
        SpawnError::NoArena => fail("spawn: no free arena"),
        SpawnError::UnknownProgram => fail("spawn: the image embeds no such program"),
    })
}

/// Wait for the next event that is not a handled ping.
pub fn next(env: &mut Env) -> Event {
    loop {
        match env.sup.next_event(&mut env.objs) {
            Event::Handled => continue,
            e => return e,
        }
    }
}

/// Run until `n` processes have exited; every report must be a pass and
/// nothing may fault or be refused.
fn all_pass_then_exit(env: &mut Env, n: usize) -> Check {
    let (mut exits, mut passes) = (0, 0);
    for _ in 0..MAX_EVENTS {
        match next(env) {
            Event::Report { value, .. } => {
                ensure(value == PASS, "an app reported a failed check")?;
                passes += 1;
            }
            Event::Exited { code, .. } => {
                ensure(code == 0, "an app exited with a non-zero code")?;
                exits += 1;
                if exits == n {
                    return ensure(passes == n, "every app reported once");
                }
            }
            Event::Faulted { .. } => return Err(fail("an app faulted")),
            Event::Refused { .. } => return Err(fail("a message was refused")),
            Event::Started { .. } => return Err(fail("an app started another")),
            Event::Handled => {}
        }
    }
    Err(fail("apps did not all exit"))
}

fn thirty_two_apps(env: &mut Env) -> Check {
    const APPS: usize = 32;
    for _ in 0..APPS {
        spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "caller", test_contract::PING, 0))?;
    }
    ensure(env.sup.live() == APPS, "32 processes live at once")?;
    all_pass_then_exit(env, APPS)?;
    ensure(env.sup.live() == 0, "all torn down")
}

fn crash_and_restart(env: &mut Env) -> Check {
    let first = spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "crasher", test_contract::CRASH, 1))?;
    ensure(next(env) == Event::Report { task: first, value: PASS }, "first generation pings")?;
    let second = match next(env) {
        Event::Faulted { task, fault, addr, restarted: Some(next) } if task == first => {
            ensure(fault == FaultType::VMFault as u64, "a VM fault")?;
            ensure(addr == UNMAPPED, "at the address it touched")?;
            next
        }
        _ => return Err(fail("the crash was not reported and restarted")),
    };
    ensure(second == first.next_generation(), "restarted with the same pid, generation + 1")?;
    ensure(next(env) == Event::Report { task: second, value: PASS }, "second generation knows its identity")?;
    ensure(next(env) == Event::Exited { task: second, code: 0 }, "second generation exits")?;

    // A process holding a cap with the first generation's badge is refused.
    let caller = spawned(env.sup.spawn_with_badge(
        &mut env.objs,
        TEST_PROGRAM,
        "stale",
        test_contract::STALE_CALLER,
        first,
    ))?;
    ensure(matches!(next(env), Event::Refused { .. }), "the stale badge is refused")?;
    ensure(next(env) == Event::Report { task: caller, value: PASS }, "the caller saw the stale error")?;
    ensure(next(env) == Event::Exited { task: caller, code: 0 }, "the caller exits")
}

fn cap_abuse(env: &mut Env) -> Check {
    spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "abuser", test_contract::CAP_ABUSE, 0))?;
    all_pass_then_exit(env, 1)
}

fn isolation(env: &mut Env) -> Check {
    for _ in 0..2 {
        spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "isolated", test_contract::ISOLATION, 0))?;
    }
    all_pass_then_exit(env, 2)
}

fn teardown_returns_memory(env: &mut Env) -> Check {
    const ROUNDS: usize = 100;
    let before = env.sup.free_bytes();
    for _ in 0..ROUNDS {
        let task = spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "short", test_contract::EXIT, 0))?;
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
    spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "registered", test_contract::REGISTERED, 0))?;
    all_pass_then_exit(env, 1)
}
