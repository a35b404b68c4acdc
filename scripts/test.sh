#!/usr/bin/env bash
# All tests on a fresh machine: Python (incl. the conformance matrix under qemu and
# tflite-runtime 2.14), the Kotlin core on the JVM, and the Swift package on Linux.
# Each part installs what it needs.  Set MLVC_SKIP_PORTS=1 to run the Python part alone.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MLVC_EXTRAS="all" source "$ROOT/scripts/env.sh"
cd "$ROOT"
status=0
echo "== emulation targets (qemu aarch64 / x86 levels, tflite-runtime 2.14) =="
bash tools/emulation/setup.sh all
echo "== Python tests =="
MLVC_EMULATION=1 python -m pytest tests "$@" || status=1
if [ "${MLVC_SKIP_PORTS:-0}" != 1 ]; then
  echo "== Kotlin core (JVM) =="
  bash android_demo/test-jvm.sh || status=1
  echo "== Swift package (Linux) =="
  bash ios_demo/test-linux.sh || status=1
fi
exit $status
