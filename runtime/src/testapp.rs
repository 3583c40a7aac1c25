//! The contract between the supervisor's on-target tests and the test
//! program `apps/testapp`: what each `arg` makes it do.

/// Ping the supervisor, report whether it knows who we are, exit.
pub const PING: u64 = 0;
/// First start: ping and report, then read [`UNMAPPED`] (a fault).
/// After a restart: ping and report, then exit.
pub const CRASH: u64 = 1;
/// Invoke a cap slot we were not given; report whether the kernel refused.
pub const CAP_ABUSE: u64 = 2;
/// Write our tag to a static, yield, report whether it is still ours.
pub const ISOLATION: u64 = 3;
/// Ping through the cap in `slots::EXTRA` (an old generation's badge);
/// report whether the supervisor refused it as stale.
pub const STALE_CALLER: u64 = 4;
/// Exit at once with code 0.
pub const EXIT: u64 = 5;
/// Ask the memory manager who has our name; report whether it is us.
pub const REGISTERED: u64 = 6;

/// An address no process has mapped (between image and stack).
pub const UNMAPPED: u64 = 0x1800_0000;
/// A slot of an app's CNode the supervisor leaves empty.
pub const EMPTY_SLOT: u64 = 200;
/// Reported for "as expected".
pub const PASS: u64 = 1;
