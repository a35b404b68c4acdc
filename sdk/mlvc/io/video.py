"""Picture sources and sinks: video files, Y4M, folders of images, cameras, and a synthetic source.

No codec knowledge here: everything is H x W x 3 uint8 RGB.  OpenCV is imported only for the
formats that need it (mp4/avi/images/cameras), so Y4M and the synthetic source work without it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InvalidArgumentError, UnsupportedError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Full-range BT.601, as JPEG: what Y4M 'C444' / 'C420jpeg' files from ffmpeg's rgb path hold.
_RGB2YUV = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                     [0.5, -0.418688, -0.081312]], np.float32)
_YUV2RGB = np.linalg.inv(_RGB2YUV).astype(np.float32)


def _cv2():
    try:
        import cv2
    except ImportError as exc:
        raise UnsupportedError("this format needs OpenCV: pip install opencv-python-headless"
                               ) from exc
    return cv2


def rgb_to_yuv444(rgb: np.ndarray) -> np.ndarray:
    yuv = rgb.astype(np.float32) @ _RGB2YUV.T
    yuv[..., 1:] += 128
    return np.clip(np.rint(yuv), 0, 255).astype(np.uint8)


def yuv444_to_rgb(yuv: np.ndarray) -> np.ndarray:
    f = yuv.astype(np.float32)
    f[..., 1:] -= 128
    return np.clip(np.rint(f @ _YUV2RGB.T), 0, 255).astype(np.uint8)


# ---- Y4M ---------------------------------------------------------------------------------
def read_y4m(path: Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    with open(path, "rb") as fh:
        header = fh.readline()
        if not header.startswith(b"YUV4MPEG2"):
            raise InvalidArgumentError(f"{path}: not a Y4M file")
        fields = dict((t[:1].decode(), t[1:].decode()) for t in header.split()[1:])
        w, h = int(fields["W"]), int(fields["H"])
        cs = fields.get("C", "420jpeg")
        if not re.match(r"^(420|444)", cs) or "p" in cs[3:]:
            raise UnsupportedError(f"{path}: Y4M colour space {cs} not supported (420/444 8-bit)")
        chroma = (w, h) if cs.startswith("444") else ((w + 1) // 2, (h + 1) // 2)
        size = w * h + 2 * chroma[0] * chroma[1]
        n = 0
        while max_frames is None or n < max_frames:
            tag = fh.readline()
            if not tag:
                return
            if not tag.startswith(b"FRAME"):
                raise InvalidArgumentError(f"{path}: bad frame marker")
            buf = fh.read(size)
            if len(buf) != size:
                raise InvalidArgumentError(f"{path}: truncated frame {n}")
            a = np.frombuffer(buf, np.uint8)
            y = a[:w * h].reshape(h, w)
            cw, ch = chroma
            u = a[w * h:w * h + cw * ch].reshape(ch, cw)
            v = a[w * h + cw * ch:].reshape(ch, cw)
            if (cw, ch) != (w, h):
                u = np.repeat(np.repeat(u, 2, 0), 2, 1)[:h, :w]
                v = np.repeat(np.repeat(v, 2, 0), 2, 1)[:h, :w]
            yield yuv444_to_rgb(np.stack([y, u, v], -1))
            n += 1


class Y4MWriter:
    """Writes RGB pictures as 8-bit YUV 4:4:4 Y4M (full-range BT.601)."""

    def __init__(self, path: Path, width: int, height: int, fps: tuple[int, int]):
        self.fh = open(path, "wb")
        self.fh.write(f"YUV4MPEG2 W{width} H{height} F{fps[0]}:{fps[1]} Ip A1:1 C444 "
                      "XCOLORRANGE=FULL\n".encode())

    def write(self, rgb: np.ndarray) -> None:
        yuv = rgb_to_yuv444(rgb)
        self.fh.write(b"FRAME\n")
        self.fh.write(np.ascontiguousarray(yuv.transpose(2, 0, 1)).tobytes())

    def close(self) -> None:
        self.fh.close()


# ---- OpenCV sources ----------------------------------------------------------------------
def read_capture(source, max_frames: int | None = None) -> Iterator[np.ndarray]:
    cv2 = _cv2()
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise InvalidArgumentError(f"cannot open video source {source!r}")
    try:
        n = 0
        while max_frames is None or n < max_frames:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            n += 1
    finally:
        cap.release()


def read_folder(path: Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    cv2 = _cv2()
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidArgumentError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
    for f in files[:max_frames]:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InvalidArgumentError(f"cannot read image {f}")
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def synthetic_capture(width: int, height: int, frames: int, seed: int = 0
                      ) -> Iterator[np.ndarray]:
    """A deterministic moving test pattern that stands in for a camera in tests."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height + frames, width + 2 * frames, 3), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(frames):
        base = texture[i:i + height, 2 * i:2 * i + width].astype(np.int16) // 3
        grad = np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, (xx + yy) % 256], -1) * 2 // 3
        yield np.clip(base + grad, 0, 255).astype(np.uint8)


def open_source(spec: str, *, camera: int | None = None, max_frames: int | None = None
                ) -> Iterator[np.ndarray]:
    """Frames from a file, a folder of images, or a camera index."""
    if camera is not None:
        return read_capture(camera, max_frames)
    p = Path(spec)
    if p.is_dir():
        return read_folder(p, max_frames)
    if not p.exists():
        raise InvalidArgumentError(f"input {spec} does not exist")
    if p.suffix.lower() == ".y4m":
        return read_y4m(p, max_frames)
    if p.suffix.lower() == ".npz":
        return _read_npz(p, max_frames)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return read_folder_single(p)
    return read_capture(str(p), max_frames)


def read_folder_single(p: Path) -> Iterator[np.ndarray]:
    cv2 = _cv2()
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidArgumentError(f"cannot read image {p}")
    yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_npz(p: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    """The bundled sample format: an npz with `frames` (N x H x W x 3 uint8)."""
    with np.load(p) as z:
        frames = z["frames"]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise InvalidArgumentError(f"{p}: 'frames' must be N x H x W x 3 uint8")
    yield from frames[:max_frames]


class FrameSink:
    """Writes decoded pictures to .y4m, .mp4/.avi (OpenCV) or a folder of PNGs."""

    def __init__(self, path: str, width: int, height: int, fps: tuple[int, int]):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.index = 0
        self._writer = None
        self._folder = None
        if suffix == ".y4m":
            self._writer = Y4MWriter(self.path, width, height, fps)
        elif suffix in (".mp4", ".avi", ".mkv"):
            cv2 = _cv2()
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if suffix == ".mp4" else "MJPG"))
            self._cv = cv2.VideoWriter(str(self.path), fourcc, fps[0] / fps[1], (width, height))
            if not self._cv.isOpened():
                raise UnsupportedError(f"OpenCV cannot write {self.path}")
        elif suffix == "":
            self._cv2 = _cv2()
            self.path.mkdir(parents=True, exist_ok=True)
            self._folder = self.path
        else:
            raise InvalidArgumentError(f"output {path}: use .y4m, .mp4, .avi or a folder")

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.write(rgb)
        elif self._folder is not None:
            self._cv2.imwrite(str(self._folder / f"frame_{self.index:05d}.png"),
                              self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR))
        else:
            import cv2
            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.index += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        elif self._folder is None:
            self._cv.release()
