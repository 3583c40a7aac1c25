# Peer-mapped shared memory on seL4: the two commands of the README.
#
#   make run  [ARCH=x86_64|aarch64] [SYSTEM=path/to/system.toml] [CORES=1|2|4]
#                                     boot a described system (default: the
#                                     spreadsheet demo; on x86_64 on 2 cores)
#   make test                         every test: host tests, lint, and the
#                                     on-target suites on both arches
#   make bench [ARCH=x86_64|aarch64]  the benchmark under -icount shift=0,
#                                     results in target/bench/ARCH/
#   make bench-kernels [ARCH=...]     the benchmark on the debug and the
#                                     production kernel, side by side
#   make profile [ARCH=...] [PROFILE_AT=M,K] [KERNEL=release]
#                                     one grow split into phases and
#                                     functions, in target/profile/ARCH/
#
# Kernel build and QEMU driving live in qemu.mk; everything built goes
# under target/.

# The demo on x86_64 runs on 2 cores unless told otherwise (AArch64 has no
# SMP kernel in seL4 5.0); everything else defaults to 1 (qemu.mk), and
# `make test` runs both.
ifneq ($(filter run debug,$(MAKECMDGOALS)),)
ifneq ($(ARCH),aarch64)
CORES ?= 2
endif
endif

include qemu.mk

TRIPLE = $(1)-unknown-none
IMAGES := target/images
# Per core count: the sel4 crate's bindings for the SMP kernel (feature
# smp) and where those programs and images are kept.
SMP = $(if $(filter 1,$(CORES)),,smp)
SMP_FEATURES = $(if $(SMP),--features sel4/smp)
IMAGE_SMP_FEATURES = $(if $(SMP),--features root-task/smp)
CORES_SUFFIX = $(if $(SMP),-smp$(CORES))
# $(call image-dir,ARCH): target/images/ARCH[-smpN]
image-dir = $(IMAGES)/$(1)$(CORES_SUFFIX)
CARGO_TARGET = cargo build --release --target $(call TRIPLE,$(1))

# A production kernel (KERNEL=release, built without CONFIG_DEBUG_BUILD)
# cannot print: the root task then writes the serial device itself and
# its processes send it their lines (root-task's serial-console).
IMAGE_FEATURES = $(if $(filter release,$(KERNEL)),--features root-task/serial-console)

# The system description `make run` boots (a system.toml; see README).
SYSTEM ?= apps/spreadsheet/system.toml
SUITE_SYSTEM := tests/suite/system.toml
BENCH_SYSTEM := bench/image/system.toml
# The host tool that checks a description and lists its programs.
SYSBUILD = cargo run -q -p sysbuild --

# The programs built for ARCH $(1) with symbols (gdb, simulate --symbols),
# and the stripped copies the root task embeds.
SYMBOLS_DIR = target/$(call TRIPLE,$(1))/programs-debug
EMBEDDED_DIR = target/$(call TRIPLE,$(1))/programs$(if $(SMP),-smp)
OBJCOPY_x86_64 := objcopy
OBJCOPY_aarch64 := aarch64-linux-gnu-objcopy
# Strip program $(2) for ARCH $(1); the embedded copy is replaced only when
# its bytes change, so an unchanged program does not rebuild the root task
# (and a copy some other build left is never trusted by its date).
strip-program = { $(OBJCOPY_$(1)) --strip-all $(SYMBOLS_DIR)/$(2) $(EMBEDDED_DIR)/$(2).new && \
	if cmp -s $(EMBEDDED_DIR)/$(2).new $(EMBEDDED_DIR)/$(2); then rm $(EMBEDDED_DIR)/$(2).new; \
	else mv $(EMBEDDED_DIR)/$(2).new $(EMBEDDED_DIR)/$(2); fi; }

# $(call image,ARCH,PACKAGE,SYSTEM,NAME): build the programs description
# SYSTEM names, then the image crate PACKAGE (a root task) with them
# embedded, kept as target/images/ARCH[-smpN]/NAME.elf (for CORES).
define image
	progs="$$($(SYSBUILD) programs $(3))" && \
	cargo build --profile programs-debug --target $(call TRIPLE,$(1)) --workspace $(PROGRAM_FEATURES) $(SMP_FEATURES) $$(for p in $$progs; do printf -- '--bin %s ' $$p; done) && \
	mkdir -p $(EMBEDDED_DIR) && \
	for p in $$progs; do $(call strip-program,$(1),$$p) || exit 1; done
	SYSBUILD_SYSTEM=$(abspath $(3)) SYSBUILD_PROGRAMS_DIR=$(abspath $(call EMBEDDED_DIR,$(1))) $(call CARGO_TARGET,$(1)) -p $(2) $(IMAGE_FEATURES) $(IMAGE_SMP_FEATURES)
	mkdir -p $(call image-dir,$(1))
	cp target/$(call TRIPLE,$(1))/release/$(2) $(call image-dir,$(1))/$(4).elf
endef

.PHONY: test-multicore bench-kernels profile c-lib test-systems test-system-large run debug test test-host lint doc doc-test test-target-x86_64 test-target-aarch64 bench

run: kernel
	$(call image,$(ARCH),root-task-image,$(SYSTEM),system)
	$(call qemu-simulate,$(call image-dir,$(ARCH))/system.elf)

# The demo under QEMU's GDB stub (qemu-debug in qemu.mk), after the gdb
# lines to use.
debug: kernel
	$(call image,$(ARCH),root-task-image,$(SYSTEM),system)
	@echo "debug: QEMU waits for gdb on localhost:$(GDB_PORT); in another terminal:"
	@echo "  gdb-multiarch -ex 'set architecture $(if $(filter aarch64,$(ARCH)),aarch64,i386:x86-64)' \\"
	@echo "    -ex 'file $(call SYMBOLS_DIR,$(ARCH))/spreadsheet' \\"
	@echo "    -ex 'target remote :$(GDB_PORT)' -ex 'hbreak spreadsheet::main' -ex continue"
	@echo "debug: the root task and every app are linked at the same address, so load one"
	@echo "  program's symbols at a time: 'file $(call image-dir,$(ARCH))/system.elf' for the root task."
	$(call qemu-debug,$(call image-dir,$(ARCH))/system.elf)

test: test-host lint doc doc-test c-lib test-target-x86_64 test-target-aarch64 test-systems test-multicore
	@echo "make test: all suites passed"

# The on-target suite and the described systems again on seL4's SMP kernel,
# 2 cores (x86_64: AArch64 has no SMP kernel in seL4 5.0, see README).
MULTICORE_CORES := 2
test-multicore:
	$(MAKE) test-target-x86_64 $(foreach s,spreadsheet hello c-list,test-system-x86_64-$(s)) CORES=$(MULTICORE_CORES)

# Host-side unit and property tests: the workspace's default members (the
# bare-metal programs and images build for their targets only). The sel4
# crate's generator reads the kernel source copy, so the kernel is fetched
# first.
test-host: kernels
	cargo test

# Crates that build for the host only.
HOST_ONLY := loader bench-report sysbuild profile-report qemu-profile-plugin
lint: kernels
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	$(foreach a,$(QEMU_ARCHES),cargo clippy --target $(call TRIPLE,$(a)) --workspace $(addprefix --exclude ,$(HOST_ONLY)) --all-features -- -D warnings &&) true

# The rustdoc an app author reads, as built for the bare-metal targets (where
# libshm's seL4-only API exists), in target/<triple>/doc/. Any rustdoc warning
# (a broken link, a bad code block) fails it.
DOC_CRATES := sel4 libshm libshm-c runtime vmm-server root-task
doc: kernels
	$(foreach a,$(QEMU_ARCHES),RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --target $(call TRIPLE,$(a)) $(addprefix -p ,$(DOC_CRATES)) &&) true
	@echo "make doc: open target/x86_64-unknown-none/doc/libshm/index.html"

# The seL4-only doc examples are whole programs: compiled (not run, they need
# the running system) for both targets. The filters select the files whose
# examples exist only on seL4; the rest run on the host in test-host.
TARGET_DOC_EXAMPLES := libshm/src/shm.rs libshm/src/sync.rs libshm/src/mapped.rs libshm/src/client.rs runtime/src sel4/src
doc-test: kernels
	$(foreach a,$(QEMU_ARCHES),cargo test --doc --target $(call TRIPLE,$(a)) -p libshm -p runtime -p sel4 -- $(TARGET_DOC_EXAMPLES) &&) true

# The suite's memory manager poisons the frames it frees (vmm-server's
# poison-freed), so a test can tell a read of freed memory.
$(addprefix test-target-,$(QEMU_ARCHES)): PROGRAM_FEATURES = --features vmm-server/poison-freed
# Seconds the whole suite may take (on 2 vCPUs of a busy 2-core host it
# takes a few minutes; one core, about one).
SUITE_TIMEOUT ?= 600
$(addprefix test-target-,$(QEMU_ARCHES)): TIMEOUT = $(SUITE_TIMEOUT)
$(addprefix test-target-,$(QEMU_ARCHES)): test-target-%: kernel-%
	$(call image,$*,suite,$(SUITE_SYSTEM),suite)
	$(call qemu-simulate,$(call image-dir,$*)/suite.elf,$*)

# The described systems boot and end well on both arches: the demo (an
# owner that starts its viewers, one crashing and restarted) and the
# README's example app, after checking that the README shows it as it is.
SYSTEM_TESTS := $(foreach a,$(QEMU_ARCHES),$(foreach s,spreadsheet hello c-list,test-system-$(a)-$(s)))
# The 1 GiB object shared by 16 peers needs a machine of 2 GiB: x86_64 only
# (the AArch64 kernel is built for 512 MiB of RAM).
test-systems: $(SYSTEM_TESTS) test-system-large
	tools/readme-app

# The C ABI layer as a C toolchain takes it, per arch in target/c/ARCH/:
# libshm.a and the generated libshm.h; the C examples of its documentation
# compiled against that header; then the C app compiled and linked
# by Debian's gcc and ld against them (the images link the same C app
# through cargo, apps/c-list/build.rs), with the flags of libshm/c/cflags/.
c-cc = $(shell sed -n 1p libshm/c/cflags/$(1))
c-flags = $(shell sed -n 2p libshm/c/cflags/$(1))
c-ld = $(if $(filter aarch64,$(1)),aarch64-linux-gnu-ld,ld)
c-lib: kernels
	$(foreach a,$(QEMU_ARCHES),\
	cargo build --release -p libshm-c --target $(call TRIPLE,$(a)) && mkdir -p target/c/$(a) && \
	cp target/$(call TRIPLE,$(a))/release/libshm.a target/c/$(a)/ && \
	cp "$$(ls -t target/$(call TRIPLE,$(a))/release/build/libshm-c-*/out/include/libshm.h | head -1)" target/c/$(a)/ && \
	tools/c-doc-examples $(a) target/c/$(a) && \
	$(call c-cc,$(a)) $(call c-flags,$(a)) -I target/c/$(a) -c apps/c-list/src/main.c -o target/c/$(a)/c-list.o && \
	$(call c-ld,$(a)) -static -nostdlib --gc-sections -T tools/sysbuild/src/program.ld \
		target/c/$(a)/c-list.o target/c/$(a)/libshm.a -o target/c/$(a)/c-list.elf && \
	echo "c-lib: target/c/$(a)/libshm.a and libshm.h; the C app linked by $(call c-ld,$(a)) against them" &&) true

# test-system-ARCH-APP: boot apps/APP/system.toml on ARCH.
system-arch = $(word 1,$(subst -, ,$(1)))
system-app = $(patsubst $(call system-arch,$(1))-%,%,$(1))
test-system-%: deps
	$(KERNEL_BUILD) $(call system-arch,$*) $(KERNEL) $(CORES)
	$(call image,$(call system-arch,$*),root-task-image,apps/$(call system-app,$*)/system.toml,$(call system-app,$*))
	$(call qemu-simulate,$(call image-dir,$(call system-arch,$*))/$(call system-app,$*).elf,$(call system-arch,$*))

test-system-large:
	$(MAKE) test-system-x86_64-large MEM=2G

# The benchmark: one bounded boot under -icount shift=0 (guest time counts
# instructions, so the same image gives the same figures), its log kept,
# then the tables, chart and target ratios from bench/report.
KERNEL_SUFFIX = $(if $(filter release,$(KERNEL)),-release)
BENCH_DIR = target/bench/$(ARCH)$(KERNEL_SUFFIX)$(CORES_SUFFIX)
BENCH_IMAGE = bench$(KERNEL_SUFFIX)
# Seconds before the benchmark boot is killed (it takes a few minutes).
BENCH_TIMEOUT ?= 900

bench: kernel
	$(call image,$(ARCH),bench-image,$(BENCH_SYSTEM),$(BENCH_IMAGE))
	mkdir -p $(BENCH_DIR)
	# The log streams as it comes; the run's own status decides.
	{ $(SIMULATE) --arch $(ARCH) --kernel $(KERNEL) --cores $(CORES) --image $(call image-dir,$(ARCH))/$(BENCH_IMAGE).elf --timeout $(BENCH_TIMEOUT) --icount; \
	  echo $$? > $(BENCH_DIR)/status; } | tee $(BENCH_DIR)/bench.log
	test "$$(cat $(BENCH_DIR)/status)" = 0
	cargo run --release -q -p bench-report -- $(BENCH_DIR)/bench.log $(BENCH_DIR)

# The benchmark on the debug and on the production kernel, and every
# target's ratio on both (target/bench/ARCH/kernels.md).
bench-kernels:
	$(MAKE) bench KERNEL=debug
	$(MAKE) bench KERNEL=release
	cargo run --release -q -p bench-report -- target/bench/$(ARCH)/bench.log target/bench/$(ARCH) \
	  target/bench/$(ARCH)-release/bench.log

# The profiler: the benchmark image with the phase markers compiled in
# (tools/profile/markers; no other build has them), its owner running only
# mmap_peer grows of PROFILE_AT (M peers, K pages), booted once with the
# QEMU plugin (tools/profile/plugin) counting every guest instruction by
# phase and address; the report (tools/profile/report) splits a grow into
# phases, names the top functions from the unstripped programs and the
# kernel, and gives the kernel's share: target/profile/ARCH/profile.md.
PROFILE_AT ?= 64,1
PROFILE_DIR = target/profile/$(ARCH)$(KERNEL_SUFFIX)
PROFILE_PLUGIN := target/release/libqemu_profile_plugin.so
# Seconds before the profiled boot is killed (every instruction is counted).
PROFILE_TIMEOUT ?= 900
profile: PROGRAM_FEATURES = --features profile-markers/enabled
profile: export BENCH_PROFILE_AT = $(PROFILE_AT)
profile: kernel
	cargo build --release -q -p qemu-profile-plugin -p profile-report
	$(call image,$(ARCH),bench-image,$(BENCH_SYSTEM),profile$(KERNEL_SUFFIX))
	mkdir -p $(PROFILE_DIR)
	{ $(SIMULATE) --arch $(ARCH) --kernel $(KERNEL) --cores $(CORES) --image $(call image-dir,$(ARCH))/profile$(KERNEL_SUFFIX).elf --timeout $(PROFILE_TIMEOUT) --icount \
	  --qemu-arg -plugin --qemu-arg $(abspath $(PROFILE_PLUGIN)),out=$(abspath $(PROFILE_DIR))/counts.txt,arch=$(ARCH); \
	  echo $$? > $(PROFILE_DIR)/status; } | tee $(PROFILE_DIR)/profile.log
	test "$$(cat $(PROFILE_DIR)/status)" = 0
	target/release/profile-report $(PROFILE_DIR)/counts.txt --kernel target/sel4/build-$(ARCH)$(KERNEL_SUFFIX)$(CORES_SUFFIX)/kernel.elf \
	  --client $(call SYMBOLS_DIR,$(ARCH))/bench-peer --server $(call SYMBOLS_DIR,$(ARCH))/vmm-server \
	  --title "mmap_peer grow, M,K = $(PROFILE_AT), $(ARCH)" --out $(PROFILE_DIR)/profile.md
