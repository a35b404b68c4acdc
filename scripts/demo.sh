#!/usr/bin/env bash
# The main job on a fresh machine: install the runtime, then encode and decode the bundled sample
# on the default (fastest exact) backend and print the conformance result.
set -euo pipefail
MLVC_EXTRAS="litert,video" source "$(dirname "$0")/env.sh"
mlvc demo "$@"
