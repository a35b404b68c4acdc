"""Speed of the codec-shaped network (4 x conv3x3 + depth-to-space) per backend configuration.

    python benchmarks/bench_profile.py [--repeat 5] [--emulated]

Prints ms per call (median) and GMAC/s at 256x256 and 1280x720 output.  Emulated rows run under
qemu and are only a relative indication (tools/emulation/README.md).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))

from mlvc.backends.registry import SPECS  # noqa: E402
from mlvc.intops.battery import codec_shaped_case  # noqa: E402

ROWS = ("numpy", "litert-xnnpack-1t", "litert-xnnpack-2t", "litert-builtin", "litert-reference")


def bench(name, case, repeat):
    net = SPECS[name].load(case.graph)
    net.run(case.feeds)
    times = []
    for _ in range(repeat if name != "litert-reference" else max(1, repeat // 3)):
        t0 = time.perf_counter()
        net.run(case.feeds)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    print(f"{'configuration':22} {'size':>10} {'ms/call':>10} {'GMAC/s':>8}")
    for h, w in ((256, 256), (720, 1280)):
        case = codec_shaped_case(h, w)
        lat = case.feeds["y_hat"].shape
        gmac = case.graph.macs_per_input_pixel() * lat[1] * lat[2] / 1e9
        for name in ROWS:
            if not SPECS[name].available():
                continue
            t = bench(name, case, a.repeat)
            print(f"{name:22} {f'{w}x{h}':>10} {t * 1e3:10.1f} {gmac / t:8.1f}")
        print(f"  ({gmac:.2f} GMAC per call)")


if __name__ == "__main__":
    main()
