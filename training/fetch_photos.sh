#!/usr/bin/env bash
# Training photographs beyond scikit-image's stills: the nature wallpapers of Debian's
# mate-backgrounds package (12 photographs, about 1920x1080), extracted without installing.
# Usage: bash training/fetch_photos.sh DIR   (then MLVC_PHOTOS=DIR for the trainer)
set -euo pipefail
out="${1:?usage: fetch_photos.sh DIR}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download mate-backgrounds >/dev/null 2>&1)
dpkg -x "$tmp"/mate-backgrounds_*.deb "$tmp/x"
mkdir -p "$out"
cp "$tmp"/x/usr/share/backgrounds/mate/nature/*.jpg "$out/"
ls "$out" | wc -l
