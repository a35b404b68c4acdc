"""Widen the analysis transform g_a of a trained run without changing what it computes.

    python research/widen_ga.py --src build/train_intra --out build/train_wide \
        --width 96
    python research/train_intra.py --out build/train_wide --resume --replan ...

Why: on the held-out pictures, optimising y directly for the trained g_s (300 Adam steps, no
rate term) gains about 3 dB over g_a's own y (bikes 31.9 -> 34.9 dB, carphone 29.9 -> 32.5,
coffee 26.7 -> 28.4): the 64-channel analysis, not the synthesis, is the larger limit.  g_a
runs only in the encoder, so widening it leaves decoding cost, the decoder ports and the
bitstream untouched.

Function-preserving (Net2Net-style): each hidden layer of g_a gets WIDTH - 64 new output
channels with fresh incoming weights (pre-activation spread --scale of the live channels', a bias
that makes them positive on 60 % of a batch of training crops) and zero weights from them into
the next layer, so the widened model computes exactly what the old one did until training moves
those zeros.  Everything else (the other networks, activation exponents, Adam moments of the old
weights, step, noise and data state) is copied; new entries get zero Adam moments.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np



def pad_to_shape(v, shape):
    """v zero-padded at the end of each axis to shape (new rows and columns start at 0)."""
    if v.shape == tuple(shape):
        return v
    return np.pad(v, [(0, int(n) - o) for o, n in zip(v.shape, shape)])


def widen_model(src, dst, x, scale=0.5, rng=None):
    """Copy model src into the wider dst (intra_model.Codec, same everything but ga_width) and
    give dst's new g_a channels fresh incoming weights; x: a batch of g_a inputs ((pixel - 128)
    / 128) for the weight scales and biases.  Raises ValueError if dst's g_a output (float or
    QAT) differs from src's on x.  Returns a per-layer report."""
    import tensorflow as tf
    rng = rng or np.random.default_rng(0)
    old_w, new_w = src.ga_width, dst.ga_width
    for s, d in zip(src.variables, dst.variables):
        d.assign(pad_to_shape(s.numpy(), d.shape))
    report, h = {}, x
    for conv in dst.g_a[:3]:
        w, b = conv.w.numpy(), conv.b.numpy()
        pre = (tf.nn.conv2d(h, w, conv.stride, "SAME").numpy() + b).reshape(-1, conv.cout)
        old = np.arange(old_w)
        live = old[pre[:, old].max(axis=0) > 0]
        new = np.arange(old_w, new_w)
        fresh = rng.standard_normal((conv.k, conv.k, conv.cin, new.size)).astype(np.float32)
        z = tf.nn.conv2d(h, tf.constant(fresh), conv.stride, "SAME").numpy().reshape(-1, new.size)
        spread = float(pre[:, live].std(axis=0).mean()) if live.size else 1.0
        k = scale * spread / np.maximum(z.std(axis=0), 1e-12)
        w[..., new] = fresh * k
        b[new] = -np.quantile(z * k, 0.4, axis=0)
        conv.w.assign(w)
        conv.b.assign(b)
        report[conv.lname] = {"live_old": int(live.size), "new": int(new.size)}
        h = tf.nn.relu(tf.nn.conv2d(h, conv.w, conv.stride, "SAME") + conv.b)
    report.update(check_preserved(src, dst, x))
    return report


def check_preserved(src, dst, x):
    """The widened model must compute what the old one did (new channels feed zeros onward):
    QAT y identical, float y within 1e-4; raises ValueError otherwise."""
    out = {}
    for qat in (False, True):
        diff = float(np.max(np.abs(src.run_g_a(x, qat=qat).numpy()
                                   - dst.run_g_a(x, qat=qat).numpy())))
        out[f"max_abs_y_change_{'qat' if qat else 'float'}"] = diff
        if diff > (0.0 if qat else 1e-4):
            raise ValueError(f"widening changed g_a's output ({'qat' if qat else 'float'}): "
                             f"{diff}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="trained run directory (train_intra.py --out)")
    ap.add_argument("--out", required=True, help="new run directory")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--crops", type=int, default=16)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    import tensorflow as tf
    from mlvc_train.data import TrainData
    from mlvc_train.train_intra import restore, run_arch, training_state

    st = json.load(open(os.path.join(a.src, "state.json")))
    seed, old_w = st["args"]["seed"], run_arch(a.src)["ga_width"]
    if a.width <= old_w:
        raise SystemExit(f"--width {a.width} must exceed the run's g_a width {old_w}")
    src = training_state(seed, a.src, ga_width=old_w)
    restore(src, src.mgr.latest_checkpoint)
    os.makedirs(a.out, exist_ok=True)
    dst = training_state(seed, a.out, ga_width=a.width)

    # Adam moments and counters: copied, zero-padded where g_a grew
    pairs = list(zip(src.adam_m, dst.adam_m)) + list(zip(src.adam_v, dst.adam_v))
    pairs += [(getattr(src, n), getattr(dst, n)) for n in ("step", "total_steps", "calib",
                                                           "qat_on")]
    for s, d in pairs:
        d.assign(pad_to_shape(s.numpy(), d.shape))
    dst.noise.reset(src.noise.state)
    x = (tf.constant(TrainData(a.seed, 128).batch(a.crops).astype(np.float32)) - 128.0) / 128.0
    try:
        report = widen_model(src.model, dst.model, x, a.scale, np.random.default_rng(a.seed))
    except ValueError as e:
        raise SystemExit(str(e))

    step = int(dst.step.numpy())
    path = dst.mgr.save(checkpoint_number=step)
    st["args"]["ga_width"] = a.width
    with open(os.path.join(a.out, "state.json"), "w") as f:
        json.dump(st, f)
    log_src = os.path.join(a.src, "train.log")
    log_dst = os.path.join(a.out, "train.log")
    if os.path.exists(log_src) and not os.path.exists(log_dst):
        shutil.copy(log_src, log_dst)
    line = {"event": "widen_ga", "step": step, "src": src.mgr.latest_checkpoint, "ckpt": path,
            "width": [old_w, a.width], "scale": a.scale, "seed": a.seed, "layers": report}
    with open(log_dst, "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line))


if __name__ == "__main__":
    main()
