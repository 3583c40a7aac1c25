/*
 * seL4 5.0.0 kernel configuration: x86_64 (pc99) under QEMU TCG, -cpu qemu64.
 *
 * This replaces include/plat/pc99/autoconf.h in the build copy of the kernel
 * (tools/kernel/build.sh). The kernel's Kconfig tooling lives in seL4_tools,
 * which we do not have, so this file is the configuration. Values are the
 * ones known to boot (see shared notes): TCG has no x2APIC, PCID/INVPCID, VT-x
 * or 1 GiB pages, and FSGSBASE instructions need -cpu max.
 * The sel4 crate's build.rs reads this file too: keep it plain #defines.
 */
#ifndef AUTOCONF_INCLUDED
#define AUTOCONF_INCLUDED

/* Architecture and platform */
#define CONFIG_ARCH_X86 1
#define CONFIG_ARCH_X86_64 1
#define CONFIG_PLAT_PC99 1
#define CONFIG_WORD_SIZE 64
#define CONFIG_ARCH_X86_GENERIC 1
#define CONFIG_KERNEL_MASTER 1
#define CONFIG_CACHE_LN_SZ 64

/* CPU features usable on -cpu qemu64 */
#define CONFIG_HAVE_FPU 1
#define CONFIG_FPU_MAX_RESTORES_SINCE_SWITCH 64
#define CONFIG_FXSAVE 1
#define CONFIG_XSAVE_SIZE 512
#define CONFIG_FSGSBASE_MSR 1
#define CONFIG_SYSCALL 1
#define CONFIG_IRQ_IOAPIC 1
#define CONFIG_MAX_NUM_IOAPIC 1
#define CONFIG_XAPIC 1
#define CONFIG_MULTIBOOT_GRAPHICS_MODE_NONE 1

/* Kernel objects and scheduling */
#define CONFIG_ROOT_CNODE_SIZE_BITS 12
#define CONFIG_TIMER_TICK_MS 2
#define CONFIG_TIME_SLICE 5
#define CONFIG_RETYPE_FAN_OUT_LIMIT 256
#define CONFIG_MAX_NUM_WORK_UNITS_PER_PREEMPTION 100
#define CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS 167
#define CONFIG_FASTPATH 1
#define CONFIG_NUM_DOMAINS 1
#define CONFIG_NUM_PRIORITIES 256
/* Cores: one here; tools/kernel/config/cores.sh makes the multicore form. */
#define CONFIG_MAX_NUM_NODES 1
#define CONFIG_KERNEL_STACK_BITS 12

/* Build */
#define CONFIG_OPTIMISATION_O2 1
#define CONFIG_NO_BENCHMARKS 1

/* BEGIN DEBUG-ONLY: the debug kernel (printing, seL4_DebugPutChar and the
 * other debug syscalls, IRQ reports, user stack dumps on faults). The
 * release kernel (tools/kernel/build.sh ARCH release) is built from this
 * file without the lines from this one to END DEBUG-ONLY, and without the
 * Makefile's DEBUG=1 (whose -DDEBUG turns kernel assertions on). Keep only
 * debug options in here, and these two marker lines as they are. */
#define CONFIG_DEBUG_BUILD 1
#define CONFIG_PRINTING 1
#define CONFIG_IRQ_REPORTING 1
/* The Makefile's DEBUG=1 also passes -DCONFIG_USER_STACK_TRACE_LENGTH=1. */
#ifndef CONFIG_USER_STACK_TRACE_LENGTH
#define CONFIG_USER_STACK_TRACE_LENGTH 1
#endif
/* END DEBUG-ONLY */

#endif /* AUTOCONF_INCLUDED */
