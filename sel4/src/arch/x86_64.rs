//! x86_64: `syscall` with the message in rdi, rsi, r10, r8, r9, r15.

use crate::ipc::IpcBuffer;
use core::arch::asm;

/// Enter the kernel. Returns (message info, badge); `mrs` in and out.
///
/// # Safety
/// The kernel may write this thread's IPC buffer; `sys` must be a syscall
/// number of this kernel.
pub unsafe fn syscall(sys: i64, dest: u64, info: u64, mrs: &mut [u64; 4]) -> (u64, u64) {
    let (out_info, badge);
    // SAFETY: `sysret` does not restore rsp, so it is parked in rbx, which
    // the kernel preserves; rbx itself belongs to LLVM and is kept in r12.
    unsafe {
        asm!(
            "mov r12, rbx",
            "mov rbx, rsp",
            "syscall",
            "mov rsp, rbx",
            "mov rbx, r12",
            inout("rdx") sys => _,
            inout("rdi") dest => badge,
            inout("rsi") info => out_info,
            inout("r10") mrs[0],
            inout("r8") mrs[1],
            inout("r9") mrs[2],
            inout("r15") mrs[3],
            out("rcx") _,
            out("r11") _,
            out("r12") _,
        );
    }
    (out_info, badge)
}

/// Offset of the buffer's `user_data` word.
const USER_DATA_OFFSET: usize = core::mem::offset_of!(IpcBuffer, user_data);

/// The kernel points the gs base at the current thread's IPC buffer; the
/// buffer's `user_data` holds its own address so we can read it back
/// without the FSGSBASE instructions (absent on `-cpu qemu64`).
pub fn ipc_buffer() -> *mut IpcBuffer {
    let ptr: u64;
    // SAFETY: gs-relative load of one word inside the IPC buffer.
    unsafe {
        asm!("mov {}, qword ptr gs:[{off}]", out(reg) ptr, off = const USER_DATA_OFFSET, options(nostack, readonly, preserves_flags))
    };
    ptr as *mut IpcBuffer
}

/// Record the buffer's address in itself for [`ipc_buffer`].
///
/// # Safety
/// `buffer` must be this thread's mapped IPC buffer.
pub unsafe fn init_ipc_buffer(buffer: *mut IpcBuffer) {
    // SAFETY: the caller guarantees the buffer is mapped and ours.
    unsafe { (*buffer).user_data = buffer as u64 };
}

use crate::{cap_type, sys, Cap, CapRights, ObjectType, Result, Word, X86_DEFAULT_VM_ATTRIBUTES};

/// 4 KiB frame object.
pub const GRANULE_OBJECT: ObjectType = ObjectType::X86_4K;
/// 2 MiB frame object.
pub const LARGE_PAGE_OBJECT: ObjectType = ObjectType::X86LargePage;
/// Page table object.
pub const PAGE_TABLE_OBJECT: ObjectType = ObjectType::X86PageTable;
/// Page directory object.
pub const PAGE_DIRECTORY_OBJECT: ObjectType = ObjectType::X86PageDirectory;
/// The level below the root: the PDPT.
pub const PAGE_UPPER_DIRECTORY_OBJECT: ObjectType = ObjectType::X86Pdpt;
/// log2 size of a PDPT.
pub const PAGE_UPPER_DIRECTORY_BITS: usize = crate::PDPT_BITS;
/// The VSpace root: the PML4.
pub const VSPACE_OBJECT: ObjectType = ObjectType::X64Pml4;
/// log2 size of a PML4.
pub const VSPACE_BITS: usize = crate::PML4_BITS;
/// Virtual-address bits each paging level resolves.
pub const INDEX_BITS: usize = crate::PAGE_TABLE_BITS - 3;

pub(crate) fn page_table_map(cptr: u64, vspace: u64, vaddr: usize) -> Result<()> {
    sys::x86_page_table_map(cptr, vspace, vaddr as Word, X86_DEFAULT_VM_ATTRIBUTES as Word)
}
pub(crate) fn page_directory_map(cptr: u64, vspace: u64, vaddr: usize) -> Result<()> {
    sys::x86_page_directory_map(cptr, vspace, vaddr as Word, X86_DEFAULT_VM_ATTRIBUTES as Word)
}
pub(crate) fn page_upper_directory_map(cptr: u64, vspace: u64, vaddr: usize) -> Result<()> {
    sys::x86_pdpt_map(cptr, vspace, vaddr as Word, X86_DEFAULT_VM_ATTRIBUTES as Word)
}
/// seL4 5.0 on x86 has no per-page execute-never: `executable` is ignored.
pub(crate) fn page_table_unmap(cptr: u64) -> Result<()> {
    sys::x86_page_table_unmap(cptr)
}
pub(crate) fn page_directory_unmap(cptr: u64) -> Result<()> {
    sys::x86_page_directory_unmap(cptr)
}
pub(crate) fn page_upper_directory_unmap(cptr: u64) -> Result<()> {
    sys::x86_pdpt_unmap(cptr)
}
pub(crate) fn frame_map(
    cptr: u64,
    vspace: u64,
    vaddr: usize,
    rights: CapRights,
    _executable: bool,
) -> Result<()> {
    sys::x86_page_map(cptr, vspace, vaddr as Word, rights.word(), X86_DEFAULT_VM_ATTRIBUTES as Word)
}
/// x86 keeps instruction fetch coherent with stores.
pub(crate) fn frame_sync_instruction_cache(_cptr: u64, _size: usize) -> Result<()> {
    Ok(())
}
pub(crate) fn frame_unmap(cptr: u64) -> Result<()> {
    sys::x86_page_unmap(cptr)
}
pub(crate) fn frame_address(cptr: u64) -> Result<usize> {
    sys::x86_page_get_address(cptr).map(|a| a as usize)
}
pub(crate) fn asid_pool_assign(cptr: u64, vspace: u64) -> Result<()> {
    sys::x86_asid_pool_assign(cptr, vspace)
}

/// I/O port access through the IOPort cap (x86 only).
pub trait IoPortExt {
    /// Write one byte to `port`.
    fn out8(self, port: u16, value: u8) -> Result<()>;
    /// Read one byte from `port`.
    fn in8(self, port: u16) -> Result<u8>;
}

impl IoPortExt for Cap<cap_type::IoPort> {
    fn out8(self, port: u16, value: u8) -> Result<()> {
        sys::x86_io_port_out8(self.cptr(), port as Word, value as Word)
    }
    fn in8(self, port: u16) -> Result<u8> {
        sys::x86_io_port_in8(self.cptr(), port)
    }
}

/// Registers for a new thread entering `pc` with stack `sp` and two
/// arguments, as the x86_64 C ABI expects right after a `call`.
pub fn thread_context(pc: usize, sp: usize, arg0: u64, arg1: u64) -> crate::UserContext {
    crate::UserContext { rip: pc as u64, rsp: (sp - 8) as u64, rdi: arg0, rsi: arg1, ..Default::default() }
}
