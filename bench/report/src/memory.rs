//! The memory the memory manager uses per process, per object, per peer
//! and per mapped page: measured by running its own decision code
//! ([`vmm_server::Server`], the code the target runs) over the fake kernel
//! on the host, in the benchmark's geometry (an object of `BASE` bytes,
//! peers attached read-only, a grow by 512 pages), and counting
//!
//! - the bytes its heap holds (the binary's counting allocator, with every
//!   allocation the fake kernel makes for its own records left out),
//! - the paging structures it allocates (untyped memory the fake kernel
//!   hands out, less the frames),
//! - the cap slots it holds, 32 bytes each (`seL4_SlotBits` = 5 on 64-bit),
//! - on target, the kernel layer also records each frame copy
//!   ([`vmm_server::untyped::Copies`]), measured the same way.

use libshm::layout::PAGE_SIZE;
use libshm::protocol::{Badge, Error, Mode, Name, ObjectInfo, Prot, Reply, Request, TaskId};
use stats_alloc::INSTRUMENTED_SYSTEM;
use std::cell::Cell;
use std::fmt::Write;
use vmm_server::fake::{FakeCap, FakeKernel};
use vmm_server::untyped::Copies;
use vmm_server::{Kernel, KernelError, ObjectKind, Server};

thread_local! {
    /// Heap bytes the fake kernel took: its own records are not the server's.
    static KERNEL_BYTES: Cell<i64> = const { Cell::new(0) };
}

/// Heap bytes in use, as the instrumented global allocator counts them
/// (`main.rs` installs it; without it this stays 0).
fn heap_in_use() -> i64 {
    let s = INSTRUMENTED_SYSTEM.stats();
    // stats_alloc adds a realloc's growth to bytes_allocated (a shrink to
    // bytes_deallocated) and records it in bytes_reallocated as well: counting
    // that too would count every grown vector's growth twice.
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// Heap bytes the server holds: all in use, less the fake kernel's.
fn server_heap() -> i64 {
    heap_in_use() - KERNEL_BYTES.with(Cell::get)
}

/// The fake kernel, with its own heap use left out of the count.
struct Metered(FakeKernel);

fn kernel<T>(f: impl FnOnce() -> T) -> T {
    let before = heap_in_use();
    let r = f();
    let taken = heap_in_use() - before;
    KERNEL_BYTES.with(|k| k.set(k.get() + taken));
    r
}

impl Kernel for Metered {
    type Cap = FakeCap;
    fn alloc(&mut self, kind: ObjectKind) -> Result<FakeCap, KernelError> {
        kernel(|| self.0.alloc(kind))
    }
    fn free(&mut self, cap: FakeCap) {
        kernel(|| self.0.free(cap))
    }
    fn map_table(
        &mut self,
        table: FakeCap,
        level: libshm::layout::TableLevel,
        vspace: FakeCap,
        vaddr: u64,
    ) -> Result<(), KernelError> {
        kernel(|| self.0.map_table(table, level, vspace, vaddr))
    }
    fn copy(&mut self, frame: FakeCap) -> Result<FakeCap, KernelError> {
        kernel(|| self.0.copy(frame))
    }
    fn map_frame(
        &mut self,
        frame: FakeCap,
        vspace: FakeCap,
        vaddr: u64,
        rights: Prot,
    ) -> Result<(), KernelError> {
        kernel(|| self.0.map_frame(frame, vspace, vaddr, rights))
    }
    fn delete(&mut self, cap: FakeCap) {
        kernel(|| self.0.delete(cap))
    }
    fn signal(&mut self, cap: FakeCap) {
        kernel(|| self.0.signal(cap))
    }
    fn revoke(&mut self, frame: FakeCap) {
        kernel(|| self.0.revoke(frame))
    }
    fn write_frame(&mut self, frame: FakeCap, offset: u64, bytes: &[u8]) {
        kernel(|| self.0.write_frame(frame, offset, bytes))
    }
}

/// Bytes of one cap slot (`seL4_SlotBits` = 5 on both 64-bit arches).
const SLOT_BYTES: i64 = 32;
/// The benchmark's sizes (see `bench_contract`).
const BASE: u64 = 2 * PAGE_SIZE;
const GROW_PAGES: u64 = 512;
const PEERS: u16 = 64;
/// What a mapping record holds more on target (an 8-byte slot number
/// where the fake kernel's cap is 4 bytes).
const TARGET_CAP_EXTRA: i64 = 8;
/// Untyped memory for the fake kernel: ample.
const FAKE_MEMORY: u64 = 1 << 30;

/// What one step cost the server.
struct Cost {
    heap: i64,
    tables: i64,
    slots: i64,
}

struct Meter<'a> {
    heap: &'a dyn Fn() -> i64,
    server: Server<Metered>,
}

impl Meter<'_> {
    fn frames_and_tables(&self) -> i64 {
        FAKE_MEMORY as i64 - self.server.kernel().0.free_bytes() as i64
    }

    /// Runs `step`, which allocates `frame_bytes` of frames and holds
    /// `slots` more caps; returns what else it cost.
    fn cost(&mut self, frame_bytes: i64, slots: i64, step: impl FnOnce(&mut Server<Metered>)) -> Cost {
        let (heap, mem) = ((self.heap)(), self.frames_and_tables());
        step(&mut self.server);
        Cost { heap: (self.heap)() - heap, tables: self.frames_and_tables() - mem - frame_bytes, slots }
    }
}

fn task(pid: u16) -> TaskId {
    TaskId::new(pid, 0).expect("generation 0 is valid")
}

fn ok(r: Result<Reply, Error>) -> Reply {
    match r {
        Ok(reply) => reply,
        Err(e) => panic!("the server refused a benchmark step: {e:?}"),
    }
}

/// The Markdown section, measured with the instrumented allocator.
pub fn report() -> String {
    let heap: &dyn Fn() -> i64 = &server_heap;
    let mut k = FakeKernel::new(FAKE_MEMORY);
    let vspaces: Vec<FakeCap> = (0..=PEERS).map(|_| k.new_vspace()).collect();
    let mut m = Meter { heap, server: Server::new(Metered(k)) };
    let sup = Badge::Supervisor.encode();
    let me = |pid| Badge::Process(task(pid)).encode();
    let owner = 1;

    let register = |s: &mut Server<Metered>, pid: u16| {
        let r = s.handle(
            sup,
            Request::RegisterProcess {
                task: task(pid),
                alias: None,
                budget: libshm::protocol::Budget::DEFAULT,
            },
            Some(vspaces[usize::from(pid) - 1]),
        );
        ok(r);
    };
    let process = m.cost(0, 1, |s| register(s, owner));
    for pid in 2..=PEERS + 1 {
        register(&mut m.server, pid);
    }

    let mut info = None;
    let create = Request::Create {
        name: Name::new("bench").expect("a valid name"),
        mode: Mode::Peer,
        size: BASE,
        max_size: 4 << 20,
        client_prot: Prot::ReadWrite,
    };
    let frames = (BASE / PAGE_SIZE) as i64;
    let object = m.cost(BASE as i64, frames, |s| {
        if let Reply::Create(i) = ok(s.handle(me(owner), create, None)) {
            info = Some(i);
        }
    });
    let ObjectInfo { id, .. } = info.expect("the object was created");
    let attach = |prot| Request::Attach { object: id, prot };
    let owner_attach = m.cost(0, frames, |s| {
        ok(s.handle(me(owner), attach(Prot::ReadWrite), None));
    });
    let peer = m.cost(0, frames, |s| {
        ok(s.handle(me(2), attach(Prot::Read), None));
    });
    for pid in 3..=PEERS + 1 {
        ok(m.server.handle(me(pid), attach(Prot::Read), None));
    }
    let mappings = i64::from(PEERS + 1) * GROW_PAGES as i64;
    let new_size = BASE + GROW_PAGES * PAGE_SIZE;
    let grow = m.cost((GROW_PAGES * PAGE_SIZE) as i64, GROW_PAGES as i64 + mappings, |s| {
        ok(s.handle(me(owner), Request::Grow { object: id, new_size }, None));
    });

    // The on-target kernel layer's record of each frame copy.
    let before = heap();
    let mut copies = Copies::default();
    let n = mappings as u64;
    // Slots are handed out densely: the originals' first, the copies' next.
    let originals = n / u64::from(PEERS + 1);
    (0..n).for_each(|c| copies.add(c / u64::from(PEERS + 1), originals + c).expect("the host has heap"));
    let per_copy = (heap() - before) / mappings;

    let mut out = String::from(
        "\n## Memory the memory manager uses\n\n\
         Measured on the host by running the server's own code over the fake kernel \
         (`bench/report/src/memory.rs`): heap bytes its tables hold, paging \
         structures it allocates in the processes' VSpaces, cap slots it holds \
         (32 bytes each). Frames themselves are not counted. The fake kernel's \
         caps are 4 bytes where the target's are 8-byte slots, so on target a \
         mapping's record is 8 bytes more than shown.\n\n\
         | what | heap bytes | paging structures (bytes) | cap slots |\n|---|---:|---:|---:|\n",
    );
    let mut row = |what: &str, c: &Cost, per: i64| {
        let per = per.max(1);
        writeln!(out, "| {what} | {} | {} | {} |", c.heap / per, c.tables / per, c.slots / per).unwrap();
    };
    row("a registered process", &process, 1);
    row("an object of 2 pages (its record, its frames' caps)", &object, 1);
    row("the owner attaching to it", &owner_attach, 1);
    row("each peer attaching to it (first object in its VSpace)", &peer, 1);
    row("each page of a 512-page grow, per process (65 processes)", &grow, mappings);
    writeln!(
        out,
        "| on target, the kernel layer's record of each frame copy | {per_copy} | 0 | 0 |\n\n\
         So one peer of the benchmark's object costs the server about {} bytes to attach \
         (paging structures {} bytes, one page directory and one page table) and about {} \
         bytes for each 4 KiB page mapped into it (heap, kernel-layer record and a cap slot), \
         plus a page table (4 KiB) for each 2 MiB of object it has mapped.",
        peer.heap + peer.tables + peer.slots * SLOT_BYTES,
        peer.tables,
        grow.heap / mappings + TARGET_CAP_EXTRA + per_copy + SLOT_BYTES,
    )
    .unwrap();
    let per_page = grow.heap / mappings + TARGET_CAP_EXTRA + per_copy;
    let verdict = if per_page <= PER_PAGE_TARGET { "met" } else { "missed" };
    writeln!(
        out,
        "\n\ntarget: the server's memory per 4 KiB page mapped into a peer (heap and records, the cap \
         slot aside): {per_page} bytes (<= {PER_PAGE_TARGET}): {verdict}"
    )
    .unwrap();
    out
}

/// The most heap and records a page mapped into a peer should cost.
pub const PER_PAGE_TARGET: i64 = 64;
