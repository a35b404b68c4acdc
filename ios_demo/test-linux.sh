#!/usr/bin/env bash
# Build and test the MLVC Swift package on Linux (CI: a fresh Debian 12 machine, as root).
#
# Swift comes from Debian 13 (trixie)'s `swiftlang` package, installed once into a chroot with
# mmdebstrap (about 2.5 GB) under ${MLVC_SWIFT_ROOT:-/opt/swift-trixie}; later runs reuse it.
# The repository is bind-mounted at /mlvc inside the chroot, /proc is mounted (the Swift driver
# needs it), and both are unmounted on exit. Exit status: that of `swift build` / `swift test`.
#
#   ios_demo/test-linux.sh                 build + test
#   MLVC_SWIFT_ROOT=/cache/swift ios_demo/test-linux.sh
#   ios_demo/test-linux.sh --filter GoldenDecodeTests   (extra args go to `swift test`)
#   MLVC_REQUIRE_GOLDEN=0 ios_demo/test-linux.sh        (default 1: a test skipped for a missing
#                                                         golden input fails the run)
#   MLVC_VECTORS_DIR=... (default: sdk/mlvc/data/vectors; the conformance vectors + hostile catalogue)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
ROOT=${MLVC_SWIFT_ROOT:-/opt/swift-trixie}
MIRROR=${MLVC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
INNER=/mlvc
STAMP="$ROOT/.mlvc-swift-ready"

log() { echo "test-linux.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "must run as root (mmdebstrap, chroot, mount)"
    exit 2
fi

install_toolchain() {
    # usr/bin/swift is an absolute symlink (valid inside the chroot only): test its target.
    if [ -f "$STAMP" ] && [ -x "$ROOT/usr/libexec/swift/bin/swift" ]; then
        return 0
    fi
    log "installing Swift (Debian trixie swiftlang) into $ROOT"
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap
    fi
    mkdir -p "$(dirname "$ROOT")"
    rm -rf "$ROOT.partial"
    mmdebstrap --variant=apt --include=swiftlang,libc6-dev,ca-certificates \
        trixie "$ROOT.partial" "$MIRROR"
    touch "$ROOT.partial/.mlvc-swift-ready"
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
}

MOUNTED=()
cleanup() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
}

mount_once() {  # mount_once TARGET mount-args...
    local target=$1; shift
    if mountpoint -q "$target"; then   # left over from a killed run
        umount "$target" 2>/dev/null || umount -l "$target"
    fi
    mount "$@" "$target"
    MOUNTED+=("$target")
}

# One run at a time per toolchain root (installs and mounts are shared state).
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

install_toolchain

trap cleanup EXIT INT TERM
mkdir -p "$ROOT/proc" "$ROOT$INNER"
mount_once "$ROOT/proc" -t proc proc
mount_once "$ROOT$INNER" --bind "$REPO"

run_in_chroot() {
    chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
        MLVC_GOLDEN_DIR="${MLVC_GOLDEN_DIR:+$INNER/${MLVC_GOLDEN_DIR#"$REPO"/}}" \
        MLVC_VECTORS_DIR="${MLVC_VECTORS_DIR:+$INNER/${MLVC_VECTORS_DIR#"$REPO"/}}" \
        MLVC_REQUIRE_GOLDEN="${MLVC_REQUIRE_GOLDEN:-1}" \
        /bin/sh -c "cd $INNER/ios_demo && $*"
}

LOG=$(mktemp)
trap 'cleanup; rm -f "$LOG"' EXIT INT TERM
set +e
run_in_chroot "swift --version && swift build"
status=$?
if [ $status -eq 0 ]; then
    args=""
    if [ $# -gt 0 ]; then args=$(printf '%q ' "$@"); fi
    # XCTest only: the Swift Testing runner would add a confusing "0 tests" summary line.
    run_in_chroot "swift test --disable-swift-testing $args" 2>&1 | tee "$LOG"
    status=${PIPESTATUS[0]}
    # Skips are counted; with MLVC_REQUIRE_GOLDEN=1 (the default) a skipped test fails the run
    # (the tests throw instead of skipping when a golden input is missing; this catches the rest).
    skipped=$(grep -cE "^Test Case '.*' skipped" "$LOG" || true)
    log "skipped tests: $skipped (MLVC_REQUIRE_GOLDEN=${MLVC_REQUIRE_GOLDEN:-1})"
    if [ "${MLVC_REQUIRE_GOLDEN:-1}" = 1 ] && [ "$skipped" != 0 ] && [ $status -eq 0 ]; then
        log "skipped tests with MLVC_REQUIRE_GOLDEN=1"; status=1
    fi
fi
set -e
if [ $status -eq 0 ]; then log "OK"; else log "FAILED (exit $status)"; fi
exit $status
