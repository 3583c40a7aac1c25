//! The contract between the supervisor's on-target tests and the test
//! program `tests/testapp`: what each `arg` makes it do.

#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The description's process with a heap (`tests/suite/system.toml`).
pub const HEAP_PROCESS: &str = "heap-user";
/// Its heap, as the description says.
pub const HEAP_BYTES: u64 = 64 * 1024;
/// Words it allocates: half its heap.
pub const HEAP_WORDS: usize = (HEAP_BYTES / 16) as usize;

/// The description's process that starts others ([`Behaviour::Starter`]).
pub const STARTER: &str = "starter";
/// A process [`STARTER`] may start: it exits with 0 ([`Behaviour::Exit`]).
pub const STARTED_CHILD: &str = "starter-child";
/// A process [`STARTER`] may start: it faults, with no restart
/// ([`Behaviour::Crash`]).
pub const FAULTING_CHILD: &str = "faulting-child";
/// A process only [`HEAP_PROCESS`] may start.
pub const FORBIDDEN_CHILD: &str = "forbidden-child";

/// An address no process has mapped (between image and stack).
pub const UNMAPPED: u64 = 0x1800_0000;
/// A slot of an app's CNode the supervisor leaves empty.
pub const EMPTY_SLOT: u64 = 200;

/// What a test process does: the low [`BEHAVIOUR_BITS`] of its
/// `ProcessInfo::arg`. The compiler keeps the codes distinct.
#[repr(u16)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Ping the supervisor, report whether it knows who we are, exit.
    Ping = 0,
    /// First start: ping and report, then read [`UNMAPPED`] (a fault).
    /// After a restart: ping and report, then exit.
    Crash = 1,
    /// Invoke a cap slot we were not given; report whether the kernel refused.
    CapAbuse = 2,
    /// Write our tag to a static, yield, report whether it is still ours.
    Isolation = 3,
    /// Ping through the cap in `slots::EXTRA` (an old generation's badge);
    /// report whether the supervisor refused it as stale.
    StaleCaller = 4,
    /// Exit at once with code 0.
    Exit = 5,
    /// Ask the memory manager who has our name; report whether it is us.
    Registered = 6,
    /// Create [`GROW_OBJECT`], fill [`pattern`] into its first data page, report
    /// `Report::Ready`; wait (header) until [`GROW_PEERS`] peers are attached, grow to
    /// [`GROW_TO`], write [`grow_value`] into every new page, raise
    /// [`GROW_FLAG`]; wait until the peers left, check everything, destroy.
    GrowOwner = 7,
    /// Open [`GROW_OBJECT`], wait for [`GROW_FLAG`] (no message), read the new
    /// size from the header and every new page's [`grow_value`], check the
    /// pattern written before the grow, detach.
    GrowPeer = 8,
    /// Create [`LIST_OBJECT`] with a pool at [`POOL_CONTROL`], build a list of
    /// [`LIST_NODES`] nodes through shared pointers (it spans [`LIST_POOLS`]
    /// pools), set the root, report `Report::Ready`; wait until [`LIST_WALKERS`] are
    /// attached, raise [`RELEASE_FLAG`], wait until they left, destroy.
    ListBuilder = 9,
    /// Open [`LIST_OBJECT`] read-only, walk the list from the root, check count,
    /// sum and pool count; wait for [`RELEASE_FLAG`], detach.
    ListWalker = 10,
    /// Create [`MMAP_OBJECT`], map its page [`MMAP_OFFSET`] read-write into the
    /// pid in the parameter and read-only into alias [`MMAP_ALIAS`] with
    /// `mmap_peer` (a wrong address and an unknown alias refused); wait until
    /// both left, find [`MMAP_ANSWER`], destroy.
    MmapOwner = 11,
    /// Wait until someone maps [`MMAP_OBJECT`] into us, check the value at
    /// [`MMAP_OFFSET`] and our rights (the parameter: the expected `Prot` bits),
    /// write [`MMAP_ANSWER`] if writable, wait for [`MMAP_RELEASE_AT`],
    /// detach.
    MmapTarget = 12,
    /// Create [`UNMAP_OBJECT`], write [`CUT_VALUE`] at [`CUT_OFFSET`], report
    /// the address of that page (the ready signal, and where the peers will
    /// fault); once [`UNMAP_PEERS`] peers have seen the page ([`seen_flag`]),
    /// take it from each of them with `munmap_peer` by pid (keeping its own),
    /// raise [`RELEASE_FLAG`]; wait until they are gone, destroy.
    UnmapOwner = 13,
    /// Open [`UNMAP_OBJECT`] as peer number `param`, check the page at
    /// [`CUT_OFFSET`], raise its [`seen_flag`], wait for
    /// [`RELEASE_FLAG`], touch the page again: a fault at its address (reported
    /// 0 if the touch returns).
    UnmapPeer = 14,
    /// Create [`CS_OBJECT`] in client-server mode (clients read-only), report
    /// `Report::Ready`; once the client is attached raise [`RELEASE_FLAG`]; wait until
    /// it left, check nothing changed, destroy.
    CsOwner = 15,
    /// Open [`CS_OBJECT`]: read-write is refused, read-only works; grow,
    /// shrink, set-root, destroy, `mmap_peer` and `munmap_peer` into the owner
    /// are refused with `NotOwner`; wait for [`RELEASE_FLAG`], detach.
    CsClient = 16,
    /// Create [`KEEP_OBJECT`], fill its first data page with [`pattern`], grow it
    /// to each of [`KEEP_SIZES`] (the last grow adds a 2 MiB page), mark each
    /// grow's first and last new word, and check all of it after every grow.
    GrowKeepsData = 17,
    /// As [`Behaviour::UnmapOwner`] on [`SHRINK_OBJECT`], removing everything from
    /// [`CUT_OFFSET`] on with a shrink.
    ShrinkOwner = 18,
    /// As [`Behaviour::UnmapPeer`] on [`SHRINK_OBJECT`].
    ShrinkPeer = 19,
    /// Create [`CANARY_OBJECT`] (client-server, clients read-only), fill
    /// `[CANARY_DATA_FROM, CANARY_SIZE)` with [`canary_word`], set the root to
    /// [`CANARY_ROOT`], report `Report::Ready`; ask the server for the object's state
    /// while waiting (it must keep answering) until the hostile client attaches
    /// (its "done"); check the contents, grow once and ping the supervisor (both
    /// still serve), raise [`RELEASE_FLAG`], wait until it left, check, destroy.
    HostileCanary = 20,
    /// Send every malformed request of the issue and [`GARBAGE_MESSAGES`]
    /// random undecodable ones to the memory manager, each of which must get
    /// exactly its error; then attach to [`CANARY_OBJECT`] read-only, check its
    /// contents, wait for [`RELEASE_FLAG`], detach. Reports how many hostile
    /// requests were refused as expected, or 0 at the first that was not.
    Hostile = 21,
    /// Soak process number `param & SOAK_INDEX_MASK`, incarnation `param >>
    /// SOAK_INCARNATION_SHIFT`: [`SOAK_OPS_PER_PROCESS`] random operations from
    /// its [`soak_seed`]; after each, verify every object it is attached to and
    /// report [`soak_step`]; detach from everything, report `Report::Pass`.
    Soak = 40,
    /// After the soak: destroy every soak object that is left (verifying its
    /// checksum first), check that opening any now fails with `UnknownName`,
    /// report `Report::Pass`.
    SoakCleanup = 41,
    /// Creates [`LAZY_OBJECT`], writes [`lazy_value`] at every touch, reports
    /// [`Report::Ready`]; at the end finds the lazy peer's write.
    LazyOwner = 60,
    /// Attaches lazily, reads every touch and writes [`LAZY_WRITE_AT`]: each
    /// first touch is a fault the memory manager repairs.
    LazyPeer = 61,
    /// Creates [`REATTACH_OBJECT`] with data at its root, reports [`Report::Ready`],
    /// then watches the header while [`Behaviour::Reattacher`] dies and comes back.
    ReattachKeeper = 62,
    /// Generation 0 attaches, grows, marks, reports [`Report::Ready`] and crashes;
    /// generation 1 attaches again and finds everything as it was.
    Reattacher = 63,
    /// Takes its whole quota, is refused more, reports [`Report::Ready`] and holds it
    /// until [`Behaviour::QuotaNeighbour`] raises [`RELEASE_FLAG`] in its object.
    QuotaHog = 64,
    /// Grows an object of its own while the hog holds its whole quota.
    QuotaNeighbour = 65,
    /// Creates [`KILL_OBJECT`], watches [`Behaviour::KillVictim`] grow and shrink it and
    /// reports [`Report::KillNow`] mid-loop; after the kill checks the object.
    KillKeeper = 66,
    /// Grows and shrinks [`KILL_OBJECT`] until it is killed.
    KillVictim = 67,
    /// Creates [`STUCK_OBJECT`], then grows, shrinks and maps into the watcher
    /// while dead, stopped and spinning peers are attached or gone.
    StuckOwner = 68,
    /// Attaches to [`STUCK_OBJECT`], reports [`Report::Ready`], then dies, stops
    /// itself or spins, as its parameter ([`STUCK_DEAD`] ...) says.
    StuckPeer = 69,
    /// Attaches to [`STUCK_OBJECT`], gives up one page, and checks each of the
    /// owner's steps.
    StuckWatcher = 70,
    /// Creates [`LATE_OBJECT`], reports [`Report::Ready`] after its first grow and
    /// keeps growing it a page at a time up to [`LATE_PAGES`] pages, writing
    /// [`late_value`] into each new page; then raises [`LATE_GROWN_AT`] and
    /// waits for [`LATE_DONE_AT`].
    LateOwner = 71,
    /// Spawned while the owner grows: attaches, and while the growing goes on
    /// touches the newest page the header names, which must be mapped already;
    /// at the end every page must hold its value.
    Latecomer = 72,
    /// Check the heap the description gave it ([`HEAP_BYTES`]): fill and
    /// sum a vector of [`HEAP_WORDS`] words, and be refused a reserve past
    /// the heap; report.
    Heap = 73,
    /// Start processes by name and wait for them, and be refused every
    /// start and wait the description does not allow (see
    /// `tests/suite/system.toml`: [`STARTER`] may start [`STARTED_CHILD`]
    /// and [`FAULTING_CHILD`], not [`FORBIDDEN_CHILD`]); report.
    Starter = 74,
    /// Fault at once, every incarnation, until restarted [`STORM_RESTARTS`]
    /// times (past the last generation of the first pid); then report and
    /// exit.
    Storm = 75,
    /// Create [`QNX_OBJECT`] and check `mmap_peer` / `munmap_peer` as QNX
    /// documents them on it (a length rounded up, a range with nothing
    /// mapped, an address outside the window, pid 0, the address a hint
    /// unless `MAP_FIXED`); report the address of its page 1; wait until a
    /// peer set the root to [`QNX_SIGNAL`] and left; destroy.
    QnxOwner = 76,
    /// Attach to [`QNX_OBJECT`] with `PROT_NONE`, check the rights, set the
    /// root to [`QNX_SIGNAL`], read page 1: a fault at its address.
    QnxNone = 77,
    /// Create [`EXHAUST_RELEASE`] (one page), report [`Report::Ready`];
    /// once the bystander says (by the root) it was served, print the memory manager's
    /// heap and slot peaks, then tell the hogs (by the root) to let go,
    /// count them attached, tell them to end, destroy it.
    ExhaustReleaser = 78,
    /// Create object `ex-g<param>` and grow it 4 KiB at a time until
    /// refused with `ENOMEM`; report [`Report::Ready`]; hold it until
    /// released, then destroy it.
    ExhaustGrower = 79,
    /// Create one-page objects `ex-c<param>-<n>` until refused with
    /// `ENOMEM`; report [`Report::Ready`]; hold them until released.
    ExhaustCreator = 80,
    /// Attach to the growers' objects, all mapped at once, until refused
    /// with `ENOMEM`; report [`Report::Ready`]; hold them until released.
    ExhaustAttacher = 81,
    /// Attach lazily to every grower's object and touch
    /// [`EXHAUST_TOUCHES`] pages of each (repaired); report
    /// [`Report::Ready`]; hold them until released.
    ExhaustLazy = 82,
    /// While every hog holds what it could get: [`EXHAUST_ROUNDS`] times
    /// create an object, grow it, detach, attach lazily and touch a page
    /// (a repair), destroy it, each of which must succeed; then set
    /// [`EXHAUST_RELEASE`]'s root. It runs above the hogs (which only
    /// hold what they got meanwhile).
    ExhaustBystander = 83,
    /// Create [`MUTEX_OBJECT`], report [`Report::Ready`]; once every worker
    /// but the victim is done and only it is left attached, take the lock
    /// itself and check the count is [`MUTEX_WORKERS`] ×
    /// [`MUTEX_INCREMENTS`] and that exactly one lock was taken over from a
    /// dead holder (by a worker, or by this last lock).
    MutexOwner = 84,
    /// Worker number `param`: [`MUTEX_INCREMENTS`] increments of the
    /// count under the shared mutex, counting a taken-over lock; then
    /// count itself done. Worker [`MUTEX_VICTIM`] then takes the lock once
    /// more, reports [`Report::KillNow`] and spins holding it until killed.
    MutexWorker = 85,
    /// Create [`SLICE_OBJECT`] ([`SLICE_FROM`] bytes), report
    /// [`Report::Ready`]; once the peer is attached grow it to
    /// [`SLICE_TO`], copy the byte and word patterns in across the old end
    /// with `write_from`, raise [`SLICE_FLAG`].
    SliceOwner = 86,
    /// Attached before the grow, read both patterns with `read_into` at
    /// once (no refresh), and be refused past the end, misaligned and in
    /// the header page.
    SlicePeer = 87,
    /// Create [`NOTIFY_OBJECT`], report [`Report::Ready`]; once every
    /// subscriber (the stuck one too) is ready, [`NOTIFY_ROUNDS`] times
    /// grow it a page and wait until each live subscriber has acknowledged
    /// its wake-up; then set the root and wait likewise.
    NotifyOwner = 88,
    /// Attach, subscribe, count itself ready; each round wait for the
    /// change (bounded) and check it shows the round's size, then
    /// acknowledge; last, the root.
    NotifySubscriber = 89,
    /// Attach, subscribe, count itself ready, and never wait: spin until
    /// killed.
    NotifyStuck = 90,
    /// Create [`SHOOTDOWN_OBJECT`] ([`SHOOTDOWN_SIZE`]), report the address
    /// of [`SHOOTDOWN_TARGET`]; then [`SHOOTDOWN_ROUNDS`] rounds: write the
    /// round's value there, publish the round, wait for its peer (reading
    /// the page, or in a lazy round only attached), shrink the page away,
    /// wait until that peer is gone, grow the page back. Last, raise
    /// [`SHOOTDOWN_DONE`].
    ShootdownOwner = 91,
    /// Incarnation `k` (restarted after each fault) serves round `k`:
    /// attach (lazily in odd rounds), wait for round `k`, and read the
    /// target word until the shrink makes the read fault; any other value
    /// than the round's (the freed frame's poison, zeros) fails. After
    /// [`SHOOTDOWN_DONE`]: detach and exit 0.
    ShootdownPeer = 92,
}

/// The shootdown test's object: header, control page, target page.
pub const SHOOTDOWN_OBJECT: &str = "shootdown";
/// Its size while the target page is there.
pub const SHOOTDOWN_SIZE: u64 = 3 * PAGE;
/// Its size after a shrink takes the target page.
pub const SHOOTDOWN_SHRUNK: u64 = 2 * PAGE;
/// The word the peer reads (in the target page).
pub const SHOOTDOWN_TARGET: u64 = 2 * PAGE + 512;
/// Rounds: each ends with one fault of the peer at the target.
pub const SHOOTDOWN_ROUNDS: u64 = 2000;
/// Control words (each round counted from 1, 0 being none yet): the round
/// published, the round whose peer attached, the round whose peer read its
/// value; then the peer's task word, the value a peer saw instead of its
/// round's, and the done flag.
pub const SHOOTDOWN_ROUND: u64 = PAGE;
/// See [`SHOOTDOWN_ROUND`].
pub const SHOOTDOWN_ATTACHED: u64 = PAGE + 64;
/// See [`SHOOTDOWN_ROUND`].
pub const SHOOTDOWN_SPINNING: u64 = PAGE + 128;
/// See [`SHOOTDOWN_ROUND`].
pub const SHOOTDOWN_PEER: u64 = PAGE + 192;
/// See [`SHOOTDOWN_ROUND`].
pub const SHOOTDOWN_BAD: u64 = PAGE + 256;
/// See [`SHOOTDOWN_ROUND`].
pub const SHOOTDOWN_DONE: u64 = PAGE + 320;

/// Whether round `round` attaches its peer lazily (the first touch of the
/// target is then a repair racing the shrink).
pub const fn shootdown_lazy(round: u64) -> bool {
    round % 2 == 1
}

/// The value round `round` puts at the target.
pub const fn shootdown_value(round: u64) -> u64 {
    0x5d00_0000_0000_0000 | round
}

/// The notification test's object; its ready counter at
/// [`NOTIFY_READY`], its acknowledgement counter at [`NOTIFY_ACKS`].
pub const NOTIFY_OBJECT: &str = "notify";
/// Its size before the first grow.
pub const NOTIFY_FROM: u64 = 2 * PAGE;
/// Grows, a page each.
pub const NOTIFY_ROUNDS: u64 = 20;
/// Subscribers that wait (the stuck one besides).
pub const NOTIFY_SUBSCRIBERS: u64 = 3;
/// Offset of the count of subscribers ready.
pub const NOTIFY_READY: u64 = PAGE;
/// Offset of the count of wake-ups acknowledged.
pub const NOTIFY_ACKS: u64 = PAGE + 64;
/// The root the owner sets last.
pub const NOTIFY_ROOT: u64 = PAGE + 128;

/// The shared-mutex test's object: the mutex over a `u64` count at
/// [`MUTEX_AT`], the takeover counter at [`MUTEX_RECOVERED`], the done
/// counter at [`MUTEX_DONE`].
pub const MUTEX_OBJECT: &str = "mutex";
/// Its size.
pub const MUTEX_SIZE: u64 = 2 * PAGE;
/// Offset of the mutex.
pub const MUTEX_AT: u64 = PAGE;
/// Offset of the count of locks taken over from a dead holder.
pub const MUTEX_RECOVERED: u64 = PAGE + 64;
/// Offset of the count of workers done.
pub const MUTEX_DONE: u64 = PAGE + 128;
/// Processes contending for the lock.
pub const MUTEX_WORKERS: u64 = 8;
/// Increments each makes.
pub const MUTEX_INCREMENTS: u64 = 10_000;
/// The worker that is killed holding the lock.
pub const MUTEX_VICTIM: u64 = 0;

/// The slice-copy test's object.
pub const SLICE_OBJECT: &str = "slices";
/// Its size before the grow.
pub const SLICE_FROM: u64 = 2 * PAGE;
/// Its size after.
pub const SLICE_TO: u64 = 24 * PAGE;
/// Where the byte pattern starts (before the old end, so it crosses it).
pub const SLICE_BYTES_AT: u64 = SLICE_FROM - 1000;
/// Bytes in it.
pub const SLICE_BYTES: u64 = 5 * PAGE + 123;
/// Where the word pattern starts (in the new pages).
pub const SLICE_WORDS_AT: u64 = 12 * PAGE;
/// Words in it.
pub const SLICE_WORDS: u64 = 1024;
/// The owner's flag: the patterns are in.
pub const SLICE_FLAG: u64 = PAGE;

/// Byte `i` of the slice test's byte pattern.
pub const fn slice_byte(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// Word `i` of the slice test's word pattern.
pub const fn slice_word(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

/// Processes that grow page by page, create objects, attach eagerly and
/// attach lazily in the exhaustion test.
pub const EXHAUST_GROWERS: u64 = 6;
/// See [`EXHAUST_GROWERS`].
pub const EXHAUST_CREATORS: u64 = 4;
/// See [`EXHAUST_GROWERS`].
pub const EXHAUST_ATTACHERS: u64 = 6;
/// See [`EXHAUST_GROWERS`].
pub const EXHAUST_LAZY: u64 = 6;
/// Pages each lazy attacher touches per object.
pub const EXHAUST_TOUCHES: u64 = 8;
/// The bystander's rounds.
pub const EXHAUST_ROUNDS: u64 = 1000;
/// The object whose root releases the hogs.
pub const EXHAUST_RELEASE: &str = "ex-release";

/// The object of the QNX-semantics test: header and two data pages.
pub const QNX_OBJECT: &str = "qnx";
/// Its size.
pub const QNX_SIZE: u64 = 3 * PAGE;
/// The root offset the `PROT_NONE` peer sets before it touches the object.
pub const QNX_SIGNAL: u64 = 2 * PAGE;

/// How often the restart-storm process is restarted: every generation of
/// its first pid, and one more (under a fresh pid).
pub const STORM_RESTARTS: u32 = (1 << libshm::protocol::GENERATION_BITS) + 1;

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Behaviour; 57] = [
        Behaviour::Ping,
        Behaviour::Crash,
        Behaviour::CapAbuse,
        Behaviour::Isolation,
        Behaviour::StaleCaller,
        Behaviour::Exit,
        Behaviour::Registered,
        Behaviour::GrowOwner,
        Behaviour::GrowPeer,
        Behaviour::ListBuilder,
        Behaviour::ListWalker,
        Behaviour::MmapOwner,
        Behaviour::MmapTarget,
        Behaviour::UnmapOwner,
        Behaviour::UnmapPeer,
        Behaviour::CsOwner,
        Behaviour::CsClient,
        Behaviour::GrowKeepsData,
        Behaviour::ShrinkOwner,
        Behaviour::ShrinkPeer,
        Behaviour::HostileCanary,
        Behaviour::Hostile,
        Behaviour::Soak,
        Behaviour::SoakCleanup,
        Behaviour::LazyOwner,
        Behaviour::LazyPeer,
        Behaviour::ReattachKeeper,
        Behaviour::Reattacher,
        Behaviour::QuotaHog,
        Behaviour::QuotaNeighbour,
        Behaviour::KillKeeper,
        Behaviour::KillVictim,
        Behaviour::StuckOwner,
        Behaviour::StuckPeer,
        Behaviour::StuckWatcher,
        Behaviour::LateOwner,
        Behaviour::Latecomer,
        Behaviour::Heap,
        Behaviour::Starter,
        Behaviour::Storm,
        Behaviour::QnxOwner,
        Behaviour::QnxNone,
        Behaviour::ExhaustReleaser,
        Behaviour::ExhaustGrower,
        Behaviour::ExhaustCreator,
        Behaviour::ExhaustAttacher,
        Behaviour::ExhaustLazy,
        Behaviour::ExhaustBystander,
        Behaviour::MutexOwner,
        Behaviour::MutexWorker,
        Behaviour::SliceOwner,
        Behaviour::SlicePeer,
        Behaviour::NotifyOwner,
        Behaviour::NotifySubscriber,
        Behaviour::NotifyStuck,
        Behaviour::ShootdownOwner,
        Behaviour::ShootdownPeer,
    ];

    /// The `arg` for this behaviour with no parameter.
    pub const fn arg(self) -> u64 {
        self as u64
    }

    /// The `arg` for this behaviour with `param` (an index or a pid).
    pub const fn with(self, param: u64) -> u64 {
        self as u64 | param << BEHAVIOUR_BITS
    }

    /// The behaviour an `arg` selects, if any.
    pub fn of(arg: u64) -> Option<Behaviour> {
        let code = arg & ((1 << BEHAVIOUR_BITS) - 1);
        Behaviour::ALL.into_iter().find(|b| *b as u64 == code)
    }
}

/// What a test process reports to the supervisor (besides soak steps,
/// [`soak_step`], which carry a tag no report has).
#[repr(u64)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A check failed.
    Fail = 0,
    /// Reported for "as expected".
    Pass = 1,
    /// Reported by an owner once its object exists and holds its data.
    Ready = 2,
    /// The keeper's report that the victim is mid-loop: kill it now.
    KillNow = 3,
}

impl Report {
    /// Every report.
    pub const ALL: [Report; 4] = [Report::Fail, Report::Pass, Report::Ready, Report::KillNow];

    /// The word reported.
    pub const fn value(self) -> u64 {
        self as u64
    }
}

/// Bits of `arg` that select the behaviour; the bits above carry a
/// parameter (an index or a pid) for the behaviours that take one.
pub const BEHAVIOUR_BITS: u32 = 16;

/// The parameter an `arg` carries.
pub const fn param(arg: u64) -> u64 {
    arg >> BEHAVIOUR_BITS
}

// Shared-memory behaviours. Owners report [`Report::Ready`] once their
// object exists, so the supervisor starts the others; everyone reports
// [`Report::Pass`] (or 0) at the end and exits, except where a fault is the point.
// Processes coordinate only through the object itself (flag words, the
// header's count of attached processes), never by messages to each other.

/// Object names, one per test (objects outlive their processes until
/// destroyed, so no two tests share one).
pub const GROW_OBJECT: &str = "shm-grow";
/// See [`Behaviour::ListBuilder`].
pub const LIST_OBJECT: &str = "shm-list";
/// Sizes [`KEEP_OBJECT`] grows to, in order.
pub const KEEP_SIZES: [u64; 3] =
    [3 * PAGE, libshm::layout::LARGE_PAGE_SIZE, 2 * libshm::layout::LARGE_PAGE_SIZE];
/// See [`Behaviour::MmapOwner`].
pub const MMAP_OBJECT: &str = "shm-mmap";
/// See [`Behaviour::UnmapOwner`].
pub const UNMAP_OBJECT: &str = "shm-unmap";
/// See [`Behaviour::UnmapOwner`].
pub const SHRINK_OBJECT: &str = "shm-shrink";
/// See [`Behaviour::CsOwner`].
pub const CS_OBJECT: &str = "shm-client-server";
/// See [`Behaviour::GrowKeepsData`].
pub const KEEP_OBJECT: &str = "shm-keep";
/// The process name (and so the memory manager alias) of the `mmap_peer`
/// target reached by alias.
pub const MMAP_ALIAS: &str = "shm-alias-target";

/// Peers that watch one grow.
pub const GROW_PEERS: u16 = 8;
/// Processes that walk the list.
pub const LIST_WALKERS: u16 = 4;
/// Peers that lose pages to `munmap_peer` or a shrink.
pub const UNMAP_PEERS: u16 = 3;

/// The page size, for the sizes below.
const PAGE: u64 = libshm::layout::PAGE_SIZE;

/// Size of the grow test's object before the grow: header and one data page.
pub const GROW_FROM: u64 = 2 * PAGE;
/// Its size after: the grow adds 510 pages of 4 KiB and one of 2 MiB, and
/// maps them into all 9 processes before it returns.
pub const GROW_TO: u64 = 2 * libshm::layout::LARGE_PAGE_SIZE;
/// Largest size of the objects that grow.
pub const GROW_MAX: u64 = 4 * libshm::layout::LARGE_PAGE_SIZE;
/// The grow test's flag word: in the first data page, there from the start.
pub const GROW_FLAG: u64 = PAGE;
/// The value of [`GROW_FLAG`] once the new pages hold their values.
pub const GROWN: u64 = 0x6772_6f77_6e21;
/// Flag word a waiting peer reads before it detaches (the others' signal
/// that they saw everyone attached), in the first data page.
pub const RELEASE_FLAG: u64 = PAGE + 8;
/// The value of [`RELEASE_FLAG`] once raised.
pub const RELEASED: u64 = 0x7265_6c65_6173_6564;
/// First word of the pattern: the second half of the first data page (the
/// first half holds flags and the list test's pool control block).
pub const PATTERN_FROM: u64 = PAGE + PAGE / 2;
/// One past the pattern's last word.
pub const PATTERN_END: u64 = 2 * PAGE;

/// The word written at `offset` before a grow.
pub const fn pattern(offset: u64) -> u64 {
    0x7061_7474_0000_0000 | offset
}

/// The word a grower writes at the start of new page `page` (page index).
pub const fn grow_value(page: u64) -> u64 {
    0x6e65_7770_0000_0000 | page
}

/// Where the list test's pool keeps its control block (first data page,
/// after the flags).
pub const POOL_CONTROL: u64 = PAGE + 64;
/// Nodes in the list.
pub const LIST_NODES: u64 = 1000;
/// Bytes per node: its value and the address of the next node.
pub const NODE_BYTES: u64 = 16;
/// Pools the list must span (4 KiB pools hold 255 nodes each).
pub const LIST_POOLS: u64 = 4;
/// The value of the node made `i`-th.
pub const fn node_value(i: u64) -> u64 {
    i * 3 + 1
}

/// The page of [`MMAP_OBJECT`] that is mapped into the targets.
pub const MMAP_OFFSET: u64 = PAGE;
/// Pages of [`MMAP_OBJECT`].
pub const MMAP_SIZE: u64 = 3 * PAGE;
/// The value at [`MMAP_OFFSET`].
pub const MMAP_VALUE: u64 = 0x6d6d_6170_7065_6572;
/// What the target mapped read-write writes at [`MMAP_ANSWER_AT`], for
/// the owner to find.
pub const MMAP_ANSWER: u64 = 0x616e_7377_6572;
/// See [`MMAP_ANSWER`].
pub const MMAP_ANSWER_AT: u64 = MMAP_OFFSET + 8;
/// Where the mapping owner releases its targets once it has seen them all
/// attached (in the mapped page, next to the answer).
pub const MMAP_RELEASE_AT: u64 = MMAP_OFFSET + 16;

/// Size of the unmap and shrink tests' objects.
pub const CUT_SIZE: u64 = 4 * PAGE;
/// The offset from which those tests remove pages (one page with
/// `munmap_peer`, everything from here on with a shrink).
pub const CUT_OFFSET: u64 = 2 * PAGE;
/// The value at [`CUT_OFFSET`] before the removal.
pub const CUT_VALUE: u64 = 0x6375_7400_0000_0001;
/// The word peer `index` of the unmap and shrink tests sets to [`SEEN`]
/// once it has read [`CUT_VALUE`] (first data page, after the flags).
pub const fn seen_flag(index: u64) -> u64 {
    PAGE + 16 + index * 8
}
/// See [`seen_flag`].
pub const SEEN: u64 = 0x7365_656e;

/// Size of [`CS_OBJECT`].
pub const CS_SIZE: u64 = 2 * PAGE;
/// The value its owner writes at [`PATTERN_FROM`].
pub const CS_VALUE: u64 = 0x6373_0000_0000_0001;

// Hostile-client behaviours. A canary owner keeps an object with
// known contents; a hostile client, never attached to it during the attack,
// sends every malformed request it can and checks each gets its error.

/// The canary owner's process name (and memory manager alias).
pub const CANARY_PROCESS: &str = "hostile-canary";
/// See [`Behaviour::HostileCanary`].
pub const CANARY_OBJECT: &str = "hostile-canary-object";
/// The hostile client's own object, where its range attacks aim.
pub const HOSTILE_OBJECT: &str = "hostile-own";
/// Size of [`CANARY_OBJECT`]: the header and two data pages.
pub const CANARY_SIZE: u64 = 3 * PAGE;
/// Its largest size (room for the owner's grow after the attack).
pub const CANARY_MAX: u64 = 8 * PAGE;
/// First word of its checked contents (the flags before it change).
pub const CANARY_DATA_FROM: u64 = PATTERN_FROM;
/// Its root offset, which no hostile request may change.
pub const CANARY_ROOT: u64 = CANARY_DATA_FROM;
/// Random undecodable messages the hostile client sends.
pub const GARBAGE_MESSAGES: u64 = 64;

/// The canary's word at `offset`.
pub const fn canary_word(offset: u64) -> u64 {
    0x6361_6e61_0000_0000 | offset
}

// Soak behaviours (`tests/suite/src/soak.rs`). Processes share
// [`SOAK_OBJECTS`] peer-mode objects named in [`SOAK_NAMES`]. Each object's
// first data page is its control page: a lock word ([`SOAK_LOCK`]), the
// published checksum ([`SOAK_SUM`]) and size ([`SOAK_LEN`]). Every access
// to the data pages, and every grow, shrink and remap, happens under the
// lock, so a checksum is never read half-written and a page is never
// removed under a reader.

/// Processes running at once.
pub const SOAK_PROCESSES: u64 = 16;
/// Operations the soak must run in all, at least.
pub const SOAK_OPERATIONS: u64 = 10_000;
/// Operations one incarnation of a soak process runs (a restarted one runs
/// them all again, so the total only grows).
pub const SOAK_OPS_PER_PROCESS: u64 = SOAK_OPERATIONS.div_ceil(SOAK_PROCESSES);
/// Processes killed and restarted on the way.
pub const SOAK_KILLS: u64 = 8;
/// Operations between kills, so the kills spread over the whole run.
pub const SOAK_KILL_INTERVAL: u64 = SOAK_OPERATIONS / (SOAK_KILLS + 1);
/// Bits of the soak parameter that hold the process number.
pub const SOAK_INCARNATION_SHIFT: u32 = 8;
/// See [`SOAK_INCARNATION_SHIFT`].
pub const SOAK_INDEX_MASK: u64 = (1 << SOAK_INCARNATION_SHIFT) - 1;

/// The soak parameter of process `index`, incarnation `incarnation`.
pub const fn soak_param(index: u64, incarnation: u64) -> u64 {
    index | incarnation << SOAK_INCARNATION_SHIFT
}

/// The xorshift seed of the incarnation a soak parameter names: fixed, so a
/// failure reproduces (never 0, which xorshift cannot leave).
pub const fn soak_seed(param: u64) -> u64 {
    (param + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Shared objects of the soak (few, so processes meet on each; 16
/// processes attached to all stay under the per-object attachment limit).
pub const SOAK_OBJECTS: usize = 4;
/// Their names.
pub const SOAK_NAMES: [&str; SOAK_OBJECTS] = ["soak-0", "soak-1", "soak-2", "soak-3"];
/// The smallest size: header, control page, one data page.
pub const SOAK_MIN_SIZE: u64 = 3 * PAGE;
/// The largest size.
pub const SOAK_MAX_SIZE: u64 = 8 * PAGE;
/// The lock word: 0 when free, else the holder's pid.
pub const SOAK_LOCK: u64 = PAGE;
/// The checksum of the data pages, as the last lock holder left them.
pub const SOAK_SUM: u64 = PAGE + 8;
/// The object's size as the last lock holder left it (0: not yet set).
pub const SOAK_LEN: u64 = PAGE + 16;
/// Where the checksummed data starts.
pub const SOAK_DATA_FROM: u64 = 2 * PAGE;
/// Words checksummed per data page, evenly spaced (checking every word of
/// every page after every step would not fit the time bound under TCG).
pub const SOAK_SLOTS_PER_PAGE: u64 = 8;
/// Bytes between checksummed words.
pub const SOAK_SLOT_STRIDE: u64 = PAGE / SOAK_SLOTS_PER_PAGE;

/// The marker of a soak step report: operation `kind` done and every
/// attached object verified.
pub const fn soak_step(kind: u64) -> u64 {
    SOAK_STEP_TAG | kind
}
/// See [`soak_step`].
pub const SOAK_STEP_TAG: u64 = 0x736f_616b_0000_0000;
/// Whether a report is a soak step.
pub const fn is_soak_step(value: u64) -> bool {
    value & !SOAK_KIND_MASK == SOAK_STEP_TAG
}
/// Bits of a step report that say which operation ran.
pub const SOAK_KIND_MASK: u64 = 0xff;
/// The operations a step reports, by their number in [`soak_step`].
pub const SOAK_KINDS: [&str; 9] =
    ["attach", "create", "grow", "shrink", "mmap_peer", "munmap_peer", "detach", "write", "verify"];

// Recovery behaviours (`tests/suite/src/recovery.rs`): lazy
// repair of the shared window, restart and reattach, per-process quotas.

/// The object of the lazy-repair test.
pub const LAZY_OBJECT: &str = "rec-lazy";
/// Two 2 MiB chunks: 4 KiB pages, then one 2 MiB frame.
pub const LAZY_SIZE: u64 = 2 * libshm::layout::LARGE_PAGE_SIZE;
/// Offsets the lazy peer reads: two 4 KiB pages and the 2 MiB frame.
pub const LAZY_READS: [u64; 3] = [PAGE + 8, 3 * PAGE, libshm::layout::LARGE_PAGE_SIZE + 8];
/// Where the lazy peer writes (a page it has not touched before).
pub const LAZY_WRITE_AT: u64 = 5 * PAGE;
/// Faults the lazy peer takes: one per page first touched.
pub const LAZY_REPAIRS: u64 = LAZY_READS.len() as u64 + 1;
/// The word the lazy owner writes at `offset`.
pub const fn lazy_value(offset: u64) -> u64 {
    0x6c61_7a79_0000_0000 | offset
}

/// The object of the reattach test.
pub const REATTACH_OBJECT: &str = "rec-reattach";
/// Its size when the keeper creates it.
pub const REATTACH_FROM: u64 = 3 * PAGE;
/// Generation 0 grows to this, so the reattach must bring a 2 MiB frame back.
pub const REATTACH_TO: u64 = 2 * libshm::layout::LARGE_PAGE_SIZE;
/// Its largest size.
pub const REATTACH_MAX: u64 = 4 * libshm::layout::LARGE_PAGE_SIZE;
/// The root of the keeper's data structure (one word).
pub const REATTACH_ROOT: u64 = 2 * PAGE;
/// The word at the root.
pub const REATTACH_ROOT_VALUE: u64 = 0x726f_6f74_0000_0001;
/// Where generation 0 leaves its mark: inside the 2 MiB frame it grew.
pub const REATTACH_MARK_AT: u64 = libshm::layout::LARGE_PAGE_SIZE + 16;
/// Where the keeper says which generation it has seen in the header
/// ([`reattach_seen`]): each waits for that before it goes.
pub const REATTACH_SEEN_AT: u64 = PAGE;
/// The keeper has seen `generation` of the reattacher in the header.
pub const fn reattach_seen(generation: u16) -> u64 {
    SEEN | (generation as u64) << 32
}
/// Generation 0's mark.
pub const REATTACH_MARK: u64 = 0x6d61_726b_0000_0001;

/// The hog's object.
pub const QUOTA_OBJECT: &str = "rec-quota-hog";
/// The neighbour's object (and the name of the create the hog is refused).
pub const QUOTA_NEIGHBOUR_OBJECT: &str = "rec-quota-neighbour";
/// The neighbour grows by two 2 MiB frames.
pub const QUOTA_NEIGHBOUR_SIZE: u64 = 2 * libshm::layout::LARGE_PAGE_SIZE;
/// What the neighbour writes into its grown memory.
pub const QUOTA_VALUE: u64 = 0x7175_6f74_6100_0001;

/// The object of the kill test.
pub const KILL_OBJECT: &str = "rec-kill";
/// Its size between the victim's grows.
pub const KILL_FROM: u64 = 2 * PAGE;
/// Its size after a grow.
pub const KILL_TO: u64 = 8 * PAGE;
/// Its largest size.
pub const KILL_MAX: u64 = libshm::layout::LARGE_PAGE_SIZE;
/// The victim's count of requests done.
pub const KILL_COUNT_AT: u64 = PAGE;
/// Requests the victim completes before the keeper asks for the kill.
pub const KILL_AFTER: u64 = 16;
/// Most grow-shrink rounds the victim makes if nobody kills it.
pub const KILL_ROUNDS: u64 = 100_000;
/// The keeper's data, which must survive the kill.
pub const KILL_VALUE_AT: u64 = PAGE + 8;
/// See [`KILL_VALUE_AT`].
pub const KILL_VALUE: u64 = 0x6b69_6c6c_0000_0001;

/// The object of the stuck-peers test.
pub const STUCK_OBJECT: &str = "rec-stuck";
/// The watcher's name, an alias the owner maps into.
pub const STUCK_WATCHER_NAME: &str = "rec-stuck-watcher";
/// Its size when created.
pub const STUCK_FROM: u64 = 3 * PAGE;
/// After the grow (adds a 2 MiB frame).
pub const STUCK_TO: u64 = 2 * libshm::layout::LARGE_PAGE_SIZE;
/// After the shrink (the 2 MiB frame goes).
pub const STUCK_SHRUNK: u64 = libshm::layout::LARGE_PAGE_SIZE;
/// Its largest size.
pub const STUCK_MAX: u64 = 4 * libshm::layout::LARGE_PAGE_SIZE;
/// The owner's step: 1 grown, 2 shrunk, 3 mapped.
pub const STUCK_STEP_AT: u64 = PAGE;
/// The watcher's acknowledgement: the number of the step it checked, plus 1.
pub const STUCK_ACK_AT: u64 = PAGE + 8;
/// The page the watcher gives up and the owner maps back with `mmap_peer`.
pub const STUCK_MAP_OFFSET: u64 = 2 * PAGE;
/// The word on that page.
pub const STUCK_VALUE: u64 = 0x7374_7563_6b00_0001;
/// A stuck peer that dies (crashes with the object attached).
pub const STUCK_DEAD: u64 = 0;
/// A stuck peer that stops itself (suspends its own thread).
pub const STUCK_STOPPED: u64 = 1;
/// A stuck peer that spins at the apps' priority and never calls again.
pub const STUCK_SPINNER: u64 = 2;

/// The object of the spawned-during-a-grow test.
pub const LATE_OBJECT: &str = "rec-late";
/// How many pages it ends with.
pub const LATE_PAGES: u64 = 48;
/// The owner has finished growing (a flag word).
pub const LATE_GROWN_AT: u64 = PAGE;
/// The latecomer has checked every page (a flag word).
pub const LATE_DONE_AT: u64 = PAGE + 8;
/// The word the owner writes at the start of page `n` (from page 2 on).
pub const fn late_value(page: u64) -> u64 {
    0x6c61_7465_0000_0000 | page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_behaviour_round_trips_and_codes_are_distinct() {
        for (i, b) in Behaviour::ALL.iter().enumerate() {
            assert_eq!(Behaviour::of(b.arg()), Some(*b));
            assert_eq!(Behaviour::of(b.with(7)), Some(*b));
            assert_eq!(param(b.with(7)), 7);
            assert!(Behaviour::ALL[..i].iter().all(|a| a.arg() != b.arg()), "{b:?} repeats a code");
        }
    }

    #[test]
    fn reports_are_distinct_and_no_soak_step() {
        for (i, r) in Report::ALL.iter().enumerate() {
            assert!(Report::ALL[..i].iter().all(|a| a.value() != r.value()), "{r:?} repeats a value");
            assert!(!is_soak_step(r.value()));
        }
        assert!((0..SOAK_KINDS.len() as u64).all(|k| is_soak_step(soak_step(k))));
    }
}
