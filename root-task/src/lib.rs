//! The root task as a library: the first user process seL4 starts. It owns
//! all untyped memory, reports what the kernel handed it, and spawns and
//! supervises the other processes as a compiled system description says
//! ([`system::System`], written by `tools/sysbuild` from a `system.toml`).
//!
//! An image is a small binary crate that includes its description and names
//! what the root task does once the supervisor is up:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! include!(concat!(env!("OUT_DIR"), "/system.rs"));
//! root_task::image!(SYSTEM, root_task::supervise);
//! ```
//!
//! [`supervise`] is what a described system needs: it starts the processes
//! the description starts at boot and runs until every one has ended. The
//! on-target suite and the benchmark pass their own function instead, which
//! drives processes through [`Root::sup`].

#![no_std]
// The kernel boundary: the root task makes every object and address space.
#![allow(unsafe_code)]

pub mod console;
pub mod objects;
pub mod process;
pub mod rt;
pub mod supervisor;
pub mod system;
pub mod thread;

#[doc(hidden)]
pub use sel4;

use objects::Objects;
use sel4::{debug_println, BootInfo};
use supervisor::{Event, Supervisor};
use system::System;

/// What the root task holds once it is up.
pub struct Root {
    /// Slots, untyped memory, our VSpace.
    pub objs: Objects,
    /// The process supervisor (the memory manager is already running).
    pub sup: Supervisor,
}

/// Declare an image: `$system` is its `static` [`System`], `$main` a
/// `fn(&mut Root) -> u8` run once the supervisor is up, whose result is the
/// exit status. Defines the entry point the kernel jumps to.
#[macro_export]
macro_rules! image {
    ($system:path, $main:path) => {
        /// Entered from `_start` with the BootInfo pointer the kernel passed.
        #[allow(unsafe_code)]
        extern "C" fn root_task_main(bootinfo: *const $crate::sel4::BootInfo) -> ! {
            // SAFETY: only `_start` calls this, with the kernel's BootInfo pointer.
            unsafe { $crate::rt::start(bootinfo, &$system, $main) }
        }

        // The kernel enters with no stack (rsp/sp = 0) and the BootInfo
        // pointer in the first argument register; give ourselves a stack and
        // call Rust.
        #[cfg(target_arch = "x86_64")]
        core::arch::global_asm!(
            ".section .text.start",
            ".global _start",
            "_start:",
            "    lea rsp, [rip + {stack} + {size}]",
            "    xor ebp, ebp",
            "    call {main}",
            "    ud2",
            stack = sym $crate::rt::MAIN_STACK,
            size = const $crate::rt::STACK_SIZE,
            main = sym root_task_main,
        );

        #[cfg(target_arch = "aarch64")]
        core::arch::global_asm!(
            ".section .text.start",
            ".global _start",
            "_start:",
            "    adrp x9, {stack}",
            "    add x9, x9, :lo12:{stack}",
            "    mov x10, #{size}",
            "    add sp, x9, x10",
            "    mov x29, xzr",
            "    bl {main}",
            "    brk #0",
            stack = sym $crate::rt::MAIN_STACK,
            size = const $crate::rt::STACK_SIZE,
            main = sym root_task_main,
        );
    };
}

/// Set up the root task from what the kernel passed and the supervisor for
/// `system` (which starts its memory manager).
pub fn boot(bi: &'static BootInfo, system: &'static System) -> Root {
    let mut objs = Objects::new(bi);
    console::init(bi, &mut objs);
    print_summary(bi);
    debug_println!("system: {}", system.source);
    let sup = match Supervisor::new(&mut objs, system) {
        Ok(sup) => sup,
        Err(e) => panic!("cannot set up the supervisor: {e:?}"),
    };
    Root { objs, sup }
}

/// Run a described system: start the processes that start at boot, then
/// answer calls and take faults until no app is left. Exit status 0 if
/// every process ended with code 0 (a fault followed by a restart is part
/// of a system's life), 1 otherwise.
pub fn supervise(root: &mut Root) -> u8 {
    let Root { objs, sup } = root;
    if let Err(e) = sup.boot(objs) {
        debug_println!("supervisor: cannot start the processes that start at boot: {e:?}");
        return 1;
    }
    let mut ok = true;
    while sup.live() > 0 {
        match sup.next_event(objs) {
            Event::Report { task, value } => debug_println!("supervisor: pid {} reports {value}", task.pid()),
            Event::Started { task, by } => {
                debug_println!("supervisor: pid {} started pid {}", by.pid(), task.pid())
            }
            Event::Exited { task, code } => {
                debug_println!("supervisor: pid {} exited with {code}", task.pid());
                ok &= code == 0;
            }
            Event::Faulted { task, restarted: Some(new), .. } => debug_println!(
                "supervisor: pid {} faulted; restarted as generation {}",
                task.pid(),
                new.generation()
            ),
            Event::Faulted { task, restarted: None, .. } => {
                debug_println!("supervisor: pid {} faulted; not restarted", task.pid());
                ok = false;
            }
            Event::MemoryManagerEnded { .. } => ok = false,
            Event::Refused { .. } | Event::Handled => {}
        }
    }
    debug_println!("supervisor: {} bytes of process memory free", sup.free_bytes());
    debug_println!("supervisor: {}", if ok { "every process ended well" } else { "FAILED" });
    u8::from(!ok)
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
