"""Regenerate the bundled sample clip (sdk/mlvc/data/sample.npz) from the development clips.

    python tools/make_sample.py ../shared/data/carphone_pristine.mp4

Frames 100-107 of carphone (176x144): held out from training, so the demo shows honest numbers.
"""
import sys
from pathlib import Path

import cv2
import numpy as np

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/carphone_pristine.mp4"
cap = cv2.VideoCapture(src)
frames = []
i = 0
while True:
    ok, bgr = cap.read()
    if not ok:
        break
    if 100 <= i < 108:
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    i += 1
out = Path(__file__).resolve().parents[1] / "sdk" / "mlvc" / "data" / "sample.npz"
np.savez_compressed(out, frames=np.stack(frames))
print(out, len(frames), frames[0].shape, out.stat().st_size, "bytes")
