//! On-target tests of recovery: the memory manager repairs a
//! first touch of a lazily attached page with the app none the wiser; a
//! process that dies and comes back as its next generation finds its
//! object, root and data as they were, and the header never names the dead
//! one; a client holding its whole quota is refused more while another
//! client still grows.

use crate::harness::{ensure, fail, isolated, Check, Ending, Env, Test};
use root_task::supervisor::Event;
use sel4::{debug_println, FaultType};
use test_contract::*;

/// The recovery tests.
pub const TESTS: [Test; 7] = [
    ("a lazily attached peer's first touches are repaired by the memory manager, unseen", lazy_repair),
    (
        "a crashed app restarts, reattaches and finds mappings, root and data; the header drops the dead",
        reattach,
    ),
    ("a client at its quota is refused more while another client still grows", quota),
    ("an app killed mid-request leaves no half-made mapping; the header and memory add up", kill_mid_request),
    ("dead, stopped and spinning peers change nothing: grow, shrink and mmap_peer complete", stuck_peers),
    ("a process spawned during a grow sees the new pages on first touch", spawned_during_grow),
    ("clients exhausting every budget are refused with ENOMEM; a bystander is served throughout", exhaustion),
];

/// Hogs use up their budgets by every path and hold what they got: page
/// by page grows, objects, eager attachments to the grown objects, lazy
/// ones with touches. Each is refused with `ENOMEM` at its budget and
/// reports ready; then a bystander is served `EXHAUST_ROUNDS` rounds of
/// create, grow, lazy attach with a repaired touch and destroy; then the
/// releaser (which prints the memory manager's heap and slot peaks) lets
/// the hogs go and every process passes.
fn exhaustion(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let releaser = m.spawn(env, "ex-releaser", Behaviour::ExhaustReleaser.arg(), Ending::Pass)?;
        m.expect_report(env, releaser, Report::Ready.value(), "the releaser gets ready")?;
        const HOGS: usize = (EXHAUST_GROWERS + EXHAUST_CREATORS + EXHAUST_ATTACHERS + EXHAUST_LAZY) as usize;
        let mut all = [releaser; HOGS + 2];
        // The growers first: the attachers attach to what they grew.
        let kinds = [
            ("ex-grower", Behaviour::ExhaustGrower, EXHAUST_GROWERS),
            ("ex-creator", Behaviour::ExhaustCreator, EXHAUST_CREATORS),
            ("ex-attacher", Behaviour::ExhaustAttacher, EXHAUST_ATTACHERS),
            ("ex-lazy", Behaviour::ExhaustLazy, EXHAUST_LAZY),
        ];
        let hogs = kinds.iter().flat_map(|&(name, b, n)| (0..n).map(move |i| (name, b, i)));
        for (slot, (name, b, i)) in all.iter_mut().zip(hogs) {
            *slot = m.spawn(env, name, b.with(i), Ending::Pass)?;
            m.expect_report(env, *slot, Report::Ready.value(), "a hog is refused at its budget")?;
        }
        // Above the hogs: they only hold what they got while it is served.
        all[HOGS] = m.spawn_above(env, "ex-bystander", Behaviour::ExhaustBystander.arg(), Ending::Pass)?;
        m.all_pass(env, &all)
    })
}

/// A peer attaches lazily (header page only) and reads three pages (two
/// 4 KiB, one 2 MiB) and writes a fourth: each first touch is a VM fault
/// the supervisor forwards and the memory manager repairs; the peer sees
/// the owner's data and reports a pass, the owner sees the peer's write,
/// and the supervisor counted exactly one repair per page.
fn lazy_repair(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let before = env.sup.repairs();
        let owner = m.spawn(env, "rec-lazy-owner", Behaviour::LazyOwner.arg(), Ending::Pass)?;
        m.expect_report(env, owner, Report::Ready.value(), "the owner gets ready")?;
        let peer = m.spawn(env, "rec-lazy-peer", Behaviour::LazyPeer.arg(), Ending::Pass)?;
        m.all_pass(env, &[owner, peer])?;
        let repairs = env.sup.repairs() - before;
        debug_println!("  lazy repair: {repairs} first touches repaired, no crash, no message to the app");
        ensure(repairs == LAZY_REPAIRS, "one repair per page first touched")
    })
}

/// The keeper creates the object with data at its root; generation 0 of
/// the reattacher attaches, grows it into a 2 MiB frame, leaves a mark and
/// crashes; generation 1 (restarted by the supervisor) finds the dead one
/// gone, attaches again and finds the size, the root and both data words;
/// the keeper, watching the header, never sees two incarnations of the pid.
fn reattach(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let keeper = m.spawn(env, "rec-keeper", Behaviour::ReattachKeeper.arg(), Ending::Pass)?;
        m.expect_report(env, keeper, Report::Ready.value(), "the keeper gets ready")?;
        let first =
            m.spawn_restarting(env, "rec-reattacher", Behaviour::Reattacher.arg(), 1, Ending::Pass)?;
        m.expect_report(env, first, Report::Ready.value(), "generation 0 attaches and grows")?;
        let again = match m.next(env) {
            Event::Faulted { task, fault, addr, restarted: Some(again) }
                if task == first && fault == FaultType::VMFault as u64 && addr == UNMAPPED =>
            {
                again
            }
            e => {
                debug_println!("  expected generation 0's crash, got {e:?}");
                return Err(fail("generation 0 crashes and is restarted"));
            }
        };
        m.adopt(again);
        m.all_pass(env, &[keeper, again])?;
        debug_println!(
            "  reattach: pid {} generation {} -> {}: mappings, root and data back; header never named the dead",
            first.pid(),
            first.generation(),
            again.generation()
        );
        Ok(())
    })
}

/// The hog grows to its whole quota and is refused a grow and a create
/// past it (`QuotaExceeded`); while it holds that, a neighbour creates and
/// grows an object of its own, then releases the hog.
fn quota(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let hog = m.spawn(env, "rec-quota-hog", Behaviour::QuotaHog.arg(), Ending::Pass)?;
        m.expect_report(
            env,
            hog,
            Report::Ready.value(),
            "the hog takes its whole quota and is refused more",
        )?;
        let neighbour = m.spawn(env, "rec-quota-neighbour", Behaviour::QuotaNeighbour.arg(), Ending::Pass)?;
        m.all_pass(env, &[hog, neighbour])?;
        debug_println!(
            "  quota: one client holds its budget's {} MiB and is refused more; another still grows",
            env.sup.system().supervisor.app_budget.memory >> 20
        );
        Ok(())
    })
}

/// The victim grows and shrinks the keeper's object in a loop; when the
/// keeper has seen it done a few requests it reports, and the supervisor
/// kills the victim at once, whatever it is doing (the memory manager, above
/// the apps' priority, runs each request to the end before anything below
/// it runs again; the kill unregisters first). The keeper then finds the
/// victim gone from the header, the size one its requests make, every page
/// up to it mapped, its data intact, and the server still serving; every
/// byte of the victim's process memory is given back.
fn kill_mid_request(env: &mut Env) -> Check {
    let free_before = env.sup.free_bytes();
    isolated(env, |env, m| {
        let keeper = m.spawn(env, "rec-kill-keeper", Behaviour::KillKeeper.arg(), Ending::Pass)?;
        m.expect_report(env, keeper, Report::Ready.value(), "the keeper gets ready")?;
        let victim = m.spawn(env, "rec-kill-victim", Behaviour::KillVictim.arg(), Ending::Pass)?;
        m.expect_report(env, keeper, Report::KillNow.value(), "the keeper sees the victim loop")?;
        ensure(env.sup.kill(&mut env.objs, victim), "the victim is alive to be killed")?;
        m.all_pass(env, &[keeper])
    })?;
    ensure(env.sup.free_bytes() == free_before, "every byte of process memory is given back")?;
    debug_println!("  kill mid-request: victim killed mid-loop; header, mappings and memory consistent");
    Ok(())
}

/// Three peers attach to the owner's object and then die, stop themselves
/// and spin at the apps' priority, never calling the server again. The
/// owner grows the object (into a 2 MiB frame), shrinks it and maps a page
/// back into a watcher with `mmap_peer` by alias; the watcher sees each
/// step. The stopped and the spinning peer are killed at the end.
fn stuck_peers(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let owner = m.spawn(env, "rec-stuck-owner", Behaviour::StuckOwner.arg(), Ending::Pass)?;
        m.expect_report(env, owner, Report::Ready.value(), "the owner gets ready")?;
        let dead = m.spawn(env, "rec-stuck-dead", Behaviour::StuckPeer.with(STUCK_DEAD), Ending::Pass)?;
        m.expect_report(env, dead, Report::Ready.value(), "the dead peer attaches")?;
        match m.next(env) {
            Event::Faulted { task, restarted: None, .. } if task == dead => {}
            e => {
                debug_println!("  expected the dead peer's crash, got {e:?}");
                return Err(fail("the dead peer dies"));
            }
        }
        let mut stuck = [dead; 2];
        for (i, kind) in [STUCK_STOPPED, STUCK_SPINNER].into_iter().enumerate() {
            stuck[i] = m.spawn(env, "rec-stuck-peer", Behaviour::StuckPeer.with(kind), Ending::Pass)?;
            m.expect_report(env, stuck[i], Report::Ready.value(), "a stuck peer attaches")?;
        }
        let watcher = m.spawn(env, STUCK_WATCHER_NAME, Behaviour::StuckWatcher.arg(), Ending::Pass)?;
        m.all_pass(env, &[watcher])?;
        for task in stuck {
            ensure(env.sup.kill(&mut env.objs, task), "the stuck peer is still there")?;
        }
        m.all_pass(env, &[owner])?;
        debug_println!(
            "  stuck peers: one dead, one stopped, one spinning; grow, shrink, mmap_peer all seen"
        );
        Ok(())
    })
}

/// The owner grows a page at a time; the supervisor starts a latecomer
/// after the first grow, which touches each newest page while the growing
/// goes on: no touch may fault (the grow mapped it before returning), and
/// no repair is needed either.
fn spawned_during_grow(env: &mut Env) -> Check {
    isolated(env, |env, m| {
        let before = env.sup.repairs();
        let owner = m.spawn(env, "rec-late-owner", Behaviour::LateOwner.arg(), Ending::Pass)?;
        m.expect_report(env, owner, Report::Ready.value(), "the owner starts growing")?;
        let late = m.spawn(env, "rec-latecomer", Behaviour::Latecomer.arg(), Ending::Pass)?;
        m.all_pass(env, &[owner, late])?;
        debug_println!("  spawned during a grow: every new page mapped before its first touch");
        ensure(env.sup.repairs() == before, "nothing needed repair")
    })
}
