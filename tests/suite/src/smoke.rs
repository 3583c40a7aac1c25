//! The on-target smoke suite: each check asks the real kernel for
//! something and fails when the kernel says no (or says yes where it must
//! say no).

use crate::harness::{ensure, expect_err, Check, Context, Test};
use core::sync::atomic::{AtomicU64, Ordering};
use root_task::objects::Objects;
use root_task::rt::Stack;
use root_task::thread::{self, THREAD_STACK_SIZE};
use sel4::cap_type::*;
use sel4::{CPtr, Cap, CapRights, Error, FaultType, MessageInfo, ObjectType};

/// A fresh address in the root task's VSpace: the second 512 GiB, where no
/// paging structure exists yet at any level.
const SCRATCH: usize = 0x80_0000_0000;
/// A page that a thread touches after it is unmapped. Below 4 GiB: seL4
/// 5.0's x86 `handleVMFault` keeps the fault address in a `uint32_t`.
const FAULT_PAGE: usize = 0xc000_0000;
/// Where extra threads' IPC buffers go.
const THREAD_IPC: usize = 0x3100_0000;
const LARGE_PAGE: usize = 1 << sel4::LARGE_PAGE_BITS;
const PAGE: usize = 1 << sel4::PAGE_BITS;

static STACK_A: Stack<THREAD_STACK_SIZE> = Stack::new();
static STACK_B: Stack<THREAD_STACK_SIZE> = Stack::new();

/// The kernel smoke tests.
pub const TESTS: [Test; 5] = [
    ("retype one object of every type", |env| retype_every_type(&mut env.objs)),
    ("copy, mint, move, mutate, revoke and delete caps", |env| cap_operations(&mut env.objs)),
    ("map 4 KiB and 2 MiB frames, unmap, fault arrives as a message", |env| paging_and_faults(&mut env.objs)),
    ("Call/ReplyRecv with message registers, a badge and a cap", |env| ipc_between_threads(&mut env.objs)),
    ("bad invocations return the kernel's error", |env| bad_invocations(&mut env.objs)),
];

fn retype_every_type(objs: &mut Objects) -> Check {
    objs.alloc::<Tcb>().ctx("TCB")?;
    objs.alloc::<Endpoint>().ctx("endpoint")?;
    objs.alloc::<Notification>().ctx("notification")?;
    objs.alloc_cnode(4).ctx("CNode")?;
    objs.alloc::<VSpace>().ctx("VSpace root")?;
    objs.alloc::<PageUpperDirectory>().ctx("upper directory")?;
    objs.alloc::<PageDirectory>().ctx("page directory")?;
    objs.alloc::<PageTable>().ctx("page table")?;
    objs.alloc::<Granule>().ctx("4 KiB frame")?;
    objs.alloc::<LargePage>().ctx("2 MiB frame")?;
    objs.alloc_raw(ObjectType::Untyped, sel4::PAGE_BITS).ctx("untyped")?;
    Ok(())
}

fn cap_operations(objs: &mut Objects) -> Check {
    let cnode = objs.cnode;
    let ntfn = objs.alloc::<Notification>().ctx("notification")?;
    let (a, b, c, d) = (
        objs.slot().ctx("slot")?,
        objs.slot().ctx("slot")?,
        objs.slot().ctx("slot")?,
        objs.slot().ctx("slot")?,
    );
    let original = cnode.slot(ntfn.cptr());

    cnode.slot(a).copy(original, CapRights::ALL).ctx("copy")?;
    cnode.slot(b).mint(original, CapRights::ALL, sel4::badge_cap_data(0x5)).ctx("mint with badge")?;
    cnode.slot(c).move_from(cnode.slot(b)).ctx("move")?;
    // The minted badge travels with the move: a signal through it sets 0x5.
    sel4::signal(c);
    ensure(sel4::nb_recv(ntfn.cptr()).1 == 0x5, "badge after move")?;
    expect_err(
        cnode.slot(d).copy(cnode.slot(b), CapRights::ALL),
        Error::FailedLookup,
        "moved-from slot is empty",
    )?;
    // Revoking the original removes every copy derived from it.
    original.revoke().ctx("revoke")?;
    expect_err(
        cnode.slot(a).copy(cnode.slot(c), CapRights::ALL),
        Error::FailedLookup,
        "copy survives revoke",
    )?;
    original.delete().ctx("delete")?;
    expect_err(cnode.slot(a).copy(original, CapRights::ALL), Error::FailedLookup, "deleted slot is empty")?;

    // Mutate sets a CNode's guard: with a 4-bit CNode, a guard of the other
    // word bits lets a full-word cptr resolve through it.
    const CNODE_BITS: usize = 4;
    let small = objs.alloc_cnode(CNODE_BITS).ctx("CNode")?;
    cnode.slot(d).copy(cnode.slot(small.cptr()), CapRights::ALL).ctx("copy CNode")?;
    let nested = Cap::<CNode>::from_cptr(d);
    let guard = sel4::guard_cap_data(0, (sel4::WORD_BITS - CNODE_BITS) as u64);
    let source = objs.alloc::<Endpoint>().ctx("endpoint")?;
    expect_err(
        nested.slot(1).copy(cnode.slot(source.cptr()), CapRights::ALL),
        Error::FailedLookup,
        "unguarded CNode resolves a word",
    )?;
    cnode.slot(c).mutate(cnode.slot(d), guard).ctx("mutate guard")?;
    Cap::<CNode>::from_cptr(c)
        .slot(1)
        .copy(cnode.slot(source.cptr()), CapRights::ALL)
        .ctx("copy through guarded CNode")
}

/// The fault thread's last words, set by the root task before it starts.
static FAULT_ADDRESS: AtomicU64 = AtomicU64::new(0);

extern "C" fn touch_and_fault(ipc_buffer: u64, _arg: u64) -> ! {
    thread::init(ipc_buffer);
    let addr = FAULT_ADDRESS.load(Ordering::SeqCst) as usize;
    // SAFETY: deliberately touching an address that was unmapped: the kernel
    // turns it into a fault message, and this thread never runs again.
    let _ = unsafe { core::ptr::read_volatile(addr as *const u64) };
    loop {
        sel4::yield_now();
    }
}

/// Write then read back a pattern at `addr`.
fn write_read(addr: usize, pattern: u64) -> bool {
    // SAFETY: the caller just mapped a read-write frame at `addr`.
    unsafe {
        core::ptr::write_volatile(addr as *mut u64, pattern);
        core::ptr::read_volatile(addr as *const u64) == pattern
    }
}

fn paging_and_faults(objs: &mut Objects) -> Check {
    let vspace = objs.vspace;
    let small = objs.alloc::<Granule>().ctx("4 KiB frame")?;
    let large = objs.alloc::<LargePage>().ctx("2 MiB frame")?;
    // A fresh 512 GiB range: upper directory, directory and table are all new.
    objs.map_frame(vspace, small, SCRATCH, CapRights::READ_WRITE).ctx("map 4 KiB frame")?;
    objs.map_frame(vspace, large, SCRATCH + LARGE_PAGE, CapRights::READ_WRITE).ctx("map 2 MiB frame")?;
    ensure(write_read(SCRATCH, 0x1122_3344_5566_7788), "4 KiB frame reads back")?;
    ensure(write_read(SCRATCH + LARGE_PAGE, 0xa5a5), "2 MiB frame start reads back")?;
    ensure(write_read(SCRATCH + 2 * LARGE_PAGE - 8, 0x5a5a), "2 MiB frame end reads back")?;
    ensure(small.physical_address().ctx("frame address")? % PAGE == 0, "frame address aligned")?;
    small.unmap().ctx("unmap 4 KiB")?;
    large.unmap().ctx("unmap 2 MiB")?;
    objs.map_frame(vspace, small, FAULT_PAGE, CapRights::READ_WRITE).ctx("map again")?;
    ensure(write_read(FAULT_PAGE, 0x77), "remapped frame reads back")?;
    small.unmap().ctx("unmap again")?;

    // A new address space: it needs an ASID before anything maps into it.
    let other = objs.alloc::<VSpace>().ctx("VSpace")?;
    let pool = Cap::<AsidPool>::from_cptr(sel4::CAP_INIT_THREAD_ASID_POOL as CPtr);
    pool.assign(other).ctx("ASID pool assign")?;
    let frame = objs.alloc::<Granule>().ctx("frame")?;
    objs.map_frame(other, frame, SCRATCH, CapRights::READ_ONLY).ctx("map into new VSpace")?;
    frame.unmap().ctx("unmap from new VSpace")?;

    // A thread that touches the unmapped page faults; the kernel sends the
    // fault to its fault endpoint, badged so we know whose it is.
    const FAULT_BADGE: u64 = 0xfa17;
    let fault_ep = objs.alloc::<Endpoint>().ctx("fault endpoint")?;
    let badged = objs.slot().ctx("slot")?;
    objs.cnode
        .slot(badged)
        .mint(objs.cnode.slot(fault_ep.cptr()), CapRights::ALL, sel4::badge_cap_data(FAULT_BADGE))
        .ctx("mint")?;
    FAULT_ADDRESS.store(FAULT_PAGE as u64, Ordering::SeqCst);
    let t = thread::spawn(objs, &STACK_A, THREAD_IPC, badged, touch_and_fault, 0).ctx("spawn thread")?;
    let (info, badge) = sel4::recv(fault_ep.cptr());
    let address = sel4::get_mr(sel4::VM_FAULT_ADDR);
    t.tcb.suspend().ctx("suspend faulted thread")?;
    ensure(info.label() == FaultType::VMFault as u64, "fault message is a VM fault")?;
    ensure(badge == FAULT_BADGE, "fault carries the endpoint's badge")?;
    ensure(address == FAULT_PAGE as u64, "fault names the unmapped address")
}

const REQUEST_LABEL: u64 = 0x77;
const REPLY_LABEL: u64 = 0x78;
const REPORT_LABEL: u64 = 0x79;
const IPC_BADGE: u64 = 0x1234;
const SENT_CAP_BADGE: u64 = 0x40;
const REQUEST_WORDS: [u64; 6] = [10, 20, 30, 40, 50, 60];
const REPLY_MAGIC: u64 = 0xabc;

/// Client side: call with six words and a cap, check the reply, report.
extern "C" fn ipc_client(ipc_buffer: u64, arg: u64) -> ! {
    thread::init(ipc_buffer);
    let (ep, cap) = (arg >> 32, arg & 0xffff_ffff);
    for (i, w) in REQUEST_WORDS.iter().enumerate() {
        sel4::set_mr(i, *w);
    }
    sel4::with_ipc_buffer(|b| b.caps_or_badges[0] = cap);
    let (reply, _) = sel4::call(ep, MessageInfo::new(REQUEST_LABEL, 0, 1, REQUEST_WORDS.len() as u64));
    let sum: u64 = REQUEST_WORDS.iter().sum();
    let ok = reply.label() == REPLY_LABEL
        && reply.length() == 2
        && sel4::get_mr(0) == sum
        && sel4::get_mr(1) == REPLY_MAGIC;
    sel4::set_mr(0, ok as u64);
    sel4::call(ep, MessageInfo::new(REPORT_LABEL, 0, 0, 1));
    loop {
        sel4::yield_now();
    }
}

fn ipc_between_threads(objs: &mut Objects) -> Check {
    let cnode = objs.cnode;
    let ep = objs.alloc::<Endpoint>().ctx("endpoint")?;
    let client_ep = objs.slot().ctx("slot")?;
    cnode
        .slot(client_ep)
        .mint(cnode.slot(ep.cptr()), CapRights::ALL, sel4::badge_cap_data(IPC_BADGE))
        .ctx("mint endpoint")?;
    let ntfn = objs.alloc::<Notification>().ctx("notification")?;
    let sent = objs.slot().ctx("slot")?;
    cnode
        .slot(sent)
        .mint(cnode.slot(ntfn.cptr()), CapRights::ALL, sel4::badge_cap_data(SENT_CAP_BADGE))
        .ctx("mint notification")?;
    let received = objs.slot().ctx("slot")?;

    let t = thread::spawn(objs, &STACK_B, THREAD_IPC + PAGE, 0, ipc_client, (client_ep << 32) | sent)
        .ctx("spawn thread")?;
    sel4::with_ipc_buffer(|b| {
        b.receive_cnode = cnode.cptr();
        b.receive_index = received;
        b.receive_depth = sel4::WORD_BITS as u64;
    });
    let (info, badge) = sel4::recv(ep.cptr());
    let words_ok = (0..REQUEST_WORDS.len()).all(|i| sel4::get_mr(i) == REQUEST_WORDS[i]);
    ensure(badge == IPC_BADGE, "badge identifies the caller")?;
    ensure(info.label() == REQUEST_LABEL && info.length() == REQUEST_WORDS.len(), "label and length")?;
    ensure(words_ok, "message registers arrive intact")?;
    ensure(info.extra_caps() == 1 && info.caps_unwrapped() == 0, "one cap transferred")?;
    // The transferred cap names the same notification, badge and all.
    sel4::signal(received);
    ensure(sel4::nb_recv(ntfn.cptr()).1 == SENT_CAP_BADGE, "received cap works")?;

    sel4::set_mr(0, REQUEST_WORDS.iter().sum());
    sel4::set_mr(1, REPLY_MAGIC);
    let (report, badge) = sel4::reply_recv(ep.cptr(), MessageInfo::new(REPLY_LABEL, 0, 0, 2));
    let client_ok = sel4::get_mr(0) == 1;
    sel4::reply(MessageInfo::new(0, 0, 0, 0));
    t.tcb.suspend().ctx("suspend client")?;
    ensure(report.label() == REPORT_LABEL && badge == IPC_BADGE, "second call arrives through ReplyRecv")?;
    ensure(client_ok, "client saw the reply's registers")
}

fn bad_invocations(objs: &mut Objects) -> Check {
    let cnode = objs.cnode;
    let ep = objs.alloc::<Endpoint>().ctx("endpoint")?;
    let tcb = objs.alloc::<Tcb>().ctx("TCB")?;
    let ut = objs.alloc_raw(ObjectType::Untyped, sel4::LARGE_PAGE_BITS).ctx("untyped")?;
    let ut = Cap::<Untyped>::from_cptr(ut);

    // Wrong slot: the destination is occupied.
    expect_err(
        ut.retype(ObjectType::Endpoint, 0, cnode, ep.cptr(), 1),
        Error::DeleteFirst,
        "retype into a full slot",
    )?;
    // Wrong size: larger than a word can describe.
    expect_err(
        ut.retype(ObjectType::Untyped, 100, cnode, objs.slot().ctx("slot")?, 1),
        Error::RangeError,
        "untyped of 2^100 bytes",
    )?;
    // Wrong size: more than the untyped holds.
    expect_err(
        ut.retype(ObjectType::Untyped, sel4::LARGE_PAGE_BITS + 1, cnode, objs.slot().ctx("slot")?, 1),
        Error::NotEnoughMemory,
        "untyped larger than its parent",
    )?;
    // Revoked cap: a copy of the TCB is gone after revoking the original.
    let copy: CPtr = objs.slot().ctx("slot")?;
    cnode.slot(copy).copy(cnode.slot(tcb.cptr()), CapRights::ALL).ctx("copy TCB")?;
    cnode.slot(tcb.cptr()).revoke().ctx("revoke TCB")?;
    expect_err(Cap::<Tcb>::from_cptr(copy).set_priority(1), Error::InvalidCapability, "revoked TCB copy")?;
    // Misaligned mapping.
    let frame = objs.alloc::<Granule>().ctx("frame")?;
    expect_err(
        frame.map(objs.vspace, SCRATCH + 8, CapRights::READ_WRITE, false),
        Error::AlignmentError,
        "unaligned map",
    )?;
    // The wrong type of cap for the invocation.
    expect_err(Cap::<Tcb>::from_cptr(frame.cptr()).set_priority(1), Error::IllegalOperation, "frame as TCB")
}
