//! The root task: the first user process seL4 starts. It owns all untyped
//! memory, reports what the kernel handed it, and spawns and supervises the
//! other processes; built with the `suite` feature it runs the on-target
//! test suites instead of the demo, with `bench` the benchmark.

#![no_std]
#![no_main]

#[cfg(all(feature = "bench", not(feature = "suite")))]
mod bench;
#[cfg(not(any(feature = "suite", feature = "bench")))]
mod demo;
#[cfg(feature = "suite")]
mod hostile_tests;
mod objects;
mod process;
#[cfg(feature = "suite")]
mod processes;
#[cfg(feature = "suite")]
mod recovery_tests;
mod rt;
#[cfg(feature = "suite")]
mod shm_tests;
#[cfg(feature = "suite")]
mod smoke;
#[cfg(feature = "suite")]
mod soak_tests;
#[cfg(feature = "suite")]
mod suite;
mod supervisor;
#[cfg(feature = "suite")]
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

    let mut objs = objects::Objects::new(bi);
    let sup = match supervisor::Supervisor::new(&mut objs) {
        Ok(sup) => sup,
        Err(e) => panic!("cannot set up the supervisor: {e:?}"),
    };

    #[cfg(feature = "suite")]
    {
        let mut env = suite::Env { objs, sup };
        let (p1, f1) = suite::run(&mut env, &smoke::TESTS);
        let (p2, f2) = suite::run(&mut env, &processes::TESTS);
        let (p3, f3) = suite::run(&mut env, &shm_tests::TESTS);
        let (p4, f4) = suite::run(&mut env, &hostile_tests::TESTS);
        let (p5, f5) = suite::run(&mut env, &soak_tests::TESTS);
        let (p6, f6) = suite::run(&mut env, &recovery_tests::TESTS);
        let (passed, failed) = (p1 + p2 + p3 + p4 + p5 + p6, f1 + f2 + f3 + f4 + f5 + f6);
        debug_println!("{passed} passed, {failed} failed");
        rt::exit(if failed == 0 { 0 } else { 1 })
    }
    // `make bench`; with both features (lint builds) the suite wins.
    #[cfg(all(feature = "bench", not(feature = "suite")))]
    {
        let mut sup = sup;
        rt::exit(bench::run(&mut objs, &mut sup))
    }
    #[cfg(not(any(feature = "suite", feature = "bench")))]
    {
        let mut sup = sup;
        let ok = demo::run(&mut objs, &mut sup);
        rt::exit(if ok { 0 } else { 1 })
    }
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
