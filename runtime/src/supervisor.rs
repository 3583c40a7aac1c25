//! The calls a process makes to its supervisor (the root task), typed
//! through the supervisor's protocol table
//! ([`libshm::protocol::supervisor`]).

use crate::slots;
use libshm::client::Ipc;
use libshm::protocol::supervisor::Client;
use libshm::protocol::{Error, Name, TaskId};

pub use libshm::protocol::supervisor::{EXIT_FAULTED, EXIT_KILLED};

fn supervisor() -> Ipc {
    Ipc::new(slots::SUPERVISOR)
}

/// Ask the supervisor behind `ep` who we are. A badge of a dead
/// incarnation gets [`Error::StaleGeneration`].
pub fn ping_through(ep: sel4::CPtr) -> Result<TaskId, Error> {
    Ipc::new(ep).ping()
}

/// [`ping_through`] our own supervisor cap.
pub fn ping() -> Result<TaskId, Error> {
    ping_through(slots::SUPERVISOR)
}

/// Start the process the system description calls `name`; the description
/// must say it starts on request by this process. Returns its identity.
///
/// Errors: [`Error::BadName`], [`Error::UnknownAlias`] (no such process in
/// the description), [`Error::NotPermitted`] (another process starts it, or
/// it starts at boot), [`Error::AlreadyRunning`], [`Error::TooManyProcesses`],
/// [`Error::OutOfMemory`].
///
/// ```no_run,ignore-linux
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 {
/// let viewer = runtime::supervisor::start("viewer").expect("the description lets us start it");
/// let code = runtime::supervisor::wait(viewer).expect("we started it");
/// sel4::debug_println!("viewer ended with {code}");
/// # 0 }
/// ```
pub fn start(name: &str) -> Result<TaskId, Error> {
    supervisor().start(Name::new(name)?)
}

/// Block until `task`, which this process started with [`start`], has
/// ended for good, and return its exit code ([`EXIT_FAULTED`] if it faulted
/// with no restarts left). A process that ended before the call is
/// answered at once (the supervisor keeps the last 64 such codes).
///
/// Errors: [`Error::UnknownProcess`] (not started by us, or already waited
/// for).
pub fn wait(task: TaskId) -> Result<i32, Error> {
    supervisor().wait(task.pid())
}

/// Report a result word to the supervisor.
pub fn report(value: u64) {
    // Only a stale badge is refused, and a stale process has no one to tell.
    let _ = supervisor().report(value);
}

/// End this process with `code`.
pub fn exit(code: i32) -> ! {
    crate::console::flush();
    // The supervisor tears us down on receipt and never answers.
    let _ = supervisor().exit(code);
    loop {
        sel4::yield_now();
    }
}
