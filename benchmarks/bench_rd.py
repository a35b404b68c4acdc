"""Rate-distortion of the bundled intra codec against OpenCV JPEG, on held-out pictures.

    python benchmarks/bench_rd.py --clip bikes.mp4:200:250:5 --clip carphone.mp4:100:120:2 \
        [--coffee] [--refine N] [--json out.json]

CLIP:FIRST:END:STEP picks frames (held out from training: bikes 200-249, carphone 100-119).
Rates are real stream bytes (the whole record, header included) per pixel; PSNR is on RGB over
all pictures (MSE pooled).  BD-rate uses the Bjontegaard method (log-rate against PSNR
averaged over the overlapping PSNR range), with piecewise-cubic (pchip, the default) and with
polynomial interpolation (mlvc.bench.rd.bd_rate).  --refine N adds the curve of the encoder
with N latent-refinement iterations (EncoderOptions.refine; the same decoder) and its BD-rates
against JPEG and against the default encoder.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))

from mlvc.bench.rd import curve_bd_rate  # noqa: E402


def load_pictures(spec: str) -> list[np.ndarray]:
    from mlvc.io.video import read_capture
    path, first, end, step = spec.split(":")
    frames = list(read_capture(path, int(end)))
    return frames[int(first):int(end):int(step)]


def psnr(mse: float) -> float:
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def mlvc_points(pictures, backend=None, refine=0) -> list[dict]:
    import mlvc
    pts = []
    pixels = sum(p.shape[0] * p.shape[1] for p in pictures)
    levels = mlvc.Encoder(backend=backend).package.levels
    for q in levels:
        enc = mlvc.Encoder(quality=q, backend=backend, refine=refine)
        nbytes, se = 0, 0.0
        for p in pictures:                      # one stream per picture: sizes may differ
            stream = enc.encode([p])
            nbytes += len(stream) - 64          # the file header is per file, not per picture
            f = mlvc.Decoder(stream, backend=backend).decode_all()[0]
            se += float(np.sum((f.rgb.astype(np.float64) - p) ** 2))
        pts.append({"quality": q, "bpp": 8 * nbytes / pixels, "psnr": psnr(se / (3 * pixels))})
    return pts


def jpeg_points(pictures, qualities=(10, 20, 30, 45, 60, 75, 85, 92, 96)) -> list[dict]:
    import cv2
    pixels = sum(p.shape[0] * p.shape[1] for p in pictures)
    pts = []
    for q in qualities:
        nbytes, se = 0, 0.0
        for p in pictures:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(p, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, q])
            dec = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            nbytes += len(buf)
            se += float(np.sum((dec.astype(np.float64) - p) ** 2))
        pts.append({"quality": q, "bpp": 8 * nbytes / pixels, "psnr": psnr(se / (3 * pixels))})
    return pts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", action="append", default=[])
    ap.add_argument("--coffee", action="store_true", help="add scikit-image's coffee (held out)")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--refine", type=int, default=0, metavar="N",
                    help="also measure the encoder with N refinement iterations")
    a = ap.parse_args()
    sets = {Path(c.split(":")[0]).stem: load_pictures(c) for c in a.clip}
    if a.coffee:
        from skimage import data
        sets["coffee"] = [data.coffee()]
    report = {}
    for name, pics in sets.items():
        ours, jpeg = mlvc_points(pics, a.backend), jpeg_points(pics)
        # compare only where JPEG's curve overlaps ours
        bd = curve_bd_rate(jpeg, ours, "psnr")
        bd_poly = curve_bd_rate(jpeg, ours, "psnr", "poly")
        report[name] = {"pictures": len(pics), "size": f"{pics[0].shape[1]}x{pics[0].shape[0]}",
                        "mlvc": ours, "jpeg": jpeg, "bd_rate_vs_jpeg_percent": bd,
                        "bd_rate_vs_jpeg_percent_poly": bd_poly}
        print(f"{name} ({len(pics)} pictures, {pics[0].shape[1]}x{pics[0].shape[0]}):")
        for p in ours:
            print(f"  mlvc q{p['quality']}: {p['bpp']:.3f} bpp  {p['psnr']:.2f} dB")
        print("  jpeg: " + ", ".join(f"{p['bpp']:.2f}/{p['psnr']:.1f}" for p in jpeg))
        print(f"  BD-rate vs OpenCV JPEG: {bd:+.1f}% (pchip), {bd_poly:+.1f}% (polynomial fit)")
        if a.refine:
            ref = mlvc_points(pics, a.backend, a.refine)
            r = report[name]
            r["refine_iterations"] = a.refine
            r["mlvc_refined"] = ref
            r["refined_bd_rate_vs_jpeg_percent"] = curve_bd_rate(jpeg, ref, "psnr")
            r["refined_bd_rate_vs_jpeg_percent_poly"] = curve_bd_rate(jpeg, ref, "psnr", "poly")
            r["refined_bd_rate_vs_default_percent"] = curve_bd_rate(ours, ref, "psnr")
            for p in ref:
                print(f"  mlvc q{p['quality']} --refine {a.refine}: {p['bpp']:.3f} bpp  "
                      f"{p['psnr']:.2f} dB")
            print(f"  refined BD-rate vs JPEG: {r['refined_bd_rate_vs_jpeg_percent']:+.1f}% "
                  f"(pchip), {r['refined_bd_rate_vs_jpeg_percent_poly']:+.1f}% (polynomial); "
                  f"vs the default encoder {r['refined_bd_rate_vs_default_percent']:+.1f}%")
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
