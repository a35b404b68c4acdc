"""Codec speed and memory with the bundled package: encode/decode fps, decoder peak memory.

    python benchmarks/bench_codec.py [--width 640 --height 272] [--frames 10] [--backend B]

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
    print(f"decoder peak RSS (fresh process): {decode_peak(path, enc.backend.name):.0f} MB")
    print(f"encoder+decoder process max RSS: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    _ = np


if __name__ == "__main__":
    main()
