//! Random sequences of operations from several processes, with deaths,
//! restarts and injected kernel failures. After every step: the invariants
//! hold (checker), a failed request changed nothing (in `World::req`), and
//! every value written through one process reads back through every process
//! that maps the page.

use super::*;
use crate::fake::Fault;
use crate::{FaultOutcome, KernelError};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::vec::Vec;

const PIDS: u16 = 4;
const NAMES: usize = 3;
/// `by` value meaning "the object's owner".
const OWNER: u16 = 0;
const WORDS_PER_PAGE: u64 = PAGE / 8;
/// The object index that names no object.
const NO_OBJECT: usize = 7;

#[derive(Clone, Debug)]
enum Act {
    Create { by: u16, name: usize, peer: bool, pages: u64, max_pages: u64 },
    Attach { by: u16, obj: usize, rw: bool },
    Detach { by: u16, obj: usize },
    Grow { by: u16, obj: usize, pages: u64 },
    Shrink { by: u16, obj: usize, pages: u64 },
    Mmap { by: u16, target: u16, alias: bool, obj: usize, off: u64, len: u64, rw: bool },
    Munmap { by: u16, target: u16, obj: usize, off: u64, len: u64 },
    SetRoot { by: u16, obj: usize, off: u64 },
    Write { by: u16, obj: usize, word: u64, value: u64 },
    Destroy { by: u16, obj: usize },
    Restart { pid: u16 },
}

/// Sizes in pages: mostly small, sometimes whole 2 MiB chunks.
fn pages() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..8, 1 => Just(512u64), 1 => Just(1024u64), 1 => Just(1536u64), 1 => 513u64..520]
}

/// Offsets and lengths in pages: mostly inside small objects.
fn span() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..8, 1 => pages()]
}

/// A caller: a pid, or [`OWNER`] for the object's owner.
fn caller() -> impl Strategy<Value = u16> {
    prop_oneof![1 => Just(OWNER), 2 => 1..=PIDS]
}

fn act() -> impl Strategy<Value = Act> {
    let pid = 1..=PIDS;
    let obj = 0usize..=NO_OBJECT;
    prop_oneof![
        2 => (pid.clone(), 0..NAMES, any::<bool>(), pages(), pages()).prop_map(|(by, name, peer, pages, max_pages)| Act::Create { by, name, peer, pages, max_pages: max_pages.max(pages) + 512 }),
        4 => (pid.clone(), obj.clone(), any::<bool>()).prop_map(|(by, obj, rw)| Act::Attach { by, obj, rw }),
        1 => (pid.clone(), obj.clone()).prop_map(|(by, obj)| Act::Detach { by, obj }),
        3 => (caller(), obj.clone(), pages()).prop_map(|(by, obj, pages)| Act::Grow { by, obj, pages }),
        2 => (caller(), obj.clone(), pages()).prop_map(|(by, obj, pages)| Act::Shrink { by, obj, pages }),
        3 => (caller(), pid.clone(), any::<bool>(), obj.clone(), span(), span(), any::<bool>()).prop_map(|(by, target, alias, obj, off, len, rw)| Act::Mmap { by, target, alias, obj, off, len, rw }),
        3 => (caller(), pid.clone(), obj.clone(), span(), span()).prop_map(|(by, target, obj, off, len)| Act::Munmap { by, target, obj, off, len }),
        1 => (pid.clone(), obj.clone(), 0u64..4096).prop_map(|(by, obj, off)| Act::SetRoot { by, obj, off: off * 8 }),
        4 => (pid.clone(), obj.clone(), 0u64..WORDS_PER_PAGE * 1536, any::<u64>()).prop_map(|(by, obj, word, value)| Act::Write { by, obj, word, value }),
        1 => (pid.clone(), obj.clone()).prop_map(|(by, obj)| Act::Destroy { by, obj }),
        1 => pid.prop_map(|pid| Act::Restart { pid }),
    ]
}

struct Run {
    w: World,
    objects: Vec<ObjectInfo>,
    /// Expected contents: (object, offset) -> value.
    data: BTreeMap<(ObjectId, u64), u64>,
}

impl Run {
    /// Object `i` of those created (destroyed ones included), or, for
    /// `i == NO_OBJECT` or before any exists, an id that never existed.
    fn obj(objects: &[ObjectInfo], i: usize) -> ObjectInfo {
        let pick = (i != NO_OBJECT && !objects.is_empty()).then(|| i % objects.len());
        pick.and_then(|i| objects.get(i)).copied().unwrap_or(ObjectInfo {
            id: ObjectId(999),
            mode: Mode::Peer,
            base: libshm::layout::WINDOW_BASE,
            size: PAGE,
            max_size: PAGE,
        })
    }

    fn forget_beyond(&mut self, id: ObjectId, size: u64) {
        self.data.retain(|(o, off), _| *o != id || *off < size);
    }

    fn step(&mut self, act: &Act, fail: Option<u32>) {
        if let Some(n) = fail {
            self.w.s.kernel_mut().fail_nth(n, KernelError::OutOfMemory);
        }
        let r = self.apply(act);
        self.w.s.kernel_mut().clear_injection();
        if let Err(e) = r {
            // Injected failures surface only as OutOfMemory.
            assert!(fail.is_some() || e != Error::Kernel, "{act:?}: {e:?}");
        }
        self.verify_data();
    }

    fn apply(&mut self, act: &Act) -> Result<Reply, Error> {
        let w = &mut self.w;
        let mut act = act.clone();
        if let Act::Grow { by, obj, .. }
        | Act::Shrink { by, obj, .. }
        | Act::Mmap { by, obj, .. }
        | Act::Munmap { by, obj, .. } = &mut act
        {
            if *by == OWNER {
                let id = Self::obj(&self.objects, *obj).id;
                *by = w.s.state.objects.get(&id).map_or(1, |o| o.owner);
            }
        }
        match act {
            Act::Create { by, name, peer, pages, max_pages } => {
                let req = Request::Create {
                    name: Name::new(&format!("obj{name}")).unwrap(),
                    mode: if peer { Mode::Peer } else { Mode::ClientServer },
                    size: pages * PAGE,
                    max_size: max_pages * PAGE,
                    client_prot: if peer { Prot::ReadWrite } else { Prot::Read },
                };
                let r = w.req(by, req);
                if let Ok(Reply::Create(info)) = r {
                    self.objects.push(info);
                }
                r
            }
            Act::Attach { by, obj, rw } => {
                let prot = if rw { Prot::ReadWrite } else { Prot::Read };
                let o = Self::obj(&self.objects, obj);
                w.attach(by, o.id, prot)
            }
            Act::Detach { by, obj } => {
                let o = Self::obj(&self.objects, obj);
                w.req(by, Request::Detach { object: o.id })
            }
            Act::Grow { by, obj, pages } => {
                let o = Self::obj(&self.objects, obj);
                let size = w.s.object_info(o.id).map_or(0, |i| i.size);
                w.req(by, Request::Grow { object: o.id, new_size: size + pages * PAGE })
            }
            Act::Shrink { by, obj, pages } => {
                let o = Self::obj(&self.objects, obj);
                let r = w.req(by, Request::Shrink { object: o.id, new_size: pages * PAGE });
                if let Ok(Reply::Shrink(size)) = r {
                    self.forget_beyond(o.id, size);
                }
                r
            }
            Act::Mmap { by, target, alias, obj, off, len, rw } => {
                let o = Self::obj(&self.objects, obj);
                let target = if alias {
                    Target::Alias(Name::new(&format!("p{target}")).unwrap())
                } else {
                    Target::Pid(target)
                };
                let req = Request::MmapPeer {
                    target,
                    addr: 0,
                    len: len * PAGE,
                    prot: if rw { Prot::ReadWrite } else { Prot::Read },
                    flags: MapFlags::SHARED,
                    object: o.id,
                    offset: off * PAGE,
                };
                w.req(by, req)
            }
            Act::Munmap { by, target, obj, off, len } => {
                let o = Self::obj(&self.objects, obj);
                let req = Request::MunmapPeer {
                    target: Target::Pid(target),
                    addr: o.base + off * PAGE,
                    len: len * PAGE,
                };
                w.req(by, req)
            }
            Act::SetRoot { by, obj, off } => {
                let o = Self::obj(&self.objects, obj);
                w.req(by, Request::SetRoot { object: o.id, offset: off })
            }
            Act::Write { by, obj, word, value } => {
                let o = Self::obj(&self.objects, obj);
                if w.s.object_info(o.id).is_none() {
                    return Err(Error::UnknownObject);
                }
                let addr = o.base + word * 8;
                let task = w.tasks[&by];
                match w.write(by, addr, value) {
                    Ok(()) => {
                        self.data.insert((o.id, word * 8), value);
                    }
                    // The fake's view and the server's fault decision agree:
                    // nothing the process may touch is left unmapped.
                    Err(f) => {
                        let outcome = w.s.handle_fault(task, addr, true);
                        assert!(matches!(outcome, FaultOutcome::Report(_)), "{f:?} but {outcome:?}");
                        if f == Fault::ReadOnly {
                            assert_eq!(outcome, FaultOutcome::Report(crate::FaultReason::AccessViolation));
                        }
                    }
                }
                w.check();
                Ok(Reply::Destroy(()))
            }
            Act::Destroy { by, obj } => {
                let o = Self::obj(&self.objects, obj);
                let r = w.req(by, Request::Destroy { object: o.id });
                if r.is_ok() {
                    self.forget_beyond(o.id, 0);
                }
                r
            }
            Act::Restart { pid } => {
                w.kill(pid);
                w.spawn(pid, Some(&format!("p{pid}")));
                Ok(Reply::Destroy(()))
            }
        }
    }

    /// Every value written reads back through every process that maps it.
    fn verify_data(&self) {
        for (&(id, off), &v) in &self.data {
            let base = self.w.s.object_info(id).expect("live object").base;
            for pid in self.w.vspaces.keys() {
                match self.w.read(*pid, base + off) {
                    Ok(got) => assert_eq!(got, v, "pid {pid} reads {id:?}+{off:#x}"),
                    Err(Fault::NotMapped) => {}
                    Err(f) => panic!("{f:?}"),
                }
            }
        }
    }

    /// Tears everything down; all memory must come back.
    fn teardown(mut self) {
        for pid in 1..=PIDS {
            self.w.kill(pid);
            self.w.spawn(pid, None);
        }
        for o in &self.objects {
            let Ok(Reply::Stat(s)) = self.w.req(1, Request::Stat { object: o.id }) else {
                continue;
            };
            assert_eq!(self.w.req(s.owner, Request::Destroy { object: o.id }), Ok(Reply::Destroy(())));
        }
        for pid in 1..=PIDS {
            self.w.kill(pid);
        }
        assert_eq!(self.w.s.kernel().free_bytes(), self.w.total);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_invariant(
        acts in proptest::collection::vec((act(), proptest::option::weighted(0.15, 0u32..12)), 1..80),
    ) {
        let mut w = World::new(24 * MIB);
        for pid in 1..=PIDS {
            w.spawn(pid, Some(&format!("p{pid}")));
        }
        let mut run = Run { w, objects: Vec::new(), data: BTreeMap::new() };
        for (act, fail) in &acts {
            run.step(act, *fail);
        }
        run.teardown();
    }

    /// The server's fuzz target: arbitrary messages from arbitrary badges
    /// never panic, and a refused message changes nothing.
    #[test]
    fn arbitrary_messages_change_nothing_when_refused(
        msgs in proptest::collection::vec(
            (0u64..40, proptest::collection::vec(prop_oneof![0u64..4, Just(PAGE), any::<u64>()], 0..14), 0u64..4),
            1..40),
    ) {
        let mut w = World::new(8 * MIB);
        for pid in 1..=PIDS {
            w.spawn(pid, None);
        }
        let o = w.create(1, "canary", Mode::Peer, 2 * PAGE, MIB);
        w.attach(1, o.id, Prot::ReadWrite).unwrap();
        for (label, mut words, who) in msgs {
            // Aim some object ids at the live object.
            if let Some(first) = words.first_mut() {
                if *first == 1 { *first = u64::from(o.id.0); }
            }
            let badge = if who == 0 { Badge::Supervisor.encode() } else { Badge::Process(w.tasks[&(who as u16)]).encode() };
            let before = (w.s.state.clone(), w.s.kernel().snapshot());
            let r = w.s.handle_message(badge, label, &words, None, 0);
            if r.is_err() {
                prop_assert!(before == (w.s.state.clone(), w.s.kernel().snapshot()));
            }
            w.check();
        }
    }
}
