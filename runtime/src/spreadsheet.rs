//! The contract between the demo supervisor and `apps/spreadsheet`.

/// `arg` of the process that owns and grows the table.
pub const OWNER: u64 = 0;
/// `arg` of a process that walks the table and prints running totals.
pub const VIEWER: u64 = 1;
/// `arg` of a viewer that, on its first run, touches an address outside the
/// table on purpose: the fault is reported, the process restarted as its
/// next generation, and the restarted viewer reattaches and finds every row.
pub const CRASHING_VIEWER: u64 = 2;
/// Rows a crashing viewer must have seen before it crashes.
pub const CRASH_AFTER_ROWS: u64 = 150;
/// Rows the owner adds in all.
pub const ROWS: u64 = 600;
/// The owner reports its row count to the supervisor every this many rows
/// (so the demo can start viewers at different times).
pub const REPORT_EVERY: u64 = 100;
/// The shared object's name.
pub const TABLE_NAME: &str = "spreadsheet-table";
