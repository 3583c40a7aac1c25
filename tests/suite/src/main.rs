//! The on-target test suite: a root task whose tests ask the real kernel,
//! the memory manager and test processes (`tests/testapp`) for something
//! and fail when the answer is wrong. It ends with the `N passed, N failed`
//! line the simulate script reads, and exits 0 only if none failed.

#![no_std]
#![no_main]
// Tests of the kernel boundary itself: faults and raw invocations on purpose.
#![allow(unsafe_code)]

mod harness;
mod hostile;
mod multicore;
mod processes;
mod recovery;
mod shm;
mod smoke;
mod soak;
mod sync;

use root_task::Root;
use sel4::debug_println;

include!(concat!(env!("OUT_DIR"), "/system.rs"));

root_task::image!(SYSTEM, run);

/// Every group, in the order they run.
const GROUPS: [&[harness::Test]; 8] = [
    &smoke::TESTS,
    &processes::TESTS,
    &shm::TESTS,
    &hostile::TESTS,
    &soak::TESTS,
    &recovery::TESTS,
    &sync::TESTS,
    &multicore::TESTS,
];

fn run(root: &mut Root) -> u8 {
    let arch = if cfg!(target_arch = "x86_64") { "x86_64" } else { "aarch64" };
    let cores = root.sup.cores();
    debug_println!("suite: on-target tests, {arch}, {cores} core{}", if cores == 1 { "" } else { "s" });
    let (mut passed, mut failed) = (0, 0);
    for tests in GROUPS {
        let (p, f) = harness::run(root, tests);
        passed += p;
        failed += f;
    }
    debug_println!("{passed} passed, {failed} failed");
    u8::from(failed != 0)
}
