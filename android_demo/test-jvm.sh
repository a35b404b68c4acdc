#!/usr/bin/env bash
# JVM tests of the Kotlin core (mlvc-core) against conformance/golden, plus an aapt2 link of the
# Android app's manifest and resources (check-resources.sh). Runs from any cwd on Debian 12 with
# JDK 17; installs what is missing:
#   kotlinc 2.x   npm package kotlin-compiler (pinned), into $MLVC_TOOLS (default ~/.cache/mlvc-android)
#   JUnit 4       Debian junit4 + libhamcrest-java
#   aapt2         Debian aapt + android-framework-res   (check-resources.sh)
# Env: KOTLINC=/path/to/kotlinc (use that compiler), MLVC_GOLDEN=dir (default ../conformance/golden),
#      MLVC_VECTORS=dir (default ../sdk/mlvc/data/vectors: the conformance vectors + hostile catalogue),
#      MLVC_PACKAGE=dir (default ../sdk/mlvc/data/model: the bundled model package, verified by PackageManifestTest),
#      MLVC_REQUIRE_GOLDEN=1 (default; 0: a test skipped for a missing golden input does not fail),
#      MLVC_BENCH=1 (also print the rANS throughput benchmark),
#      MLVC_FUZZ_MUTANTS=N, MLVC_FUZZ_SEED=S (FuzzTest campaign size and seed; default 1500).
# Last line: "N passed, N failed"; exit status 1 on any failure.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
GOLDEN="${MLVC_GOLDEN:-$REPO/conformance/golden}"
VECTORS="${MLVC_VECTORS:-$REPO/sdk/mlvc/data/vectors}"
PACKAGE="${MLVC_PACKAGE:-$REPO/sdk/mlvc/data/model}"
# A test skipped because a golden input is missing fails the run (RunTests); MLVC_REQUIRE_GOLDEN=0 allows skips.
export MLVC_REQUIRE_GOLDEN="${MLVC_REQUIRE_GOLDEN:-1}"
KOTLIN_VERSION="2.1.21"
TOOLS="${MLVC_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mlvc-android}"
BUILD="$HERE/build/jvm"
mkdir -p "$BUILD"

log() { echo "[test-jvm] $*" >&2; }

apt_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            log "need root (or passwordless sudo) to apt-get install $*"; return 1; fi
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 && return 0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# --- toolchain -------------------------------------------------------------------------------
command -v java >/dev/null || apt_install openjdk-17-jdk-headless || { log "no java"; echo "0 passed, 1 failed"; exit 1; }

find_kotlinc() {
    if [ -n "${KOTLINC:-}" ]; then echo "$KOTLINC"; return; fi
    local cached="$TOOLS/kotlin-$KOTLIN_VERSION/node_modules/kotlin-compiler/bin/kotlinc"
    if [ -x "$cached" ]; then echo "$cached"; return; fi
    if command -v kotlinc >/dev/null && kotlinc -version 2>&1 | grep -q 'kotlinc-jvm 2\.'; then command -v kotlinc; return; fi
    command -v npm >/dev/null || apt_install npm >&2 || return 1
    log "npm install kotlin-compiler@$KOTLIN_VERSION into $TOOLS"
    mkdir -p "$TOOLS/kotlin-$KOTLIN_VERSION"
    npm install --prefix "$TOOLS/kotlin-$KOTLIN_VERSION" --no-audit --no-fund --loglevel=error \
        "kotlin-compiler@$KOTLIN_VERSION" >&2 || return 1
    chmod +x "$TOOLS/kotlin-$KOTLIN_VERSION/node_modules/kotlin-compiler/bin/"* 2>/dev/null
    echo "$cached"
}
KOTLINC_BIN="$(find_kotlinc)" || { log "cannot install kotlinc"; echo "0 passed, 1 failed"; exit 1; }
KLIB="$(cd "$(dirname "$KOTLINC_BIN")/../lib" && pwd)"

JUNIT=/usr/share/java/junit4.jar
HAMCREST=/usr/share/java/hamcrest-core.jar
[ -f "$JUNIT" ] && [ -f "$HAMCREST" ] || apt_install junit4 libhamcrest-java \
    || { log "cannot install junit4"; echo "0 passed, 1 failed"; exit 1; }

# --- compile (skipped when sources and compiler are unchanged) --------------------------------
stamp() { { echo "$KOTLINC_BIN"; find "$@" -name '*.kt' -type f | sort | xargs sha256sum; } | sha256sum | cut -c1-64; }
compile() {  # compile NAME JAR CLASSPATH SRC... ; friend paths let tests see `internal`
    local name="$1" jar="$2" cp="$3"; shift 3
    local s; s="$(stamp "$@" ${STAMP_ALSO:-})"   # tests also depend on the core sources
    if [ -f "$jar" ] && [ "$(cat "$jar.stamp" 2>/dev/null)" = "$s" ]; then log "$name up to date"; return 0; fi
    log "kotlinc $name"
    rm -f "$jar" "$jar.stamp"
    local t0=$SECONDS
    nice -n 15 "$KOTLINC_BIN" -jvm-target 17 -nowarn ${cp:+-cp "$cp" -Xfriend-paths="$BUILD/core.jar"} -d "$jar" "$@" || return 1
    echo "$s" > "$jar.stamp"
    log "$name compiled in $((SECONDS - t0)) s"
}

passed=0; failed=0
if compile core "$BUILD/core.jar" "" "$HERE/mlvc-core/src/main/kotlin" \
   && STAMP_ALSO="$HERE/mlvc-core/src/main/kotlin" compile tests "$BUILD/tests.jar" "$BUILD/core.jar:$JUNIT:$HAMCREST" "$HERE/mlvc-core/src/test/kotlin"; then
    CP="$BUILD/core.jar:$BUILD/tests.jar:$JUNIT:$HAMCREST:$KLIB/kotlin-stdlib.jar"
    out="$(java -cp "$CP" -Dmlvc.golden="$GOLDEN" -Dmlvc.vectors="$VECTORS" -Dmlvc.package="$PACKAGE" \
        -Dmlvc.testdata="$HERE/mlvc-core/src/test/data" ai.mlvc.RunTests 2>&1)"
    echo "$out"
    line="$(echo "$out" | grep -E '^junit: [0-9]+ passed, [0-9]+ failed$' | tail -1)"
    skipped="$(echo "$out" | grep -E '^junit: [0-9]+ skipped' | tail -1 | sed -E 's/^junit: ([0-9]+) skipped.*/\1/')"
    if [ -n "$line" ]; then
        passed=$(echo "$line" | sed -E 's/^junit: ([0-9]+) passed.*/\1/')
        failed=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    else
        failed=$((failed + 1)); log "JUnit run did not report"
    fi
    if [ "${MLVC_BENCH:-0}" = 1 ]; then java -cp "$CP" -Dmlvc.golden="$GOLDEN" ai.mlvc.RansBenchmark; fi
else
    log "compilation failed"; failed=$((failed + 1))
fi

# --- Android manifest/resources link ------------------------------------------------------
if "$HERE/check-resources.sh"; then passed=$((passed + 1)); echo "PASS aapt2 link (app manifest + res)"
else failed=$((failed + 1)); echo "FAIL aapt2 link (app manifest + res)"; fi

echo "skipped: ${skipped:-0} (MLVC_REQUIRE_GOLDEN=$MLVC_REQUIRE_GOLDEN)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
