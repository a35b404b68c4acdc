#!/usr/bin/env bash
# All tests on a fresh machine: Python (incl. the conformance matrix under qemu and
# tflite-runtime 2.14), the Kotlin core on the JVM, and the Swift package on Linux.
# Each part installs what it needs.  Set MLVC_SKIP_PORTS=1 to run the Python part alone.
# Ends with one summary line over all parts, "N passed, N failed", whatever fails on the way
# (a failed install or setup step counts as one failure; the script's status is then 1).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOGS="$(mktemp -d)"
status=0
steps_failed=0

# Totals: pytest's "N passed ... M failed, K errors", the Kotlin runner's "N passed, M failed",
# XCTest's last "Executed N tests, with M failures".
count() { { grep -oE "$2" "$LOGS/$1" 2>/dev/null || true; } | tail -1 | { grep -oE '[0-9]+' || true; } | head -1; }
summary() {
  local rc=$? py_line py_pass py_fail py_err kt_pass kt_fail sw_line sw_all sw_fail passed failed
  trap - EXIT
  set +e
  [ $rc -eq 0 ] || status=1
  # pytest's own summary line only ("3 failed, 250 passed, 1 error in 81.2s"): a warning text
  # such as "(5 errors)" elsewhere in the log must not count
  py_line=$(grep -E '[0-9]+ (passed|failed|errors?)\b.* in [0-9.]+s' "$LOGS/py" 2>/dev/null | tail -1)
  py_pass=$(echo "$py_line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
  py_fail=$(echo "$py_line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
  py_err=$(echo "$py_line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+')
  kt_pass=$(count kt '^[0-9]+ passed'); kt_fail=$(count kt ', [0-9]+ failed')
  sw_line=$(grep -E 'Executed [0-9]+ tests' "$LOGS/swift" 2>/dev/null | tail -1)
  sw_all=$(echo "$sw_line" | grep -oE 'Executed [0-9]+' | grep -oE '[0-9]+')
  sw_fail=$(echo "$sw_line" | grep -oE 'with [0-9]+ failure' | grep -oE '[0-9]+')
  passed=$(( ${py_pass:-0} + ${kt_pass:-0} + ${sw_all:-0} - ${sw_fail:-0} ))
  failed=$(( ${py_fail:-0} + ${py_err:-0} + ${kt_fail:-0} + ${sw_fail:-0} + steps_failed ))
  [ $status -eq 0 ] || [ $failed -gt 0 ] || failed=1
  echo "python: ${py_pass:-0} passed; kotlin: ${kt_pass:-0} passed; swift: $(( ${sw_all:-0} - ${sw_fail:-0} )) passed"
  echo "$passed passed, $failed failed"
  exit $status
}
trap summary EXIT
# step NAME CMD...: runs a setup step; a failure is reported and counted, the tests still run
step() {
  local name=$1; shift
  if ! "$@"; then
    echo "== FAILED: $name ==" >&2
    status=1; steps_failed=$((steps_failed + 1))
  fi
}

MLVC_EXTRAS="all" source "$ROOT/scripts/env.sh"
cd "$ROOT"
if ! command -v ffmpeg >/dev/null; then
  # the x264/x265 comparison test (tests/test_bench_rd.py) needs ffmpeg with libx264/libx265
  echo "== apt: ffmpeg =="
  step "apt-get install ffmpeg" bash -c 'apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null'
fi
export MLVC_REQUIRE_FFMPEG=1   # here a missing ffmpeg fails its test instead of skipping it
if ! command -v cc >/dev/null; then
  # the C rANS loops (sdk/mlvc/entropy/rans_kernel.c) are built on first use; without a
  # compiler the NumPy loops run instead, and tests/test_entropy.py insists on the C path here
  echo "== apt: gcc =="
  step "apt-get install gcc" bash -c 'apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null'
fi
echo "== emulation targets (qemu aarch64 / x86 levels, tflite-runtime 2.14) =="
# (each target sets its own OpenBLAS core type and thread counts: tools/emulation/_common.sh)
step "tools/emulation/setup.sh all" bash tools/emulation/setup.sh all
echo "== Python tests =="
MLVC_EMULATION=1 python -m pytest tests "$@" 2>&1 | tee "$LOGS/py" || status=1
if [ "${MLVC_SKIP_PORTS:-0}" != 1 ]; then
  echo "== Kotlin core (JVM) =="
  bash android_demo/test-jvm.sh 2>&1 | tee "$LOGS/kt" || status=1
  echo "== Swift package (Linux) =="
  bash ios_demo/test-linux.sh 2>&1 | tee "$LOGS/swift" || status=1
fi
