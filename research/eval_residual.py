"""Held-out P-frame residuals coded with the package's residual networks against the intra
networks: real rANS bytes from the SDK (exact integer backend), PSNR of clamp(pred + r̂).

    python research/eval_residual.py --pairs build/inter_pairs.npz \
        [--package DIR] [--json OUT.json]

The pairs are inter_data.py's held-out ones (bikes 200-249, carphone 100-119: the previous
frame intra-coded at a random level, the encoder's motion search and compensation).
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--package", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--groups", default="heldout_bikes,heldout_carphone",
                    help="pair groups to code (training groups: bikes, carphone, synthetic)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many pairs per group")
    a = ap.parse_args()
    from mlvc.backends.registry import resolve
    from mlvc.bench.rd import bd_rate
    from mlvc.codec.hyperprior import HyperpriorCodec
    from mlvc.package.loader import load_package

    pkg = load_package(a.package)
    be = resolve(None)
    sets = {"intra": HyperpriorCodec(pkg, be, be)}
    if pkg.has_residual:
        sets["residual"] = HyperpriorCodec(pkg, be, be, networks="residual")
    with np.load(a.pairs) as z:
        pairs = [(c, p) for n in a.groups.split(",")
                 for c, p in list(zip(z[f"{n}_cur"], z[f"{n}_pred"]))[:a.limit or None]]
    result = {"pairs": len(pairs), "package": pkg.manifest.content_hash[:16]}
    se = sum(float(np.sum((p.astype(np.float64) - c) ** 2)) for c, p in pairs)
    result["prediction_only_psnr"] = 10 * math.log10(
        255.0 ** 2 / (se / sum(c.size for c, _ in pairs)))
    print(f"prediction alone (skip): {result['prediction_only_psnr']:.2f} dB")
    for name, codec in sets.items():
        pts = []
        for lv in pkg.levels:
            bits = px = se = 0
            for cur, pred in pairs:
                resid = np.clip(cur.astype(np.int16) - pred, -128, 127).astype(np.int8)
                payload, rec, _, _ = codec.encode_signed(resid, lv)
                out = np.clip(pred.astype(np.int16) + rec, 0, 255)
                bits += 8 * len(payload)
                px += cur.shape[0] * cur.shape[1]
                se += float(np.sum((out - cur.astype(np.int16)).astype(np.float64) ** 2))
            pts.append({"level": lv, "bpp": bits / px,
                        "psnr": 10 * math.log10(255.0 ** 2 / (se / (3 * px)))})
        result[name] = pts
        print(name, " ".join(f"L{p['level']} {p['bpp']:.4f}/{p['psnr']:.2f}" for p in pts))
    if "residual" in result:
        col = lambda name, k: [p[k] for p in result[name]]  # noqa: E731
        result["bd_rate_residual_vs_intra_percent"] = bd_rate(
            col("intra", "bpp"), col("intra", "psnr"), col("residual", "bpp"),
            col("residual", "psnr"))
        print("BD-rate residual networks vs intra networks: "
              f"{result['bd_rate_residual_vs_intra_percent']:+.1f} %")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
