//! An invariant checker, independent of the server's own bookkeeping: it
//! compares what the server believes with what the fake kernel actually has.
//!
//! - every attached process maps exactly the object's current pages it holds
//!   (its attachment's mappings) at the object's address, with rights no
//!   wider than its attachment (the header page read-only), and nothing else
//!   in the window; an unattached or unregistered process maps nothing;
//! - objects tile the window without overlap, their frames tile
//!   `[0, size)`, 2 MiB frames sit on 2 MiB offsets;
//! - the header page says what the tables say;
//! - no cap leaks (the kernel's live caps are exactly the server's frames,
//!   copies, paging structures and VSpaces), and all memory is accounted for;
//! - what each pid has been charged for is exactly what it pays for now
//!   (frames, copies and paging structures, by their payers) and holds
//!   (mappings), and within its budget.
//!
//! ```
//! use vmm_server::{check::check, fake::FakeKernel, Server};
//! let s = Server::new(FakeKernel::new(1 << 20));
//! check(&s, 1 << 20).unwrap();
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use libshm::header::{Attached, Header, HEADER_BYTES};
use libshm::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, WINDOW_BASE, WINDOW_END};
use libshm::protocol::{Budget, Prot};

use crate::fake::{FakeCap, FakeKernel, ObjId};
use crate::kernel::{ObjectKind, PageSize};
use crate::server::{Server, Usage};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

/// Checks every invariant; `total` is the untyped memory the fake kernel
/// started with. Returns what is wrong, if anything.
///
/// ```
/// use vmm_server::{check::check, fake::FakeKernel, Server};
/// let s = Server::new(FakeKernel::new(4096));
/// assert!(check(&s, 8192).is_err()); // 4 KiB unaccounted for
/// ```
pub fn check(server: &Server<FakeKernel>, total: u64) -> Result<(), String> {
    let k = server.kernel();
    let st = &server.state;
    let mut expected_caps: BTreeSet<FakeCap> = BTreeSet::new();
    let mut used = 0u64;
    // Expected pages per pid: vaddr -> (size, rights, frame, copy cap).
    type Want = BTreeMap<u64, (PageSize, Prot, ObjId, FakeCap)>;
    let mut want: BTreeMap<u16, Want> = BTreeMap::new();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    // What each pid should have been charged: (memory, slots, mappings).
    let mut charged: BTreeMap<u16, Usage> = BTreeMap::new();
    let add = |charged: &mut BTreeMap<u16, Usage>,
               pid: u16,
               memory: u64,
               tables: u64,
               slots: u64,
               mappings: u64| {
        let c = charged.entry(pid).or_insert(Usage::NONE);
        c.memory += memory;
        c.tables += tables;
        c.slots += slots;
        c.mappings += mappings;
    };
    let mut owned_objects: BTreeMap<u16, (u64, u64)> = BTreeMap::new();

    for (id, o) in st.objects.iter() {
        ensure!(o.id == id, "object {id:?} filed under another id");
        ensure!(
            o.base >= WINDOW_BASE && o.base % LARGE_PAGE_SIZE == 0 && o.reserve % LARGE_PAGE_SIZE == 0,
            "{id:?}: misplaced base {:#x}",
            o.base
        );
        ensure!(
            o.reserve >= o.max_size && o.base + o.reserve <= WINDOW_END,
            "{id:?}: reservation outside the window"
        );
        ensure!(PAGE_SIZE <= o.size && o.size <= o.max_size, "{id:?}: size {:#x} out of bounds", o.size);
        ensure!(o.root == 0 || o.root < o.size, "{id:?}: root outside");
        ranges.push((o.base, o.base + o.reserve));
        let owned = owned_objects.entry(o.owner).or_default();
        *owned = (owned.0 + 1, owned.1 + o.reserve);

        let mut at = 0;
        for (i, f) in o.frames.iter().enumerate() {
            ensure!(f.offset == at, "{id:?}: frame {i} at {:#x}, expected {at:#x}", f.offset);
            ensure!(
                f.size == PageSize::Small || (f.offset != 0 && f.offset % LARGE_PAGE_SIZE == 0),
                "{id:?}: large frame at {:#x}",
                f.offset
            );
            ensure!(k.object_of(f.cap).is_some(), "{id:?}: frame {i} cap is dead");
            expected_caps.insert(f.cap);
            used += ObjectKind::Frame(f.size).bytes();
            add(&mut charged, f.payer, f.size.bytes(), 0, 1, 0);
            at += f.size.bytes();
        }
        ensure!(at == o.size, "{id:?}: frames cover {at:#x}, size {:#x}", o.size);

        let mut expected_header = Header::new(o.id, o.mode, o.owner, o.base, o.size, o.max_size);
        expected_header.root = o.root;
        let mut seen = BTreeSet::new();
        for a in &o.attachments {
            ensure!(seen.insert(a.task.pid()), "{id:?}: {:?} attached twice", a.task);
            let p = st.procs.get(&a.task.pid());
            ensure!(p.is_some_and(|p| p.task == a.task), "{id:?}: attached {:?} is not registered", a.task);
            let runs: Vec<_> = a.pending.iter().collect();
            let canonical = runs.iter().all(|r| r.start < r.end && r.end <= o.frames.len())
                && runs.windows(2).all(|w| w[0].end < w[1].start);
            ensure!(canonical, "{id:?}: pending runs {runs:?} overlap, touch or pass the end");
            let lazy_ok = runs.iter().all(|r| a.maps.range(r.clone()).next().is_none());
            ensure!(lazy_ok, "{id:?}: a pending frame is mapped");
            ensure!(a.rights != Prot::None || runs.is_empty(), "{id:?}: PROT_NONE with pages pending");
            // A run of pending frames is a record its holder pays for.
            add(&mut charged, a.task.pid(), 0, 0, 0, a.pending.runs());
            // A subscriber's notification cap: a slot it pays for.
            if let Some(n) = a.subscriber {
                expected_caps.insert(n);
                add(&mut charged, a.task.pid(), 0, 0, 1, 0);
            }
            for (i, m) in a.maps.iter() {
                let f =
                    o.frames.get(i).ok_or_else(|| format!("{id:?}: mapping of frame {i} past the end"))?;
                ensure!(a.rights.allows(m.prot), "{id:?}: mapping wider than rights");
                ensure!(i != 0 || m.prot == Prot::Read, "{id:?}: writable header");
                expected_caps.insert(m.copy);
                add(&mut charged, m.payer, 0, 0, 1, 0);
                add(&mut charged, a.task.pid(), 0, 0, 0, 1);
                let frame = k.object_of(f.cap).unwrap_or_else(|| unreachable!());
                want.entry(a.task.pid())
                    .or_default()
                    .insert(o.base + f.offset, (f.size, m.prot, frame, m.copy));
            }
            let _ = expected_header.push(Attached {
                task: a.task,
                alias: p.and_then(|p| p.alias),
                rights: a.rights,
            });
        }
        let mut page = [0u8; HEADER_BYTES];
        k.read_frame(o.frames[0].cap, 0, &mut page);
        let header = Header::decode(&page).map_err(|e| format!("{id:?}: header {e:?}"))?;
        ensure!(header == expected_header, "{id:?}: header {header:?} != {expected_header:?}");
    }
    ranges.sort_unstable();
    ensure!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "objects overlap in the window");

    for (pid, p) in st.procs.iter() {
        expected_caps.insert(p.vspace);
        // The supervisor may have registered a cap of another type: nothing
        // can be mapped through it.
        let vspace = k.is_vspace(p.vspace).then_some(p.vspace);
        let actual: Want = vspace
            .into_iter()
            .flat_map(|vs| k.window_pages(vs))
            .map(|m| (m.vaddr, (m.size, m.rights, m.frame, m.cap)))
            .collect();
        let expected = want.remove(&pid).unwrap_or_default();
        ensure!(actual == expected, "pid {pid}: mapped {actual:x?}, expected {expected:x?}");
        let owned: BTreeSet<_> = p.tables.iter().filter_map(|(key, t)| t.cap.map(|c| (key, c))).collect();
        for ((level, _), t) in p.tables.iter() {
            let Some(cap) = t.cap else { continue };
            expected_caps.insert(cap);
            used += PAGE_SIZE;
            add(&mut charged, t.payer, 0, ObjectKind::Table(level).bytes(), 1, 0);
        }
        let in_kernel: BTreeSet<_> = vspace.into_iter().flat_map(|vs| k.server_tables(vs)).collect();
        let recorded: BTreeSet<_> = owned.iter().map(|(key, _)| *key).collect();
        ensure!(in_kernel == recorded, "pid {pid}: tables {in_kernel:x?}, recorded {recorded:x?}");
    }
    ensure!(want.is_empty(), "mappings recorded for unregistered pids");
    for (pid, (objects, window)) in owned_objects {
        let c = charged.entry(pid).or_insert(Usage::NONE);
        c.objects += objects;
        c.window += window;
    }
    charged.retain(|_, c| *c != Usage::NONE);
    let usage: BTreeMap<_, _> = st.usage.iter().map(|(pid, u)| (pid, *u)).collect();
    ensure!(usage == charged, "charges {usage:?}, but the records say {charged:?}");
    // Every registered process within its budget, and all promises kept.
    for (pid, b) in st.budgets.iter() {
        ensure!(st.procs.contains_key(&pid), "pid {pid} has a budget but is not registered");
        let u = st.usage.get(&pid).copied().unwrap_or(Usage::NONE);
        ensure!(u.fits_in(b), "pid {pid} over its budget: {u:?} > {b:?}");
    }
    ensure!(st.procs.keys().all(|p| st.budgets.contains_key(&p)), "a registered pid has no budget");
    let promised = st.usage.keys().chain(st.budgets.keys()).collect::<BTreeSet<_>>().into_iter().try_fold(
        Budget::NONE,
        |sum, pid| {
            let b = st.budgets.get(&pid).copied().unwrap_or(Budget::NONE);
            let u = st.usage.get(&pid).copied().unwrap_or(Usage::NONE);
            let most = Budget {
                memory: b.memory.max(u.memory),
                tables: b.tables.max(u.tables),
                slots: b.slots.max(u.slots),
                mappings: b.mappings.max(u.mappings),
                objects: b.objects.max(u.objects),
                window: b.window.max(u.window),
            };
            sum.checked_add(&most)
        },
    );
    let capacity = server.limits().capacity;
    ensure!(
        promised.is_some_and(|p| capacity.holds(&p)),
        "promised {promised:?}, more than the capacity {capacity:?}"
    );

    let live: BTreeSet<FakeCap> = k.live_caps().collect();
    ensure!(
        live == expected_caps,
        "cap leak or loss: kernel has {} caps, server knows {}",
        live.len(),
        expected_caps.len()
    );
    ensure!(k.free_bytes() + used == total, "memory: free {} + used {used} != {total}", k.free_bytes());
    Ok(())
}
