#!/usr/bin/env bash
# Build the seL4 5.0.0 kernel for one architecture, out of tree, into target/.
#
#   tools/kernel/build.sh x86_64 [debug]   -> target/sel4/build-x86_64/kernel.elf, kernel32.elf
#   tools/kernel/build.sh aarch64 [debug]  -> target/sel4/build-aarch64/kernel.elf
#   tools/kernel/build.sh ARCH release     -> target/sel4/build-ARCH-release/ (the same files)
#   tools/kernel/build.sh ARCH VARIANT N   -> N cores (1, the default, 2 or 4):
#                                             target/sel4/build-ARCH[-release]-smpN/
#
# debug (the default): CONFIG_DEBUG_BUILD, printing, seL4_DebugPutChar and the
# other debug syscalls, kernel assertions (the Makefile's DEBUG=1: -DDEBUG,
# -DCONFIG_DEBUG_BUILD, -ggdb -g3 on x86_64). release: the production kernel
# for benchmarks, which prints nothing and refuses the debug syscalls: the
# same config header without its DEBUG-ONLY block (the lines from
# `/* BEGIN DEBUG-ONLY` to `/* END DEBUG-ONLY */`), no DEBUG=1 (so no
# assertions: include/assert.h keys them on DEBUG), and plain -g so that
# kernel.elf keeps its symbols and line tables (code is the same with or
# without -g).
#
# N > 1: seL4's SMP kernel for N cores (tools/kernel/config/cores.sh turns
# the header's one core into N). On x86_64 its __builtin_popcountl needs
# -mpopcnt (there is no libgcc to supply __popcountdi2), so QEMU must offer
# popcnt (tools/simulate adds it).
#
# Every x86_64 build force-includes tools/kernel/config/x86_64-stack.h,
# which aligns the kernel stacks as restore_user_context assumes (see that
# file: without it a second core corrupts the ASID table); the build then
# checks the alignment in kernel.elf.
#
# The source is the `seL4/` folder of the crates.io package sel4-sys 0.0.28,
# fetched by `cargo metadata` on tools/kernel/fetch/ and copied once to
# target/sel4/src/ (shared by both arches; the sel4 crate's build.rs reads
# libsel4 there). Our configuration goes into that copy: tools/kernel/config/
# <arch>.h (or its release form) replaces the platform's autoconf.h, and for
# AArch64 the platform qemu-arm-virt is generated from hikey
# (gen_qemu_arm_virt.py). Nothing it writes is under version control. A
# rebuild happens only when one of its inputs (this script, the variant and its
# config header, the generator, the lock file, the compiler) changed. Every
# build installs its own header in the shared copy first, under a lock, so the
# variants never see each other's.
set -euo pipefail

usage() {
    echo "usage: $0 x86_64|aarch64 [debug|release] [1|2|4]" >&2
    exit 2
}
ARCH="${1:-}"
VARIANT="${2:-debug}"
CORES="${3:-1}"
[[ $# -le 3 ]] || usage
case "$ARCH" in
x86_64) PLAT=pc99 ;;
aarch64) PLAT=qemu-arm-virt ;;
*) usage ;;
esac
case "$VARIANT" in
debug) SUFFIX= ;;
release) SUFFIX=-release ;;
*) usage ;;
esac
case "$CORES" in
1) ;;
2 | 4) SUFFIX+=-smp$CORES ;;
*) usage ;;
esac
if [[ "$ARCH" == aarch64 && "$CORES" != 1 ]]; then
    # Measured on the 5.0.0 source: src/arch/arm/64/head.S:91 does not
    # assemble (`mul x5, x6`), include/arch/arm/arch/64/mode/smp/smp.h reads
    # MPIDR with `mov`, the ARM IPI layer is stubs (src/arch/arm/kernel/
    # ipi.c: Arch_handleIPI, doRemoteStall "not implemented") and TLB
    # maintenance is core-local. Building it would mean patching the kernel.
    echo "$0: seL4 5.0.0 has no working AArch64 SMP kernel (its SMP code does" \
        "not build and has no IPIs); AArch64 runs on one core (CORES=1)" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/sel4"
SRC="$OUT/src"
BUILD="$OUT/build-$ARCH$SUFFIX"
CONFIG="$HERE/config/$ARCH.h"
STACK_HEADER="$HERE/config/x86_64-stack.h"
FETCH="$HERE/fetch/Cargo.toml"
GEN="$HERE/gen_qemu_arm_virt.py"
if [[ "$ARCH" == aarch64 ]]; then TOOLPREFIX=aarch64-linux-gnu-; else TOOLPREFIX=; fi

mkdir -p "$OUT"
# Both arches and both variants share the source copy: serialise builds.
exec 9>"$OUT/.lock"
flock 9

# The header this variant builds with: the arch's config header, for release
# without its DEBUG-ONLY block (one definition of every other option).
HEADER="$OUT/.autoconf-$ARCH-$VARIANT-$CORES.h"
CORES_FILTER="$HERE/config/cores.sh"
if [[ "$VARIANT" == debug ]]; then
    "$CORES_FILTER" "$CORES" <"$CONFIG" >"$HEADER"
else
    awk '
        /^\/\* BEGIN DEBUG-ONLY/ { if (seen++ || skip) bad = 1; skip = 1; next }
        /^\/\* END DEBUG-ONLY \*\/$/ { if (!skip) bad = 1; skip = 0; next }
        !skip { print }
        END { if (bad || skip || seen != 1) exit 1 }' "$CONFIG" | "$CORES_FILTER" "$CORES" >"$HEADER" || {
        echo "$CONFIG: expected one '/* BEGIN DEBUG-ONLY' line, then one" \
            "'/* END DEBUG-ONLY */' line" >&2
        exit 1
    }
    debug_only='DEBUG|CONFIG_DEBUG_BUILD|CONFIG_PRINTING|CONFIG_IRQ_REPORTING|CONFIG_USER_STACK_TRACE_LENGTH'
    if grep -nE "^[[:space:]]*#.*\<($debug_only)\>" "$HEADER" >&2; then
        echo "$CONFIG: debug-only options outside its DEBUG-ONLY block (above)" >&2
        exit 1
    fi
fi

# Everything the kernel binary depends on besides the pristine source, whose
# identity is pinned by the Cargo.lock checksum.
inputs_hash() {
    {
        echo "variant $VARIANT"
        sha256sum "$HERE/build.sh" "$CORES_FILTER" "$HEADER" "$HERE/fetch/Cargo.lock"
        [[ "$ARCH" != aarch64 ]] || sha256sum "$GEN"
        [[ "$ARCH" != x86_64 ]] || sha256sum "$STACK_HEADER"
        "${TOOLPREFIX}gcc" --version 2>/dev/null | sed -n 1p
    } | sha256sum | cut -d' ' -f1
}

outputs=("$BUILD/kernel.elf")
[[ "$ARCH" != x86_64 ]] || outputs+=("$BUILD/kernel32.elf")
have_outputs() { for f in "${outputs[@]}"; do [[ -s "$f" ]] || return 1; done; }

HASH="$(inputs_hash)"
if have_outputs && [[ -f "$BUILD/.inputs" && "$(cat "$BUILD/.inputs")" == "$HASH" ]] &&
    [[ -f "$SRC/.copied" ]]; then
    echo "kernel up to date ($ARCH $VARIANT $CORES core(s): ${outputs[*]#"$ROOT"/})"
    exit 0
fi

start=$(date +%s%N)
"$ROOT/tools/deps.sh"

# 1. The source copy (only when missing).
if [[ ! -f "$SRC/.copied" ]]; then
    manifest="$(cargo metadata --format-version 1 --locked --manifest-path "$FETCH" |
        /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
print(next(p["manifest_path"] for p in d["packages"] if p["name"] == "sel4-sys"))')"
    kernel_src="$(dirname "$manifest")/seL4"
    [[ -f "$kernel_src/VERSION" ]] || { echo "no seL4/ folder in $kernel_src" >&2; exit 1; }
    echo "copying seL4 $(cat "$kernel_src/VERSION") from $kernel_src"
    rm -rf "$SRC" "$SRC.tmp"
    cp -R "$kernel_src" "$SRC.tmp"
    chmod -R u+w "$SRC.tmp"
    # Stray Python 2 bytecode shipped in the package: never use it.
    find "$SRC.tmp" -name '*.pyc' -delete
    mv "$SRC.tmp" "$SRC"
    echo "$kernel_src" >"$SRC/.copied"
fi

# 2. Our configuration and platform, written into the copy: always, as the
# other variant's build may have left its header there.
if [[ "$ARCH" == aarch64 ]]; then
    /usr/bin/python3 "$GEN" "$SRC"
fi
cp "$HEADER" "$SRC/include/plat/$PLAT/autoconf.h"

# 3. Build. The generators' shebang is `/usr/bin/env python`: make `python` be
# Debian's python3 (with ply/tempita/six), not whatever else is on PATH.
shim="$OUT/python-shim"
mkdir -p "$shim"
ln -sf /usr/bin/python3 "$shim/python"

rm -rf "$BUILD"
mkdir -p "$BUILD"
cp "$HEADER" "$BUILD/autoconf.h" # what it was built with, for reference
make_args=(-f "$SRC/Makefile" SOURCE_ROOT="$SRC" PLAT="$PLAT"
    PYTHON=/usr/bin/python3 CIRCULAR_INCLUDES=true)
# GCC 12 warnings that 2017 code trips; the Makefile appends to CFLAGS.
cflags="-Wno-error=address-of-packed-member -Wno-error=array-bounds"
if [[ "$VARIANT" == debug ]]; then
    make_args+=(DEBUG=1)
else
    cflags+=" -g" # x86_64; AArch64's flag set below has it
fi
if [[ "$ARCH" == x86_64 ]]; then
    cflags+=" -include $STACK_HEADER"
    [[ "$CORES" == 1 ]] || cflags+=" -mpopcnt"
fi
if [[ "$ARCH" == x86_64 ]]; then
    make_args+=(ARCH=x86 SEL4_ARCH=x86_64)
else
    # The Makefile knows neither our platform nor -marm-free ARM flags: extend
    # its platform list and give the whole AArch64 flag set (it replaces
    # CFLAGS; then the Makefile adds only its defines, -DDEBUG etc. if debug).
    make_args+=(ARCH=arm SEL4_ARCH=aarch64 CPU=cortex-a53 ARMV=armv8-a
        TOOLPREFIX="$TOOLPREFIX"
        "PLAT_LIST=pc99 hikey $PLAT"
        "CONFIG_KERNEL_CFLAGS=--std=c99 -nostdlib -nostdinc -ffreestanding -Wall -Wstrict-prototypes -Wmissing-prototypes -Wnested-externs -Wmissing-declarations -Wundef -Wpointer-arith -Wno-nonnull -fno-pic -O2 -g -mtune=cortex-a53 -march=armv8-a -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables")
fi
(
    cd "$BUILD"
    export CFLAGS="$cflags"
    export PATH="$shim:$PATH"
    make -j"$(nproc)" "${make_args[@]}" >"$BUILD/build.log" 2>&1
) || {
    tail -n 40 "$BUILD/build.log" >&2
    echo "kernel build failed ($ARCH $VARIANT $CORES core(s)); full log: $BUILD/build.log" >&2
    exit 1
}

if [[ "$ARCH" == x86_64 ]]; then
    stack_bits="$(sed -n 's/^#define CONFIG_KERNEL_STACK_BITS \([0-9]*\)$/\1/p' "$HEADER")"
    stack="$(nm "$BUILD/kernel.elf" | awk '$3 == "kernel_stack_alloc" { print $1 }')"
    if [[ -z "$stack" || -z "$stack_bits" ]] || (((16#$stack) % (1 << stack_bits))); then
        echo "kernel_stack_alloc at 0x$stack is not aligned to 2^$stack_bits ($STACK_HEADER)" >&2
        exit 1
    fi
    # QEMU's multiboot loader only takes 32-bit ELF files.
    objcopy -O elf32-i386 "$BUILD/kernel.elf" "$BUILD/kernel32.elf"
fi
echo "$HASH" >"$BUILD/.inputs"
ms=$((($(date +%s%N) - start) / 1000000))
printf 'kernel built (%s %s, %s core(s)) in %d.%03d s: %s\n' "$ARCH" "$VARIANT" "$CORES" $((ms / 1000)) $((ms % 1000)) "${outputs[*]#"$ROOT"/}"
