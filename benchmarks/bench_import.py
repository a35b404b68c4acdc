"""Time `import mlvc` (and creating a Decoder's first network) in fresh processes.

    python benchmarks/bench_import.py [--repeat 5]

Budget: `import mlvc` under 1 s without TensorFlow installed.  Prints whether TensorFlow is
importable in this environment, since that is the condition the budget is about.
"""
import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "sdk")},
                   capture_output=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    base = statistics.median(timed("pass") for _ in range(a.repeat))
    imp = statistics.median(timed("import mlvc") for _ in range(a.repeat))
    api = statistics.median(timed("import mlvc; mlvc.Decoder") for _ in range(a.repeat))
    tf = importlib.util.find_spec("tensorflow") is not None
    print(f"python startup {base * 1e3:.0f} ms; import mlvc {1e3 * (imp - base):.0f} ms; "
          f"import mlvc + API {1e3 * (api - base):.0f} ms (tensorflow installed: {tf}, "
          "never imported by mlvc)")


if __name__ == "__main__":
    main()
