//! Host tests of both tables and their wire formats.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::vec::Vec;

#[test]
fn error_codes_are_distinct_and_fit_the_label() {
    let codes: HashSet<u64> = Error::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), Error::ALL.len());
    for e in Error::ALL {
        assert!(e.code() != 0 && e.code() < 1 << LABEL_BITS);
        assert_eq!(e.code() >> ERRNO_SHIFT, e.errno() as u64);
        assert_eq!(Error::from_code(e.code()), Some(*e));
    }
}

#[test]
fn labels_are_distinct_and_small() {
    let labels: HashSet<u64> = Op::ALL.iter().map(|o| o.label()).collect();
    assert_eq!(labels.len(), Op::ALL.len());
    assert!(Op::ALL.iter().all(|o| o.label() != 0 && o.label() < 1 << LABEL_BITS));
}

#[test]
fn badge_layout() {
    let t = TaskId::new(0xffff, (1 << GENERATION_BITS) - 1).unwrap();
    let b = Badge::Process(t).encode();
    assert!(b < 1 << BADGE_BITS);
    assert_eq!(b, BADGE_PROCESS_BIT | 0xffff | 0x7ff << 16);
    assert_eq!(Badge::decode(b), Ok(Badge::Process(t)));
    // Everything else in the 28 bits without the process bit is invalid.
    assert_eq!(Badge::decode(2), Err(Error::BadBadge));
    assert_eq!(Badge::decode(BADGE_PROCESS_BIT >> 1), Err(Error::BadBadge));
}

#[test]
fn target_rejects_garbage_in_padding() {
    let mut w = [0; Request::MAX_WORDS];
    let req = Request::MunmapPeer { target: Target::Pid(4), addr: 0, len: 0 };
    let (label, len) = req.encode(&mut w);
    w[2] = 1;
    assert_eq!(Request::decode(label, &w[..len]), Err(Error::BadValue));
    w[2] = 0;
    w[0] = 3;
    assert_eq!(Request::decode(label, &w[..len]), Err(Error::BadValue));
    w[0] = 0;
    w[1] = 1 << 16;
    assert_eq!(Request::decode(label, &w[..len]), Err(Error::BadValue));
}

#[test]
fn name_rules() {
    assert!(Name::new(&"x".repeat(NAME_MAX)).is_ok());
    assert!(Name::new(&"x".repeat(NAME_MAX + 1)).is_err());
    assert!(Name::from_bytes(b"a\0b").is_err());
    assert!(Name::from_bytes(b"tab\t").is_err());
}

fn name() -> impl Strategy<Value = Name> {
    "[!-~]{1,32}".prop_map(|s| Name::new(&s).unwrap())
}

fn task() -> impl Strategy<Value = TaskId> {
    (any::<u16>(), 0u16..1 << GENERATION_BITS).prop_map(|(p, g)| TaskId::new(p, g).unwrap())
}

fn prot() -> impl Strategy<Value = Prot> {
    prop_oneof![Just(Prot::None), Just(Prot::Read), Just(Prot::ReadWrite)]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        any::<u16>().prop_map(Target::Pid),
        task().prop_map(Target::Task),
        name().prop_map(Target::Alias)
    ]
}

/// Labels: mostly an operation's, sometimes near them, sometimes any.
fn label() -> impl Strategy<Value = u64> {
    let ops: Vec<u64> = Op::ALL.iter().map(|o| o.label()).collect();
    prop_oneof![3 => proptest::sample::select(ops), 1 => 0u64..64, 1 => any::<u64>()]
}

/// Words of the kinds fields hold: small values, printable name bytes
/// (zero-padded or not), anything.
fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 0u64..4,
        1 => Just(0u64),
        2 => proptest::collection::vec(b'!'..=b'~', 0..=8).prop_map(|b| {
            b.iter().rev().fold(0u64, |w, &c| w << 8 | u64::from(c))
        }),
        2 => any::<u64>(),
    ]
}

/// Messages mostly as long as requests are, sometimes up to the most
/// a message holds.
fn words() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![4 => 0..=Request::MAX_WORDS + 1, 1 => 0..=MSG_MAX_WORDS]
        .prop_flat_map(|n| proptest::collection::vec(word(), n))
}

/// Decoding never panics; a success round-trips, a failure is the
/// decoder's (never one only the server's state could give).
fn decodes_strictly(label: u64, words: &[u64]) -> Result<(), TestCaseError> {
    const DECODER_ERRORS: [Error; 5] =
        [Error::UnknownLabel, Error::ShortMessage, Error::LongMessage, Error::BadValue, Error::BadName];
    match Request::decode(label, words) {
        Ok(req) => {
            let mut w = [0; Request::MAX_WORDS];
            let (l, len) = req.encode(&mut w);
            prop_assert_eq!((l, &w[..len]), (label, words));
        }
        Err(e) => prop_assert!(DECODER_ERRORS.contains(&e), "{:?}", e),
    }
    for op in Op::ALL {
        let _ = Reply::decode_response(*op, label, words);
    }
    Ok(())
}

fn request() -> impl Strategy<Value = Request> {
    let obj = any::<u32>().prop_map(ObjectId);
    let mode = prop_oneof![Just(Mode::Peer), Just(Mode::ClientServer)];
    let flags = prop_oneof![Just(MAP_SHARED), Just(MAP_SHARED | MAP_FIXED)]
        .prop_map(|b| MapFlags::from_bits(b).unwrap());
    prop_oneof![
        name().prop_map(|name| Request::RegisterAlias { name }),
        name().prop_map(|name| Request::LookupAlias { name }),
        name().prop_map(|name| Request::Open { name }),
        (name(), mode, any::<u64>(), any::<u64>(), prot()).prop_map(
            |(name, mode, size, max_size, client_prot)| Request::Create {
                name,
                mode,
                size,
                max_size,
                client_prot
            }
        ),
        (obj.clone(), prot()).prop_map(|(object, prot)| Request::Attach { object, prot }),
        obj.clone().prop_map(|object| Request::Detach { object }),
        obj.clone().prop_map(|object| Request::Stat { object }),
        obj.clone().prop_map(|object| Request::GetRoot { object }),
        obj.clone().prop_map(|object| Request::Destroy { object }),
        (obj.clone(), any::<u64>()).prop_map(|(object, new_size)| Request::Grow { object, new_size }),
        (obj.clone(), any::<u64>()).prop_map(|(object, new_size)| Request::Shrink { object, new_size }),
        (obj.clone(), any::<u64>()).prop_map(|(object, offset)| Request::SetRoot { object, offset }),
        (target(), any::<u64>(), any::<u64>(), prot(), flags, obj.clone(), any::<u64>()).prop_map(
            |(target, addr, len, prot, flags, object, offset)| Request::MmapPeer {
                target,
                addr,
                len,
                prot,
                flags,
                object,
                offset
            }
        ),
        (target(), any::<u64>(), any::<u64>()).prop_map(|(target, addr, len)| Request::MunmapPeer {
            target,
            addr,
            len
        }),
        (task(), proptest::option::of(name())).prop_map(|(task, alias)| Request::RegisterProcess {
            task,
            alias,
            budget: Budget::DEFAULT
        }),
        task().prop_map(|task| Request::UnregisterProcess { task }),
        (obj, prot()).prop_map(|(object, prot)| Request::AttachLazy { object, prot }),
        (task(), any::<u64>(), any::<bool>()).prop_map(|(task, addr, write)| Request::ResolveFault {
            task,
            addr,
            write
        }),
    ]
}

proptest! {
    // Decoding is cheap: many cases cost little time.
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn request_round_trips(req in request()) {
        let mut w = [0; Request::MAX_WORDS];
        let (label, len) = req.encode(&mut w);
        prop_assert_eq!(Request::decode(label, &w[..len]), Ok(req));
        // Every strict prefix is short, one extra word is long.
        for cut in 0..len {
            prop_assert_eq!(Request::decode(label, &w[..cut]), Err(Error::ShortMessage));
        }
        let mut longer = w[..len].to_vec();
        longer.push(0);
        prop_assert_eq!(Request::decode(label, &longer), Err(Error::LongMessage));
    }

    /// The decoder's fuzz target (cargo-fuzz needs nightly; this runs in
    /// `cargo test`): arbitrary labels and words, up to a full message,
    /// never panic; what decodes re-encodes to the same message, and
    /// what does not gets one of the decoder's own errors.
    #[test]
    fn decode_arbitrary(label in label(), words in words()) {
        decodes_strictly(label, &words)?;
    }

    /// The same on well-formed requests with one word changed, cut or
    /// added: the near misses a hostile client would try.
    #[test]
    fn decode_near_misses(req in request(), at in 0..Request::MAX_WORDS, w in word(), how in 0u8..3) {
        let mut buf = [0; Request::MAX_WORDS];
        let (label, len) = req.encode(&mut buf);
        let mut words = buf[..len].to_vec();
        match how {
            0 => if let Some(x) = words.get_mut(at) { *x = w },
            1 => words.truncate(at),
            _ => words.insert(at.min(len), w),
        }
        decodes_strictly(label, &words)?;
    }

    #[test]
    fn response_round_trips(
        which in 0usize..10, a in any::<u64>(), b in any::<u64>(), c in any::<u64>(),
        t in task(), p in proptest::option::of(prot()), e in 0..Error::ALL.len(), reason in 1u64..10,
    ) {
        let info = ObjectInfo { id: ObjectId(a as u32), mode: Mode::ClientServer, base: a, size: b, max_size: c };
        let r = match which {
            0 => Ok(Reply::Detach(())),
            1 => Ok(Reply::LookupAlias(t)),
            2 => Ok(Reply::Open(info)),
            3 => Ok(Reply::Attach(AttachInfo { base: a, size: b, root: c })),
            4 => Ok(Reply::MmapPeer(a)),
            5 => Ok(Reply::Grow(a)),
            6 => Ok(Reply::GetRoot(b)),
            7 => Ok(Reply::Stat(ObjectStat { info, root: c, attached: a as u16, rights: p, owner: t.pid() })),
            8 => Ok(Reply::ResolveFault(FaultReason::from_word(reason).map_or(FaultOutcome::Resume, FaultOutcome::Report))),
            _ => Err(Error::ALL[e]),
        };
        let op = match r { Ok(reply) => reply.op(), Err(_) => Op::ALL[e % Op::ALL.len()] };
        let mut w = [0; Reply::MAX_WORDS];
        let (label, len) = Reply::encode_response(&r, &mut w);
        prop_assert_eq!(Reply::decode_response(op, label, &w[..len]), r);
        // One word more is a long message.
        if let Ok(reply) = r {
            let mut longer = w[..len].to_vec();
            longer.push(0);
            prop_assert_eq!(Reply::decode_response(reply.op(), label, &longer), Err(Error::LongMessage));
        }
    }
}

#[test]
fn supervisor_labels_are_distinct_and_above_the_faults() {
    use supervisor::{Op as SupOp, FIRST_LABEL};
    let labels: HashSet<u64> = SupOp::ALL.iter().map(|o| o.label()).collect();
    assert_eq!(labels.len(), SupOp::ALL.len());
    assert!(SupOp::ALL.iter().all(|o| o.label() >= FIRST_LABEL && o.label() < 1 << LABEL_BITS));
}

#[test]
fn supervisor_calls_round_trip_strictly() {
    use supervisor::{Reply as SupReply, Request as SupRequest};
    let requests = [
        SupRequest::Ping {},
        SupRequest::Exit { code: -7 },
        SupRequest::Report { value: u64::MAX },
        SupRequest::Start { name: Name::new("viewer").unwrap() },
        SupRequest::Wait { pid: 0xffff },
    ];
    for req in requests {
        let mut w = [0; SupRequest::MAX_WORDS];
        let (label, len) = req.encode(&mut w);
        assert_eq!(SupRequest::decode(label, &w[..len]), Ok(req));
        let mut longer = w[..len].to_vec();
        longer.push(0);
        assert_eq!(SupRequest::decode(label, &longer), Err(Error::LongMessage));
    }
    // An exit code is a sign-extended 32-bit word; a pid is 16 bits.
    let exit = supervisor::Op::Exit.label();
    assert_eq!(SupRequest::decode(exit, &[u64::MAX]), Ok(SupRequest::Exit { code: -1 }));
    assert_eq!(SupRequest::decode(exit, &[1 << 32]), Err(Error::BadValue));
    assert_eq!(SupRequest::decode(supervisor::Op::Wait.label(), &[1 << 16]), Err(Error::BadValue));
    let mut w = [0; SupReply::MAX_WORDS];
    let ping = Ok(SupReply::Ping(TaskId::new(3, 2).unwrap()));
    let (label, len) = SupReply::encode_response(&ping, &mut w);
    assert_eq!(SupReply::decode_response(supervisor::Op::Ping, label, &w[..len]), ping);
    let stale = Err(Error::StaleGeneration);
    let (label, len) = SupReply::encode_response(&stale, &mut w);
    assert_eq!(SupReply::decode_response(supervisor::Op::Start, label, &w[..len]), stale);
}

/// The typed client sends what the request's encoding says and reads the
/// reply as the row's type.
#[test]
fn typed_client_calls_encode_their_row() {
    struct Echo(Vec<(u64, Vec<u64>, usize)>);
    impl Client for Echo {
        fn exchange(
            &mut self,
            label: u64,
            words: &mut [u64; MSG_MAX_WORDS],
            len: usize,
            caps: usize,
        ) -> (u64, usize) {
            self.0.push((label, words[..len].to_vec(), caps));
            words[0] = 3 * PAGE;
            (0, 1)
        }
    }
    const PAGE: u64 = 4096;
    let mut c = Echo(Vec::new());
    assert_eq!(c.grow(ObjectId(5), 3 * PAGE), Ok(3 * PAGE));
    // A reply of the wrong size for the row is refused.
    assert_eq!(c.detach(ObjectId(5)), Err(Error::LongMessage));
    assert_eq!(
        c.register_process(TaskId::new(1, 0).unwrap(), None, Budget::DEFAULT).err(),
        Some(Error::LongMessage)
    );
    let mut expected = [0; Request::MAX_WORDS];
    let (label, len) = Request::Grow { object: ObjectId(5), new_size: 3 * PAGE }.encode(&mut expected);
    assert_eq!(c.0[0], (label, expected[..len].to_vec(), 0));
    assert_eq!(c.0[2].2, 1, "RegisterProcess carries its cap");
}
