#!/usr/bin/env bash
# Run `python ARGS...` of this repo in an emulated / alternative runtime.
#
#   tools/emulation/run.sh TARGET -- ARGS...
#
# TARGET: x86-haswell | x86-nehalem | aarch64-a72 | aarch64-a76 |
#         aarch64-a72-tflite214 | tflite-runtime-2.14
# PYTHONPATH gets <repo>/sdk prepended; cwd, stdin/stdout/stderr and the exit
# code of python are passed through. Harness errors exit with 125.
set -euo pipefail
EMU_DIE_RC=125
# shellcheck source=_common.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/_common.sh"

usage() {
    printf 'usage: %s TARGET -- ARGS...\n  targets: %s\n' "$_emu_prog" "$EMU_TARGETS" >&2
    exit 125
}
[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
target=$1; shift
is_target "$target" || { log "unknown target '$target'"; usage; }
[ "${1:-}" = "--" ] && shift

export PYTHONPATH="$REPO_ROOT/sdk${PYTHONPATH:+:$PYTHONPATH}"
# Tell the code under test where it runs (handy for conformance reports).
export MLVC_EMU_TARGET="$target"

# The target's own environment, never the host's: a host that sets OPENBLAS_CORETYPE=Haswell
# (some shared machines do) would make numpy's OpenBLAS run AVX2 code under -cpu Nehalem and
# die with SIGILL, and the host's thread counts say nothing about the emulated CPU.
target_env "$target"

case $target in
x86-haswell|x86-nehalem)
    need_cmd qemu-x86_64-static "$target"
    py=$(find_host_python) || die "no host python with ai_edge_litert+numpy (set MLVC_PYTHON, or run: $EMU_DIR/setup.sh $target)"
    if [ "$target" = x86-haswell ]; then cpu=$QEMU_CPU_x86_haswell; else cpu=$QEMU_CPU_x86_nehalem; fi
    exec qemu-x86_64-static -cpu "$cpu" "$py" "$@"
    ;;
aarch64-*)
    need_cmd qemu-aarch64-static "$target"
    sr=$(aarch64_sysroot "$target")
    [ -f "$sr/.mlvc-emu-complete" ] || die "sysroot $sr missing or incomplete; run: $EMU_DIR/setup.sh $target"
    if [ "$(aarch64_model "$target")" = aarch64-a72 ]; then cpu=$QEMU_CPU_aarch64_a72; else cpu=$QEMU_CPU_aarch64_a76; fi
    # Exported too, so a binfmt_misc-registered qemu (if any) uses the same
    # CPU/sysroot for child processes.
    export QEMU_LD_PREFIX="$sr" QEMU_CPU="$cpu"
    exec qemu-aarch64-static -L "$sr" -cpu "$cpu" "$sr/usr/bin/python3.11" "$@"
    ;;
tflite-runtime-2.14)
    v=$(tflite_venv)
    [ -f "$v/.mlvc-emu-complete" ] || die "venv $v missing or incomplete; run: $EMU_DIR/setup.sh $target"
    exec "$v/bin/python" "$@"
    ;;
esac
