//! On-target tests of typed shared data: a shared mutex contended by
//! processes while its holder is killed, and slice copies across a grow.

use crate::harness::{ensure, isolated, Check, Ending, Env, Test};
use libshm::layout::PAGE_SIZE as PAGE;
use sel4::debug_println;
use test_contract::*;

/// The typed-data tests.
pub const TESTS: [Test; 4] = [
    ("a shared mutex contended by processes, its holder killed holding it: the count is exact", mutex),
    ("slice copies across a grow: a peer reads what the owner wrote at once; bad spans refused", slices),
    ("a C app on libshm.h grows a list that Rust peers walk by its stored pointers", c_app),
    ("subscribers are woken on every grow and set_root, a stuck subscriber present", subscribers),
];

/// The owner grows its object a page at a time; each of the subscribers
/// is woken by each grow (its wait returns the new size, the page already
/// mapped) while a subscriber that never waits is there too; then by a
/// `set_root`. The memory manager signals and goes on: nobody waits for
/// anybody but the test's own acknowledgements, which the owner counts.
fn subscribers(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let owner = m.spawn(env, "notify-owner", Behaviour::NotifyOwner.arg(), Ending::Pass)?;
        m.expect_report(env, owner, Report::Ready.value(), "the owner gets ready")?;
        let stuck = m.spawn(env, "notify-stuck", Behaviour::NotifyStuck.arg(), Ending::Pass)?;
        let mut all = [owner; NOTIFY_SUBSCRIBERS as usize + 1];
        for s in all[1..].iter_mut() {
            *s = m.spawn(env, "notify-subscriber", Behaviour::NotifySubscriber.arg(), Ending::Pass)?;
        }
        // The subscribers end; the owner waits until it is alone, so the
        // stuck one (still there, never having waited) goes last.
        m.all_pass(env, &all[1..])?;
        ensure(env.sup.kill(&mut env.objs, stuck), "the stuck subscriber is still there")?;
        m.all_pass(env, &all[..1])?;
        debug_println!(
            "  subscribers: {NOTIFY_SUBSCRIBERS} woken on each of {NOTIFY_ROUNDS} grows and a set_root, \
             a stuck subscriber present, no acknowledgement waited for by the server"
        );
        Ok(())
    })
}

/// Rust peers of the C app (apps/c-list-reader).
const C_READERS: u64 = 2;

/// The C app (`apps/c-list`, compiled by gcc against the generated
/// `libshm.h`) builds a linked list in an object it grows page by page;
/// two Rust peers attach while it does and walk the list by the pointers
/// stored in it; the C app then checks C's error cases (`MAP_FAILED`, -1
/// and `errno`) and destroys the object. Each exits 0 only if all held.
fn c_app(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let c = m.spawn_program(env, "c-list", "c-list", C_READERS, Ending::ExitsOk)?;
        let r1 = m.spawn_program(env, "c-list-reader", "c-list-reader-1", 0, Ending::ExitsOk)?;
        let r2 = m.spawn_program(env, "c-list-reader", "c-list-reader-2", 0, Ending::ExitsOk)?;
        m.all_pass(env, &[c, r1, r2])?;
        debug_println!(
            "  C app: a list of 1000 nodes grown page by page in C, walked by {C_READERS} Rust peers"
        );
        Ok(())
    })
}

/// [`MUTEX_WORKERS`] processes increment a count under one shared mutex;
/// the victim, done, takes the lock once more and is killed holding it.
/// The others go on: one takes the lock over (its guard says so), the
/// count is exact.
fn mutex(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let owner = m.spawn(env, "mutex-owner", Behaviour::MutexOwner.arg(), Ending::Pass)?;
        m.expect_report(env, owner, Report::Ready.value(), "the owner gets ready")?;
        let mut workers = [owner; MUTEX_WORKERS as usize];
        for (i, w) in (0..).zip(workers.iter_mut()) {
            *w = m.spawn(env, "mutex-worker", Behaviour::MutexWorker.with(i), Ending::Pass)?;
        }
        let victim = workers[MUTEX_VICTIM as usize];
        m.until_report(env, victim, Report::KillNow.value(), "the victim holds the lock")?;
        ensure(env.sup.kill(&mut env.objs, victim), "the victim is alive to be killed")?;
        let mut rest = [owner; MUTEX_WORKERS as usize];
        rest[1..].copy_from_slice(&workers[1..]);
        m.all_pass(env, &rest)?;
        debug_println!(
            "  shared mutex: {MUTEX_WORKERS} processes, {} increments, holder killed once, count exact",
            MUTEX_WORKERS * MUTEX_INCREMENTS
        );
        Ok(())
    })
}

/// The peer, attached before the owner grows the object, reads both
/// patterns with `read_into` as soon as the owner's flag is up.
fn slices(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let owner = m.spawn(env, "slice-owner", Behaviour::SliceOwner.arg(), Ending::Pass)?;
        m.expect_report(env, owner, Report::Ready.value(), "the owner gets ready")?;
        let peer = m.spawn(env, "slice-peer", Behaviour::SlicePeer.arg(), Ending::Pass)?;
        m.all_pass(env, &[owner, peer])?;
        debug_println!(
            "  slice copies: {SLICE_BYTES} bytes and {SLICE_WORDS} words across a grow from {} to {} pages, \
             read by a peer at once; out of bounds, misaligned and header writes refused",
            SLICE_FROM / PAGE,
            SLICE_TO / PAGE
        );
        Ok(())
    })
}
