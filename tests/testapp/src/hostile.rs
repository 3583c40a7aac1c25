//! The hostile-client behaviours: a client that sends the memory
//! manager every malformed request it can think of, and the owner of a
//! canary object that must come through untouched. What each does is
//! written down in `test_contract`; here is how.
//!
//! The hostile client expects one exact error per request: a request that
//! succeeds, or fails for another reason, ends the attack and reports 0.

use crate::rng::Rng;
use libshm::client::Ipc;
use libshm::layout::{IMAGE_BASE, MAX_OBJECTS, MAX_OBJECT_SIZE, PAGE_SIZE, WINDOW_SIZE};
use libshm::protocol::{
    Budget, Client, Error, MapFlags, Mode, Name, ObjectId, ObjectInfo, Op, Prot, Reply, Request, Target,
    MAP_FIXED, MAP_SHARED, NAME_MAX, PROT_WRITE,
};
use libshm::shm::SharedObject;
use runtime::{slots, supervisor, ProcessInfo};
use sel4::{CPtr, MessageInfo, MAX_LABEL, MSG_MAX_LENGTH};
use test_contract::*;

use crate::shm::{check, expect, finish, leave, poll, refused, wait_released, Outcome};

/// A pid no process has (the supervisor hands out small ones).
const UNKNOWN_PID: u16 = u16::MAX;
/// An object id the server never hands out (its ids start at 1).
const UNKNOWN_OBJECT: ObjectId = ObjectId(0);
/// Names and aliases nothing has.
const NOBODY: &str = "hostile-nobody";
/// The hostile client's own object: header and one data page...
const OWN_SIZE: u64 = 2 * PAGE_SIZE;
/// ...and room for two more.
const OWN_MAX: u64 = 4 * PAGE_SIZE;
/// A page-aligned offset so large that any range from it overflows.
const HUGE: u64 = !(PAGE_SIZE - 1);
/// Prefix of the names of the objects that fill the server's table.
const FILL_PREFIX: &[u8] = b"hostile-fill-";
/// Seed of the garbage generator (fixed, so a failure repeats).
const GARBAGE_SEED: u64 = 0x686f_7374_696c_6521;
/// Tries to draw one message the decoder refuses before giving up.
const GARBAGE_DRAWS: u32 = 64;
/// A message length field wider than the IPC buffer (the kernel clamps it).
const LENGTH_FIELD_MAX: u64 = 127;

/// Runs the hostile behaviour `arg` selects, if it is one; returns the word
/// to report.
pub fn run(info: &ProcessInfo) -> Option<u64> {
    let outcome = match Behaviour::of(info.arg) {
        Some(Behaviour::HostileCanary) => canary_owner(info).map(|()| Report::Pass.value()),
        Some(Behaviour::Hostile) => hostile(info),
        _ => return None,
    };
    Some(outcome.unwrap_or_else(|what| {
        sel4::debug_println!("testapp pid {} ({}): failed: {what}", info.pid, info.name());
        0
    }))
}

/// Whether the canary's checked words are all as written.
fn canary_intact(obj: &SharedObject) -> bool {
    (CANARY_DATA_FROM..CANARY_SIZE).step_by(size_of::<u64>()).all(|at| obj.load(at) == canary_word(at))
}

fn canary_owner(info: &ProcessInfo) -> Outcome {
    let mut obj = expect(
        SharedObject::create(CANARY_OBJECT, Mode::ClientServer, CANARY_SIZE, CANARY_MAX, Prot::Read),
        "create the canary",
    )?;
    (CANARY_DATA_FROM..CANARY_SIZE).step_by(size_of::<u64>()).for_each(|at| obj.store(at, canary_word(at)));
    let outcome = expect(obj.set_root(CANARY_ROOT), "set the root").and_then(|()| {
        supervisor::report(Report::Ready.value());
        outlast_attack(&mut obj, info)
    });
    finish(obj, outcome, |obj| check(canary_intact(obj), "the canary is intact at the end"))
}

/// Keeps asking for the canary's state until the hostile client attaches
/// (its attack is over), then checks the canary and that the server and
/// the supervisor still serve.
fn outlast_attack(obj: &mut SharedObject, info: &ProcessInfo) -> Outcome {
    let (mut served, mut unchanged) = (0u32, true);
    let attack_over = poll(|| {
        match obj.stat() {
            Ok(s) => {
                served += 1;
                unchanged &= s.info.size == CANARY_SIZE && s.root == CANARY_ROOT && s.owner == info.pid;
            }
            Err(_) => unchanged = false,
        }
        obj.attached_count() == 2
    });
    check(attack_over, "the hostile client finishes")?;
    check(served > 0 && unchanged, "the server answered the owner during the attack, canary unchanged")?;
    check(canary_intact(obj), "the canary keeps its contents")?;
    let grown = CANARY_SIZE + PAGE_SIZE;
    check(expect(obj.grow(grown), "grow after the attack")? == grown, "the grow after the attack works")?;
    check(supervisor::ping() == Ok(info.task()), "the supervisor answers")?;
    obj.store_release(RELEASE_FLAG, RELEASED);
    Ok(())
}

/// The memory manager, through our cap to it.
fn mm() -> Ipc {
    Ipc::new(slots::MEMORY_MANAGER)
}

/// `MAP_SHARED | MAP_FIXED`.
fn fixed() -> Result<MapFlags, &'static str> {
    expect(MapFlags::from_bits(MAP_SHARED | MAP_FIXED), "flags")
}

/// Counts hostile requests as each is refused as expected.
struct Attack {
    tried: u64,
    me: libshm::protocol::TaskId,
}

impl Attack {
    /// `r` must be exactly `error`.
    fn refused<T>(&mut self, r: Result<T, Error>, error: Error, what: &'static str) -> Outcome {
        self.tried += 1;
        refused(r, error, what)
    }

    /// `request` (with `cap` if any) must be refused with `error`.
    fn send(&mut self, request: Request, cap: Option<CPtr>, error: Error, what: &'static str) -> Outcome {
        let mut mm = match cap {
            Some(c) => Ipc::with_cap(slots::MEMORY_MANAGER, c),
            None => mm(),
        };
        self.refused(mm.request(&request), error, what)
    }

    /// A message built by hand, bypassing the encoder, must be refused with
    /// `error` (an error reply carries no words).
    fn raw(&mut self, label: u64, words: &[u64], length: u64, error: Error, what: &'static str) -> Outcome {
        self.tried += 1;
        let reply = raw_call(label, words, length, self.tried);
        if reply == (error.code(), 0) {
            return Ok(());
        }
        sel4::debug_println!(
            "testapp: {what}: reply label {:#x}, {} words, expected {error}",
            reply.0,
            reply.1
        );
        Err(what)
    }
}

/// Calls the memory manager with `label`, the first `length` of `words`
/// (the rest of the buffer as it was) and a length field of `length`, which
/// may claim more than the buffer holds; `unwrapped` fills the field the
/// kernel recomputes. Returns the reply's label and length.
fn raw_call(label: u64, words: &[u64], length: u64, unwrapped: u64) -> (u64, usize) {
    sel4::with_ipc_buffer(|b| {
        let n = words.len().min(MSG_MAX_LENGTH);
        b.msg[..n].copy_from_slice(&words[..n]);
    });
    let (info, _) = sel4::call(slots::MEMORY_MANAGER, MessageInfo::new(label, unwrapped, 0, length));
    (info.label(), info.length())
}

fn name(s: &str) -> Result<Name, &'static str> {
    expect(Name::new(s), "a name")
}

fn hostile(info: &ProcessInfo) -> Result<u64, &'static str> {
    let canary = expect(mm().open(name(CANARY_OBJECT)?), "open the canary")?;
    let own = expect(
        SharedObject::create(HOSTILE_OBJECT, Mode::Peer, OWN_SIZE, OWN_MAX, Prot::ReadWrite),
        "create our own object",
    )?;
    let mut a = Attack { tried: 0, me: info.task() };
    let own_info =
        ObjectInfo { id: own.id(), mode: Mode::Peer, base: own.base(), size: OWN_SIZE, max_size: OWN_MAX };
    let outcome = identities(&mut a, &own_info)
        .and_then(|()| ranges(&mut a, &own_info))
        .and_then(|()| rights(&mut a, &canary))
        .and_then(|()| limits(&mut a))
        .and_then(|()| messages(&mut a, &own_info))
        .and_then(|()| garbage(&mut a))
        .and_then(|()| {
            let s = expect(own.stat(), "stat our object")?;
            check(s.info.size == OWN_SIZE && s.root == 0, "our own object is as it was")
        })
        .and_then(|()| visit_canary());
    let destroyed = expect(own.destroy(), "destroy our object");
    outcome.and(destroyed).map(|()| a.tried)
}

/// Our attack is over: attach to the canary read-only (the owner's signal),
/// check it, wait for the owner, leave.
fn visit_canary() -> Outcome {
    let obj = expect(SharedObject::open(CANARY_OBJECT, Prot::Read), "attach to the canary")?;
    let outcome = check(canary_intact(&obj), "the canary is intact after the attack")
        .and_then(|()| wait_released(&obj));
    leave(obj, outcome)
}

fn mmap(target: Target, addr: u64, len: u64, prot: Prot, object: ObjectId, offset: u64) -> Request {
    Request::MmapPeer { target, addr, len, prot, flags: MapFlags::SHARED, object, offset }
}

/// Unknown and stale pids, unknown names, aliases and objects.
fn identities(a: &mut Attack, own: &ObjectInfo) -> Outcome {
    let unknown = Target::Pid(UNKNOWN_PID);
    let stale = Target::Task(a.me.next_generation().ok_or("a later generation")?);
    let nobody = name(NOBODY)?;
    let page = own.base + PAGE_SIZE;
    a.send(
        mmap(unknown, 0, PAGE_SIZE, Prot::Read, own.id, PAGE_SIZE),
        None,
        Error::UnknownProcess,
        "mmap_peer into an unknown pid",
    )?;
    a.send(
        mmap(stale, 0, PAGE_SIZE, Prot::Read, own.id, PAGE_SIZE),
        None,
        Error::StaleGeneration,
        "mmap_peer into a stale generation",
    )?;
    a.send(
        mmap(Target::Alias(nobody), 0, PAGE_SIZE, Prot::Read, own.id, PAGE_SIZE),
        None,
        Error::UnknownAlias,
        "mmap_peer into an unknown alias",
    )?;
    a.send(
        Request::MunmapPeer { target: unknown, addr: page, len: PAGE_SIZE },
        None,
        Error::UnknownProcess,
        "munmap_peer from an unknown pid",
    )?;
    a.send(
        Request::MunmapPeer { target: stale, addr: page, len: PAGE_SIZE },
        None,
        Error::StaleGeneration,
        "munmap_peer from a stale generation",
    )?;
    a.send(Request::LookupAlias { name: nobody }, None, Error::UnknownAlias, "look up an unknown alias")?;
    a.send(
        Request::RegisterAlias { name: name(CANARY_PROCESS)? },
        None,
        Error::AliasTaken,
        "take another's alias",
    )?;
    a.send(Request::Open { name: nobody }, None, Error::UnknownName, "open an unknown name")?;
    let taken = Request::Create {
        name: name(CANARY_OBJECT)?,
        mode: Mode::Peer,
        size: PAGE_SIZE,
        max_size: PAGE_SIZE,
        client_prot: Prot::ReadWrite,
    };
    a.send(taken, None, Error::NameTaken, "create under another's name")?;
    for (request, what) in [
        (Request::Attach { object: UNKNOWN_OBJECT, prot: Prot::Read }, "attach an unknown object"),
        (Request::Stat { object: UNKNOWN_OBJECT }, "stat an unknown object"),
        (Request::Grow { object: UNKNOWN_OBJECT, new_size: OWN_MAX }, "grow an unknown object"),
        (Request::Destroy { object: UNKNOWN_OBJECT }, "destroy an unknown object"),
        (
            mmap(Target::Pid(a.me.pid()), 0, PAGE_SIZE, Prot::Read, UNKNOWN_OBJECT, PAGE_SIZE),
            "mmap_peer an unknown object",
        ),
    ] {
        a.send(request, None, Error::UnknownObject, what)?;
    }
    Ok(())
}

/// Ranges unaligned, zero, overflowing, outside the object or the window,
/// on our own object (attached read-write, so only the range is wrong).
fn ranges(a: &mut Attack, own: &ObjectInfo) -> Outcome {
    let me = Target::Pid(a.me.pid());
    let id = own.id;
    let rw = Prot::ReadWrite;
    for (request, error, what) in [
        (mmap(me, 0, PAGE_SIZE, rw, id, 1), Error::Unaligned, "mmap_peer at an unaligned offset"),
        (
            mmap(me, 0, PAGE_SIZE + 1, rw, id, PAGE_SIZE),
            Error::OutsideObject,
            "mmap_peer a length that rounds up past the end",
        ),
        (mmap(me, 0, 0, rw, id, PAGE_SIZE), Error::ZeroLength, "mmap_peer a zero length"),
        (mmap(me, 0, 2 * PAGE_SIZE, rw, id, HUGE), Error::Overflow, "mmap_peer an overflowing range"),
        (mmap(me, 0, PAGE_SIZE, rw, id, OWN_SIZE), Error::OutsideObject, "mmap_peer past the object's end"),
        (
            Request::MmapPeer {
                target: me,
                addr: own.base,
                len: PAGE_SIZE,
                prot: rw,
                flags: fixed()?,
                object: id,
                offset: PAGE_SIZE,
            },
            Error::WrongAddress,
            "mmap_peer MAP_FIXED at another address",
        ),
        (
            Request::MunmapPeer { target: me, addr: own.base + 1, len: PAGE_SIZE },
            Error::Unaligned,
            "munmap_peer an unaligned address",
        ),
        (
            Request::MunmapPeer { target: me, addr: own.base, len: 0 },
            Error::ZeroLength,
            "munmap_peer a zero length",
        ),
        (
            Request::MunmapPeer { target: me, addr: own.base, len: HUGE },
            Error::Overflow,
            "munmap_peer an overflowing range",
        ),
        (
            Request::MunmapPeer { target: me, addr: IMAGE_BASE, len: PAGE_SIZE },
            Error::OutsideWindow,
            "munmap_peer outside the window",
        ),
        (
            Request::MunmapPeer { target: me, addr: own.base, len: WINDOW_SIZE },
            Error::OutsideWindow,
            "munmap_peer across the window's end",
        ),
        (Request::Grow { object: id, new_size: OWN_SIZE + 1 }, Error::Unaligned, "grow to an unaligned size"),
        (Request::Grow { object: id, new_size: OWN_SIZE }, Error::NotGrowing, "grow to the same size"),
        (
            Request::Grow { object: id, new_size: OWN_MAX + PAGE_SIZE },
            Error::TooLarge,
            "grow past the maximum",
        ),
        (
            Request::Shrink { object: id, new_size: PAGE_SIZE + 1 },
            Error::Unaligned,
            "shrink to an unaligned size",
        ),
        (Request::Shrink { object: id, new_size: OWN_SIZE }, Error::NotShrinking, "shrink to the same size"),
        (Request::Shrink { object: id, new_size: 0 }, Error::NotShrinking, "shrink below the header"),
        (
            Request::SetRoot { object: id, offset: OWN_SIZE },
            Error::OutsideObject,
            "set the root past the end",
        ),
        (Request::Attach { object: id, prot: Prot::Read }, Error::AlreadyAttached, "attach twice"),
    ] {
        a.send(request, None, error, what)?;
    }
    let nobody = name(NOBODY)?;
    let create = |size, max_size, mode, client_prot| Request::Create {
        name: nobody,
        mode,
        size,
        max_size,
        client_prot,
    };
    let rw_peer = |size, max| create(size, max, Mode::Peer, rw);
    for (request, error, what) in [
        (rw_peer(0, PAGE_SIZE), Error::ZeroLength, "create with size 0"),
        (rw_peer(PAGE_SIZE, 0), Error::ZeroLength, "create with maximum 0"),
        (rw_peer(PAGE_SIZE + 1, OWN_MAX), Error::Unaligned, "create with an unaligned size"),
        (rw_peer(PAGE_SIZE, OWN_MAX + 1), Error::Unaligned, "create with an unaligned maximum"),
        (rw_peer(OWN_MAX, PAGE_SIZE), Error::BadGeometry, "create larger than its maximum"),
        (
            create(PAGE_SIZE, OWN_MAX, Mode::Peer, Prot::Read),
            Error::BadGeometry,
            "create a read-only peer object",
        ),
        (
            rw_peer(PAGE_SIZE, MAX_OBJECT_SIZE + PAGE_SIZE),
            Error::TooLarge,
            "create larger than any object may be",
        ),
    ] {
        a.send(request, None, error, what)?;
    }
    Ok(())
}

/// Rights wider than granted, and an owner's operations from a client (a
/// client-server object we are not attached to).
fn rights(a: &mut Attack, canary: &ObjectInfo) -> Outcome {
    let me = Target::Pid(a.me.pid());
    let id = canary.id;
    let owner = Target::Pid(expect(mm().stat(id), "stat the canary")?.owner);
    let page = canary.base + PAGE_SIZE;
    for (request, error, what) in [
        (
            Request::Attach { object: id, prot: Prot::ReadWrite },
            Error::RightsExceeded,
            "attach wider than clients may",
        ),
        (
            mmap(me, 0, PAGE_SIZE, Prot::ReadWrite, id, PAGE_SIZE),
            Error::RightsExceeded,
            "mmap_peer into ourselves read-write",
        ),
        (Request::Grow { object: id, new_size: CANARY_MAX }, Error::NotOwner, "grow another's object"),
        (Request::Shrink { object: id, new_size: PAGE_SIZE }, Error::NotOwner, "shrink another's object"),
        (Request::SetRoot { object: id, offset: 0 }, Error::NotOwner, "set another's root"),
        (Request::Destroy { object: id }, Error::NotOwner, "destroy another's object"),
        (mmap(owner, 0, PAGE_SIZE, Prot::Read, id, PAGE_SIZE), Error::NotOwner, "mmap_peer into the owner"),
        (
            Request::MunmapPeer { target: owner, addr: page, len: PAGE_SIZE },
            Error::NotOwner,
            "munmap_peer from the owner",
        ),
        (Request::Detach { object: id }, Error::NotAttached, "detach where we are not attached"),
        (Request::GetRoot { object: id }, Error::NotAttached, "get the root where we are not attached"),
    ] {
        a.send(request, None, error, what)?;
    }
    Ok(())
}

/// `FILL_PREFIX` and `i` in hex: a name no one else uses.
fn fill_name(i: usize) -> Result<Name, &'static str> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const DIGITS: usize = 4;
    let mut buf = [0u8; NAME_MAX];
    buf[..FILL_PREFIX.len()].copy_from_slice(FILL_PREFIX);
    for d in 0..DIGITS {
        buf[FILL_PREFIX.len() + d] = HEX[(i >> (4 * (DIGITS - 1 - d))) & 0xf];
    }
    expect(Name::from_bytes(&buf[..FILL_PREFIX.len() + DIGITS]), "a fill name")
}

/// Creates objects of one page and at most `max_size` until one is refused;
/// the refusal must be `error`. Destroys what it made.
fn fill_until(a: &mut Attack, max_size: u64, attempts: usize, error: Error, what: &'static str) -> Outcome {
    let mut made = [None; MAX_OBJECTS];
    let mut outcome = Err(what);
    for (i, slot) in made.iter_mut().enumerate().take(attempts) {
        let create = Request::Create {
            name: fill_name(i)?,
            mode: Mode::Peer,
            size: PAGE_SIZE,
            max_size,
            client_prot: Prot::ReadWrite,
        };
        match mm().request(&create) {
            Ok(Reply::Create(o)) => *slot = Some(o.id),
            r => {
                outcome = a.refused(r, error, what);
                break;
            }
        }
    }
    for id in made.into_iter().flatten() {
        expect(mm().destroy(id), "destroy a fill object")?;
    }
    outcome
}

/// Quota, a full window and a full object table.
fn limits(a: &mut Attack) -> Outcome {
    let quota = runtime::info().budget.memory;
    let over_quota = Request::Create {
        name: name(NOBODY)?,
        mode: Mode::Peer,
        size: quota + PAGE_SIZE,
        max_size: MAX_OBJECT_SIZE,
        client_prot: Prot::ReadWrite,
    };
    a.send(over_quota, None, Error::QuotaExceeded, "create past the quota")?;
    // Client-server, so its owner may grow it without attaching.
    let big = Request::Create {
        name: name(NOBODY)?,
        mode: Mode::ClientServer,
        size: PAGE_SIZE,
        max_size: 2 * quota,
        client_prot: Prot::Read,
    };
    let big = match expect(mm().request(&big), "create a large reservation")? {
        Reply::Create(o) => o.id,
        _ => return Err("create answers with the object"),
    };
    let grow = Request::Grow { object: big, new_size: quota };
    let grown = a.send(grow, None, Error::QuotaExceeded, "grow past the quota");
    expect(mm().destroy(big), "destroy the reservation")?;
    grown?;
    // Each object reserves its maximum: one process may reserve only its
    // share of the window, and own only its share of the object table, so
    // the others always find room.
    let window_attempts = (WINDOW_SIZE / MAX_OBJECT_SIZE) as usize + 1;
    fill_until(
        a,
        MAX_OBJECT_SIZE,
        window_attempts,
        Error::WindowExceeded,
        "reserve past our share of the window",
    )?;
    fill_until(a, PAGE_SIZE, MAX_OBJECTS, Error::ObjectsExceeded, "own more objects than our share")
}

/// Messages the encoder would never make, supervisor operations, and caps
/// where none belong.
fn messages(a: &mut Attack, own: &ObjectInfo) -> Outcome {
    let id = u64::from(own.id.0);
    let length = |w: &[u64]| w.len() as u64;
    let short: &[u64] = &[id];
    let long: &[u64] = &[id, 0];
    a.raw(Op::Grow.label(), short, length(short), Error::ShortMessage, "a grow one word short")?;
    a.raw(Op::Stat.label(), &[], 0, Error::ShortMessage, "a stat with no words")?;
    a.raw(Op::Stat.label(), long, length(long), Error::LongMessage, "a stat one word long")?;
    a.raw(Op::Stat.label(), short, LENGTH_FIELD_MAX, Error::LongMessage, "a length beyond the IPC buffer")?;
    for label in [
        0,
        Op::Subscribe.label() + 1,
        Op::RegisterProcess.label() - 1,
        Op::ResolveFault.label() + 1,
        MAX_LABEL,
    ] {
        a.raw(label, &[], 0, Error::UnknownLabel, "an unknown label")?;
    }
    let bad_prot: &[u64] = &[id, PROT_WRITE];
    a.raw(Op::Attach.label(), bad_prot, length(bad_prot), Error::BadValue, "attach write-only")?;
    let wide_id: &[u64] = &[1 << 32, Prot::Read.bits()];
    a.raw(Op::Attach.label(), wide_id, length(wide_id), Error::BadValue, "an object id wider than 32 bits")?;
    let spaced = u64::from_le_bytes(*b"two word");
    let bad_name: &[u64] = &[spaced, 0, 0, 0];
    a.raw(Op::Open.label(), bad_name, length(bad_name), Error::BadName, "a name with a space")?;
    let no_shared =
        [0, u64::from(a.me.pid()), 0, 0, 0, 0, PAGE_SIZE, Prot::Read.bits(), MAP_SHARED << 1, id, PAGE_SIZE];
    a.raw(
        Op::MmapPeer.label(),
        &no_shared,
        length(&no_shared),
        Error::BadValue,
        "mmap_peer without MAP_SHARED",
    )?;

    // Supervisor operations, with and without the cap they take.
    let register = Request::RegisterProcess { task: a.me, alias: None, budget: Budget::DEFAULT };
    a.send(register, None, Error::NotSupervisor, "register a process")?;
    a.send(register, Some(slots::VSPACE), Error::NotSupervisor, "register a process with a VSpace")?;
    a.send(register, Some(slots::TCB), Error::NotSupervisor, "register a process with a TCB")?;
    a.send(Request::UnregisterProcess { task: a.me }, None, Error::NotSupervisor, "unregister ourselves")?;
    // Caps where the operation takes none: the server deletes them.
    let stat = Request::Stat { object: own.id };
    a.send(stat, Some(slots::SUPERVISOR), Error::WrongCaps, "an endpoint cap with a stat")?;
    a.send(stat, Some(slots::TCB), Error::WrongCaps, "a TCB cap with a stat")?;
    // Our cap to the memory manager's own endpoint: the kernel unwraps it
    // into a badge, and that still counts as a cap.
    a.send(
        stat,
        Some(slots::MEMORY_MANAGER),
        Error::WrongCaps,
        "its own endpoint cap (unwrapped) with a stat",
    )?;
    let create = Request::Create {
        name: name(NOBODY)?,
        mode: Mode::Peer,
        size: PAGE_SIZE,
        max_size: PAGE_SIZE,
        client_prot: Prot::ReadWrite,
    };
    a.send(create, Some(slots::CNODE), Error::WrongCaps, "a CNode cap with a create")?;
    refused(mm().open(name(NOBODY)?), Error::UnknownName, "the refused create made nothing")
}

/// The garbage a hostile client sends, from the shared deterministic source.
trait Garbage {
    fn word(&mut self) -> u64;
    fn label(&mut self) -> u64;
}

impl Garbage for Rng {
    /// A word from the kinds decoders look at: small values, page
    /// multiples, printable name bytes, anything.
    fn word(&mut self) -> u64 {
        const KINDS: u64 = 4;
        const SMALL: u64 = 4;
        match self.below(KINDS) {
            0 => self.below(SMALL),
            1 => self.next() & !(PAGE_SIZE - 1),
            2 => u64::from_le_bytes(core::array::from_fn(|_| {
                b'!' + (self.below(u64::from(b'~' - b'!') + 1) as u8)
            })),
            _ => self.next(),
        }
    }

    /// A label: mostly an operation's (so the field decoders see it),
    /// sometimes any.
    fn label(&mut self) -> u64 {
        match self.below(2) {
            0 => Op::ALL[self.below(Op::ALL.len() as u64) as usize].label(),
            _ => self.next() & MAX_LABEL,
        }
    }
}

/// Random messages the decoder refuses, sent raw: each must get the error
/// the decoder gives here.
fn garbage(a: &mut Attack) -> Outcome {
    let mut rng = Rng(GARBAGE_SEED);
    let mut words = [0u64; MSG_MAX_LENGTH];
    for _ in 0..GARBAGE_MESSAGES {
        let mut drawn = None;
        for _ in 0..GARBAGE_DRAWS {
            let label = rng.label();
            let len = rng.below(Request::MAX_WORDS as u64 + 2) as usize;
            words[..len].iter_mut().for_each(|w| *w = rng.word());
            if let Err(e) = Request::decode(label, &words[..len]) {
                drawn = Some((label, len, e));
                break;
            }
        }
        let (label, len, error) = drawn.ok_or("draw an undecodable message")?;
        a.raw(label, &words[..len], len as u64, error, "a random message")?;
    }
    Ok(())
}
