"""The inter (P) payload syntax, read and written in one place (docs/bitstream.md §4b, §4c).

Bytes and symbols only, like container.py: no networks, no pictures.  The codec
(codec/inter.py, codec/blocktree.py), the fuzzer, the golden-file writer and the hostile-stream
generator all use these readers and writers instead of spelling the layouts out again.

* §4b, modes 0-3: `GridHeader` (u8 mode, u8 mv_table, u32 motion length), 16x16 vectors coded as
  deltas (`grid_deltas` / `grid_from_deltas`).
* §4c, modes 4-5: `TreeHeader` (19 bytes), the block tree read from a `rans.RansReader`
  (`read_block_tree`) and written to symbols (`block_tree_symbols`, `write_block_tree`), with
  merge candidates and the median predictor of `BlockMap`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from .. import native
from ..entropy import rans
from ..errors import CorruptStreamError, InvalidArgumentError

# -- §4b: the 16x16 grid (modes 0-3) -----------------------------------------------------------
GRID_BLOCK = 16
GRID_MODES = (0, 1, 2, 3)
RESIDUAL_BIT = 1       # mode bit 0: a coded residual follows the motion substream
HALF_PEL_BIT = 2       # mode bit 1: vectors in half pixels
_GRID = struct.Struct("<BBI")


def grid_shape(h: int, w: int) -> tuple[int, int]:
    return -(-h // GRID_BLOCK), -(-w // GRID_BLOCK)


@dataclass(frozen=True)
class GridHeader:
    mode: int
    mv_table: int
    motion_len: int
    SIZE = _GRID.size

    def pack(self) -> bytes:
        return _GRID.pack(self.mode, self.mv_table, self.motion_len)


def grid_deltas(mv: np.ndarray) -> np.ndarray:
    """Vectors minus their left neighbour's (the first column: minus the block above)."""
    pred = np.zeros_like(mv)
    pred[:, 1:] = mv[:, :-1]
    pred[1:, 0] = mv[:-1, 0]
    return mv - pred


def grid_from_deltas(d: np.ndarray) -> np.ndarray:
    mv = np.zeros_like(d)
    mv[:, 0] = np.cumsum(d[:, 0], axis=0)
    return np.cumsum(np.concatenate([mv[:, :1], d[:, 1:]], axis=1), axis=1)


def write_grid_payload(mode: int, mv_table: int, mv: np.ndarray, tables,
                       residual: bytes = b"") -> bytes:
    """A §4b payload: header, motion substream of the vectors' deltas, the residual."""
    flat = grid_deltas(mv).reshape(-1).astype(np.int64)
    motion = rans.encode(flat + tables.radius[mv_table], np.full(flat.size, mv_table), tables)
    return GridHeader(mode, mv_table, len(motion)).pack() + motion + residual


def read_grid_header(payload: bytes | memoryview) -> GridHeader:
    """The §4b header fields, unchecked (read_grid_payload checks them)."""
    if len(payload) < GridHeader.SIZE:
        raise CorruptStreamError("inter payload truncated")
    return GridHeader(*_GRID.unpack_from(payload, 0))


def read_grid_payload(payload: bytes | memoryview, h: int, w: int, tables
                      ) -> tuple[GridHeader, np.ndarray, memoryview]:
    """(header, vectors [BY, BX, 2] in the mode's unit, the bytes after the motion substream)."""
    view = memoryview(payload)
    hdr = read_grid_header(view)
    if hdr.mode not in GRID_MODES:
        raise CorruptStreamError(f"unknown inter mode {hdr.mode}")
    if hdr.mv_table >= tables.num_tables:
        raise CorruptStreamError(f"motion table {hdr.mv_table} does not exist")
    if hdr.motion_len > len(view) - GridHeader.SIZE:
        raise CorruptStreamError("inter payload: motion substream longer than the payload")
    by, bx = grid_shape(h, w)
    n = by * bx * 2
    start = GridHeader.SIZE
    k = rans.decode(view[start:start + hdr.motion_len], np.full(n, hdr.mv_table, np.int64),
                    tables)
    mv = grid_from_deltas((k - tables.radius[hdr.mv_table]).reshape(by, bx, 2).astype(np.int32))
    return hdr, mv, view[start + hdr.motion_len:]


# -- §4c: the block tree (modes 4-5) -----------------------------------------------------------
TREE_MODES = (4, 5)
TREE_RESIDUAL_MODE = 5
CTU = 64
MIN_PB = 8
MV_LIMIT = 2048            # vector components in -2048..2047 (quarter pixels)
MAX_DEBLOCK = 31
_TREE = struct.Struct("<BBHHHHHHBI")    # 19 bytes
# its fields' byte offsets, named for the tools that edit payloads (hostile streams)
TREE_FIELDS = {"mode": 0, "mv_table": 1, "f_split0": 2, "f_split1": 4, "f_split2": 6,
               "f_merge": 8, "f_midx": 10, "f_skip": 12, "deblock": 14, "substream_len": 15}


def payload_mode(payload: bytes | memoryview) -> int | None:
    """The inter payload's mode byte (None for an empty payload)."""
    return payload[0] if len(payload) else None


@dataclass(frozen=True)
class TreeHeader:
    mode: int                         # 4: prediction only, 5: + residual
    mv_table: int
    f_split: tuple[int, int, int]     # frequency of split = 0 at depth 0, 1, 2
    f_merge: int                      # frequency of merge = 0
    f_midx: int                       # frequency of merge index = 0
    f_skip: int                       # frequency of skip = 0 (mode 5)
    deblock: int                      # tc, 0 = off
    substream_len: int = 0
    SIZE = _TREE.size

    def pack(self) -> bytes:
        return _TREE.pack(self.mode, self.mv_table, *self.f_split, self.f_merge, self.f_midx,
                          self.f_skip, self.deblock, self.substream_len)

    @classmethod
    def parse(cls, payload: bytes | memoryview, num_tables: int
              ) -> tuple["TreeHeader", memoryview, memoryview]:
        """(header, block substream, rest) with every header check of §4c."""
        view = memoryview(payload)
        if len(view) < cls.SIZE:
            raise CorruptStreamError("block-tree payload truncated")
        v = _TREE.unpack_from(view, 0)
        hdr = cls(v[0], v[1], (v[2], v[3], v[4]), v[5], v[6], v[7], v[8], v[9])
        if hdr.mode not in TREE_MODES:
            raise CorruptStreamError(f"unknown inter mode {hdr.mode}")
        if hdr.mv_table >= num_tables:
            raise CorruptStreamError(f"motion table {hdr.mv_table} does not exist")
        if 0 in (*hdr.f_split, hdr.f_merge, hdr.f_midx, hdr.f_skip):
            raise CorruptStreamError("block-tree payload: a binary frequency of 0")
        if hdr.deblock > MAX_DEBLOCK:
            raise CorruptStreamError(f"deblocking strength {hdr.deblock} above {MAX_DEBLOCK}")
        if hdr.substream_len > len(view) - cls.SIZE:
            raise CorruptStreamError("block-tree payload: block substream longer than the "
                                     "payload")
        end = cls.SIZE + hdr.substream_len
        rest = view[end:]
        if hdr.mode == 4 and len(rest):
            raise CorruptStreamError("prediction-only frame carries residual bytes")
        return hdr, view[cls.SIZE:end], rest


@dataclass
class PredictionBlock:
    y0: int
    x0: int
    size: int
    mv: tuple[int, int]            # (dy, dx) in quarter pixels
    skip: int = 1                  # 1: prediction only (always in mode 4)
    merge: int = 0                 # coded as a merge candidate
    merge_idx: int = 0


def median3(a: int, b: int, c: int) -> int:
    return max(min(a, b), min(max(a, b), c))


class BlockMap:
    """Which PB covers each 8x8 unit, filled in coding order; neighbours, merge candidates and
    the median vector predictor of §4c.  (Units in Python lists: one lookup per neighbour is
    the hot path of the syntax, and list indexing is several times faster than NumPy's.)"""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.uh, self.uw = -(-h // MIN_PB), -(-w // MIN_PB)
        self._owner = [[-1] * self.uw for _ in range(self.uh)]
        self._owner_np: np.ndarray | None = None
        self.blocks: list[PredictionBlock] = []

    @property
    def owner(self) -> np.ndarray:
        """[ceil(H/8), ceil(W/8)] int32: the index (in coding order) of each unit's PB."""
        if self._owner_np is not None:
            return self._owner_np
        return np.array(self._owner, np.int32).reshape(self.uh, self.uw)

    def at(self, y: int, x: int) -> PredictionBlock | None:
        """The PB containing pixel (y, x) when that pixel is inside the picture."""
        if 0 <= y < self.h and 0 <= x < self.w:
            i = self._owner[y >> 3][x >> 3]
            return self.blocks[i] if i >= 0 else None
        return None

    def neighbours(self, y0: int, x0: int, size: int):
        """(A, B, D): left, above (at the block's last column), above-left; None: unavailable."""
        return (self.at(y0, x0 - 1), self.at(y0 - 1, x0 + size - 1), self.at(y0 - 1, x0 - 1))

    def candidates(self, y0: int, x0: int, size: int) -> list[tuple[int, int]]:
        a, b = self.at(y0, x0 - 1), self.at(y0 - 1, x0 + size - 1)
        cands: list[tuple[int, int]] = []
        if a is not None:
            cands.append(a.mv)
        if b is not None and b.mv not in cands:
            cands.append(b.mv)
        if len(cands) < 2 and (0, 0) not in cands:
            cands.append((0, 0))
        return cands[:2]

    def predictor(self, y0: int, x0: int, size: int) -> tuple[int, int]:
        vs = [nb.mv if nb is not None else (0, 0) for nb in self.neighbours(y0, x0, size)]
        return (median3(vs[0][0], vs[1][0], vs[2][0]), median3(vs[0][1], vs[1][1], vs[2][1]))

    def add(self, pb: PredictionBlock) -> None:
        self._owner_np = None            # the lists change: a cached array would be stale
        i = len(self.blocks)
        u0, v0 = pb.y0 >> 3, pb.x0 >> 3
        n = pb.size >> 3
        v1 = min(v0 + n, self.uw)
        for u in range(u0, min(u0 + n, self.uh)):
            row = self._owner[u]
            row[v0:v1] = [i] * (v1 - v0)
        self.blocks.append(pb)


def walk_tree(h: int, w: int, split_of, leaf) -> None:
    """The §4c traversal: CTUs in raster order, each quadtree depth first; `split_of(y0, x0,
    size, depth)` gives the split flag of a node larger than 8, `leaf(y0, x0, size)` handles a
    PB."""
    def node(y0, x0, size, depth):
        if y0 >= h or x0 >= w:
            return
        if size > MIN_PB and split_of(y0, x0, size, depth):
            s = size // 2
            node(y0, x0, s, depth + 1)
            node(y0, x0 + s, s, depth + 1)
            node(y0 + s, x0, s, depth + 1)
            node(y0 + s, x0 + s, s, depth + 1)
        else:
            leaf(y0, x0, size)
    for cy in range(0, h, CTU):
        for cx in range(0, w, CTU):
            node(cy, cx, CTU, 0)


def max_tree_symbols(h: int, w: int) -> int:
    """More symbols than any block tree of an h x w picture reads (a bound for RansReader)."""
    units = -(-h // MIN_PB) * -(-w // MIN_PB)
    return 6 * units + 2 * (-(-h // CTU) * -(-w // CTU)) * 21 + 16


_KERNEL = __import__("pathlib").Path(__file__).with_name("tree_kernel.c")
_KERNEL_FUNCTIONS = {
    "mlvc_read_block_tree": (native.I64, [native.I64P, native.I64, native.U16P, native.I64,
                                          native.I64, native.I64P, native.I64, native.I64,
                                          native.I64, native.I64, native.I64, native.I64P,
                                          native.I64, native.I64, native.I64, native.I32P,
                                          native.I32P, native.I64, native.I64P]),
    "mlvc_tree_symbols": (native.I64, [native.I32P, native.I64P, native.I64, native.I64,
                                       native.I64, native.I8P, native.I32P, native.I64,
                                       native.I32P, native.I32P, native.I64P, native.I64,
                                       native.I64P]),
}
_ERRORS = {-2: "rANS substream ran out of words", -3: "rANS substream has no lanes for a symbol",
           -4: "rANS: more symbols than the syntax allows",
           -5: "a vector outside -2048..2047", -6: "more blocks than 8x8 units"}


def read_block_tree_native(reader: "rans.RansReader", hdr: TreeHeader, h: int, w: int
                           ) -> BlockMap | None:
    """read_block_tree in C (tree_kernel.c), the same blocks and errors; None without it."""
    lib = native.load(_KERNEL, _KERNEL_FUNCTIONS)
    if lib is None or reader.cdf is None:
        return None
    states, words = reader.native_state()
    lut = reader.cdf.slot_lookup()
    uh, uw = -(-h // MIN_PB), -(-w // MIN_PB)
    owner = np.full((uh, uw), -1, np.int32)
    cap = uh * uw
    pbs = np.zeros((cap, 8), np.int32)
    fs = np.array(hdr.f_split, np.int64)
    io = np.zeros(3, np.int64)
    max_sym = reader.max_symbols if reader.max_symbols is not None else 1 << 62
    n = lib.mlvc_read_block_tree(
        native.ptr(states), reader.lanes, native.ptr(words, native.U16P), reader.words,
        max_sym, native.ptr(lut), hdr.mv_table, int(reader.cdf.radius[hdr.mv_table]), h, w,
        hdr.mode, native.ptr(fs), hdr.f_merge, hdr.f_midx, hdr.f_skip,
        native.ptr(owner, native.I32P), native.ptr(pbs, native.I32P), cap, native.ptr(io))
    if n < 0:
        raise CorruptStreamError(f"block-tree substream: {_ERRORS.get(n, 'invalid')}")
    reader.resume(states, io[0], io[1], io[2])
    bmap = BlockMap(h, w)
    bmap._owner_np = owner
    bmap.blocks = [PredictionBlock(int(r[0]), int(r[1]), int(r[2]), (int(r[3]), int(r[4])),
                                   int(r[5]), int(r[6]), int(r[7])) for r in pbs[:n].tolist()]
    return bmap


def read_block_tree(reader: "rans.RansReader", hdr: TreeHeader, h: int, w: int
                    ) -> BlockMap:
    """Decode the block syntax of §4c from `reader` (finish() is the caller's)."""
    bmap = BlockMap(h, w)
    t = hdr.mv_table

    def split_of(y0, x0, size, depth):
        return reader.binary(hdr.f_split[depth])

    def leaf(y0, x0, size):
        cands = bmap.candidates(y0, x0, size)
        merge = reader.binary(hdr.f_merge)
        idx = 0
        if merge:
            idx = reader.binary(hdr.f_midx) if len(cands) == 2 else 0
            mv = cands[idx]
        else:
            py, px = bmap.predictor(y0, x0, size)
            dy = reader.signed(t)
            dx = reader.signed(t)
            mv = (py + dy, px + dx)
        skip = reader.binary(hdr.f_skip) if hdr.mode == TREE_RESIDUAL_MODE else 1
        if not all(-MV_LIMIT <= c < MV_LIMIT for c in mv):
            raise CorruptStreamError(f"vector {mv} at ({y0}, {x0}) outside -2048..2047")
        bmap.add(PredictionBlock(y0, x0, size, mv, skip, merge, idx))

    walk_tree(h, w, split_of, leaf)
    return bmap


@dataclass
class TreeSymbols:
    """The block syntax of one picture as symbols, in decoding order: kind (0..2: split at
    depth, 3: merge, 4: merge index, 5: skip, 6: vector component) and value (binary 0/1, or the
    signed vector difference)."""
    kinds: list = field(default_factory=list)
    values: list = field(default_factory=list)
    blocks: BlockMap | None = None
    leaf_ends: list = field(default_factory=list)   # per PB: its symbols end here (skip aside)

    def counts(self, kind: int) -> tuple[int, int]:
        k = np.asarray(self.kinds)
        v = np.asarray(self.values)
        sel = v[k == kind]
        return int(np.count_nonzero(sel == 0)), int(np.count_nonzero(sel != 0))


KIND_MERGE, KIND_MIDX, KIND_SKIP, KIND_MV = 3, 4, 5, 6


def block_tree_symbols(leaves: dict, mode: int, h: int, w: int) -> TreeSymbols:
    """The symbols of a block tree given its leaves {(y0, x0, size): (mv, skip)} (they must tile
    the picture as a §4c quadtree).  A PB whose vector is one of its merge candidates is coded
    as that merge candidate; every other vector as a difference from the median predictor.
    (The walk below is the definition; tree_kernel.c gives the same symbols and PBs.)"""
    out = _tree_symbols_native(leaves, mode, h, w)
    if out is not None:
        return out
    out = TreeSymbols()
    bmap = BlockMap(h, w)

    def put(kind, value):
        out.kinds.append(kind)
        out.values.append(value)

    def split_of(y0, x0, size, depth):
        s = 0 if (y0, x0, size) in leaves else 1
        put(depth, s)
        return s

    def leaf(y0, x0, size):
        if (y0, x0, size) not in leaves:
            raise InvalidArgumentError(f"block tree: no leaf at ({y0}, {x0}) size {size}")
        mv, skip = leaves[(y0, x0, size)]
        mv = (int(mv[0]), int(mv[1]))
        if not all(-MV_LIMIT <= c < MV_LIMIT for c in mv):
            raise InvalidArgumentError(f"block tree: vector {mv} out of range")
        cands = bmap.candidates(y0, x0, size)
        merge = int(mv in cands)
        put(KIND_MERGE, merge)
        idx = 0
        if merge:
            idx = cands.index(mv)
            if len(cands) == 2:
                put(KIND_MIDX, idx)
        else:
            py, px = bmap.predictor(y0, x0, size)
            put(KIND_MV, mv[0] - py)
            put(KIND_MV, mv[1] - px)
        out.leaf_ends.append(len(out.kinds))
        if mode == TREE_RESIDUAL_MODE:
            put(KIND_SKIP, int(skip))
        bmap.add(PredictionBlock(y0, x0, size, mv, int(skip) if mode == 5 else 1, merge, idx))

    walk_tree(h, w, split_of, leaf)
    out.blocks = bmap
    return out


def _tree_symbols_native(leaves: dict, mode: int, h: int, w: int) -> TreeSymbols | None:
    """block_tree_symbols by tree_kernel.c; None without it, or for leaves it does not take
    (the definition then runs, raising its errors)."""
    lib = native.load(_KERNEL, _KERNEL_FUNCTIONS)
    if lib is None or not leaves:
        return None
    try:
        rows = np.array([(y0, x0, size, int(mv[0]), int(mv[1]), int(skip))
                         for (y0, x0, size), (mv, skip) in leaves.items()], np.int64)
    except (OverflowError, TypeError, ValueError, IndexError):
        return None
    y0, x0, size = rows[:, 0], rows[:, 1], rows[:, 2]
    sizes = (MIN_PB, 2 * MIN_PB, 4 * MIN_PB, CTU)
    if not (np.isin(size, sizes).all() and (y0 >= 0).all() and (x0 >= 0).all()
            and (y0 < h).all() and (x0 < w).all() and not (y0 % size).any()
            and not (x0 % size).any()):
        return None                 # leaves the walk never visits: the definition ignores them
    grids = []
    for s in sizes:
        g = np.full((-(-h // s), -(-w // s)), -1, np.int32)
        on = size == s
        g[y0[on] // s, x0[on] // s] = np.flatnonzero(on)
        grids.append(g.reshape(-1))
    grid = np.concatenate(grids)
    vals = np.ascontiguousarray(rows[:, 3:])
    uh, uw = -(-h // MIN_PB), -(-w // MIN_PB)
    cap = uh * uw
    symcap = max_tree_symbols(h, w)
    kinds = np.empty(symcap, np.int8)
    values = np.empty(symcap, np.int32)
    owner = np.empty((uh, uw), np.int32)
    pbs = np.empty((cap, 8), np.int32)
    ends = np.empty(cap, np.int64)
    npb = np.zeros(1, np.int64)
    n = lib.mlvc_tree_symbols(native.ptr(grid, native.I32P), native.ptr(vals), h, w, mode,
                              native.ptr(kinds, native.I8P), native.ptr(values, native.I32P),
                              symcap, native.ptr(owner, native.I32P),
                              native.ptr(pbs, native.I32P), native.ptr(ends), cap,
                              native.ptr(npb))
    if n < 0:
        return None
    bmap = BlockMap(h, w)
    bmap._owner = owner.tolist()
    bmap._owner_np = owner
    bmap.blocks = [PredictionBlock(r[0], r[1], r[2], (r[3], r[4]), r[5], r[6], r[7])
                   for r in pbs[:int(npb[0])].tolist()]
    return TreeSymbols(kinds[:n].tolist(), values[:n].tolist(), bmap,
                       ends[:int(npb[0])].tolist())


def with_skips(sym: TreeSymbols, skips) -> TreeSymbols:
    """Mode-5 symbols from a tree's mode-4 symbols and one skip flag per PB (coding order):
    what block_tree_symbols gives for the same leaves and flags, without walking the tree
    again (the encoder tries the residual after prediction only)."""
    skips = [int(v) for v in skips]
    if len(skips) != len(sym.blocks.blocks):
        raise InvalidArgumentError(f"{len(skips)} skip flags for {len(sym.blocks.blocks)} PBs")
    out = TreeSymbols()
    start = 0
    for end, skip in zip(sym.leaf_ends, skips):
        out.kinds.extend(sym.kinds[start:end])
        out.values.extend(sym.values[start:end])
        out.leaf_ends.append(len(out.kinds))
        out.kinds.append(KIND_SKIP)
        out.values.append(skip)
        start = end
    out.kinds.extend(sym.kinds[start:])
    out.values.extend(sym.values[start:])
    src = sym.blocks
    bmap = BlockMap.__new__(BlockMap)
    bmap.h, bmap.w, bmap.uh, bmap.uw = src.h, src.w, src.uh, src.uw
    bmap._owner, bmap._owner_np = src._owner, src._owner_np
    bmap.blocks = [PredictionBlock(b.y0, b.x0, b.size, b.mv, skip, b.merge, b.merge_idx)
                   for b, skip in zip(src.blocks, skips)]
    out.blocks = bmap
    return out


def binary_frequency(zeros: int, ones: int) -> int:
    """The encoder's frequency of 0 for counted binary decisions (a smoothed estimate; any
    value in 1..65535 is valid)."""
    f = (2 * zeros + 1) * 65536 // (2 * (zeros + ones) + 2)
    return int(min(65535 - 16, max(16, f)))


def choose_tree_table(sym: TreeSymbols, tables) -> int:
    """The vector-difference table that codes the differences in the fewest bits."""
    k = np.asarray(sym.kinds)
    d = np.asarray(sym.values, np.int64)[k == KIND_MV]
    need = int(np.abs(d).max(initial=0))
    best, best_bits = None, None
    for t in range(tables.num_tables):
        r = int(tables.radius[t])
        if r < need:
            continue
        if d.size == 0:
            return t
        _, f = tables.lo_freq(np.full(d.size, t), d + r)
        bits = float(np.sum(-np.log2(f / 65536.0)))
        if best_bits is None or bits < best_bits:
            best, best_bits = t, bits
    if best is None:
        raise InvalidArgumentError("block tree: vector differences too large for every table")
    return best


def write_block_tree(sym: TreeSymbols, mode: int, deblock: int, tables,
                     mv_table: int | None = None, residual: bytes = b"") -> bytes:
    """A §4c payload: header (frequencies from the symbols' counts), block substream,
    residual."""
    if mode not in TREE_MODES or not 0 <= deblock <= MAX_DEBLOCK:
        raise InvalidArgumentError("block tree: mode 4/5 and deblock 0..31")
    if mode == 4 and residual:
        raise InvalidArgumentError("block tree: mode 4 has no residual")
    t = choose_tree_table(sym, tables) if mv_table is None else mv_table
    freqs = [binary_frequency(*sym.counts(k)) for k in range(6)]
    kinds = np.asarray(sym.kinds, np.int64)
    vals = np.asarray(sym.values, np.int64)
    is_mv = kinds == KIND_MV
    f_of = np.asarray(freqs + [1], np.int64)[kinds]
    lo, fr = rans.binary_lo_freq(np.where(is_mv, 0, vals), f_of)
    if np.any(is_mv):
        r = int(tables.radius[t])
        if np.any(np.abs(vals[is_mv]) > r):
            raise InvalidArgumentError("block tree: vector difference outside the table")
        mlo, mf = tables.lo_freq(np.full(int(is_mv.sum()), t), vals[is_mv] + r)
        lo[is_mv], fr[is_mv] = mlo, mf
    sub = rans.encode_lo_freq(lo, fr)
    hdr = TreeHeader(mode, t, (freqs[0], freqs[1], freqs[2]), freqs[KIND_MERGE],
                     freqs[KIND_MIDX], freqs[KIND_SKIP], deblock, len(sub))
    return hdr.pack() + sub + residual


def read_tree_payload(payload: bytes | memoryview, h: int, w: int, tables,
                      native_tree: bool = True) -> tuple[TreeHeader, BlockMap, memoryview]:
    """(header, decoded blocks, residual bytes) of a §4c payload, every check of §4c and §5."""
    hdr, sub, rest = TreeHeader.parse(payload, tables.num_tables)
    reader = rans.RansReader(sub, tables, max_tree_symbols(h, w))
    bmap = read_block_tree_native(reader, hdr, h, w) if native_tree else None
    if bmap is None:
        bmap = read_block_tree(reader, hdr, h, w)
    reader.finish()
    return hdr, bmap, rest
