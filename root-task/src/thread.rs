//! Extra threads in the root task's own address space (for the smoke
//! suite): a TCB, an IPC buffer frame and a stack.

use crate::objects::Objects;
use crate::rt::Stack;
use sel4::cap_type::{Granule, Tcb};
use sel4::{CPtr, Cap, CapRights, Result, TcbConfig};

/// Bytes of stack per extra thread.
pub const THREAD_STACK_SIZE: usize = 16 * 1024;

/// Priority of extra threads: below the root task's, so they run only
/// while it waits.
pub const THREAD_PRIORITY: u8 = 100;

/// A thread's entry point: its IPC buffer address and one argument.
pub type Entry = extern "C" fn(ipc_buffer: u64, arg: u64) -> !;

/// A started thread.
pub struct Thread {
    /// Its TCB.
    pub tcb: Cap<Tcb>,
}

/// Start `entry(ipc_buffer, arg)` on `stack`, with its IPC buffer mapped
/// at `ipc_vaddr` in the root task's VSpace and faults sent to `fault_ep`.
pub fn spawn(
    objs: &mut Objects,
    stack: &'static Stack<THREAD_STACK_SIZE>,
    ipc_vaddr: usize,
    fault_ep: CPtr,
    entry: Entry,
    arg: u64,
) -> Result<Thread> {
    let tcb = objs.alloc::<Tcb>()?;
    let buffer = objs.alloc::<Granule>()?;
    objs.map_frame(objs.vspace, buffer, ipc_vaddr, CapRights::READ_WRITE)?;
    tcb.configure(&TcbConfig {
        fault_ep,
        mcp: THREAD_PRIORITY,
        priority: THREAD_PRIORITY,
        cspace: objs.cnode,
        cspace_data: 0,
        vspace: objs.vspace,
        ipc_buffer: ipc_vaddr,
        ipc_buffer_frame: buffer,
    })?;
    let regs = sel4::thread_context(entry as usize, stack.top(), ipc_vaddr as u64, arg);
    tcb.write_registers(true, &regs)?;
    Ok(Thread { tcb })
}

/// First thing a new thread does: find its IPC buffer.
pub fn init(ipc_buffer: u64) {
    // SAFETY: `spawn` passes the address it configured as this thread's
    // IPC buffer, mapped read-write for this thread alone.
    unsafe { sel4::set_ipc_buffer(ipc_buffer as *mut sel4::IpcBuffer) };
}
