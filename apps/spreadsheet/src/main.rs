//! The patent's "spreadsheet" (Fig. 2): the owner keeps a table of linked
//! rows in a shared object and keeps adding rows, growing the object by a
//! whole pool whenever its pool allocator runs out. Viewers, started at
//! different times, walk the rows through the pointers stored in the rows
//! themselves and print running totals. Nothing tells a viewer the table
//! grew: the memory manager maps every new pool into every attached process
//! before the owner's grow returns, and each row's `next` pointer is a plain
//! address that is the same in every process.
//!
//! The owner starts the viewers itself as the table grows (the system
//! description, `system.toml`, lets it start them by name) and at the end
//! waits for each and checks its exit code. One viewer crashes on purpose
//! and is restarted by the supervisor, as its description says.

#![no_std]
#![no_main]

use core::sync::atomic::Ordering;
use libshm::layout::PAGE_SIZE;
use libshm::pool::{Pool, CONTROL_BYTES};
use libshm::protocol::TaskId;
use libshm::protocol::{Mode, Prot};
use libshm::shared_field;
use libshm::shm::{SharedObject, SharedPtr};
use runtime::{supervisor, ProcessInfo};
use sel4::debug_println;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

runtime::entry!(main);

/// `arg` of the process that owns and grows the table.
const OWNER: u64 = 0;
/// `arg` of a process that walks the table and prints running totals.
const VIEWER: u64 = 1;
/// `arg` of a viewer that, on its first run, touches an address outside the
/// table on purpose: the fault is reported, the process restarted as its
/// next generation, and the restarted viewer reattaches and finds every row.
const CRASHING_VIEWER: u64 = 2;
/// Rows a crashing viewer must have seen before it crashes.
const CRASH_AFTER_ROWS: u64 = 150;
/// Rows the owner adds in all.
const ROWS: u64 = 600;
/// The owner reports its row count to the supervisor every this many rows.
const REPORT_EVERY: u64 = 100;
/// The viewers the owner starts (their names in `system.toml`), and how
/// many rows the table has when each starts.
const VIEWERS: [(&str, u64); 3] = [("viewer-1", 100), ("crasher", 100), ("viewer-2", 300)];
/// The shared object's name.
const TABLE_NAME: &str = "spreadsheet-table";

/// The pool's control block: the first data page (page 0 is the header).
const POOL_CONTROL: u64 = PAGE_SIZE;
/// The table's own fields, after the pool's control block; the root offset
/// published to every viewer points here.
const TABLE: u64 = POOL_CONTROL + CONTROL_BYTES;

/// The table's fields in the shared object. Deriving the `zerocopy`
/// traits is what lets it live there (no padding, any bits valid).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Table {
    head: SharedPtr<Row>,
    tail: SharedPtr<Row>,
    rows: u64,
    /// 1 once the owner has written every row.
    done: u64,
}

/// A row: the next row (null at the end), its number, its value. The
/// `next` pointer is an address, the same in every process.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Row {
    next: SharedPtr<Row>,
    id: u64,
    value: u64,
    spare: u64,
}
const ROW_BYTES: u64 = core::mem::size_of::<Row>() as u64;
/// Each pool is one page: 127 rows, so the table spans many pools.
const POOL_BYTES: u64 = PAGE_SIZE;
/// Header page plus the page with the control block and the table.
const INITIAL_SIZE: u64 = 2 * PAGE_SIZE;
const MAX_SIZE: u64 = 1 << 20;
/// The owner yields every this many rows so viewers run in between.
const YIELD_EVERY: u64 = 10;
/// A viewer prints a total after every this many walks.
const PRINT_EVERY: u64 = 25;
/// Walks a viewer makes at most before it gives up waiting for the end.
const MAX_WALKS: u64 = 5_000;

/// Exit codes.
const EXIT_OK: i32 = 0;
const EXIT_SHM: i32 = 2;
const EXIT_INCONSISTENT: i32 = 3;
const EXIT_VIEWER_FAILED: i32 = 4;

fn main(info: &ProcessInfo) -> i32 {
    match info.arg {
        OWNER => owner(info),
        VIEWER => viewer(info, false),
        CRASHING_VIEWER => viewer(info, info.restarts == 0),
        _ => EXIT_SHM,
    }
}

/// A row's value: anything the viewers can check the sum of.
fn value_of(id: u64) -> u64 {
    id * 3 + 1
}

fn owner(info: &ProcessInfo) -> i32 {
    let Ok(mut table) =
        SharedObject::create(TABLE_NAME, Mode::ClientServer, INITIAL_SIZE, MAX_SIZE, Prot::Read)
    else {
        return EXIT_SHM;
    };
    let Ok(pool) = Pool::create(&mut table, POOL_CONTROL, ROW_BYTES, POOL_BYTES) else {
        return EXIT_SHM;
    };
    if table.set_root(TABLE).is_err() {
        return EXIT_SHM;
    }
    debug_println!(
        "{} (pid {}): table at {:#x}, {} bytes",
        info.name(),
        info.pid,
        table.base(),
        table.size()
    );
    let mut size = table.size();
    let mut viewers: [Option<TaskId>; VIEWERS.len()] = [None; VIEWERS.len()];
    for id in 1..=ROWS {
        let Ok(row) = pool.alloc(&mut table) else {
            return EXIT_SHM;
        };
        if table.size() != size {
            size = table.size();
            debug_println!("{}: grew the table to {size} bytes at row {id}", info.name());
        }
        let new: SharedPtr<Row> = table.ptr(row);
        new.write(Row { next: SharedPtr::null(), id, value: value_of(id), spare: 0 });
        // The row is complete before anyone can reach it: the link to it
        // is a release store, a viewer's load of it an acquire.
        let fields: SharedPtr<Table> = table.ptr(TABLE);
        let tail = shared_field!(fields, Table, tail).read();
        let link =
            if tail.is_null() { shared_field!(fields, Table, head) } else { shared_field!(tail, Row, next) };
        link.cast::<u64>().atomic().store(new.addr(), Ordering::Release);
        shared_field!(fields, Table, tail).write(new);
        shared_field!(fields, Table, rows).write(id);
        if id % REPORT_EVERY == 0 {
            supervisor::report(id);
        }
        for (i, (name, _)) in VIEWERS.iter().enumerate().filter(|(_, v)| v.1 == id) {
            match supervisor::start(name) {
                Ok(task) => viewers[i] = Some(task),
                Err(e) => debug_println!("{}: cannot start {name}: {e}", info.name()),
            }
        }
        if id % YIELD_EVERY == 0 {
            sel4::yield_now();
        }
    }
    shared_field!(table.ptr::<Table>(TABLE), Table, done).atomic().store(1, Ordering::Release);
    debug_println!("{}: all {ROWS} rows written, {} bytes", info.name(), table.size());
    // Stay attached until the viewers are done (a detach would not take the
    // table away from them, but the demo reads better in this order).
    let mut code = EXIT_OK;
    for ((name, _), viewer) in VIEWERS.iter().zip(viewers) {
        let ended = viewer.map(supervisor::wait);
        debug_println!("{}: {name} ended: {ended:?}", info.name());
        if ended != Some(Ok(EXIT_OK)) {
            code = EXIT_VIEWER_FAILED;
        }
    }
    code
}

/// Walk the rows from the head; (rows, sum of values, all values right).
/// A row in a pool the owner added during the walk was mapped here before
/// the owner linked it: following the pointers is all it takes.
fn walk(table: &SharedObject) -> (u64, u64, bool) {
    let fields: SharedPtr<Table> = table.ptr(TABLE);
    let (mut rows, mut sum, mut ok) = (0, 0, true);
    let mut at = next(shared_field!(fields, Table, head));
    while !at.is_null() && rows < ROWS {
        let row = at.read();
        ok &= row.value == value_of(row.id) && row.id == rows + 1;
        rows += 1;
        sum += row.value;
        at = next(shared_field!(at, Row, next));
    }
    (rows, sum, ok)
}

/// The row a link points to, loaded with acquire: the row it links was
/// written before it.
fn next(link: SharedPtr<SharedPtr<Row>>) -> SharedPtr<Row> {
    SharedPtr::from_addr(link.cast::<u64>().atomic().load(Ordering::Acquire))
}

/// Walk the table until the owner is done; with `crash`, fault on purpose
/// once enough rows are seen (the supervisor restarts the process, and the
/// restarted viewer reattaches: same address, same root, every row there).
fn viewer(info: &ProcessInfo, crash: bool) -> i32 {
    let Ok(table) = SharedObject::open(TABLE_NAME, Prot::Read) else {
        return EXIT_SHM;
    };
    // The root pointer came with the attach (patent ¶19): where the table is.
    match table.root() {
        Ok(TABLE) => {}
        _ => return EXIT_SHM,
    }
    if info.restarts > 0 {
        debug_println!(
            "{} (pid {} generation {}): restarted, reattached: table at {:#x}, {} bytes, root {:#x}",
            info.name(),
            info.pid,
            info.generation,
            table.base(),
            table.size(),
            TABLE
        );
    }
    let mut last = (0, 0, true);
    for walk_no in 0..MAX_WALKS {
        // New pools are already mapped here: nobody had to say so.
        let done =
            shared_field!(table.ptr::<Table>(TABLE), Table, done).atomic().load(Ordering::Acquire) == 1;
        let (rows, sum, ok) = walk(&table);
        if !ok {
            debug_println!("{} (pid {}): rows out of order at {rows}", info.name(), info.pid);
            return EXIT_INCONSISTENT;
        }
        if walk_no % PRINT_EVERY == 0 || (done && rows == ROWS) {
            debug_println!("{} (pid {}): {rows} rows, running total {sum}", info.name(), info.pid);
        }
        last = (rows, sum, ok);
        if crash && rows >= CRASH_AFTER_ROWS {
            // Past the table's largest size: no object is there, so the
            // memory manager cannot repair the fault and the supervisor
            // gets it.
            let outside = SharedPtr::<u64>::from_addr(table.base() + MAX_SIZE);
            debug_println!(
                "{} (pid {}): reading {:#x}, outside the table, on purpose",
                info.name(),
                info.pid,
                outside.addr()
            );
            let _ = outside.read();
        }
        if done && rows == ROWS {
            break;
        }
        sel4::yield_now();
    }
    let expected: u64 = (1..=ROWS).map(value_of).sum();
    if last.0 == ROWS && last.1 == expected {
        EXIT_OK
    } else {
        EXIT_INCONSISTENT
    }
}
