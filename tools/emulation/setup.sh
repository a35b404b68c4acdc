#!/usr/bin/env bash
# Idempotent installer for the emulation targets used by run.sh.
#
#   tools/emulation/setup.sh [--force] TARGET...     (TARGET... or "all")
#
# Everything is built under ${MLVC_EMU_CACHE:-$HOME/.cache/mlvc-emu}; a target
# that is already complete is skipped (--force rebuilds it). Missing apt
# packages (qemu-user-static, mmdebstrap) are installed (needs root or sudo).
#
# Env knobs:
#   MLVC_EMU_CACHE          cache dir (default ~/.cache/mlvc-emu)
#   MLVC_PYTHON             host x86-64 python with ai_edge_litert (default /opt/mlvc-venv/bin/python)
#   MLVC_EMU_DEBIAN_MIRROR  Debian mirror for the aarch64 sysroot (default http://deb.debian.org/debian)
#   MLVC_EMU_NCPU           CPUs the aarch64 sysroot advertises (default 4, like a Pi 4/5)
set -euo pipefail
# shellcheck source=_common.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/_common.sh"

usage() {
    printf 'usage: %s [--force] TARGET...\n  targets: %s all\n' "$_emu_prog" "$EMU_TARGETS" >&2
    exit 2
}

force=0
targets=()
for a in "$@"; do
    case $a in
    -h|--help) usage ;;
    -f|--force) force=1 ;;
    all) read -r -a all_t <<<"$EMU_TARGETS"; targets+=("${all_t[@]}") ;;
    *) is_target "$a" || { log "unknown target '$a'"; usage; }; targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || usage
[ "$(uname -m)" = x86_64 ] || die "host must be x86-64 (got $(uname -m)); the recipes assume an x86-64 Debian/Ubuntu host"

DEBIAN_MIRROR=${MLVC_EMU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
NCPU=${MLVC_EMU_NCPU:-4}
case $NCPU in ''|*[!0-9]*|0) die "MLVC_EMU_NCPU must be a positive integer" ;; esac
STAMP=.mlvc-emu-complete
mkdir -p "$EMU_CACHE"

# ---------------------------------------------------------------- helpers --
SUDO=()
as_root() {
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to run: $*"
        SUDO=(sudo)
    fi
    "${SUDO[@]}" "$@"
}

# ensure_apt CMD:PKG... -- installs PKG when CMD is missing.
ensure_apt() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get; install them by hand"
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q "${missing[@]}" >/dev/null ||
        { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q "${missing[@]}" >/dev/null; } ||
        die "apt-get install ${missing[*]} failed"
}

# host_pins PKG... -- prints "PKG==VERSION ..." taken from the host python so
# all targets use the same versions (a package it lacks stays unpinned).
host_pins() {
    local py
    py=$(find_host_python 2>/dev/null) || { printf '%s ' "$@"; return 0; }
    "$py" - "$@" <<'EOF'
import importlib.metadata as m, sys
def pin(p):
    try:
        return f"{p}=={m.version(p)}"
    except m.PackageNotFoundError:
        return p
print(" ".join(pin(p) for p in sys.argv[1:]), end="")
EOF
}

# A python (3.11) with pip/venv to build things from the host.
base_python() {
    local py c
    if py=$(find_host_python 2>/dev/null); then
        c=$("$py" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
        [ -x "$c" ] && { printf '%s' "$c"; return 0; }
    fi
    for c in python3.11 python3; do
        c=$(command -v "$c" || true)
        [ -n "$c" ] && "$c" -c 'import venv, ensurepip' >/dev/null 2>&1 && { printf '%s' "$c"; return 0; }
    done
    return 1
}

# make_venv DIR PIP_ARGS... (optional: OPTIONAL_PKGS in env, tried after)
make_venv() {
    local dir=$1 bp ver; shift
    bp=$(base_python) || die "no python3 with venv/ensurepip found (apt-get install python3-venv, or set MLVC_PYTHON)"
    ver=$("$bp" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$ver" = 3.11 ] || log "warning: base python is $ver, wheels are only known to exist for 3.11"
    rm -rf "$dir"
    "$bp" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
    if [ -n "${OPTIONAL_PKGS:-}" ]; then
        # shellcheck disable=SC2086
        "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" $OPTIONAL_PKGS ||
            log "warning: optional '$OPTIONAL_PKGS' not installed (harness works without it)"
    fi
}

smoke() {
    local t=$1 mod out
    mod=$(runtime_module "$t")
    out=$("$EMU_DIR/run.sh" "$t" -- -c "import numpy, $mod, platform; print(platform.machine(), 'numpy', numpy.__version__, '$mod', getattr($mod, '__version__', '?'))" 2>&1) ||
        die "$t: smoke test failed:
$out"
    log "$t: ok ($out)"
}

# ---------------------------------------------------------------- targets --
setup_x86() {
    ensure_apt qemu-x86_64-static:qemu-user-static
    if ! find_host_python >/dev/null 2>&1; then
        [ -n "${MLVC_PYTHON:-}" ] && die "MLVC_PYTHON=$MLVC_PYTHON has no ai_edge_litert/numpy"
        local v; v=$(fallback_x86_venv)
        log "no host python with ai_edge_litert; building $v"
        OPTIONAL_PKGS=opencv-python-headless make_venv "$v" numpy pydantic "$LITERT_SPEC"
    fi
    log "x86 targets use $(find_host_python) under qemu-x86_64-static"
}

write_cpu_files() { # SYSROOT MODEL
    local sr=$1 model part variant rev feats bogo i
    model=$(aarch64_model "$2") || die "no CPU model for $2"
    case $model in
    aarch64-a72) part=0xd08 variant=0x0 rev=3 bogo=108.00 # Pi 4 (BCM2711, Cortex-A72 r0p3)
        feats="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid" ;;
    aarch64-a76) part=0xd0b variant=0x4 rev=1 bogo=108.00 # Pi 5 (BCM2712, Cortex-A76 r4p1)
        feats="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
    esac
    mkdir -p "$sr/proc" "$sr/sys/devices/system/cpu"
    : >"$sr/proc/cpuinfo"
    for ((i = 0; i < NCPU; i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: %s\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
            "$i" "$bogo" "$feats" "$variant" "$part" "$rev" >>"$sr/proc/cpuinfo"
    done
    for f in possible present online; do echo "0-$((NCPU - 1))" >"$sr/sys/devices/system/cpu/$f"; done
}

# aarch64_pip SITE PKG... -- installs aarch64 cp311 wheels (from PyPI) into SITE.
aarch64_pip() {
    local site=$1 pip_py g; shift
    pip_py=$(base_python) || die "no host python3 with pip to download aarch64 wheels"
    # Bookworm has glibc 2.36; older pips don't expand manylinux_2_36 to the
    # lower manylinux_2_X tags, so list them all.
    local pipargs=(-m pip install -q --disable-pip-version-check --no-compile --target "$site"
        --only-binary=:all: --implementation cp --python-version 3.11 --platform manylinux2014_aarch64)
    for ((g = 17; g <= 36; g++)); do pipargs+=(--platform "manylinux_2_${g}_aarch64"); done
    "$pip_py" "${pipargs[@]}" "$@"
}

# Shared arm64 Debian sysroot + wheels; per-model sysroots are hard-link copies.
setup_aarch64_base() {
    local base=$EMU_CACHE/aarch64-base site pins
    [ -f "$base/$STAMP" ] && [ $force -eq 0 ] && return 0
    [ -n "${AARCH64_BASE_DONE:-}" ] && return 0
    ensure_apt mmdebstrap:mmdebstrap
    rm -rf "$base"
    log "aarch64: mmdebstrap bookworm arm64 -> $base"
    mmdebstrap -q --arch=arm64 --variant=extract \
        --include=python3.11-minimal,libpython3.11-stdlib,python3.11,libstdc++6,libgcc-s1 \
        bookworm "$base" "$DEBIAN_MIRROR" || die "mmdebstrap failed (mirror $DEBIAN_MIRROR reachable?)"
    # qemu -L looks up every absolute path in the sysroot first: drop dirs that
    # would shadow the host's (/dev nodes, /tmp).
    rm -rf "${base:?}/dev" "${base:?}/tmp"
    site=$base/usr/lib/python3/dist-packages   # on the sysroot python's sys.path
    mkdir -p "$site"
    pins=$(host_pins numpy pydantic)
    log "aarch64: pip wheels ($pins $LITERT_SPEC, optional $(host_pins opencv-python-headless))"
    # shellcheck disable=SC2086
    if ! aarch64_pip "$site" $pins "$LITERT_SPEC" "$(host_pins opencv-python-headless)" 2>/dev/null; then
        log "warning: no aarch64 opencv-python-headless wheel matched; installing without it"
        rm -rf "$site" && mkdir -p "$site"
        # shellcheck disable=SC2086
        aarch64_pip "$site" $pins "$LITERT_SPEC" || die "pip install of aarch64 wheels failed"
    fi
    touch "$base/$STAMP"
    AARCH64_BASE_DONE=1
}

setup_aarch64() { # TARGET
    local t=$1 sr site pins
    sr=$(aarch64_sysroot "$t")
    ensure_apt qemu-aarch64-static:qemu-user-static
    setup_aarch64_base
    rm -rf "$sr"
    cp -al "$EMU_CACHE/aarch64-base" "$sr"
    rm -f "$sr/$STAMP"
    if [ "$(runtime_module "$t")" = tflite_runtime ]; then
        # Same Debian base (hard links), its own wheels: tflite-runtime 2.14
        # with numpy<2 (tflite-runtime 2.14 breaks on numpy 2), as on older
        # Raspberry Pi OS images. Same pins as the tflite-runtime-2.14 venv.
        site=$sr/usr/lib/python3/dist-packages
        rm -rf "$site" && mkdir -p "$site"   # unlinks only; the base keeps its files
        pins=$(host_pins pydantic)
        log "$t: pip wheels ($TFLITE_RUNTIME_SPEC numpy<2 $pins, optional opencv-python-headless)"
        # shellcheck disable=SC2086
        if ! aarch64_pip "$site" "$TFLITE_RUNTIME_SPEC" 'numpy<2' $pins opencv-python-headless 2>/dev/null; then
            log "warning: no aarch64 opencv-python-headless wheel matched numpy<2; installing without it"
            rm -rf "$site" && mkdir -p "$site"
            # shellcheck disable=SC2086
            aarch64_pip "$site" "$TFLITE_RUNTIME_SPEC" 'numpy<2' $pins ||
                die "pip install of aarch64 wheels for $t failed (no cp311 manylinux aarch64 wheel of $TFLITE_RUNTIME_SPEC?)"
        fi
    fi
    write_cpu_files "$sr" "$t"
    touch "$sr/$STAMP"
}

setup_tflite() {
    local v; v=$(tflite_venv)
    local pins; pins=$(host_pins pydantic)   # numpy: <2 (tflite-runtime 2.14 breaks on numpy 2)
    log "tflite-runtime-2.14: venv $v"
    # shellcheck disable=SC2086
    OPTIONAL_PKGS=opencv-python-headless make_venv "$v" "$TFLITE_RUNTIME_SPEC" 'numpy<2' $pins
    touch "$v/$STAMP"
}

is_done() {
    case $1 in
    x86-*) find_host_python >/dev/null 2>&1 && command -v qemu-x86_64-static >/dev/null 2>&1 ;;
    aarch64-*) [ -f "$(aarch64_sysroot "$1")/$STAMP" ] ;;
    tflite-runtime-2.14) [ -f "$(tflite_venv)/$STAMP" ] ;;
    esac
}

# ------------------------------------------------------------------- main --
summary=()
total_start=$SECONDS
for t in "${targets[@]}"; do
    start=$SECONDS
    if [ $force -eq 0 ] && is_done "$t"; then
        log "$t: already set up"
    else
        case $t in
        x86-*) setup_x86 ;;
        aarch64-*) setup_aarch64 "$t" ;;
        tflite-runtime-2.14) setup_tflite ;;
        esac
    fi
    smoke "$t"
    summary+=("$(printf '%-22s %4ds' "$t" $((SECONDS - start)))")
done
log "done in $((SECONDS - total_start))s (cache: $EMU_CACHE)"
printf '  %s\n' "${summary[@]}" >&2
