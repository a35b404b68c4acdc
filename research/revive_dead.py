"""Re-initialise dead ReLU channels of a training checkpoint (in place, as a new checkpoint).

    python research/revive_dead.py --out build/train_intra [--crops 32]

A ReLU channel is dead when its pre-activation is <= 0 on every position of a batch of training
crops: it then gets no gradient and never recovers (docs/training.md measured a third of g_a's and
g_s's hidden channels dead). Each dead channel gets fresh incoming weights scaled so that its
pre-activation spread is --scale (2 %) of the live channels' (a small perturbation), a
bias that makes it positive on 60 % of the positions, and zeroed Adam moments; training then
resumes from the new checkpoint (train_intra.py --resume). Float phase by default; --allow-qat
revives a QAT checkpoint too (QConv.int_params() re-derives each channel's integer grid and
exponent from its float weights, so a fresh small channel gets a fitting small exponent).
--dry-run only counts the dead channels.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="training directory (train_intra.py --out)")
    ap.add_argument("--crops", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=0.02,
                    help="revived pre-activation spread relative to the live channels'")
    ap.add_argument("--allow-qat", action="store_true", help="also revive a QAT-phase checkpoint")
    ap.add_argument("--dry-run", action="store_true", help="count dead channels, change nothing")
    a = ap.parse_args()
    import tensorflow as tf
    from mlvc_train import intra_model as im
    from mlvc_train.data import TrainData

    from mlvc_train.train_intra import restore, training_state

    st = json.load(open(os.path.join(a.out, "state.json")))
    ts = training_state(st["args"]["seed"], a.out, qat_on=False)
    model, tvars, adam_m, adam_v = ts.model, ts.tvars, ts.adam_m, ts.adam_v
    restore(ts, ts.mgr.latest_checkpoint)
    if int(ts.qat_on.numpy()) and not (a.allow_qat or a.dry_run):
        raise SystemExit("checkpoint is in the QAT phase; pass --allow-qat to revive it anyway")
    index = {id(v): i for i, v in enumerate(tvars)}

    data = TrainData(a.seed, 128)
    x = (tf.constant(data.batch(a.crops).astype(np.float32)) - 128.0) / 128.0
    rng = np.random.default_rng(a.seed)
    report = {}

    def revive(conv, inp):
        """inp: float input of conv; returns conv's output (after revival) for the next layer."""
        pre = tf.nn.conv2d(inp, conv.w, conv.stride, "SAME") + conv.b
        pre_np = pre.numpy().reshape(-1, conv.cout)
        dead = np.where(pre_np.max(axis=0) <= 0)[0]
        live = np.setdiff1d(np.arange(conv.cout), dead)
        report[conv.lname] = int(dead.size)
        if dead.size and live.size and not a.dry_run:
            w, b = conv.w.numpy(), conv.b.numpy()
            target = a.scale * float(pre_np[:, live].std(axis=0).mean())
            fresh = rng.standard_normal((conv.k, conv.k, conv.cin, dead.size)).astype(np.float32)
            z = tf.nn.conv2d(inp, tf.constant(fresh), conv.stride, "SAME").numpy()
            z = z.reshape(-1, dead.size)
            scale = target / np.maximum(z.std(axis=0), 1e-12)
            w[..., dead] = fresh * scale
            b[dead] = -np.quantile(z * scale, 0.4, axis=0)
            conv.w.assign(w)
            conv.b.assign(b)
            for var, sl in ((conv.w, (Ellipsis, dead)), (conv.b, (dead,))):
                i = index[id(var)]
                for mom in (adam_m[i], adam_v[i]):
                    v = mom.numpy()
                    v[sl] = 0.0
                    mom.assign(v)
        return tf.nn.relu(tf.nn.conv2d(inp, conv.w, conv.stride, "SAME") + conv.b)

    h = x
    for c in model.g_a[:3]:
        h = revive(c, h)
    y = model.g_a[3](h, False)
    y = tf.clip_by_value(y, -128 * 2.0 ** im.Y_EXP, 127 * 2.0 ** im.Y_EXP)
    v = tf.round(y)          # level 2 (step 1): a mid-range decoder input
    for c in model.g_s[:3]:
        v = tf.nn.depth_to_space(revive(c, v), 2)
    u = tf.round(model.run_h_a(tf.round(y), False))
    for c in model.h_s[:2]:
        u = tf.nn.depth_to_space(revive(c, u), 2)
    revive(model.h_s[2], u)
    step = int(ts.step.numpy())
    if a.dry_run:
        print(json.dumps({"event": "dead_count", "step": step, "dead": report, "crops": a.crops}))
        return
    path = ts.mgr.save(checkpoint_number=step)
    line = {"event": "revive_dead", "step": step, "ckpt": path, "dead": report,
            "crops": a.crops, "seed": a.seed}
    with open(os.path.join(a.out, "train.log"), "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line))


if __name__ == "__main__":
    main()
