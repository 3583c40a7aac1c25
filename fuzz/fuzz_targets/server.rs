//! The server's logic over the fake kernel, driven by arbitrary bytes: a
//! sequence of messages, each a header byte (sender, cap), a label, a
//! length and words. After every message the invariant checker passes, and
//! a refused message leaves the kernel as it was (less the cap it brought).
//! The host property test `vmm-server/src/tests/fuzz.rs` also compares the
//! server's own tables, which are not public.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libshm::protocol::{Badge, Budget, Mode, Name, Prot, Reply, Request, TaskId, MSG_MAX_WORDS};
use vmm_server::check::check;
use vmm_server::fake::FakeKernel;
use vmm_server::{Kernel, Server};

const MEMORY: u64 = 16 << 20;
const PIDS: u16 = 4;
const PAGE: u64 = libshm::layout::PAGE_SIZE;
/// Messages one input may send.
const MAX_MESSAGES: usize = 64;

/// Takes `n` bytes (zero-padded at the end of the input).
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut b = [0; N];
    let n = data.len().min(N);
    b[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    b
}

fn word(data: &mut &[u8]) -> u64 {
    u64::from_le_bytes(take(data))
}

fn ok(s: &mut Server<FakeKernel>, badge: u64, r: Request) -> Reply {
    match s.handle(badge, r, None) {
        Ok(reply) => reply,
        e => panic!("set-up {r:?}: {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let mut s = Server::new(FakeKernel::new(MEMORY));
    let tasks: Vec<TaskId> = (1..=PIDS).map(|p| TaskId::new(p, 0).unwrap()).collect();
    for t in &tasks {
        let vs = s.kernel_mut().new_vspace();
        let r = s.handle(
            Badge::Supervisor.encode(),
            Request::RegisterProcess { task: *t, alias: None, budget: Budget::DEFAULT },
            Some(vs),
        );
        assert_eq!(r, Ok(Reply::RegisterProcess(())));
    }
    let owner = Badge::Process(tasks[0]).encode();
    let create = Request::Create {
        name: Name::new("canary").unwrap(),
        mode: Mode::Peer,
        size: 2 * PAGE,
        max_size: 4 << 20,
        client_prot: Prot::ReadWrite,
    };
    let Reply::Create(o) = ok(&mut s, owner, create) else { panic!("create") };
    ok(&mut s, owner, Request::Attach { object: o.id, prot: Prot::ReadWrite });

    for _ in 0..MAX_MESSAGES {
        if data.is_empty() {
            break;
        }
        let [head] = take::<1>(&mut data);
        let badge = match head & 0x7 {
            0 => Badge::Supervisor.encode(),
            1..=4 => Badge::Process(tasks[usize::from(head & 0x7) - 1]).encode(),
            5 => Badge::Process(tasks[0].next_generation().unwrap()).encode(),
            _ => word(&mut data),
        };
        let cap = match head >> 3 & 0x3 {
            1 => Some(s.kernel_mut().new_vspace()),
            2 => Some(s.kernel_mut().new_other_cap()),
            _ => None,
        };
        // 3: an endpoint cap the kernel unwrapped into a badge.
        let unwrapped = usize::from(head >> 3 & 0x3 == 3);
        let label = word(&mut data);
        let [len] = take::<1>(&mut data);
        let words: Vec<u64> = (0..usize::from(len) % (MSG_MAX_WORDS + 1)).map(|_| word(&mut data)).collect();

        let mut k = s.kernel().clone();
        cap.into_iter().for_each(|c| k.delete(c));
        let before = k.snapshot();
        let resp = s.handle_message(badge, label, &words, cap, unwrapped);
        if let Err(e) = resp {
            assert!(before == s.kernel().snapshot(), "refused ({e:?}) but the kernel changed");
        }
        if let Err(e) = check(&s, MEMORY) {
            panic!("invariant broken: {e}");
        }
    }
});
