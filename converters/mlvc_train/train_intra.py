"""Train the MLVC intra codec with QAT that simulates the integer profile exactly.

    python -m mlvc_train.train_intra --minutes 95 \
        --out build/train_intra --seed 1

Seeded; checkpoints every --ckpt-minutes (resumable with --resume); JSON-lines log in OUT/train.log.
One model serves the four quality levels: the level is sampled per batch element and
loss = bpp + lambda_L * MSE(0..255).

With --float-frac F the first fraction F of the run trains the float twin (no fake quantisation,
straight-through rounding of y and z), which reaches a given PSNR in fewer steps. At F the
activation exponents are calibrated on the float model and QAT fine-tunes the same weights
through the exact integer-profile quantisers for the rest of the run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

MIN_CALIB_STEPS = 500     # EMA steps of activation calibration before the exponents may freeze


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=95.0)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=5e-5)
    p.add_argument("--freeze-frac", type=float, default=0.2,
                   help="fraction of the run after which activation exponents are frozen")
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    p.add_argument("--log-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fp32", action="store_true", help="train convs in float32 (default bf16)")
    p.add_argument("--replan", action="store_true",
                   help="on --resume: re-plan the LR schedule's step count for this --minutes")
    p.add_argument("--xla", action="store_true", help="jit_compile the train step")
    p.add_argument("--lambdas", default=None, help="comma separated, levels 1..4")
    p.add_argument("--float-frac", type=float, default=0.0,
                   help="fraction of the run spent pre-training the float twin before QAT")
    p.add_argument("--warmup", type=int, default=200,
                   help="LR warm-up steps (from the start of this run, resumes included)")
    p.add_argument("--residual", default=None, metavar="PAIRS.npz",
                   help="train the P-frame residual networks on inter_data.py's pairs")
    p.add_argument("--init", default=None, metavar="RUN_DIR",
                   help="start from another run's latest checkpoint (weights, Adam moments, "
                        "step, exponents); the LR schedule is planned as with --replan")
    p.add_argument("--hard-rate", action="store_true",
                   help="rate of the rounded symbols (straight-through) instead of the additive-"
                        "noise proxy, which under-counts values just past a rounding boundary "
                        "when sigma is below the bin width (residual latents at level 1)")
    p.add_argument("--recalibrate", action="store_true",
                   help="on --resume in QAT: EMA-calibrate the activation exponents again (>= "
                        "MIN_CALIB_STEPS steps, until --freeze-frac) before freezing them")
    p.add_argument("--train-only", default=None, metavar="NETS",
                   help="comma separated networks to train (g_a,h_a: the encoder only; the "
                        "others, z tables included, stay as they are)")
    p.add_argument("--ga-width", type=int, default=None,
                   help="hidden channels of g_a for a new run (default 64; widen_ga.py widens "
                        "a trained run)")
    p.add_argument("--m", type=int, default=None,
                   help="latent channels of a new run (default 96)")
    p.add_argument("--linear-path", action="store_true",
                   help="a new run with the linear path (intra_model.Codec), started as the "
                        "block KLT of the training crops")
    p.add_argument("--revive-hyperprior", action="store_true",
                   help="with --init: h_a, h_s and the z tables start afresh (small random head "
                        "weights) on the source's trained transforms, activation exponents "
                        "recalibrated; the fix for a collapsed hyper-latent (z = 0 everywhere)")
    p.add_argument("--steps", type=int, default=None,
                   help="train this many steps (the LR schedule is planned for them); --minutes "
                        "then only bounds the run")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="save and stop at this step, as an interrupted run would (tests of "
                        "--resume)")
    p.add_argument("--images", default=None, metavar="DIR",
                   help="train on the pictures of DIR only ('skimage': scikit-image's bundled "
                        "stills) instead of the development clips + stills")
    p.add_argument("--heldout", type=int, default=2,
                   help="with --images / --video-dir: the last N pictures and the last N "
                        "videos are held out (in-training eval)")
    p.add_argument("--video-dir", default=None, metavar="DIR",
                   help="train on frames drawn from every video of DIR (.mp4 .mkv .avi .mov "
                        ".y4m; with or instead of --images)")
    p.add_argument("--frames-per-video", type=int, default=32,
                   help="with --video-dir: frames drawn from each video (seeded)")
    p.add_argument("--klt-batches", type=int, default=256,
                   help="training batches whose 16x16 blocks define the starting KLT")
    p.add_argument("--devices", default="auto",
                   help="auto: every GPU TensorFlow sees under MirroredStrategy (the global "
                        "--batch split across them), the CPU path as before when it sees none; "
                        "cpu: the CPU path; N: the first N GPUs; cpu:N: MirroredStrategy over N "
                        "logical CPU devices (the multi-replica path without a GPU: tests)")
    p.add_argument("--mixed-precision", default="auto", choices=("auto", "on", "off"),
                   help="mixed_float16 (float16 convolutions, float32 variables, quantisers and "
                        "loss, dynamic loss scaling): auto = on GPU only; never with --fp32")
    return p.parse_args()


def setup_devices(tf, spec):
    """(strategy, description) for --devices: strategy None is the single-device path (the CPU
    path as it always was); else a MirroredStrategy.  Call before TensorFlow's runtime starts."""
    spec = str(spec)
    if spec.startswith("cpu:"):
        n = int(spec[4:])
        if n < 1:
            raise SystemExit("--devices cpu:N needs N >= 1")
        tf.config.set_visible_devices([], "GPU")
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
        names = [d.name for d in tf.config.list_logical_devices("CPU")][:n]
        st = tf.distribute.MirroredStrategy(
            names, cross_device_ops=tf.distribute.ReductionToOneDevice())
        return st, {"kind": "cpu", "replicas": n, "devices": names}
    if spec == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return None, {"kind": "cpu", "replicas": 1}
    gpus = tf.config.list_physical_devices("GPU")
    if spec == "auto":
        if not gpus:
            return None, {"kind": "cpu", "replicas": 1}
        n = len(gpus)
    else:
        try:
            n = int(spec)
        except ValueError:
            raise SystemExit(f"--devices {spec}: auto, cpu, N or cpu:N") from None
        if not 1 <= n <= len(gpus):
            raise SystemExit(f"--devices {n}: TensorFlow sees {len(gpus)} GPUs")
    tf.config.set_visible_devices(gpus[:n], "GPU")
    for g in gpus[:n]:
        tf.config.experimental.set_memory_growth(g, True)
    names = [f"/gpu:{i}" for i in range(n)]
    return tf.distribute.MirroredStrategy(names), {"kind": "gpu", "replicas": n,
                                                  "devices": names}


def run_arch(out):
    """The architecture of the run in OUT (its state.json): dict(ga_width, m, linear_path),
    the defaults for a new run."""
    from mlvc_train import intra_model as im
    path = os.path.join(out, "state.json")
    a = json.load(open(path))["args"] if os.path.exists(path) else {}
    return {"ga_width": int(a.get("ga_width") or im.N), "m": int(a.get("m") or im.M),
            "linear_path": bool(a.get("linear_path", False))}


def training_state(seed, out, qat_on=True, ga_width=None, m=None, linear_path=None):
    """The model, Adam moments, counters and noise generator, with their checkpoint manager in
    OUT/ckpt: the one definition of the training checkpoint's layout (revive_dead.py uses it).
    ga_width, m, linear_path: the architecture; by default the run's own (state.json)."""
    from types import SimpleNamespace

    import tensorflow as tf
    from mlvc_train import intra_model as im
    arch = run_arch(out)
    ga_width = ga_width or arch["ga_width"]
    m = m or arch["m"]
    linear_path = arch["linear_path"] if linear_path is None else linear_path
    ts = SimpleNamespace(model=im.Codec(seed=seed, ga_width=ga_width, m=m,
                                        linear_path=linear_path), ga_width=ga_width)
    ts.tvars = list(ts.model.trainable_variables)
    ts.adam_m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in ts.tvars]
    ts.adam_v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in ts.tvars]
    # steps taken by these moments: Adam's bias correction counts from their (re)start, not
    # from step 0 of the run (a slim checkpoint restarts them at zero)
    ts.adam_t = tf.Variable(0, dtype=tf.int64, trainable=False)
    ts.step = tf.Variable(0, dtype=tf.int64, trainable=False)
    ts.total_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
    ts.calib = tf.Variable(1, dtype=tf.int32, trainable=False)   # 1: EMA calibration, 0: frozen
    ts.qat_on = tf.Variable(1 if qat_on else 0, dtype=tf.int32, trainable=False)
    ts.noise = tf.random.Generator.from_seed(seed)
    ts.ckpt = tf.train.Checkpoint(model=ts.model, adam_m=ts.adam_m, adam_v=ts.adam_v,
                                  adam_t=ts.adam_t, step=ts.step, total_steps=ts.total_steps,
                                  calib=ts.calib, noise=ts.noise, qat_on=ts.qat_on)
    ts.mgr = tf.train.CheckpointManager(ts.ckpt, os.path.join(out, "ckpt"), max_to_keep=3)
    return ts


def _without_adam(ts):
    """The checkpoint's parts other than the Adam moments (a slim checkpoint holds only these)."""
    return dict(model=ts.model, step=ts.step, total_steps=ts.total_steps, calib=ts.calib,
                noise=ts.noise, qat_on=ts.qat_on)


def restore(ts, path):
    """Restore checkpoint `path` into training state `ts`.  A slim checkpoint (save_slim(): no
    Adam moments, a third of the size, what the repository keeps under training/) leaves the moments
    at zero and their bias-correction count adam_t at 0.  Returns True if it was full."""
    import tensorflow as tf
    names = [n for n, _ in tf.train.list_variables(path)]
    full = any(n.startswith("adam_m/") for n in names)
    has_t = any(n.startswith("adam_t") for n in names)
    if full and has_t:
        ck = ts.ckpt
    else:
        parts = _without_adam(ts)
        if full:            # written before adam_t existed: its moments ran since step 0
            parts.update(adam_m=ts.adam_m, adam_v=ts.adam_v)
        ck = tf.train.Checkpoint(**parts)
    ck.restore(path).assert_existing_objects_matched()
    if full and not has_t:
        ts.adam_t.assign(ts.step)
    elif not full:
        ts.adam_t.assign(0)
    return full


def save_slim(ts, out):
    """Write ts without its Adam moments as OUT/ckpt/ckpt-STEP (restore() reads it)."""
    import tensorflow as tf
    mgr = tf.train.CheckpointManager(tf.train.Checkpoint(**_without_adam(ts)),
                                     os.path.join(out, "ckpt"), max_to_keep=1)
    return mgr.save(checkpoint_number=int(ts.step.numpy()))


def main():
    args = parse()
    os.makedirs(args.out, exist_ok=True)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from mlvc_train import intra_model as im
    from mlvc_train.data import ResidualData, TrainData, heldout, pad_to

    tf.random.set_seed(args.seed)
    np.random.seed(args.seed)
    lambdas = (tuple(float(v) for v in args.lambdas.split(",")) if args.lambdas
               else im.LAMBDAS)
    cdt = tf.float32 if args.fp32 else tf.bfloat16
    strategy, devinfo = setup_devices(tf, args.devices)
    mixed = not args.fp32 and (args.mixed_precision == "on" or (
        args.mixed_precision == "auto" and devinfo["kind"] == "gpu"))
    if mixed:
        cdt = tf.float16                  # mixed_float16: float16 convs, float32 everything else
        if strategy is None:              # loss scaling lives in the strategy's step
            strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    devinfo["mixed_float16"] = mixed
    if strategy is not None and args.batch % strategy.num_replicas_in_sync:
        raise SystemExit(f"--batch {args.batch} does not split across "
                         f"{strategy.num_replicas_in_sync} replicas")

    # a resumed run keeps its architecture; --init takes the source's
    arch = run_arch(args.out if args.resume else (args.init or args.out))
    if args.ga_width is None:
        args.ga_width = arch["ga_width"]
    if args.m is None:
        args.m = arch["m"]
    args.linear_path = args.linear_path or arch["linear_path"]
    import contextlib
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        # under a strategy every variable (model, moments, counters, noise state) is mirrored
        ts = training_state(args.seed, args.out, qat_on=args.float_frac <= 0,
                            ga_width=args.ga_width, m=args.m, linear_path=args.linear_path)
        if mixed:                         # dynamic loss scale (not checkpointed: restarts)
            loss_scale = tf.Variable(2.0 ** 15, trainable=False)
            good_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
    model, tvars, adam_m, adam_v = ts.model, ts.tvars, ts.adam_m, ts.adam_v
    if args.train_only:
        # e.g. the encoder only (g_a, h_a): the decoder's networks and z tables stay bit-exact
        nets = model.networks()
        names = [n.strip() for n in args.train_only.split(",")]
        if not set(names) <= set(nets):
            raise SystemExit(f"--train-only: networks are {', '.join(nets)}")
        ids = {id(v) for n in names for c in nets[n] for v in (c.w, c.b)}
        keep = [i for i, v in enumerate(tvars) if id(v) in ids]
        tvars, adam_m, adam_v = ([x[i] for i in keep] for x in (tvars, adam_m, adam_v))
    step, total_steps, calib, qat_on, noise = ts.step, ts.total_steps, ts.calib, ts.qat_on, ts.noise
    ckpt, mgr = ts.ckpt, ts.mgr
    data = (ResidualData(args.seed, args.crop, args.residual) if args.residual
            else TrainData(args.seed, args.crop, images=args.images, heldout=args.heldout,
                           video_dir=args.video_dir, frames_per_video=args.frames_per_video))
    state_path = os.path.join(args.out, "state.json")
    elapsed0 = 0.0
    revive = [False]
    warm_from = None     # the step the LR warm-up counts from; None: this run's first step
    if args.resume and mgr.latest_checkpoint:
        full = restore(ts, mgr.latest_checkpoint)
        if not full:
            print("slim checkpoint: Adam moments restart from zero", flush=True)
        st = json.load(open(state_path))
        data.set_state(st["data_rng"])
        elapsed0 = st.get("elapsed", 0.0)
        if full and not args.replan and "warm_from" in st:
            warm_from = st["warm_from"]       # an exact continuation: the same LR per step
        print("resumed", mgr.latest_checkpoint, "step", int(step.numpy()), flush=True)
        if args.replan:
            total_steps.assign(0)
    elif args.init:
        src = tf.train.latest_checkpoint(os.path.join(args.init, "ckpt"))
        if not src:
            raise SystemExit(f"--init: no checkpoint in {args.init}/ckpt")
        restore(ts, src)
        total_steps.assign(0)
        args.replan = True
        print("initialised from", src, "step", int(step.numpy()), flush=True)
        if args.revive_hyperprior:
            model.reinit_hyperprior(args.seed)
            revive[0] = True
    elif args.revive_hyperprior:
        raise SystemExit("--revive-hyperprior needs --init RUN_DIR")
    log = open(os.path.join(args.out, "train.log"), "a")

    def logj(d):
        log.write(json.dumps(d) + "\n")
        log.flush()
        print(json.dumps(d), flush=True)

    lam_table = tf.constant(lambdas, tf.float32)
    HW = float(args.crop * args.crop)

    def make_train_step(mode):
        @tf.function(input_signature=[tf.TensorSpec([None, args.crop, args.crop, 3], tf.uint8),
                                      tf.TensorSpec([None], tf.int32),
                                      tf.TensorSpec([], tf.float32)], jit_compile=args.xla)
        def train_step(img, d, lr):
            pix = tf.cast(img, tf.float32)
            lam = tf.gather(lam_table, 3 - d)               # level L = 4 - d -> index 3 - d
            stats = {}
            with tf.GradientTape() as tape:
                out = model.forward(pix, d, mode, noise=None if args.hard_rate else noise,
                                    cdt=cdt, stats=stats)
                mse = tf.reduce_mean(tf.square(out["x_hat"] - pix), [1, 2, 3])
                bpp = (out["bits_y"] + out["bits_z"]) / HW
                loss = tf.reduce_mean(bpp + lam * mse)
            grads = tape.gradient(loss, tvars)
            grads, gnorm = tf.clip_by_global_norm(grads, 10.0)
            step.assign_add(1)
            ts.adam_t.assign_add(1)
            t = tf.cast(ts.adam_t, tf.float32)
            b1, b2 = 0.9, 0.999
            corr = tf.sqrt(1.0 - tf.pow(b2, t)) / (1.0 - tf.pow(b1, t))
            for v, g, m, s in zip(tvars, grads, adam_m, adam_v):
                m.assign(b1 * m + (1 - b1) * g)
                s.assign(b2 * s + (1 - b2) * tf.square(g))
                v.assign_sub(lr * corr * m / (tf.sqrt(s) + 1e-8))
            if mode == "qat":
                model.update_acts(stats, calib)
            return loss, bpp, mse, gnorm
        return train_step

    def make_dist_train_step(mode):
        """The train step under `strategy`: each replica takes its slice of the global batch,
        the gradients are summed across replicas (each replica's loss is its share of the
        global mean), the activation statistics maximised, and Adam updates the mirrored
        variables once, in cross-replica context.  mixed: loss scaling, a step whose scaled
        gradients overflow is skipped (step still counts) and halves the scale, 2000 good
        steps double it."""
        nrep = strategy.num_replicas_in_sync
        local = args.batch // nrep

        def grads_fn(img, d):
            pix = tf.cast(img, tf.float32)
            lam = tf.gather(lam_table, 3 - d)
            stats = {}
            with tf.GradientTape() as tape:
                out = model.forward(pix, d, mode, noise=None if args.hard_rate else noise,
                                    cdt=cdt, stats=stats)
                mse = tf.reduce_mean(tf.square(out["x_hat"] - pix), [1, 2, 3])
                bpp = (out["bits_y"] + out["bits_z"]) / HW
                loss = tf.reduce_sum(bpp + lam * mse) / float(args.batch)
                scaled = loss * loss_scale if mixed else loss
            grads = tape.gradient(scaled, tvars)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, tvars)]
            return loss, bpp, mse, grads, stats

        if args.xla:
            grads_fn = tf.function(grads_fn, jit_compile=True)

        def replica_fn(img, d):
            i = tf.distribute.get_replica_context().replica_id_in_sync_group
            return grads_fn(img[i * local:(i + 1) * local], d[i * local:(i + 1) * local])

        @tf.function(input_signature=[tf.TensorSpec([None, args.crop, args.crop, 3], tf.uint8),
                                      tf.TensorSpec([None], tf.int32),
                                      tf.TensorSpec([], tf.float32)])
        def train_step(img, d, lr):
            loss, bpp, mse, grads, stats = strategy.run(replica_fn, args=(img, d))
            SUM = tf.distribute.ReduceOp.SUM
            loss = strategy.reduce(SUM, loss, axis=None)
            grads = [strategy.reduce(SUM, g, axis=None) for g in grads]
            stats = {k: tf.reduce_max(tf.stack(strategy.experimental_local_results(v)))
                     for k, v in stats.items()}
            bpp = tf.concat(strategy.experimental_local_results(bpp), 0)
            mse = tf.concat(strategy.experimental_local_results(mse), 0)
            if mixed:
                grads = [g / loss_scale for g in grads]
                finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
                grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
                grown = good_steps + 1 >= 2000
                loss_scale.assign(tf.where(finite, tf.where(grown, loss_scale * 2.0, loss_scale),
                                           tf.maximum(loss_scale / 2.0, 1.0)))
                good_steps.assign(tf.where(finite & ~grown, good_steps + 1,
                                           tf.zeros_like(good_steps)))
            else:
                finite = tf.constant(True)
            grads, gnorm = tf.clip_by_global_norm(grads, 10.0)
            step.assign_add(1)
            ts.adam_t.assign_add(tf.cast(finite, tf.int64))
            t = tf.cast(ts.adam_t, tf.float32)
            b1, b2 = 0.9, 0.999
            corr = tf.sqrt(1.0 - tf.pow(b2, t)) / (1.0 - tf.pow(b1, t))
            for v, g, m, s in zip(tvars, grads, adam_m, adam_v):
                m_new = b1 * m + (1 - b1) * g
                s_new = b2 * s + (1 - b2) * tf.square(g)
                m.assign(tf.where(finite, m_new, m))
                s.assign(tf.where(finite, s_new, s))
                v.assign_sub(tf.where(finite, lr * corr * m_new / (tf.sqrt(s_new) + 1e-8),
                                      tf.zeros_like(v)))
            if mode == "qat":
                model.update_acts(stats, calib)
            return loss, bpp, mse, gnorm
        return train_step

    if strategy is None:
        train_steps = {"qat": make_train_step("qat"), "float": make_train_step("float")}
    else:
        train_steps = {"qat": make_dist_train_step("qat"),
                       "float": make_dist_train_step("float")}

    @tf.function(input_signature=[tf.TensorSpec([None, args.crop, args.crop, 3], tf.uint8),
                                  tf.TensorSpec([None], tf.int32)])
    def calib_init(img, d):
        stats = {}
        model.forward(tf.cast(img, tf.float32), d, "qat", noise=noise, cdt=cdt, stats=stats)
        model.update_acts(stats, tf.constant(2))
        return 0

    def make_eval(mode):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32),
                                      tf.TensorSpec([1], tf.int32)])
        def eval_fn(pix, d):
            out = model.forward(pix, d, mode, noise=None, cdt=tf.float32)
            return out["x_hat"], out["bits_y"] + out["bits_z"]
        return eval_fn

    eval_fns = {"qat": make_eval("qat"), "float": make_eval("float")}

    def evaluate(items):
        eval_fn = eval_fns["qat" if int(qat_on.numpy()) else "float"]
        res = {}
        for L in (1, 2, 3, 4):
            bits = px = se = 0.0
            for name, img in items:
                h, w = img.shape[:2]
                p = pad_to(img, 64).astype(np.float32)[None]
                xh, b = eval_fn(tf.constant(p), tf.constant([4 - L], tf.int32))
                xh = xh.numpy()[0, :h, :w]
                se += float(np.sum((xh - img.astype(np.float32)) ** 2))
                bits += float(b.numpy()[0])
                px += h * w
            res[f"L{L}"] = {"bpp": round(bits / px, 4),
                            "psnr": round(10 * math.log10(255.0 ** 2 / (se / (px * 3))), 3)}
        return res

    calib_step = [0]
    if (args.resume or args.init) and args.recalibrate and int(qat_on.numpy()):
        calib_step[0] = int(step.numpy())
        calib.assign(1)
        logj({"event": "recalibrate", "step": calib_step[0]})

    def calibrate():
        calib_step[0] = int(step.numpy())
        for i in range(12):
            calib_init(tf.constant(data.batch(args.batch)),
                       tf.constant(np.full(args.batch, i % 4), tf.int32))
        calib.assign(1)
        logj({"event": "calib_init", "step": int(step.numpy()),
              "exps": {k: float(a.exp.numpy()) for k, a in model.acts.items()}})

    if int(step.numpy()) == 0 and args.linear_path and not (args.resume or args.init):
        blocks = np.concatenate([im.image_blocks(data.batch(args.batch))
                                 for _ in range(args.klt_batches)])
        ev = model.init_linear_path(blocks)
        m = args.m
        logj({"event": "klt_init", "blocks": int(len(blocks)),
              "energy_kept": round(float(ev[:m].sum() / ev.sum()), 6),
              "coef_std": [round(float(v), 4) for v in np.sqrt(ev[:8])]})
    if int(step.numpy()) == 0 and int(qat_on.numpy()):
        calibrate()
    elif revive[0] and int(qat_on.numpy()):
        # the new h_a / h_s start from batch maxima; the trained transforms keep theirs (their
        # EMA goes on until the freeze)
        kept = {k: (float(a.amax.numpy()), float(a.exp.numpy())) for k, a in model.acts.items()
                if not k.startswith(("h_a/", "h_s/")) and k != "h"}
        calibrate()
        for k, (amax, exp) in kept.items():
            model.acts[k].amax.assign(amax)
            model.acts[k].exp.assign(exp)

    if args.residual:
        hold = data.heldout(full=False)
    elif args.images or args.video_dir:
        hold = [(f"heldout{i}", a) for i, a in enumerate(data.held or data.color[:1])]
    else:
        hold = heldout(full=False)
    budget = args.minutes * 60.0
    t_start = time.time()
    last_ckpt = t_start
    acc = {L: [0.0, 0.0, 0.0, 0] for L in (1, 2, 3, 4)}
    t_log, s_log = time.time(), int(step.numpy())
    start_step = int(step.numpy())
    if warm_from is None:
        warm_from = start_step
    t100 = t_start
    if args.steps and int(total_steps.numpy()) == 0:
        total_steps.assign(start_step + args.steps)      # planned by steps: reproducible
    logj({"event": "start", "args": vars(args), "step": start_step, "lambdas": lambdas,
          "params": int(sum(int(np.prod(v.shape)) for v in tvars)), "devices": devinfo})

    def save(tag):
        path = mgr.save(checkpoint_number=int(step.numpy()))
        json.dump({"data_rng": data.get_state(), "elapsed": elapsed0 + time.time() - t_start,
                   "step": int(step.numpy()), "lambdas": lambdas, "args": vars(args),
                   "warm_from": warm_from},
                  open(state_path, "w"))
        ev = evaluate(hold)
        phase = "heldout_qat" if int(qat_on.numpy()) else "heldout_float"
        logj({"event": "eval", "tag": tag, "ckpt": path, "step": int(step.numpy()),
              "elapsed": round(time.time() - t_start, 1), phase: ev,
              "exps": {k: float(a.exp.numpy()) for k, a in model.acts.items() if not a.fixed}})

    while True:
        now = time.time()
        el = now - t_start
        if el >= budget:
            break
        s = int(step.numpy())
        if args.steps and s >= int(total_steps.numpy()):
            break
        if args.stop_at is not None and s >= args.stop_at:
            break
        if s - start_step == 100:
            t100 = now
        if total_steps.numpy() == 0 and s - start_step == 400:
            # schedule by steps (reproducible), planned from the measured speed (compile excluded);
            # the time fraction still bounds progress so the decay completes within --minutes
            rate = 300.0 / (now - t100)
            total_steps.assign(s + int(rate * (budget - el) * 0.95))
            logj({"event": "plan", "steps_per_s": round(rate, 2),
                  "total_steps": int(total_steps.numpy())})
        tot = int(total_steps.numpy())
        # progress of this run: with --replan the fractions (float phase, freeze, LR decay) count
        # from the resume step, not from step 0 of the first run
        s0 = start_step if args.replan else 0
        p = max(el / budget, ((s - s0) / (tot - s0)) if tot > s0 else 0.0)
        if not int(qat_on.numpy()) and p >= args.float_frac:
            # float pre-training done: calibrate the activation exponents, then QAT
            save("float_done")
            qat_on.assign(1)
            calibrate()
        if (int(qat_on.numpy()) and calib.numpy() == 1 and p >= args.freeze_frac
                and s - calib_step[0] >= MIN_CALIB_STEPS):
            calib.assign(0)
            logj({"event": "freeze", "step": s, "exps": {k: float(a.exp.numpy())
                                                         for k, a in model.acts.items()}})
        warm = min(1.0, (s - warm_from + 1) / float(args.warmup))
        if p < 0.45:
            lr = args.lr
        else:
            c = (p - 0.45) / 0.55
            lr = args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * min(c, 1)))
        lr *= warm
        dd = data.rng.integers(0, 4, args.batch).astype(np.int32)
        train_step = train_steps["qat" if int(qat_on.numpy()) else "float"]
        loss, bpp, mse, gn = train_step(tf.constant(data.batch(args.batch)), tf.constant(dd),
                                        tf.constant(lr, tf.float32))
        bpp, mse = bpp.numpy(), mse.numpy()
        for i, d in enumerate(dd):
            a = acc[4 - int(d)]
            a[0] += float(bpp[i])
            a[1] += float(mse[i])
            a[2] += float(bpp[i] + lambdas[3 - int(d)] * mse[i])
            a[3] += 1
        s += 1
        if s % args.log_every == 0:
            t = time.time()
            rec = {"step": s, "elapsed": round(t - t_start, 1), "lr": lr,
                   "steps_per_s": round((s - s_log) / (t - t_log), 2), "gnorm": float(gn)}
            if mixed:
                rec["loss_scale"] = float(loss_scale.numpy())
            for L, a in acc.items():
                if a[3]:
                    rec[f"L{L}"] = {"bpp": round(a[0] / a[3], 4),
                                    "psnr": round(10 * math.log10(255 ** 2 / (a[1] / a[3])), 3),
                                    "loss": round(a[2] / a[3], 4)}
            logj(rec)
            acc = {L: [0.0, 0.0, 0.0, 0] for L in (1, 2, 3, 4)}
            t_log, s_log = t, s
        if time.time() - last_ckpt >= args.ckpt_minutes * 60:
            save("periodic")
            last_ckpt = time.time()
    save("final")
    logj({"event": "done", "step": int(step.numpy()), "elapsed": round(time.time() - t_start, 1)})


if __name__ == "__main__":
    main()
