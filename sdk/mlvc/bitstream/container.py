"""The MLVC container: a fixed 64-byte file header, then one record per frame (docs/bitstream.md).

Bytes only: this module knows nothing of networks or entropy coding.  Every length is checked
against the bytes actually present before anything is allocated.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from ..errors import CorruptStreamError, UnsupportedError

MAGIC = b"MLVC"
VERSION_MAJOR = 1
VERSION_MINOR = 0
HEADER_SIZE = 64
RECORD_HEADER_SIZE = 28
UNKNOWN_FRAME_COUNT = 0xFFFFFFFF
COLOUR_RGB444 = 0
FLAG_PICTURE_HASHES = 1
MAX_DIMENSION = 16384
# Largest payload a frame record may declare: an 8-bit picture of the largest size, twice over.
MAX_PAYLOAD = 2 * MAX_DIMENSION * MAX_DIMENSION * 3
FRAME_TYPES = {b"I"[0]: "I", b"P"[0]: "P"}

_HEADER = struct.Struct("<4sBBH16s16sHHIIIBBH")   # 60 bytes, then CRC32
_RECORD = struct.Struct("<BBHI16s")               # 24 bytes, then CRC32 (header + payload)


@dataclass(frozen=True)
class StreamHeader:
    model_id: str
    model_hash: bytes          # 16 bytes
    width: int
    height: int
    fps_num: int
    fps_den: int
    frame_count: int           # UNKNOWN_FRAME_COUNT while a live capture is being written
    colour: int = COLOUR_RGB444
    flags: int = FLAG_PICTURE_HASHES

    def pack(self) -> bytes:
        mid = self.model_id.encode("ascii")
        if len(mid) > 16:
            raise ValueError("model id longer than 16 bytes")
        body = _HEADER.pack(MAGIC, VERSION_MAJOR, VERSION_MINOR, HEADER_SIZE, mid.ljust(16, b"\0"),
                            self.model_hash, self.width, self.height, self.fps_num, self.fps_den,
                            self.frame_count, self.colour, self.flags, 0)
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def unpack(cls, data: bytes) -> "StreamHeader":
        if len(data) < HEADER_SIZE:
            raise CorruptStreamError(f"stream is {len(data)} bytes: shorter than its header")
        body = data[:HEADER_SIZE - 4]
        (magic, major, minor, hsize, mid, mhash, w, h, fn, fd, count, colour, flags,
         _reserved) = _HEADER.unpack(body)
        if magic != MAGIC:
            raise CorruptStreamError("not an MLVC stream (bad magic)")
        if major != VERSION_MAJOR:
            raise UnsupportedError(f"stream format version {major}.{minor} is not supported "
                                   f"(this decoder reads {VERSION_MAJOR}.x)")
        (crc,) = struct.unpack_from("<I", data, HEADER_SIZE - 4)
        if crc != zlib.crc32(body):
            raise CorruptStreamError("stream header checksum mismatch")
        if hsize != HEADER_SIZE:
            raise CorruptStreamError(f"header size {hsize} is not {HEADER_SIZE}")
        if not (1 <= w <= MAX_DIMENSION and 1 <= h <= MAX_DIMENSION):
            raise CorruptStreamError(f"picture size {w}x{h} out of range")
        if fn == 0 or fd == 0:
            raise CorruptStreamError("frame rate is zero")
        if colour != COLOUR_RGB444:
            raise UnsupportedError(f"colour format {colour} is not supported")
        try:
            model_id = mid.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError as exc:
            raise CorruptStreamError("model id is not ASCII") from exc
        return cls(model_id, mhash, w, h, fn, fd, count, colour, flags)


@dataclass(frozen=True)
class FrameRecord:
    frame_type: str            # "I" or "P"
    quality: int
    picture_md5: bytes         # MD5 of the decoded picture (RGB, row-major, cropped)
    payload: bytes

    def pack(self) -> bytes:
        code = b"I"[0] if self.frame_type == "I" else b"P"[0]
        head = _RECORD.pack(code, self.quality, 0, len(self.payload), self.picture_md5)
        crc = zlib.crc32(self.payload, zlib.crc32(head))
        return head + struct.pack("<I", crc) + self.payload


def picture_md5(rgb) -> bytes:
    """The in-stream picture hash: MD5 of the H x W x 3 uint8 picture in row-major order."""
    import numpy as np
    return hashlib.md5(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).digest()


def read_record(data: bytes | memoryview, offset: int) -> tuple[FrameRecord, int]:
    """Parse the record at `offset`; returns it and the offset after it."""
    if len(data) - offset < RECORD_HEADER_SIZE:
        raise CorruptStreamError(f"frame record at byte {offset} is truncated")
    code, quality, reserved, length, md5 = _RECORD.unpack_from(data, offset)
    (crc,) = struct.unpack_from("<I", data, offset + 24)
    if code not in FRAME_TYPES:
        raise CorruptStreamError(f"unknown frame type 0x{code:02x} at byte {offset}")
    if reserved != 0:
        raise CorruptStreamError(f"reserved field set in frame record at byte {offset}")
    start = offset + RECORD_HEADER_SIZE
    if length > MAX_PAYLOAD or length > len(data) - start:
        raise CorruptStreamError(f"frame at byte {offset} declares {length} payload bytes; "
                                 f"{len(data) - start} remain")
    payload = bytes(data[start:start + length])
    head = bytes(data[offset:offset + 24])
    if zlib.crc32(payload, zlib.crc32(head)) != crc:
        raise CorruptStreamError(f"frame at byte {offset}: checksum mismatch")
    return FrameRecord(FRAME_TYPES[code], quality, md5, payload), start + length


def iter_records(data: bytes | memoryview, header: StreamHeader) -> Iterator[FrameRecord]:
    offset, count = HEADER_SIZE, 0
    while offset < len(data):
        if header.frame_count != UNKNOWN_FRAME_COUNT and count >= header.frame_count:
            raise CorruptStreamError(f"more frame records than the {header.frame_count} declared")
        record, offset = read_record(data, offset)
        count += 1
        yield record
    if header.frame_count != UNKNOWN_FRAME_COUNT and count != header.frame_count:
        raise CorruptStreamError(f"stream ends after {count} of {header.frame_count} frames")


class StreamWriter:
    """Writes a stream incrementally (live capture); patches the frame count at close if it can."""

    def __init__(self, fh: BinaryIO, header: StreamHeader):
        self._fh = fh
        self._header = header
        self.frames = 0
        fh.write(header.pack())

    def write(self, record: FrameRecord) -> None:
        self._fh.write(record.pack())
        self.frames += 1

    def close(self) -> None:
        if self._header.frame_count == UNKNOWN_FRAME_COUNT and self._fh.seekable():
            end = self._fh.tell()
            self._fh.seek(0)
            fixed = StreamHeader(**{**self._header.__dict__, "frame_count": self.frames})
            self._fh.write(fixed.pack())
            self._fh.seek(end)
        self._fh.flush()
