//! The demo `make run` boots: the supervisor starts a few processes from
//! their ELF images, each calls back, and one crashes and is restarted.

use crate::objects::Objects;
use crate::supervisor::{Event, Supervisor};
use runtime::testapp;
use sel4::debug_println;

/// The processes of the demo: (name, behaviour, restarts allowed).
const CAST: [(&str, u64, u32); 3] =
    [("spreadsheet", testapp::PING, 0), ("viewer", testapp::PING, 0), ("crasher", testapp::CRASH, 1)];

/// Most events the demo handles before it stops.
const MAX_EVENTS: usize = 64;

/// Run the demo until every process has exited.
pub fn run(objs: &mut Objects, sup: &mut Supervisor) {
    for (name, behaviour, restarts) in CAST {
        if let Err(e) = sup.spawn(objs, "testapp", name, behaviour, restarts) {
            debug_println!("demo: cannot start {name}: {e:?}");
        }
    }
    for _ in 0..MAX_EVENTS {
        if sup.live() == 0 {
            break;
        }
        match sup.next_event(objs) {
            Event::Report { task, value } => {
                debug_println!("pid {} generation {} checked in ({value})", task.pid(), task.generation())
            }
            Event::Exited { task, code } => debug_println!("pid {} exited with {code}", task.pid()),
            Event::Faulted { restarted: Some(t), .. } => {
                debug_println!("pid {} restarted as generation {}", t.pid(), t.generation())
            }
            _ => {}
        }
    }
    debug_println!("demo: {} bytes of process memory free", sup.free_bytes());
}
