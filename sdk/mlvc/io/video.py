"""Picture sources and sinks: video files, Y4M, folders of images, cameras, and a synthetic source.

No codec knowledge here: everything is H x W x 3 uint8 RGB.  OpenCV is imported only for the
formats that need it (mp4/avi/images/cameras), so Y4M and the synthetic source work without it.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InvalidArgumentError, UnsupportedError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# BT.601 (the matrix of SD video and of JPEG), full range.  Y4M files say their range with
# XCOLORRANGE; without it the samples are limited ("TV") range, as ffmpeg and the Xiph test
# clips have them.  What MLVC itself writes is full range and says so.
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


class FrameSource:
    """Pictures (H x W x 3 uint8 RGB) from a file, folder or camera, and their frame rate
    (num, den) when the source states one."""

    def __init__(self, frames: Iterator[np.ndarray], fps: tuple[int, int] | None = None):
        self._frames = frames
        self.fps = fps

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._frames)


def rational_fps(fps: float) -> tuple[int, int] | None:
    """A float frame rate as a fraction: 29.97 -> 30000/1001; None if it is not plausible."""
    if not np.isfinite(fps) or not 0.5 <= fps <= 1000:
        return None
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc / 1.001) < 1e-3 and abs(fps - round(fps)) > 1e-3:
        return ntsc * 1000, 1001
    frac = Fraction(fps).limit_denominator(1001)
    return frac.numerator, frac.denominator


def rgb_to_yuv444(rgb: np.ndarray) -> np.ndarray:
    yuv = rgb.astype(np.float32) @ _RGB2YUV.T
    yuv[..., 1:] += 128
    return np.clip(np.rint(yuv), 0, 255).astype(np.uint8)


def yuv444_to_rgb(yuv: np.ndarray, full_range: bool = True, bits: int = 8) -> np.ndarray:
    """YUV samples of `bits` bits to 8-bit RGB (deeper samples scaled by 2^(8 - bits), as
    ffmpeg does)."""
    f = yuv.astype(np.float32)
    if bits != 8:
        f *= np.float32(2.0 ** (8 - bits))
    if full_range:
        f[..., 1:] -= 128
    else:   # limited range: Y 16..235, C 16..240
        f[..., 0] = (f[..., 0] - 16) * np.float32(255 / 219)
        f[..., 1:] = (f[..., 1:] - 128) * np.float32(255 / 224)
    return np.clip(np.rint(f @ _YUV2RGB.T), 0, 255).astype(np.uint8)


# ---- Y4M ---------------------------------------------------------------------------------
# colour-space tag -> (horizontal, vertical) chroma subsampling; None: no chroma planes
_Y4M_LAYOUTS = {"420": (2, 2), "420jpeg": (2, 2), "420mpeg2": (2, 2), "420paldv": (2, 2),
                "422": (2, 1), "411": (4, 1), "444": (1, 1), "444alpha": (1, 1), "mono": None}
_Y4M_TAG = re.compile(r"^(420jpeg|420mpeg2|420paldv|444alpha|420|422|444|411|mono)"
                      r"(?:p?(\d+))?$")


def _upsample(plane: np.ndarray, fy: int, fx: int, h: int, w: int, cosited_x: bool
              ) -> np.ndarray:
    """Linear interpolation of a subsampled chroma plane to h x w (edges replicated).
    Chroma sits between its luma samples, except horizontally in 'mpeg2' 4:2:0 (co-sited)."""
    def axis(n_out: int, n_in: int, f: int, cosited: bool):
        pos = np.arange(n_out, dtype=np.float32) / f
        if not cosited:
            pos += np.float32((1 - f) / (2 * f))
        pos = np.clip(pos, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)
    out = plane.astype(np.float32)
    if fy > 1:
        lo, hi, t = axis(h, plane.shape[0], fy, False)
        out = out[lo] * (1 - t)[:, None] + out[hi] * t[:, None]
    if fx > 1:
        lo, hi, t = axis(w, plane.shape[1], fx, cosited_x)
        out = out[:, lo] * (1 - t) + out[:, hi] * t
    return out


def _y4m_header(path: Path, line: bytes) -> dict:
    if not line.startswith(b"YUV4MPEG2"):
        raise InvalidArgumentError(f"{path}: not a Y4M file")
    try:
        fields: dict[str, str] = {}
        for t in line.split()[1:]:
            t = t.decode("ascii")
            if t[0] == "X":                       # extensions: XCOLORRANGE=FULL, XYSCSS=...
                key, _, val = t[1:].partition("=")
                fields["X" + key] = val
            else:
                fields[t[0]] = t[1:]
        w, h = int(fields["W"]), int(fields["H"])
    except (KeyError, ValueError, UnicodeDecodeError, IndexError):
        raise InvalidArgumentError(f"{path}: malformed Y4M header") from None
    if not (0 < w <= 16384 and 0 < h <= 16384):
        raise InvalidArgumentError(f"{path}: Y4M size {w}x{h} out of range")
    fields["W"], fields["H"] = w, h
    return fields


def read_y4m(path, max_frames: int | None = None) -> FrameSource:
    """Y4M of any chroma layout ffmpeg writes (4:2:0 in its three sitings, 4:2:2, 4:1:1, 4:4:4,
    with alpha, mono) at 8 to 16 bits; converted to 8-bit RGB (BT.601, the range the file
    states, limited if it states none).  `path`: a file, or a binary file object (a pipe:
    `ffmpeg ... -f yuv4mpegpipe - | mlvc encode - ...`)."""
    own = not hasattr(path, "read")
    fh = open(path, "rb") if own else path
    try:
        fields = _y4m_header(getattr(fh, "name", path), fh.readline(4096))
        w, h = fields["W"], fields["H"]
        cs = fields.get("C", "420jpeg")
        m = _Y4M_TAG.match(cs)
        bits = int(m.group(2)) if m and m.group(2) else 8
        if not m or not 8 <= bits <= 16:
            raise UnsupportedError(f"{path}: Y4M colour space C{cs} is not supported")
    except Exception:
        if own:
            fh.close()
        raise
    layout = _Y4M_LAYOUTS[m.group(1)]
    full_range = fields.get("XCOLORRANGE", "").upper() == "FULL"
    fps = None
    num, _, den = fields.get("F", "").partition(":")
    if num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0:
        fps = (int(num), int(den))
    return FrameSource(_y4m_frames(fh, own, path, w, h, layout, m.group(1), bits, full_range,
                                   max_frames), fps)


def _y4m_frames(fh, own, path, w, h, layout, tag, bits, full_range, max_frames):
    dtype = np.dtype("<u2") if bits > 8 else np.dtype(np.uint8)
    if layout is None:
        cw = ch = 0
    else:
        cw, ch = -(-w // layout[0]), -(-h // layout[1])
    planes = [w * h, cw * ch, cw * ch] + ([w * h] if tag == "444alpha" else [])
    size = sum(planes) * dtype.itemsize
    grey = np.float32(1 << (bits - 1))            # neutral chroma for mono
    try:
        n = 0
        while max_frames is None or n < max_frames:
            marker = fh.readline(4096)
            if not marker:
                return
            if not marker.startswith(b"FRAME"):
                raise InvalidArgumentError(f"{path}: bad frame marker before frame {n}")
            buf = fh.read(size)
            if len(buf) != size:
                raise InvalidArgumentError(f"{path}: frame {n} is truncated")
            a = np.frombuffer(buf, dtype)
            y = a[:w * h].reshape(h, w).astype(np.float32)
            if layout is None:
                u = v = np.full((h, w), grey, np.float32)
            else:
                u = a[w * h:w * h + cw * ch].reshape(ch, cw)
                v = a[w * h + cw * ch:w * h + 2 * cw * ch].reshape(ch, cw)
                u = _upsample(u, layout[1], layout[0], h, w, tag == "420mpeg2")
                v = _upsample(v, layout[1], layout[0], h, w, tag == "420mpeg2")
            yield yuv444_to_rgb(np.stack([y, u, v], -1), full_range, bits)
            n += 1
    finally:
        if own:
            fh.close()


class Y4MWriter:
    """Writes RGB pictures as 8-bit YUV 4:4:4 Y4M (full-range BT.601)."""

    def __init__(self, path, width: int, height: int, fps: tuple[int, int]):
        self._own = not hasattr(path, "write")          # a path, or a file object (stdout)
        self.fh = open(path, "wb") if self._own else path
        self.fh.write(f"YUV4MPEG2 W{width} H{height} F{fps[0]}:{fps[1]} Ip A1:1 C444 "
                      "XCOLORRANGE=FULL\n".encode())

    def write(self, rgb: np.ndarray) -> None:
        yuv = rgb_to_yuv444(rgb)
        self.fh.write(b"FRAME\n")
        self.fh.write(np.ascontiguousarray(yuv.transpose(2, 0, 1)).tobytes())

    def close(self) -> None:
        if self._own:
            self.fh.close()
        else:
            self.fh.flush()


# ---- OpenCV sources ----------------------------------------------------------------------
def read_capture(source, max_frames: int | None = None) -> FrameSource:
    """A video file or camera through OpenCV; its frame rate as the container or driver states
    it (None when that is missing or implausible, as for many webcams)."""
    cv2 = _cv2()
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise InvalidArgumentError(f"cannot open video source {source!r}")
    return FrameSource(_capture_frames(cv2, cap, max_frames),
                       rational_fps(float(cap.get(cv2.CAP_PROP_FPS) or 0.0)))


def _capture_frames(cv2, cap, max_frames: int | None) -> Iterator[np.ndarray]:
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
    try:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read folder {path}: {exc.strerror or exc}") from exc
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
                ) -> FrameSource:
    """Frames from a file, a folder of images, or a camera index."""
    if camera is not None:
        return read_capture(camera, max_frames)
    if spec == "-":                        # a pipe carries Y4M: nothing else is self-describing
        import sys
        return read_y4m(sys.stdin.buffer, max_frames)
    p = Path(spec)
    if p.is_dir():
        return FrameSource(read_folder(p, max_frames))
    if not p.exists():
        raise InvalidArgumentError(f"input {spec} does not exist")
    try:                                   # unreadable: a typed error, not OpenCV's silence
        open(p, "rb").close()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read input {spec}: {exc.strerror or exc}") from exc
    if p.suffix.lower() == ".y4m":
        return read_y4m(p, max_frames)
    if p.suffix.lower() == ".npz":
        return FrameSource(_read_npz(p, max_frames))
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return FrameSource(read_folder_single(p))
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


class FfmpegVideoWriter:
    """A viewing copy through ffmpeg's libx264 at CRF 8 (visually lossless; the exact pixels
    are in .y4m or PNG output): 4:2:0 where the size allows it, which every player plays,
    4:4:4 for odd sizes; BT.601 limited range, tagged."""

    def __init__(self, path: Path, width: int, height: int, fps: tuple[int, int], exe: str,
                 shown: Path | None = None):
        import subprocess
        pix = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        cmd = [exe, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", f"{fps[0]}/{fps[1]}", "-i", "-",
               "-c:v", "libx264", "-crf", "8", "-preset", "medium", "-pix_fmt", pix,
               "-sws_flags", "bicubic+accurate_rnd+full_chroma_int",
               "-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries",
               "smpte170m", "-color_trc", "smpte170m"]
        if path.suffix.lower() == ".mp4":
            cmd += ["-movflags", "+faststart"]
        self.proc = subprocess.Popen(cmd + [str(path)], stdin=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.path = shown or path

    def write(self, rgb: np.ndarray) -> None:
        try:
            self.proc.stdin.write(np.ascontiguousarray(rgb, np.uint8).tobytes())
        except BrokenPipeError:
            self.close()

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        err = self.proc.stderr.read().decode(errors="replace").strip()
        if self.proc.wait() != 0:
            raise UnsupportedError(f"ffmpeg could not write {self.path}: "
                                   f"{err.splitlines()[-1] if err else 'failed'}")


class FrameSink:
    """Writes decoded pictures to .y4m, .mp4/.mkv/.avi or a folder of PNGs.  Video files go
    through ffmpeg (H.264) when it is installed, else through OpenCV (MPEG-4 part 2 / MJPEG,
    lossier: about 38 dB against the decoded pictures at 640x272).

    The output path is checked first (its folder must exist; a file name must not be a folder);
    pictures go to a temporary name in the same folder (io/output.py), and close() renames it
    to the output, abort() removes it: a failed decode leaves no 0-byte or partial file unless
    the caller chooses to keep what was written (close())."""

    def __init__(self, path: str, width: int, height: int, fps: tuple[int, int]):
        import shutil

        from .output import AtomicFolder, check_output, temp_name
        ffmpeg = shutil.which("ffmpeg")
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.index = 0
        self._writer = None
        self._folder = None
        self._tmp = None           # temporary file (Path) or folder (AtomicFolder)
        self._done = False
        if path == "-":                    # Y4M on stdout, for a pipe (ffplay -, ffmpeg -i -)
            import sys
            self._writer = Y4MWriter(sys.stdout.buffer, width, height, fps)
            return
        if suffix not in (".y4m", ".mp4", ".mkv", ".avi", ""):
            raise InvalidArgumentError(f"output {path}: use .y4m, .mp4, .mkv, .avi or a folder")
        if suffix == "":
            self._cv2 = _cv2()
            self._tmp = AtomicFolder(self.path)
            self._folder = self._tmp.tmp
            return
        check_output(self.path)
        cv2 = None if suffix == ".y4m" or (suffix in (".mp4", ".mkv") and ffmpeg) else _cv2()
        self._tmp = temp_name(self.path)
        try:
            if suffix == ".y4m":
                self._writer = Y4MWriter(self._tmp, width, height, fps)
            elif cv2 is None:
                self._writer = FfmpegVideoWriter(self._tmp, width, height, fps, ffmpeg,
                                                 shown=self.path)
            else:
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if suffix == ".mp4" else "MJPG"))
                self._cv = cv2.VideoWriter(str(self._tmp), fourcc, fps[0] / fps[1],
                                           (width, height))
                if not self._cv.isOpened():
                    raise UnsupportedError(f"OpenCV cannot write {self.path}")
        except BaseException:
            from .output import discard
            discard(self._tmp)
            raise

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.write(rgb)
        elif self._folder is not None:
            f = self._folder / f"frame_{self.index:05d}.png"
            if not self._cv2.imwrite(str(f), self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR)):
                raise UnsupportedError(f"cannot write {self.path / f.name}")
        else:
            import cv2
            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.index += 1

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
        elif self._folder is None:
            self._cv.release()

    def close(self) -> None:
        """Finish the output and give it its name (what was written so far, if called after a
        failure: the caller decides to keep it)."""
        if self._done:
            return
        self._done = True
        from .output import commit_file, discard
        try:
            self._finish()
            if isinstance(self._tmp, Path):
                commit_file(self._tmp, self.path)
            elif self._tmp is not None:
                self._tmp.commit()
        except BaseException:
            self._discard(discard)
            raise

    def abort(self) -> None:
        """Stop writing and remove the temporary output; the output path is left as it was."""
        if self._done:
            return
        self._done = True
        from .output import discard
        try:
            self._finish()
        except Exception:            # an ffmpeg that fails on a cut-short input: removed anyway
            pass
        self._discard(discard)

    def _discard(self, discard) -> None:
        if isinstance(self._tmp, Path):
            discard(self._tmp)
        elif self._tmp is not None:
            self._tmp.discard()
