/*
 * Force-included (gcc -include) into every C file of the x86_64 kernel by
 * tools/kernel/build.sh; the kernel source stays as shipped.
 *
 * seL4 5.0.0 aligns kernel_stack_alloc (src/kernel/stack.c) to
 * KERNEL_STACK_ALIGNMENT, 16 bytes on x86_64, but restore_user_context
 * (src/arch/x86/64/c_traps.c), on its path for an interrupt pending while
 * the kernel ran, finds the top of the current core's stack by rounding
 * %rsp to BIT(CONFIG_KERNEL_STACK_BITS). With a stack that does not start
 * on that boundary the kernel then runs on whatever lies above it: on two
 * cores that is x86KSASIDTable, and a thread is later resumed with the
 * kernel's page tables. This earlier declaration gives the array the
 * alignment that code assumes (GCC applies it to the definition); the
 * build checks the result with nm.
 */
#ifndef __ASSEMBLER__
#include <config.h>
extern char kernel_stack_alloc[CONFIG_MAX_NUM_NODES][1ul << CONFIG_KERNEL_STACK_BITS]
    __attribute__((aligned(1ul << CONFIG_KERNEL_STACK_BITS)));
#endif
