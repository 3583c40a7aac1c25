#!/bin/sh
# Filter a kernel config header (stdin to stdout) for N cores:
#
#   tools/kernel/config/cores.sh N < tools/kernel/config/ARCH.h
#
# The headers are written for one core (`#define CONFIG_MAX_NUM_NODES 1`);
# for N > 1 that line becomes N cores with seL4's SMP support. One rule for
# both readers: tools/kernel/build.sh (the kernel) and the sel4 crate's
# build script (the bindings, whose invocation labels depend on it: the XML
# declares TCB_SetAffinity only when CONFIG_MAX_NUM_NODES > 1).
set -eu
n="${1:?usage: cores.sh N < header}"
case "$n" in
'' | *[!0-9]* | 0) echo "cores.sh: N must be a positive number, not '$n'" >&2; exit 2 ;;
esac
awk -v n="$n" '
    /^#define CONFIG_MAX_NUM_NODES 1$/ {
        found = 1
        if (n == 1) { print; next }
        print "#define CONFIG_MAX_NUM_NODES " n
        print "#define CONFIG_ENABLE_SMP_SUPPORT 1"
        next
    }
    { print }
    END { if (!found) { print "cores.sh: no \"#define CONFIG_MAX_NUM_NODES 1\" line" > "/dev/stderr"; exit 1 } }'
