//! The benchmark program (`make bench`). `ProcessInfo::arg` makes
//! it the owner, which creates the shared object, grows it and times the
//! grows, or peer number `i`, which follows the owner's commands. The
//! contract (slots, commands, sizes) is `bench_contract`.

#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod owner;
mod peer;

use bench_contract::{Request, Role};
use runtime::{supervisor, ProcessInfo};
use sel4::debug_println;

runtime::entry!(main);

/// What a role found: `Err` names the first thing that went wrong.
pub type Outcome<T = ()> = Result<T, &'static str>;

/// Exit code of a process whose role failed.
const EXIT_FAILED: i32 = 1;

fn main(info: &ProcessInfo) -> i32 {
    let outcome = match Role::from_arg(info.arg) {
        Some(Role::Owner) => {
            let outcome = owner::run();
            supervisor::report(Request::Done(outcome.is_ok()).encode());
            outcome
        }
        Some(Role::Peer(index)) => peer::run(info, index),
        None => Err("an unknown role"),
    };
    match outcome {
        Ok(()) => 0,
        Err(what) => {
            debug_println!("bench pid {} ({}): failed: {what}", info.pid, info.name());
            EXIT_FAILED
        }
    }
}

/// The value of a request that must succeed; its error is printed.
pub fn expect<T>(r: Result<T, libshm::protocol::Error>, what: &'static str) -> Outcome<T> {
    r.map_err(|e| {
        debug_println!("bench: {what}: {e}");
        what
    })
}
