"""`mlvc bench rd`: rate-distortion of MLVC against ffmpeg's libx264 and libx265.

Every codec gets the same frames, the same GOP length, no B-frames, and 8-bit 4:4:4 (MLVC codes
RGB; x264/x265 code YUV 4:4:4 converted by ffmpeg).  Quality is measured identically for all:
decoded RGB and source RGB are converted to full-range BT.601 YUV, and PSNR-Y and PSNR-YUV
((6·Y + U + V) / 8 of the per-plane PSNRs) are computed over all frames (MSE pooled per plane).
Rates are file bytes per pixel per frame (container overhead included for every codec).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, UnsupportedError
from ..io.video import open_source, rgb_to_yuv444

X264_CRF = (20, 25, 30, 35, 40, 45)
X265_CRF = (22, 27, 32, 37, 42, 47)


def bd_rate(r_ref, p_ref, r_test, p_test, method: str = "pchip") -> float:
    """Bjontegaard delta rate (%) of test against reference at equal quality (negative: test
    needs fewer bits): mean log-rate difference over the overlapping PSNR range.

    method "pchip" interpolates log-rate over PSNR piecewise-cubically (monotone Hermite, the
    interpolation of JVET's common-test-condition sheets); "poly" is the original cubic
    polynomial fit (VCEG-M33), which swings wildly when a curve saturates (nearly equal PSNR for
    the top rates), as learned codecs' often do."""
    lr, lt = np.log(np.asarray(r_ref, float)), np.log(np.asarray(r_test, float))
    pr, pt = np.asarray(p_ref, float), np.asarray(p_test, float)
    lo, hi = max(pr.min(), pt.min()), min(pr.max(), pt.max())
    if hi <= lo or len(pr) < 2 or len(pt) < 2:
        return float("nan")
    if method == "pchip":
        try:
            from scipy.interpolate import PchipInterpolator
        except ImportError as e:
            raise UnsupportedError("BD-rate (pchip) needs scipy: pip install 'mlvc[train]'") from e

        def mean_log_rate(p, lg):
            order = np.argsort(p, kind="stable")
            p, lg = p[order], lg[order]
            keep = np.concatenate([[True], np.diff(p) > 0])     # PSNR must increase strictly
            return float(PchipInterpolator(p[keep], lg[keep]).integrate(lo, hi)) / (hi - lo)
        avg_r, avg_t = mean_log_rate(pr, lr), mean_log_rate(pt, lt)
    elif method == "poly":
        deg = min(3, len(pr) - 1, len(pt) - 1)
        with warnings.catch_warnings():     # ill-conditioned fits are this method's known flaw
            warnings.simplefilter("ignore")
            ir, it = np.polyint(np.polyfit(pr, lr, deg)), np.polyint(np.polyfit(pt, lt, deg))
        avg_r = (np.polyval(ir, hi) - np.polyval(ir, lo)) / (hi - lo)
        avg_t = (np.polyval(it, hi) - np.polyval(it, lo)) / (hi - lo)
    else:
        raise InvalidArgumentError(f"unknown BD-rate method {method!r} (pchip, poly)")
    return float((np.exp(avg_t - avg_r) - 1) * 100)


def quality(src: list[np.ndarray], dec: list[np.ndarray]) -> dict:
    se = np.zeros(3)
    se_rgb = 0.0
    n = 0
    for a, b in zip(src, dec):
        ya, yb = rgb_to_yuv444(a).astype(np.float64), rgb_to_yuv444(b).astype(np.float64)
        se += ((ya - yb) ** 2).sum(axis=(0, 1))
        se_rgb += float(((a.astype(np.float64) - b) ** 2).sum())
        n += a.shape[0] * a.shape[1]
    ps = [10 * np.log10(255.0 ** 2 / max(v / n, 1e-12)) for v in se]
    return {"psnr_y": ps[0], "psnr_yuv": (6 * ps[0] + ps[1] + ps[2]) / 8,
            "psnr_rgb": 10 * np.log10(255.0 ** 2 / max(se_rgb / (3 * n), 1e-12))}


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if not exe:
        raise UnsupportedError("bench rd needs ffmpeg with libx264/libx265 (apt install ffmpeg)")
    return exe


def run_ffmpeg_codec(frames, codec: str, crf: int, gop: int, fps: float, tmp: Path):
    h, w = frames[0].shape[:2]
    out = tmp / f"{codec}_{crf}.mkv"
    params = ["-c:v", codec, "-preset", "medium", "-crf", str(crf), "-g", str(gop),
              "-bf", "0", "-pix_fmt", "yuv444p"]
    if codec == "libx265":
        params += ["-x265-params", f"log-level=error:keyint={gop}:min-keyint={gop}:bframes=0"]
    else:
        params += ["-keyint_min", str(gop), "-sc_threshold", "0"]
    cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", *params, str(out)]
    raw = b"".join(np.ascontiguousarray(f).tobytes() for f in frames)
    enc = subprocess.run(cmd, input=raw, capture_output=True)
    if enc.returncode:
        raise UnsupportedError(f"ffmpeg {codec} failed: {enc.stderr.decode()[-400:]}")
    dec = subprocess.run([_ffmpeg(), "-loglevel", "error", "-i", str(out), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True)
    if dec.returncode:
        raise UnsupportedError(f"ffmpeg decode of {codec} failed: {dec.stderr.decode()[-400:]}")
    dec = dec.stdout
    frames_out = np.frombuffer(dec, np.uint8).reshape(-1, h, w, 3)
    return out.stat().st_size, list(frames_out[:len(frames)])


def mlvc_points(frames, gop: int, backend=None, package=None, refine: int = 0) -> list[dict]:
    from ..api import Decoder, Encoder
    pts = []
    h, w = frames[0].shape[:2]
    for q in Encoder(package=package, backend=backend).package.levels:
        t0 = time.perf_counter()
        stream = Encoder(quality=q, gop=gop, backend=backend, package=package,
                         refine=refine).encode(frames)
        t_enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        dec = Decoder(stream, backend=backend, package=package).decode_all()
        t_dec = time.perf_counter() - t0
        types = [f.frame_type for f in dec]
        from ..bitstream.container import StreamHeader, iter_records
        recs = list(iter_records(stream, StreamHeader.unpack(stream)))
        i_bytes = [len(r.payload) for r in recs if r.frame_type == "I"]
        p_bytes = [len(r.payload) for r in recs if r.frame_type == "P"]
        pts.append({"quality": q, "bpp": 8 * len(stream) / (len(frames) * h * w),
                    **quality(frames, [f.rgb for f in dec]),
                    "i_frames": types.count("I"), "p_frames": types.count("P"),
                    "mean_i_bytes": float(np.mean(i_bytes)) if i_bytes else None,
                    "mean_p_bytes": float(np.mean(p_bytes)) if p_bytes else None,
                    "encode_fps": len(frames) / t_enc, "decode_fps": len(frames) / t_dec})
    return pts


def ffmpeg_points(frames, codec: str, crfs, gop: int, fps: float) -> list[dict]:
    h, w = frames[0].shape[:2]
    pts = []
    with tempfile.TemporaryDirectory() as tmp:
        for crf in crfs:
            size, dec = run_ffmpeg_codec(frames, codec, crf, gop, fps, Path(tmp))
            pts.append({"crf": crf, "bpp": 8 * size / (len(frames) * h * w),
                        **quality(frames, dec)})
    return pts


def bench_clip(path: str, frames_n: int, gop: int, backend=None, package=None,
               start: int = 0, refine: int = 0) -> dict:
    """refine > 0 adds the curve of the encoder with that many refinement iterations."""
    frames = list(open_source(path, max_frames=start + frames_n))[start:]
    if not frames:
        raise InvalidArgumentError(f"{path}: no frames")
    fps = 25.0
    try:
        import cv2
        cap = cv2.VideoCapture(path)
        got = cap.get(cv2.CAP_PROP_FPS)
        fps = got if got and got > 0 else fps
        cap.release()
    except ImportError:
        pass
    res = {"clip": Path(path).name, "first_frame": start, "frames": len(frames),
           "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "gop": gop,
           "mlvc": mlvc_points(frames, gop, backend, package),
           "mlvc_intra": mlvc_points(frames, 1, backend, package) if gop > 1 else None,
           "x264": ffmpeg_points(frames, "libx264", X264_CRF, gop, fps),
           "x265": ffmpeg_points(frames, "libx265", X265_CRF, gop, fps)}
    if refine:
        res["refine_iterations"] = refine
        res["mlvc_refined"] = mlvc_points(frames, gop, backend, package, refine)
    for method, key in (("pchip", "bd_rate_percent"), ("poly", "bd_rate_percent_poly")):
        bd = res[key] = {}
        if res["mlvc_intra"]:
            # what P-frames save over coding every frame as intra, at equal quality
            bd["gop_vs_all_intra_psnr_yuv"] = curve_bd_rate(res["mlvc_intra"], res["mlvc"],
                                                            "psnr_yuv", method)
        for ref in ("x264", "x265"):
            for metric in ("psnr_yuv", "psnr_y"):
                bd[f"vs_{ref}_{metric}"] = curve_bd_rate(res[ref], res["mlvc"], metric, method)
                if refine:
                    bd[f"refined_vs_{ref}_{metric}"] = curve_bd_rate(
                        res[ref], res["mlvc_refined"], metric, method)
        if refine:
            bd["refined_vs_default_psnr_yuv"] = curve_bd_rate(res["mlvc"], res["mlvc_refined"],
                                                              "psnr_yuv", method)
    return res


def curve_bd_rate(ref: list[dict], test: list[dict], metric: str, method: str = "pchip") -> float:
    """bd_rate() of two lists of RD points ({"bpp": ..., metric: ...})."""
    return bd_rate([p["bpp"] for p in ref], [p[metric] for p in ref],
                   [p["bpp"] for p in test], [p[metric] for p in test], method)


def plot(results: list[dict], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UnsupportedError("--plot needs matplotlib") from exc
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, r in zip(axes[0], results):
        for name, style in (("mlvc", "o-"), ("mlvc_intra", "o:"), ("x264", "s--"),
                            ("x265", "^--")):
            if not r.get(name):
                continue
            ax.plot([p["bpp"] for p in r[name]], [p["psnr_yuv"] for p in r[name]], style,
                    label=name)
        ax.set_title(f"{r['clip']} ({r['size']}, {r['frames']} frames, GOP {r['gop']})")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR-YUV (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(clips: list[str], frames: int, gop: int, json_out: Path | None, plot_out: Path | None,
        backend=None, package=None, start: int = 0, refine: int = 0) -> list[dict]:
    """CLIP may carry its own first frame as PATH@START (e.g. held-out segments)."""
    results = []
    for c in clips:
        path, _, first = c.partition("@")
        results.append(bench_clip(path, frames, gop, backend, package,
                                  int(first) if first else start, refine))
    if json_out:
        json_out.write_text(json.dumps(results, indent=1))
    if plot_out:
        plot(results, plot_out)
    return results


def format_results(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r['clip']} {r['size']}, frames {r['first_frame']}.."
                     f"{r['first_frame'] + r['frames'] - 1}, GOP {r['gop']}")
        for name in ("mlvc", "mlvc_refined", "mlvc_intra", "x264", "x265"):
            if not r.get(name):
                continue
            pts = ", ".join(f"{p['bpp']:.3f}/{p['psnr_yuv']:.2f}" for p in r[name])
            lines.append(f"  {name:12} bpp/PSNR-YUV: {pts}")
        for k, v in r["bd_rate_percent"].items():
            lines.append(f"  BD-rate {k}: {v:+.1f}%")
    return "\n".join(lines)
