//! The root task: the first user process seL4 starts. It owns all untyped
//! memory; for now it reports what the kernel handed it and, built with
//! the `smoke` feature, runs the on-target kernel smoke suite.

#![no_std]
#![no_main]

mod objects;
mod rt;
#[cfg(feature = "smoke")]
mod smoke;
mod thread;

use sel4::{debug_println, BootInfo};

/// Entered from `_start` with the BootInfo pointer the kernel passed.
extern "C" fn main(bootinfo: *const BootInfo) -> ! {
    // SAFETY: the kernel passes the BootInfo frame's address at entry and
    // keeps it mapped for the life of the root task.
    let bi = unsafe { BootInfo::from_ptr(bootinfo) };
    // SAFETY: BootInfo names the root task's own IPC buffer.
    unsafe { sel4::set_ipc_buffer(bi.ipc_buffer as *mut sel4::IpcBuffer) };
    print_summary(bi);

    #[cfg(feature = "smoke")]
    {
        let mut objs = objects::Objects::new(bi);
        let (passed, failed) = smoke::run(&mut objs);
        debug_println!("{passed} passed, {failed} failed");
        rt::exit(if failed == 0 { 0 } else { 1 })
    }
    #[cfg(not(feature = "smoke"))]
    rt::exit(0)
}

/// What the kernel gave us: memory, free slots, where things are.
fn print_summary(bi: &BootInfo) {
    let (mut ram, mut ram_bytes, mut dev, mut dev_bytes) = (0usize, 0u64, 0usize, 0u64);
    for (_, d) in bi.untypeds() {
        if d.is_device == 0 {
            ram += 1;
            ram_bytes += 1 << d.size_bits;
        } else {
            dev += 1;
            dev_bytes += 1 << d.size_bits;
        }
    }
    let (empty, node, ipc) = (bi.empty, bi.node_id, bi.ipc_buffer);
    let arch = if cfg!(target_arch = "x86_64") { "x86_64" } else { "aarch64" };
    debug_println!("seL4 root task on {arch}");
    debug_println!(
        "  untyped: {} caps, {} bytes of RAM in {ram}, {} bytes of device memory in {dev}",
        ram + dev,
        ram_bytes,
        dev_bytes
    );
    debug_println!("  empty slots: {:#x}..{:#x} ({} free)", empty.start, empty.end, empty.end - empty.start);
    debug_println!(
        "  root CNode: 2^{} slots; node {node}; IPC buffer at {ipc:#x}",
        bi.init_thread_cnode_size_bits
    );
}
