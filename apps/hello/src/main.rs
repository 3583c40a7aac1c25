//! A writer shares a word with a reader it starts: `arg` 0 is the writer,
//! anything else the reader.

#![no_std]
#![no_main]

use libshm::layout::PAGE_SIZE;
use libshm::protocol::{Mode, Prot};
use libshm::shm::SharedObject;
use runtime::{supervisor, ProcessInfo};
use sel4::debug_println;

runtime::entry!(main);

const OBJECT: &str = "hello-object";
/// The header page and one data page.
const SIZE: u64 = 2 * PAGE_SIZE;
const ANSWER: u64 = 42;

fn main(info: &ProcessInfo) -> i32 {
    match info.arg {
        0 => writer(info),
        _ => reader(info),
    }
}

/// Creates the object, writes the answer into its first data page, starts
/// the reader and waits for it: the reader's exit code is ours.
fn writer(info: &ProcessInfo) -> i32 {
    let Ok(object) = SharedObject::create(OBJECT, Mode::ClientServer, SIZE, SIZE, Prot::Read) else {
        return 1;
    };
    object.store(PAGE_SIZE, ANSWER);
    let Ok(reader) = supervisor::start("hello-reader") else {
        return 2;
    };
    let code = supervisor::wait(reader);
    debug_println!("{}: the reader ended with {code:?}", info.name());
    code.unwrap_or(3)
}

/// Attaches to the object (at the same address as the writer) and checks
/// the answer.
fn reader(info: &ProcessInfo) -> i32 {
    let Ok(object) = SharedObject::open(OBJECT, Prot::Read) else {
        return 1;
    };
    let value = object.load(PAGE_SIZE);
    debug_println!("{}: read {value} at {:#x}", info.name(), object.base() + PAGE_SIZE);
    if value == ANSWER {
        0
    } else {
        4
    }
}
