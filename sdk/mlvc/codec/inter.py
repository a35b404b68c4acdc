"""Inter (P) frames: block motion compensation from the previous decoded picture, and the
motion-compensated residual coded with the package's residual networks (or, in a package
without them, the intra networks; docs/bitstream.md §4b).

Motion vectors are integers in whole or half pixels; compensation is an integer copy or an
integer bilinear average with edge clamping, so the prediction is identical on every decoder;
everything that decides symbols stays on the exact parse path.  The encoder searches on a luma
proxy, (R + 2G + B) / 4 (hierarchical search, then half-pixel refinement).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..entropy import rans
from ..entropy.tables import CdfTables
from ..errors import CorruptStreamError
from .intra import IntraCodec
from .sad import block_sads, mv_block_sads

BLOCK = 16
PAD = BLOCK + 2        # compensate(): border of the padded reference (>= BLOCK)
RESIDUAL_BIT = 1       # mode bit 0: a coded residual follows the motion substream
HALF_PEL_BIT = 2       # mode bit 1: vectors are in half pixels (bilinear interpolation)
MODES = (0, 1, 2, 3)   # 0: skip, 1: residual (whole pixels); 2, 3: the same in half pixels


def block_grid(h: int, w: int) -> tuple[int, int]:
    return -(-h // BLOCK), -(-w // BLOCK)


def compensate(ref: np.ndarray, mv: np.ndarray, half_pel: bool = False) -> np.ndarray:
    """Prediction: for each 16x16 block, the block of `ref` (H x W x C, or H x W) displaced by
    its vector (dy, dx), coordinates clamped to the picture (edge replication).  mv: [by, bx, 2]
    int, in whole pixels, or with `half_pel` in half pixels: with iy = dy >> 1, fy = dy & 1 (and
    the same for x) the prediction is the integer bilinear average
    (A(2-fy)(2-fx) + B(2-fy)fx + C fy(2-fx) + D fy fx + 2) >> 2 of the four clamped neighbours
    A = ref[y+iy, x+ix], B = ref[y+iy, x+ix+1], C = ref[y+iy+1, x+ix], D = ref[y+iy+1, x+ix+1].

    How (same output as clamping every coordinate): the picture is edge-padded by PAD >= 17
    pixels once (PAD >= 16 is enough), and each block's 17 x 17 source window is cut from the padded picture at the
    block's displaced corner clamped to [-PAD, size - 1 + PAD - 16].  A window clamped on a side
    lies wholly in that side's replicated border, so it holds the same pixels as clamped
    coordinates would.  One gather of whole windows instead of four per-pixel gathers."""
    h, w = ref.shape[:2]
    return np.ascontiguousarray(_predict_blocks(ref, mv, half_pel)[:h, :w])


def _predict_blocks(ref: np.ndarray, mv: np.ndarray, half_pel: bool) -> np.ndarray:
    """compensate() over the whole block grid (by * 16 x bx * 16, past the picture's edge too)."""
    h, w = ref.shape[:2]
    by, bx = mv.shape[:2]
    shift = 1 if half_pel else 0
    iy, ix = mv[..., 0].astype(np.int64) >> shift, mv[..., 1].astype(np.int64) >> shift
    oy = np.arange(by, dtype=np.int64)[:, None] * BLOCK + iy
    ox = np.arange(bx, dtype=np.int64)[None, :] * BLOCK + ix
    oy = np.clip(oy, -PAD, h - 1 + PAD - BLOCK) + PAD
    ox = np.clip(ox, -PAD, w - 1 + PAD - BLOCK) + PAD
    chan = ref.shape[2:]
    padded = np.pad(ref, ((PAD, PAD), (PAD, PAD)) + ((0, 0),) * len(chan), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(padded, (BLOCK + 1, BLOCK + 1), axis=(0, 1))
    blocks = win[oy, ox]                        # [by, bx, (C,) 17, 17]
    if chan:
        blocks = np.moveaxis(blocks, 2, -1)     # [by, bx, 17, 17, C]
    if half_pel:
        fy = (mv[..., 0] & 1).astype(np.int16).reshape(by, bx, 1, 1, *([1] * len(chan)))
        fx = (mv[..., 1] & 1).astype(np.int16).reshape(by, bx, 1, 1, *([1] * len(chan)))
        b = blocks.astype(np.int16)
        acc = b[:, :, :-1, :-1] * ((2 - fy) * (2 - fx))     # 4 * 255 + 2 fits int16
        acc += b[:, :, :-1, 1:] * ((2 - fy) * fx)
        acc += b[:, :, 1:, :-1] * (fy * (2 - fx))
        acc += b[:, :, 1:, 1:] * (fy * fx)
        acc += 2
        acc >>= 2
        pred = acc.astype(ref.dtype)
    else:
        pred = blocks[:, :, :-1, :-1]
    return pred.swapaxes(1, 2).reshape(by * BLOCK, bx * BLOCK, *chan)


def luma(rgb: np.ndarray) -> np.ndarray:
    r = rgb.astype(np.int32)
    return (r[..., 0] + 2 * r[..., 1] + r[..., 2]) >> 2


MV_COST = 4        # SAD units per pixel of displacement: keeps the field smooth (cheaper vectors)
COARSE = 4         # the coarse search runs on 4x4-averaged luma (a 16x16 block is 4x4 there)
REFINE = 3         # full-resolution search window around zero
PROPAGATE = 2      # passes of neighbour-vector candidates


def _offsets(radius: int) -> list[tuple[int, int]]:
    """Every (dy, dx) with |dy|, |dx| <= radius, smallest |dy| + |dx| first (tie order)."""
    return sorted(((dy, dx) for dy in range(-radius, radius + 1)
                   for dx in range(-radius, radius + 1)), key=lambda v: (abs(v[0]) + abs(v[1]), v))


def _keep_better(best: np.ndarray, mv: np.ndarray, cost: np.ndarray, cand) -> None:
    """Per block, take candidate vector(s) `cand` where `cost` beats `best` (ties keep the
    earlier candidate), in place."""
    better = cost < best
    best[better] = cost[better]
    mv[better] = cand[better] if isinstance(cand, np.ndarray) else cand


def _full_search(c: np.ndarray, r: np.ndarray, block: int, search: int):
    """Exhaustive block matching of `c` against `r` (both already padded to whole blocks) over
    +-search; ties go to the smaller vector.  Returns (best cost, mv) per block."""
    ph, pw = c.shape
    by, bx = ph // block, pw // block
    rp = np.pad(r, search, mode="edge")
    best = np.full((by, bx), np.iinfo(np.int64).max, np.int64)
    mv = np.zeros((by, bx, 2), np.int32)
    for dy, dx in _offsets(search):
        shifted = rp[search + dy:search + dy + ph, search + dx:search + dx + pw]
        _keep_better(best, mv, block_sads(c, shifted, block) + MV_COST * (abs(dy) + abs(dx)),
                     (dy, dx))
    return best, mv


def estimate_motion(cur: np.ndarray, ref: np.ndarray, search: int = 32) -> np.ndarray:
    """Hierarchical block matching on luma (SAD + MV_COST * |mv|_1), vectors up to about
    +-search pixels: a full search over +-search/4 on 4x4-averaged luma, then full-resolution
    searches of +-COARSE/2 around the coarse vector and of +-REFINE around zero (so small
    motion is not lost to the coarse grid), then the neighbours' vectors as candidates and a
    +-1 refinement.  Deterministic integer arithmetic; ties go to the earlier, smaller
    candidate so static content gets zero motion."""
    h, w = cur.shape[:2]
    by, bx = block_grid(h, w)
    ph, pw = by * BLOCK, bx * BLOCK
    c = np.pad(luma(cur), ((0, ph - h), (0, pw - w)), mode="edge")
    rl = luma(ref)
    r = np.pad(rl, ((0, ph - h), (0, pw - w)), mode="edge")

    def down(a):
        return a.reshape(ph // COARSE, COARSE, pw // COARSE, COARSE).sum(axis=(1, 3))

    _, coarse = _full_search(down(c), down(r), BLOCK // COARSE, -(-search // COARSE))
    coarse *= COARSE
    # around zero: one uniform shift for all blocks (fast slices); around the coarse vector:
    # +-COARSE/2 covers the coarse grid's spacing (per-block gathers)
    best, mv = _full_search(c, r, BLOCK, REFINE)

    def consider(cand):
        # prediction with the decoder's clamping, over the whole padded block grid
        cost = (mv_block_sads(c, rl, cand, BLOCK, PAD, lambda r, m: _predict_blocks(r, m, False))
                + MV_COST * np.abs(cand).sum(2))
        _keep_better(best, mv, cost, cand)

    for dy, dx in _offsets(COARSE // 2):
        consider(coarse + np.array((dy, dx), np.int32))
    # where the coarse level was ambiguous (fine texture averages away), a neighbour's vector
    # usually is the block's own: propagate them, then refine +-1 around the result
    for _ in range(PROPAGATE):
        p = np.pad(mv, ((1, 1), (1, 1), (0, 0)), mode="edge")
        for nb in (p[1:-1, :-2], p[:-2, 1:-1], p[1:-1, 2:], p[2:, 1:-1]):
            consider(nb.copy())
    centre = mv.copy()
    for dy, dx in _offsets(1)[1:]:
        consider(centre + np.array((dy, dx), np.int32))
    return mv


def refine_half_pel(cur: np.ndarray, ref: np.ndarray, mv: np.ndarray) -> np.ndarray:
    """Half-pixel refinement of whole-pixel vectors: each block tries the 8 half-pixel
    neighbours of 2 * mv on luma (SAD of the interpolated prediction + MV_COST / 2 per half
    pixel).  Returns vectors in half pixels."""
    h, w = cur.shape[:2]
    by, bx = mv.shape[:2]
    ph, pw = by * BLOCK, bx * BLOCK
    c = np.pad(luma(cur), ((0, ph - h), (0, pw - w)), mode="edge")
    rl = luma(ref)
    centre = 2 * mv.astype(np.int32)
    best = np.full((by, bx), np.iinfo(np.int64).max, np.int64)
    out = centre.copy()
    for dy, dx in _offsets(1):
        cand = centre + np.array((dy, dx), np.int32)
        pred = np.pad(compensate(rl, cand, half_pel=True), ((0, ph - h), (0, pw - w)),
                      mode="edge").astype(np.int32)
        cost = block_sads(c, pred, BLOCK) + (MV_COST // 2) * np.abs(cand).sum(axis=2)
        _keep_better(best, out, cost, cand)
    return out


def mv_deltas(mv: np.ndarray) -> np.ndarray:
    """Vectors minus their left neighbour's (the first column: minus the block above)."""
    pred = np.zeros_like(mv)
    pred[:, 1:] = mv[:, :-1]
    pred[1:, 0] = mv[:-1, 0]
    return mv - pred


def mv_from_deltas(d: np.ndarray) -> np.ndarray:
    mv = np.zeros_like(d)
    mv[:, 0] = np.cumsum(d[:, 0], axis=0)
    mv = np.cumsum(np.concatenate([mv[:, :1], d[:, 1:]], axis=1), axis=1)
    return mv


def choose_mv_table(deltas: np.ndarray, tables: CdfTables) -> int:
    """The table (by index) that codes the deltas in the fewest bits."""
    flat = deltas.reshape(-1).astype(np.int64)
    need = int(np.abs(flat).max(initial=0))
    best, best_bits = None, None
    for t in range(tables.num_tables):
        r = int(tables.radius[t])
        if r < need:
            continue
        lo, f = tables.lo_freq(np.full(flat.size, t), flat + r)
        bits = float(np.sum(-np.log2(f / 65536.0)))
        if best_bits is None or bits < best_bits:
            best, best_bits = t, bits
    if best is None:
        raise CorruptStreamError("motion vectors too large for every table")  # pragma: no cover
    return best


@dataclass
class CodedInter:
    payload: bytes
    reconstruction: np.ndarray
    mode: int
    level: int            # the level the frame record carries (the residual's level)


def sse(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.sum((a.astype(np.int32) - b) ** 2))


class InterCodec:
    """P-frame coding.  The encoder decides per frame, by rate-distortion cost
    J = bits + lambda / 3 * SSE (the training objective bpp + lambda * MSE, summed over the
    picture; lambda of the requested level), between skip and the residual coded at the
    requested level or up to `rd_levels - 1` coarser ones.  The frame record carries the chosen
    level, so every decoder already follows the choice: it is the encoder's alone."""

    def __init__(self, intra: IntraCodec, residual: IntraCodec | None = None, search: int = 32,
                 rd_levels: int = 2, half_pel: bool = True):
        self.intra = intra
        self.residual = residual or intra    # the hyperprior codec of the residual
        self.tables = intra.package.tables
        self.search = search
        self.rd_levels = rd_levels
        self.half_pel = half_pel     # False: whole-pixel vectors (modes 0/1; test streams)
        # a package without its training lambdas gets no level search, only skip-or-residual
        self.lambdas = intra.lambdas
        # "auto": the rate-distortion decision; "residual" / "skip" force a mode at the
        # requested level (test streams use them to cover both paths).
        self.mode_policy = "auto"

    def encode(self, rgb: np.ndarray, ref: np.ndarray, level: int) -> CodedInter:
        mv = estimate_motion(rgb, ref, self.search)
        hp = HALF_PEL_BIT if self.half_pel else 0
        if hp:
            mv = refine_half_pel(rgb, ref, mv)
        deltas = mv_deltas(mv)
        t = choose_mv_table(deltas, self.tables)
        flat = deltas.reshape(-1).astype(np.int64)
        tab = np.full(flat.size, t, np.int64)
        mv_bytes = rans.encode(flat + self.tables.radius[t], tab, self.tables)
        head = lambda mode: struct.pack("<BBI", mode, t, len(mv_bytes)) + mv_bytes  # noqa: E731
        pred = compensate(ref, mv, bool(hp))
        skip = CodedInter(head(hp), pred, hp, level)
        if self.mode_policy == "skip":
            return skip
        resid = np.clip(rgb.astype(np.int16) - pred, -128, 127).astype(np.int8)
        y = self.residual.analyse(resid)
        lam = self.lambdas.get(level)
        if self.mode_policy == "residual" or lam is None:
            cand = [level]
        else:
            cand = [v for v in sorted(self.intra.package.levels, reverse=True)
                    if v <= level][:max(1, self.rd_levels)]
        options = []
        for lv in cand:
            payload_res, rec_res, _, _ = self.residual.encode_signed(resid, lv, y)
            coded = np.clip(pred.astype(np.int16) + rec_res, 0, 255).astype(np.uint8)
            options.append(CodedInter(head(hp | RESIDUAL_BIT) + payload_res, coded,
                                      hp | RESIDUAL_BIT, lv))
        if self.mode_policy == "residual":
            return options[0]
        options.append(skip)
        if lam is None:
            # no lambda known: code the residual only when it lowers the error
            return min(options, key=lambda c: sse(c.reconstruction, rgb))
        return min(options, key=lambda c: 8 * len(c.payload) + lam / 3.0 * sse(c.reconstruction,
                                                                               rgb))

    def decode(self, payload: bytes, ref: np.ndarray, h: int, w: int, level: int) -> np.ndarray:
        if len(payload) < 6:
            raise CorruptStreamError("inter payload truncated")
        mode, t, mvlen = struct.unpack_from("<BBI", payload, 0)
        if mode not in MODES:
            raise CorruptStreamError(f"unknown inter mode {mode}")
        if t >= self.tables.num_tables:
            raise CorruptStreamError(f"motion table {t} does not exist")
        if mvlen > len(payload) - 6:
            raise CorruptStreamError("inter payload: motion substream longer than the payload")
        by, bx = block_grid(h, w)
        n = by * bx * 2
        tab = np.full(n, t, np.int64)
        k = rans.decode(memoryview(payload)[6:6 + mvlen], tab, self.tables)
        deltas = (k - self.tables.radius[t]).reshape(by, bx, 2).astype(np.int32)
        mv = mv_from_deltas(deltas)
        pred = compensate(ref, mv, bool(mode & HALF_PEL_BIT))
        rest = memoryview(payload)[6 + mvlen:]
        if not mode & RESIDUAL_BIT:
            if len(rest):
                raise CorruptStreamError("skip frame carries residual bytes")
            return pred
        res = self.residual.decode_signed(bytes(rest), h, w, level)
        return np.clip(pred.astype(np.int16) + res, 0, 255).astype(np.uint8)
