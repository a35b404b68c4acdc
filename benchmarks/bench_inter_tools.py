"""P-frame tools: the block tree of §4c (modes 4/5) against the 16x16 grid of §4b (modes 0-3),
with the same package (the same intra and residual networks), on held-out clips.

    python benchmarks/bench_inter_tools.py \\
        --clip /work/shared/data/bikes.mp4:200:209 \\
        --clip /work/shared/data/carphone_pristine.mp4:100:109 \\
        [--preset medium] [--speed-clip PATH:FIRST:END] [--decode-clip PATH:FIRST:END] \\
        [--json out.json] [--results PATH | --no-results]

CLIP is PATH:FIRST:END (frames FIRST..END-1, one GOP: an I-frame then P-frames; held out from
training: bikes 200-249, carphone 100-119, see bench_rd.py).  For every quality level both
tool sets code the clip; the P-frames' real record bytes (header included) and their pooled
RGB PSNR give one RD point per level, and BD-rate (Bjontegaard, pchip; mlvc.bench.rd.bd_rate)
the P-frame bits of the block tree against the grid at equal PSNR (negative: fewer bits).

--speed-clip: P-frame encode fps of each preset (and of the grid tools) on its first 4 P-frames
resized to 1280x720 (the residual networks included; the same reference picture for every P
frame), plus x264 medium (one thread) on all the clip's frames when ffmpeg is installed.  --decode-clip: decode
fps of a block-tree stream of those frames (640x272 for bikes) on the default backend.
Merges its section "inter_tools" into docs/results.json (results_file.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_file  # noqa: E402  (benchmarks/results_file.py)


def load_frames(spec: str) -> tuple[str, list[np.ndarray]]:
    from mlvc.io.video import read_capture
    path, first, end = spec.rsplit(":", 2)
    frames = list(read_capture(path, int(end)))[int(first):int(end)]
    if len(frames) < 2:
        raise SystemExit(f"{spec}: fewer than 2 frames")
    return Path(path).stem, frames


def psnr(mse: float) -> float:
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def p_point(frames, quality: int, tools: str, preset: str, backend=None) -> dict:
    """One RD point: the P-frames of one GOP (I then P) at `quality`."""
    import mlvc
    from mlvc.bitstream.container import RECORD_HEADER_SIZE, StreamHeader, iter_records
    enc = mlvc.Encoder(quality=quality, gop=len(frames), backend=backend, inter_tools=tools,
                       preset=preset)
    t0 = time.perf_counter()
    stream = enc.encode(frames)
    t_enc = time.perf_counter() - t0
    dec = mlvc.Decoder(stream, backend=backend).decode_all()
    assert all(f.verified for f in dec)
    recs = list(iter_records(stream, StreamHeader.unpack(stream)))
    bits = sum(8 * (RECORD_HEADER_SIZE + len(r.payload)) for r in recs if r.frame_type == "P")
    err = [float(np.mean((f.rgb.astype(np.float64) - src) ** 2))
           for f, src, r in zip(dec, frames, recs) if r.frame_type == "P"]
    modes = sorted({r.payload[0] for r in recs if r.frame_type == "P"})
    return {"quality": quality, "p_bits": bits, "p_psnr": psnr(float(np.mean(err))),
            "p_frames": len(err), "modes": modes, "levels": [r.quality for r in recs[1:]],
            "encode_s": round(t_enc, 2)}


def rd_clip(name: str, frames, preset: str, backend=None) -> dict:
    import mlvc
    from mlvc.bench.rd import bd_rate
    levels = mlvc.Encoder(backend=backend).package.levels
    curves = {}
    for tools in ("grid", "tree"):
        curves[tools] = [p_point(frames, q, tools, preset, backend) for q in levels]
        for p in curves[tools]:
            print(f"  {name} {tools:4s} q{p['quality']}: P-frames {p['p_bits'] / p['p_frames']:9.0f}"
                  f" bits/frame  {p['p_psnr']:6.2f} dB  modes {p['modes']} levels {p['levels']}"
                  f"  ({p['encode_s']} s)", flush=True)
    g, t = curves["grid"], curves["tree"]
    out = {"frames": len(frames), "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
           "preset": preset, "grid": g, "tree": t}
    for method in ("pchip", "poly"):
        try:
            out[f"bd_rate_p_bits_{method}"] = round(bd_rate(
                [p["p_bits"] for p in g], [p["p_psnr"] for p in g],
                [p["p_bits"] for p in t], [p["p_psnr"] for p in t], method), 2)
        except Exception as exc:   # noqa: BLE001 (curves that do not overlap in PSNR)
            out[f"bd_rate_p_bits_{method}"] = None
            out["bd_rate_error"] = str(exc)
    # the same level on both sides (a cruder, per-point view)
    out["per_level"] = [{"quality": a["quality"],
                         "bits_change_pct": round(100 * (b["p_bits"] / a["p_bits"] - 1), 1),
                         "psnr_change_db": round(b["p_psnr"] - a["p_psnr"], 2)}
                        for a, b in zip(g, t)]
    print(f"{name}: BD-rate of P-frame bits, block tree vs grid: "
          f"{out['bd_rate_p_bits_pchip']} % (pchip), {out['bd_rate_p_bits_poly']} % (poly)",
          flush=True)
    return out


def encode_speed(frames, size=(1280, 720), quality: int = 3, backend=None,
                 repeats: int = 1, p_frames: int = 4) -> dict:
    """P-frames per second of each preset (and of the grid tools) at `size` on the first
    `p_frames` P-frames: every P-frame is coded against the I-frame's reconstruction (the same
    work as in a stream).  x264 codes all the frames (its start-up and look-ahead amortised:
    give it 30 or more)."""
    import cv2

    import mlvc
    every = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    pics = every[:1 + p_frames]
    out = {}
    for label, tools, preset in (("fast", "tree", "fast"), ("medium", "tree", "medium"),
                                 ("slow", "tree", "slow"), ("grid", "grid", "medium")):
        enc = mlvc.Encoder(quality=quality, backend=backend, inter_tools=tools, preset=preset)
        ref = enc.codec.encode(pics[0], quality).reconstruction
        enc.inter.encode(pics[1], ref, quality)          # warm-up (kernels, networks)
        t0 = time.perf_counter()
        n = 0
        for _ in range(repeats):
            for p in pics[1:]:
                enc.inter.encode(p, ref, quality)
                n += 1
        dt = time.perf_counter() - t0
        out[label] = {"p_fps": round(n / dt, 3), "p_frames": n}
        print(f"  encode {size[0]}x{size[1]} {label:6s}: {n / dt:.3f} P-frames/s", flush=True)
    x = x264_speed(every)
    if x is not None:
        out["x264_medium"] = x
        print(f"  encode {size[0]}x{size[1]} x264 medium: {x['fps']:.2f} fps", flush=True)
        out["fast_time_vs_x264_medium"] = round(x["fps"] / out["fast"]["p_fps"], 1)
    return out


def x264_speed(pics) -> dict | None:
    import shutil
    import subprocess
    import tempfile
    ff = shutil.which("ffmpeg")
    if ff is None:
        return None
    h, w = pics[0].shape[:2]
    raw = b"".join(np.ascontiguousarray(p).tobytes() for p in pics)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [ff, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", "30", "-i", "-", "-c:v", "libx264", "-preset", "medium",
               "-crf", "23", "-threads", "1", f"{tmp}/o.mp4"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, input=raw, capture_output=True)
        dt = time.perf_counter() - t0
        if r.returncode:
            return None
    return {"fps": round(len(pics) / dt, 2), "frames": len(pics), "threads": 1}


def decode_speed(frames, quality: int = 3, preset: str = "medium", backend=None) -> dict:
    import mlvc
    enc = mlvc.Encoder(quality=quality, gop=len(frames), backend=backend, preset=preset)
    stream = enc.encode(frames)
    mlvc.Decoder(stream, backend=backend).decode_all()            # warm-up
    t0 = time.perf_counter()
    out = mlvc.Decoder(stream, backend=backend).decode_all()
    dt = time.perf_counter() - t0
    h, w = frames[0].shape[:2]
    res = {"size": f"{w}x{h}", "frames": len(out), "fps": round(len(out) / dt, 2),
           "backend": mlvc.Decoder(stream, backend=backend).backend.name}
    print(f"  decode {w}x{h} ({res['backend']}): {res['fps']:.2f} fps", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", action="append", default=[], help="PATH:FIRST:END (held out)")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--speed-clip", default=None, help="PATH:FIRST:END, resized to 1280x720 "
                    "(the presets code its first 4 P-frames, x264 all of it)")
    ap.add_argument("--decode-clip", default=None, help="PATH:FIRST:END at its own size")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=results_file.DEFAULT)
    ap.add_argument("--no-results", action="store_true")
    a = ap.parse_args()
    report = {"date": results_file.today(), "machine": results_file.machine(), "clips": {}}
    for spec in a.clip:
        name, frames = load_frames(spec)
        report["clips"][f"{name}:{spec.rsplit(':', 2)[1]}-{spec.rsplit(':', 1)[1]}"] = rd_clip(
            name, frames, a.preset, a.backend)
    if a.speed_clip:
        report["encode_speed"] = encode_speed(load_frames(a.speed_clip)[1], backend=a.backend)
    if a.decode_clip:
        report["decode_speed"] = decode_speed(load_frames(a.decode_clip)[1], backend=a.backend)
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    if not a.no_results:
        results_file.merge_section(
            a.results, "inter_tools", {a.preset: report},
            description="P-frame bits of the block-tree tools (modes 4/5) against the 16x16 "
                        "grid (modes 0-3) at equal PSNR, same networks, held-out clips "
                        "(benchmarks/bench_inter_tools.py)")
        print(f"results: {a.results} [inter_tools] {a.preset}")


if __name__ == "__main__":
    main()
