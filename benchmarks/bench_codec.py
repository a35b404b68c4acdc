"""Codec speed and memory with the bundled package: encode/decode fps, decoder peak memory.

    python benchmarks/bench_codec.py [--width 640 --height 272] [--frames 10] [--backend B]

Merges the run into docs/results.json (--results PATH elsewhere, --no-results not at all);
the README's numbers are rendered from that file by tools/render_readme.py.

Peak memory is the high-water mark of resident memory (VmHWM; ru_maxrss would inherit the
parent's peak across fork) of a fresh subprocess that decodes only, so it includes the
interpreter, NumPy and LiteRT themselves.
"""
import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_file  # noqa: E402  (benchmarks/results_file.py)


def decode_peak(stream_path: Path, backend: str) -> float:
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'sdk')!r}); import resource, mlvc;"
            f"d = mlvc.Decoder.open({str(stream_path)!r}, backend={backend!r});"
            "n = sum(1 for f in d.frames() if f.verified);"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
            "print(n, hwm.split()[1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[1]) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=272)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--source", default=None, help="video file (default: synthetic pattern)")
    ap.add_argument("--results", default=str(results_file.DEFAULT),
                    help="results file to merge this run into (docs/results.json; the README's "
                         "numbers are rendered from it by tools/render_readme.py)")
    ap.add_argument("--no-results", action="store_true", help="only print")
    a = ap.parse_args()
    import numpy as np

    import mlvc
    from mlvc.io.video import open_source, synthetic_capture
    if a.source:
        frames = [f[:a.height, :a.width] for f in open_source(a.source, max_frames=a.frames)]
    else:
        frames = list(synthetic_capture(a.width, a.height, a.frames))
    enc = mlvc.Encoder(quality=a.quality, backend=a.backend)
    enc.encode(frames[:1])
    t0 = time.perf_counter()
    stream = enc.encode(frames)
    t_enc = time.perf_counter() - t0
    dec = mlvc.Decoder(stream, backend=a.backend)
    dec.decode_all()
    t0 = time.perf_counter()
    out = mlvc.Decoder(stream, backend=a.backend).decode_all()
    t_dec = time.perf_counter() - t0
    assert all(f.verified for f in out)
    path = Path("/tmp/mlvc_bench.mlvc")
    path.write_bytes(stream)
    bpp = 8 * len(stream) / (len(frames) * a.width * a.height)
    print(f"{a.width}x{a.height}, {len(frames)} frames, quality {a.quality}, backend "
          f"{enc.backend.name}: {bpp:.3f} bpp")
    print(f"encode {len(frames) / t_enc:.1f} fps, decode {len(frames) / t_dec:.1f} fps")
    peak = decode_peak(path, enc.backend.name)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"decoder peak RSS (fresh process): {peak:.0f} MB")
    print(f"encoder+decoder process max RSS: {rss:.0f} MB")
    if not a.no_results:
        write_results(a, enc, len(frames), bpp, len(frames) / t_enc, len(frames) / t_dec, peak,
                      rss)
    _ = np


def write_results(a, enc, frames: int, bpp: float, enc_fps: float, dec_fps: float,
                  peak_mb: float, rss_mb: float) -> None:
    """Merges this run into the results file's "speed" section: one entry per picture size,
    source and C-kernel setting; runs on the same day and machine widen the fps ranges."""
    import os
    native = os.environ.get("MLVC_NATIVE", "1") != "0"
    source = Path(a.source).stem if a.source else "synthetic"
    key = f"{a.width}x{a.height} {source}" + ("" if native else ", NumPy loops")
    pkg_dir = Path(enc.package.root) if getattr(enc.package, "root", None) else None
    entry = {"width": a.width, "height": a.height, "source": source, "frames": frames,
             "quality": a.quality, "gop": enc.options.gop, "backend": enc.backend.name,
             "native_kernels": native, "bpp": round(bpp, 4),
             "encode_fps": round(enc_fps, 2), "decode_fps": round(dec_fps, 2),
             "decoder_peak_mb": round(peak_mb), "process_max_rss_mb": round(rss_mb),
             "model_id": enc.package.model_id, "date": results_file.today(),
             "machine": results_file.machine()}
    merged = results_file.merge_entry(a.results, "speed", key, entry,
                                      spans=("encode_fps", "decode_fps"),
                                      same=("frames", "quality", "backend", "model_id"))
    if pkg_dir and pkg_dir.is_dir():
        size = sum(f.stat().st_size for f in pkg_dir.rglob("*") if f.is_file())
        results_file.merge_section(a.results, "package", {
            "bundled": {"model_id": enc.package.model_id, "megabytes": round(size / 1e6, 2),
                        "date": results_file.today()}})
    print(f"results: {a.results} [speed][{key}] ({merged['decode_fps']['runs']} run(s) today)")


if __name__ == "__main__":
    main()
