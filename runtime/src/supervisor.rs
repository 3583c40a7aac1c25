//! The calls a process makes to its supervisor (the root task), and their
//! encoding: the one definition both sides use.

use crate::slots;
use libshm::protocol::Error;
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
}

impl Op {
    /// The op for a message label.
    pub fn from_label(label: u64) -> Option<Op> {
        [Op::Ping, Op::Exit, Op::Report].into_iter().find(|op| *op as u64 == label)
    }
}

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
