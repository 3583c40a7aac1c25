//! The on-target soak: [`SOAK_PROCESSES`] processes run at least
//! [`SOAK_OPERATIONS`] random operations on shared objects (create, attach,
//! grow, shrink, `mmap_peer`, `munmap_peer`, detach, write, verify), and
//! [`SOAK_KILLS`] of them are killed on the way and started again.
//!
//! A step is one operation of one process followed by that process
//! verifying the checksum of every object it is attached to (under the
//! object's lock, `tests/testapp/src/soak.rs`); it then reports the step,
//! and only then may the supervisor kill it, so a kill never leaves a lock
//! held (apps run below the supervisor's priority: a reported process does
//! not run again before the supervisor next waits). At the end a cleanup
//! process verifies and destroys every object left, opening any fails with
//! `UnknownName`, and the free process memory is what it was before.

use crate::harness::{ensure, fail, Check, Env, Test};
use crate::harness::{isolated, next, spawned, TEST_PROGRAM};
use libshm::protocol::TaskId;
use root_task::supervisor::Event;
use sel4::debug_println;
use test_contract::*;

/// The soak test.
pub const TESTS: [Test; 1] = [(
    "soak: 16 processes, 10,000 random operations, kills and restarts; every checksum verified, nothing lost",
    soak,
)];

/// Most events the soak may take: a report per step of every incarnation,
/// and a pass report and an exit each.
const MAX_SOAK_EVENTS: u64 = (SOAK_PROCESSES + SOAK_KILLS) * (SOAK_OPS_PER_PROCESS + 2);

/// The process name of every soak process (aliases need not be unique).
const SOAK_NAME: &str = "soak";

/// One soak process slot: its current incarnation.
#[derive(Clone, Copy)]
struct Worker {
    task: TaskId,
    incarnation: u64,
    passed: bool,
    done: bool,
}

fn soak(env: &mut Env) -> Check {
    // Whatever happened, every process ends before the next test.
    isolated(env, |env, _| run(env))
}

fn start(env: &mut Env, index: u64, incarnation: u64) -> Result<Worker, crate::harness::Failure> {
    let arg = Behaviour::Soak.with(soak_param(index, incarnation));
    let task = spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, SOAK_NAME, arg, 0))?;
    Ok(Worker { task, incarnation, passed: false, done: false })
}

fn run(env: &mut Env) -> Check {
    ensure(env.sup.live() == 0, "no app is alive before the soak")?;
    let free_before = env.sup.free_bytes();
    let mut workers = [None::<Worker>; SOAK_PROCESSES as usize];
    for (index, w) in (0..).zip(workers.iter_mut()) {
        *w = Some(start(env, index, 0)?);
    }
    let (mut steps, mut kills) = (0u64, 0u64);
    let mut by_kind = [0u64; SOAK_KINDS.len()];
    for _ in 0..MAX_SOAK_EVENTS {
        if workers.iter().flatten().all(|w| w.done) {
            break;
        }
        let event = next(env);
        let task = match event {
            Event::Report { task, .. } | Event::Exited { task, .. } => task,
            e => {
                debug_println!("  unexpected: {e:?}");
                return Err(fail("a soak process faulted or a message was refused"));
            }
        };
        let index = workers.iter().position(|w| w.is_some_and(|w| w.task == task));
        let index = index.ok_or(fail("an event from a stranger"))?;
        let w = workers[index].as_mut().ok_or(fail("a worker"))?;
        match event {
            Event::Report { value, .. } if is_soak_step(value) => {
                steps += 1;
                let kind = by_kind.get_mut((value & SOAK_KIND_MASK) as usize);
                *kind.ok_or(fail("a step of an unknown operation"))? += 1;
                if kills < SOAK_KILLS && steps % SOAK_KILL_INTERVAL == 0 {
                    ensure(env.sup.kill(&mut env.objs, task), "kill a soak process")?;
                    kills += 1;
                    let incarnation = w.incarnation + 1;
                    workers[index] = Some(start(env, index as u64, incarnation)?);
                }
            }
            Event::Report { value, .. } => {
                ensure(value == Report::Pass.value(), "a soak process reported a failed check")?;
                w.passed = true;
            }
            Event::Exited { code, .. } => {
                ensure(w.passed && code == 0, "a soak process exited without passing")?;
                w.done = true;
            }
            _ => {}
        }
    }
    ensure(workers.iter().flatten().all(|w| w.done), "every soak process finished")?;
    ensure(steps >= SOAK_OPERATIONS, "the soak ran all its operations")?;
    ensure(kills == SOAK_KILLS, "the soak killed and restarted its processes")?;
    ensure(by_kind.iter().all(|&n| n > 0), "every kind of operation ran")?;
    debug_println!("  soak operations:");
    for (name, n) in SOAK_KINDS.iter().zip(by_kind) {
        debug_println!("    {name}: {n}");
    }

    let cleaner =
        spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "soak-cleanup", Behaviour::SoakCleanup.arg(), 0))?;
    ensure(
        next(env) == Event::Report { task: cleaner, value: Report::Pass.value() },
        "every object verified and destroyed",
    )?;
    ensure(next(env) == Event::Exited { task: cleaner, code: 0 }, "the cleanup process exits")?;
    ensure(env.sup.free_bytes() == free_before, "the free process memory is as before")?;
    debug_println!(
        "soak: {steps} operations by {SOAK_PROCESSES} processes, {kills} kills and restarts, \
         every checksum verified, nothing lost"
    );
    Ok(())
}
