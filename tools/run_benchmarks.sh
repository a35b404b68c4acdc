#!/usr/bin/env bash
# Runs every benchmark with the bundled package and saves the outputs (the numbers quoted in
# README.md and docs/benchmarks.md).  Needs ../shared/data (development clips) and ffmpeg;
# the held-out photographs come from `python training/fetch_data.py eval DIR` (MLVC_EVAL_PHOTOS,
# default build/eval_photos, fetched when missing).  Every script merges its numbers into
# docs/results.json; tools/render_readme.py then writes the README's results section.
#   bash tools/run_benchmarks.sh [OUT_DIR]        (default build/results)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/build/results}"
DATA="${MLVC_DATA:-$ROOT/../shared/data}"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT/sdk:$ROOT/converters"
mkdir -p "$OUT"
cd "$ROOT"
run() { local name=$1; shift; echo "== $name: $*"; "$@" 2>&1 | grep -v '^INFO' | tee "$OUT/$name.txt"; }
run import "$PY" benchmarks/bench_import.py
run profile "$PY" benchmarks/bench_profile.py --repeat 5
run codec_bikes "$PY" benchmarks/bench_codec.py --source "$DATA/bikes.mp4" --width 640 --height 272 --frames 20
run codec_720p "$PY" benchmarks/bench_codec.py --width 1280 --height 720 --frames 4
run codec_1080p "$PY" benchmarks/bench_codec.py --width 1920 --height 1080 --frames 3
run codec_2160p "$PY" benchmarks/bench_codec.py --width 3840 --height 2160 --frames 2
PHOTOS="${MLVC_EVAL_PHOTOS:-$ROOT/build/eval_photos}"
[ -d "$PHOTOS" ] || "$PY" training/fetch_data.py eval "$PHOTOS"
run rd_jpeg "$PY" benchmarks/bench_rd.py --clip "$DATA/bikes.mp4:200:250:5" \
    --clip "$DATA/carphone_pristine.mp4:100:120:2" --coffee --photos "$PHOTOS" \
    --json "$OUT/rd_jpeg.json"
run rd_x26x "$PY" -m mlvc.cli bench rd "$DATA/carphone_pristine.mp4@100" "$DATA/bikes.mp4@200" \
    --frames 20 --gop 10 --json "$OUT/rd_x26x.json" --plot "$OUT/rd_x26x.png"
run rd_x26x_results "$PY" benchmarks/bench_rd.py --x26x-json "$OUT/rd_x26x.json"
run drift "$PY" benchmarks/bench_drift.py "$DATA/carphone_pristine.mp4" --frames 32 --gops 4,8,16,32
"$PY" tools/render_readme.py
