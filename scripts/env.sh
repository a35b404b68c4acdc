# Sourced by the other scripts: makes ./.venv (Python 3.9+) with the SDK installed editable.
# MLVC_EXTRAS picks the extras (default: the runtime, video I/O and tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLVC_VENV:-$ROOT/.venv}"
EXTRAS="${MLVC_EXTRAS:-litert,video,test}"
PY="${PYTHON:-python3}"
stamp="$VENV/.mlvc-installed-$(echo "$EXTRAS" | tr ',' '-')"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONPATH="$ROOT/converters${PYTHONPATH:+:$PYTHONPATH}"
