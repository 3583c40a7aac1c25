/*
 * seL4 5.0.0 kernel configuration: AArch64 on QEMU `virt`, -cpu cortex-a53.
 *
 * This replaces include/plat/qemu-arm-virt/autoconf.h in the build copy of
 * the kernel; that platform is generated from hikey by tools/kernel/build.sh
 * (hikey is the only Cortex-A53 AArch64 platform in 5.0 and its PL011 UART,
 * GICv2 and generic timer drivers match QEMU virt's devices). CONFIG_PLAT_HIKEY
 * stays set: the generated platform is hikey's code with virt's addresses.
 * The sel4 crate's build.rs reads this file too: keep it plain #defines.
 */
#ifndef AUTOCONF_INCLUDED
#define AUTOCONF_INCLUDED

/* Architecture and platform */
#define CONFIG_ARCH_ARM 1
#define CONFIG_ARCH_AARCH64 1
#define CONFIG_ARCH_ARM_V8A 1
#define CONFIG_ARM_CORTEX_A53 1
#define CONFIG_PLAT_HIKEY 1
#define CONFIG_WORD_SIZE 64
#define CONFIG_KERNEL_MASTER 1

/* CPU features */
#define CONFIG_HAVE_FPU 1
#define CONFIG_FPU_MAX_RESTORES_SINCE_SWITCH 64
/* The IPC buffer address is passed to user space in TPIDRURW (TPIDRRO_EL0). */
#define CONFIG_IPC_BUF_TPIDRURW 1
#define CONFIG_DEBUG_DISABLE_PREFETCHERS 1

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
#define CONFIG_MAX_NUM_TRACE_POINTS 0

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
