"""Export a trained intra checkpoint to the integer IR and check it against the integer executor.

    python -m mlvc_train.export_intra \
        --ckpt build/train_intra --out build/intra_export [--check] [--quick]

Writes OUT/{g_a,h_a,h_s,g_s}.graph.npz (Graph.to_bytes()) and OUT/codec.json.  The integer weights,
weight exponents and biases come from the very TF function the QAT forward uses
(QConv.int_params), so the rounding to the grid is identical by construction.
--check: runs the NumPy integer executor (sdk/mlvc/intops/reference.py) on the held-out set,
counts int8 output differences between the fp32 TF QAT forward and the executor per network, and
reports PSNR / bpp for the float twin, the QAT simulation and the exact integer pipeline per level,
and the determinism tax (determinism_tax(): BD-rate of the integer pipeline against the float
twin; `mlvc model verify PKG --run RUN` reports the same on a package).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np


from mlvc.intops.graph import Add, Conv2D, DepthToSpace, Graph, QParams  # noqa: E402


def load_model(ckpt_dir):
    import tensorflow as tf
    from mlvc_train import intra_model as im
    st_path = os.path.join(ckpt_dir, "state.json")
    st = json.load(open(st_path)) if os.path.exists(st_path) else {"args": {"seed": 1}}
    a = st["args"]
    model = im.Codec(seed=a.get("seed", 1), ga_width=int(a.get("ga_width") or im.N),
                     m=int(a.get("m") or im.M), linear_path=bool(a.get("linear_path", False)))
    path = ckpt_dir
    if os.path.isdir(ckpt_dir):
        path = tf.train.latest_checkpoint(os.path.join(ckpt_dir, "ckpt"))
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return model, path, st


def conv_op(c, inp, out):
    wi, e, bi = (t.numpy() for t in c.int_params())
    w = np.transpose(wi, (3, 0, 1, 2))
    assert np.all(w == np.round(w)) and np.all(bi == np.round(bi))
    return Conv2D(inp, out, w.astype(np.int8), e.astype(np.int32), bi.astype(np.int64)
                  .astype(np.int32), stride=c.stride, activation="RELU" if c.relu else "NONE")


def qp(a):
    return QParams(int(a.exp.numpy()), a.zp)


def build_graphs(model):
    from mlvc_train import intra_model as im
    A = model.acts
    lp = model.linear_path
    g = {}
    t = {n: qp(A[n]) for n in ("image", "g_a/a1", "g_a/a2", "g_a/a3", "y")}
    y_nl = "g_a/y_nl" if lp else "y"
    names = ["image", "g_a/a1", "g_a/a2", "g_a/a3", y_nl]
    ops = [conv_op(c, names[i], names[i + 1]) for i, c in enumerate(model.g_a)]
    if lp:
        # the linear path: three space-to-depth convs, the learned 2x2 conv, then y = y_lin + y_nl
        lin = ["image", "g_a/lin1", "g_a/lin2", "g_a/lin3", "g_a/y_lin"]
        for n in lin[1:] + [y_nl]:
            t[n] = qp(A[n])
        ops += [conv_op(c, lin[i], lin[i + 1]) for i, c in enumerate(model.g_a_lin)]
        ops.append(Add("g_a/y_lin", y_nl, "y"))
    g["g_a"] = Graph("g_a", ["image"], ["y"], t, {"image": 3}, ops, alignment=16)

    t = {"y": qp(A["y"]), "h_a/a1": qp(A["h_a/a1"]), "h_a/a2": qp(A["h_a/a2"]), "z": qp(A["z"])}
    names = ["y", "h_a/a1", "h_a/a2", "z"]
    ops = [conv_op(c, names[i], names[i + 1]) for i, c in enumerate(model.h_a)]
    g["h_a"] = Graph("h_a", ["y"], ["z"], t, {"y": model.m}, ops, alignment=4)

    u1, u2, h = qp(A["h_s/u1"]), qp(A["h_s/u2"]), qp(A["h"])
    t = {"z": qp(A["z"]), "h_s/u1c": u1, "h_s/u1": u1, "h_s/u2c": u2, "h_s/u2": u2, "h": h,
         "mu": qp(A["mu"]), "sigma_index": qp(A["sigma_index"])}
    ops = [conv_op(model.h_s[0], "z", "h_s/u1c"), DepthToSpace("h_s/u1c", "h_s/u1", 2),
           conv_op(model.h_s[1], "h_s/u1", "h_s/u2c"), DepthToSpace("h_s/u2c", "h_s/u2", 2),
           conv_op(model.h_s[2], "h_s/u2", "h"),
           conv_op(model.h_mu, "h", "mu"), conv_op(model.h_sigma, "h", "sigma_index")]
    g["h_s"] = Graph("h_s", ["z"], ["mu", "sigma_index"], t, {"z": 64}, ops, alignment=1)

    t = {"y_hat": qp(A["y"]), "image": qp(A["image"])}
    ops, cur = [], "y_hat"
    x_nl = "g_s/x_nl" if lp else "image"
    for i, c in enumerate(model.g_s):
        a = A[f"g_s/u{i + 1}"] if i < 3 else A[x_nl]
        cname = f"g_s/u{i + 1}c" if i < 3 else "g_s/out_c"
        oname = f"g_s/u{i + 1}" if i < 3 else x_nl
        t[cname] = qp(a)
        t[oname] = qp(a)
        ops += [conv_op(c, cur, cname), DepthToSpace(cname, oname, 2)]
        cur = oname
    if lp:
        t["g_s/x_lin_c"] = t["g_s/x_lin"] = qp(A["g_s/x_lin"])
        ops += [conv_op(model.g_s_lin, "y_hat", "g_s/x_lin_c"),
                DepthToSpace("g_s/x_lin_c", "g_s/x_lin", im.LIN_BLOCK),
                Add("g_s/x_lin", x_nl, "image")]
    g["g_s"] = Graph("g_s", ["y_hat"], ["image"], t, {"y_hat": model.m}, ops, alignment=1)
    for gr in g.values():
        gr.validate()
    return g


def fit_z_tables(model, pictures, crop=256, crops_per_picture=2, seed=0):
    """The z table of each hyper channel that codes the model's own z in the fewest bits, on
    crops of `pictures` at every level (the exact integer z: the QAT forward equals the
    reference).  Training learns the z tables through a noisy proxy; refitting them on the
    integers the encoder will really code is the usual last step of a factorised prior (a
    collapsed hyper-latent, z = 0 everywhere, then costs nothing instead of ~2.3 bits per
    symbol).  Returns (table index per channel, bits per z symbol before, after)."""
    import tensorflow as tf
    from mlvc_train import intra_model as im
    rng = np.random.default_rng(seed)
    zs = []
    for img in pictures:
        h, w = img.shape[:2]
        if min(h, w) < crop:
            continue
        for _ in range(crops_per_picture):
            y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            x = (img[y0:y0 + crop, x0:x0 + crop].astype(np.float32) - 128.0) / 128.0
            y = model.run_g_a(tf.constant(x[None])) / 2.0 ** im.Y_EXP
            for e_l in im.LEVEL_EXPS:
                d = e_l - im.Y_EXP
                q = int_rshift_round(np.rint(y.numpy()).astype(np.int32), d)
                yhat = np.clip(q << d, -128, 127).astype(np.float32) * 2.0 ** im.Y_EXP
                z = model.run_h_a(tf.constant(yhat)).numpy() / 2.0 ** im.Z_EXP
                zs.append(np.rint(z).reshape(-1, z.shape[-1]).astype(np.int64))
    z = np.concatenate(zs)
    ts = np.arange(im.NUM_TABLES)
    sig = im.SIGMA_MIN * 2.0 ** (ts / im.TABLES_PER_OCTAVE)
    old = np.asarray(model.z_table_index().numpy(), np.int64)
    bits = np.zeros((im.NUM_TABLES, z.shape[1]))
    for k, sg in enumerate(sig):
        for c in range(z.shape[1]):
            bits[k, c] = bits_np(z[:, c], sg)
    best = bits.argmin(axis=0)
    n = z.shape[0] * z.shape[1]
    before = float(bits[old, np.arange(z.shape[1])].sum()) / n
    return [int(t) for t in best], before, float(bits.min(axis=0).sum()) / n


def acc_margin(graph):
    worst = 0.0
    for op in graph.ops:
        if isinstance(op, Conv2D):
            b = 255 * np.abs(op.weights.astype(np.int64)).sum(axis=(1, 2, 3)) + \
                np.abs(op.bias.astype(np.int64))
            worst = max(worst, float(b.max()) / (1 << 24))
    return worst


# ---------------------------------------------------------------------------------------------
def int_rshift_round(x, d):
    x = x.astype(np.int32)
    return x if d == 0 else (x + (1 << (d - 1))) >> d


def bits_np(s, sigma):
    from scipy.special import erfc
    s = np.abs(s.astype(np.float64))
    c = 1.0 / (np.sqrt(2.0) * sigma)
    p = 0.5 * erfc((s - 0.5) * c) - 0.5 * erfc((s + 0.5) * c)
    return float(-np.log2(np.maximum(p, 1e-9)).sum())


def check(model, graphs, items, levels=(1, 2, 3, 4), z_tables=None):
    import tensorflow as tf
    from mlvc_train import intra_model as im
    from mlvc_train.data import pad_to
    from mlvc.intops.reference import run_graph
    zt = np.asarray(z_tables if z_tables is not None else model.z_table_index().numpy(),
                    np.float64)
    sz = im.SIGMA_MIN * 2.0 ** (zt / 8.0)

    def tf_net(name, x_int, exp_in):
        x = tf.constant(x_int.astype(np.float32) * 2.0 ** exp_in)
        if name == "g_a":
            return {"y": model.run_g_a(x) / 2.0 ** im.Y_EXP}
        if name == "h_a":
            return {"z": model.run_h_a(x) / 2.0 ** im.Z_EXP}
        if name == "h_s":
            mu, si = model.run_h_s(x)
            return {"mu": mu / 2.0 ** im.MU_EXP, "sigma_index": si / 2.0 ** im.SIGMA_EXP}
        return {"image": model.run_g_s(x) / 2.0 ** im.IMAGE_EXP}

    diff = {k: [0, 0, 0] for k in graphs}   # differing, total, max |diff|

    def run_both(name, feeds, exp_in):
        ref = run_graph(graphs[name], feeds)
        sim = tf_net(name, list(feeds.values())[0], exp_in)
        for k, v in ref.items():
            s = sim[k].numpy()
            assert np.all(s == np.round(s))
            dd = np.abs(s.astype(np.int32) - v.astype(np.int32))
            diff[name][0] += int((dd > 0).sum())
            diff[name][1] += int(dd.size)
            diff[name][2] = max(diff[name][2], int(dd.max()))
        return ref

    res = {m: {L: [0.0, 0.0, 0] for L in levels} for m in ("float", "qat", "int")}
    groups = {}
    for name, img in items:
        h, w = img.shape[:2]
        p = pad_to(img, 64)
        xq = (p.astype(np.int16) - 128).astype(np.int8)[None]
        y = run_both("g_a", {"image": xq}, im.IMAGE_EXP)["y"]
        for L in levels:
            e_l = im.LEVEL_EXPS[L - 1]
            d = e_l - im.Y_EXP
            q = int_rshift_round(y, d)
            yhat = np.clip(q << d, -128, 127).astype(np.int8)
            z = run_both("h_a", {"y": yhat}, im.Y_EXP)["z"]
            hs = run_both("h_s", {"z": z}, im.Z_EXP)
            mu_l = int_rshift_round(hs["mu"], d)
            t = np.clip(hs["sigma_index"].astype(np.int32) - 8 * e_l, 0, 79)
            bits = bits_np(q - mu_l, im.SIGMA_MIN * 2.0 ** (t / 8.0))
            bits += bits_np(z.astype(np.int32), sz[None, None, None, :])
            out = run_both("g_s", {"y_hat": yhat}, im.Y_EXP)["image"]
            rec = out[0, :h, :w].astype(np.float64) + 128
            grp = name.rstrip("0123456789")
            for r in (res["int"][L], groups.setdefault(grp, {}).setdefault(L, [0.0, 0.0, 0])):
                r[0] += bits
                r[1] += float(((rec - img) ** 2).sum())
                r[2] += h * w
            for mode in ("qat", "float"):
                o = model.forward(tf.constant(p[None].astype(np.float32)),
                                  tf.constant([d], tf.int32), mode)
                xh = np.round(o["x_hat"].numpy()[0, :h, :w]) if mode == "float" else \
                    o["x_hat"].numpy()[0, :h, :w]
                r = res[mode][L]
                r[0] += float((o["bits_y"] + o["bits_z"]).numpy()[0])
                r[1] += float(((xh - img) ** 2).sum())
                r[2] += h * w
    table = {m: {f"L{L}": {"bpp": round(v[0] / v[2], 4),
                            "psnr": round(10 * math.log10(255.0 ** 2 / (v[1] / (3 * v[2]))), 3)}
                 for L, v in r.items()} for m, r in res.items()}
    table["int_per_source"] = {
        g: {f"L{L}": {"bpp": round(v[0] / v[2], 4),
                      "psnr": round(10 * math.log10(255.0 ** 2 / (v[1] / (3 * v[2]))), 3)}
            for L, v in r.items()} for g, r in groups.items()}
    exact = {k: {"differing": v[0], "total": v[1], "fraction": v[0] / max(v[1], 1),
                 "max_abs_diff": v[2]} for k, v in diff.items()}
    return table, exact


def tax_from_table(table, levels=(1, 2, 3, 4)):
    """The determinism tax from check()'s table: the BD-rate (%, pchip) of the exact integer
    pipeline against the float twin (no fake quantisation), both rated by the same entropy
    estimate, with the rows it is computed from.  Positive: the integer codec needs more bits
    for the same PSNR.  None where the two curves' PSNR ranges do not overlap."""
    from mlvc.bench.rd import bd_rate

    def rows(mode):
        return [{"level": L, **table[mode][f"L{L}"]} for L in levels]
    f, i = rows("float"), rows("int")
    bd = bd_rate([r["bpp"] for r in f], [r["psnr"] for r in f],
                 [r["bpp"] for r in i], [r["psnr"] for r in i], method="pchip")
    return {"bd_rate_percent": None if not math.isfinite(bd) else round(bd, 3),
            "float": f, "integer": i}


def determinism_tax(model, graphs, items, levels=(1, 2, 3, 4), z_tables=None):
    """check() on `items` and the determinism tax of `graphs` (the integer networks: the
    model's own, build_graphs(), or a package's) against the model's float twin.
    Returns (tax, table, exactness) (tax_from_table(), check()'s two results)."""
    table, exact = check(model, graphs, items, levels=levels, z_tables=z_tables)
    return tax_from_table(table, levels), table, exact


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True,
                    help="training dir (latest checkpoint) or a checkpoint prefix")
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--quick", action="store_true", help="check on a held-out subset")
    ap.add_argument("--crops", action="store_true",
                    help="check on the 3 in-training evaluation crops (compare with train.log)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fit-z-tables", metavar="DIR",
                    help="choose each hyper channel's z table on crops of the (training) "
                         "pictures in DIR (fit_z_tables); default: the trained z tables")
    args = ap.parse_args()
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from mlvc_train import intra_model as im
    model, path, st = load_model(args.ckpt)
    graphs = build_graphs(model)
    os.makedirs(args.out, exist_ok=True)
    for n, gr in graphs.items():
        data = gr.to_bytes()
        Graph.from_bytes(data)          # round trip validates again
        with open(os.path.join(args.out, f"{n}.graph.npz"), "wb") as f:
            f.write(data)
    zt = [int(v) for v in model.z_table_index().numpy()]
    z_fit = None
    if args.fit_z_tables:
        from mlvc_train.data import load_photos
        pics = load_photos(args.fit_z_tables)
        pics = pics[::max(1, len(pics) // 64)]
        zt, before, after = fit_z_tables(model, pics)
        z_fit = {"pictures": args.fit_z_tables, "bits_per_z_symbol_trained_tables": before,
                 "bits_per_z_symbol_fitted_tables": after}
        print("z tables fitted:", json.dumps(z_fit), flush=True)
    train_log = os.path.join(os.path.dirname(path), "..", "train.log")
    summary = {"checkpoint": os.path.relpath(path) if path.startswith(os.getcwd()) else path,
               "step": int(path.rsplit("-", 1)[-1]) if "-" in path else None,
               "lambdas": st.get("lambdas", list(im.LAMBDAS)), "args": st.get("args", {}),
               "elapsed_s": st.get("elapsed"),
               "act_exps": {k: int(a.exp.numpy()) for k, a in model.acts.items()},
               "macs_per_pixel": {n: gr.macs_per_input_pixel() for n, gr in graphs.items()},
               "acc_bound_max_fraction_of_2^24": {n: acc_margin(gr) for n, gr in graphs.items()},
               "z_tables_fitted": z_fit}
    codec = {"levels": [{"level": L, "exp": e} for L, e in zip((1, 2, 3, 4), im.LEVEL_EXPS)],
             "y_exp": im.Y_EXP, "sigma_min": im.SIGMA_MIN,
             "tables_per_octave": im.TABLES_PER_OCTAVE, "num_tables": im.NUM_TABLES,
             "z_table_index": zt, "train": summary}
    if args.check:
        from mlvc_train.data import heldout
        items = heldout(full=not args.crops)
        if args.quick:
            items = [it for it in items if it[0] in ("bikes220", "carphone110", "coffee")]
        t0 = time.time()
        tax, table, exact = determinism_tax(model, graphs, items, z_tables=zt)
        summary["heldout"] = {"images": [n for n, _ in items], "results": table,
                              "exactness_tf_qat_vs_int": exact,
                              "determinism_tax_bd_rate_percent": tax["bd_rate_percent"],
                              "check_seconds": round(time.time() - t0, 1)}
        print(json.dumps(summary["heldout"], indent=1))
    with open(os.path.join(args.out, "codec.json"), "w") as f:
        json.dump(codec, f, indent=1)
    print("exported", path, "->", args.out, json.dumps(summary["acc_bound_max_fraction_of_2^24"]))


if __name__ == "__main__":
    main()
