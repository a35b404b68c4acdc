#!/usr/bin/env bash
# All tests on a fresh machine: Python (incl. the conformance matrix under qemu and
# tflite-runtime 2.14), the Kotlin core on the JVM, and the Swift package on Linux.
# Each part installs what it needs.  Set MLVC_SKIP_PORTS=1 to run the Python part alone.
# Ends with one summary line over all parts: "N passed, N failed".
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MLVC_EXTRAS="all" source "$ROOT/scripts/env.sh"
cd "$ROOT"
LOGS="$(mktemp -d)"
status=0
if ! command -v ffmpeg >/dev/null; then
  # the x264/x265 comparison test (tests/test_bench_rd.py) needs ffmpeg with libx264/libx265
  echo "== apt: ffmpeg =="
  (apt-get update -qq && apt-get install -y -qq ffmpeg) >/dev/null
fi
export MLVC_REQUIRE_FFMPEG=1   # here a missing ffmpeg fails its test instead of skipping it
if ! command -v cc >/dev/null; then
  # the C rANS loops (sdk/mlvc/entropy/rans_kernel.c) are built on first use; without a
  # compiler the NumPy loops run instead, and tests/test_entropy.py insists on the C path here
  echo "== apt: gcc =="
  (apt-get update -qq && apt-get install -y -qq gcc libc6-dev) >/dev/null
fi
echo "== emulation targets (qemu aarch64 / x86 levels, tflite-runtime 2.14) =="
bash tools/emulation/setup.sh all
echo "== Python tests =="
MLVC_EMULATION=1 python -m pytest tests "$@" 2>&1 | tee "$LOGS/py" || status=1
if [ "${MLVC_SKIP_PORTS:-0}" != 1 ]; then
  echo "== Kotlin core (JVM) =="
  bash android_demo/test-jvm.sh 2>&1 | tee "$LOGS/kt" || status=1
  echo "== Swift package (Linux) =="
  bash ios_demo/test-linux.sh 2>&1 | tee "$LOGS/swift" || status=1
fi
# Totals: pytest's "N passed ... M failed", the Kotlin runner's "N passed, M failed",
# XCTest's last "Executed N tests, with M failures".
count() { { grep -oE "$2" "$LOGS/$1" 2>/dev/null || true; } | tail -1 | { grep -oE '[0-9]+' || true; } | head -1; }
py_pass=$(count py '[0-9]+ passed'); py_fail=$(count py '[0-9]+ failed')
kt_pass=$(count kt '^[0-9]+ passed'); kt_fail=$(count kt ', [0-9]+ failed')
sw_line=$(grep -E 'Executed [0-9]+ tests' "$LOGS/swift" 2>/dev/null | tail -1 || true)
sw_all=$(echo "$sw_line" | grep -oE 'Executed [0-9]+' | grep -oE '[0-9]+' || true)
sw_fail=$(echo "$sw_line" | grep -oE 'with [0-9]+ failure' | grep -oE '[0-9]+' || true)
passed=$(( ${py_pass:-0} + ${kt_pass:-0} + ${sw_all:-0} - ${sw_fail:-0} ))
failed=$(( ${py_fail:-0} + ${kt_fail:-0} + ${sw_fail:-0} ))
[ $status -eq 0 ] || [ $failed -gt 0 ] || failed=1
echo "python: ${py_pass:-0} passed; kotlin: ${kt_pass:-0} passed; swift: $(( ${sw_all:-0} - ${sw_fail:-0} )) passed"
echo "$passed passed, $failed failed"
exit $status
