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

# $(call image,ARCH,NAME,FEATURES): build the root task with FEATURES and
# keep the result as target/images/ARCH/NAME.elf.
define image
	$(call CARGO_TARGET,$(1)) -p root-task $(if $(3),--features $(3))
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
	cargo test --workspace --exclude root-task

lint: kernels
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude root-task --all-targets -- -D warnings
	$(foreach a,$(QEMU_ARCHES),cargo clippy --target $(call TRIPLE,$(a)) -p sel4 -p root-task --all-features -- -D warnings &&) true

$(addprefix test-target-,$(QEMU_ARCHES)): test-target-%: kernels
	$(call image,$*,smoke,smoke)
	$(call qemu-simulate,$(IMAGES)/$*/smoke.elf,$*)
