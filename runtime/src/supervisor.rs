//! The calls a process makes to its supervisor (the root task), and their
//! encoding: the one definition both sides use.

use crate::slots;
use libshm::protocol::{Error, Name, TaskId, NAME_WORDS};
use sel4::MessageInfo;

/// What a process asks the supervisor. The label of the message.
///
/// Faults arrive on the same endpoint with the kernel's fault types as
/// labels (all below 8), so requests start above them.
#[repr(u64)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Answered with the caller's pid and generation.
    Ping = 0x10,
    /// The process is done: MR0 is its exit code. Never answered.
    Exit = 0x11,
    /// A test app reports a result word (MR0) and goes on.
    Report = 0x12,
    /// Start the process the system description names (MR0..: a
    /// [`Name`] as words), if the description lets the caller start it.
    /// Answered with its pid (MR0) and generation (MR1).
    Start = 0x13,
    /// Wait until the process with pid MR0, which the caller started, has
    /// ended for good (restarts do not count). Answered with its exit code
    /// (MR0, sign-extended).
    Wait = 0x14,
}

impl Op {
    /// The op for a message label.
    pub fn from_label(label: u64) -> Option<Op> {
        [Op::Ping, Op::Exit, Op::Report, Op::Start, Op::Wait].into_iter().find(|op| *op as u64 == label)
    }
}

/// The exit code [`wait`] gives for a process that faulted and was not
/// restarted.
pub const EXIT_FAULTED: i32 = -1;
/// The exit code [`wait`] gives for a process the root task ended.
pub const EXIT_KILLED: i32 = -2;

/// Label of a successful reply.
pub const OK: u64 = 0;

/// Ask the supervisor who we are: `Ok((pid, generation))`, or the error the
/// supervisor answered (a stale badge gets [`Error::StaleGeneration`]).
pub fn ping_through(ep: sel4::CPtr) -> Result<(u64, u64), u64> {
    let (reply, _) = sel4::call(ep, MessageInfo::new(Op::Ping as u64, 0, 0, 0));
    match reply.label() {
        OK => Ok((sel4::get_mr(0), sel4::get_mr(1))),
        code => Err(code),
    }
}

/// [`ping_through`] our own supervisor cap.
pub fn ping() -> Result<(u64, u64), u64> {
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
    let words = Name::new(name)?.to_words();
    for (i, w) in words.iter().enumerate() {
        sel4::set_mr(i, *w);
    }
    let (reply, _) =
        sel4::call(slots::SUPERVISOR, MessageInfo::new(Op::Start as u64, 0, 0, NAME_WORDS as u64));
    match reply.label() {
        OK => TaskId::new(sel4::get_mr(0) as u16, sel4::get_mr(1) as u16).ok_or(Error::BadValue),
        code => Err(Error::from_code(code).unwrap_or(Error::BadValue)),
    }
}

/// Block until `task`, which this process started with [`start`], has
/// ended for good, and return its exit code ([`EXIT_FAULTED`] if it faulted
/// with no restarts left). A process that ended before the call is
/// answered at once (the supervisor keeps the last 64 such codes).
///
/// Errors: [`Error::UnknownProcess`] (not started by us, or already waited
/// for).
pub fn wait(task: TaskId) -> Result<i32, Error> {
    sel4::set_mr(0, u64::from(task.pid()));
    let (reply, _) = sel4::call(slots::SUPERVISOR, MessageInfo::new(Op::Wait as u64, 0, 0, 1));
    match reply.label() {
        OK => Ok(sel4::get_mr(0) as i64 as i32),
        code => Err(Error::from_code(code).unwrap_or(Error::BadValue)),
    }
}

/// Report a result word to the supervisor.
pub fn report(value: u64) {
    sel4::set_mr(0, value);
    sel4::call(slots::SUPERVISOR, MessageInfo::new(Op::Report as u64, 0, 0, 1));
}

/// End this process with `code`.
pub fn exit(code: i32) -> ! {
    sel4::set_mr(0, code as u64);
    sel4::send(slots::SUPERVISOR, MessageInfo::new(Op::Exit as u64, 0, 0, 1));
    // The supervisor tears us down on receipt; nothing runs after that.
    loop {
        sel4::yield_now();
    }
}

/// The error code a stale or unknown badge gets.
pub const STALE: u64 = Error::StaleGeneration.code();
