//! The shared-memory behaviours: owners that create, grow, map
//! and cut objects, and the peers that watch. What each does is written
//! down in `test_contract`; here is how.
//!
//! Processes coordinate only through the object: flag words in its first
//! data page and the count of attached processes in its header, both read
//! with plain loads. Every wait is a bounded yield loop.

use libshm::client::Ipc;
use libshm::header::Header;
use libshm::layout::{slots, IMAGE_BASE, PAGE_SIZE, WINDOW_END};
use libshm::pool::{Pool, PoolError};
use libshm::protocol::{
    Client, Errno, Error, MapFlags, Mode, Name, Pid, Prot, Target, MAP_FIXED, MAP_SHARED,
};
use libshm::shm::{mmap_peer, munmap_peer, SharedObject, SharedPtr};
use runtime::supervisor;
use runtime::ProcessInfo;
use sel4::debug_println;
use test_contract::*;

/// What a behaviour found: `Err` names the first check that failed.
pub type Outcome = Result<(), &'static str>;

/// Most yields any wait takes before it gives up (a few hundred
/// milliseconds of QEMU time even with every test process spinning).
const POLL_LIMIT: u32 = 50_000;

/// A list node: its value and the address of the next node (0 at the end).
type Node = [u64; 2];
const VALUE: usize = 0;
const NEXT: usize = 1;

/// Runs the shared-memory behaviour `arg` selects, if it is one.
pub fn run(info: &ProcessInfo) -> Option<Outcome> {
    let index = param(info.arg);
    Some(match Behaviour::of(info.arg) {
        Some(Behaviour::GrowOwner) => grow_owner(),
        Some(Behaviour::GrowPeer) => grow_peer(),
        Some(Behaviour::ListBuilder) => list_builder(),
        Some(Behaviour::ListWalker) => list_walker(),
        Some(Behaviour::MmapOwner) => mmap_owner(index),
        Some(Behaviour::MmapTarget) => mmap_target(index),
        Some(Behaviour::UnmapOwner) => removal_owner(Removal::Unmap, info),
        Some(Behaviour::UnmapPeer) => removal_peer(Removal::Unmap, index),
        Some(Behaviour::ShrinkOwner) => removal_owner(Removal::Shrink, info),
        Some(Behaviour::ShrinkPeer) => removal_peer(Removal::Shrink, index),
        Some(Behaviour::CsOwner) => client_server_owner(),
        Some(Behaviour::CsClient) => client_server_client(),
        Some(Behaviour::GrowKeepsData) => grow_keeps_data(),
        Some(Behaviour::QnxOwner) => qnx_owner(),
        Some(Behaviour::QnxNone) => qnx_none(),
        _ => return None,
    })
}

pub(crate) fn check(ok: bool, what: &'static str) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

/// The value of a request that must succeed; its error is printed.
pub(crate) fn expect<T>(r: Result<T, Error>, what: &'static str) -> Result<T, &'static str> {
    r.map_err(|e| {
        debug_println!("testapp: {what}: {e}");
        what
    })
}

fn expect_pool<T>(r: Result<T, PoolError>, what: &'static str) -> Result<T, &'static str> {
    r.map_err(|e| {
        debug_println!("testapp: {what}: {e:?}");
        what
    })
}

/// A request that must be refused with exactly `error`.
pub(crate) fn refused<T>(r: Result<T, Error>, error: Error, what: &'static str) -> Outcome {
    match r {
        Err(e) if e == error => Ok(()),
        Err(e) => {
            debug_println!("testapp: {what}: refused with {e}, expected {error}");
            Err(what)
        }
        Ok(_) => Err(what),
    }
}

/// Yields until `ready()` holds, at most [`POLL_LIMIT`] times.
pub(crate) fn poll(mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..POLL_LIMIT {
        if ready() {
            return true;
        }
        sel4::yield_now();
    }
    ready()
}

/// Waits until the header says `n` processes are attached.
pub(crate) fn wait_attached(obj: &SharedObject, n: u16, what: &'static str) -> Outcome {
    check(poll(|| obj.attached_count() == n), what)
}

/// Waits for the owner's [`RELEASE_FLAG`].
pub(crate) fn wait_released(obj: &SharedObject) -> Outcome {
    check(poll(|| obj.load_acquire(RELEASE_FLAG) == RELEASED), "the owner releases us")
}

/// Once `n` processes are attached, raises [`RELEASE_FLAG`].
fn release_when_attached(obj: &SharedObject, n: u16) -> Outcome {
    wait_attached(obj, n, "every peer attaches")?;
    obj.store_release(RELEASE_FLAG, RELEASED);
    Ok(())
}

/// An owner's last steps whatever happened before: wait until it is alone,
/// run `last` on what the others left, destroy the object (so no later test
/// meets it).
pub(crate) fn finish(
    mut obj: SharedObject,
    outcome: Outcome,
    last: impl FnOnce(&mut SharedObject) -> Outcome,
) -> Outcome {
    let alone = wait_attached(&obj, 1, "the others detach");
    let last = alone.and_then(|()| last(&mut obj));
    let destroyed = expect(obj.destroy(), "destroy");
    outcome.and(last).and(destroyed)
}

/// A peer's last step whatever happened before: detach.
pub(crate) fn leave(obj: SharedObject, outcome: Outcome) -> Outcome {
    let detached = expect(obj.detach(), "detach");
    outcome.and(detached)
}

fn pattern_words() -> impl Iterator<Item = u64> {
    (PATTERN_FROM..PATTERN_END).step_by(size_of::<u64>())
}

fn write_pattern(obj: &SharedObject) {
    pattern_words().for_each(|at| obj.store(at, pattern(at)));
}

fn pattern_intact(obj: &SharedObject) -> Outcome {
    check(pattern_words().all(|at| obj.load(at) == pattern(at)), "data written before the grow is intact")
}

/// The page indices the grow test adds.
fn new_pages() -> core::ops::Range<u64> {
    GROW_FROM / PAGE_SIZE..GROW_TO / PAGE_SIZE
}

fn grow_owner() -> Outcome {
    let mut obj = expect(
        SharedObject::create(GROW_OBJECT, Mode::Peer, GROW_FROM, GROW_MAX, Prot::ReadWrite),
        "create the object",
    )?;
    write_pattern(&obj);
    supervisor::report(Report::Ready.value());
    let outcome = grow_and_publish(&mut obj);
    finish(obj, outcome, |obj| pattern_intact(obj))
}

fn grow_and_publish(obj: &mut SharedObject) -> Outcome {
    wait_attached(obj, 1 + GROW_PEERS, "every peer attaches")?;
    check(expect(obj.grow(GROW_TO), "grow")? == GROW_TO, "grow returns the new size")?;
    for page in new_pages() {
        obj.store(page * PAGE_SIZE, grow_value(page));
    }
    obj.store_release(GROW_FLAG, GROWN);
    pattern_intact(obj)
}

fn grow_peer() -> Outcome {
    let mut obj = expect(SharedObject::open(GROW_OBJECT, Prot::Read), "open the object")?;
    let outcome = see_grow(&mut obj);
    leave(obj, outcome)
}

/// Everything here after the attach is loads: no message to anyone.
fn see_grow(obj: &mut SharedObject) -> Outcome {
    check(obj.size() == GROW_FROM, "attached before the grow")?;
    check(poll(|| obj.load_acquire(GROW_FLAG) == GROWN), "the grower's flag appears")?;
    check(obj.sync_size() == GROW_TO, "the header shows the new size")?;
    check(
        new_pages().all(|page| obj.load(page * PAGE_SIZE) == grow_value(page)),
        "every new page holds the grower's value",
    )?;
    pattern_intact(obj)
}

fn list_builder() -> Outcome {
    let mut obj = expect(
        SharedObject::create(LIST_OBJECT, Mode::Peer, GROW_FROM, GROW_MAX, Prot::ReadWrite),
        "create the object",
    )?;
    let outcome = build_list(&mut obj).and_then(|()| {
        supervisor::report(Report::Ready.value());
        release_when_attached(&obj, 1 + LIST_WALKERS)
    });
    finish(obj, outcome, |_| Ok(()))
}

/// Pushes [`LIST_NODES`] nodes, each allocated from the pool (which grows
/// the object by whole pools), linked by absolute addresses.
fn build_list(obj: &mut SharedObject) -> Outcome {
    let pool = expect_pool(Pool::create(obj, POOL_CONTROL, NODE_BYTES, PAGE_SIZE), "create the pool")?;
    let mut head = SharedPtr::<Node>::null();
    for i in 0..LIST_NODES {
        let at = expect_pool(pool.alloc(obj), "allocate a node")?;
        let node = obj.ptr::<Node>(at);
        node.write([node_value(i), head.addr()]);
        head = node;
    }
    let stats = expect_pool(pool.stats(obj), "pool stats")?;
    check(stats.pools == LIST_POOLS && stats.in_use == LIST_NODES, "the list spans the expected pools")?;
    let root = head.offset_in(obj).ok_or("the head is inside the object")?;
    expect(obj.set_root(root), "set the root")
}

fn list_walker() -> Outcome {
    let obj = expect(SharedObject::open(LIST_OBJECT, Prot::Read), "open the object")?;
    let outcome = walk_list(&obj).and_then(|()| wait_released(&obj));
    leave(obj, outcome)
}

fn walk_list(obj: &SharedObject) -> Outcome {
    let root = expect(obj.root(), "get the root")?;
    check(root != 0, "the root is set")?;
    let (mut node, mut count, mut sum) = (obj.ptr::<Node>(root), 0, 0);
    // Bounded: a broken link cannot make the walk endless.
    while !node.is_null() && count <= LIST_NODES {
        check(node.offset_in(obj).is_some(), "every node is inside the object")?;
        let n = node.read();
        count += 1;
        sum += n[VALUE];
        node = SharedPtr::from_addr(n[NEXT]);
    }
    check(count == LIST_NODES, "the walk finds every node")?;
    check(sum == (0..LIST_NODES).map(node_value).sum::<u64>(), "the values add up")?;
    let stats = expect_pool(Pool::open(obj, POOL_CONTROL).and_then(|p| p.stats(obj)), "open the pool")?;
    check(stats.pools == LIST_POOLS, "the list spans the expected pools")
}

fn mmap_owner(by_pid: u64) -> Outcome {
    let obj = expect(
        SharedObject::create(MMAP_OBJECT, Mode::Peer, MMAP_SIZE, MMAP_SIZE, Prot::ReadWrite),
        "create the object",
    )?;
    obj.store(MMAP_OFFSET, MMAP_VALUE);
    let outcome = map_into_targets(&obj, by_pid);
    // The targets stay until then, so the count above cannot race them.
    obj.store_release(MMAP_RELEASE_AT, RELEASED);
    finish(obj, outcome, |obj| check(obj.load(MMAP_ANSWER_AT) == MMAP_ANSWER, "the target's answer"))
}

fn map_into_targets(obj: &SharedObject, by_pid: u64) -> Outcome {
    let at = obj.base() + MMAP_OFFSET;
    let pid = Pid::try_from(by_pid).map_err(|_| "a pid")?;
    let mapped =
        mmap_peer(Target::Pid(pid), 0, PAGE_SIZE, Prot::ReadWrite, MapFlags::SHARED, obj.id(), MMAP_OFFSET);
    check(expect(mapped, "mmap_peer by pid")? == at, "mapped by pid at the object's address")?;

    let alias = Target::Alias(expect(Name::new(MMAP_ALIAS), "the alias")?);
    let fixed = expect(MapFlags::from_bits(MAP_SHARED | MAP_FIXED), "flags")?;
    let wrong = mmap_peer(alias, obj.base(), PAGE_SIZE, Prot::Read, fixed, obj.id(), MMAP_OFFSET);
    refused(wrong, Error::WrongAddress, "an address other than the object's is refused")?;
    let mapped = mmap_peer(alias, at, PAGE_SIZE, Prot::Read, fixed, obj.id(), MMAP_OFFSET);
    check(expect(mapped, "mmap_peer by alias")? == at, "mapped by alias at the object's address")?;

    let nobody = Target::Alias(expect(Name::new("shm-nobody"), "the alias")?);
    let unknown = mmap_peer(nobody, 0, PAGE_SIZE, Prot::Read, MapFlags::SHARED, obj.id(), MMAP_OFFSET);
    refused(unknown, Error::UnknownAlias, "an unknown alias is refused")?;
    check(obj.attached_count() == 3, "both targets are attached")
}

fn mmap_target(prot_bits: u64) -> Outcome {
    let expected = expect(Prot::from_bits(prot_bits), "the expected rights")?;
    let mut found = None;
    // Until the owner has mapped the object here: it does not exist yet, or
    // we are not attached yet.
    poll(|| {
        found = SharedObject::adopt(MMAP_OBJECT).ok();
        found.is_some()
    });
    let obj = found.ok_or("the owner maps the object into us")?;
    let outcome = check(obj.prot() == expected, "mapped with the rights asked for")
        .and_then(|()| check(obj.load(MMAP_OFFSET) == MMAP_VALUE, "the owner's value is there"))
        .map(|()| {
            if obj.prot().writable() {
                obj.store(MMAP_ANSWER_AT, MMAP_ANSWER);
            }
        })
        .and_then(|()| {
            check(poll(|| obj.load_acquire(MMAP_RELEASE_AT) == RELEASED), "the owner releases us")
        });
    leave(obj, outcome)
}

/// How [`removal_owner`] takes pages away.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// `munmap_peer` from each peer, by pid.
    Unmap,
    /// A shrink of the object.
    Shrink,
}

impl Removal {
    fn object(self) -> &'static str {
        match self {
            Removal::Unmap => UNMAP_OBJECT,
            Removal::Shrink => SHRINK_OBJECT,
        }
    }
}

fn removal_owner(removal: Removal, info: &ProcessInfo) -> Outcome {
    let mut obj = expect(
        SharedObject::create(removal.object(), Mode::Peer, CUT_SIZE, CUT_SIZE, Prot::ReadWrite),
        "create the object",
    )?;
    obj.store(CUT_OFFSET, CUT_VALUE);
    // The page's address is the ready signal and the fault the supervisor
    // must see from every peer.
    supervisor::report(obj.base() + CUT_OFFSET);
    let outcome = remove_pages(&mut obj, removal, info);
    finish(obj, outcome, |_| Ok(()))
}

fn remove_pages(obj: &mut SharedObject, removal: Removal, info: &ProcessInfo) -> Outcome {
    let all_seen = || (0..u64::from(UNMAP_PEERS)).all(|i| obj.load_acquire(seen_flag(i)) == SEEN);
    check(poll(all_seen), "every peer reads the page")?;
    match removal {
        Removal::Unmap => {
            let header = read_header(obj)?;
            let mut unmapped = 0;
            for peer in header.attached().filter(|a| a.task != info.task()) {
                let target = Target::Pid(peer.task.pid());
                expect(munmap_peer(target, obj.base() + CUT_OFFSET, PAGE_SIZE), "munmap_peer by pid")?;
                unmapped += 1;
            }
            check(unmapped == UNMAP_PEERS, "the header lists every peer")?;
            check(obj.load(CUT_OFFSET) == CUT_VALUE, "the owner keeps its own mapping")?;
        }
        Removal::Shrink => {
            check(expect(obj.shrink(CUT_OFFSET), "shrink")? == CUT_OFFSET, "shrink returns the new size")?;
            check(obj.sync_size() == CUT_OFFSET, "the header shows the new size")?;
        }
    }
    obj.store_release(RELEASE_FLAG, RELEASED);
    Ok(())
}

/// The header, read again if it was being rewritten at that moment.
fn read_header(obj: &SharedObject) -> Result<Header, &'static str> {
    let mut header = None;
    poll(|| {
        header = obj.header().ok();
        header.is_some()
    });
    header.ok_or("the header decodes")
}

fn removal_peer(removal: Removal, index: u64) -> Outcome {
    let obj = expect(SharedObject::open(removal.object(), Prot::ReadWrite), "open the object")?;
    check(obj.load(CUT_OFFSET) == CUT_VALUE, "the page is there before")?;
    obj.store_release(seen_flag(index), SEEN);
    wait_released(&obj)?;
    // The size this handle knows still covers the page: the load is made,
    // and must fault.
    let _ = obj.load(CUT_OFFSET);
    Err("the removed page can still be read")
}

fn qnx_owner() -> Outcome {
    let obj = expect(
        SharedObject::create(QNX_OBJECT, Mode::Peer, QNX_SIZE, QNX_SIZE, Prot::ReadWrite),
        "create the object",
    )?;
    let outcome = qnx_calls(&obj);
    if outcome.is_ok() {
        supervisor::report(obj.base() + PAGE_SIZE);
    }
    let signalled =
        outcome.and_then(|()| check(poll(|| obj.root() == Ok(QNX_SIGNAL)), "the peer sets the root"));
    finish(obj, signalled, |_| Ok(()))
}

/// The QNX cases an owner can check on its own object.
fn qnx_calls(obj: &SharedObject) -> Outcome {
    obj.store(2 * PAGE_SIZE, CUT_VALUE);
    let me = Target::CALLER;
    // A length of one byte is one page.
    expect(munmap_peer(me, obj.base() + 2 * PAGE_SIZE, 1), "munmap_peer one byte")?;
    // Nothing mapped there: success, no effect.
    expect(munmap_peer(me, WINDOW_END - PAGE_SIZE, PAGE_SIZE), "munmap_peer where nothing is")?;
    expect(munmap_peer(me, obj.base() + QNX_SIZE, PAGE_SIZE), "munmap_peer past the end")?;
    let outside = munmap_peer(me, IMAGE_BASE, PAGE_SIZE).map_err(Error::errno);
    check(outside == Err(Errno::EINVAL), "munmap_peer outside the window: EINVAL")?;
    // The address is a hint: the page comes back at the object's address,
    // with its data.
    let hint = obj.base() + 12345;
    let at = mmap_peer(me, hint, 10, Prot::ReadWrite, MapFlags::SHARED, obj.id(), 2 * PAGE_SIZE);
    check(
        expect(at, "mmap_peer with a hint")? == obj.base() + 2 * PAGE_SIZE,
        "mapped at the object's address",
    )?;
    check(obj.load(2 * PAGE_SIZE) == CUT_VALUE, "the data is still there")?;
    let fixed = expect(MapFlags::from_bits(MAP_SHARED | MAP_FIXED), "flags")?;
    let wrong =
        mmap_peer(me, obj.base(), PAGE_SIZE, Prot::Read, fixed, obj.id(), PAGE_SIZE).map_err(Error::errno);
    check(wrong == Err(Errno::ENXIO), "MAP_FIXED elsewhere: ENXIO")
}

fn qnx_none() -> Outcome {
    let obj = expect(SharedObject::open(QNX_OBJECT, Prot::None), "attach with PROT_NONE")?;
    check(expect(obj.stat(), "stat")?.rights == Some(Prot::None), "attached with no rights")?;
    expect(obj.set_root(QNX_SIGNAL), "set the root")?;
    // Any touch faults.
    let _ = obj.load(PAGE_SIZE);
    Err("a PROT_NONE page could be read")
}

fn client_server_owner() -> Outcome {
    let obj = expect(
        SharedObject::create(CS_OBJECT, Mode::ClientServer, CS_SIZE, GROW_MAX, Prot::Read),
        "create the object",
    )?;
    obj.store(PATTERN_FROM, CS_VALUE);
    supervisor::report(Report::Ready.value());
    let outcome = release_when_attached(&obj, 2);
    finish(obj, outcome, |obj| {
        check(expect(obj.refresh(), "stat")? == CS_SIZE, "the size is unchanged")?;
        check(expect(obj.root(), "get the root")? == 0, "the root is unchanged")?;
        check(obj.load(PATTERN_FROM) == CS_VALUE, "the data is unchanged")
    })
}

fn client_server_client() -> Outcome {
    let wider = SharedObject::open(CS_OBJECT, Prot::ReadWrite).map(|_| ());
    refused(wider, Error::RightsExceeded, "attaching read-write is refused")?;
    let mut obj = expect(SharedObject::open(CS_OBJECT, Prot::Read), "open the object read-only")?;
    let outcome = client_refused(&mut obj).and_then(|()| wait_released(&obj));
    leave(obj, outcome)
}

fn client_refused(obj: &mut SharedObject) -> Outcome {
    check(obj.load(PATTERN_FROM) == CS_VALUE, "the client reads the owner's data")?;
    refused(obj.grow(CS_SIZE + PAGE_SIZE), Error::NotOwner, "grow is refused")?;
    refused(obj.shrink(PAGE_SIZE), Error::NotOwner, "shrink is refused")?;
    refused(obj.set_root(PATTERN_FROM), Error::NotOwner, "set_root is refused")?;
    let owner = Target::Pid(expect(obj.stat(), "stat")?.owner);
    let map = mmap_peer(owner, 0, PAGE_SIZE, Prot::Read, MapFlags::SHARED, obj.id(), PAGE_SIZE);
    refused(map, Error::NotOwner, "mmap_peer into the owner is refused")?;
    let unmap = munmap_peer(owner, obj.base() + PAGE_SIZE, PAGE_SIZE);
    refused(unmap, Error::NotOwner, "munmap_peer from the owner is refused")?;
    let destroy = Ipc::new(slots::MEMORY_MANAGER).destroy(obj.id());
    refused(destroy, Error::NotOwner, "destroy is refused")?;
    check(expect(obj.refresh(), "stat")? == CS_SIZE, "the object is as it was")
}

fn grow_keeps_data() -> Outcome {
    let mut obj = expect(
        SharedObject::create(KEEP_OBJECT, Mode::Peer, GROW_FROM, GROW_MAX, Prot::ReadWrite),
        "create the object",
    )?;
    write_pattern(&obj);
    let outcome = grow_and_check(&mut obj);
    finish(obj, outcome, |_| Ok(()))
}

/// Grows to each size in turn, marking the first and last word each grow
/// added, and checks every earlier word after every grow.
fn grow_and_check(obj: &mut SharedObject) -> Outcome {
    let word = size_of::<u64>() as u64;
    let mut marks = [(0, 0); KEEP_SIZES.len()];
    for (i, &size) in KEEP_SIZES.iter().enumerate() {
        let old = obj.size();
        check(expect(obj.grow(size), "grow")? == size, "grow returns the new size")?;
        marks[i] = (old, size - word);
        for at in [old, size - word] {
            obj.store(at, pattern(at));
        }
        pattern_intact(obj)?;
        check(
            marks[..=i].iter().all(|&(a, b)| obj.load(a) == pattern(a) && obj.load(b) == pattern(b)),
            "earlier grows' data is intact",
        )?;
    }
    Ok(())
}
