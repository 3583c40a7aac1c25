//! The memory manager as a seL4 process, spawned by the root task.
//!
//! It maps a heap from its own untyped memory, builds the [`Server`] over
//! the real kernel ([`sel4_kernel::Sel4Kernel`]) and then serves its
//! endpoint forever: receive, decode and handle through
//! [`Server::handle_message`], reply. Every failure a request can meet
//! becomes an error reply; nothing a client sends ends the loop.
//!
//! Built for the host it only says where it runs, so that workspace-wide
//! host builds, tests and lints include it.
//!
//! [`Server`]: vmm_server::Server
//! [`Server::handle_message`]: vmm_server::Server::handle_message

#![cfg_attr(target_os = "none", no_std, no_main)]
// The kernel boundary: its own heap and the seL4 implementation of the kernel trait.
#![allow(unsafe_code)]

#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod sel4_kernel;

#[cfg(target_os = "none")]
runtime::entry!(target::main);

#[cfg(target_os = "none")]
mod target {
    use libshm::protocol::{Reply, MSG_MAX_WORDS};
    use profile_markers::Phase;
    use runtime::{slots, ProcessInfo};
    use sel4::{debug_println, MessageInfo, Word, MSG_MAX_LENGTH, WORD_BITS};
    use vmm_server::untyped::{heap_bytes, Slot, Slots};
    use vmm_server::{Capacity, Limits, Server};

    use crate::heap;
    use crate::sel4_kernel::Sel4Kernel;

    /// Exit code when the heap could not be mapped.
    const EXIT_NO_HEAP: i32 = 2;
    /// Exit code when the kernel side could not be set up.
    const EXIT_NO_KERNEL: i32 = 3;

    const _: () = assert!(MSG_MAX_LENGTH <= MSG_MAX_WORDS);

    pub fn main(info: &ProcessInfo) -> i32 {
        let mut free = Slots::before_heap(info.free_slots_start..info.free_slots_end);
        let untypeds = info.untyped_start..info.untyped_end;
        let pool_bytes =
            untypeds.end.saturating_sub(untypeds.start).saturating_mul(1 << info.untyped_size_bits.min(47));
        let heap_size = heap_bytes(free.available(), pool_bytes);
        if let Err(e) = heap::init(&mut free, untypeds, heap_size) {
            debug_println!("vmm-server: cannot map {heap_size} bytes of heap: {e}");
            return EXIT_NO_HEAP;
        }
        let kernel = match Sel4Kernel::new(info, free) {
            Ok(k) => k,
            Err(e) => {
                debug_println!("vmm-server: cannot set up its own scratch mappings: {e:?}");
                return EXIT_NO_KERNEL;
            }
        };
        debug_println!(
            "vmm-server: pid {} serving; {} MiB of untyped, {} MiB heap, {} free slots",
            info.pid,
            pool_bytes >> 20,
            heap_size >> 20,
            kernel.free_slots()
        );
        let capacity = Capacity::of(kernel.free_slots(), pool_bytes, heap_size);
        debug_println!("vmm-server: promises at most {capacity:?}");
        serve(Server::with_limits(kernel, Limits { capacity, ..Limits::default() }))
    }

    /// Where the next received cap goes: a slot of our CNode, or none (a
    /// null receive CNode, so the kernel transfers no cap) when the slots
    /// have run out.
    fn arm_receive(slot: Option<Slot>) {
        sel4::with_ipc_buffer(|b| {
            b.receive_cnode = if slot.is_some() { slots::CNODE } else { 0 };
            b.receive_index = slot.unwrap_or(0);
            b.receive_depth = WORD_BITS as Word;
        });
    }

    /// The caps a message brought: whether one was transferred into the
    /// receive slot, and how many were unwrapped to a badge (endpoint caps
    /// to this very endpoint). The kernel counts both in `extra_caps`; with
    /// one receive slot at most one was transferred.
    fn caps_arrived(info: MessageInfo) -> (bool, usize) {
        let sent = info.extra_caps();
        let unwrapped = (info.caps_unwrapped() & ((1 << sent) - 1)).count_ones() as usize;
        (sent > unwrapped, unwrapped)
    }

    fn serve(mut server: Server<Sel4Kernel>) -> ! {
        let mut recv_slot = server.kernel_mut().take_slot();
        arm_receive(recv_slot);
        let (mut info, mut badge) = sel4::recv(slots::SERVICE);
        loop {
            Phase::Decode.enter();
            // Copy the message out first: kernel invocations made while
            // handling it reuse the IPC buffer's message registers.
            let mut words = [0 as Word; MSG_MAX_LENGTH];
            let len = info.length().min(MSG_MAX_LENGTH);
            sel4::with_ipc_buffer(|b| words[..len].copy_from_slice(&b.msg[..len]));
            let (transferred, unwrapped) = caps_arrived(info);
            let cap = match recv_slot {
                Some(slot) if transferred => {
                    recv_slot = None;
                    Some(slot)
                }
                _ => None,
            };

            // Faults in the shared window arrive here too, as the
            // supervisor's `ResolveFault` (it is every app's fault handler
            // and forwards those), answered by `Server::handle_fault`.
            let response = server.handle_message(badge, info.label(), &words[..len], cap, unwrapped);

            // The cap (if any) now belongs to the server; the next one needs
            // a fresh slot.
            if recv_slot.is_none() {
                recv_slot = server.kernel_mut().take_slot();
            }
            Phase::Reply.enter();
            let mut out = [0 as Word; Reply::MAX_WORDS];
            let (label, out_len) = Reply::encode_response(&response, &mut out);
            sel4::with_ipc_buffer(|b| b.msg[..out_len].copy_from_slice(&out[..out_len]));
            arm_receive(recv_slot);
            // A sender that used Send rather than Call has no reply cap: the
            // kernel drops the reply and we just wait for the next message.
            let reply = MessageInfo::new(label, 0, 0, out_len as u64);
            (info, badge) = sel4::reply_recv(slots::SERVICE, reply);
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "vmm-server is a seL4 process: build it with --target x86_64-unknown-none or \
         aarch64-unknown-none and let the root task spawn it"
    );
}
