//! The server's fuzz target, as a property test (cargo-fuzz needs a nightly
//! toolchain, which `make test` does not use): arbitrary messages, well
//! formed or not, from every kind of badge (the supervisor's, live and
//! stale processes', made-up ones), with no cap, a VSpace cap or a cap of
//! another type. After every message: no panic, the invariants hold, the
//! response survives its own encoding, and a refused message changed
//! nothing (the cap it brought is deleted, nothing else).

use super::*;
use crate::Kernel;
use libshm::layout::{LARGE_PAGE_SIZE, MAX_OBJECT_SIZE, WINDOW_BASE, WINDOW_END};
use proptest::prelude::*;
use std::vec::Vec;

const PIDS: Pid = 4;
/// Objects made at set-up (the server numbers them from 1).
const SET_UP_OBJECTS: u32 = 2;
/// Ids the server hands out first: the set-up objects' and a few more.
const LIVE_IDS: u32 = 4;
/// Generations a made-up task id may have.
const GENERATIONS: u16 = 3;
/// Names the set-up processes and objects use, so requests hit them.
const NAMES: [&str; 6] = ["p1", "p2", "p3", "canary", "cs", "fresh"];
/// Steps of 2 MiB and of 4 KiB for addresses in the window's first objects.
const LARGE_STEPS: u64 = 8;
const SMALL_STEPS: u64 = 4;

#[derive(Clone, Debug)]
enum Sender {
    Supervisor,
    /// The registered incarnation of a pid (or a made-up one if none).
    Current(Pid),
    /// The pid's next generation: not (yet) registered.
    Stale(Pid),
    Any(u64),
}

#[derive(Clone, Copy, Debug)]
enum CapKind {
    VSpace,
    Other,
    /// An endpoint cap to the server's own endpoint: the kernel delivers
    /// its badge, not the cap.
    Unwrapped,
}

#[derive(Clone, Debug)]
enum Mutation {
    Keep,
    Truncate(usize),
    Append(u64),
    Replace(usize, u64),
}

#[derive(Clone, Debug)]
enum Body {
    Encoded(Request, Mutation),
    Raw(u64, Vec<u64>),
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0),
        6 => (1u64..16).prop_map(|n| n * PAGE),
        1 => Just(PAGE + 1),
        1 => Just(LARGE_PAGE_SIZE),
        1 => Just(2 * LARGE_PAGE_SIZE),
        1 => Just(MAX_OBJECT_SIZE),
        1 => Just(!(PAGE - 1)),
        1 => any::<u64>(),
    ]
}

/// Offsets and lengths: mostly inside the set-up objects.
fn span() -> impl Strategy<Value = u64> {
    prop_oneof![3 => (0u64..4).prop_map(|n| n * PAGE), 1 => size()]
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => Just(0),
        3 => (0..LARGE_STEPS, 0..SMALL_STEPS).prop_map(|(l, s)| WINDOW_BASE + l * LARGE_PAGE_SIZE + s * PAGE),
        1 => Just(WINDOW_END - PAGE),
        1 => any::<u64>(),
    ]
}

fn object() -> impl Strategy<Value = ObjectId> {
    prop_oneof![
        4 => (1..=SET_UP_OBJECTS).prop_map(ObjectId),
        2 => (0..=LIVE_IDS).prop_map(ObjectId),
        1 => any::<u32>().prop_map(ObjectId),
    ]
}

fn some_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        3 => proptest::sample::select(&NAMES[..]).prop_map(name),
        1 => "[!-~]{1,32}".prop_map(|s| name(&s)),
    ]
}

fn task() -> impl Strategy<Value = TaskId> {
    (0..=PIDS + 1, 0..GENERATIONS).prop_map(|(p, g)| TaskId::new(p, g).unwrap())
}

fn prot() -> impl Strategy<Value = Prot> {
    prop_oneof![Just(Prot::Read), Just(Prot::ReadWrite)]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (1..=PIDS).prop_map(Target::Pid),
        1 => any::<Pid>().prop_map(Target::Pid),
        1 => task().prop_map(Target::Task),
        1 => some_name().prop_map(Target::Alias),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let mode = prop_oneof![Just(Mode::Peer), Just(Mode::ClientServer)];
    prop_oneof![
        some_name().prop_map(|name| Request::RegisterAlias { name }),
        some_name().prop_map(|name| Request::LookupAlias { name }),
        some_name().prop_map(|name| Request::Open { name }),
        (some_name(), mode, size(), size(), prot()).prop_map(|(name, mode, size, max_size, client_prot)| {
            Request::Create { name, mode, size, max_size, client_prot }
        }),
        (object(), prot()).prop_map(|(object, prot)| Request::Attach { object, prot }),
        object().prop_map(|object| Request::Detach { object }),
        object().prop_map(|object| Request::Stat { object }),
        object().prop_map(|object| Request::GetRoot { object }),
        object().prop_map(|object| Request::Destroy { object }),
        (object(), size()).prop_map(|(object, new_size)| Request::Grow { object, new_size }),
        (object(), size()).prop_map(|(object, new_size)| Request::Shrink { object, new_size }),
        (object(), size()).prop_map(|(object, offset)| Request::SetRoot { object, offset }),
        (target(), addr(), span(), prot(), object(), span()).prop_map(
            |(target, addr, len, prot, object, offset)| {
                Request::MmapPeer { target, addr, len, prot, flags: MapFlags::SHARED, object, offset }
            }
        ),
        (target(), addr(), span()).prop_map(|(target, addr, len)| Request::MunmapPeer { target, addr, len }),
        (task(), proptest::option::of(some_name())).prop_map(|(task, alias)| Request::RegisterProcess {
            task,
            alias,
            budget: Budget::DEFAULT
        }),
        task().prop_map(|task| Request::UnregisterProcess { task }),
        (object(), prot()).prop_map(|(object, prot)| Request::AttachLazy { object, prot }),
        (task(), addr(), any::<bool>()).prop_map(|(task, addr, write)| Request::ResolveFault {
            task,
            addr,
            write
        }),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0..Request::MAX_WORDS;
    prop_oneof![
        4 => Just(Mutation::Keep),
        1 => at.clone().prop_map(Mutation::Truncate),
        1 => any::<u64>().prop_map(Mutation::Append),
        2 => (at, prop_oneof![0u64..4, any::<u64>()]).prop_map(|(i, w)| Mutation::Replace(i, w)),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let ops: Vec<u64> = Op::ALL.iter().map(|o| o.label()).collect();
    let label = prop_oneof![
        3 => proptest::sample::select(ops),
        1 => 0u64..48,
        1 => any::<u64>(),
    ];
    let words = proptest::collection::vec(prop_oneof![0u64..4, Just(PAGE), any::<u64>()], 0..MSG_MAX_WORDS);
    prop_oneof![
        3 => (request(), mutation()).prop_map(|(r, m)| Body::Encoded(r, m)),
        1 => (label, words).prop_map(|(l, w)| Body::Raw(l, w)),
    ]
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![
        1 => Just(Sender::Supervisor),
        8 => (1..=PIDS).prop_map(Sender::Current),
        1 => (1..=PIDS).prop_map(Sender::Stale),
        1 => any::<u64>().prop_map(Sender::Any),
    ]
}

fn cap() -> impl Strategy<Value = Option<CapKind>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some(CapKind::VSpace)),
        1 => Just(Some(CapKind::Other)),
        1 => Just(Some(CapKind::Unwrapped)),
    ]
}

/// The label and words of a message.
fn message(body: &Body) -> (u64, Vec<u64>) {
    match body {
        Body::Raw(label, words) => (*label, words.clone()),
        Body::Encoded(req, m) => {
            let mut w = [0; Request::MAX_WORDS];
            let (label, len) = req.encode(&mut w);
            let mut words = w[..len].to_vec();
            match *m {
                Mutation::Keep => {}
                Mutation::Truncate(n) => words.truncate(n),
                Mutation::Append(x) => words.push(x),
                Mutation::Replace(i, x) => {
                    if let Some(slot) = words.get_mut(i) {
                        *slot = x;
                    }
                }
            }
            (label, words)
        }
    }
}

/// Four processes; a peer object two of them are attached to and a
/// client-server object with a read-only client.
fn world() -> World {
    let mut w = World::new(16 * MIB);
    for pid in 1..=PIDS {
        w.spawn(pid, Some(&format!("p{pid}")));
    }
    let canary = w.create(1, "canary", Mode::Peer, 2 * PAGE, 4 * MIB);
    w.attach(1, canary.id, Prot::ReadWrite).unwrap();
    w.attach(2, canary.id, Prot::Read).unwrap();
    let cs = Request::Create {
        name: name("cs"),
        mode: Mode::ClientServer,
        size: 3 * PAGE,
        max_size: 4 * MIB,
        client_prot: Prot::Read,
    };
    let Ok(Reply::Create(cs)) = w.req(3, cs) else { panic!("create cs") };
    w.attach(3, cs.id, Prot::ReadWrite).unwrap();
    w.attach(4, cs.id, Prot::Read).unwrap();
    w
}

fn badge(w: &World, s: &Sender) -> u64 {
    let current = |pid: Pid| w.s.state.procs.get(&pid).map(|p| p.task);
    match *s {
        Sender::Supervisor => Badge::Supervisor.encode(),
        Sender::Current(pid) => Badge::Process(current(pid).unwrap_or(TaskId::new(pid, 0).unwrap())).encode(),
        Sender::Stale(pid) => {
            let t = current(pid).and_then(TaskId::next_generation).unwrap_or(TaskId::new(pid, 0).unwrap());
            Badge::Process(t).encode()
        }
        Sender::Any(v) => v,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hostile_messages_keep_every_invariant(
        msgs in proptest::collection::vec((sender(), body(), cap()), 1..48),
    ) {
        let mut w = world();
        for (sender, body, cap) in &msgs {
            let badge = badge(&w, sender);
            let (label, words) = message(body);
            let unwrapped = usize::from(matches!(cap, Some(CapKind::Unwrapped)));
            let cap = cap.and_then(|c| match c {
                CapKind::VSpace => Some(w.s.kernel_mut().new_vspace()),
                CapKind::Other => Some(w.s.kernel_mut().new_other_cap()),
                CapKind::Unwrapped => None,
            });
            // What a refusal must leave: everything, less the cap it brought.
            let mut k = w.s.kernel().clone();
            cap.into_iter().for_each(|c| k.delete(c));
            let before = (w.s.state.clone(), k.snapshot());
            let odd_vspace = w.s.state.procs.values().any(|p| !w.s.kernel().is_vspace(p.vspace));

            let resp = w.s.handle_message(badge, label, &words, cap, unwrapped);
            prop_assert!(unwrapped == 0 || resp.is_err(), "{:?} with an unwrapped cap was served", body);
            let mut rw = [0; Reply::MAX_WORDS];
            let (rl, rlen) = Reply::encode_response(&resp, &mut rw);
            let op = Op::from_label(label).unwrap_or(Op::Stat);
            prop_assert_eq!(Reply::decode_response(op, rl, &rw[..rlen]), resp);
            if let Err(e) = resp {
                // Only a supervisor that registered a cap of another type as
                // a VSpace makes the kernel refuse the server.
                prop_assert!(e != Error::Kernel || odd_vspace, "{:?}: unexpected kernel error", body);
                prop_assert!(before == (w.s.state.clone(), w.s.kernel().snapshot()), "{:?} ({:?}) changed state", body, e);
            }
            w.check();
        }
    }
}
