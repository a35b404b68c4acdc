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
VERSION_MINOR_BLOCK_TREE = 1     # the stream may use the block-tree inter modes 4/5 (§4c)
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


# Byte offsets of the fields, named for the tools that edit streams (hostile streams, fuzzing);
# they follow _HEADER and _RECORD above.
HEADER_FIELDS = {"model_id": 8, "model_hash": 24, "width": 40, "height": 42, "fps_num": 44,
                 "fps_den": 48, "frame_count": 52, "colour": 56, "flags": 57, "crc": 60}
RECORD_FIELDS = {"type": 0, "quality": 1, "reserved": 2, "length": 4, "md5": 8, "crc": 24}


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
    version_minor: int = VERSION_MINOR    # 1: may use modes 4/5; a decoder accepts any

    def pack(self) -> bytes:
        mid = self.model_id.encode("ascii")
        if len(mid) > 16:
            raise ValueError("model id longer than 16 bytes")
        body = _HEADER.pack(MAGIC, VERSION_MAJOR, self.version_minor, HEADER_SIZE, mid.ljust(16, b"\0"),
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
        return cls(model_id, mhash, w, h, fn, fd, count, colour, flags, minor)


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


def read_record(data: bytes | memoryview, offset: int, position: int | None = None
                ) -> tuple[FrameRecord, int]:
    """Parse the record at `offset`; returns it and the offset after it.  `position`: the
    record's byte position in the stream, for messages (when `data` holds only the record)."""
    at = offset if position is None else position
    if len(data) - offset < RECORD_HEADER_SIZE:
        raise CorruptStreamError(f"frame record at byte {at} is truncated")
    code, quality, reserved, length, md5 = _RECORD.unpack_from(data, offset)
    (crc,) = struct.unpack_from("<I", data, offset + 24)
    if code not in FRAME_TYPES:
        raise CorruptStreamError(f"unknown frame type 0x{code:02x} at byte {at}")
    if reserved != 0:
        raise CorruptStreamError(f"reserved field set in frame record at byte {at}")
    start = offset + RECORD_HEADER_SIZE
    if length > MAX_PAYLOAD or length > len(data) - start:
        raise CorruptStreamError(f"frame at byte {at} declares {length} payload bytes; "
                                 f"{len(data) - start} remain")
    payload = bytes(data[start:start + length])
    head = bytes(data[offset:offset + 24])
    if zlib.crc32(payload, zlib.crc32(head)) != crc:
        raise CorruptStreamError(f"frame at byte {at}: checksum mismatch")
    return FrameRecord(FRAME_TYPES[code], quality, md5, payload), start + length


def reseal_header(data: bytearray) -> bytearray:
    """Recompute the header checksum of an edited stream (in place)."""
    struct.pack_into("<I", data, HEADER_FIELDS["crc"], zlib.crc32(bytes(data[:HEADER_SIZE - 4])))
    return data


def reseal_record(data: bytearray, offset: int = HEADER_SIZE) -> bytearray:
    """Recompute the checksum of the edited record at `offset` (in place), over its declared
    length."""
    (length,) = struct.unpack_from("<I", data, offset + RECORD_FIELDS["length"])
    body = bytes(data[offset + RECORD_HEADER_SIZE:offset + RECORD_HEADER_SIZE + length])
    struct.pack_into("<I", data, offset + RECORD_FIELDS["crc"],
                     zlib.crc32(body, zlib.crc32(bytes(data[offset:offset + 24]))))
    return data


def record_offsets(data: bytes | memoryview) -> list[int]:
    """Offsets of the records wholly present after the header, by their declared lengths (no
    other checks: for tools that edit streams, not for decoding)."""
    out, off = [], HEADER_SIZE
    while off + RECORD_HEADER_SIZE <= len(data):
        (length,) = struct.unpack_from("<I", data, off + RECORD_FIELDS["length"])
        if off + RECORD_HEADER_SIZE + length > len(data):
            break
        out.append(off)
        off += RECORD_HEADER_SIZE + length
    return out


def iter_records(data: bytes | memoryview, header: StreamHeader) -> Iterator[FrameRecord]:
    def records():
        offset = HEADER_SIZE
        while offset < len(data):
            record, offset = read_record(data, offset)
            yield record
    return _counted(records(), header)


def read_exactly(fh: BinaryIO, n: int, chunk: int = 1 << 20) -> bytes:
    """Up to n bytes from a file or pipe (fewer only at its end), read in chunks so that a
    declared length allocates no more than the bytes that really arrive."""
    parts, got = [], 0
    while got < n:
        part = fh.read(min(chunk, n - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def iter_stream_records(fh: BinaryIO, header: StreamHeader, offset: int = HEADER_SIZE
                        ) -> Iterator[FrameRecord]:
    """Records read one at a time from a file or pipe positioned after the header (a live
    stream arriving over a socket), with the same checks as iter_records."""
    def records():
        pos = offset
        while True:
            head = read_exactly(fh, RECORD_HEADER_SIZE)
            if not head:
                return
            (length,) = struct.unpack_from("<I", head, 4) if len(head) >= 8 else (0,)
            # an absurd length fails before any read; otherwise memory follows the bytes read
            body = b"" if length > MAX_PAYLOAD else read_exactly(fh, length)
            # read_record checks size, type, reserved field, length and checksum on the bytes
            record, _ = read_record(head + body, 0, pos)
            pos += RECORD_HEADER_SIZE + length
            yield record
    return _counted(records(), header)


def _counted(records: Iterator[FrameRecord], header: StreamHeader) -> Iterator[FrameRecord]:
    """The records, checked against the header's frame count (unless it is unknown)."""
    count = 0
    for record in records:
        if header.frame_count != UNKNOWN_FRAME_COUNT and count >= header.frame_count:
            raise CorruptStreamError(f"more frame records than the {header.frame_count} declared")
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
