//! On-target tests of hostile clients: a client that sends the
//! memory manager every malformed request (and random garbage) gets exactly
//! the expected error each time, while a canary object it is not attached
//! to keeps its contents and the server keeps serving the canary's owner.
//!
//! Processes coordinate through the canary object alone, as in
//! `shm_tests.rs`; `test_contract` says who does what.

use crate::harness::{ensure, fail, Check, Env, Test};
use crate::harness::{isolated, next, spawned, MAX_EVENTS, TEST_PROGRAM};
use root_task::supervisor::Event;
use sel4::debug_println;
use test_contract::*;

/// The hostile-client tests.
pub const TESTS: [Test; 1] = [(
    "a hostile client gets the expected error for every malformed request; a canary keeps its checksum",
    hostile_client,
)];

fn hostile_client(env: &mut Env) -> Check {
    // Whatever happened, every process ends before the next test.
    isolated(env, |env, _| attack(env))
}

fn attack(env: &mut Env) -> Check {
    let owner = spawned(env.sup.spawn(
        &mut env.objs,
        TEST_PROGRAM,
        CANARY_PROCESS,
        Behaviour::HostileCanary.arg(),
        0,
    ))?;
    ensure(
        next(env) == Event::Report { task: owner, value: Report::Ready.value() },
        "the canary's owner gets ready",
    )?;
    let hostile =
        spawned(env.sup.spawn(&mut env.objs, TEST_PROGRAM, "hostile", Behaviour::Hostile.arg(), 0))?;
    let (mut tried, mut owner_passed, mut exited) = (None, false, 0);
    for _ in 0..MAX_EVENTS {
        match next(env) {
            Event::Report { task, value } if task == hostile => tried = Some(value),
            Event::Report { task, value } if task == owner => owner_passed = value == Report::Pass.value(),
            Event::Exited { code: 0, .. } => {
                exited += 1;
                if exited == 2 {
                    break;
                }
            }
            e => {
                debug_println!("  unexpected: {e:?}");
                return Err(fail("a process failed, faulted or was refused"));
            }
        }
    }
    let tried = tried.unwrap_or(0);
    ensure(tried > 0, "every hostile request was refused with its error")?;
    ensure(owner_passed, "the canary kept its contents and the server kept serving its owner")?;
    debug_println!("hostile requests tried: {tried}, all refused as expected, canary intact");
    Ok(())
}
