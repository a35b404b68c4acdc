"""BD-rate arithmetic and the `mlvc bench rd` pipeline (ffmpeg x264/x265 against MLVC)."""
import json
import shutil

import numpy as np
import pytest

from mlvc.bench.rd import bd_rate, quality
from mlvc.cli import main


def test_bd_rate_known_answers():
    r = [0.1, 0.2, 0.4, 0.8]
    p = [30.0, 33.0, 36.0, 39.0]
    assert abs(bd_rate(r, p, r, p)) < 1e-9
    assert abs(bd_rate(r, p, [x / 2 for x in r], p) + 50.0) < 1e-6
    assert abs(bd_rate(r, p, [x * 1.1 for x in r], p) - 10.0) < 1e-6


def test_quality_metrics():
    a = np.full((8, 8, 3), 100, np.uint8)
    q = quality([a], [a.copy()])
    assert q["psnr_y"] > 100
    b = a.copy()
    b[0, 0] = 110
    assert quality([a], [b])["psnr_yuv"] < q["psnr_yuv"]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_bench_rd_end_to_end(tmp_path, small_package):
    from mlvc.conformance.golden import synthetic_frames
    src = tmp_path / "clip.npz"
    np.savez(src, frames=np.stack(synthetic_frames(64, 48, 4, 1)))
    out, png = tmp_path / "rd.json", tmp_path / "rd.png"
    assert main(["bench", "rd", str(src), "--frames", "4", "--gop", "2", "--json", str(out),
                 "--plot", str(png), "--package", small_package]) == 0
    res = json.loads(out.read_text())[0]
    assert len(res["mlvc"]) == 4 and len(res["x264"]) == 6 and len(res["x265"]) == 6
    assert res["mlvc"][0]["p_frames"] == 2 and res["mlvc"][0]["i_frames"] == 2
    assert all(p["bpp"] > 0 for p in res["x264"])
    assert png.stat().st_size > 1000
