# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Shared helpers for setup.sh / run.sh. Sourced, not executed.

EMU_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
REPO_ROOT=$(cd "$EMU_DIR/../.." && pwd)
EMU_CACHE=${MLVC_EMU_CACHE:-${HOME:?HOME is unset; set MLVC_EMU_CACHE}/.cache/mlvc-emu}
EMU_TARGETS="x86-haswell x86-nehalem aarch64-a72 aarch64-a76 aarch64-a72-tflite214 tflite-runtime-2.14"

# Pinned runtime versions (kept identical across targets, that's the point).
LITERT_SPEC="ai-edge-litert==2.3.0"
TFLITE_RUNTIME_SPEC="tflite-runtime==2.14.0"

# qemu -cpu strings. The x86 models drop the features TCG cannot emulate, so
# qemu does not print "TCG doesn't support requested feature" on every thread.
QEMU_CPU_x86_haswell="Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm"
QEMU_CPU_x86_nehalem="Nehalem"
QEMU_CPU_aarch64_a72="cortex-a72"
QEMU_CPU_aarch64_a76="cortex-a76"

# OpenBLAS core type per target: one the emulated CPU supports, so numpy's OpenBLAS never picks
# kernels from an inherited host setting (names as OpenBLAS's DYNAMIC_ARCH spells them).
# Empty: unset, OpenBLAS detects the CPU it runs on (the native tflite-runtime venv).
openblas_coretype() {
    case $1 in
    x86-haswell) printf 'HASWELL' ;;
    x86-nehalem) printf 'NEHALEM' ;;
    aarch64-a72|aarch64-a72-*) printf 'CORTEXA72' ;;
    aarch64-a76|aarch64-a76-*) printf 'ARMV8' ;;    # no A76 kernels in OpenBLAS: baseline ARMv8
    *) printf '' ;;
    esac
}

# Threads of the BLAS/OpenMP pools under the target: 1 (the networks' own thread counts are
# set by the code, per matrix row; under qemu extra BLAS threads only cost time).
EMU_BLAS_THREADS=1

# target_env TARGET -- exports the target's environment and drops host settings that would
# leak into it (core types, thread pools, CPU-feature masks, qemu and loader variables).
target_env() {
    local t=$1 ct v
    ct=$(openblas_coretype "$t")
    unset OPENBLAS_CORETYPE GOTOBLAS_CORETYPE OPENBLAS_VERBOSE NPY_DISABLE_CPU_FEATURES \
        NPY_ENABLE_CPU_FEATURES MKL_ENABLE_INSTRUCTIONS MKL_DEBUG_CPU_TYPE
    for v in $(compgen -e | grep -E '^QEMU_' || true); do unset "$v"; done
    [ -n "$ct" ] && export OPENBLAS_CORETYPE="$ct"
    export OPENBLAS_NUM_THREADS=$EMU_BLAS_THREADS OMP_NUM_THREADS=$EMU_BLAS_THREADS \
        MKL_NUM_THREADS=$EMU_BLAS_THREADS GOTO_NUM_THREADS=$EMU_BLAS_THREADS
    case $t in
    aarch64-*) unset LD_PRELOAD LD_LIBRARY_PATH ;;   # host x86 libraries mean nothing there
    esac
}

_emu_prog=$(basename "$0")
log() { printf '%s: %s\n' "$_emu_prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$_emu_prog" "$*" >&2; exit "${EMU_DIE_RC:-1}"; }

is_target() {
    local t
    for t in $EMU_TARGETS; do [ "$t" = "$1" ] && return 0; done
    return 1
}

# Sysroot of an aarch64 target (per CPU model: /proc/cpuinfo differs).
aarch64_sysroot() { printf '%s/%s-sysroot' "$EMU_CACHE" "$1"; }
# CPU model of an aarch64 target: aarch64-a72 or aarch64-a76.
aarch64_model() {
    case $1 in
    aarch64-a72|aarch64-a72-*) printf 'aarch64-a72' ;;
    aarch64-a76|aarch64-a76-*) printf 'aarch64-a76' ;;
    *) return 1 ;;
    esac
}
# Python module of the TFLite runtime a target has: ai_edge_litert, or
# tflite_runtime for the tflite-runtime 2.14 targets.
runtime_module() {
    case $1 in
    tflite-runtime-2.14|*-tflite214) printf 'tflite_runtime' ;;
    *) printf 'ai_edge_litert' ;;
    esac
}
tflite_venv() { printf '%s/tflite-runtime-2.14-venv' "$EMU_CACHE"; }
fallback_x86_venv() { printf '%s/x86_64-venv' "$EMU_CACHE"; }

_py_has_litert() {
    [ -x "$1" ] || return 1
    "$1" -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("ai_edge_litert") and u.find_spec("numpy") else 1)' \
        >/dev/null 2>&1
}

# Host (x86-64) interpreter used for the x86-* targets. Order:
# $MLVC_PYTHON, /opt/mlvc-venv, python3 on PATH, venv built by setup.sh.
# Prints the path; returns 1 if none has ai_edge_litert + numpy.
find_host_python() {
    local c
    if [ -n "${MLVC_PYTHON:-}" ]; then
        c=$MLVC_PYTHON
        case $c in */*) ;; *) c=$(command -v "$c" || true) ;; esac
        [ -n "$c" ] && [ -x "$c" ] || { log "MLVC_PYTHON=$MLVC_PYTHON is not an executable"; return 1; }
        _py_has_litert "$c" || { log "MLVC_PYTHON=$c cannot import ai_edge_litert/numpy"; return 1; }
        printf '%s' "$c"; return 0
    fi
    for c in /opt/mlvc-venv/bin/python "$(command -v python3 || true)" "$(fallback_x86_venv)/bin/python"; do
        [ -n "$c" ] || continue
        if _py_has_litert "$c"; then printf '%s' "$c"; return 0; fi
    done
    return 1
}

need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found; run: $EMU_DIR/setup.sh $2"; }
