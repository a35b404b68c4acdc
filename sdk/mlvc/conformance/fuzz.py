"""Seeded mutation fuzzing of the container parser and the decoder.

    python -m mlvc.conformance.fuzz [--cases 100000] [--seed 1] [--backend B]

Mutations of the bundled vectors: bit flips, byte overwrites, truncation at every byte, inserted
and deleted bytes, random bytes, absurd declared sizes / frame counts / lengths; half of the
mutants get their checksums recomputed so that the record, rANS and parse-path checks behind
the CRCs are reached.  One case in ten is instead a valid stream re-coded from hostile symbols
(`Recoder`), which must decode.  Every case must end in a typed `MLVCError` or a clean decode, within the
per-case time limit and the process memory limit.  Anything else is counted as a failure.
"""
from __future__ import annotations

import argparse
import json
import resource
import signal
import struct
import sys
import time

import numpy as np

from ..bitstream.container import (HEADER_FIELDS, HEADER_SIZE, RECORD_FIELDS, RECORD_HEADER_SIZE,
                                   record_offsets, reseal_header, reseal_record)
from ..errors import MLVCError


class _Timeout(Exception):
    pass


def _fix_crcs(d: bytearray) -> bytearray:
    if len(d) >= HEADER_SIZE:
        reseal_header(d)
    for off in record_offsets(d):
        reseal_record(d, off)
    return d


def mutate(seed_stream: bytes, rng: np.random.Generator, case: int) -> bytes:
    d = bytearray(seed_stream)
    kind = case % 8
    if kind == 0:                                   # truncation, sweeping every byte
        return bytes(d[:case // 8 % (len(d) + 1)])
    if kind == 1:                                   # random bytes (some with a valid magic)
        junk = rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        return (b"MLVC\x01" + junk) if rng.random() < 0.5 else junk
    if kind == 2:                                   # absurd header fields, checksum fixed
        field, fmt = [("width", "<H"), ("height", "<H"), ("frame_count", "<I"),
                      ("fps_num", "<I"), ("fps_den", "<I")][int(rng.integers(0, 5))]
        value = int(rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, int(rng.integers(0, 70000))]))
        struct.pack_into(fmt, d, HEADER_FIELDS[field],
                         value & (0xFFFF if fmt == "<H" else 0xFFFFFFFF))
        return bytes(reseal_header(d))
    if kind == 3:     # absurd record / substream lengths (the record's, the z substream's,
        #               the first rANS lane count and word count of a payload)
        off = HEADER_SIZE + int(rng.choice([RECORD_FIELDS["length"], RECORD_HEADER_SIZE,
                                            RECORD_HEADER_SIZE + 4, RECORD_HEADER_SIZE + 6]))
        if off + 4 <= len(d):
            struct.pack_into("<I", d, off, int(rng.choice([0, 1, 0xFFFFFFFF, 1 << 31,
                                                          int(rng.integers(0, 5000))])))
        return bytes(_fix_crcs(d))
    n = int(rng.integers(1, 8))
    for _ in range(n):
        if not d:
            break
        pos = int(rng.integers(0, len(d)))
        op = int(rng.integers(0, 4))
        if op == 0:
            d[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:
            d[pos] = int(rng.integers(0, 256))
        elif op == 2:
            del d[pos:pos + int(rng.integers(1, 16))]
        else:
            d[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    return bytes(_fix_crcs(d)) if kind >= 6 else bytes(d)


class Recoder:
    """Structurally valid streams with hostile symbols: every record of a seed stream is coded
    again from symbols drawn at the tables' extremes (and at random), through the package's own
    hyper-synthesis, so that the rANS end-state and length checks pass and decoding reaches the
    entropy-parameter clamps, the latent rebuild, g_s and motion compensation with vectors far
    outside the picture.  Such a stream is valid: it must decode (with hashes unchecked)."""

    def __init__(self, backend: str | None):
        from ..backends.registry import resolve
        from ..codec.hyperprior import HyperpriorCodec
        from ..package.loader import load_package
        spec = resolve(backend)
        self.intra = HyperpriorCodec(load_package(None), spec, spec)
        self.residual = self.intra.residual_codec() or self.intra
        self.tables = self.intra.package.tables

    def _symbols(self, radius: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        style = int(rng.integers(0, 4))
        if style == 0:
            return radius.copy()
        if style == 1:
            return -radius
        if style == 2:
            return np.where(rng.random(radius.shape) < 0.5, -radius, radius)
        return np.floor(rng.random(radius.shape) * (2 * radius + 1)).astype(np.int64) - radius

    def _latents(self, codec, h: int, w: int, level: int, rng) -> bytes:
        from ..bitstream.intra_syntax import write_intra_payload
        y_shape, z_shape = codec.latent_shapes(h, w)
        zt = codec.z_tables(z_shape)
        sz = self._symbols(self.tables.radius[zt].astype(np.int64), rng)
        z_hat = sz.reshape(z_shape).astype(np.int8)     # wraps as every decoder does
        mu, t = codec.entropy_parameters(z_hat, level)
        tf = t.reshape(-1).astype(np.int64)
        sy = self._symbols(self.tables.radius[tf].astype(np.int64), rng)
        return write_intra_payload(sz, zt, sy, tf, self.tables)

    def _inter(self, h: int, w: int, level: int, rng) -> bytes:
        from ..bitstream import inter_syntax as syn
        mode = int(rng.choice(syn.GRID_MODES + syn.TREE_MODES))
        t = int(rng.integers(0, self.tables.num_tables))
        if mode in syn.TREE_MODES:
            return self._tree(h, w, level, mode, t, rng)
        by, bx = syn.grid_shape(h, w)
        deltas = self._symbols(np.full(by * bx * 2, self.tables.radius[t], np.int64), rng)
        mv = syn.grid_from_deltas(deltas.reshape(by, bx, 2))
        res = (self._latents(self.residual, h, w, level, rng) if mode & syn.RESIDUAL_BIT
               else b"")
        return syn.write_grid_payload(mode, t, mv, self.tables, res)

    def _tree(self, h: int, w: int, level: int, mode: int, t: int, rng) -> bytes:
        """A valid block-tree payload with hostile choices: random splits, vector differences
        at the table's extremes (turned back where a vector would leave -2048..2047), random
        merges, skips, frequencies (1..65535, through the encoder's counts) and strength."""
        from ..bitstream import inter_syntax as syn
        r = int(self.tables.radius[t])
        sym = syn.TreeSymbols()
        bmap = syn.BlockMap(h, w)
        p_split = float(rng.random())

        def put(kind, value):
            sym.kinds.append(kind)
            sym.values.append(int(value))

        def split_of(y0, x0, size, depth):
            s = int(rng.random() < p_split)
            put(depth, s)
            return s

        def leaf(y0, x0, size):
            cands = bmap.candidates(y0, x0, size)
            merge = int(rng.random() < 0.3)
            put(syn.KIND_MERGE, merge)
            if merge:
                idx = int(rng.integers(0, len(cands)))
                if len(cands) == 2:
                    put(syn.KIND_MIDX, idx)
                mv = cands[idx]
            else:
                py, px = bmap.predictor(y0, x0, size)
                d = [int(v) for v in self._symbols(np.full(2, r, np.int64), rng)]
                for c, p in enumerate((py, px)):
                    if not -syn.MV_LIMIT <= p + d[c] < syn.MV_LIMIT:
                        d[c] = -d[c]
                put(syn.KIND_MV, d[0])
                put(syn.KIND_MV, d[1])
                mv = (py + d[0], px + d[1])
            skip = int(rng.random() < 0.5) if mode == 5 else 1
            if mode == 5:
                put(syn.KIND_SKIP, skip)
            bmap.add(syn.PredictionBlock(y0, x0, size, mv, skip))
        syn.walk_tree(h, w, split_of, leaf)
        res = self._latents(self.residual, h, w, level, rng) if mode == 5 else b""
        return syn.write_block_tree(sym, mode, int(rng.integers(0, 32)), self.tables,
                                    mv_table=t, residual=res)

    def recode(self, stream: bytes, rng: np.random.Generator) -> bytes:
        from ..bitstream.container import FrameRecord, StreamHeader, iter_records
        header = StreamHeader.unpack(stream)
        out = bytearray(stream[:HEADER_SIZE])
        for rec in iter_records(stream, header):
            h, w = header.height, header.width
            payload = (self._latents(self.intra, h, w, rec.quality, rng) if rec.frame_type == "I"
                       else self._inter(h, w, rec.quality, rng))
            out += FrameRecord(rec.frame_type, rec.quality, rec.picture_md5, payload).pack()
        return bytes(out)


def run(cases: int, seed: int, backend: str | None, time_limit: float = 5.0,
        seeds: list[bytes] | None = None) -> dict:
    from ..api import Decoder
    from .vectors import bundled_vectors_path, load_manifest
    if seeds is None:
        vec = bundled_vectors_path()
        manifest = load_manifest(vec)
        seeds = [(vec / e["stream"]).read_bytes() for e in manifest["vectors"]
                 if e["width"] * e["height"] <= 64 * 64 or e["width"] <= 2]
    rng = np.random.default_rng(seed)
    counts = {"cases": 0, "typed_errors": 0, "decoded": 0, "recoded_decoded": 0, "failures": 0,
              "timeouts": 0}
    by_kind: dict[str, int] = {}
    failures = []
    slowest = 0.0

    def alarm(*_):
        raise _Timeout()
    signal.signal(signal.SIGALRM, alarm)
    t_start = time.perf_counter()
    recoder = Recoder(backend)
    for i in range(cases):
        # one case in ten is a valid stream of hostile symbols (Recoder), the rest byte mutants
        valid = i % 10 == 9
        data = recoder.recode(seeds[i % len(seeds)], rng) if valid else mutate(
            seeds[i % len(seeds)], rng, i)
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, time_limit)
        try:
            Decoder(data, backend=backend, verify_hashes=not valid).decode_all()
            counts["decoded"] += 1
            counts["recoded_decoded"] += valid
        except MLVCError as exc:
            if valid:       # a valid stream refused: a decoder bug
                counts["failures"] += 1
                failures.append({"case": i, "error": f"valid recoded stream refused: {exc}"})
            counts["typed_errors"] += 1
            by_kind[exc.code] = by_kind.get(exc.code, 0) + 1
        except _Timeout:
            counts["timeouts"] += 1
            failures.append({"case": i, "error": "timeout"})
        except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
            counts["failures"] += 1
            failures.append({"case": i, "error": f"{type(exc).__name__}: {exc}"[:300]})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        slowest = max(slowest, time.perf_counter() - t0)
        counts["cases"] += 1
    return {**counts, "error_kinds": by_kind, "first_failures": failures[:10],
            "slowest_case_s": round(slowest, 3),
            "seconds": round(time.perf_counter() - t_start, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description="fuzz the MLVC decoder")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--memory-mb", type=int, default=2048, help="address-space limit")
    a = ap.parse_args()
    limit = a.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    report = run(a.cases, a.seed, a.backend)
    print(json.dumps(report, indent=1))
    ok = report["failures"] == 0 and report["timeouts"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
