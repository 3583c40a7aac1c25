use super::*;
use crate::fake::{FakeCap, Fault};
use crate::{FaultOutcome, FaultReason, PageSize};
use libshm::header::{Header, HEADER_BYTES};
use libshm::layout::{LARGE_PAGE_SIZE, MAX_OBJECT_SIZE, WINDOW_BASE, WINDOW_END, WINDOW_SIZE};
use std::vec::Vec;

const OWNER: Pid = 1;
const A: Pid = 2;
const B: Pid = 3;

/// Three processes and a peer-mode object of 3 pages that all are attached to.
fn peers() -> (World, ObjectInfo) {
    let mut w = World::new(64 * MIB);
    w.spawn(OWNER, Some("owner"));
    w.spawn(A, Some("viewer-a"));
    w.spawn(B, None);
    let o = w.create(OWNER, "table", Mode::Peer, 3 * PAGE, 16 * MIB);
    for p in [OWNER, A, B] {
        w.attach(p, o.id, Prot::ReadWrite).unwrap();
    }
    (w, o)
}

fn client_server() -> (World, ObjectInfo) {
    let mut w = World::new(64 * MIB);
    w.spawn(OWNER, Some("owner"));
    w.spawn(A, Some("client"));
    w.spawn(B, None);
    let r = w.req(
        OWNER,
        Request::Create {
            name: name("cs"),
            mode: Mode::ClientServer,
            size: 2 * PAGE,
            max_size: 8 * MIB,
            client_prot: Prot::Read,
        },
    );
    let Ok(Reply::Create(o)) = r else { panic!("{r:?}") };
    w.attach(OWNER, o.id, Prot::ReadWrite).unwrap();
    w.attach(A, o.id, Prot::Read).unwrap();
    (w, o)
}

fn grow(w: &mut World, pid: Pid, object: ObjectId, new_size: u64) -> Result<Reply, Error> {
    w.req(pid, Request::Grow { object, new_size })
}

fn mmap(
    w: &mut World,
    pid: Pid,
    target: Target,
    o: &ObjectInfo,
    off: u64,
    len: u64,
    prot: Prot,
) -> Result<Reply, Error> {
    w.req(
        pid,
        Request::MmapPeer { target, addr: 0, len, prot, flags: MapFlags::SHARED, object: o.id, offset: off },
    )
}

fn header(w: &World, pid: Pid, o: &ObjectInfo) -> Header {
    let mut page = [0u8; HEADER_BYTES];
    w.s.kernel().read_bytes(w.vspaces[&pid], o.base, &mut page).unwrap();
    Header::decode(&page).unwrap()
}

#[test]
fn registration_rules() {
    let mut w = World::new(MIB);
    let t = w.spawn(OWNER, Some("owner"));
    let sup = Badge::Supervisor.encode();
    let vs = w.s.kernel_mut().new_vspace();
    let again = Request::RegisterProcess { task: t, alias: None, budget: Budget::DEFAULT };
    assert_eq!(w.raw(sup, again, Some(vs)), Err(Error::ProcessExists));
    let other = TaskId::new(9, 0).unwrap();
    let vs = w.s.kernel_mut().new_vspace();
    let taken = Request::RegisterProcess { task: other, alias: Some(name("owner")), budget: Budget::DEFAULT };
    assert_eq!(w.raw(sup, taken, Some(vs)), Err(Error::AliasTaken));
    let no_cap = Request::RegisterProcess { task: other, alias: None, budget: Budget::DEFAULT };
    assert_eq!(w.raw(sup, no_cap, None), Err(Error::WrongCaps));
    // A process cannot register others, nor pass caps with ordinary requests.
    let vs = w.s.kernel_mut().new_vspace();
    let me = Badge::Process(t).encode();
    assert_eq!(w.raw(me, no_cap, Some(vs)), Err(Error::NotSupervisor));
    let vs = w.s.kernel_mut().new_vspace();
    let stat = Request::LookupAlias { name: name("owner") };
    assert_eq!(w.raw(me, stat, Some(vs)), Err(Error::WrongCaps));
    assert_eq!(w.raw(sup, stat, None), Err(Error::UnknownProcess));
    assert_eq!(w.raw(0, stat, None), Err(Error::BadBadge));
    assert_eq!(w.raw(me, stat, None), Ok(Reply::LookupAlias(t)));
    // Every rejected cap was deleted: the checker sees no leak.
    w.check();
    // A stale incarnation is refused.
    w.kill(OWNER);
    let t2 = w.spawn(OWNER, None);
    assert_eq!(t2.generation(), 1);
    assert_eq!(w.req_badge(me, stat), Err(Error::StaleGeneration));
    let unreg = Request::UnregisterProcess { task: t };
    assert_eq!(w.raw(sup, unreg, None), Err(Error::StaleGeneration));
    let unreg = Request::UnregisterProcess { task: t2 };
    assert_eq!(w.raw(sup, unreg, None), Ok(Reply::UnregisterProcess(())));
    w.check();
}

#[test]
fn identities_of_ended_processes_stay_stale() {
    let mut w = World::new(MIB);
    let t = w.spawn(OWNER, Some("owner"));
    let stat = Request::LookupAlias { name: name("owner") };
    let me = Badge::Process(t).encode();
    // Ended, not restarted: its badge and its task id are stale, not unknown.
    w.kill(OWNER);
    assert_eq!(w.req_badge(me, stat), Err(Error::StaleGeneration));
    let sup = Badge::Supervisor.encode();
    assert_eq!(w.raw(sup, Request::UnregisterProcess { task: t }, None), Err(Error::StaleGeneration));
    // A pid never registered is unknown.
    let never = Badge::Process(TaskId::new(77, 0).unwrap()).encode();
    assert_eq!(w.req_badge(never, stat), Err(Error::UnknownProcess));
    // Generations end instead of wrapping: the last one has no successor.
    let last = TaskId::new(OWNER, (1 << libshm::protocol::GENERATION_BITS) - 1).unwrap();
    assert_eq!(last.next_generation(), None);
    // A restart storm up to the last generation: every earlier badge stays stale.
    let mut earlier = vec![t];
    let b = w.spawn(OWNER, None);
    for _ in 0..32 {
        w.kill(OWNER);
        earlier.push(w.spawn(OWNER, None));
    }
    let current = *earlier.last().unwrap();
    assert!(current.generation() > b.generation());
    for old in &earlier[..earlier.len() - 1] {
        assert_eq!(w.req_badge(Badge::Process(*old).encode(), stat), Err(Error::StaleGeneration));
    }
    assert!(w.req_badge(Badge::Process(current).encode(), stat).is_err_and(|e| e == Error::UnknownAlias));
}

#[test]
fn process_table_full() {
    let limits = Limits { max_processes: 2, ..Limits::default() };
    let mut w = World::with_limits(MIB, limits);
    w.spawn(1, None);
    w.spawn(2, None);
    let vs = w.s.kernel_mut().new_vspace();
    let r = w.raw(
        Badge::Supervisor.encode(),
        Request::RegisterProcess { task: TaskId::new(3, 0).unwrap(), alias: None, budget: Budget::DEFAULT },
        Some(vs),
    );
    assert_eq!(r, Err(Error::TooManyProcesses));
    w.check();
}

#[test]
fn aliases() {
    let mut w = World::new(MIB);
    let t = w.spawn(OWNER, None);
    w.spawn(A, Some("taken"));
    assert_eq!(w.req(OWNER, Request::RegisterAlias { name: name("taken") }), Err(Error::AliasTaken));
    assert_eq!(w.req(OWNER, Request::LookupAlias { name: name("me") }), Err(Error::UnknownAlias));
    w.req(OWNER, Request::RegisterAlias { name: name("me") }).unwrap();
    assert_eq!(w.req(A, Request::LookupAlias { name: name("me") }), Ok(Reply::LookupAlias(t)));
}

#[test]
fn create_validates_every_field() {
    let mut w = World::new(4 * MIB);
    w.spawn(OWNER, None);
    let mk = |size, max_size, mode, client_prot| Request::Create {
        name: name("x"),
        mode,
        size,
        max_size,
        client_prot,
    };
    let rw = Prot::ReadWrite;
    for (req, err) in [
        (mk(0, MIB, Mode::Peer, rw), Error::ZeroLength),
        (mk(PAGE, 0, Mode::Peer, rw), Error::ZeroLength),
        (mk(100, MIB, Mode::Peer, rw), Error::Unaligned),
        (mk(PAGE, MIB + 1, Mode::Peer, rw), Error::Unaligned),
        (mk(2 * MIB, MIB, Mode::Peer, rw), Error::BadGeometry),
        (mk(PAGE, MIB, Mode::Peer, Prot::Read), Error::BadGeometry),
        (mk(PAGE, 1 << 40, Mode::Peer, rw), Error::TooLarge),
        (mk(8 * MIB, 8 * MIB, Mode::Peer, rw), Error::OutOfMemory),
    ] {
        assert_eq!(w.req(OWNER, req), Err(err), "{req:?}");
    }
    w.create(OWNER, "x", Mode::Peer, PAGE, MIB);
    assert_eq!(w.req(OWNER, mk(PAGE, MIB, Mode::Peer, rw)), Err(Error::NameTaken));
    assert_eq!(w.req(OWNER, Request::Open { name: name("y") }), Err(Error::UnknownName));
    assert!(matches!(w.req(OWNER, Request::Open { name: name("x") }), Ok(Reply::Open(_))));
}

#[test]
fn tables_quota_and_window_full() {
    let limits = Limits { max_objects: 2, ..Limits::default() };
    let mut w = World::with_limits(64 * MIB, limits);
    w.budget = Budget { memory: 3 * MIB, ..Budget::DEFAULT };
    w.spawn(OWNER, None);
    let o = w.create(OWNER, "a", Mode::Peer, 2 * MIB, 4 * MIB);
    let q = Request::Create {
        name: name("b"),
        mode: Mode::Peer,
        size: 2 * MIB,
        max_size: 4 * MIB,
        client_prot: Prot::ReadWrite,
    };
    assert_eq!(w.req(OWNER, q), Err(Error::QuotaExceeded));
    w.attach(OWNER, o.id, Prot::ReadWrite).unwrap();
    assert_eq!(grow(&mut w, OWNER, o.id, 4 * MIB), Err(Error::QuotaExceeded));
    w.create(OWNER, "b", Mode::Peer, PAGE, w.budget.window / 2);
    let c = Request::Create {
        name: name("c"),
        mode: Mode::Peer,
        size: PAGE,
        max_size: PAGE,
        client_prot: Prot::ReadWrite,
    };
    assert_eq!(w.req(OWNER, c), Err(Error::TooManyObjects));
    // Objects reserving the largest size each fill one pid's share of the
    // window, then the window.
    let mut w = World::with_budget(64 * MIB, Budget { window: WINDOW_SIZE / 2, ..Budget::DEFAULT });
    let one = |name: &str, max_size| Request::Create {
        name: Name::new(name).unwrap(),
        mode: Mode::Peer,
        size: PAGE,
        max_size,
        client_prot: Prot::ReadWrite,
    };
    let share = w.budget.window / MAX_OBJECT_SIZE;
    let owners = [OWNER, A];
    assert_eq!(share * owners.len() as u64, WINDOW_SIZE / MAX_OBJECT_SIZE);
    for p in owners {
        w.spawn(p, None);
        for i in 0..share {
            w.create(p, &format!("big{p}-{i}"), Mode::Peer, PAGE, MAX_OBJECT_SIZE);
        }
        assert_eq!(w.req(p, one(&format!("more{p}"), PAGE)), Err(Error::WindowExceeded));
    }
    w.spawn(10, None);
    assert_eq!(w.req(10, one("one-more", PAGE)), Err(Error::WindowFull));
    // One pid owns at most its share of the object table.
    let mut w = World::new(64 * MIB);
    w.spawn(OWNER, None);
    let limit = w.budget.objects;
    for i in 0..limit {
        w.create(OWNER, &format!("o{i}"), Mode::Peer, PAGE, PAGE);
    }
    assert_eq!(w.req(OWNER, one("too-many", PAGE)), Err(Error::ObjectsExceeded));
    w.spawn(A, None);
    w.create(A, "others-may", Mode::Peer, PAGE, PAGE);
}

#[test]
fn attach_maps_everything_same_address_header_read_only() {
    let (mut w, o) = peers();
    assert!(o.base >= WINDOW_BASE && o.base + 16 * MIB <= WINDOW_END);
    w.write(A, o.base + PAGE, 0xfeed).unwrap();
    for p in [OWNER, A, B] {
        assert_eq!(w.read(p, o.base + PAGE), Ok(0xfeed));
        // The header is readable and lists all three, but nobody may write it.
        assert_eq!(w.write(p, o.base, 1), Err(Fault::ReadOnly));
        let h = header(&w, p, &o);
        assert_eq!(h.attached().count(), 3);
        assert_eq!(h.size, 3 * PAGE);
    }
    assert_eq!(w.attach(A, o.id, Prot::ReadWrite), Err(Error::AlreadyAttached));
    assert_eq!(w.attach(A, ObjectId(77), Prot::ReadWrite), Err(Error::UnknownObject));
}

#[test]
fn attachment_and_mapping_limits() {
    let limits = Limits { max_attachments: 1, ..Limits::default() };
    let mut w = World::with_limits(64 * MIB, limits);
    w.budget = Budget { mappings: 5, ..Budget::DEFAULT };
    w.spawn(OWNER, None);
    w.spawn(A, None);
    let o = w.create(OWNER, "t", Mode::Peer, 3 * PAGE, MIB);
    w.attach(OWNER, o.id, Prot::ReadWrite).unwrap();
    assert_eq!(w.attach(A, o.id, Prot::ReadWrite), Err(Error::TooManyAttachments));
    // Mapping the new pages would pass the owner's budget of mappings: it
    // gets them pending (one record, the run), mapped on touch while it can
    // pay.
    grow(&mut w, OWNER, o.id, 6 * PAGE).unwrap();
    assert_eq!(w.s.usage(OWNER).2, 4);
    assert_eq!(w.read(OWNER, o.base + 3 * PAGE), Err(Fault::NotMapped));
    let t = w.tasks[&OWNER];
    assert_eq!(w.s.handle_fault(t, o.base + 3 * PAGE, false), FaultOutcome::Resume);
    assert_eq!(w.read(OWNER, o.base + 3 * PAGE), Ok(0));
    w.check();
    assert_eq!(
        w.s.handle_fault(t, o.base + 4 * PAGE, false),
        FaultOutcome::Report(FaultReason::RepairFailed)
    );
    w.check();
    // Its own requests are refused past the budget.
    let grant = Request::MmapPeer {
        target: Target::CALLER,
        addr: 0,
        len: PAGE,
        prot: Prot::ReadWrite,
        flags: MapFlags::SHARED,
        object: o.id,
        offset: 4 * PAGE,
    };
    assert_eq!(w.req(OWNER, grant), Err(Error::TooManyMappings));
}

#[test]
fn grow_maps_into_every_peer_before_returning() {
    let (mut w, o) = peers();
    // Grow to 6 MiB: chunk 0 in 4 KiB pages, chunks 1 and 2 as 2 MiB frames.
    assert_eq!(grow(&mut w, A, o.id, 6 * MIB), Ok(Reply::Grow(6 * MIB)));
    let pages = w.s.kernel().window_pages(w.vspaces[&B]);
    let large: Vec<_> =
        pages.iter().filter(|p| p.size == PageSize::Large).map(|p| p.vaddr - o.base).collect();
    assert_eq!(large, vec![2 * MIB, 4 * MIB]);
    assert_eq!(pages.len(), 512 + 2);
    // The grower writes into the new pages; every peer reads it, no message.
    w.write(A, o.base + 5 * MIB, 42).unwrap();
    w.write(A, o.base + MIB, 43).unwrap();
    for p in [OWNER, A, B] {
        assert_eq!(w.read(p, o.base + 5 * MIB), Ok(42));
        assert_eq!(w.read(p, o.base + MIB), Ok(43));
        assert_eq!(header(&w, p, &o).size, 6 * MIB);
    }
    assert_eq!(grow(&mut w, A, o.id, 6 * MIB), Err(Error::NotGrowing));
    assert_eq!(grow(&mut w, A, o.id, 17 * MIB), Err(Error::TooLarge));
    assert_eq!(grow(&mut w, A, o.id, 7 * MIB + 1), Err(Error::Unaligned));
    // A registered process that is not attached may not grow a peer object.
    w.spawn(9, None);
    assert_eq!(grow(&mut w, 9, o.id, 7 * MIB), Err(Error::NotAttached));
}

#[test]
fn grow_rolls_back_at_every_failure_point() {
    let (mut w, o) = peers();
    let before_free = w.s.kernel().free_bytes();
    let r = w.fail_every_step(|w| grow(w, B, o.id, 4 * MIB + 3 * PAGE));
    assert_eq!(r, Reply::Grow(4 * MIB + 3 * PAGE));
    assert!(w.s.kernel().free_bytes() < before_free);
    // And with the pool truly exhausted.
    let mut w2 = World::new(MIB);
    w2.spawn(OWNER, None);
    w2.spawn(A, None);
    let o2 = w2.create(OWNER, "t", Mode::Peer, PAGE, 8 * MIB);
    w2.attach(OWNER, o2.id, Prot::ReadWrite).unwrap();
    w2.attach(A, o2.id, Prot::ReadWrite).unwrap();
    assert_eq!(grow(&mut w2, A, o2.id, 4 * MIB), Err(Error::OutOfMemory));
}

#[test]
fn attach_create_mmap_roll_back_at_every_failure_point() {
    let (mut w, o) = peers();
    grow(&mut w, OWNER, o.id, 3 * MIB).unwrap();
    w.spawn(9, None);
    w.fail_every_step(|w| w.attach(9, o.id, Prot::Read));
    w.spawn(10, None);
    w.fail_every_step(|w| mmap(w, OWNER, Target::Pid(10), &o, 0, 3 * MIB, Prot::ReadWrite));
    w.fail_every_step(|w| {
        w.req(
            10,
            Request::Create {
                name: name("new"),
                mode: Mode::Peer,
                size: 5 * MIB,
                max_size: 5 * MIB,
                client_prot: Prot::ReadWrite,
            },
        )
    });
}

#[test]
fn shrink_takes_pages_from_every_peer_at_once() {
    let (mut w, o) = peers();
    grow(&mut w, OWNER, o.id, 4 * MIB).unwrap();
    let free = w.s.kernel().free_bytes();
    w.write(B, o.base + 2 * PAGE, 7).unwrap();
    w.req(B, Request::SetRoot { object: o.id, offset: 3 * MIB }).unwrap();
    assert_eq!(w.req(A, Request::Shrink { object: o.id, new_size: 3 * MIB }), Err(Error::SplitsLargePage));
    assert_eq!(w.req(A, Request::Shrink { object: o.id, new_size: 0 }), Err(Error::NotShrinking));
    assert_eq!(w.req(A, Request::Shrink { object: o.id, new_size: 8 * MIB }), Err(Error::NotShrinking));
    assert_eq!(w.req(A, Request::Shrink { object: o.id, new_size: 3 * PAGE }), Ok(Reply::Shrink(3 * PAGE)));
    for p in [OWNER, A, B] {
        assert_eq!(w.read(p, o.base + 3 * PAGE), Err(Fault::NotMapped));
        assert_eq!(w.read(p, o.base + 3 * MIB), Err(Fault::NotMapped));
        assert_eq!(w.read(p, o.base + 2 * PAGE), Ok(7));
        let h = header(&w, p, &o);
        assert_eq!((h.size, h.root), (3 * PAGE, 0));
        let t = w.tasks[&p];
        assert_eq!(
            w.s.handle_fault(t, o.base + 3 * PAGE, false),
            FaultOutcome::Report(FaultReason::OutsideObject)
        );
    }
    // Memory went back to the pool, and the emptied page tables with it.
    assert!(w.s.kernel().free_bytes() > free);
    // Growing again gives fresh, zeroed pages, large where possible.
    grow(&mut w, OWNER, o.id, 4 * MIB).unwrap();
    assert_eq!(w.read(A, o.base + 3 * MIB), Ok(0));
}

#[test]
fn client_server_rights() {
    let (mut w, o) = client_server();
    assert_eq!(grow(&mut w, A, o.id, 3 * PAGE), Err(Error::NotOwner));
    assert_eq!(w.req(A, Request::Shrink { object: o.id, new_size: PAGE }), Err(Error::NotOwner));
    assert_eq!(w.req(A, Request::SetRoot { object: o.id, offset: 8 }), Err(Error::NotOwner));
    assert_eq!(mmap(&mut w, A, Target::Pid(B), &o, 0, PAGE, Prot::Read), Err(Error::NotOwner));
    assert_eq!(w.req(A, Request::Destroy { object: o.id }), Err(Error::NotOwner));
    assert_eq!(w.attach(B, o.id, Prot::ReadWrite), Err(Error::RightsExceeded));
    // The client got read-only pages.
    assert_eq!(w.write(A, o.base + PAGE, 1), Err(Fault::ReadOnly));
    let t = w.tasks[&A];
    assert_eq!(w.s.handle_fault(t, o.base + PAGE, true), FaultOutcome::Report(FaultReason::AccessViolation));
    // The owner grows: the client sees the new page at once.
    grow(&mut w, OWNER, o.id, 3 * PAGE).unwrap();
    w.write(OWNER, o.base + 2 * PAGE, 99).unwrap();
    assert_eq!(w.read(A, o.base + 2 * PAGE), Ok(99));
    // The owner may grant wider rights than a client could take itself.
    assert_eq!(
        mmap(&mut w, OWNER, Target::Pid(B), &o, PAGE, 2 * PAGE, Prot::ReadWrite),
        Ok(Reply::MmapPeer(o.base + PAGE))
    );
    w.write(B, o.base + PAGE, 5).unwrap();
    assert_eq!(w.read(A, o.base + PAGE), Ok(5));
}

#[test]
fn mmap_peer_by_pid_alias_and_task() {
    let mut w = World::new(64 * MIB);
    w.spawn(OWNER, None);
    let ta = w.spawn(A, Some("spreadsheet"));
    w.spawn(B, None);
    let o = w.create(OWNER, "t", Mode::ClientServer, 4 * PAGE, MIB);
    // The owner maps itself in without attaching first (patent [41]).
    mmap(&mut w, OWNER, Target::Pid(OWNER), &o, 0, 4 * PAGE, Prot::ReadWrite).unwrap();
    w.write(OWNER, o.base + PAGE, 11).unwrap();
    let alias = Target::Alias(name("spreadsheet"));
    assert_eq!(mmap(&mut w, OWNER, alias, &o, PAGE, PAGE, Prot::Read), Ok(Reply::MmapPeer(o.base + PAGE)));
    assert_eq!(w.read(A, o.base + PAGE), Ok(11));
    // Only the range (and the header) went in.
    assert_eq!(w.read(A, o.base + 2 * PAGE), Err(Fault::NotMapped));
    assert_eq!(header(&w, A, &o).attached().count(), 2);
    // Now attached read-only: more range, but not wider rights.
    mmap(&mut w, OWNER, Target::Task(ta), &o, 2 * PAGE, PAGE, Prot::Read).unwrap();
    assert_eq!(
        mmap(&mut w, OWNER, Target::Pid(A), &o, 3 * PAGE, PAGE, Prot::ReadWrite),
        Err(Error::RightsExceeded)
    );
    let stale = TaskId::new(A, 5).unwrap();
    assert_eq!(
        mmap(&mut w, OWNER, Target::Task(stale), &o, 0, PAGE, Prot::Read),
        Err(Error::StaleGeneration)
    );
    assert_eq!(mmap(&mut w, OWNER, Target::Pid(77), &o, 0, PAGE, Prot::Read), Err(Error::UnknownProcess));
    assert_eq!(
        mmap(&mut w, OWNER, Target::Alias(name("nobody")), &o, 0, PAGE, Prot::Read),
        Err(Error::UnknownAlias)
    );
    // Range checks.
    for (off, len, err) in [
        (1, PAGE, Error::Unaligned),
        (0, 0, Error::ZeroLength),
        (PAGE, u64::MAX - PAGE + 1, Error::Overflow),
        (4 * PAGE, PAGE, Error::OutsideObject),
    ] {
        assert_eq!(mmap(&mut w, OWNER, Target::Pid(B), &o, off, len, Prot::Read), Err(err));
    }
    // The address is a hint unless MAP_FIXED: the object's one address wins.
    let at = |addr, flags| Request::MmapPeer {
        target: Target::Pid(B),
        addr,
        len: PAGE,
        prot: Prot::Read,
        flags: MapFlags::from_bits(flags).unwrap(),
        object: o.id,
        offset: PAGE,
    };
    let fixed = MAP_SHARED | MAP_FIXED;
    assert_eq!(w.req(OWNER, at(o.base, fixed)), Err(Error::WrongAddress));
    assert_eq!(w.req(OWNER, at(o.base + PAGE + 1, fixed)), Err(Error::Unaligned));
    assert_eq!(w.req(OWNER, at(o.base + 7, MAP_SHARED)), Ok(Reply::MmapPeer(o.base + PAGE)));
    assert_eq!(w.req(OWNER, at(o.base + PAGE, fixed)), Ok(Reply::MmapPeer(o.base + PAGE)));
}

/// What a QNX user expects of `mmap_peer` and `munmap_peer`.
#[test]
fn qnx_semantics() {
    let (mut w, o) = peers();
    let un = |target, addr, len| Request::MunmapPeer { target, addr, len };
    // `len` is rounded up to whole pages.
    w.write(A, o.base + PAGE, 5).unwrap();
    assert_eq!(w.req(A, un(Target::Pid(B), o.base + PAGE, 1)), Ok(Reply::MunmapPeer(())));
    assert_eq!(w.read(B, o.base + PAGE), Err(Fault::NotMapped));
    assert_eq!(w.read(B, o.base + 2 * PAGE), Ok(0), "only one page went");
    assert_eq!(
        mmap(&mut w, A, Target::Pid(B), &o, PAGE, 10, Prot::ReadWrite),
        Ok(Reply::MmapPeer(o.base + PAGE))
    );
    assert_eq!(w.read(B, o.base + PAGE), Ok(5));
    // A range with no mappings: success, and nothing changes.
    let before = (w.s.state.clone(), w.s.kernel().snapshot());
    for (addr, len) in [(WINDOW_END - PAGE, PAGE), (o.base + o.size, 3 * PAGE)] {
        assert_eq!(w.req(A, un(Target::Pid(B), addr, len)), Ok(Reply::MunmapPeer(())));
    }
    assert!(before == (w.s.state.clone(), w.s.kernel().snapshot()));
    // ...even from one with no rights over it, and for a process not attached.
    w.spawn(9, None);
    assert_eq!(w.req(9, un(Target::Pid(A), WINDOW_END - PAGE, PAGE)), Ok(Reply::MunmapPeer(())));
    assert_eq!(w.req(A, un(Target::Pid(9), o.base, PAGE)), Ok(Reply::MunmapPeer(())));
    // Outside the window: EINVAL.
    for addr in [WINDOW_END, WINDOW_BASE - PAGE] {
        let r = w.req(A, un(Target::Pid(B), addr, PAGE));
        assert_eq!(r.map_err(Error::errno), Err(Errno::EINVAL));
    }
    // pid 0 is the caller.
    assert_eq!(w.req(B, un(Target::CALLER, o.base + 2 * PAGE, PAGE)), Ok(Reply::MunmapPeer(())));
    assert_eq!(w.read(B, o.base + 2 * PAGE), Err(Fault::NotMapped));
    assert_eq!(w.read(A, o.base + 2 * PAGE), Ok(0));
    assert_eq!(
        mmap(&mut w, B, Target::CALLER, &o, 2 * PAGE, PAGE, Prot::Read),
        Ok(Reply::MmapPeer(o.base + 2 * PAGE))
    );
    // A range over two objects unmaps from both; one the caller may not
    // manage refuses the whole call first.
    let o2 = w.create(OWNER, "t2", Mode::Peer, 2 * PAGE, MIB);
    for p in [OWNER, A, B] {
        w.attach(p, o2.id, Prot::ReadWrite).unwrap();
    }
    let span = o2.base + o2.size - (o.base + PAGE);
    w.req(A, un(Target::Pid(B), o.base + PAGE, span)).unwrap();
    assert_eq!(w.read(B, o.base + PAGE), Err(Fault::NotMapped));
    assert_eq!(w.read(B, o2.base + PAGE), Err(Fault::NotMapped));
    assert_eq!(w.read(A, o2.base + PAGE), Ok(0));
    // PROT_NONE: attached with no access; every touch faults, nothing repairs it.
    let o3 = w.create(OWNER, "t3", Mode::Peer, 3 * PAGE, MIB);
    w.attach(OWNER, o3.id, Prot::ReadWrite).unwrap();
    assert!(matches!(w.attach(9, o3.id, Prot::None), Ok(Reply::Attach(_))));
    let t9 = w.tasks[&9];
    for addr in [o3.base, o3.base + PAGE] {
        assert_eq!(w.read(9, addr), Err(Fault::NotMapped));
        assert_eq!(w.s.handle_fault(t9, addr, false), FaultOutcome::Report(FaultReason::AccessViolation));
    }
    let stat = w.req(9, Request::Stat { object: o3.id });
    assert!(matches!(stat, Ok(Reply::Stat(s)) if s.rights == Some(Prot::None)));
    // A grow maps nothing into it either, and others are unaffected.
    grow(&mut w, OWNER, o3.id, 4 * PAGE).unwrap();
    assert_eq!(w.read(9, o3.base + 3 * PAGE), Err(Fault::NotMapped));
    w.write(OWNER, o3.base + 3 * PAGE, 1).unwrap();
    // mmap_peer with PROT_NONE attaches a process without mapping anything.
    w.spawn(10, None);
    assert_eq!(
        mmap(&mut w, OWNER, Target::Pid(10), &o3, PAGE, PAGE, Prot::None),
        Ok(Reply::MmapPeer(o3.base + PAGE))
    );
    assert_eq!(w.read(10, o3.base), Err(Fault::NotMapped));
    assert_eq!(header(&w, OWNER, &o3).attached().count(), 3);
}

#[test]
fn peer_grant_is_bounded_by_the_granter() {
    let mut w = World::new(64 * MIB);
    w.spawn(OWNER, None);
    w.spawn(A, None);
    w.spawn(B, None);
    let o = w.create(OWNER, "t", Mode::Peer, 2 * PAGE, MIB);
    w.attach(A, o.id, Prot::Read).unwrap();
    assert_eq!(mmap(&mut w, A, Target::Pid(B), &o, 0, PAGE, Prot::ReadWrite), Err(Error::RightsExceeded));
    mmap(&mut w, A, Target::Pid(B), &o, 0, 2 * PAGE, Prot::Read).unwrap();
    // Not attached: no peer rights over others.
    assert_eq!(mmap(&mut w, OWNER, Target::Pid(B), &o, 0, PAGE, Prot::Read), Err(Error::NotAttached));
}

#[test]
fn munmap_peer_unmaps_in_one_process_only() {
    let (mut w, o) = peers();
    grow(&mut w, OWNER, o.id, 4 * MIB).unwrap();
    w.write(OWNER, o.base + PAGE, 3).unwrap();
    let un = |target, addr, len| Request::MunmapPeer { target, addr, len };
    assert_eq!(w.req(A, un(Target::Pid(B), o.base + PAGE, PAGE)), Ok(Reply::MunmapPeer(())));
    assert_eq!(w.read(B, o.base + PAGE), Err(Fault::NotMapped));
    assert_eq!(w.read(A, o.base + PAGE), Ok(3));
    let tb = w.tasks[&B];
    assert_eq!(w.s.handle_fault(tb, o.base + PAGE, false), FaultOutcome::Report(FaultReason::NotMapped));
    // A 2 MiB frame goes whole or not at all.
    assert_eq!(w.req(A, un(Target::Pid(B), o.base + 2 * MIB, PAGE)), Err(Error::SplitsLargePage));
    w.req(A, un(Target::Pid(B), o.base + 2 * MIB, 2 * MIB)).unwrap();
    assert_eq!(w.read(B, o.base + 3 * MIB), Err(Fault::NotMapped));
    assert_eq!(w.req(A, un(Target::Pid(B), WINDOW_END, PAGE)), Err(Error::OutsideWindow));
    // Past the object's size nothing is mapped: nothing to do.
    assert_eq!(w.req(A, un(Target::Pid(B), o.base + 4 * MIB, PAGE)), Ok(Reply::MunmapPeer(())));
    assert_eq!(w.req(A, un(Target::Pid(B), WINDOW_BASE - PAGE, PAGE)), Err(Error::OutsideWindow));
    // mmap_peer brings them back, with the data intact.
    mmap(&mut w, A, Target::Pid(B), &o, 0, 4 * MIB, Prot::ReadWrite).unwrap();
    assert_eq!(w.read(B, o.base + PAGE), Ok(3));
}

#[test]
fn faults_repair_or_report() {
    let (mut w, o) = peers();
    let ta = w.tasks[&A];
    let vs = w.vspaces[&A];
    w.write(OWNER, o.base + 2 * PAGE, 8).unwrap();
    w.s.kernel_mut().drop_mapping(vs, o.base + 2 * PAGE);
    assert_eq!(w.read(A, o.base + 2 * PAGE), Err(Fault::NotMapped));
    assert_eq!(w.s.handle_fault(ta, o.base + 2 * PAGE + 8, true), FaultOutcome::Resume);
    assert_eq!(w.read(A, o.base + 2 * PAGE), Ok(8));
    w.check();
    // A spurious fault on a mapped page is harmless.
    assert_eq!(w.s.handle_fault(ta, o.base + PAGE, false), FaultOutcome::Resume);
    w.check();
    // Repair under memory pressure fails cleanly.
    w.s.kernel_mut().drop_mapping(vs, o.base + PAGE);
    w.s.kernel_mut().fail_nth(0, crate::KernelError::OutOfMemory);
    assert_eq!(w.s.handle_fault(ta, o.base + PAGE, false), FaultOutcome::Report(FaultReason::RepairFailed));
    w.check();
    let rep = |r| FaultOutcome::Report(r);
    assert_eq!(w.s.handle_fault(ta, o.base, true), rep(FaultReason::AccessViolation));
    assert_eq!(w.s.handle_fault(ta, 0x1000, false), rep(FaultReason::OutsideWindow));
    assert_eq!(w.s.handle_fault(ta, WINDOW_END - PAGE, false), rep(FaultReason::NoObject));
    assert_eq!(
        w.s.handle_fault(TaskId::new(A, 3).unwrap(), o.base, false),
        rep(FaultReason::StaleGeneration)
    );
    assert_eq!(
        w.s.handle_fault(TaskId::new(50, 0).unwrap(), o.base, false),
        rep(FaultReason::UnknownProcess)
    );
    w.spawn(9, None);
    let t9 = w.tasks[&9];
    assert_eq!(w.s.handle_fault(t9, o.base, false), rep(FaultReason::NotAttached));
}

#[test]
fn death_and_restart_get_everything_back() {
    let (mut w, o) = peers();
    grow(&mut w, OWNER, o.id, 3 * MIB).unwrap();
    w.write(A, o.base + 2 * MIB + 16, 1234).unwrap();
    w.req(A, Request::SetRoot { object: o.id, offset: 2 * MIB }).unwrap();
    w.kill(B);
    assert_eq!(header(&w, A, &o).attached().count(), 2);
    // The other peers carry on: grow and shrink without B.
    grow(&mut w, A, o.id, 5 * MIB).unwrap();
    w.spawn(B, None);
    assert_eq!(
        w.attach(B, o.id, Prot::ReadWrite),
        Ok(Reply::Attach(AttachInfo { base: o.base, size: 5 * MIB, root: 2 * MIB }))
    );
    assert_eq!(w.read(B, o.base + 2 * MIB + 16), Ok(1234));
    let h = header(&w, B, &o);
    assert!(h.attached().any(|a| a.task == w.tasks[&B]));
    // The owner dying leaves the object; its restart owns it again.
    w.kill(OWNER);
    w.spawn(OWNER, None);
    w.req(OWNER, Request::Stat { object: o.id }).unwrap();
    assert_eq!(w.req(OWNER, Request::Destroy { object: o.id }), Err(Error::ObjectBusy));
}

#[test]
fn everything_returns_to_the_pool() {
    let (mut w, o) = peers();
    grow(&mut w, OWNER, o.id, 5 * MIB).unwrap();
    mmap(&mut w, A, Target::Pid(B), &o, 0, PAGE, Prot::Read).unwrap();
    for p in [A, B] {
        w.req(p, Request::Detach { object: o.id }).unwrap();
    }
    assert_eq!(w.req(A, Request::Detach { object: o.id }), Err(Error::NotAttached));
    assert_eq!(w.req(A, Request::GetRoot { object: o.id }), Err(Error::NotAttached));
    w.req(OWNER, Request::Destroy { object: o.id }).unwrap();
    assert_eq!(w.req(OWNER, Request::Stat { object: o.id }), Err(Error::UnknownObject));
    for p in [OWNER, A, B] {
        w.kill(p);
    }
    assert_eq!(w.s.kernel().free_bytes(), w.total);
}

#[test]
fn hostile_messages() {
    let (mut w, o) = peers();
    let me = Badge::Process(w.tasks[&A]).encode();
    let before = (w.s.state.clone(), w.s.kernel().snapshot());
    let msgs: &[(u64, &[u64], Error)] = &[
        (999, &[], Error::UnknownLabel),
        (Op::Grow.label(), &[1], Error::ShortMessage),
        (Op::Grow.label(), &[1, 2, 3], Error::LongMessage),
        (Op::Attach.label(), &[1, 2], Error::BadValue),
        (Op::Create.label(), &[0, 0, 0, 0, 0, PAGE, PAGE, 3], Error::BadName),
        (Op::Attach.label(), &[1 << 32, 1], Error::BadValue),
    ];
    for (label, words, err) in msgs {
        assert_eq!(w.s.handle_message(me, *label, words, None, 0), Err(*err));
    }
    assert_eq!(w.s.handle_message(12345, Op::Stat.label(), &[1], None, 0), Err(Error::BadBadge));
    assert!(before == (w.s.state.clone(), w.s.kernel().snapshot()));
    let _ = o;
}

#[test]
fn large_page_policy() {
    use crate::server::frame_plan;
    let sizes = |from, to| frame_plan(from, to).map(|f| f.1).collect::<Vec<_>>();
    assert_eq!(sizes(0, 2 * PAGE), vec![PageSize::Small; 2]);
    // The first chunk holds the header: always small pages.
    assert_eq!(sizes(0, 2 * MIB).len(), 512);
    assert_eq!(sizes(2 * MIB, 4 * MIB), vec![PageSize::Large]);
    // A chunk only partly inside the range stays small.
    assert_eq!(sizes(2 * MIB, 4 * MIB - PAGE).len(), 511);
    assert_eq!(sizes(3 * MIB, 6 * MIB).len(), 256 + 1);
    assert_eq!(LARGE_PAGE_SIZE, 2 * MIB);
}

/// A lazy attach maps the header only; the supervisor's `ResolveFault`
/// maps each other page on first touch, with the attachment's rights and
/// the data intact; pages removed by `munmap_peer` or a shrink stay
/// unrepaired.
#[test]
fn lazy_attach_maps_on_first_touch() {
    const C: Pid = 4;
    let (mut w, o) = peers();
    grow(&mut w, A, o.id, 3 * MIB).unwrap();
    w.write(OWNER, o.base + PAGE, 11).unwrap();
    w.write(OWNER, o.base + 2 * MIB + 8, 12).unwrap();
    w.spawn(C, None);
    let lazy = Request::AttachLazy { object: o.id, prot: Prot::Read };
    assert!(matches!(w.req(C, lazy), Ok(Reply::AttachLazy(_))));
    assert_eq!(w.s.kernel().window_pages(w.vspaces[&C]).len(), 1);
    assert_eq!(w.read(C, o.base + PAGE), Err(Fault::NotMapped));
    let tc = w.tasks[&C];
    let sup = Badge::Supervisor.encode();
    let resolve = |w: &mut World, addr, write| {
        let r = w.raw(sup, Request::ResolveFault { task: tc, addr, write }, None);
        w.check();
        r
    };
    assert_eq!(resolve(&mut w, o.base + PAGE + 8, false), Ok(Reply::ResolveFault(FaultOutcome::Resume)));
    assert_eq!(w.read(C, o.base + PAGE), Ok(11));
    assert_eq!(resolve(&mut w, o.base + 2 * MIB + 8, false), Ok(Reply::ResolveFault(FaultOutcome::Resume)));
    assert_eq!(w.read(C, o.base + 2 * MIB + 8), Ok(12));
    // Read-only rights: the repaired page is read-only, a write is refused.
    assert_eq!(
        resolve(&mut w, o.base + PAGE, true),
        Ok(Reply::ResolveFault(FaultOutcome::Report(FaultReason::AccessViolation)))
    );
    // A pending page taken by munmap_peer, or cut by a shrink, is not given back.
    let un = Request::MunmapPeer { target: Target::Pid(C), addr: o.base + 2 * PAGE, len: PAGE };
    w.req(OWNER, un).unwrap();
    assert_eq!(
        resolve(&mut w, o.base + 2 * PAGE, false),
        Ok(Reply::ResolveFault(FaultOutcome::Report(FaultReason::NotMapped)))
    );
    w.req(OWNER, Request::Shrink { object: o.id, new_size: 2 * PAGE }).unwrap();
    assert_eq!(
        resolve(&mut w, o.base + 3 * PAGE, false),
        Ok(Reply::ResolveFault(FaultOutcome::Report(FaultReason::OutsideObject)))
    );
    // A grow maps its new pages into a lazy attachment at once, like any other.
    grow(&mut w, OWNER, o.id, 5 * PAGE).unwrap();
    w.write(OWNER, o.base + 4 * PAGE, 13).unwrap();
    assert_eq!(w.read(C, o.base + 4 * PAGE), Ok(13));
    // Only the supervisor may ask; the decoder is strict about `write`.
    let r = w.req(C, Request::ResolveFault { task: tc, addr: o.base, write: false });
    assert_eq!(r, Err(Error::NotSupervisor));
    let mut words = [0; MSG_MAX_WORDS];
    let (label, len) = Request::ResolveFault { task: tc, addr: o.base, write: true }.encode(&mut words);
    words[len - 1] = 2;
    assert_eq!(Request::decode(label, &words[..len]), Err(Error::BadValue));
    w.kill(C);
}

/// Sends `req` from `pid` with `cap`, checking the invariants after.
fn req_with(w: &mut World, pid: Pid, req: Request, cap: FakeCap) -> Result<Reply, Error> {
    let badge = Badge::Process(w.tasks[&pid]).encode();
    let r = w.raw(badge, req, Some(cap));
    w.check();
    r
}

/// Subscribers are signalled once per grow, shrink and set_root, after
/// the change; a failed change, a replaced or ended subscription, or a
/// process that never subscribed gets nothing; the cap is charged.
#[test]
fn subscribers_are_signalled_on_every_change() {
    let mut w = World::new(64 * MIB);
    for pid in [1, 2, 3, 4] {
        w.spawn(pid, None);
    }
    let o = w.create(1, "watched", Mode::Peer, 2 * PAGE, 64 * PAGE);
    for pid in [1, 2, 3] {
        w.attach(pid, o.id, Prot::ReadWrite).unwrap();
    }
    let subscribe = Request::Subscribe { object: o.id };
    // (Each made just before it is sent: the checker counts every cap.)
    let slots = w.s.usage(2).1;
    let n2 = w.s.kernel_mut().new_notification();
    assert_eq!(req_with(&mut w, 2, subscribe, n2), Ok(Reply::Subscribe(())));
    assert_eq!(w.s.usage(2).1, slots + 1, "the subscription costs a slot");
    let n3 = w.s.kernel_mut().new_notification();
    assert_eq!(req_with(&mut w, 3, subscribe, n3), Ok(Reply::Subscribe(())));
    let count = |w: &World| (w.s.kernel().signals(n2), w.s.kernel().signals(n3));

    grow(&mut w, 1, o.id, 4 * PAGE).unwrap();
    assert_eq!(count(&w), (1, 1));
    assert_eq!(grow(&mut w, 1, o.id, 4 * PAGE), Err(Error::NotGrowing));
    assert_eq!(count(&w), (1, 1), "a refused grow signals nobody");
    w.req(1, Request::Shrink { object: o.id, new_size: 3 * PAGE }).unwrap();
    w.req(1, Request::SetRoot { object: o.id, offset: PAGE }).unwrap();
    assert_eq!(count(&w), (3, 3));

    // A new subscription replaces the old one (whose cap goes).
    let before = w.s.usage(2).1;
    let n2b = w.s.kernel_mut().new_notification();
    req_with(&mut w, 2, subscribe, n2b).unwrap();
    assert_eq!(w.s.usage(2).1, before, "the old subscription's slot is given back");
    grow(&mut w, 1, o.id, 5 * PAGE).unwrap();
    assert_eq!((count(&w), w.s.kernel().signals(n2b)), ((3, 4), 1));
    // Detaching ends it.
    w.req(3, Request::Detach { object: o.id }).unwrap();
    grow(&mut w, 1, o.id, 6 * PAGE).unwrap();
    assert_eq!(count(&w).1, 4);

    // Only an attached process may subscribe, and only with a cap.
    let n4 = w.s.kernel_mut().new_notification();
    assert_eq!(req_with(&mut w, 4, subscribe, n4), Err(Error::NotAttached));
    assert_eq!(w.req(2, subscribe), Err(Error::WrongCaps));
}
