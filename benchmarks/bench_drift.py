"""Drift of an approximate backend over a GOP, and how intra refresh (the GOP length) bounds it.

    python benchmarks/bench_drift.py [CLIP] [--frames 32] [--gops 4,8,16,32] [--backend float16]

The stream is encoded on the exact backend.  The approximate backend (default `float16`: the
networks in float16, like a GPU / NNAPI / Neural Engine delegate) still parses exactly (h_s runs
on an exact backend), but its pictures differ; every P-frame predicts from its own, different,
previous picture, so the difference can grow until the next I-frame resets it.
Prints per-frame PSNR of the approximate decode against the exact decode.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))


def drift(frames, gop, backend, quality):
    import mlvc
    stream = mlvc.Encoder(quality=quality, gop=gop).encode(frames)
    exact = mlvc.Decoder(stream).decode_all()
    approx = mlvc.Decoder(stream, backend=backend).decode_all()
    out = []
    for e, a in zip(exact, approx):
        mse = float(np.mean((e.rgb.astype(np.float64) - a.rgb) ** 2))
        out.append({"type": e.frame_type, "psnr_vs_exact": 10 * np.log10(255 ** 2 / max(mse, 1e-10)),
                    "exact_hash_ok": e.verified, "approx_hash_ok": a.verified})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clip", nargs="?", default=None)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--gops", default="4,8,16,32")
    ap.add_argument("--backend", default="float16")
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from mlvc.io.video import open_source, synthetic_capture
    frames = (list(open_source(a.clip, max_frames=a.frames)) if a.clip
              else list(synthetic_capture(176, 144, a.frames)))
    report = {}
    for gop in [int(g) for g in a.gops.split(",")]:
        r = drift(frames, gop, a.backend, a.quality)
        report[gop] = r
        ps = [x["psnr_vs_exact"] for x in r]
        print(f"GOP {gop:3d}: worst {min(ps):6.2f} dB, mean {np.mean(ps):6.2f} dB vs exact; "
              f"per frame: " + " ".join(f"{p:.1f}" for p in ps))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
