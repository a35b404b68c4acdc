"""Hostile streams derived from a valid one, each with the error kind a decoder must report.

`write_catalogue` writes the one catalogue every decoder runs (sdk/mlvc/data/vectors/invalid/:
the streams and `catalogue.json`; tests/test_hostile.py, the Kotlin and the Swift tests).

Checksums are recomputed where the case targets a check behind them, so the deeper parsers
(record layout, rANS, parse path) are exercised and not only the CRCs.
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

from ..bitstream import inter_syntax as syn
from ..bitstream.container import (HEADER_FIELDS, HEADER_SIZE, RECORD_FIELDS, RECORD_HEADER_SIZE,
                                   record_offsets, reseal_header, reseal_record)


def _edit_header(good: bytes, field: str, fmt: str, *values) -> bytes:
    d = bytearray(good)
    struct.pack_into(fmt, d, HEADER_FIELDS[field], *values)
    return bytes(reseal_header(d))


def _edit_record(good: bytes, rel: int, fmt: str, value) -> bytes:
    d = bytearray(good)
    struct.pack_into(fmt, d, HEADER_SIZE + rel, value)
    return bytes(reseal_record(d))


def invalid_streams(good: bytes) -> list[tuple[str, bytes, str]]:
    """Container and intra cases on a valid stream whose first two records are I-frames."""
    first_payload = HEADER_SIZE + RECORD_HEADER_SIZE
    flipped = bytearray(good)
    flipped[first_payload + 10] ^= 0x10
    cases = [
        ("empty", b"", "corrupt_stream"),
        ("header_truncated", good[:40], "corrupt_stream"),
        ("bad_magic", b"MLVX" + good[4:], "corrupt_stream"),
        ("version_2", good[:4] + b"\x02" + good[5:], "unsupported"),
        ("header_crc", good[:30] + bytes([good[30] ^ 1]) + good[31:], "corrupt_stream"),
        ("wrong_model_hash", _edit_header(good, "model_hash", "<I", 0xDEADBEEF), "model"),
        ("colour_format_1", _edit_header(good, "colour", "<B", 1), "unsupported"),
        ("zero_width", _edit_header(good, "width", "<H", 0), "corrupt_stream"),
        ("huge_size", _edit_header(good, "width", "<HH", 16384, 16384), "unsupported"),
        ("frame_count_too_high", _edit_header(good, "frame_count", "<I", 1000), "corrupt_stream"),
        ("frame_count_too_low", _edit_header(good, "frame_count", "<I", 1), "corrupt_stream"),
        ("payload_truncated", good[:first_payload + 7], "corrupt_stream"),
        ("record_truncated", good[:HEADER_SIZE + 10], "corrupt_stream"),
        ("payload_bit_flip", bytes(flipped), "corrupt_stream"),
        ("payload_length_huge", _edit_record(good, RECORD_FIELDS["length"], "<I", 0x7FFFFFFF),
         "corrupt_stream"),
        ("p_frame_first", _edit_record(good, RECORD_FIELDS["type"], "<B", 0x50), "corrupt_stream"),
        ("unknown_frame_type", _edit_record(good, RECORD_FIELDS["type"], "<B", 0x51),
         "corrupt_stream"),
        ("quality_99", _edit_record(good, RECORD_FIELDS["quality"], "<B", 99), "corrupt_stream"),
        ("z_length_huge", _edit_record(good, RECORD_HEADER_SIZE, "<I", 0xFFFFFF),
         "corrupt_stream"),
        ("rans_zero_lanes", _edit_record(good, RECORD_HEADER_SIZE + 4, "<H", 0),
         "corrupt_stream"),
        ("rans_state_zero", _edit_record(good, RECORD_HEADER_SIZE + 10, "<I", 0),
         "corrupt_stream"),
        ("picture_hash_wrong", _edit_record(good, RECORD_FIELDS["md5"], "<I", 0x01234567),
         "hash_mismatch"),
        ("trailing_garbage", good + b"\x00" * 5, "corrupt_stream"),
    ]
    return cases


# -- the hostile-stream catalogue: one list, run by the Python, Kotlin and Swift decoders ----------

CATALOGUE_FORMAT = "mlvc-hostile-catalogue"


class _Records:
    """A stream split into its header and records, edited, and written back with valid CRCs (so
    that the edits reach the checks behind the checksums)."""

    def __init__(self, stream: bytes):
        self.header = bytearray(stream[:HEADER_SIZE])
        self.records = []        # [type, quality, flags(2 bytes), md5, payload]
        o = HEADER_SIZE
        while o < len(stream):
            (length,) = struct.unpack_from("<I", stream, o + 4)
            p = o + RECORD_HEADER_SIZE
            self.records.append([stream[o], stream[o + 1], stream[o + 2:o + 4],
                                 bytearray(stream[o + 8:o + 24]), bytearray(stream[p:p + length])])
            o = p + length

    def bytes(self) -> bytes:
        out = bytearray(reseal_header(bytearray(self.header)))
        for t, q, flags, md5, payload in self.records:
            head = bytes([t, q]) + bytes(flags) + struct.pack("<I", len(payload)) + bytes(md5)
            out += head + struct.pack("<I", zlib.crc32(bytes(payload), zlib.crc32(head)))
            out += payload
        return bytes(out)


def _record_offset(stream: bytes, index: int) -> int:
    return record_offsets(stream)[index]


def p_frame_cases(stream: bytes, index: int, num_tables: int,
                  motion_nonzero: bool) -> list[tuple[str, bytes, str]]:
    """Hostile variants of the grid P-frame record `index` of `stream` (one with a residual:
    mode 1 or 3, §4b).  Each fails at that frame, after the frames before it decoded."""
    base = _Records(stream)
    mode = base.records[index][4][0]
    assert base.records[index][0] == ord("P") and mode in (1, 3), "needs a residual P-frame"
    mvlen = syn.read_grid_header(base.records[index][4]).motion_len
    G = syn.GridHeader.SIZE     # the motion length field is at 2, its substream at G

    def edit(fn) -> bytes:
        r = _Records(stream)
        fn(r.records[index])
        return r.bytes()

    def byte(pos: int, value: int):
        return lambda rec: rec[4].__setitem__(pos, value)

    def u32(pos: int, value: int):
        return lambda rec: struct.pack_into("<I", rec[4], pos, value)

    def payload(fn):
        return lambda rec: rec.__setitem__(4, bytearray(fn(rec[4])))

    def quality(rec):
        rec[1] = 99

    def md5(rec):
        rec[3][0] ^= 1

    def skip_plus_one(rec):
        rec[4][0] = mode & ~1
        rec[4] = rec[4][:G + mvlen + 1]

    cut = _record_offset(stream, index) + RECORD_HEADER_SIZE + len(base.records[index][4]) // 2
    cases = [(f"mode_{m}", edit(byte(0, m)), "corrupt_stream") for m in (6, 7, 8, 255)]
    cases += [(f"mv_table_{t}", edit(byte(1, t)), "corrupt_stream")
              for t in sorted({num_tables, 250, 255}) if num_tables <= t <= 255]
    cases += [
        ("mv_length_past_payload", edit(u32(2, len(base.records[index][4]) - G + 1)),
         "corrupt_stream"),
        ("mv_length_huge", edit(u32(2, 0xFFFFFFFF)), "corrupt_stream"),
        ("mv_length_7ffffff0", edit(u32(2, 0x7FFFFFF0)), "corrupt_stream"),
        ("mv_length_short", edit(u32(2, mvlen - 2)), "corrupt_stream"),
        ("mv_rans_state_zero", edit(u32(G + 6, 0)), "corrupt_stream"),  # first lane state
        ("residual_bit_cleared", edit(byte(0, mode & ~1)), "corrupt_stream"),
        ("whole_pel_skip_with_residual", edit(byte(0, 0)), "corrupt_stream"),
        ("half_pel_skip_with_residual", edit(byte(0, 2)), "corrupt_stream"),
        ("skip_one_extra_byte", edit(skip_plus_one), "corrupt_stream"),
        ("payload_5_bytes", edit(payload(lambda p: p[:5])), "corrupt_stream"),
        ("payload_empty", edit(payload(lambda p: b"")), "corrupt_stream"),
        ("residual_truncated", edit(payload(lambda p: p[:-1])), "corrupt_stream"),
        ("quality_99", edit(quality), "corrupt_stream"),
        ("picture_hash_wrong", edit(md5), "hash_mismatch"),
        ("record_cut", stream[:cut], "corrupt_stream"),
    ]
    if motion_nonzero:    # vectors read in the other unit: another prediction, a wrong hash
        cases.append(("half_pel_bit_flipped", edit(byte(0, mode ^ 2)), "hash_mismatch"))
    return cases


def catalogue_cases(vectors: Path, entries: list[dict], package: str | None = None
                    ) -> list[dict]:
    """The catalogue's cases: the container / intra cases on the first vector, and the P-frame
    cases on the first whole-pixel (mode 1) and the first half-pixel (mode 3) residual P-frame
    of the smallest vector that has one.  Each: name, base vector, bytes, expected error kind."""
    import numpy as np

    from ..bitstream.container import StreamHeader, iter_records
    from ..package.loader import load_package
    tables = load_package(package).tables
    first = (vectors / entries[0]["stream"]).read_bytes()
    cases = [{"name": n, "base": entries[0]["name"], "data": d, "error": k}
             for n, d, k in invalid_streams(first)]
    found = {}
    tree_frames = []       # (picture area, name, stream, record index) of every mode 4/5 frame
    for e in sorted(entries, key=lambda e: (vectors / e["stream"]).stat().st_size):  # smallest
        stream = (vectors / e["stream"]).read_bytes()
        header = StreamHeader.unpack(stream)
        for i, rec in enumerate(iter_records(stream, header)):
            mode = syn.payload_mode(rec.payload)
            if rec.frame_type == "P" and mode in syn.TREE_MODES:
                tree_frames.append((header.width * header.height, e["name"], stream, i))
            if rec.frame_type != "P" or mode in found or mode not in (1, 3, 4, 5):
                continue
            if mode in syn.TREE_MODES:
                found[mode] = (e["name"], stream, i, None)
                continue
            _, mv, _ = syn.read_grid_payload(rec.payload, header.height, header.width, tables)
            found[mode] = (e["name"], stream, i, bool(np.any(mv != 0)))
    for mode in (3, 1):      # half pixels, then whole pixels
        if mode in found:
            name, stream, i, nonzero = found[mode]
            for n, d, k in p_frame_cases(stream, i, tables.num_tables, nonzero):
                cases.append({"name": f"p{mode}_{n}", "base": name, "data": d, "error": k})
    for mode in (5, 4):      # block tree with residual, then prediction only
        if mode in found:
            name, stream, i, _ = found[mode]
            for n, d, k in tree_frame_cases(stream, i, tables, package):
                cases.append({"name": f"p{mode}_{n}", "base": name, "data": d, "error": k})
    # a vector outside -2048..2047: on the smallest picture where vectors can get that far
    for _, name, stream, i in sorted(tree_frames, key=lambda f: (f[0], f[1], f[3])):
        header = StreamHeader.unpack(stream)
        big = _diagonal_tree(header.height, header.width, tables)
        if big is not None:
            r = _Records(stream)
            r.records[i][4] = bytearray(big)
            cases.append({"name": "tree_vector_out_of_range", "base": name, "data": r.bytes(),
                          "error": "corrupt_stream"})
            break
    return cases


def _diagonal_tree(h: int, w: int, tables) -> bytes | None:
    """A valid mode-4 block substream whose vectors pass 2047 (each 8x8 PB its predictor plus
    the widest table's radius: the vectors grow along the diagonal); None when the picture is
    too small for that."""
    t = int(np.argmax(tables.radius))
    r = int(tables.radius[t])
    sym = syn.TreeSymbols()
    bmap = syn.BlockMap(h, w)
    top = [0]

    def split_of(y0, x0, size, depth):
        sym.kinds.append(depth)
        sym.values.append(1)
        return 1

    def leaf(y0, x0, size):
        py, px = bmap.predictor(y0, x0, size)
        sym.kinds.extend([syn.KIND_MERGE, syn.KIND_MV, syn.KIND_MV])
        sym.values.extend([0, r, 0])
        top[0] = max(top[0], py + r)
        bmap.add(syn.PredictionBlock(y0, x0, size, (py + r, px)))
    syn.walk_tree(h, w, split_of, leaf)
    if top[0] < syn.MV_LIMIT:
        return None
    return syn.write_block_tree(sym, 4, 0, tables, mv_table=t)


def tree_frame_cases(stream: bytes, index: int, tables, package: str | None = None
                     ) -> list[tuple[str, bytes, str]]:
    """Hostile variants of the block-tree P-frame record `index` (mode 4 or 5, §4c): header
    fields (unknown modes, motion table, every frequency 0, deblocking above 31, substream
    lengths), the block substream (truncated, lanes, states, one symbol short), bytes after a
    prediction-only frame, a vector outside -2048..2047, and edits that decode to another
    picture (hash mismatch).  Each fails at that frame."""
    from ..bitstream.container import StreamHeader
    base = _Records(stream)
    rec = base.records[index]
    pay = bytes(rec[4])
    mode = pay[0]
    assert rec[0] == ord("P") and mode in syn.TREE_MODES, "needs a block-tree P-frame"
    header = StreamHeader.unpack(stream)
    hdr, sub, rest = syn.TreeHeader.parse(pay, tables.num_tables)
    S = hdr.substream_len
    H = syn.TreeHeader.SIZE

    def edit(fn) -> bytes:
        r = _Records(stream)
        r.records[index][4] = bytearray(fn(bytes(r.records[index][4])))
        return r.bytes()

    def put(offset, fmt, value):
        def fn(p):
            d = bytearray(p)
            struct.pack_into(fmt, d, offset, value)
            return bytes(d)
        return fn

    F = syn.TREE_FIELDS
    cases = [(f"mode_{m}", edit(put(F["mode"], "<B", m)), "corrupt_stream") for m in (6, 7, 255)]
    cases += [(f"mv_table_{t}", edit(put(F["mv_table"], "<B", t)), "corrupt_stream")
              for t in sorted({tables.num_tables, 255}) if t <= 255]
    for name in ("f_split0", "f_split1", "f_split2", "f_merge", "f_midx", "f_skip"):
        cases.append((f"{name}_zero", edit(put(F[name], "<H", 0)), "corrupt_stream"))
    cases += [
        ("deblock_32", edit(put(F["deblock"], "<B", 32)), "corrupt_stream"),
        ("deblock_255", edit(put(F["deblock"], "<B", 255)), "corrupt_stream"),
        ("substream_length_huge", edit(put(F["substream_len"], "<I", 0xFFFFFFFF)),
         "corrupt_stream"),
        ("substream_length_past_payload", edit(put(F["substream_len"], "<I", len(pay) - H + 1)),
         "corrupt_stream"),
        ("substream_length_short", edit(put(F["substream_len"], "<I", S - 2)), "corrupt_stream"),
        ("substream_truncated", edit(lambda p: p[:H + S // 2]), "corrupt_stream"),
        ("substream_lanes_zero", edit(put(H, "<H", 0)), "corrupt_stream"),
        ("substream_state_zero", edit(put(H + 6, "<I", 0)), "corrupt_stream"),
        ("header_truncated", edit(lambda p: p[:H - 1]), "corrupt_stream"),
        ("payload_empty", edit(lambda p: b""), "corrupt_stream"),
        ("quality_99", None, "corrupt_stream"),
        ("picture_hash_wrong", None, "hash_mismatch"),
    ]
    r = _Records(stream)
    r.records[index][1] = 99
    cases[-2] = ("quality_99", r.bytes(), "corrupt_stream")
    r = _Records(stream)
    r.records[index][3][0] ^= 1
    cases[-1] = ("picture_hash_wrong", r.bytes(), "hash_mismatch")
    if mode == 4:
        cases.append(("prediction_only_one_extra_byte", edit(lambda p: p + b"\0"),
                      "corrupt_stream"))
        cases.append(("mode_5_without_residual", edit(put(F["mode"], "<B", 5)),
                      "corrupt_stream"))
    else:
        cases.append(("mode_4_with_residual_bytes", edit(put(F["mode"], "<B", 4)),
                      "corrupt_stream"))
        cases.append(("residual_truncated", edit(lambda p: p[:-1]), "corrupt_stream"))
        cases.append(("residual_missing", edit(lambda p: p[:H + S]), "corrupt_stream"))
    # valid syntax, another picture: the deblocking strength changed
    # (kept when it does change this frame's picture)
    from ..api import Decoder
    from ..errors import HashMismatchError, MLVCError
    other = 31 if hdr.deblock != 31 else 1
    data = edit(put(F["deblock"], "<B", other))
    try:
        Decoder(data, package=package, backend="numpy").decode_all()
    except HashMismatchError:
        cases.append((f"deblock_{hdr.deblock}_to_{other}", data, "hash_mismatch"))
    except MLVCError:
        pass
    return cases


def write_catalogue(vectors: Path, entries: list[dict], package: str | None = None
                    ) -> list[dict]:
    """Write `invalid/NAME.mlvc` and `invalid/catalogue.json` under `vectors`.  Each entry says
    the error kind every decoder must report and, from the NumPy decoder here, how many frames
    decode before it (`frames_before`); no messages, their wording is each decoder's own.  A
    case the Python decoder does not fail as listed stops the generator."""
    from ..api import Decoder
    from ..errors import MLVCError
    out = vectors / "invalid"
    out.mkdir(parents=True, exist_ok=True)
    listed = []
    for c in catalogue_cases(vectors, entries, package):
        (out / f"{c['name']}.mlvc").write_bytes(c["data"])
        decoded = 0
        try:
            dec = Decoder(c["data"], package=package, backend="numpy")
            for _ in dec.frames():
                decoded += 1
            raise AssertionError(f"hostile case {c['name']} decodes")
        except MLVCError as exc:
            if exc.code != c["error"]:
                raise AssertionError(f"hostile case {c['name']}: {exc.code}, expected "
                                     f"{c['error']} ({exc})") from exc
        listed.append({"name": c["name"], "stream": f"invalid/{c['name']}.mlvc",
                       "base": c["base"], "error": c["error"],
                       "frames_before": decoded})
    (out / "catalogue.json").write_text(json.dumps(
        {"format": CATALOGUE_FORMAT, "version": 1, "cases": listed}, indent=1) + "\n")
    return listed
