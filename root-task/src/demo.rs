//! The demo `make run` boots: the patent's spreadsheet. The supervisor
//! starts the memory manager and the owner of a shared table of linked
//! rows; as the owner's table grows, viewers start, each at a different
//! time, and walk the table through the stored pointers. The owner's
//! progress reports come to the supervisor only; nothing tells a viewer
//! that the table grew.

use crate::objects::Objects;
use crate::supervisor::{Event, Supervisor};
use runtime::spreadsheet::{OWNER, REPORT_EVERY, VIEWER};
use sel4::debug_println;

const PROGRAM: &str = "spreadsheet";
/// Viewers, and how many rows the table has when each starts.
const VIEWERS: [(&str, u64); 2] = [("viewer-1", REPORT_EVERY), ("viewer-2", 3 * REPORT_EVERY)];
/// Most events the demo handles before it stops.
const MAX_EVENTS: usize = 256;

/// Run the demo until every process has exited.
pub fn run(objs: &mut Objects, sup: &mut Supervisor) {
    let owner = match sup.spawn(objs, PROGRAM, "spreadsheet", OWNER, 0) {
        Ok(task) => task,
        Err(e) => {
            debug_println!("demo: cannot start the spreadsheet: {e:?}");
            return;
        }
    };
    for _ in 0..MAX_EVENTS {
        if sup.live() == 0 {
            break;
        }
        match sup.next_event(objs) {
            Event::Report { task, value: rows } if task == owner => {
                debug_println!("supervisor: the spreadsheet has {rows} rows");
                for (name, _) in VIEWERS.iter().filter(|(_, at)| *at == rows) {
                    if let Err(e) = sup.spawn(objs, PROGRAM, name, VIEWER, 0) {
                        debug_println!("demo: cannot start {name}: {e:?}");
                    }
                }
            }
            Event::Exited { task, code } => {
                debug_println!("supervisor: pid {} exited with {code}", task.pid())
            }
            Event::Faulted { task, .. } => debug_println!("supervisor: pid {} faulted", task.pid()),
            _ => {}
        }
    }
    debug_println!("demo: {} bytes of process memory free", sup.free_bytes());
}
