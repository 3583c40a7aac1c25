# Peer-mapped shared memory on seL4: the two commands of the README.
#
#   make run  [ARCH=x86_64|aarch64]   boot the demo image under QEMU
#   make test                         every test: host tests, lint, and the
#                                     on-target suites on both arches
#
# Kernel build and QEMU driving live in qemu.mk; everything built goes
# under target/.

include qemu.mk

TRIPLE = $(1)-unknown-none
IMAGES := target/images
CARGO_TARGET = cargo build --release --target $(call TRIPLE,$(1))

# The programs the root task embeds and spawns: the memory manager and the apps.
APPS := testapp spreadsheet
PROGRAMS := vmm-server $(APPS)
# Crates that only build for the bare-metal targets (vmm-server's logic is
# a library with host tests; its binary builds on both).
TARGET_ONLY := root-task $(APPS)

comma := ,
empty :=
space := $(empty) $(empty)
# name=path,... of the programs built for ARCH $(1), for root-task/build.rs.
program-list = $(subst $(space),$(comma),$(foreach p,$(PROGRAMS),$(p)=$(abspath target/$(call TRIPLE,$(1))/programs/$(p))))

# $(call image,ARCH,NAME,FEATURES): build the programs, then the root task
# with them embedded and with FEATURES, kept as target/images/ARCH/NAME.elf.
define image
	cargo build --profile programs --target $(call TRIPLE,$(1)) $(addprefix -p ,$(PROGRAMS))
	ROOT_TASK_PROGRAMS=$(call program-list,$(1)) $(call CARGO_TARGET,$(1)) -p root-task $(if $(3),--features $(3))
	mkdir -p $(IMAGES)/$(1)
	cp target/$(call TRIPLE,$(1))/release/root-task $(IMAGES)/$(1)/$(2).elf
endef

.PHONY: run test test-host lint test-target-x86_64 test-target-aarch64

run: kernel
	$(call image,$(ARCH),demo,)
	$(call qemu-simulate,$(IMAGES)/$(ARCH)/demo.elf)

test: test-host lint test-target-x86_64 test-target-aarch64
	@echo "make test: all suites passed"

# Host-side unit and property tests. The sel4 crate's generator reads the
# kernel source copy, so the kernel is fetched first.
test-host: kernels
	cargo test --workspace $(addprefix --exclude ,$(TARGET_ONLY))

lint: kernels
	cargo fmt --all -- --check
	cargo clippy --workspace $(addprefix --exclude ,$(TARGET_ONLY)) --all-targets -- -D warnings
	$(foreach a,$(QEMU_ARCHES),cargo clippy --target $(call TRIPLE,$(a)) -p sel4 -p libshm -p runtime $(addprefix -p ,$(PROGRAMS) root-task) --all-features -- -D warnings &&) true

$(addprefix test-target-,$(QEMU_ARCHES)): test-target-%: kernels
	$(call image,$*,suite,suite)
	$(call qemu-simulate,$(IMAGES)/$*/suite.elf,$*)
