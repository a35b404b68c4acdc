"""What each constraint of the integer profile costs, one at a time, on a trained checkpoint.

    PYTHONPATH=sdk:converters/mlvc_train python research/profile_tax.py RUN_DIR \
        --photos build/eval_photos [--json out.json]

Research, not product code: it swaps the quantisers of converters/mlvc_train/intra_model.py for
relaxed variants and measures BD-rate (pchip, RGB PSNR, rate from the entropy model's
likelihoods) against the float model (no fake quantisation, y rounded to the level step only)
on held-out pictures.  Variants, each alone on top of the float model:

  w_int8       weights int8 (+-127 levels) per output channel, any (float) scale: plain int8
  w_grid4      weights on the profile's grid (multiples of 4: +-31 levels), any scale
  w_pow2       the grid with power-of-two per-channel scales
  w_profile    the profile's weights: grid, power-of-two scales and the accumulator bound
  a_int8       activations int8 with any (float) per-tensor scale (calibrated max)
  a_pow2       activations int8 with the profile's power-of-two scales
  w_a          w_profile and a_pow2 together, in the float model's codec arithmetic (its entropy
               model's mean not rounded to the level step)
  profile      every constraint: the exact integer model (the mean rounded to the level step,
               as the integer parse path does)

Post-training: nothing is re-trained per variant, so on a QAT-trained checkpoint it measures
what each constraint costs the weights that QAT adapted to all of them, and on a float-phase
checkpoint (train.log's "float_done") what each costs before adaptation.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import tensorflow as tf

from mlvc_train import intra_model as im
from mlvc_train.export_intra import load_model
from mlvc.bench.rd import bd_rate

VARIANTS = ("float", "w_int8", "w_grid4", "w_pow2", "w_profile", "a_int8", "a_pow2", "w_a",
            "profile")


def weights_variant(conv, kind):
    """Real-valued weights and bias of `conv` under a weight variant."""
    w, b = conv.w, conv.b
    if kind == "w_profile":
        wi, e, bi = conv.int_params()
        return wi * im.pow2(e), bi * im.pow2(conv.qin.exp + e)
    m = tf.maximum(tf.reduce_max(tf.abs(w), axis=[0, 1, 2]), 1e-30)
    if kind == "w_int8":
        s = m / 127.0
        return tf.round(w / s) * s, b
    if kind == "w_grid4":
        s = m / 31.0
        return tf.round(w / s) * s, b
    if kind == "w_pow2":
        s = im.pow2(im.ceil_log2(m / 31.0))
        return tf.clip_by_value(tf.round(w / s), -31.0, 31.0) * s, b
    raise ValueError(kind)


def act_variant(act, a, kind):
    lo, hi = act.qrange()
    if kind == "a_pow2":
        return act.fake_quant(a)
    # any scale: the calibrated maximum (amax) over the levels, not rounded up to 2**k
    amax = tf.maximum(act.amax, 1e-6) if not act.fixed else act.levels * im.pow2(act.exp)
    s = amax / act.levels
    return tf.round(tf.clip_by_value(a / s, lo, hi)) * s


def patched_call(kind):
    def call(self, x, qat=True, cdt=tf.float32, stats=None):
        if kind == "profile":
            return orig_call(self, x, True, cdt, stats)
        if kind == "w_a":
            wq, bq = weights_variant(self, "w_profile")
        elif kind.startswith("w_"):
            wq, bq = weights_variant(self, kind)
        else:
            wq, bq = self.w, self.b
        a = tf.nn.conv2d(tf.cast(x, tf.float32), wq, self.stride, "SAME") + bq
        if self.relu:
            a = tf.nn.relu(a)
        if kind.startswith("a_") or kind == "w_a":
            return act_variant(self.qout, a, "a_pow2" if kind == "w_a" else kind)
        return a
    return call


orig_call = im.QConv.__call__


def evaluate(model, items, kind):
    im.QConv.__call__ = patched_call(kind) if kind != "float" else orig_call
    mode = "qat" if kind == "profile" else "float"
    pts = []
    for L in (1, 2, 3, 4):
        bits = se = px = 0.0
        for _, img in items:
            h, w = img.shape[:2]
            d = im.LEVEL_EXPS[L - 1] - im.Y_EXP
            o = model.forward(tf.constant(img[None].astype(np.float32)),
                              tf.constant([d], tf.int32), mode)
            xh = np.clip(np.round(o["x_hat"].numpy()[0]), 0, 255)
            se += float(((xh - img) ** 2).sum())
            bits += float((o["bits_y"] + o["bits_z"]).numpy()[0])
            px += h * w
        pts.append({"level": L, "bpp": bits / px, "psnr": 10 * math.log10(255 ** 2 / (se / (3 * px)))})
    im.QConv.__call__ = orig_call
    return pts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--photos", required=True, help="folder of held-out pictures")
    ap.add_argument("--limit", type=int, default=8, help="pictures used from the folder")
    ap.add_argument("--calibrate", metavar="DIR",
                    help="calibrate the activation exponents first on 192x192 crops of the "
                         "training pictures in DIR (for a float-phase checkpoint)")
    ap.add_argument("--json")
    a = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    import cv2
    model, path, _ = load_model(a.run)
    files = sorted(os.listdir(a.photos))[:a.limit]
    items = [(f, cv2.cvtColor(cv2.imread(os.path.join(a.photos, f)), cv2.COLOR_BGR2RGB))
             for f in files]
    items = [(n, x[:x.shape[0] // 64 * 64, :x.shape[1] // 64 * 64]) for n, x in items]
    if a.calibrate:
        from mlvc_train.data import load_photos
        pics = load_photos(a.calibrate)[::37][:24]
        crops = np.stack([p[:192, :192] for p in pics if min(p.shape[:2]) >= 192])
        stats = {}
        model.forward(tf.constant(crops.astype(np.float32)),
                      tf.constant([i % 4 for i in range(len(crops))]), "qat", stats=stats)
        model.update_acts(stats, tf.constant(2))
    if all(act.fixed or float(act.amax.numpy()) < 0 for act in model.acts.values()):
        raise SystemExit(f"{path}: activations not calibrated (a float-phase checkpoint before "
                         "calibration): export needs a checkpoint from the QAT phase")
    res = {k: evaluate(model, items, k) for k in VARIANTS}
    ref = res["float"]
    out = {"checkpoint": path, "pictures": files, "curves": res, "bd_rate_vs_float_percent": {}}
    for k in VARIANTS[1:]:
        bd = bd_rate([p["bpp"] for p in ref], [p["psnr"] for p in ref],
                     [p["bpp"] for p in res[k]], [p["psnr"] for p in res[k]])
        out["bd_rate_vs_float_percent"][k] = round(bd, 2)
        print(f"{k:10s} BD-rate vs float {bd:+7.2f} %   " +
              "  ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in res[k]))
    print("float      " + "  ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in ref))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
