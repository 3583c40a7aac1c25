//! Clients that try to use up everything the server has, by every path
//! (objects, page-by-page grows, eager and lazy attachments, faults,
//! `mmap_peer`), while one client's requests must keep succeeding. The
//! budgets of all processes fit what the server has (memory, cap slots,
//! objects, window), so a client within its budget is never refused, and
//! a client past its budget is refused with `ENOMEM` and changes nothing.

use super::*;
use crate::fake::Fault;
use crate::{Capacity, FaultOutcome};
use proptest::prelude::*;
use std::string::String;

const HOGS: [Pid; 3] = [2, 3, 4];
const BYSTANDER: Pid = 9;
const MEMORY: u64 = MIB;
const SLOTS: u64 = 200;
const TABLES: u64 = 16 * PAGE;
/// Every process's budget.
const BUDGET: Budget =
    Budget { memory: MEMORY, tables: TABLES, slots: SLOTS, mappings: SLOTS, objects: 4, window: 64 * MIB };

/// The bystander's long-lived object: client-server, so only it resizes it.
const KEPT: &str = "kept";
const KEPT_MAX: u64 = 16 * PAGE;

#[derive(Clone, Debug)]
enum Hog {
    Create { by: usize, name: u8, pages: u64, max_pages: u64 },
    Grow { by: usize, obj: u8, pages: u64 },
    Attach { by: usize, obj: u8, lazy: bool },
    Touch { by: usize, obj: u8, page: u64 },
    MapSelf { by: usize, obj: u8, page: u64, pages: u64 },
    Destroy { by: usize, obj: u8 },
}

fn hog() -> impl Strategy<Value = Hog> {
    let by = 0..HOGS.len();
    let obj = 0u8..6;
    prop_oneof![
        1 => (by.clone(), obj.clone(), 1u64..64, 1u64..1024)
            .prop_map(|(by, name, pages, max_pages)| Hog::Create { by, name, pages, max_pages }),
        4 => (by.clone(), obj.clone(), 1u64..96).prop_map(|(by, obj, pages)| Hog::Grow { by, obj, pages }),
        1 => (by.clone(), obj.clone(), any::<bool>()).prop_map(|(by, obj, lazy)| Hog::Attach { by, obj, lazy }),
        2 => (by.clone(), obj.clone(), 0u64..1024).prop_map(|(by, obj, page)| Hog::Touch { by, obj, page }),
        1 => (by.clone(), obj.clone(), 0u64..1024, 1u64..64)
            .prop_map(|(by, obj, page, pages)| Hog::MapSelf { by, obj, page, pages }),
        1 => (by, obj).prop_map(|(by, obj)| Hog::Destroy { by, obj }),
    ]
}

/// Object `i` of the hogs' names; 5 is the bystander's, which they may
/// attach to too.
fn name_of(i: u8) -> String {
    if i == 5 {
        KEPT.into()
    } else {
        format!("hog{i}")
    }
}

fn open(w: &mut World, pid: Pid, i: u8) -> Option<ObjectInfo> {
    match w.req(pid, Request::Open { name: Name::new(&name_of(i)).unwrap() }) {
        Ok(Reply::Open(info)) => Some(info),
        _ => None,
    }
}

fn apply(w: &mut World, act: &Hog) {
    let me = |by: usize| HOGS[by];
    match *act {
        Hog::Create { by, name, pages, max_pages } => {
            let req = Request::Create {
                name: Name::new(&name_of(name % 5)).unwrap(),
                mode: Mode::Peer,
                size: pages * PAGE,
                max_size: max_pages.max(pages) * PAGE,
                client_prot: Prot::ReadWrite,
            };
            let _ = w.req(me(by), req);
        }
        Hog::Grow { by, obj, pages } => {
            if let Some(o) = open(w, me(by), obj) {
                let size = w.s.object_info(o.id).map_or(0, |i| i.size);
                let _ = w.req(me(by), Request::Grow { object: o.id, new_size: size + pages * PAGE });
            }
        }
        Hog::Attach { by, obj, lazy } => {
            if let Some(o) = open(w, me(by), obj) {
                let prot = if obj == 5 { Prot::Read } else { Prot::ReadWrite };
                let req = if lazy {
                    Request::AttachLazy { object: o.id, prot }
                } else {
                    Request::Attach { object: o.id, prot }
                };
                let _ = w.req(me(by), req);
            }
        }
        Hog::Touch { by, obj, page } => {
            if let Some(o) = open(w, me(by), obj) {
                let addr = o.base + (page * PAGE) % o.max_size;
                if w.read(me(by), addr) == Err(Fault::NotMapped) {
                    let task = w.tasks[&me(by)];
                    let _ = w.s.handle_fault(task, addr, false);
                    w.check();
                }
            }
        }
        Hog::MapSelf { by, obj, page, pages } => {
            if let Some(o) = open(w, me(by), obj) {
                let req = Request::MmapPeer {
                    target: Target::CALLER,
                    addr: 0,
                    len: pages * PAGE,
                    prot: Prot::Read,
                    flags: MapFlags::SHARED,
                    object: o.id,
                    offset: (page * PAGE) % o.max_size,
                };
                let _ = w.req(me(by), req);
            }
        }
        Hog::Destroy { by, obj } => {
            if let Some(o) = open(w, me(by), obj) {
                let _ = w.req(me(by), Request::Destroy { object: o.id });
            }
        }
    }
}

/// One round of the bystander's work: every request must succeed.
fn bystander(w: &mut World, kept: &ObjectInfo, round: u64) {
    let b = BYSTANDER;
    let size = w.s.object_info(kept.id).map(|i| i.size).expect("the kept object lives");
    let new_size = if size + PAGE > KEPT_MAX { 2 * PAGE } else { size + PAGE };
    let resize = if new_size > size {
        Request::Grow { object: kept.id, new_size }
    } else {
        Request::Shrink { object: kept.id, new_size }
    };
    w.req(b, resize).unwrap_or_else(|e| panic!("round {round}: the bystander's resize: {e:?}"));
    let at = kept.base + new_size - PAGE;
    w.write(b, at, round).unwrap_or_else(|f| panic!("round {round}: write: {f:?}"));
    assert_eq!(w.read(b, at), Ok(round));
    // A short-lived object of its own, attached lazily and touched.
    let temp = Request::Create {
        name: Name::new("temp").unwrap(),
        mode: Mode::Peer,
        size: 2 * PAGE,
        max_size: 4 * PAGE,
        client_prot: Prot::ReadWrite,
    };
    let Ok(Reply::Create(t)) = w.req(b, temp) else { panic!("round {round}: the bystander's create") };
    w.req(b, Request::AttachLazy { object: t.id, prot: Prot::ReadWrite })
        .unwrap_or_else(|e| panic!("round {round}: attach: {e:?}"));
    let task = w.tasks[&b];
    assert_eq!(w.s.handle_fault(task, t.base + PAGE, true), FaultOutcome::Resume, "round {round}: repair");
    w.write(b, t.base + PAGE, 7).unwrap();
    w.req(b, Request::Grow { object: t.id, new_size: 4 * PAGE })
        .unwrap_or_else(|e| panic!("round {round}: grow: {e:?}"));
    w.req(b, Request::Destroy { object: t.id }).unwrap_or_else(|e| panic!("round {round}: destroy: {e:?}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_client_can_exhaust_the_server(acts in proptest::collection::vec(hog(), 1..240)) {
        let pids = HOGS.len() as u64 + 1;
        // What the budgets add up to, and the processes' VSpace caps.
        let memory = pids * (MEMORY + TABLES);
        let kernel = FakeKernel::new(memory).with_slots((pids * SLOTS + pids) as usize);
        // The server promises exactly what it has: every budget, no more.
        let capacity = Capacity {
            pool: memory,
            slots: pids * SLOTS,
            records: pids * SLOTS,
            objects: pids * BUDGET.objects,
            window: pids * BUDGET.window,
        };
        let mut w = World::with_kernel(kernel, memory, Limits { capacity, ..Limits::default() });
        w.budget = BUDGET;
        for p in HOGS {
            w.spawn(p, None);
        }
        w.spawn(BYSTANDER, None);
        // Nothing is left to promise a fifth.
        let late = TaskId::new(BYSTANDER + 1, 0).unwrap();
        let vs = w.s.kernel_mut().new_vspace();
        let register = Request::RegisterProcess { task: late, alias: None, budget: Budget { objects: 1, ..Budget::NONE } };
        prop_assert_eq!(w.raw(Badge::Supervisor.encode(), register, Some(vs)), Err(Error::BudgetUnavailable));
        let kept = w.create(BYSTANDER, KEPT, Mode::ClientServer, 2 * PAGE, KEPT_MAX);
        w.attach(BYSTANDER, kept.id, Prot::ReadWrite).unwrap();
        for (round, act) in acts.iter().enumerate() {
            apply(&mut w, act);
            bystander(&mut w, &kept, round as u64);
        }
    }
}

/// Growing page by page (two slots a page: the frame's cap and the
/// mapping's copy) stops at the slot budget with `ENOMEM`, while another
/// process goes on as if nothing happened.
#[test]
fn page_by_page_growth_stops_at_the_slot_budget() {
    let mut w = World::with_budget(64 * MIB, Budget { slots: 64, ..Budget::DEFAULT });
    let (hog, other) = (HOGS[0], BYSTANDER);
    w.spawn(hog, None);
    w.spawn(other, None);
    let o = w.create(hog, "hog", Mode::Peer, PAGE, 16 * MIB);
    w.attach(hog, o.id, Prot::ReadWrite).unwrap();
    let mut size = PAGE;
    let refused = loop {
        match w.req(hog, Request::Grow { object: o.id, new_size: size + PAGE }) {
            Ok(_) => size += PAGE,
            Err(e) => break e,
        }
    };
    assert_eq!(refused, Error::SlotsExceeded);
    assert_eq!(refused.errno(), libshm::protocol::Errno::ENOMEM);
    let (_, slots, _) = w.s.usage(hog);
    assert!(slots <= 64 && slots > 60, "{slots} slots used");
    let mine = w.create(other, "mine", Mode::Peer, PAGE, MIB);
    w.attach(other, mine.id, Prot::ReadWrite).unwrap();
    w.req(other, Request::Grow { object: mine.id, new_size: 16 * PAGE }).unwrap();
}

/// A lazy attachment costs what it maps, not what the object could hold:
/// processes attached lazily to an object of a thousand 4 KiB frames are
/// charged a record for the header's mapping and one for the run of
/// pending frames, and the heap they take (the server's and the fake
/// kernel's) is what attaching to a two-page object takes; a touch costs a
/// mapping and at most one more run.
#[test]
fn lazy_attachments_cost_what_they_map() {
    const FRAMES: u64 = 1024;
    const PEERS: Pid = 40;
    let mut w = World::new(64 * MIB);
    let owner = HOGS[0];
    w.spawn(owner, None);
    let big = w.create(owner, "big", Mode::ClientServer, PAGE, 16 * MIB);
    let small = w.create(owner, "small", Mode::ClientServer, 2 * PAGE, 16 * MIB);
    for pages in 2..=FRAMES {
        w.req(owner, Request::Grow { object: big.id, new_size: pages * PAGE }).unwrap();
    }
    let peers: std::vec::Vec<Pid> = (100..100 + PEERS).collect();
    for &p in &peers {
        w.spawn(p, None);
    }
    let per_peer = |w: &mut World, o: &ObjectInfo| {
        let heap = heap::measure(|| {
            for &p in &peers {
                w.req(p, Request::AttachLazy { object: o.id, prot: Prot::ReadWrite }).unwrap();
                assert_eq!(w.s.usage(p).2 % 2, 0, "a lazy attach holds the header and one run");
            }
        });
        heap / i64::from(PEERS)
    };
    let on_small = per_peer(&mut w, &small);
    let on_big = per_peer(&mut w, &big);
    std::eprintln!("heap per lazy attachment: {on_small} bytes (2 frames), {on_big} ({FRAMES} frames)");
    assert!(
        on_big <= on_small + 64,
        "{on_big} bytes per lazy attachment to {FRAMES} frames, {on_small} to 2"
    );
    w.check();
    let p = peers[0];
    let t = w.tasks[&p];
    for page in [5, 6, 500] {
        assert_eq!(w.s.handle_fault(t, big.base + page * PAGE, true), FaultOutcome::Resume);
    }
    // Two headers and a run on each object; three pages; the big one's run
    // is now 1..5, 7..500, 501..1024.
    assert_eq!(w.s.usage(p).2, 4 + 3 + 2);
    w.check();
}

/// A process is registered only if its budget fits beside every promise
/// made: the budgets of registered processes, and what a dead owner's
/// objects still hold (they outlive it, and come back to its pid).
#[test]
fn budgets_are_promised_only_while_they_fit() {
    let capacity = Capacity { pool: 8 * MIB, slots: 1000, records: 1000, objects: 4, window: 64 * MIB };
    let mut w = World::with_limits(64 * MIB, Limits { capacity, ..Limits::default() });
    let half = Budget {
        memory: 4 * MIB - 16 * PAGE,
        tables: 16 * PAGE,
        slots: 500,
        mappings: 500,
        objects: 2,
        window: 32 * MIB,
    };
    w.budget = half;
    let (a, b, c) = (HOGS[0], HOGS[1], HOGS[2]);
    w.spawn(a, None);
    w.spawn(b, None);
    let register = |w: &mut World, pid: Pid, budget: Budget| {
        let task = w.gens.get(&pid).map_or(TaskId::new(pid, 0).unwrap(), |t| t.next_generation().unwrap());
        let vs = w.s.kernel_mut().new_vspace();
        let r = w.raw(
            Badge::Supervisor.encode(),
            Request::RegisterProcess { task, alias: None, budget },
            Some(vs),
        );
        w.check();
        r
    };
    // Full: even a budget of one object is refused, and nothing changes.
    let one = Budget { objects: 1, ..Budget::NONE };
    assert_eq!(register(&mut w, c, one), Err(Error::BudgetUnavailable));
    assert_eq!(Error::BudgetUnavailable.errno(), libshm::protocol::Errno::ENOMEM);
    // b's object outlives it: its pid is still promised what the object holds.
    let o = w.create(b, "kept", Mode::Peer, 64 * PAGE, 4 * MIB);
    w.kill(b);
    assert_eq!(register(&mut w, c, half), Err(Error::BudgetUnavailable));
    w.budget = Budget { memory: 3 * MIB, slots: 400, mappings: 400, objects: 1, window: 28 * MIB, ..half };
    w.spawn(c, None);
    // Coming back, b is promised its budget again (more than its object).
    w.kill(c);
    w.budget = half;
    w.spawn(b, None);
    w.req(b, Request::Destroy { object: o.id }).unwrap();
    assert_eq!(register(&mut w, c, one), Err(Error::BudgetUnavailable));
    w.kill(b);
    assert_eq!(register(&mut w, c, half), Ok(Reply::RegisterProcess(())));
}
