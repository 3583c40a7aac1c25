# Kernel build and QEMU driving, for both architectures. Included by the
# top-level Makefile (which defines run/test); usable alone too:
#
#   make -f qemu.mk kernel ARCH=aarch64 [KERNEL=release] [CORES=2]   build the seL4 kernel (no-op if up to date)
#   make -f qemu.mk simulate IMAGE=path/to/root-task.elf ARCH=x86_64 [KERNEL=release] [CORES=2] [TIMEOUT=60] [ICOUNT=1] [MEM=2G]
#
# In a recipe: $(call qemu-simulate,IMAGE[,ARCH]) runs one bounded boot and
# fails the recipe unless the root task ends with `@@SEL4-EXIT 0@@` (see
# tools/simulate for the exit codes); $(call qemu-debug,IMAGE[,ARCH]) boots
# for a debugger instead.

QEMU_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

ARCH ?= x86_64
# Which seL4 build: debug (target/sel4/build-ARCH/: printing, seL4_DebugPutChar,
# assertions) or release (target/sel4/build-ARCH-release/: no
# CONFIG_DEBUG_BUILD, prints nothing; for benchmarks). `kernel`, `kernels`,
# qemu-simulate and qemu-debug all use it.
KERNEL ?= debug
# Cores: 1 (seL4's uniprocessor kernel, target/sel4/build-ARCH[-release]/)
# or 2 or 4 (its SMP kernel, ...-smpN/, booted on as many QEMU vCPUs, one
# host thread each). A program must be built for the kernel it runs on
# (the sel4 crate's `smp` feature), so images are kept per core count.
CORES ?= 1
CORE_COUNTS := 1 2 4
# Seconds before a run is killed and reported as TIMEOUT.
TIMEOUT ?= 60
# ICOUNT=1: -icount shift=0, deterministic guest time (benchmarks).
ICOUNT ?=
# Guest RAM as QEMU's -m takes it (MEM=2G); empty: 512M on x86_64, 1G on
# aarch64 (whose kernel uses the first 512 MiB; see tools/simulate).
MEM ?=

QEMU_ARCHES := x86_64 aarch64
KERNEL_VARIANTS := debug release
SIMULATE := $(QEMU_MK_DIR)/tools/simulate
KERNEL_BUILD := $(QEMU_MK_DIR)/tools/kernel/build.sh
DEPS := $(QEMU_MK_DIR)/tools/deps.sh

ifeq ($(filter $(ARCH),$(QEMU_ARCHES)),)
$(error ARCH=$(ARCH): expected one of $(QEMU_ARCHES))
endif
ifeq ($(filter $(KERNEL),$(KERNEL_VARIANTS)),)
$(error KERNEL=$(KERNEL): expected one of $(KERNEL_VARIANTS))
endif
ifeq ($(filter $(CORES),$(CORE_COUNTS)),)
$(error CORES=$(CORES): expected one of $(CORE_COUNTS))
endif

# $(call qemu-simulate,IMAGE[,ARCH])
qemu-simulate = $(SIMULATE) --arch $(or $(2),$(ARCH)) --kernel $(KERNEL) --cores $(CORES) --image $(1) \
	--timeout $(TIMEOUT) $(if $(ICOUNT),--icount) $(if $(MEM),--mem $(MEM))

# Port of QEMU's GDB stub for a debug boot.
GDB_PORT ?= 1234
# $(call qemu-debug,IMAGE[,ARCH]): one boot for a debugger: the GDB stub on
# GDB_PORT, the CPU held (-S) until gdb continues, no time bound (it waits
# for a human; Ctrl-a x quits QEMU).
qemu-debug = $(SIMULATE) --arch $(or $(2),$(ARCH)) --kernel $(KERNEL) --cores $(CORES) --image $(1) --timeout 0 \
	$(if $(MEM),--mem $(MEM)) --qemu-arg -gdb --qemu-arg tcp::$(GDB_PORT) --qemu-arg -S

.PHONY: deps kernel kernels $(addprefix kernel-,$(QEMU_ARCHES)) simulate kernel-clean

# Debian packages (installs what is missing when run as root; else only checks).
deps:
	$(DEPS)

# build.sh itself decides whether anything changed ("kernel up to date").
kernel: deps
	$(KERNEL_BUILD) $(ARCH) $(KERNEL) $(CORES)

kernels: deps
	$(foreach a,$(QEMU_ARCHES),$(KERNEL_BUILD) $(a) $(KERNEL) $(CORES) &&) true

# One arch's kernel: kernel-x86_64, kernel-aarch64.
$(addprefix kernel-,$(QEMU_ARCHES)): kernel-%: deps
	$(KERNEL_BUILD) $* $(KERNEL) $(CORES)

# One bounded boot of IMAGE (aarch64: the loader is built by the script).
simulate: kernel
	$(if $(IMAGE),,$(error simulate: set IMAGE=path/to/root-task.elf))
	$(call qemu-simulate,$(IMAGE))

kernel-clean:
	rm -rf $(QEMU_MK_DIR)/target/sel4
