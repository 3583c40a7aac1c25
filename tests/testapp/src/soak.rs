//! The soak behaviours: each soak process runs a fixed-seed random
//! sequence of operations on a few shared objects, and after each one
//! verifies the checksum of every object it is attached to, then reports
//! the step to the supervisor (which may kill it right there: a report is
//! the only place it holds no lock). `test_contract` describes the
//! objects' control page.
//!
//! Concurrency: one lock word per object (an atomic compare-exchange in
//! shared memory, released with release ordering) makes each object have
//! one writer or verifier at a time. The lock holder reads the size the
//! previous holder published, so nobody touches a page a shrink removed.

use crate::rng::Rng;
use crate::shm::{check, expect, Outcome};

use libshm::client::Ipc;
use libshm::layout::{slots, PAGE_SIZE};
use libshm::protocol::{Client, Error, MapFlags, Mode, Name, ObjectId, Prot, Target};
use libshm::shm::{mmap_peer, munmap_peer, SharedObject};
use libshm::sync::SharedMutex;
use runtime::supervisor;
use runtime::ProcessInfo;
use test_contract::*;

/// The operations, numbered as in [`SOAK_KINDS`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Open the object; create it if it does not exist.
    Attach = 0,
    Create = 1,
    Grow = 2,
    Shrink = 3,
    /// Attach by mapping into ourselves, or remap a range we have.
    MmapPeer = 4,
    /// Unmap a data page from ourselves, then map it back (we verify next).
    MunmapPeer = 5,
    /// Detach, or destroy the object when we are its last peer.
    Detach = 6,
    Write = 7,
    Verify = 8,
}

// The supervisor counts steps by these numbers.
const _: () = assert!(Kind::Verify as usize + 1 == SOAK_KINDS.len());

/// The kinds a random draw picks from (`Create` comes from `Attach`).
const DRAWN: [Kind; 8] = [
    Kind::Attach,
    Kind::Grow,
    Kind::Shrink,
    Kind::MmapPeer,
    Kind::MunmapPeer,
    Kind::Detach,
    Kind::Write,
    Kind::Verify,
];

/// Tries of an attach that loses races (the object destroyed or created by
/// a peer between our requests).
const ATTACH_TRIES: u32 = 4;

/// Runs the soak behaviour `arg` selects, if it is one.
pub fn run(info: &ProcessInfo) -> Option<Outcome> {
    match Behaviour::of(info.arg) {
        Some(Behaviour::Soak) => Some(soak(info)),
        Some(Behaviour::SoakCleanup) => Some(cleanup()),
        _ => None,
    }
}

/// This process: how it names itself to mmap_peer.
struct Me {
    target: Target,
}

fn soak(info: &ProcessInfo) -> Outcome {
    let mut rng = Rng(soak_seed(param(info.arg)));
    let me = Me { target: Target::Pid(info.pid) };
    let mut objects: [Option<SharedObject>; SOAK_OBJECTS] = [const { None }; SOAK_OBJECTS];
    let mut outcome = Ok(());
    for _ in 0..SOAK_OPS_PER_PROCESS {
        let j = rng.below(SOAK_OBJECTS as u64) as usize;
        let kind = DRAWN[rng.below(DRAWN.len() as u64) as usize];
        outcome = step(&mut objects[j], SOAK_NAMES[j], kind, &mut rng, &me)
            .and_then(|done| verify_all(&mut objects).map(|()| done))
            .map(|done| supervisor::report(soak_step(done as u64)));
        if outcome.is_err() {
            break;
        }
    }
    let detached = objects.into_iter().flatten().try_for_each(|o| expect(o.detach(), "detach at the end"));
    outcome.and(detached)
}

fn verify_all(objects: &mut [Option<SharedObject>]) -> Outcome {
    objects.iter_mut().flatten().try_for_each(|o| locked(o, |_, _| Ok(())))
}

/// One operation on `slot` (object `name`); returns what it did.
fn step(
    slot: &mut Option<SharedObject>,
    name: &str,
    kind: Kind,
    rng: &mut Rng,
    me: &Me,
) -> Result<Kind, &'static str> {
    let Some(obj) = slot.as_mut() else {
        return if kind == Kind::MmapPeer { map_in(slot, name, me) } else { attach(slot, name) };
    };
    match kind {
        Kind::Detach => {
            let obj = slot.take().ok_or("attached")?;
            leave(obj).map(|()| Kind::Detach)
        }
        // Already attached: the attach becomes a verify.
        Kind::Attach | Kind::Create | Kind::Verify => locked(obj, |_, _| Ok(Kind::Verify)),
        Kind::Grow => locked(obj, |obj, len| {
            let new = (len + PAGE_SIZE * (1 + rng.below(2))).min(SOAK_MAX_SIZE);
            if new == len {
                // At its largest: nothing to grow, so only the verify ran.
                return Ok(Kind::Verify);
            }
            check(expect(obj.grow(new), "grow")? == new, "grow returns the new size")?;
            obj.store(SOAK_LEN, new);
            Ok(Kind::Grow)
        }),
        Kind::Shrink => locked(obj, |obj, len| {
            if len == SOAK_MIN_SIZE {
                // At its smallest: only the verify ran.
                return Ok(Kind::Verify);
            }
            let new = len - PAGE_SIZE;
            // The cut words leave the checksum with their page.
            let cut = checksum(obj, new, len);
            obj.store(SOAK_SUM, obj.load(SOAK_SUM).wrapping_sub(cut));
            obj.store(SOAK_LEN, new);
            check(expect(obj.shrink(new), "shrink")? == new, "shrink returns the new size")?;
            Ok(Kind::Shrink)
        }),
        Kind::MmapPeer => locked(obj, |obj, len| {
            let addr = mmap_peer(
                me.target,
                0,
                len - SOAK_DATA_FROM,
                Prot::ReadWrite,
                MapFlags::SHARED,
                obj.id(),
                SOAK_DATA_FROM,
            );
            check(
                expect(addr, "mmap_peer a mapped range")? == obj.base() + SOAK_DATA_FROM,
                "mapped at the object's address",
            )?;
            Ok(Kind::MmapPeer)
        }),
        Kind::MunmapPeer => locked(obj, |obj, len| {
            let page = SOAK_DATA_FROM + PAGE_SIZE * rng.below((len - SOAK_DATA_FROM) / PAGE_SIZE);
            expect(munmap_peer(me.target, obj.base() + page, PAGE_SIZE), "munmap_peer from ourselves")?;
            let addr = mmap_peer(me.target, 0, PAGE_SIZE, Prot::ReadWrite, MapFlags::SHARED, obj.id(), page);
            check(
                expect(addr, "mmap_peer the page back")? == obj.base() + page,
                "mapped back at its address",
            )?;
            Ok(Kind::MunmapPeer)
        }),
        Kind::Write => locked(obj, |obj, len| {
            let at = SOAK_DATA_FROM + SOAK_SLOT_STRIDE * rng.below((len - SOAK_DATA_FROM) / SOAK_SLOT_STRIDE);
            let value = rng.next();
            let sum =
                obj.load(SOAK_SUM).wrapping_sub(weighted(at, obj.load(at))).wrapping_add(weighted(at, value));
            obj.store(at, value);
            obj.store(SOAK_SUM, sum);
            Ok(Kind::Write)
        }),
    }
}

/// Detaches; the last peer destroys the object instead (so later attaches
/// create it again). A peer attaching meanwhile makes the destroy busy.
fn leave(obj: SharedObject) -> Outcome {
    if obj.attached_count() != 1 {
        return expect(obj.detach(), "detach");
    }
    let id = obj.id();
    match obj.destroy() {
        Err(Error::ObjectBusy) => expect(raw_detach(id), "detach after a busy destroy"),
        r => expect(r, "destroy"),
    }
}

fn raw_detach(object: ObjectId) -> Result<(), Error> {
    Ipc::new(slots::MEMORY_MANAGER).detach(object)
}

/// Opens `name`, creating it if nobody has.
fn attach(slot: &mut Option<SharedObject>, name: &str) -> Result<Kind, &'static str> {
    for _ in 0..ATTACH_TRIES {
        match SharedObject::open(name, Prot::ReadWrite) {
            Ok(obj) => {
                *slot = Some(obj);
                return Ok(Kind::Attach);
            }
            // Destroyed between the name lookup and the attach: try again.
            Err(Error::UnknownObject) => {}
            Err(Error::UnknownName) => {
                match SharedObject::create(name, Mode::Peer, SOAK_MIN_SIZE, SOAK_MAX_SIZE, Prot::ReadWrite) {
                    Ok(obj) => {
                        *slot = Some(obj);
                        return Ok(Kind::Create);
                    }
                    // A peer created it first; or one opened ours before we
                    // attached, found itself alone and destroyed it.
                    Err(Error::NameTaken | Error::UnknownObject) => {}
                    Err(e) => return expect(Err(e), "create"),
                }
            }
            Err(e) => return expect(Err(e), "open"),
        }
    }
    Err("attach within the tries")
}

/// Attaches by mapping the control page into ourselves with `mmap_peer`,
/// then (under the lock, so the size holds still) the rest.
fn map_in(slot: &mut Option<SharedObject>, name: &str, me: &Me) -> Result<Kind, &'static str> {
    let info = match Ipc::new(slots::MEMORY_MANAGER).open(expect(Name::new(name), "name")?) {
        Ok(info) => info,
        Err(Error::UnknownName) => return attach(slot, name),
        _ => return Err("look the object up"),
    };
    match mmap_peer(me.target, 0, PAGE_SIZE, Prot::ReadWrite, MapFlags::SHARED, info.id, SOAK_LOCK) {
        Ok(_) => {}
        // Destroyed since the lookup: attach the ordinary way.
        Err(Error::UnknownObject) => return attach(slot, name),
        Err(e) => return expect(Err(e), "mmap_peer the control page"),
    }
    let mut obj = expect(SharedObject::adopt(name), "adopt what we mapped")?;
    locked(&mut obj, |obj, len| {
        let rest = mmap_peer(
            me.target,
            0,
            len - SOAK_DATA_FROM,
            Prot::ReadWrite,
            MapFlags::SHARED,
            obj.id(),
            SOAK_DATA_FROM,
        );
        expect(rest, "mmap_peer the data pages").map(|_| ())
    })?;
    *slot = Some(obj);
    Ok(Kind::MmapPeer)
}

/// Runs `body` holding the object's lock, with its published size (the
/// first holder publishes the size the object was created with); then
/// checks the published checksum against the data, and releases the lock
/// whatever happened.
fn locked<T>(
    obj: &mut SharedObject,
    body: impl FnOnce(&mut SharedObject, u64) -> Result<T, &'static str>,
) -> Result<T, &'static str> {
    let lock = SharedMutex::<()>::at(obj, SOAK_LOCK).map_err(|_| "the lock word fits the control page")?;
    // Waits as long as a live holder holds it (on another core a holder may
    // be killed holding it: the lock then passes to one waiter, recovered).
    let held = lock.lock();
    let outcome = (|| {
        let size = obj.sync_size();
        // The dead holder's update may be half done: what the data is once
        // this body has run becomes the published state (the dead one's
        // change is lost, as with a robust mutex's EOWNERDEAD). The data
        // is read only after the body (which may be what maps it in).
        let recovered = held.recovered();
        if recovered {
            sel4::debug_println!("soak: the lock of a killed holder recovered");
            obj.store(SOAK_LEN, size);
        }
        if obj.load(SOAK_LEN) == 0 {
            obj.store(SOAK_LEN, size);
        }
        let len = obj.load(SOAK_LEN);
        check(len == size, "the header shows the published size")?;
        let result = body(obj, len)?;
        let len = obj.load(SOAK_LEN);
        let sum = checksum(obj, SOAK_DATA_FROM, len);
        if recovered {
            obj.store(SOAK_SUM, sum);
        }
        check(sum == obj.load(SOAK_SUM), "the object's checksum")?;
        Ok(result)
    })();
    drop(held);
    outcome
}

/// A word's part of the checksum: weighted by its place, so moved words
/// show, and 0 for a zero word, so fresh (zero-filled) pages add nothing.
fn weighted(at: u64, value: u64) -> u64 {
    value.wrapping_mul(2 * (at / SOAK_SLOT_STRIDE) + 1)
}

/// The checksum of the slot words in `[from, to)`.
fn checksum(obj: &SharedObject, from: u64, to: u64) -> u64 {
    (from..to)
        .step_by(SOAK_SLOT_STRIDE as usize)
        .fold(0, |sum, at| sum.wrapping_add(weighted(at, obj.load(at))))
}

/// Destroys every soak object left, after a last verify (nobody else is
/// alive), and checks that none can be opened any more.
fn cleanup() -> Outcome {
    for name in SOAK_NAMES {
        match SharedObject::open(name, Prot::ReadWrite) {
            Ok(mut obj) => {
                locked(&mut obj, |_, _| Ok(()))?;
                check(obj.attached_count() == 1, "nobody else is attached after the soak")?;
                expect(obj.destroy(), "destroy")?;
            }
            Err(Error::UnknownName) => {}
            Err(e) => return expect(Err(e), "open after the soak"),
        }
    }
    let gone =
        SOAK_NAMES.iter().all(|name| SharedObject::open(name, Prot::Read).err() == Some(Error::UnknownName));
    check(gone, "every soak object is gone")
}
