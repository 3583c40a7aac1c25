//! AArch64: `svc #0` with the syscall number in x7 and the message in x0..x5.

use crate::ipc::IpcBuffer;
use core::arch::asm;

/// Enter the kernel. Returns (message info, badge); `mrs` in and out.
///
/// # Safety
/// The kernel may write this thread's IPC buffer; `sys` must be a syscall
/// number of this kernel.
pub unsafe fn syscall(sys: i64, dest: u64, info: u64, mrs: &mut [u64; 4]) -> (u64, u64) {
    let (out_info, badge);
    // SAFETY: the kernel saves and restores every other register.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") dest => badge,
            inout("x1") info => out_info,
            inout("x2") mrs[0],
            inout("x3") mrs[1],
            inout("x4") mrs[2],
            inout("x5") mrs[3],
            in("x7") sys,
        );
    }
    (out_info, badge)
}

/// The kernel keeps the current thread's IPC buffer address in TPIDR_EL0
/// (`CONFIG_IPC_BUF_TPIDRURW`).
pub fn ipc_buffer() -> *mut IpcBuffer {
    let ptr: u64;
    // SAFETY: reading a user-accessible system register.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) ptr, options(nomem, nostack, preserves_flags)) };
    ptr as *mut IpcBuffer
}

/// Nothing to do: the kernel sets TPIDR_EL0 from the TCB's buffer address.
///
/// # Safety
/// Always safe; `unsafe` to match the x86_64 signature.
pub unsafe fn init_ipc_buffer(_buffer: *mut IpcBuffer) {}

use crate::{sys, CapRights, ObjectType, Result, Word, ARM_DEFAULT_VM_ATTRIBUTES, ARM_EXECUTE_NEVER};

/// 4 KiB frame object.
pub const GRANULE_OBJECT: ObjectType = ObjectType::ArmSmallPage;
/// 2 MiB frame object.
pub const LARGE_PAGE_OBJECT: ObjectType = ObjectType::ArmLargePage;
/// Page table object.
pub const PAGE_TABLE_OBJECT: ObjectType = ObjectType::ArmPageTable;
/// Page directory object.
pub const PAGE_DIRECTORY_OBJECT: ObjectType = ObjectType::ArmPageDirectory;
/// The level below the root: the PUD.
pub const PAGE_UPPER_DIRECTORY_OBJECT: ObjectType = ObjectType::ArmPageUpperDirectory;
/// log2 size of a PUD.
pub const PAGE_UPPER_DIRECTORY_BITS: usize = crate::PUD_BITS;
/// The VSpace root: the PGD.
pub const VSPACE_OBJECT: ObjectType = ObjectType::ArmPageGlobalDirectory;
/// log2 size of a PGD.
pub const VSPACE_BITS: usize = crate::PGD_BITS;
/// Virtual-address bits each paging level resolves.
pub const INDEX_BITS: usize = crate::PAGE_TABLE_BITS - 3;

pub(crate) fn page_table_map(cptr: u64, vspace: u64, vaddr: usize) -> Result<()> {
    sys::arm_page_table_map(cptr, vspace, vaddr as Word, ARM_DEFAULT_VM_ATTRIBUTES as Word)
}
pub(crate) fn page_directory_map(cptr: u64, vspace: u64, vaddr: usize) -> Result<()> {
    sys::arm_page_directory_map(cptr, vspace, vaddr as Word, ARM_DEFAULT_VM_ATTRIBUTES as Word)
}
pub(crate) fn page_upper_directory_map(cptr: u64, vspace: u64, vaddr: usize) -> Result<()> {
    sys::arm_page_upper_directory_map(cptr, vspace, vaddr as Word, ARM_DEFAULT_VM_ATTRIBUTES as Word)
}
pub(crate) fn page_table_unmap(cptr: u64) -> Result<()> {
    sys::arm_page_table_unmap(cptr)
}
pub(crate) fn page_directory_unmap(cptr: u64) -> Result<()> {
    sys::arm_page_directory_unmap(cptr)
}
pub(crate) fn page_upper_directory_unmap(cptr: u64) -> Result<()> {
    sys::arm_page_upper_directory_unmap(cptr)
}
pub(crate) fn frame_map(
    cptr: u64,
    vspace: u64,
    vaddr: usize,
    rights: CapRights,
    executable: bool,
) -> Result<()> {
    let attrs = ARM_DEFAULT_VM_ATTRIBUTES | if executable { 0 } else { ARM_EXECUTE_NEVER };
    sys::arm_page_map(cptr, vspace, vaddr as Word, rights.word(), attrs as Word)
}
pub(crate) fn frame_sync_instruction_cache(cptr: u64, size: usize) -> Result<()> {
    sys::arm_page_unify_instruction(cptr, 0, size as Word)
}
pub(crate) fn frame_unmap(cptr: u64) -> Result<()> {
    sys::arm_page_unmap(cptr)
}
pub(crate) fn frame_address(cptr: u64) -> Result<usize> {
    sys::arm_page_get_address(cptr).map(|a| a as usize)
}
pub(crate) fn asid_pool_assign(cptr: u64, vspace: u64) -> Result<()> {
    sys::arm_asid_pool_assign(cptr, vspace)
}

/// No I/O ports on ARM: an empty extension, so generic code compiles.
pub trait IoPortExt {}

/// Registers for a new thread entering `pc` with stack `sp` and two
/// arguments, as the AArch64 C ABI expects.
pub fn thread_context(pc: usize, sp: usize, arg0: u64, arg1: u64) -> crate::UserContext {
    crate::UserContext { pc: pc as u64, sp: sp as u64, x0: arg0, x1: arg1, ..Default::default() }
}
