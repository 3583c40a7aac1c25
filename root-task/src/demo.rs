//! The demo `make run` boots: the patent's spreadsheet. The supervisor
//! starts the memory manager and the owner of a shared table of linked
//! rows; as the owner's table grows, viewers start, each at a different
//! time, and walk the table through the stored pointers. The owner's
//! progress reports come to the supervisor only; nothing tells a viewer
//! that the table grew.

use crate::objects::Objects;
use crate::supervisor::{Event, Supervisor};
use runtime::spreadsheet::{CRASHING_VIEWER, OWNER, REPORT_EVERY, VIEWER};
use sel4::debug_println;

const PROGRAM: &str = "spreadsheet";
/// Viewers: name, how many rows the table has when each starts, its role,
/// how often it is restarted after a fault.
const VIEWERS: [(&str, u64, u64, u32); 3] = [
    ("viewer-1", REPORT_EVERY, VIEWER, 0),
    ("crasher", REPORT_EVERY, CRASHING_VIEWER, 1),
    ("viewer-2", 3 * REPORT_EVERY, VIEWER, 0),
];
/// Most events the demo handles before it stops.
const MAX_EVENTS: usize = 256;

/// Run the demo until every process has exited; true if every one ended
/// with code 0 (a fault that was followed by a restart is part of the demo).
pub fn run(objs: &mut Objects, sup: &mut Supervisor) -> bool {
    let owner = match sup.spawn(objs, PROGRAM, "spreadsheet", OWNER, 0) {
        Ok(task) => task,
        Err(e) => {
            debug_println!("demo: cannot start the spreadsheet: {e:?}");
            return false;
        }
    };
    let mut ok = true;
    for _ in 0..MAX_EVENTS {
        if sup.live() == 0 {
            break;
        }
        match sup.next_event(objs) {
            Event::Report { task, value: rows } if task == owner => {
                debug_println!("supervisor: the spreadsheet has {rows} rows");
                for (name, _, role, restarts) in VIEWERS.iter().filter(|v| v.1 == rows) {
                    if let Err(e) = sup.spawn(objs, PROGRAM, name, *role, *restarts) {
                        debug_println!("demo: cannot start {name}: {e:?}");
                        ok = false;
                    }
                }
            }
            Event::Exited { task, code } => {
                debug_println!("supervisor: pid {} exited with {code}", task.pid());
                ok &= code == 0;
            }
            Event::Faulted { task, restarted: Some(new), .. } => debug_println!(
                "supervisor: pid {} faulted; restarted as generation {}",
                task.pid(),
                new.generation()
            ),
            Event::Faulted { task, restarted: None, .. } => {
                debug_println!("supervisor: pid {} faulted; not restarted", task.pid());
                ok = false;
            }
            _ => {}
        }
    }
    if sup.live() != 0 {
        debug_println!("demo: {} processes still running after {MAX_EVENTS} events", sup.live());
        ok = false;
    }
    debug_println!("demo: {} bytes of process memory free", sup.free_bytes());
    debug_println!("demo: {}", if ok { "every process ended well" } else { "FAILED" });
    ok
}
