//! A Rust peer of the C app `apps/c-list`: it attaches to the C app's
//! object as soon as it exists, walks the linked list the C app is still
//! writing by the pointers stored in its nodes (the object is at the same
//! address in both), until the list is complete and every value right;
//! then it says it is done and detaches. The structs are the C app's
//! (`apps/c-list/src/main.c`), field for field.

#![no_std]
#![no_main]

use core::sync::atomic::Ordering;
use libshm::protocol::{Error, Prot};
use libshm::shared_field;
use libshm::shm::{SharedObject, SharedPtr};
use runtime::ProcessInfo;
use sel4::debug_println;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

runtime::entry!(main);

/// `struct node` of the C app.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Node {
    next: SharedPtr<Node>,
    value: u64,
}

/// `struct list` of the C app, at the object's root.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct List {
    head: SharedPtr<Node>,
    count: u64,
    done: u64,
    readers_done: u64,
}

const NAME: &str = "c-list";
const NODES: u64 = 1000;
/// Tries (with a yield between) to find the object and the whole list.
const PATIENCE: u32 = 1_000_000;

const EXIT_OK: i32 = 0;
const EXIT_NO_OBJECT: i32 = 2;
const EXIT_WRONG: i32 = 3;

fn value_of(i: u64) -> u64 {
    i * 7 + 3
}

/// The pointer a link holds, loaded with acquire (the C app stores it
/// with release after writing the node).
fn follow(link: SharedPtr<SharedPtr<Node>>) -> SharedPtr<Node> {
    SharedPtr::from_addr(link.cast::<u64>().atomic().load(Ordering::Acquire))
}

/// Walks the list from its head: how many nodes, and whether each holds
/// its value.
fn walk(list: SharedPtr<List>) -> (u64, bool) {
    let (mut n, mut right) = (0, true);
    let mut at = follow(shared_field!(list, List, head));
    while !at.is_null() && n < NODES {
        right &= at.read().value == value_of(n);
        n += 1;
        at = follow(shared_field!(at, Node, next));
    }
    (n, right)
}

fn main(info: &ProcessInfo) -> i32 {
    let mut obj = Err(Error::UnknownName);
    for _ in 0..PATIENCE {
        obj = SharedObject::open(NAME, Prot::ReadWrite);
        if obj.is_ok() {
            break;
        }
        sel4::yield_now();
    }
    let Ok(obj) = obj else {
        debug_println!("{}: no object {NAME}", info.name());
        return EXIT_NO_OBJECT;
    };
    // Where the C app's list is: with the attach, once it has set it (on
    // another core it may not have yet; 0 is the header's place).
    let mut root = obj.root();
    for _ in 0..PATIENCE {
        if root != Ok(0) {
            break;
        }
        sel4::yield_now();
        root = obj.root();
    }
    let Ok(root @ 1..) = root else {
        debug_println!("{}: the object's root was never set", info.name());
        return EXIT_NO_OBJECT;
    };
    let list: SharedPtr<List> = SharedPtr::from_addr(obj.base() + root);
    let done = shared_field!(list, List, done).atomic();
    let (mut walks, mut seen) = (0u32, (0, true));
    while walks < PATIENCE {
        let complete = done.load(Ordering::Acquire) == 1;
        seen = walk(list);
        walks += 1;
        if complete || !seen.1 {
            break;
        }
        sel4::yield_now();
    }
    let code = if seen == (NODES, true) { EXIT_OK } else { EXIT_WRONG };
    debug_println!(
        "{} (pid {}): {} nodes of the C app walked by their stored pointers, {walks} walks while it grew, values {}",
        info.name(),
        info.pid,
        seen.0,
        if seen.1 { "right" } else { "WRONG" }
    );
    shared_field!(list, List, readers_done).atomic().fetch_add(1, Ordering::Release);
    let _ = obj.detach();
    code
}
