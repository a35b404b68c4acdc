"""The public face: Encoder, EncoderOptions, Decoder, DecoderOptions, DecodedFrame.

The same nouns and behaviour exist in Kotlin (android_demo/) and Swift (ios_demo/).

    with mlvc.Decoder.open("clip.mlvc") as dec:
        for frame in dec:               # DecodedFrame, picture hash verified
            show(frame.rgb)
"""
from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .backends.registry import BackendSpec, fastest_exact, resolve, status, warn_once
from .bitstream.container import (HEADER_SIZE, UNKNOWN_FRAME_COUNT, VERSION_MINOR_BLOCK_TREE,
                                  FrameRecord, StreamHeader,
                                  StreamWriter, iter_records, iter_stream_records, picture_md5,
                                  read_exactly)
from .codec.inter import InterCodec
from .codec.hyperprior import HyperpriorCodec
from .errors import (CorruptStreamError, HashMismatchError, InvalidArgumentError, UnsupportedError)
from .package.loader import ModelPackage, find_package, load_package


def _options(cls, kwargs):
    try:
        return cls(**kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidArgumentError(f"{cls.__name__}.{first['loc'][0]}: {first['msg']}") from None


class EncoderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    quality: int = Field(3, ge=1, description="1 (smallest) .. the package's highest level")
    backend: Optional[str] = Field(None, description="None: the fastest exact backend")
    package: Optional[str] = Field(None, description="model package directory; None: bundled")
    fps_num: int = Field(30, ge=1, le=1_000_000)
    fps_den: int = Field(1, ge=1, le=1_000_000)
    gop: int = Field(16, ge=1, le=10_000, description="an I-frame every `gop` frames (1: intra)")
    inter_rd_levels: Optional[int] = Field(None, ge=1, le=32, description=(
        "P-frames: residual levels tried (the requested one and the next coarser ones), the "
        "frame's level chosen by rate-distortion cost; 1: always the requested level; None: "
        "the preset's (fast 1, medium and slow 2)"))
    intra_level_offset: int = Field(1, ge=0, le=8, description=(
        "GOP streams (gop > 1): I-frames are coded this many levels above `quality` (at most "
        "the package's top level), so the P-frames that follow predict from a better "
        "reference (x264's ipratio plays the same role); 0: every I-frame at `quality`. "
        "Held-out clips, GOP 16: 1 saves 8.6-9.2 % BD-rate (docs/benchmarks.md)"))
    p_level_cascade: int = Field(4, ge=0, le=10_000, description=(
        "GOP streams: P-frames whose distance from their I-frame is not a multiple of this are "
        "coded one level below `quality` (at least level 1), the others at `quality` "
        "(the low-delay QP cascade of HEVC's test conditions); 0 or 1: every P-frame at "
        "`quality`. Held-out clips, GOP 16: 4 saves 1.9-3.0 % BD-rate on top of "
        "intra_level_offset 1"))
    refine: int = Field(0, ge=0, le=256, description=(
        "encoder latent refinement iterations per picture (codec/refine.py): better pictures "
        "at about the same rate for ~0.75 s per iteration at 640x272; 0: off (real-time)"))
    preset: Literal["fast", "medium", "slow"] = Field("medium", description=(
        "P-frame encoder speed / bits trade-off (block-tree tools): fast (camera speed: no 8x8 "
        "blocks, two deblocking strengths, one residual level tried), medium, slow (more strengths, the residual "
        "re-coded with skipped blocks zeroed)"))
    inter_tools: Literal["tree", "grid"] = Field("tree", description=(
        "P-frame tools: 'tree' = block tree, quarter pixels, merge, per-block skip, deblocking "
        "(modes 4/5, bitstream 1.1); 'grid' = the 16x16 half-pixel modes 0-3 of bitstream 1.0"))
    allow_approximate: bool = Field(False, description=(
        "encode with a backend that is not exact on this machine: the stream parses on every "
        "decoder (h_s stays on an exact backend), but its pictures and hashes are this "
        "backend's, so exact decoders report hash mismatches"))


class DecoderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Optional[str] = Field(None, description="None: the fastest exact backend")
    package: Union[str, list[str], None] = Field(None, description=(
        "model package directory, or several: the one the stream names is used; then "
        "$MLVC_MODEL_PATH and the bundled package are searched (mlvc.package.find_package)"))
    verify_hashes: Union[bool, Literal["strict"]] = Field(True, description=(
        "True: check every picture hash; on a backend not exact here, a failed picture is "
        "re-decoded with the fastest exact backend, which then decodes the rest (reported in "
        "Decoder.switches, a warning, DecodedFrame.recovered); on an exact backend a failure "
        "raises HashMismatchError.  'strict': every failure raises.  False: no checks, the "
        "named backend runs as it is (conformance measurements)"))
    preview: bool = Field(False, description=(
        "keep an approximate backend's pictures (no fallback, no re-decoding): a preview "
        "whose pictures may drift from the exact ones; DecodedFrame.verified tells"))
    max_pixels: int = Field(3840 * 2160, ge=1, description="refuse larger pictures")


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    frame_type: str           # "I" or "P"
    quality: int
    rgb: np.ndarray           # H x W x 3 uint8, read-only (copy it to draw on it)
    md5: bytes                # hash of `rgb`
    expected_md5: bytes       # hash carried in the stream
    verified: bool            # md5 == expected_md5
    backend: str = ""         # the backend whose networks made `rgb`
    recovered: bool = False   # the first backend's picture failed its hash; `rgb` was re-decoded

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _exact_parse_backend(chosen: BackendSpec) -> BackendSpec:
    return chosen if chosen.exact else fastest_exact()


class Encoder:
    """Encodes RGB pictures (H x W x 3 uint8) into an MLVC stream."""

    def __init__(self, options: EncoderOptions | None = None, **kwargs):
        self.options = options or _options(EncoderOptions, kwargs)
        self.package: ModelPackage = load_package(self.options.package)
        self.backend = resolve(self.options.backend)
        if not self.backend.exact and not self.options.allow_approximate:
            raise InvalidArgumentError(
                f"backend {self.backend.name!r} is approximate on this machine "
                f"({status(self.backend).detail}): encoding needs an exact backend so that "
                "every decoder rebuilds the same pictures (allow_approximate=True to encode "
                "anyway)")
        levels = self.package.levels
        if self.options.quality not in levels:
            raise InvalidArgumentError(f"quality {self.options.quality} not in 1..{max(levels)}")
        self.codec = HyperpriorCodec(self.package, self.backend, _exact_parse_backend(self.backend),
                                     refine=self.options.refine)
        # the I-frames' level: above the P-frames' in a GOP stream (better references)
        self._intra_level = (self.options.quality if self.options.gop == 1 else
                             min(max(levels), self.options.quality
                                 + self.options.intra_level_offset))
        self.inter = InterCodec(self.codec, self.codec.residual_codec(),
                                rd_levels=self.options.inter_rd_levels,
                                tools=self.options.inter_tools, preset=self.options.preset)

    def _p_level(self, k: int) -> int:
        """The requested level of the P-frame `k` frames after its I-frame."""
        n, q = self.options.p_level_cascade, self.options.quality
        return q if n <= 1 or k % n == 0 else max(min(self.package.levels), q - 1)

    def _check_picture(self, rgb: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InvalidArgumentError(f"pictures must be H x W x 3 uint8, got {rgb.dtype} "
                                       f"{rgb.shape}")
        h, w = rgb.shape[:2]
        m = self.package.manifest
        if not (1 <= w <= m.max_width and 1 <= h <= m.max_height):
            raise UnsupportedError(f"picture size {w}x{h} outside 1x1..{m.max_width}x"
                                   f"{m.max_height}")
        if size is not None and (w, h) != size:
            raise InvalidArgumentError(f"picture size changed from {size[0]}x{size[1]} to {w}x{h}")
        return rgb

    def encode_frames(self, frames: Iterable[np.ndarray], out: BinaryIO,
                      frame_count: int | None = None, progress=None) -> list[FrameRecord]:
        """Encode `frames` into `out`; returns the records written (without payload copies)."""
        writer = None
        records = []
        size = None
        for i, rgb in enumerate(frames):
            rgb = self._check_picture(rgb, size)
            if writer is None:
                size = (rgb.shape[1], rgb.shape[0])
                header = StreamHeader(self.package.model_id, self.package.manifest.stream_hash,
                                      size[0], size[1], self.options.fps_num,
                                      self.options.fps_den,
                                      UNKNOWN_FRAME_COUNT if frame_count is None else frame_count,
                                      version_minor=(VERSION_MINOR_BLOCK_TREE if
                                                     self.options.gop > 1 and
                                                     self.inter.tools == "tree" else 0))
                writer = StreamWriter(out, header)
            if i % self.options.gop == 0:
                coded = self.codec.encode(rgb, self._intra_level)
                rec = FrameRecord("I", self._intra_level, coded.md5, coded.payload)
                ref = coded.reconstruction
            else:
                p = self.inter.encode(rgb, ref, self._p_level(i % self.options.gop))
                ref = p.reconstruction
                rec = FrameRecord("P", p.level, picture_md5(ref), p.payload)
            writer.write(rec)
            records.append(FrameRecord(rec.frame_type, rec.quality, rec.picture_md5, b""))
            if progress:
                progress(i + 1, len(rec.payload))
        if writer is None:
            raise InvalidArgumentError("no frames to encode")
        if frame_count is not None and writer.frames != frame_count:
            raise InvalidArgumentError(f"{writer.frames} frames given, {frame_count} declared")
        writer.close()
        return records

    def encode(self, frames: Iterable[np.ndarray]) -> bytes:
        """Encode a sequence of pictures and return the stream bytes."""
        frames = list(frames)
        buf = io.BytesIO()
        self.encode_frames(frames, buf, frame_count=len(frames))
        return buf.getvalue()


class Decoder:
    """Decodes an MLVC stream; checks every picture against the hash carried in the stream."""

    def __init__(self, data: bytes | BinaryIO, options: DecoderOptions | None = None, **kwargs):
        """`data`: the stream's bytes, or a binary file object to read it from as it arrives
        (a pipe or socket: records are read one at a time, and frames() runs once)."""
        self.options = options or _options(DecoderOptions, kwargs)
        self._fh = data if hasattr(data, "read") else None
        if self._fh is not None:
            self._data = read_exactly(self._fh, HEADER_SIZE)
        else:
            # bytes, or a read-only mmap from Decoder.open: long files are not read into memory.
            self._data = data if isinstance(data, (bytes, mmap.mmap)) else bytes(data)
        self.header = StreamHeader.unpack(self._data[:HEADER_SIZE])
        if self.header.width * self.header.height > self.options.max_pixels:
            raise UnsupportedError(f"picture size {self.header.width}x{self.header.height} "
                                   f"exceeds max_pixels={self.options.max_pixels}")
        self.package = find_package(self.header.model_id, self.header.model_hash,
                                    self.options.package)
        m = self.package.manifest
        if self.header.width > m.max_width or self.header.height > m.max_height:
            raise UnsupportedError(f"picture size {self.header.width}x{self.header.height} "
                                   f"exceeds the package's {m.max_width}x{m.max_height}")
        self.requested_backend: BackendSpec = resolve(self.options.backend)
        # Backend changes: dicts {frame (None: at open), from, to, reason}.
        self.switches: list[dict] = []
        self.backend = self._initial_backend(self.requested_backend)
        self.codec, self.inter = self._codecs(self.backend)

    def _initial_backend(self, spec: BackendSpec) -> BackendSpec:
        """`spec`, or the fastest exact backend when `spec` was checked here and is not exact
        (float16, approximate by design, runs: its pictures are checked one by one)."""
        if (spec.exact or spec.approximate_by_design or self.options.preview
                or self.options.verify_hashes is False):
            return spec
        fallback = fastest_exact(exclude=spec.name)
        reason = f"{spec.name!r} is approximate on this machine ({status(spec).detail})"
        warn_once(("decoder-open", spec.name),
                  f"Decoder: backend {reason}; decoding with {fallback.name!r} instead")
        self.switches.append({"frame": None, "from": spec.name, "to": fallback.name,
                              "reason": reason})
        return fallback

    def _codecs(self, spec: BackendSpec) -> tuple[HyperpriorCodec, InterCodec]:
        codec = HyperpriorCodec(self.package, spec, _exact_parse_backend(spec))
        return codec, InterCodec(codec, codec.residual_codec())

    @property
    def switched_at(self) -> int | None:
        """The first frame decoded with another backend than requested (0 when the switch
        happened at open), or None."""
        if not self.switches:
            return None
        f = self.switches[0]["frame"]
        return 0 if f is None else f

    @classmethod
    def open(cls, path: str | Path, options: DecoderOptions | None = None, **kwargs) -> "Decoder":
        """Decode a file; it is memory-mapped, so its size does not add to the decoder's memory."""
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"cannot read {path}: {exc}") from exc
        return cls(data, options, **kwargs)

    @property
    def exact(self) -> bool:
        return self.backend.exact

    def __enter__(self) -> "Decoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            self._data.close()
        self._data = b""

    def __iter__(self) -> Iterator[DecodedFrame]:
        return self.frames()

    def frames(self) -> Iterator[DecodedFrame]:
        h, w = self.header.height, self.header.width
        ref = None
        records = (iter_stream_records(self._fh, self.header) if self._fh is not None else
                   iter_records(self._data, self.header))
        verify = self.options.verify_hashes
        for i, rec in enumerate(records):
            if rec.frame_type == "P" and ref is None:
                raise CorruptStreamError(f"frame {i}: P-frame without a previous picture")
            if rec.quality not in self.package.levels:
                raise CorruptStreamError(f"frame {i}: quality level {rec.quality} is not in the "
                                         f"package (1..{max(self.package.levels)})")
            rgb = self._decode_picture(self.codec, self.inter, rec, ref, h, w)
            md5 = picture_md5(rgb)
            ok = md5 == rec.picture_md5
            recovered = False
            if verify is not False and not ok:
                if verify == "strict" or self.backend.exact:
                    raise HashMismatchError(
                        f"frame {i}: decoded picture hash {md5.hex()} differs from the "
                        f"stream's {rec.picture_md5.hex()}" + ("" if self.backend.exact else
                        f" (backend {self.backend.name}, approximate here)"))
                if not self.options.preview:
                    rgb, md5 = self._recover(i, rec, ref, h, w, md5)
                    ok = recovered = True
            ref = rgb
            yield DecodedFrame(i, rec.frame_type, rec.quality, rgb, md5, rec.picture_md5, ok,
                               self.backend.name, recovered)

    @staticmethod
    def _decode_picture(codec, inter, rec, ref, h, w) -> np.ndarray:
        if rec.frame_type == "I":
            rgb = codec.decode(rec.payload, h, w, rec.quality)
        else:
            rgb = inter.decode(rec.payload, ref, h, w, rec.quality)
        rgb.setflags(write=False)     # it is also the next P-frame's reference
        return rgb

    def _recover(self, i, rec, ref, h, w, bad_md5: bytes) -> tuple[np.ndarray, bytes]:
        """Picture `i` failed its hash on a backend not exact here: decode it again with the
        fastest exact backend (its reference `ref` passed its own hash, so it is the exact
        picture) and keep that backend for the rest of the stream."""
        fallback = fastest_exact(exclude=self.backend.name)
        codec, inter = self._codecs(fallback)
        rgb = self._decode_picture(codec, inter, rec, ref, h, w)
        md5 = picture_md5(rgb)
        if md5 != rec.picture_md5:
            raise HashMismatchError(
                f"frame {i}: decoded picture hash differs from the stream's "
                f"{rec.picture_md5.hex()} with {self.backend.name} ({bad_md5.hex()}) and with "
                f"the exact {fallback.name} ({md5.hex()})")
        reason = (f"frame {i}'s picture hash failed on {self.backend.name!r} "
                  f"({'approximate' if not self.backend.exact else 'exact'} here)")
        import warnings
        from .backends.registry import ApproximateBackendWarning
        warnings.warn(f"Decoder: {reason}; re-decoded with the exact {fallback.name!r}, which "
                      "decodes the rest of the stream", ApproximateBackendWarning, stacklevel=4)
        self.switches.append({"frame": i, "from": self.backend.name, "to": fallback.name,
                              "reason": reason})
        self.backend, self.codec, self.inter = fallback, codec, inter
        return rgb, md5

    def decode_all(self) -> list[DecodedFrame]:
        return list(self.frames())
