"""Picture sources: Y4M layouts, depths and ranges (checked against ffmpeg), frame rates."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from mlvc.errors import InvalidArgumentError, UnsupportedError
from mlvc.io.video import (Y4MWriter, _upsample, open_source, rational_fps, read_y4m, rgb_to_yuv444,
                           yuv444_to_rgb)

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not os.environ.get("MLVC_REQUIRE_FFMPEG"),
    reason="ffmpeg not installed")   # CI installs it and sets MLVC_REQUIRE_FFMPEG


def write_y4m(path, planes_per_frame, w, h, tag, extra="", fps="25:1"):
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps} Ip A1:1 C{tag}{extra}\n".encode())
        for planes in planes_per_frame:
            fh.write(b"FRAME\n")
            for p in planes:      # deeper than 8 bits: 16-bit little-endian samples
                fh.write(p.astype("<u2" if p.dtype == np.uint16 else np.uint8).tobytes())


def planes(w, h, sx, sy, y, u, v, dtype=np.uint8):
    cw, ch = -(-w // sx), -(-h // sy)
    return [np.full((h, w), y, dtype), np.full((ch, cw), u, dtype), np.full((ch, cw), v, dtype)]


@pytest.mark.parametrize("tag,sx,sy", [("420jpeg", 2, 2), ("420mpeg2", 2, 2), ("420paldv", 2, 2),
                                       ("420", 2, 2), ("422", 2, 1), ("411", 4, 1),
                                       ("444", 1, 1)])
def test_layouts_limited_range_black_and_white(tmp_path, tag, sx, sy):
    w, h = 37, 21                                         # odd sizes: chroma rounds up
    f = tmp_path / "a.y4m"
    write_y4m(f, [planes(w, h, sx, sy, 16, 128, 128), planes(w, h, sx, sy, 235, 128, 128)],
              w, h, tag)
    src = read_y4m(f)
    black, white = list(src)
    assert src.fps == (25, 1)
    assert black.shape == (h, w, 3) and np.all(black == 0)
    assert np.all(white == 255)


def test_range_tag_and_depth(tmp_path):
    w, h = 16, 8
    f = tmp_path / "full.y4m"
    write_y4m(f, [planes(w, h, 2, 2, 16, 128, 128)], w, h, "420jpeg", " XCOLORRANGE=FULL")
    assert np.all(next(iter(read_y4m(f))) == 16)          # full range: 16 is dark grey
    f10 = tmp_path / "p10.y4m"
    write_y4m(f10, [planes(w, h, 2, 2, 940, 512, 512, np.uint16)], w, h, "420p10",
              " XCOLORRANGE=LIMITED")
    assert np.all(next(iter(read_y4m(f10))) == 255)      # 10-bit limited white
    fm = tmp_path / "mono.y4m"
    y = np.arange(w * h, dtype=np.uint8).reshape(h, w)
    write_y4m(fm, [[y]], w, h, "mono", " XCOLORRANGE=FULL")
    rgb = next(iter(read_y4m(fm)))
    assert np.array_equal(rgb[..., 0], y) and np.array_equal(rgb[..., 1], y)


def test_chroma_is_interpolated_not_repeated():
    c = np.array([[0, 8]], np.uint8)
    # centred siting: luma x sits at chroma position x/2 - 1/4 (edges replicated)
    assert _upsample(c, 1, 2, 1, 4, cosited_x=False).tolist() == [[0, 2, 6, 8]]
    # 'mpeg2' 4:2:0 chroma is co-sited with the even luma columns
    assert _upsample(c, 1, 2, 1, 4, cosited_x=True).tolist() == [[0, 4, 8, 8]]
    assert _upsample(c.T, 2, 1, 4, 1, cosited_x=True)[:, 0].tolist() == [0, 2, 6, 8]


def test_own_writer_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    pics = [rng.integers(0, 256, (9, 13, 3), np.uint8) for _ in range(2)]
    f = tmp_path / "w.y4m"
    wr = Y4MWriter(f, 13, 9, (30000, 1001))
    for p in pics:
        wr.write(p)
    wr.close()
    src = read_y4m(f)
    back = list(src)
    assert src.fps == (30000, 1001)
    for a, b in zip(pics, back):   # one full-range YUV rounding each way
        assert np.abs(a.astype(int) - b).max() <= 2
        assert np.array_equal(b, yuv444_to_rgb(rgb_to_yuv444(a)))


@pytest.mark.parametrize("header,error", [
    (b"YUV4MPEG2 W16 H8 F25:1 C420p17\n", UnsupportedError),
    (b"YUV4MPEG2 W16 H8 F25:1 Cfoo\n", UnsupportedError),
    (b"YUV4MPEG2 H8 F25:1\n", InvalidArgumentError),
    (b"YUV4MPEG2 W0 H8\n", InvalidArgumentError),
    (b"YUV4MPEG2 W99999 H8\n", InvalidArgumentError),
    (b"RIFF....\n", InvalidArgumentError),
])
def test_bad_headers_are_typed_errors(tmp_path, header, error):
    f = tmp_path / "bad.y4m"
    f.write_bytes(header + b"FRAME\n" + b"\x80" * 192)
    with pytest.raises(error):
        list(read_y4m(f))


def test_truncated_frame(tmp_path):
    f = tmp_path / "t.y4m"
    f.write_bytes(b"YUV4MPEG2 W16 H8 F25:1 C420jpeg\nFRAME\n" + b"\x80" * 100)
    with pytest.raises(InvalidArgumentError, match="truncated"):
        list(read_y4m(f))


@pytest.mark.parametrize("fps,expected", [(25.0, (25, 1)), (29.97002997, (30000, 1001)),
                                          (23.976, (24000, 1001)), (59.94, (60000, 1001)),
                                          (12.5, (25, 2)), (0.0, None), (float("nan"), None),
                                          (90000.0, None)])
def test_rational_fps(fps, expected):
    assert rational_fps(fps) == expected


@needs_ffmpeg
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p", "yuv422p", "yuv444p",
                                     "yuv420p10le", "gray"])
def test_matches_ffmpeg_conversion(tmp_path, pix_fmt):
    """ffmpeg writes the Y4M (its default tags, ranges and sitings) and converts it to RGB with
    accurate rounding; our reader must agree up to interpolation differences."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:48, 0:66]
    rgb = np.stack([40 + 3 * xx, 30 + 4 * yy, 200 - 2 * xx - yy], -1)   # smooth colour
    rgb = np.clip(rgb + rng.integers(-10, 11, rgb.shape), 0, 255).astype(np.uint8)
    raw, y4m, back = tmp_path / "in.rgb", tmp_path / "a.y4m", tmp_path / "b.rgb"
    raw.write_bytes(rgb.tobytes())
    base = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run(base + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "66x48", "-r", "24",
                           "-i", str(raw), "-pix_fmt", pix_fmt, "-strict", "-1", str(y4m)],
                   check=True)
    subprocess.run(base + ["-i", str(y4m), "-sws_flags",
                           "bicubic+accurate_rnd+full_chroma_int+full_chroma_inp",
                           "-pix_fmt", "rgb24", "-f", "rawvideo", str(back)], check=True)
    ref = np.frombuffer(back.read_bytes(), np.uint8).reshape(48, 66, 3).astype(np.float64)
    src = open_source(str(y4m))
    ours = next(iter(src)).astype(np.float64)
    assert src.fps == (24, 1)
    assert abs(float(np.mean(ours - ref))) < 0.1            # no range or level shift
    assert float(np.sqrt(np.mean((ours - ref) ** 2))) < 1.0  # chroma filters differ slightly


@needs_ffmpeg
@pytest.mark.parametrize("w,h,suffix", [(34, 20, ".mp4"), (33, 21, ".mkv")])
def test_video_sink_through_ffmpeg(tmp_path, w, h, suffix):
    """.mp4/.mkv output is H.264 via ffmpeg: the frame count and rate survive, and the copy is
    close to the decoded pictures (4:2:0 for even sizes, 4:4:4 for odd ones)."""
    from mlvc.io.video import FrameSink
    yy, xx = np.mgrid[0:h, 0:w]
    pics = [np.stack([40 + 3 * xx + i, 30 + 4 * yy, 200 - 2 * xx - yy], -1).astype(np.uint8)
            for i in range(3)]
    out = tmp_path / f"v{suffix}"
    sink = FrameSink(str(out), w, h, (30000, 1001))
    for p in pics:
        sink.write(p)
    sink.close()
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=r_frame_rate,pix_fmt", "-of", "csv=p=0", str(out)],
                           capture_output=True, text=True, check=True).stdout
    assert "30000/1001" in probe and ("yuv420p" if w % 2 == 0 else "yuv444p") in probe
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], capture_output=True, check=True).stdout
    back = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    assert len(back) == 3
    mse = np.mean((back.astype(np.float64) - np.stack(pics)) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 35


def test_unknown_output_suffix(tmp_path):
    from mlvc.io.video import FrameSink
    with pytest.raises(InvalidArgumentError):
        FrameSink(str(tmp_path / "x.webm"), 16, 16, (25, 1))
