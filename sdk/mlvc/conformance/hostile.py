"""Hostile streams derived from a valid one, each with the error kind a decoder must report.

Checksums are recomputed where the case targets a check behind them, so the deeper parsers
(record layout, rANS, parse path) are exercised and not only the CRCs.
"""
from __future__ import annotations

import struct
import zlib

from ..bitstream.container import HEADER_SIZE, RECORD_HEADER_SIZE


def fix_header_crc(data: bytearray) -> bytearray:
    struct.pack_into("<I", data, HEADER_SIZE - 4, zlib.crc32(bytes(data[:HEADER_SIZE - 4])))
    return data


def fix_record_crc(data: bytearray, offset: int = HEADER_SIZE) -> bytearray:
    (length,) = struct.unpack_from("<I", data, offset + 4)
    body = bytes(data[offset + RECORD_HEADER_SIZE:offset + RECORD_HEADER_SIZE + length])
    struct.pack_into("<I", data, offset + 24, zlib.crc32(body, zlib.crc32(bytes(
        data[offset:offset + 24]))))
    return data


def _edit_header(good: bytes, offset: int, fmt: str, *values) -> bytes:
    d = bytearray(good)
    struct.pack_into(fmt, d, offset, *values)
    return bytes(fix_header_crc(d))


def _edit_record(good: bytes, rel: int, fmt: str, value) -> bytes:
    d = bytearray(good)
    struct.pack_into(fmt, d, HEADER_SIZE + rel, value)
    return bytes(fix_record_crc(d))


def _second_record_offset(stream: bytes) -> int:
    (length,) = struct.unpack_from("<I", stream, HEADER_SIZE + 4)
    return HEADER_SIZE + RECORD_HEADER_SIZE + length


def inter_cases(stream: bytes) -> list[tuple[str, bytes, str]]:
    """Cases on the second record of `stream`, which must be a P-frame."""
    off = _second_record_offset(stream)
    assert stream[off] == b"P"[0]

    def edit(rel: int, fmt: str, value) -> bytes:
        d = bytearray(stream)
        struct.pack_into(fmt, d, off + RECORD_HEADER_SIZE + rel, value)
        return bytes(fix_record_crc(d, off))

    (length,) = struct.unpack_from("<I", stream, off + 4)
    mode = stream[off + RECORD_HEADER_SIZE]
    d = bytearray(stream)
    d[off + RECORD_HEADER_SIZE] = mode ^ 1        # skip <-> residual: the payload no longer fits
    return [
        ("p_unknown_mode", edit(0, "<B", 7), "corrupt_stream"),
        ("p_mv_table_out_of_range", edit(1, "<B", 250), "corrupt_stream"),
        ("p_mv_length_huge", edit(2, "<I", 0x7FFFFFF0), "corrupt_stream"),
        ("p_mode_flipped", bytes(fix_record_crc(d, off)), "corrupt_stream"),
        ("p_payload_truncated", stream[:off + RECORD_HEADER_SIZE + length // 2],
         "corrupt_stream"),
    ]


def invalid_streams(good: bytes, inter: bytes | None = None) -> list[tuple[str, bytes, str]]:
    first_payload = HEADER_SIZE + RECORD_HEADER_SIZE
    flipped = bytearray(good)
    flipped[first_payload + 10] ^= 0x10
    cases = [
        ("empty", b"", "corrupt_stream"),
        ("header_truncated", good[:40], "corrupt_stream"),
        ("bad_magic", b"MLVX" + good[4:], "corrupt_stream"),
        ("version_2", good[:4] + b"\x02" + good[5:], "unsupported"),
        ("header_crc", good[:30] + bytes([good[30] ^ 1]) + good[31:], "corrupt_stream"),
        ("wrong_model_hash", _edit_header(good, 24, "<I", 0xDEADBEEF), "model"),
        ("colour_format_1", _edit_header(good, 56, "<B", 1), "unsupported"),
        ("zero_width", _edit_header(good, 40, "<H", 0), "corrupt_stream"),
        ("huge_size", _edit_header(good, 40, "<HH", 16384, 16384), "unsupported"),
        ("frame_count_too_high", _edit_header(good, 52, "<I", 1000), "corrupt_stream"),
        ("frame_count_too_low", _edit_header(good, 52, "<I", 1), "corrupt_stream"),
        ("payload_truncated", good[:first_payload + 7], "corrupt_stream"),
        ("record_truncated", good[:HEADER_SIZE + 10], "corrupt_stream"),
        ("payload_bit_flip", bytes(flipped), "corrupt_stream"),
        ("payload_length_huge", _edit_record(good, 4, "<I", 0x7FFFFFFF), "corrupt_stream"),
        ("p_frame_first", _edit_record(good, 0, "<B", 0x50), "corrupt_stream"),
        ("unknown_frame_type", _edit_record(good, 0, "<B", 0x51), "corrupt_stream"),
        ("quality_99", _edit_record(good, 1, "<B", 99), "corrupt_stream"),
        ("z_length_huge", _edit_record(good, RECORD_HEADER_SIZE, "<I", 0xFFFFFF),
         "corrupt_stream"),
        ("rans_zero_lanes", _edit_record(good, RECORD_HEADER_SIZE + 4, "<H", 0),
         "corrupt_stream"),
        ("rans_state_zero", _edit_record(good, RECORD_HEADER_SIZE + 10, "<I", 0),
         "corrupt_stream"),
        ("picture_hash_wrong", _edit_record(good, 8, "<I", 0x01234567), "hash_mismatch"),
        ("trailing_garbage", good + b"\x00" * 5, "corrupt_stream"),
    ]
    if inter is not None:
        cases += inter_cases(inter)
    return cases
