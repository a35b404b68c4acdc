"""Training data for the P-frame residual networks: (current picture, motion-compensated
prediction) pairs made with the SDK's own encoder pieces, so that the residuals are the ones
the codec will code.

    python converters/mlvc_train/inter_data.py --out build/inter_pairs.npz --seed 1

For each pair the reference is the previous picture coded as an intra frame with the bundled
package (exact integer backend) at a random level 1..4, so the prediction carries real coding
noise; the prediction is the one the encoder codes against: by default the block tree of
§4c (`--tools tree`: the encoder's quadtree, quarter-pixel vectors and merge at that level's
motion lambda, then the normative 8-tap prediction), or the 16x16 grid's half-pixel
`compensate()` (`--tools grid`, what the first residual networks were trained on).  Sources (training frames only, as for the intra model):
bikes 0-199 and carphone 0-99 (consecutive frames: real motion), and synthetic pans and zooms
over the stills and photographs (a random similarity warp between two views of one image).
"""
from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np


from mlvc_train.data import DATA_DIR, PHOTOS_DIR, load_photos, load_stills, read_video  # noqa: E402


def synthetic_pair(img: np.ndarray, rng: np.random.Generator, size: int):
    """Two views of `img` related by a small random pan / zoom / rotation (a camera moving
    over a still scene), each size x size."""
    h, w = img.shape[:2]
    s = float(np.exp(rng.uniform(np.log(max(0.25, 1.5 * size / min(h, w))), 0.0))) \
        if min(h, w) > 1.5 * size else 1.0
    view = cv2.resize(img, (max(int(w * s), size + 32), max(int(h * s), size + 32)),
                      interpolation=cv2.INTER_AREA)
    vh, vw = view.shape[:2]
    cy = rng.uniform(size / 2 + 12, vh - size / 2 - 12)
    cx = rng.uniform(size / 2 + 12, vw - size / 2 - 12)
    zoom = float(np.exp(rng.uniform(-0.04, 0.04)))
    ang = float(rng.uniform(-1.5, 1.5))
    dy, dx = rng.uniform(-8, 8, 2)

    def crop(center_y, center_x, z, a):
        m = cv2.getRotationMatrix2D((center_x, center_y), a, z)
        m[0, 2] += size / 2 - center_x
        m[1, 2] += size / 2 - center_y
        return cv2.warpAffine(view, m, (size, size), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT)

    return crop(cy, cx, 1.0, 0.0), crop(cy + dy, cx + dx, zoom, ang)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--synthetic", type=int, default=160, help="synthetic pairs")
    p.add_argument("--size", type=int, default=256, help="synthetic pair size")
    p.add_argument("--bikes-step", type=int, default=2, help="every n-th bikes frame")
    p.add_argument("--tools", choices=("tree", "grid"), default="tree",
                   help="inter tools whose prediction the residual networks learn to correct")
    p.add_argument("--preset", default="medium", help="block-tree encoder preset")
    args = p.parse_args()

    from mlvc.backends.registry import resolve
    from mlvc.bitstream import inter_syntax as syn
    from mlvc.codec import blocktree as bt
    from mlvc.codec.inter import InterCodec, compensate, estimate_motion, refine_half_pel
    from mlvc.codec.hyperprior import HyperpriorCodec
    from mlvc.package.loader import load_package

    rng = np.random.default_rng(args.seed)
    pkg = load_package()
    be = resolve(None)
    codec = HyperpriorCodec(pkg, be, be)
    inter = InterCodec(codec, tools="tree", preset=args.preset)

    def predict(prev, cur):
        level = int(rng.integers(1, 5))
        ref = codec.encode(prev, level).reconstruction
        if args.tools == "grid":
            mv = refine_half_pel(cur, ref, estimate_motion(cur, ref, 32))
            return compensate(ref, mv, True)
        leaves = inter.tree_leaves(cur, ref, level)
        h, w = cur.shape[:2]
        sym = syn.block_tree_symbols({k: (v, 1) for k, v in leaves.items()}, 4, h, w)
        return bt.predict(ref, bt.unit_fields(sym.blocks).mv)

    groups = {}
    t0 = time.time()
    bikes = read_video(os.path.join(DATA_DIR, "bikes.mp4"), 0, 199)
    car = read_video(os.path.join(DATA_DIR, "carphone_pristine.mp4"), 0, 99)
    # held out (never trained on): a few pairs of bikes 200-249 and carphone 100-119
    hb = read_video(os.path.join(DATA_DIR, "bikes.mp4"), 200, 249)
    hc = read_video(os.path.join(DATA_DIR, "carphone_pristine.mp4"), 100, 119)
    for name, frames, step in (("bikes", bikes, args.bikes_step), ("carphone", car, 1),
                               ("heldout_bikes", hb, 10), ("heldout_carphone", hc, 9)):
        cur, pred = [], []
        for t in range(1, len(frames), step):
            cur.append(frames[t])
            pred.append(predict(frames[t - 1], frames[t]))
        groups[name] = (np.stack(cur), np.stack(pred))
        print(name, len(cur), "pairs", round(time.time() - t0, 1), "s", flush=True)
    stills = [a for _, a, _ in load_stills() if min(a.shape[:2]) >= args.size + 32]
    stills += load_photos(PHOTOS_DIR)
    cur, pred = [], []
    for _ in range(args.synthetic):
        a, b = synthetic_pair(stills[int(rng.integers(len(stills)))], rng, args.size)
        cur.append(b)
        pred.append(predict(a, b))
    groups["synthetic"] = (np.stack(cur), np.stack(pred))
    print("synthetic", len(cur), "pairs", round(time.time() - t0, 1), "s", flush=True)
    arrays = {}
    for name, (c, pr) in groups.items():
        arrays[f"{name}_cur"] = c
        arrays[f"{name}_pred"] = pr
        r = c.astype(np.int16) - pr
        print(name, "residual rms", round(float(np.sqrt(np.mean(r.astype(np.float64) ** 2))), 2),
              "clipped", round(float(np.mean((r < -128) | (r > 127))) * 100, 4), "%")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez(args.out, **arrays)
    print("wrote", args.out, round(time.time() - t0, 1), "s")


if __name__ == "__main__":
    main()
