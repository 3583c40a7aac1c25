//! The exhaustion behaviours: hogs that use up their budgets by every path
//! (page-by-page grows, objects, eager and lazy attachments) and hold what
//! they got, while a bystander is served round after round; a releaser
//! whose object's root lets the hogs go. What each does is written down in
//! `test_contract`.

use crate::shm::{check, expect, Outcome};
use core::fmt::Write;
use libshm::client::Ipc;
use libshm::layout::PAGE_SIZE;
use libshm::protocol::{Client, Errno, Error, Mode, Name, ObjectId, Prot};
use libshm::shm::SharedObject;
use runtime::{slots, supervisor, ProcessInfo};
use sel4::debug_println;
use test_contract::*;

/// Most objects one hog holds (more than any budget of the suite allows).
const HELD: usize = 16;
/// Yields between two looks at the releaser's root.
const LOOK_EVERY: u32 = 64;
/// Looks before a hog gives up waiting to be released.
const LOOKS: u32 = 200_000;

/// Runs the exhaustion behaviour `arg` selects, if it is one.
pub fn run(info: &ProcessInfo) -> Option<Outcome> {
    let i = param(info.arg);
    Some(match Behaviour::of(info.arg) {
        Some(Behaviour::ExhaustReleaser) => releaser(),
        Some(Behaviour::ExhaustGrower) => grower(i),
        Some(Behaviour::ExhaustCreator) => creator(i),
        Some(Behaviour::ExhaustAttacher) => attacher(),
        Some(Behaviour::ExhaustLazy) => lazy(),
        Some(Behaviour::ExhaustBystander) => bystander(),
        _ => return None,
    })
}

fn mm() -> Ipc {
    Ipc::new(slots::MEMORY_MANAGER)
}

/// A name `prefix` followed by numbers, e.g. `ex-c3-1`.
struct Numbered {
    buf: [u8; 32],
    len: usize,
}

impl Write for Numbered {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn numbered(args: core::fmt::Arguments<'_>) -> Numbered {
    let mut n = Numbered { buf: [0; 32], len: 0 };
    let _ = n.write_fmt(args);
    n
}

impl Numbered {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// A refusal that must be `ENOMEM`: the budget, never the server giving out.
fn at_budget(e: Error, what: &'static str) -> Outcome {
    debug_println!("  {what}: refused at the budget with {e}");
    check(e.errno() == Errno::ENOMEM && e != Error::OutOfMemory, what)
}

/// The releaser's object's root: the hogs hold on, may let go, may end.
const HOLD: u64 = 0;
const SERVED: u64 = 8;
const LET_GO: u64 = 16;
const END: u64 = 24;

/// The root of the releaser's object, asked without attaching to it (a hog
/// at its budget could not).
fn release_root() -> Option<u64> {
    let name = Name::new(EXHAUST_RELEASE).ok()?;
    let info = mm().open(name).ok()?;
    mm().stat(info.id).ok().map(|s| s.root)
}

/// Waits, polling gently, until the releaser's root is `root`.
fn wait_root(root: u64, what: &'static str) -> Outcome {
    for _ in 0..LOOKS {
        if release_root() == Some(root) {
            return Ok(());
        }
        (0..LOOK_EVERY).for_each(|_| sel4::yield_now());
    }
    Err(what)
}

/// Yields until `ready()`, at most [`LOOKS`] times [`LOOK_EVERY`].
fn wait_until(mut ready: impl FnMut() -> bool, what: &'static str) -> Outcome {
    for _ in 0..LOOKS {
        if ready() {
            return Ok(());
        }
        (0..LOOK_EVERY).for_each(|_| sel4::yield_now());
    }
    check(ready(), what)
}

/// A hog's last steps: report that it holds what it could get; once the
/// releaser says so, let go of it (`leave`), then stay attached to the
/// releaser's object until it says the end, so it can count the hogs.
fn last(leave: impl FnOnce() -> Outcome) -> Outcome {
    supervisor::report(Report::Ready.value());
    wait_root(LET_GO, "told to let go")?;
    leave()?;
    let release = expect(SharedObject::open(EXHAUST_RELEASE, Prot::Read), "attach to the releaser's object")?;
    wait_root(END, "told to end")?;
    crate::shm::leave(release, Ok(()))
}

fn releaser() -> Outcome {
    let obj = expect(
        SharedObject::create(EXHAUST_RELEASE, Mode::Peer, PAGE_SIZE, PAGE_SIZE, Prot::ReadWrite),
        "create",
    )?;
    check(obj.root() == Ok(HOLD), "the hogs hold on")?;
    supervisor::report(Report::Ready.value());
    let hogs = (EXHAUST_GROWERS + EXHAUST_CREATORS + EXHAUST_ATTACHERS + EXHAUST_LAZY) as u16;
    // The bystander (above us and the hogs) says when it has been served.
    wait_until(|| obj.root() == Ok(SERVED), "the bystander is served")?;
    // What the memory manager used with every hog at its budget.
    let stats = expect(mm().server_stats(), "ask the memory manager's stats")?;
    expect(obj.set_root(LET_GO), "let the hogs go")?;
    wait_until(|| obj.attached_count() == 1 + hogs, "every hog lets go")?;
    expect(obj.set_root(END), "end the hogs")?;
    wait_until(|| obj.attached_count() == 1, "every hog ends")?;
    debug_println!(
        "exhaustion: {} processes ({EXHAUST_GROWERS} growing by 4 KiB, {EXHAUST_CREATORS} creating, \
         {EXHAUST_ATTACHERS} attaching, {EXHAUST_LAZY} attaching lazily), each path refused with ENOMEM at its \
         budget; bystander served {EXHAUST_ROUNDS} rounds; server heap peak {} % of {} KiB, slots peak {} % of {}",
        hogs + 2,
        stats.heap_peak_percent(),
        stats.heap_bytes >> 10,
        stats.slots_peak_percent(),
        stats.slots
    );
    let fits = stats.heap_peak < stats.heap_bytes && stats.slots_peak < stats.slots;
    check(fits, "the server's heap and slots were never used up")?;
    expect(obj.destroy(), "destroy")
}

fn grower(i: u64) -> Outcome {
    let budget = runtime::info().budget;
    let name = numbered(format_args!("ex-g{i}"));
    let max = (2 * budget.memory).min(budget.window);
    let mut obj =
        expect(SharedObject::create(name.as_str(), Mode::Peer, PAGE_SIZE, max, Prot::ReadWrite), "create")?;
    let mut pages = 1;
    let refusal = loop {
        match obj.grow((pages + 1) * PAGE_SIZE) {
            Ok(_) => pages += 1,
            Err(e) => break e,
        }
    };
    debug_println!("  grower {i}: {pages} pages of 4 KiB");
    at_budget(refusal, "grow page by page")?;
    obj.store(PAGE_SIZE, pages);
    last(|| {
        wait_until(|| obj.attached_count() == 1, "the attachers leave")?;
        expect(obj.destroy(), "destroy")
    })
}

fn creator(i: u64) -> Outcome {
    let mut held: [Option<ObjectId>; HELD] = [None; HELD];
    let mut n = 0;
    let refusal = loop {
        let name = numbered(format_args!("ex-c{i}-{n}"));
        let name = expect(Name::new(name.as_str()), "a name")?;
        match mm().create(name, Mode::Peer, PAGE_SIZE, PAGE_SIZE, Prot::ReadWrite) {
            Ok(info) if n < HELD => {
                held[n] = Some(info.id);
                n += 1;
            }
            Ok(_) => return Err("more objects than any budget allows"),
            Err(e) => break e,
        }
    };
    at_budget(refusal, "create objects")?;
    last(|| held.iter().flatten().try_for_each(|&id| expect(mm().destroy(id), "destroy")))
}

fn attacher() -> Outcome {
    let mut held: [Option<SharedObject>; EXHAUST_GROWERS as usize] = Default::default();
    let mut refusal = None;
    for (i, slot) in held.iter_mut().enumerate() {
        let name = numbered(format_args!("ex-g{i}"));
        match SharedObject::open(name.as_str(), Prot::Read) {
            Ok(obj) => *slot = Some(obj),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    at_budget(refusal.ok_or("attached to every object")?, "attach to every object")?;
    last(|| held.into_iter().flatten().try_for_each(|obj| expect(obj.detach(), "detach")))
}

fn lazy() -> Outcome {
    let mut held: [Option<SharedObject>; EXHAUST_GROWERS as usize] = Default::default();
    for (i, slot) in held.iter_mut().enumerate() {
        let name = numbered(format_args!("ex-g{i}"));
        let obj = expect(SharedObject::open_lazy(name.as_str(), Prot::Read), "attach lazily")?;
        let pages = obj.load(PAGE_SIZE);
        for t in 1..=EXHAUST_TOUCHES {
            // Spread over the object: each a first touch, repaired.
            let _ = obj.load(t * pages / (EXHAUST_TOUCHES + 1) * PAGE_SIZE + 8);
        }
        *slot = Some(obj);
    }
    last(|| held.into_iter().flatten().try_for_each(|obj| expect(obj.detach(), "detach")))
}

fn bystander() -> Outcome {
    let release =
        expect(SharedObject::open(EXHAUST_RELEASE, Prot::ReadWrite), "attach to the releaser's object")?;
    for round in 0..EXHAUST_ROUNDS {
        let served = (|| {
            let mut obj = expect(
                SharedObject::create(
                    "ex-bystander",
                    Mode::Peer,
                    2 * PAGE_SIZE,
                    16 * PAGE_SIZE,
                    Prot::ReadWrite,
                ),
                "create",
            )?;
            obj.store(PAGE_SIZE, round);
            expect(obj.grow(4 * PAGE_SIZE), "grow")?;
            obj.store(3 * PAGE_SIZE, round);
            let id = obj.id();
            expect(obj.detach(), "detach")?;
            let lazy = expect(SharedObject::open_lazy("ex-bystander", Prot::ReadWrite), "attach lazily")?;
            check(lazy.id() == id && lazy.load(3 * PAGE_SIZE) == round, "a repaired touch reads the data")?;
            expect(lazy.destroy(), "destroy")
        })();
        if let Err(what) = served {
            debug_println!("  bystander: round {round}: {what}");
            return Err(what);
        }
    }
    expect(release.set_root(SERVED), "say it was served")?;
    crate::shm::leave(release, Ok(()))
}
