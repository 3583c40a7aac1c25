//! The server's own heap running out, at every allocation of every kind of
//! request: the request fails with `OutOfMemory` and changes nothing (the
//! world's `req` compares the whole state and the kernel before and
//! after), or it did not need that allocation and succeeds. The requests
//! that must never fail (a death, detach, destroy, shrink, unmapping what
//! is mapped) allocate nothing at all.

use super::*;
use crate::FaultOutcome;

const OWNER: Pid = 1;
const EAGER: Pid = 2;
const LAZY: Pid = 3;
const TARGET: Pid = 4;

/// Two objects, one with 2 MiB frames; a peer attached eagerly and one
/// lazily to the big one; a process attached to nothing.
struct Scene {
    w: World,
    big: ObjectInfo,
    small: ObjectInfo,
}

fn scene() -> Scene {
    let mut w = World::new(256 * MIB);
    for pid in [OWNER, EAGER, LAZY, TARGET] {
        w.spawn(pid, None);
    }
    let big = w.create(OWNER, "big", Mode::Peer, 4 * MIB + 2 * PAGE, 16 * MIB);
    let small = w.create(OWNER, "small", Mode::ClientServer, 4 * PAGE, 64 * PAGE);
    w.attach(OWNER, big.id, Prot::ReadWrite).unwrap();
    w.attach(EAGER, big.id, Prot::ReadWrite).unwrap();
    w.req(LAZY, Request::AttachLazy { object: big.id, prot: Prot::ReadWrite }).unwrap();
    Scene { w, big, small }
}

impl Scene {
    fn req(&mut self, pid: Pid, req: Request) -> Result<(), Error> {
        self.w.req(pid, req).map(drop)
    }
}

type Case = fn(&mut Scene) -> Result<(), Error>;

fn mmap(s: &mut Scene, to: Pid, o: ObjectInfo, offset: u64, len: u64) -> Result<(), Error> {
    let req = Request::MmapPeer {
        target: Target::Pid(to),
        addr: 0,
        len,
        prot: Prot::ReadWrite,
        flags: MapFlags::SHARED,
        object: o.id,
        offset,
    };
    s.req(OWNER, req)
}

/// The requests that may need heap memory, each in the scene.
const MAY_ALLOCATE: [(&str, Case); 11] = [
    ("create", |s| {
        let create = Request::Create {
            name: name("new"),
            mode: Mode::Peer,
            size: 2 * MIB + 8 * PAGE,
            max_size: 8 * MIB,
            client_prot: Prot::ReadWrite,
        };
        s.req(TARGET, create)
    }),
    ("attach", |s| s.req(TARGET, Request::Attach { object: s.big.id, prot: Prot::ReadWrite })),
    ("attach lazily", |s| s.req(TARGET, Request::AttachLazy { object: s.big.id, prot: Prot::Read })),
    ("grow with peers", |s| s.req(OWNER, Request::Grow { object: s.big.id, new_size: 6 * MIB + 4 * PAGE })),
    ("grow alone", |s| s.req(OWNER, Request::Grow { object: s.small.id, new_size: 9 * PAGE })),
    ("mmap_peer, a new attachment", |s| {
        let small = s.small;
        mmap(s, TARGET, small, PAGE, 2 * PAGE)
    }),
    ("mmap_peer, splitting a pending run", |s| {
        let big = s.big;
        mmap(s, LAZY, big, 5 * PAGE, PAGE)
    }),
    ("munmap_peer, punching a hole in a pending run", |s| {
        let addr = s.big.base + 7 * PAGE;
        s.req(OWNER, Request::MunmapPeer { target: Target::Pid(LAZY), addr, len: PAGE })
    }),
    ("register", |s| {
        let task = TaskId::new(20, 0).unwrap();
        let vs = s.w.s.kernel_mut().new_vspace();
        let budget = Budget::DEFAULT;
        let sup = Badge::Supervisor.encode();
        let before = s.w.s.state.clone();
        let (r, used) = heap::failing(s.w.heap_fail.take(), || {
            s.w.s.handle(sup, Request::RegisterProcess { task, alias: None, budget }, Some(vs))
        });
        s.w.heap_used = used;
        if r.is_err() {
            assert_eq!(s.w.s.state, before, "a failed register changed the server");
        }
        s.w.check();
        r.map(drop)
    }),
    ("register an alias", |s| s.req(EAGER, Request::RegisterAlias { name: name("eager") })),
    ("first touch of a lazy page", |s| {
        let t = s.w.tasks[&LAZY];
        let addr = s.big.base + 9 * PAGE;
        let before = (s.w.s.state.clone(), s.w.s.kernel().snapshot());
        let (outcome, used) = heap::failing(s.w.heap_fail.take(), || s.w.s.handle_fault(t, addr, true));
        s.w.heap_used = used;
        s.w.check();
        match outcome {
            FaultOutcome::Resume => Ok(()),
            _ => {
                assert!(
                    before == (s.w.s.state.clone(), s.w.s.kernel().snapshot()),
                    "a failed repair changed state"
                );
                Err(Error::OutOfMemory)
            }
        }
    }),
];

/// Each request above, with each of its allocations failing in turn.
#[test]
fn every_allocation_of_a_request_may_fail() {
    for (what, case) in MAY_ALLOCATE {
        let mut n = 0;
        loop {
            let mut s = scene();
            s.w.heap_fail = Some(n);
            let r = case(&mut s);
            let used = s.w.heap_used;
            if n >= used {
                assert!(r.is_ok(), "{what}: {r:?} with all {used} allocations made");
                std::eprintln!("{what}: each of {used} allocations failed in turn, each refused cleanly");
                break;
            }
            assert_eq!(r.err(), Some(Error::OutOfMemory), "{what}: allocation {n} of {used} failed");
            n += 1;
        }
    }
}

/// What must always succeed allocates nothing.
#[test]
fn what_cannot_fail_allocates_nothing() {
    let none: [(&str, Case); 6] = [
        ("shrink", |s| s.req(OWNER, Request::Shrink { object: s.big.id, new_size: 2 * PAGE })),
        ("munmap_peer of mapped pages", |s| {
            let addr = s.big.base + 2 * MIB;
            s.req(OWNER, Request::MunmapPeer { target: Target::Pid(EAGER), addr, len: 4 * MIB })
        }),
        ("detach", |s| s.req(EAGER, Request::Detach { object: s.big.id })),
        ("destroy", |s| s.req(OWNER, Request::Destroy { object: s.small.id })),
        ("set_root", |s| s.req(OWNER, Request::SetRoot { object: s.big.id, offset: 64 })),
        ("a death", |s| {
            let ((), used) = heap::failing(None, || s.w.s.process_died(EAGER));
            s.w.heap_used = used;
            Ok(())
        }),
    ];
    for (what, case) in none {
        let mut s = scene();
        let r = case(&mut s);
        assert!(r.is_ok(), "{what}: {r:?}");
        assert_eq!(s.w.heap_used, 0, "{what} allocated");
        s.w.check();
    }
}
