//! On-target tests of what more than one core changes: a page taken from
//! a peer that reads it on another core, thousands of times.

use crate::harness::{ensure, fail, isolated, next, spawned, Check, Ending, Env, Test, TEST_PROGRAM};
use root_task::supervisor::Event;
use sel4::{debug_println, FaultType};
use test_contract::*;

/// The multicore tests (on one core they run too, the peer then sharing
/// the owner's core).
pub const TESTS: [Test; 1] = [(
    "a page taken by a shrink from a peer reading it on another core: its next read faults at the \
     address, every round, and freed memory is never read",
    shootdown,
)];

/// Events the shootdown test may take: a fault and a restart per round,
/// and the ends.
const MAX_SHOOTDOWN_EVENTS: u64 = 2 * SHOOTDOWN_ROUNDS + 16;

/// The owner on the memory manager's core, its peer on the next one; each
/// round the owner shrinks the target page away while the peer reads it
/// (or, in lazy rounds, while its first touch is being repaired). Every
/// round must end with exactly one fault of the peer at the target word,
/// and the peer must never read anything but its round's value: the
/// memory manager of this image overwrites every freed frame with
/// `FREED_FRAME_POISON` before its memory is reused.
fn shootdown(env: &mut Env) -> Check {
    isolated(env, |env, cast| {
        let cores = env.sup.cores() as u32;
        let mm_core = env.sup.system().memory_manager.core;
        let repairs_before = env.sup.repairs();
        let owner = cast.spawn(env, "sd-owner", Behaviour::ShootdownOwner.arg(), Ending::Pass)?;
        let target = cast.ready(env, owner)?;
        let peer_core = (mm_core + 1) % cores;
        let rounds = SHOOTDOWN_ROUNDS as u32;
        let mut peer = spawned(env.sup.spawn_on(
            &mut env.objs,
            TEST_PROGRAM,
            "sd-peer",
            Behaviour::ShootdownPeer.arg(),
            rounds,
            Some(peer_core),
        ))?;
        let (mut faults, mut owner_done, mut peer_done) = (0u64, false, false);
        let mut outcome = Ok(());
        for _ in 0..MAX_SHOOTDOWN_EVENTS {
            if owner_done && peer_done {
                break;
            }
            let step = match next(env) {
                Event::Faulted { task, fault, addr, restarted } if task == peer => {
                    faults += 1;
                    let exact = fault == FaultType::VMFault as u64 && addr == target;
                    if !exact {
                        debug_println!(
                            "  shootdown: round {faults}: fault {fault} at {addr:#x}, not {target:#x}"
                        );
                    }
                    match restarted {
                        Some(next) => {
                            peer = next;
                            ensure(exact, "the peer faults at the target word")
                        }
                        None => Err(fail("the peer was not restarted")),
                    }
                }
                Event::Report { task, value } if task == peer => {
                    ensure(value == Report::Pass.value(), "the peer's checks pass (no read of freed memory)")
                }
                Event::Exited { task, code } if task == peer => {
                    peer_done = true;
                    ensure(code == 0, "the last peer leaves")
                }
                Event::Report { task, value } if task == owner => {
                    ensure(value == Report::Pass.value(), "every round ends as it must")
                }
                Event::Exited { task, code } if task == owner => {
                    owner_done = true;
                    ensure(code == 0, "the owner ends")
                }
                Event::Handled => Ok(()),
                e => {
                    debug_println!("  shootdown: unexpected {e:?}");
                    Err(fail("an event of neither the owner nor its peer"))
                }
            };
            if step.is_err() {
                outcome = step;
                break;
            }
        }
        if !peer_done {
            env.sup.kill(&mut env.objs, peer);
        }
        outcome?;
        ensure(owner_done && peer_done, "the owner and the last peer end")?;
        ensure(faults == SHOOTDOWN_ROUNDS, "one fault per round")?;
        let repaired = env.sup.repairs() - repairs_before;
        debug_println!(
            "  shootdown: {SHOOTDOWN_ROUNDS} rounds on cores {mm_core} and {peer_core} of {cores} ({} lazy, \
             {repaired} first touches repaired before their shrink), {faults} faults at the exact address, \
             poison never seen",
            SHOOTDOWN_ROUNDS / 2
        );
        Ok(())
    })
}
