"""Fetch the training pictures (and, separately, the held-out evaluation photographs) from Debian
packages, reproducibly: the same package versions give the same files, checked against the
SHA-256 list in training/data_manifest.json.

    python training/fetch_data.py train build/photos        # >= 300 photographs and textures
    python training/fetch_data.py eval  build/eval_photos   # plasma-workspace-wallpapers, 768x512

Training sources: the wallpaper packages of several desktops (photographs) and the photographic
textures of two games (ufoai, nexuiz: JPEG textures inside their .pk3 zip archives).  Pictures
are downscaled (INTER_AREA) so the longer side is at most 1600 pixels, which also averages away
most of the source's JPEG artefacts, and written as PNG.  Flat or tiny pictures are skipped.

plasma-workspace-wallpapers is never used for training or tuning: it is the evaluation set.
Needs apt-get (Debian/Ubuntu) and OpenCV; nothing is installed, packages are only downloaded.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "data_manifest.json")

# package -> folders (inside the package) whose pictures are photographs
TRAIN_PACKAGES = {
    "mate-backgrounds": ["usr/share/backgrounds/mate"],
    "gnome-backgrounds": ["usr/share/backgrounds/gnome"],
    "ukui-wallpapers": ["usr/share/backgrounds"],
    "lomiri-wallpapers": ["usr/share"],
    "lomiri-wallpapers-16.04": ["usr/share"],
    "lomiri-wallpapers-20.04": ["usr/share"],
    "sway-backgrounds": ["usr/share/backgrounds/sway"],
}
# package -> pk3 (zip) archives whose JPEG textures are used
TEXTURE_PACKAGES = {
    "ufoai-textures": ["usr/share/games/ufoai/base/0textures.pk3"],
    "nexuiz-textures": ["usr/share/games/nexuiz/data/textures.pk3"],
}
EVAL_PACKAGE = "plasma-workspace-wallpapers"
RESERVED = {EVAL_PACKAGE}
MAX_SIDE = 1600
MIN_SIDE_PHOTO = 480
MIN_SIDE_TEXTURE = 256
MIN_STD = 14.0          # grey-level standard deviation below which a picture is "flat"
PICTURE_EXT = (".jpg", ".jpeg", ".png", ".webp")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(pkg: str, tmp: str) -> tuple[str, str]:
    """(extracted folder, version) of a Debian package, downloaded without installing."""
    if pkg in RESERVED and tmp.endswith("train"):
        raise SystemExit(f"{pkg} is reserved for evaluation")
    subprocess.run(["apt-get", "download", pkg], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deb = [f for f in os.listdir(tmp) if f.startswith(pkg + "_") and f.endswith(".deb")][0]
    version = deb[len(pkg) + 1:].rsplit("_", 1)[0]
    out = os.path.join(tmp, "x_" + pkg)
    subprocess.run(["dpkg", "-x", os.path.join(tmp, deb), out], check=True)
    return out, version


def decode(data: bytes) -> np.ndarray | None:
    a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if a is None else a


def usable(bgr: np.ndarray, min_side: int) -> bool:
    h, w = bgr.shape[:2]
    if min(h, w) < min_side:
        return False
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return float(grey.std()) >= MIN_STD


def shrink(bgr: np.ndarray, max_side: int) -> np.ndarray:
    h, w = bgr.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return bgr
    return cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA)


def collect_train(tmp: str):
    """Yield (package, version, source path, source bytes, min side) for training candidates."""
    for pkg, folders in TRAIN_PACKAGES.items():
        root, ver = download(pkg, tmp)
        for folder in folders:
            base = os.path.join(root, folder)
            for dirpath, _, files in sorted(os.walk(base)):
                for f in sorted(files):
                    if f.lower().endswith(PICTURE_EXT):
                        p = os.path.join(dirpath, f)
                        yield pkg, ver, os.path.relpath(p, root), open(p, "rb").read(), \
                            MIN_SIDE_PHOTO
    for pkg, archives in TEXTURE_PACKAGES.items():
        root, ver = download(pkg, tmp)
        for arc in archives:
            with zipfile.ZipFile(os.path.join(root, arc)) as z:
                for n in sorted(z.namelist()):
                    if n.lower().endswith((".jpg", ".jpeg")):
                        yield pkg, ver, f"{arc}!{n}", z.read(n), MIN_SIDE_TEXTURE
        os.remove(os.path.join(root, arc))      # large: free the disk as we go


def collect_eval(tmp: str):
    root, ver = download(EVAL_PACKAGE, tmp)
    for dirpath, _, files in sorted(os.walk(os.path.join(root, "usr/share/wallpapers"))):
        for f in sorted(files):
            # one picture per wallpaper: its largest landscape rendering
            if f.lower().endswith(PICTURE_EXT):
                p = os.path.join(dirpath, f)
                yield EVAL_PACKAGE, ver, os.path.relpath(p, root), open(p, "rb").read(), 512


def fetch(kind: str, out: str, verify: bool) -> list[dict]:
    os.makedirs(out, exist_ok=True)
    entries, seen = [], set()
    with tempfile.TemporaryDirectory(suffix=kind) as tmp:
        source = collect_train(tmp) if kind == "train" else collect_eval(tmp)
        best_eval: dict[str, tuple[int, dict, np.ndarray]] = {}
        for pkg, ver, path, data, min_side in source:
            h = sha256(data)
            if h in seen:
                continue
            bgr = decode(data)
            if bgr is None or not usable(bgr, min_side):
                continue
            seen.add(h)
            e = {"package": pkg, "version": ver, "source": path, "source_sha256": h}
            if kind == "eval":
                # the wallpaper's folder names it; keep its largest 3:2-or-wider rendering
                name = path.split("/")[3] if path.count("/") > 3 else path
                area = bgr.shape[0] * bgr.shape[1]
                if bgr.shape[1] >= bgr.shape[0] and area > best_eval.get(name, (0,))[0]:
                    best_eval[name] = (area, e, bgr)
                continue
            img = shrink(bgr, MAX_SIDE)
            e["file"] = f"{len(entries):04d}_{pkg}.png"
            e["size"] = [int(img.shape[1]), int(img.shape[0])]
            cv2.imwrite(os.path.join(out, e["file"]), img)
            entries.append(e)
        for name in sorted(best_eval):
            _, e, bgr = best_eval[name]
            # the held-out photographs at 768x512 (centre crop to 3:2, then INTER_AREA)
            h, w = bgr.shape[:2]
            cw = min(w, h * 3 // 2)
            ch = cw * 2 // 3
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            img = cv2.resize(bgr[y0:y0 + ch, x0:x0 + cw], (768, 512),
                             interpolation=cv2.INTER_AREA)
            e["file"] = f"{len(entries):02d}_{name}.png"
            e["size"] = [768, 512]
            cv2.imwrite(os.path.join(out, e["file"]), img)
            entries.append(e)
    return entries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["train", "eval"])
    ap.add_argument("out")
    ap.add_argument("--write-manifest", action="store_true",
                    help="record this fetch as training/data_manifest.json (instead of checking)")
    args = ap.parse_args()
    entries = fetch(args.kind, args.out, verify=not args.write_manifest)
    manifest = json.load(open(MANIFEST)) if os.path.exists(MANIFEST) else {}
    if args.write_manifest:
        manifest[args.kind] = entries
        with open(MANIFEST, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{len(entries)} pictures in {args.out}; manifest written")
        return 0
    want = {e["source_sha256"] for e in manifest.get(args.kind, [])}
    got = {e["source_sha256"] for e in entries}
    print(f"{len(entries)} pictures in {args.out}")
    if want and want != got:
        print(f"warning: {len(want - got)} recorded pictures missing, {len(got - want)} new "
              f"(Debian package versions changed?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
