"""Where does an intra checkpoint lose quality?  Separates the transforms from the quantisers.

    python research/diagnose_intra.py --ckpt build/train_intra [--json OUT.json]

On the held-out check pictures (data.heldout, never trained on) it measures:
  * transform ceiling: PSNR of g_s(g_a(x)) in float with y not quantised at all, then with y
    rounded to each step 2**e (e = 1 .. -4; the levels use 1, 0, -1, -2).  If the unquantised
    PSNR is barely above the finest level's, the transforms (capacity / training), not the
    quantiser or the shared decoder, cap the RD curve at high rates;
  * activation-exponent sensitivity: QAT (exact integer profile) bpp / PSNR at levels 2 and 4
    with each calibrated activation exponent moved by -1 and +1.  Little change for +1 means the
    int8 activations have precision to spare; a drop for -1 means clipping costs.
Prints one JSON object (and writes it with --json).
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True, help="training directory (train_intra.py --out)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--small", action="store_true", help="the 3-crop in-training check set")
    a = ap.parse_args()
    import tensorflow as tf
    from mlvc_train import intra_model as im
    from mlvc_train.data import heldout, pad_to
    from mlvc_train.train_intra import training_state

    st = json.load(open(os.path.join(a.ckpt, "state.json")))
    ts = training_state(st["args"]["seed"], a.ckpt)
    ts.ckpt.restore(ts.mgr.latest_checkpoint).expect_partial()
    m = ts.model
    items = [(n, tf.constant(pad_to(img, 64).astype(np.float32)[None]), img)
             for n, img in heldout(full=not a.small)]
    npx = sum(img.shape[0] * img.shape[1] for _, _, img in items)

    def psnr(se):
        return round(10 * math.log10(255.0 ** 2 / (se / (npx * 3))), 3)

    # -- transform ceiling (float weights, float activations) ----------------------------
    ylim = (-128 * 2.0 ** im.Y_EXP, 127 * 2.0 ** im.Y_EXP)
    steps = {"none": None, **{f"2^{e}": e for e in (1, 0, -1, -2, -3, -4)}}
    se = dict.fromkeys(steps, 0.0)
    for _, p, img in items:
        h, w = img.shape[:2]
        y = tf.clip_by_value(m.run_g_a((p - 128.0) / 128.0, qat=False), *ylim)
        for tag, e in steps.items():
            yh = y if e is None else tf.round(y / 2.0 ** e) * 2.0 ** e
            xh = tf.clip_by_value(m.run_g_s(yh, qat=False) * 128.0 + 128.0, 0.0, 255.0)
            se[tag] += float(np.sum((xh.numpy()[0, :h, :w] - img) ** 2))
    ceiling = {tag: psnr(v) for tag, v in se.items()}

    # -- activation exponent sensitivity (exact integer profile) -------------------------
    @tf.function(reduce_retracing=True)
    def qat_eval(p, d):
        o = m.forward(p, d, "qat")
        return o["x_hat"], o["bits_y"] + o["bits_z"]

    def rd(levels=(2, 4)):
        out = {}
        for L in levels:
            se = bits = 0.0
            for _, p, img in items:
                h, w = img.shape[:2]
                xh, b = qat_eval(p, tf.constant([4 - L], tf.int32))
                se += float(np.sum((xh.numpy()[0, :h, :w] - img) ** 2))
                bits += float(b.numpy()[0])
            out[f"L{L}"] = {"bpp": round(bits / npx, 4), "psnr": psnr(se)}
        return out

    sens = {"base": rd()}
    for name, act in m.acts.items():
        if act.fixed:
            continue
        e0 = float(act.exp.numpy())
        for de in (-1, 1):
            act.exp.assign(e0 + de)
            sens[f"{name} {e0:+.0f}{de:+d}"] = rd()
        act.exp.assign(e0)
    res = {"ckpt": ts.mgr.latest_checkpoint, "step": int(ts.step.numpy()),
           "images": [n for n, _, _ in items],
           "transform_ceiling_psnr": ceiling, "exponent_sensitivity": sens}
    text = json.dumps(res, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
