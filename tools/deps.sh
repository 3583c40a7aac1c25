#!/usr/bin/env bash
# Make sure everything the build and the QEMU runs need is installed: the
# pinned Rust toolchain with its targets (tools/toolchain.sh, by rustup), then
# the Debian packages (installed when run as root). Does nothing (and touches
# no network) when everything is already there.
#
#   tools/deps.sh          check, install if root
#   tools/deps.sh --check  check only; exit 1 if something is missing
#   DEPS_DRY_RUN=1 tools/deps.sh   print the apt-get commands instead
set -euo pipefail

"$(dirname "${BASH_SOURCE[0]}")/toolchain.sh" "$@"

PACKAGES=(make gcc binutils gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu
    libxml2-utils python3 python3-ply python3-tempita python3-six
    qemu-system-x86 qemu-system-arm gdb-multiarch)
# QEMU packages that must all come from bookworm (QEMU 7.2): the notes' AArch64
# timer frequency is QEMU 7.2's, and a newer qemu-utils from backports (found
# preinstalled on some machines) conflicts with bookworm's qemu-system 7.2.
QEMU_FAMILY=(qemu-system-x86 qemu-system-arm qemu-system-common qemu-system-data
    qemu-system-gui qemu-utils qemu-block-extra)
QEMU_WANT='1:7.2'

# One dpkg-query for all: "name version" for each installed package.
declare -A VERSION=()
while read -r name status version; do
    [[ "$status" == installed ]] && VERSION["${name%%:*}"]="$version"
done < <(dpkg-query -W -f='${Package} ${db:Status-Status} ${Version}\n' \
    "${PACKAGES[@]}" "${QEMU_FAMILY[@]}" 2>/dev/null || true)

missing=()
for p in "${PACKAGES[@]}"; do
    [[ -n "${VERSION[$p]:-}" ]] || missing+=("$p")
done
# Packages say installed, but also check what the build actually runs.
for c in make gcc objcopy aarch64-linux-gnu-gcc aarch64-linux-gnu-objcopy \
    xmllint qemu-system-x86_64 qemu-system-aarch64; do
    command -v "$c" >/dev/null || missing+=("(command $c)")
done
/usr/bin/python3 -c 'import ply, tempita, six' 2>/dev/null ||
    missing+=("(python modules ply/tempita/six for /usr/bin/python3)")

# QEMU packages installed at another version than 7.2 must be moved to it.
wrong_qemu=()
for p in "${QEMU_FAMILY[@]}"; do
    v="${VERSION[$p]:-}"
    if [[ -n "$v" && "$v" != "$QEMU_WANT"* ]]; then wrong_qemu+=("$p"); fi
done

if [[ ${#missing[@]} -eq 0 && ${#wrong_qemu[@]} -eq 0 ]]; then
    exit 0
fi

echo "deps: missing: ${missing[*]:-none}; QEMU packages not at 7.2: ${wrong_qemu[*]:-none}" >&2
if [[ "${1:-}" == "--check" || "$(id -u)" != 0 ]]; then
    echo "deps: run tools/deps.sh as root to install them" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
run() { if [[ -n "${DEPS_DRY_RUN:-}" ]]; then echo "would run: $*"; else "$@"; fi; }
run apt-get update -qq
# Ask for the whole QEMU family from bookworm where that release is known to
# apt; --allow-downgrades lets apt replace a newer backports qemu-utils.
targets=("${PACKAGES[@]}")
if apt-cache policy qemu-system-x86 2>/dev/null | grep ' bookworm/' >/dev/null; then
    targets=()
    for p in "${PACKAGES[@]}"; do
        case " ${QEMU_FAMILY[*]} " in *" $p "*) targets+=("$p/bookworm") ;; *) targets+=("$p") ;; esac
    done
    targets+=(qemu-utils/bookworm)
    for p in "${wrong_qemu[@]}"; do
        case " ${targets[*]} " in *" $p/bookworm "*) ;; *) targets+=("$p/bookworm") ;; esac
    done
fi
run apt-get install -y -qq --no-install-recommends --allow-downgrades "${targets[@]}"

# Re-check: fail loudly rather than let the build fail obscurely later.
[[ -n "${DEPS_DRY_RUN:-}" ]] || exec "$0" --check
