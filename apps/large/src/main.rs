//! A 1 GiB object of 2 MiB pages shared by 16 peers. The owner (`arg` 0)
//! creates it, grows it to 1 GiB, links its 2 MiB pages into a list whose
//! pointers are addresses in the object, starts the peers and waits for
//! them; each peer (`arg` 1..=16) attaches and walks the list from the
//! root, checking every page's number.

#![no_std]
#![no_main]

use libshm::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};
use libshm::protocol::{Mode, Prot};
use libshm::shm::SharedObject;
use runtime::{supervisor, ProcessInfo};
use sel4::debug_println;

runtime::entry!(main);

const OBJECT: &str = "big";
const SIZE: u64 = 1 << 30;
/// The list's nodes: one at the start of each 2 MiB page after the first
/// 2 MiB (which holds the header and 4 KiB pages).
const NODES: u64 = SIZE / LARGE_PAGE_SIZE - 1;
const PEERS: [&str; 16] = [
    "peer-0", "peer-1", "peer-2", "peer-3", "peer-4", "peer-5", "peer-6", "peer-7", "peer-8", "peer-9",
    "peer-10", "peer-11", "peer-12", "peer-13", "peer-14", "peer-15",
];

fn main(info: &ProcessInfo) -> i32 {
    match info.arg {
        0 => owner(),
        _ => peer(info),
    }
}

/// Offset of node `k` (1..=NODES): its number, then the address of the next.
const fn node(k: u64) -> u64 {
    k * LARGE_PAGE_SIZE
}

fn owner() -> i32 {
    let Ok(mut object) = SharedObject::create(OBJECT, Mode::ClientServer, PAGE_SIZE, SIZE, Prot::Read) else {
        return 1;
    };
    if object.grow(SIZE).is_err() {
        return 2;
    }
    for k in 1..=NODES {
        let next = if k == NODES { 0 } else { object.base() + node(k + 1) };
        object.store(node(k), k);
        object.store(node(k) + 8, next);
    }
    if object.set_root(node(1)).is_err() {
        return 3;
    }
    let mut failed = 0;
    let mut started = [None; PEERS.len()];
    for (name, task) in PEERS.iter().zip(started.iter_mut()) {
        *task = supervisor::start(name).ok();
    }
    for task in started {
        match task.map(supervisor::wait) {
            Some(Ok(0)) => {}
            _ => failed += 1,
        }
    }
    debug_println!(
        "large: {} MiB in {NODES} pages of 2 MiB and 512 of 4 KiB, shared by {} peers, each walked \
         the {NODES} nodes by the pointers stored in them; {failed} failed",
        SIZE >> 20,
        PEERS.len()
    );
    if failed == 0 {
        0
    } else {
        4
    }
}

fn peer(info: &ProcessInfo) -> i32 {
    let Ok(object) = SharedObject::open(OBJECT, Prot::Read) else {
        return 1;
    };
    let Ok(root) = object.root() else {
        return 2;
    };
    let mut at = object.base() + root;
    let mut seen = 0;
    while at != 0 {
        let offset = at - object.base();
        seen += 1;
        if object.load(offset) != seen {
            debug_println!("{}: node {seen} at {at:#x} holds {}", info.name(), object.load(offset));
            return 3;
        }
        at = object.load(offset + 8);
    }
    if seen == NODES {
        0
    } else {
        4
    }
}
