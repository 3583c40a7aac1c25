//! The hardware boundary: entry, exception level, MMU, caches, the jump into
//! the kernel. Everything else in the loader is plain safe Rust.

use core::arch::{asm, global_asm};

// Entry from QEMU's `-kernel` (MMU off). QEMU starts at EL1, or at EL2 with
// `-machine virtualization=on`; seL4 5.0 without hypervisor support runs at
// EL1, so from EL2 configure EL1 as AArch64 with no traps and `eret` to it.
// Then: FP/SIMD on (Rust code may use those registers), the virtual counter
// readable from EL0, vectors, stack, bss.
// x0 = the exception level we were entered at, for loader_main's report.
global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    mrs     x19, CurrentEL
    lsr     x19, x19, #2
    cmp     x19, #1
    b.eq    2f
    cmp     x19, #2
    b.ne    9f                      // EL3: not supported, nothing to report with
    mov     x9, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64; no stage 2
    msr     hcr_el2, x9
    mov     x9, #3                  // CNTHCTL_EL2: EL1 may use the physical timer
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #0x33ff             // CPTR_EL2: no FP/SIMD traps
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    mrs     x9, midr_el1            // EL1 reads of MIDR/MPIDR see these
    msr     vpidr_el2, x9
    mrs     x9, mpidr_el1
    msr     vmpidr_el2, x9
    ldr     x9, =0x30d00800         // SCTLR_EL1: RES1 bits, MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #0x3c5              // SPSR_EL2: EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, 2f
    msr     elr_el2, x9
    eret
2:  mov     x9, #(3 << 20)          // CPACR_EL1.FPEN
    msr     cpacr_el1, x9
    mov     x9, #2                  // CNTKCTL_EL1.EL0VCTEN: EL0 may read the virtual
    msr     cntkctl_el1, x9         // counter (benchmarks); the kernel never changes it
    adr     x9, loader_vectors
    msr     vbar_el1, x9
    isb
    ldr     x9, =__stack_top
    mov     sp, x9
    ldr     x9, =__bss_start
    ldr     x10, =__bss_end
3:  cmp     x9, x10
    b.hs    4f
    str     xzr, [x9], #8
    b       3b
4:  mov     x0, x19
    bl      loader_main
9:  wfe
    b       9b

    // Any exception while the loader runs is fatal: report it.
    .balign 0x800
loader_vectors:
    .irp    kind, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .balign 0x80
    mov     x0, #\kind
    b       10f
    .endr
10: ldr     x9, =__stack_top
    mov     sp, x9
    bl      loader_exception
    b       9b
    .ltorg
"#
);

/// Halt this CPU for good (QEMU keeps running; the simulate script sees the
/// FATAL line and ends it).
pub fn halt() -> ! {
    loop {
        // SAFETY: wfe only waits; no memory or register effects.
        unsafe { asm!("wfe", options(nomem, nostack)) };
    }
}

/// Exception syndrome, return address and fault address (for the report).
pub fn exception_registers() -> (u64, u64, u64) {
    let (esr, elr, far): (u64, u64, u64);
    // SAFETY: reads of EL1 system registers, no side effects.
    unsafe {
        asm!("mrs {0}, esr_el1", "mrs {1}, elr_el1", "mrs {2}, far_el1",
            out(reg) esr, out(reg) elr, out(reg) far, options(nomem, nostack));
    }
    (esr, elr, far)
}

/// ID_AA64MMFR0_EL1, for the physical address size.
pub fn id_aa64mmfr0() -> u64 {
    let v: u64;
    // SAFETY: read of an ID register.
    unsafe { asm!("mrs {0}, id_aa64mmfr0_el1", out(reg) v, options(nomem, nostack)) };
    v
}

/// Install the tables and turn on the MMU, D-cache and I-cache at EL1.
pub fn enable_mmu(mair: u64, tcr: u64, ttbr0: u64, ttbr1: u64) {
    // SAFETY: the tables identity-map the code, data and stack in use, so
    // execution continues at the next instruction with the same addresses.
    unsafe {
        asm!(
            "dsb sy",
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {ttbr0}",
            "msr ttbr1_el1, {ttbr1}",
            "isb",
            "tlbi vmalle1",
            "ic iallu",
            "dsb nsh",
            "isb",
            "mrs {tmp}, sctlr_el1",
            "orr {tmp}, {tmp}, #(1 << 0)",  // M
            "orr {tmp}, {tmp}, #(1 << 2)",  // C
            "orr {tmp}, {tmp}, #(1 << 12)", // I
            "msr sctlr_el1, {tmp}",
            "isb",
            mair = in(reg) mair, tcr = in(reg) tcr, ttbr0 = in(reg) ttbr0,
            ttbr1 = in(reg) ttbr1, tmp = out(reg) _,
            options(nostack),
        );
    }
}

/// Make freshly written code visible to instruction fetch: clean the data
/// cache to the point of coherency over [start, end), then drop the I-cache.
pub fn sync_caches(start: u64, end: u64) {
    let ctr: u64;
    // SAFETY: read of an ID register.
    unsafe { asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let line = 4u64 << ((ctr >> 16) & 0xf); // DminLine, in bytes
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: cache maintenance by address on identity-mapped RAM; it
        // changes no data.
        unsafe { asm!("dc cvac, {0}", in(reg) addr, options(nostack)) };
        addr += line;
    }
    // SAFETY: barrier and I-cache invalidation; no data changes.
    unsafe { asm!("dsb sy", "ic iallu", "dsb sy", "isb", options(nostack)) };
}

/// Jump to the kernel's `_start`, which calls
/// `init_kernel(ui_p_reg_start, ui_p_reg_end, pv_offset, v_entry)`.
pub fn enter_kernel(entry: u64, args: [u64; 4]) -> ! {
    // SAFETY: the kernel image is in place and mapped at `entry` by the live
    // tables; it takes over the machine and never returns.
    unsafe {
        asm!(
            "br {entry}",
            entry = in(reg) entry,
            in("x0") args[0], in("x1") args[1], in("x2") args[2], in("x3") args[3],
            options(noreturn, nostack),
        )
    }
}
