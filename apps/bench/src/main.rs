//! The benchmark program (`make bench`, issue 6). `ProcessInfo::arg` makes
//! it the owner, which creates the shared object, grows it and times the
//! grows, or peer number `i`, which follows the owner's commands. The
//! contract (slots, commands, sizes) is `runtime::bench`.

#![no_std]
#![no_main]

mod owner;
mod peer;

use runtime::bench::{behaviour, param, Request, OWNER, PEER};
use runtime::{supervisor, ProcessInfo};
use sel4::debug_println;

runtime::entry!(main);

/// What a role found: `Err` names the first thing that went wrong.
pub type Outcome<T = ()> = Result<T, &'static str>;

/// Exit code of a process whose role failed.
const EXIT_FAILED: i32 = 1;

fn main(info: &ProcessInfo) -> i32 {
    let outcome = match behaviour(info.arg) {
        OWNER => {
            let outcome = owner::run();
            supervisor::report(Request::Done(outcome.is_ok()).encode());
            outcome
        }
        PEER => match u16::try_from(param(info.arg)) {
            Ok(index) => peer::run(info, index),
            Err(_) => Err("a peer index"),
        },
        _ => Err("an unknown role"),
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
