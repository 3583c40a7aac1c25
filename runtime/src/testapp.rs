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

/// Bits of `arg` that select the behaviour; the bits above carry a
/// parameter (an index or a pid) for the behaviours that take one.
pub const BEHAVIOUR_BITS: u32 = 16;

/// The `arg` for `behaviour` with `param`.
pub const fn with_param(behaviour: u64, param: u64) -> u64 {
    behaviour | param << BEHAVIOUR_BITS
}

/// The behaviour an `arg` selects.
pub const fn behaviour(arg: u64) -> u64 {
    arg & ((1 << BEHAVIOUR_BITS) - 1)
}

/// The parameter an `arg` carries.
pub const fn param(arg: u64) -> u64 {
    arg >> BEHAVIOUR_BITS
}

// Shared-memory behaviours (issue 4). Owners report [`READY`] once their
// object exists, so the supervisor starts the others; everyone reports
// [`PASS`] (or 0) at the end and exits, except where a fault is the point.
// Processes coordinate only through the object itself (flag words, the
// header's count of attached processes), never by messages to each other.

/// Reported by an owner once its object exists and holds its data.
pub const READY: u64 = 2;

/// Create [`GROW_OBJECT`], fill [`pattern`] into its first data page, report
/// `READY`; wait (header) until [`GROW_PEERS`] peers are attached, grow to
/// [`GROW_TO`], write [`grow_value`] into every new page, raise
/// [`GROW_FLAG`]; wait until the peers left, check everything, destroy.
pub const GROW_OWNER: u64 = 7;
/// Open [`GROW_OBJECT`], wait for [`GROW_FLAG`] (no message), read the new
/// size from the header and every new page's [`grow_value`], check the
/// pattern written before the grow, detach.
pub const GROW_PEER: u64 = 8;
/// Create [`LIST_OBJECT`] with a pool at [`POOL_CONTROL`], build a list of
/// [`LIST_NODES`] nodes through shared pointers (it spans [`LIST_POOLS`]
/// pools), set the root, report `READY`; wait until [`LIST_WALKERS`] are
/// attached, raise [`RELEASE_FLAG`], wait until they left, destroy.
pub const LIST_BUILDER: u64 = 9;
/// Open [`LIST_OBJECT`] read-only, walk the list from the root, check count,
/// sum and pool count; wait for [`RELEASE_FLAG`], detach.
pub const LIST_WALKER: u64 = 10;
/// Create [`MMAP_OBJECT`], map its page [`MMAP_OFFSET`] read-write into the
/// pid in the parameter and read-only into alias [`MMAP_ALIAS`] with
/// `mmap_peer` (a wrong address and an unknown alias refused); wait until
/// both left, find [`MMAP_ANSWER`], destroy.
pub const MMAP_OWNER: u64 = 11;
/// Wait until someone maps [`MMAP_OBJECT`] into us, check the value at
/// [`MMAP_OFFSET`] and our rights (the parameter: the expected `Prot` bits),
/// write [`MMAP_ANSWER`] if writable, detach.
pub const MMAP_TARGET: u64 = 12;
/// Create [`UNMAP_OBJECT`], write [`CUT_VALUE`] at [`CUT_OFFSET`], report
/// the address of that page (the ready signal, and where the peers will
/// fault); once [`UNMAP_PEERS`] peers have seen the page ([`seen_flag`]),
/// take it from each of them with `munmap_peer` by pid (keeping its own),
/// raise [`RELEASE_FLAG`]; wait until they are gone, destroy.
pub const UNMAP_OWNER: u64 = 13;
/// Open [`UNMAP_OBJECT`] as peer number `param`, check the page at
/// [`CUT_OFFSET`], raise its [`seen_flag`], wait for
/// [`RELEASE_FLAG`], touch the page again: a fault at its address (reported
/// 0 if the touch returns).
pub const UNMAP_PEER: u64 = 14;
/// As [`UNMAP_OWNER`] on [`SHRINK_OBJECT`], removing everything from
/// [`CUT_OFFSET`] on with a shrink.
pub const SHRINK_OWNER: u64 = 18;
/// As [`UNMAP_PEER`] on [`SHRINK_OBJECT`].
pub const SHRINK_PEER: u64 = 19;
/// Create [`CS_OBJECT`] in client-server mode (clients read-only), report
/// `READY`; once the client is attached raise [`RELEASE_FLAG`]; wait until
/// it left, check nothing changed, destroy.
pub const CS_OWNER: u64 = 15;
/// Open [`CS_OBJECT`]: read-write is refused, read-only works; grow,
/// shrink, set-root, destroy, `mmap_peer` and `munmap_peer` into the owner
/// are refused with `NotOwner`; wait for [`RELEASE_FLAG`], detach.
pub const CS_CLIENT: u64 = 16;
/// Create [`KEEP_OBJECT`], fill its first data page with [`pattern`], grow it
/// to each of [`KEEP_SIZES`] (the last grow adds a 2 MiB page), mark each
/// grow's first and last new word, and check all of it after every grow.
pub const GROW_KEEPS_DATA: u64 = 17;

/// Object names, one per test (objects outlive their processes until
/// destroyed, so no two tests share one).
pub const GROW_OBJECT: &str = "shm-grow";
/// See [`LIST_BUILDER`].
pub const LIST_OBJECT: &str = "shm-list";
/// Sizes [`KEEP_OBJECT`] grows to, in order.
pub const KEEP_SIZES: [u64; 3] =
    [3 * PAGE, libshm::layout::LARGE_PAGE_SIZE, 2 * libshm::layout::LARGE_PAGE_SIZE];
/// See [`MMAP_OWNER`].
pub const MMAP_OBJECT: &str = "shm-mmap";
/// See [`UNMAP_OWNER`].
pub const UNMAP_OBJECT: &str = "shm-unmap";
/// See [`UNMAP_OWNER`].
pub const SHRINK_OBJECT: &str = "shm-shrink";
/// See [`CS_OWNER`].
pub const CS_OBJECT: &str = "shm-client-server";
/// See [`GROW_KEEPS_DATA`].
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

// Hostile-client behaviours (issue 5). A canary owner keeps an object with
// known contents; a hostile client, never attached to it during the attack,
// sends every malformed request it can and checks each gets its error.

/// Create [`CANARY_OBJECT`] (client-server, clients read-only), fill
/// `[CANARY_DATA_FROM, CANARY_SIZE)` with [`canary_word`], set the root to
/// [`CANARY_ROOT`], report `READY`; ask the server for the object's state
/// while waiting (it must keep answering) until the hostile client attaches
/// (its "done"); check the contents, grow once and ping the supervisor (both
/// still serve), raise [`RELEASE_FLAG`], wait until it left, check, destroy.
pub const HOSTILE_CANARY: u64 = 20;
/// Send every malformed request of the issue and [`GARBAGE_MESSAGES`]
/// random undecodable ones to the memory manager, each of which must get
/// exactly its error; then attach to [`CANARY_OBJECT`] read-only, check its
/// contents, wait for [`RELEASE_FLAG`], detach. Reports how many hostile
/// requests were refused as expected, or 0 at the first that was not.
pub const HOSTILE: u64 = 21;

/// The canary owner's process name (and memory manager alias).
pub const CANARY_PROCESS: &str = "hostile-canary";
/// See [`HOSTILE_CANARY`].
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
