//! A peer: waits on its notification, reads the command from the control
//! object, carries it out and answers the owner on the answer endpoint.

use crate::{expect, Outcome};
use bench_contract::{answer, decode_command, op, slots, ARGS, CMD, CONTROL, OBJECT};
use libshm::client::Ipc;
use libshm::layout::slots::MEMORY_MANAGER;
use libshm::protocol::{Client, MapFlags, Name, ObjectId, Prot, Target};
use libshm::shm::{mmap_peer, SharedObject};
use runtime::ProcessInfo;
use sel4::MessageInfo;

/// Answers the owner (blocks until it receives).
fn reply(label: u64) {
    sel4::send(slots::ANSWERS, MessageInfo::new(label, 0, 0, 0));
}

/// The object's id, without attaching.
fn object_id() -> Outcome<ObjectId> {
    let name = expect(Name::new(OBJECT), "the object's name")?;
    expect(Ipc::new(MEMORY_MANAGER).open(name), "open the object").map(|info| info.id)
}

/// What a peer keeps between commands.
struct Peer {
    pid: u16,
    index: u16,
    control: SharedObject,
    object: ObjectId,
    /// Its handle on the object while attached (after ATTACH, or after a
    /// MAP once a VERIFY adopted the mapping).
    attached: Option<SharedObject>,
    /// The last command carried out (or skipped while stuck).
    seen: u64,
}

pub fn run(info: &ProcessInfo, index: u16) -> Outcome {
    let control = expect(SharedObject::open(CONTROL, Prot::Read), "open the control object")?;
    let mut peer = Peer { pid: info.pid, index, control, object: object_id()?, attached: None, seen: 0 };
    reply(answer::READY);
    loop {
        sel4::wait(slots::NOTIFY);
        let (seq, command) = decode_command(peer.control.load_acquire(CMD));
        // A wake-up for a command already seen: one left pending while stuck.
        if seq == peer.seen {
            continue;
        }
        peer.seen = seq;
        let args = ARGS.map(|at| peer.control.load(at));
        let ok = match command {
            op::EXIT => return Ok(()),
            op::STUCK if args[0] == u64::from(peer.index) => {
                reply(answer::OK);
                peer.stuck();
                reply(answer::RELEASED);
                continue;
            }
            op::STUCK => true,
            op::ATTACH => peer.attach(),
            op::DETACH => peer.attached.take().is_some_and(|o| o.detach().is_ok()),
            op::SUBSCRIBE => peer.attached.as_ref().is_some_and(|o| o.subscribe().is_ok()),
            op::VERIFY => peer.verify(args[0], args[1]),
            op::MAP => peer.map(args[0], args[1]),
            _ => false,
        };
        reply(if ok { answer::OK } else { answer::FAIL });
    }
}

impl Peer {
    fn attach(&mut self) -> bool {
        self.attached = SharedObject::open(OBJECT, Prot::Read).ok();
        self.attached.is_some()
    }

    /// Notify-and-acknowledge, the client's part: ask the memory manager to
    /// map the new range into this process (which attaches it).
    fn map(&self, offset: u64, len: u64) -> bool {
        let me = Target::Pid(self.pid);
        mmap_peer(me, 0, len, Prot::Read, MapFlags::SHARED, self.object, offset).is_ok()
    }

    /// Reads the owner's value (a handle is made for a mapping done by MAP).
    fn verify(&mut self, offset: u64, value: u64) -> bool {
        if self.attached.is_none() {
            self.attached = SharedObject::adopt(OBJECT).ok();
        }
        self.attached.as_mut().is_some_and(|o| o.sync_size() > offset && o.load(offset) == value)
    }

    /// Stuck: blocked on the release notification, deaf to commands; once
    /// released, every command issued meanwhile counts as seen.
    fn stuck(&mut self) {
        sel4::wait(slots::RELEASE);
        self.seen = decode_command(self.control.load_acquire(CMD)).0;
    }
}
