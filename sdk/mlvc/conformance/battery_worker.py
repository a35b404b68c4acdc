"""Run a battery directory through one TFLite configuration (used under emulation).

    python -m mlvc.conformance.battery_worker BATTERY_DIR OUT_DIR RUNTIME KERNELS THREADS

Needs only NumPy and the runtime, so it runs in a minimal aarch64 sysroot or a tflite-runtime
2.14 environment with numpy<2.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    battery_dir, out_dir, runtime, kernels, threads = argv
    from mlvc.backends.tflite_runner import TFLiteRunner
    src, dst = Path(battery_dir), Path(out_dir)
    dst.mkdir(parents=True, exist_ok=True)
    errors = []
    for name in json.loads((src / "index.json").read_text()):
        with np.load(src / f"{name}.feeds.npz") as z:
            feeds = {k: z[k] for k in z.files}
        try:
            runner = TFLiteRunner((src / f"{name}.tflite").read_bytes(), runtime=runtime,
                                  kernels=kernels, threads=int(threads))
            out = runner.run(feeds)
        except Exception as exc:
            errors.append(f"{name}: {exc}")
            continue
        np.savez(dst / f"{name}.out.npz", **out)
    (dst / "errors.json").write_text(json.dumps(errors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
