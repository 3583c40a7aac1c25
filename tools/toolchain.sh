#!/usr/bin/env bash
# Make sure the Rust toolchain that rust-toolchain.toml pins is installed with
# its components and targets. rustup installs what a toolchain file lists only
# when it may install on its own, which RUSTUP_AUTO_INSTALL=0 forbids, so this
# script asks for each missing piece explicitly. Nothing is fetched (and no
# network is touched) when everything is already there.
#
#   tools/toolchain.sh          check, install what is missing
#   tools/toolchain.sh --check  check only; exit 1 if something is missing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILE="$ROOT/rust-toolchain.toml"

command -v rustup >/dev/null || {
    echo "toolchain: rustup not found; install it from https://rustup.rs, then rerun" >&2
    exit 1
}

# The toolchain file is flat TOML: read channel, components and targets.
field() { sed -n "s/^$1 *= *//p" "$FILE" | tr -d '[]",' ; }
CHANNEL="$(field channel)"
read -r -a COMPONENTS <<<"$(field components)"
read -r -a TARGETS <<<"$(field targets)"
[[ -n "$CHANNEL" ]] || { echo "toolchain: no channel in $FILE" >&2; exit 1; }

have_toolchain() { rustup toolchain list | grep -q "^$CHANNEL-"; }
missing_of() { # missing_of component|target NAME...
    local kind=$1; shift
    local installed
    installed="$(rustup "$kind" list --installed --toolchain "$CHANNEL" 2>/dev/null)"
    for n in "$@"; do
        # Components are listed with the host triple appended (rustfmt-x86_64-...).
        grep -qE "^$n(-[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_-]+)?$" <<<"$installed" || echo "$n"
    done
}

check_only=${1:-}
if ! have_toolchain; then
    [[ "$check_only" != --check ]] || { echo "toolchain: $CHANNEL is not installed" >&2; exit 1; }
    echo "toolchain: installing Rust $CHANNEL (rustup toolchain install, profile minimal)"
    rustup toolchain install "$CHANNEL" --profile minimal --no-self-update
fi
mapfile -t want_components < <(missing_of component "${COMPONENTS[@]}")
mapfile -t want_targets < <(missing_of target "${TARGETS[@]}")
[[ ${#want_components[@]} -gt 0 || ${#want_targets[@]} -gt 0 ]] || exit 0

if [[ "$check_only" == --check ]]; then
    echo "toolchain: $CHANNEL lacks components: ${want_components[*]:-none}; targets: ${want_targets[*]:-none}" >&2
    exit 1
fi
if [[ ${#want_components[@]} -gt 0 ]]; then
    echo "toolchain: adding components to $CHANNEL: ${want_components[*]}"
    rustup component add --toolchain "$CHANNEL" "${want_components[@]}"
fi
if [[ ${#want_targets[@]} -gt 0 ]]; then
    echo "toolchain: adding targets to $CHANNEL: ${want_targets[*]}"
    rustup target add --toolchain "$CHANNEL" "${want_targets[@]}"
fi
exec "$0" --check
