"""BD-rate arithmetic and the `mlvc bench rd` pipeline (ffmpeg x264/x265 against MLVC)."""
import json
import os
import shutil

import numpy as np
import pytest

from mlvc.bench.rd import bd_rate, quality
from mlvc.cli import main


@pytest.mark.parametrize("method", ["pchip", "poly"])
def test_bd_rate_known_answers(method):
    r = [0.1, 0.2, 0.4, 0.8]
    p = [30.0, 33.0, 36.0, 39.0]
    assert abs(bd_rate(r, p, r, p, method)) < 1e-9
    assert abs(bd_rate(r, p, [x / 2 for x in r], p, method) + 50.0) < 1e-6
    assert abs(bd_rate(r, p, [x * 1.1 for x in r], p, method) - 10.0) < 1e-6


def test_bd_rate_pchip_on_saturating_curves():
    # Two saturating RD curves (PSNR nearly flat at the top rates); the test curve needs fewer
    # bits than the reference at every quality, by 25-45 % where they overlap.
    r_ref, p_ref = [0.287, 0.580, 0.990, 1.401], [26.16, 28.19, 28.87, 29.07]
    r_tst, p_tst = [0.267, 0.541, 0.943, 1.326], [26.96, 28.76, 29.43, 29.56]
    got = bd_rate(r_ref, p_ref, r_tst, p_tst)
    assert -50.0 < got < -20.0
    # the polynomial fit does not see it (the cubic swings through the flat top)
    assert bd_rate(r_ref, p_ref, r_tst, p_tst, "poly") > got + 10.0
    with pytest.raises(Exception, match="unknown BD-rate method"):
        bd_rate(r_ref, p_ref, r_tst, p_tst, "linear")


def test_quality_metrics():
    a = np.full((8, 8, 3), 100, np.uint8)
    q = quality([a], [a.copy()])
    assert q["psnr_y"] > 100
    b = a.copy()
    b[0, 0] = 110
    assert quality([a], [b])["psnr_yuv"] < q["psnr_yuv"]


# scripts/test.sh (CI) installs ffmpeg and sets MLVC_REQUIRE_FFMPEG: there the test cannot skip
@pytest.mark.skipif(shutil.which("ffmpeg") is None and not os.environ.get("MLVC_REQUIRE_FFMPEG"),
                    reason="ffmpeg not installed")
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
    assert all(p["bpp"] > 0 for p in res["mlvc"])       # random-weight package: no RD order
    for codec in ("x264", "x265"):               # a rate-distortion curve: the lowest CRF
        pts = sorted(res[codec], key=lambda p: p["crf"])    # costs most bits and looks best
        assert all(p["bpp"] > 0 for p in pts), codec
        assert pts[0]["bpp"] > pts[-1]["bpp"], (codec, pts)
        assert pts[0]["psnr_yuv"] > pts[-1]["psnr_yuv"], (codec, pts)
    # a real PNG of the figure size bench.rd.plot draws (6 x 4.5 inches per clip at 110 dpi)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    assert (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")) == (660, 495)
