"""Block-tree inter coding (docs/bitstream.md §4c, modes 4 and 5): the normative quarter-pixel
8-tap prediction and deblocking filter (vectorised NumPy, exact integers), the decoder, and the
reference encoder's decisions (quadtree by rate-distortion cost, quarter-pixel refinement,
merge, per-block skip, deblocking strength).

Per 8x8 unit: every PB is a union of whole 8x8 units of the grid from the picture's top-left,
so the prediction and the edge decisions are computed on unit arrays (vector, skip, PB id).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import native
from ..bitstream import inter_syntax as syn
from ..errors import InvalidArgumentError

FILTERS = np.array([[0, 0, 0, 64, 0, 0, 0, 0],
                    [-1, 4, -10, 58, 17, -5, 1, 0],
                    [-1, 4, -11, 40, 40, -11, 4, -1],
                    [0, 1, -5, 17, 58, -10, 4, -1]], np.int32)
U = syn.MIN_PB
WIN = U + 7                  # an 8x8 unit's source window (3 before, 4 after)
PAD = WIN + 1                # border of the edge-padded reference (>= WIN)


# -- unit fields ---------------------------------------------------------------------------------
@dataclass
class UnitFields:
    """Per 8x8 unit of a decoded block tree: vector (quarter pixels), skip flag, PB index."""
    mv: np.ndarray           # [UH, UW, 2] int32
    skip: np.ndarray         # [UH, UW] int8
    pb: np.ndarray           # [UH, UW] int32


def unit_fields(bmap: syn.BlockMap) -> UnitFields:
    mv = np.array([b.mv for b in bmap.blocks], np.int32).reshape(-1, 2)
    skip = np.array([b.skip for b in bmap.blocks], np.int8)
    pb = bmap.owner
    return UnitFields(mv[pb], skip[pb], pb)


# -- prediction ------------------------------------------------------------------------------
# blocktree_kernel.c: the same integers as predict_numpy / phase_planes_numpy, when native.py
# can build it (about 20x faster; the prediction was a sixth of a 720p P-frame's encode time)
_KERNEL = Path(__file__).with_name("blocktree_kernel.c")
_U8P = native.U8P
_FUNCTIONS = {
    "mlvc_tree_predict": (None, [_U8P, native.I64, native.I64, native.I64, native.I32P,
                                 native.I64, native.I64, _U8P]),
    "mlvc_phase_planes": (None, [native.I32P, native.I64, native.I64, native.I64, _U8P,
                                 native.I32P]),
    "mlvc_unit_sse": (None, [_U8P, _U8P, native.I64, native.I64, native.I64, native.I64P]),
    "mlvc_deblock": (None, [_U8P, native.I64, native.I64, native.I64, _U8P, _U8P, native.I64]),
}


def _kernel():
    return native.load(_KERNEL, _FUNCTIONS)


def predict(ref: np.ndarray, mv_units: np.ndarray) -> np.ndarray:
    """The §4c prediction (predict_numpy's definition), by the C kernel when it is built."""
    lib = _kernel()
    h, w = ref.shape[:2]
    uh, uw = mv_units.shape[:2]
    if lib is None or ref.dtype != np.uint8 or (uh, uw) != (-(-h // U), -(-w // U)):
        return predict_numpy(ref, mv_units)
    src = np.ascontiguousarray(ref)
    mv = np.ascontiguousarray(mv_units, np.int32)
    out = np.empty_like(src)
    c = 1 if src.ndim == 2 else src.shape[2]
    lib.mlvc_tree_predict(native.ptr(src, _U8P), h, w, c, native.ptr(mv, native.I32P), uh, uw,
                          native.ptr(out, _U8P))
    return out


def predict_numpy(ref: np.ndarray, mv_units: np.ndarray) -> np.ndarray:
    """The §4c prediction of an H x W (x C) uint8 reference with one quarter-pixel vector per
    8x8 unit (mv_units [ceil(H/8), ceil(W/8), 2]): per pixel
    h[k] = sum_j c[fx][j] R(y+iy+k-3, x+ix+j-3), pred = clamp((sum_k c[fy][k] h[k] + 2048) >> 12)
    with coordinates clamped to the picture.

    How (the same integers as clamping every coordinate): the picture is edge-padded by PAD
    once and each unit's 15 x 15 source window is cut at its displaced corner, clamped to
    [-PAD, size - 1 + PAD - 14]; a window clamped on a side lies wholly in that side's
    replicated border, so it holds the pixels clamped coordinates would give."""
    h, w = ref.shape[:2]
    uh, uw = mv_units.shape[:2]
    chan = ref.shape[2:]
    mv = mv_units.astype(np.int64)
    iy, ix = mv[..., 0] >> 2, mv[..., 1] >> 2
    fy, fx = mv[..., 0] & 3, mv[..., 1] & 3
    oy = np.arange(uh, dtype=np.int64)[:, None] * U + iy - 3
    ox = np.arange(uw, dtype=np.int64)[None, :] * U + ix - 3
    oy = np.clip(oy, -PAD, h - 1 + PAD - (WIN - 1)) + PAD
    ox = np.clip(ox, -PAD, w - 1 + PAD - (WIN - 1)) + PAD
    padded = np.pad(ref, ((PAD, PAD), (PAD, PAD)) + ((0, 0),) * len(chan), mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, (WIN, WIN), axis=(0, 1))
    out = np.empty((uh, uw) + chan + (U, U), ref.dtype)
    whole = (fy == 0) & (fx == 0)
    if np.any(whole):
        out[whole] = view[oy[whole], ox[whole]][..., 3:3 + U, 3:3 + U]
    frac = ~whole
    if np.any(frac):
        win = view[oy[frac], ox[frac]].astype(np.int32)          # [n, (C,) 15, 15]
        ex = (slice(None),) + (None,) * len(chan) + (None, None)
        cx = FILTERS[fx[frac]]                                   # [n, 8]
        cy = FILTERS[fy[frac]]
        hor = cx[:, 0][ex] * win[..., :, 0:U]
        for j in range(1, 8):
            hor += cx[:, j][ex] * win[..., :, j:j + U]           # [n, (C,) 15, 8]
        acc = cy[:, 0][ex] * hor[..., 0:U, :]
        for k in range(1, 8):
            acc += cy[:, k][ex] * hor[..., k:k + U, :]
        acc += 2048
        acc >>= 12
        out[frac] = np.clip(acc, 0, 255).astype(ref.dtype)
    if chan:
        out = np.moveaxis(out, 2, -1)                            # [uh, uw, 8, 8, C]
    pred = out.swapaxes(1, 2).reshape(uh * U, uw * U, *chan)
    return np.ascontiguousarray(pred[:h, :w])


def phase_planes(plane: np.ndarray, border: int) -> np.ndarray:
    """phase_planes_numpy's planes, by the C kernel when it is built, as uint8 (every phase
    is clamped to 0..255: a quarter of the memory the search reads)."""
    lib = _kernel()
    if lib is None:
        return phase_planes_numpy(plane, border)
    h, w = plane.shape
    src = np.ascontiguousarray(plane, np.int32)
    ho, wo = h + 2 * border, w + 2 * border
    out = np.empty((4, 4, ho, wo), np.uint8)
    scratch = np.empty((ho + 9) * (wo + 7), np.int32)
    lib.mlvc_phase_planes(native.ptr(src, native.I32P), h, w, border,
                          native.ptr(out, _U8P), native.ptr(scratch, native.I32P))
    return out


def phase_planes_numpy(plane: np.ndarray, border: int) -> np.ndarray:
    """The 16 quarter-pixel phases of a 2-D plane by the §4c filter (encoder search):
    out[fy, fx, border + y, border + x] = the prediction of pixel (y, x) by vector (fy, fx), for
    y in -border .. H - 1 + border (clamped taps; beyond the border every phase is constant, so
    clamping a position into the bordered plane is exact for border >= 4)."""
    h, w = plane.shape
    p = np.pad(plane.astype(np.int32), border + 4, mode="edge")
    ho, wo = h + 2 * border, w + 2 * border
    out = np.empty((4, 4, ho, wo), np.int32)
    for fx in range(4):
        c = FILTERS[fx]
        hor = sum(int(c[j]) * p[:, 1 + j:1 + j + wo] for j in range(8) if c[j])
        for fy in range(4):
            cv = FILTERS[fy]
            acc = sum(int(cv[k]) * hor[1 + k:1 + k + ho] for k in range(8) if cv[k])
            out[fy, fx] = np.clip((acc + 2048) >> 12, 0, 255)
    return out


def unit_sse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """unit_sse_numpy's sums, by the C kernel when it is built (the encoder's distortions
    were a tenth of a 720p P-frame's encode time in NumPy)."""
    lib = _kernel()
    if lib is None or a.dtype != np.uint8 or b.dtype != np.uint8 or a.shape != b.shape \
            or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] > 4):
        return unit_sse_numpy(a, b)
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    h, w = a.shape[:2]
    out = np.empty((-(-h // U), -(-w // U)), np.int64)
    lib.mlvc_unit_sse(native.ptr(a, _U8P), native.ptr(b, _U8P), h, w,
                      1 if a.ndim == 2 else a.shape[2], native.ptr(out))
    return out


def unit_sse_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per 8x8 unit of two H x W (x C) pictures: the sum of squared differences over the
    unit's pixels inside the picture and every channel (int64 [ceil(H/8), ceil(W/8)])."""
    h, w = a.shape[:2]
    e = (a.astype(np.int64) - b) ** 2
    if e.ndim == 3:
        e = e.sum(axis=2)
    uh, uw = -(-h // U), -(-w // U)
    e = np.pad(e, ((0, uh * U - h), (0, uw * U - w)))
    return e.reshape(uh, U, uw, U).sum(axis=(1, 3))


# -- deblocking ------------------------------------------------------------------------------
def _edge_flags(f: UnitFields, axis: int) -> np.ndarray:
    """Filtered edges between units i-1 and i along `axis` (1: vertical edges, left/right)."""
    a = [slice(None)] * 2
    b = [slice(None)] * 2
    a[axis], b[axis] = slice(None, -1), slice(1, None)
    a, b = tuple(a), tuple(b)
    diff_pb = f.pb[a] != f.pb[b]
    dmv = np.abs(f.mv[a].astype(np.int32) - f.mv[b]).max(axis=-1) >= 4
    return diff_pb & (dmv | (f.skip[a] != f.skip[b]))


def _filter_lines(p1, p0, q0, q1, tc: int):
    p1, p0, q0, q1 = (v.astype(np.int32) for v in (p1, p0, q0, q1))
    alpha, beta = 4 * tc, 2 * tc
    on = (np.abs(p0 - q0) < alpha) & (np.abs(p1 - p0) < beta) & (np.abs(q1 - q0) < beta)
    d = np.clip(((q0 - p0) * 4 + (p1 - q1) + 4) >> 3, -tc, tc)
    d = np.where(on, d, 0)
    return np.clip(p0 + d, 0, 255), np.clip(q0 - d, 0, 255)


def deblock(rec: np.ndarray, f: UnitFields, tc: int) -> np.ndarray:
    """deblock_numpy's picture, by the C kernel when it is built."""
    lib = _kernel()
    if lib is None or tc == 0 or rec.dtype != np.uint8 or rec.ndim not in (2, 3):
        return deblock_numpy(rec, f, tc)
    out = np.array(rec, copy=True, order="C")
    v, hz = (np.ascontiguousarray(_edge_flags(f, axis), np.uint8) for axis in (1, 0))
    h, w = rec.shape[:2]
    lib.mlvc_deblock(native.ptr(out, _U8P), h, w, 1 if rec.ndim == 2 else rec.shape[2],
                     native.ptr(v, _U8P), native.ptr(hz, _U8P), int(tc))
    return out


def deblock_numpy(rec: np.ndarray, f: UnitFields, tc: int) -> np.ndarray:
    """The §4c in-loop deblocking filter of an H x W x C picture (a new array; tc 0: a copy)."""
    out = np.array(rec, copy=True)
    if tc == 0:
        return out
    h, w = rec.shape[:2]
    for axis in (1, 0):
        flags = _edge_flags(f, axis)                     # [UH, UW-1] or [UH-1, UW]
        if flags.size == 0 or not flags.any():
            continue
        if axis == 1:
            pic = out
            n = w
            mask = np.repeat(flags, U, axis=0)[:h]       # [H, E]: rows x edges
        else:
            pic = out.swapaxes(0, 1)                     # a view: columns become rows
            n = h
            mask = np.repeat(flags.T, U, axis=0)[:w]
        pos = U * np.arange(1, flags.shape[axis] + 1)
        p1, p0, q0 = pic[:, pos - 2], pic[:, pos - 1], pic[:, pos]
        q1 = pic[:, np.minimum(pos + 1, n - 1)]
        np0, nq0 = _filter_lines(p1, p0, q0, q1, tc)
        m = mask.reshape(mask.shape + (1,) * (pic.ndim - 2))
        pic[:, pos - 1] = np.where(m, np0, p0)
        pic[:, pos] = np.where(m, nq0, q0)
    return out


# -- decoder ---------------------------------------------------------------------------------
def reconstruct(pred: np.ndarray, residual: np.ndarray | None, f: UnitFields, h: int, w: int
                ) -> np.ndarray:
    """rec = pred in skipped PBs (and everywhere in mode 4), clamp(pred + r) elsewhere."""
    if residual is None:
        return pred.copy()
    full = np.clip(pred.astype(np.int16) + residual, 0, 255).astype(np.uint8)
    skip = np.repeat(np.repeat(f.skip, U, 0), U, 1)[:h, :w].astype(bool)
    return np.where(skip[..., None], pred, full)


def decode_tree(payload, ref: np.ndarray, h: int, w: int, level: int, tables, residual_codec
                ) -> np.ndarray:
    hdr, bmap, rest = syn.read_tree_payload(payload, h, w, tables)
    f = unit_fields(bmap)
    pred = predict(ref, f.mv)
    r = (residual_codec.decode_signed(bytes(rest), h, w, level)
         if hdr.mode == syn.TREE_RESIDUAL_MODE else None)
    return deblock(reconstruct(pred, r, f, h, w), f, hdr.deblock)


# -- encoder ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    name: str
    sizes: tuple            # PB sizes the quadtree considers (a subset of 8, 16, 32, 64)
    int_refine: int         # +-range of whole-pixel refinement around the candidates
    quarter: bool           # quarter-pixel (else half-pixel) refinement
    tc_candidates: tuple    # deblocking strengths tried on the reconstruction
    rezero: bool            # re-code the residual with skipped PBs zeroed, keep it if cheaper
    early_split: bool       # stop splitting when the parent's cost is already small
    rd_levels: int          # at most this many residual levels tried (the encoder's rd_levels)


PRESETS = {
    "fast": Preset("fast", (16, 32, 64), 0, True, (0, 3), False, True, 1),
    "medium": Preset("medium", (8, 16, 32, 64), 1, True, (0, 2, 4, 6, 8), True, False, 2),
    "slow": Preset("slow", (8, 16, 32, 64), 2, True, (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16), True,
                   False, 2),
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidArgumentError(f"preset must be one of {sorted(PRESETS)}, not {name!r}"
                                   ) from None


BORDER = 8                   # phase planes: border around the picture (>= 4: exact clamping)
# early termination (fast preset): a block this well predicted (SAD per pixel of the luma
# proxy) is not split.  At 1280x720, q3, fast: 2 gave bikes -0.6 % P bytes at -0.005 dB and a
# static noisy scene -39 % at -0.07 dB (fewer PBs to code); 3 cost carphone 0.35 dB.
EARLY_SAD = 2
MV_SAD_COST = 1              # integer search: SAD units per quarter pixel of |mv| (tie breaks)


def _log2_fixed(n: int, frac: int = 10) -> int:
    """log2(n) * 2**frac for n >= 1, by integer squaring only (no libm: the same table on
    every machine)."""
    e = n.bit_length() - 1
    z = (n << 32) >> e                  # n / 2**e in [1, 2), 32 fractional bits
    out = e
    for _ in range(frac):
        z = (z * z) >> 32
        bit = int(z >= 1 << 33)
        z >>= bit
        out = (out << 1) | bit
    return out


_MV_BITS = np.array([1.0 + 2.0 * _log2_fixed(n + 1) / 1024.0 for n in range(8192)])


_MV_BITS_LIST = _MV_BITS.tolist()


def mv_pair_bits(d0: int, d1: int) -> float:
    """mv_bits of one vector difference, summed over its two components (scalar: the
    per-block decisions call it thousands of times a picture)."""
    return _MV_BITS_LIST[min(abs(d0), 8191)] + _MV_BITS_LIST[min(abs(d1), 8191)]


def mv_bits(d: np.ndarray) -> np.ndarray:
    """Encoder estimate of a vector difference's bits (per component, quarter pixels):
    1 + 2 log2(1 + |d|), from an integer-computed table (the same decisions on every
    machine)."""
    return _MV_BITS[np.minimum(np.abs(np.asarray(d)).astype(np.int64), 8191)]


MOTION_LAMBDA_SCALE = 0.25


def motion_lambda(lam: float | None) -> float:
    """SAD units (of the luma proxy) per bit of the motion decisions, from the codec's
    J = bits + lam / 3 * SSE: a quarter of the square root of its SSE units per bit (HEVC's
    encoders use the square root itself; the residual networks here fix prediction errors
    more cheaply, so more accurate vectors pay: 0.25 gave the lowest J on held-out bikes and
    carphone frames among 1/16 .. 4)."""
    return MOTION_LAMBDA_SCALE * float(np.sqrt(3.0 / lam)) if lam else 1.0


class TreeSearch:
    """The encoder's motion decisions for one picture: candidate vectors per block size,
    quarter-pixel refinement, the quadtree by cost, merge by cost in coding order.  Costs are
    SAD on the luma proxy of inter.luma + mu * estimated bits.  Integer arithmetic everywhere
    the choices depend on sums (deterministic)."""

    def __init__(self, cur_luma: np.ndarray, ref_luma: np.ndarray, mv16: np.ndarray,
                 pre: Preset, mu: float, max_diff: int = 255):
        from .sad import block_sads  # noqa: F401 (the kernel is loaded once)
        self.h, self.w = cur_luma.shape
        self.cur = np.ascontiguousarray(cur_luma, np.uint8)      # the luma proxy: 0..255
        self.planes = np.ascontiguousarray(phase_planes(ref_luma, BORDER))
        self.mv16 = mv16.astype(np.int32)
        self.pre = pre
        self.mu = mu
        self.max_diff = max_diff     # the widest vector-difference table's radius
        self.best: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.active: dict[int, np.ndarray] = {}    # early termination: blocks searched
        self._sad1 = None

    def _grid(self, size: int):
        gy, gx = -(-self.h // size), -(-self.w // size)
        c = np.pad(self.cur, ((0, gy * size - self.h), (0, gx * size - self.w)), mode="edge")
        return gy, gx, c

    def _sads(self, c: np.ndarray, mvq: np.ndarray, size: int) -> np.ndarray:
        from .sad import qpel_block_sads
        return qpel_block_sads(c, self.planes, mvq, size, BORDER, self.active.get(size))

    def search_size(self, size: int) -> None:
        """Best quarter-pixel vector and its SAD for every block of `size`."""
        gy, gx, c = self._grid(size)
        m16 = self.mv16
        by16, bx16 = m16.shape[:2]
        # whole-pixel candidates: the 16x16 field's vectors inside (or around) each block
        step = max(1, size // 16)
        cands = []
        for sy in range(step):
            for sx in range(step):
                iy = np.minimum(np.arange(gy) * step + sy, by16 - 1) if size >= 16 else \
                    np.minimum(np.arange(gy) * size // 16, by16 - 1)
                ix = np.minimum(np.arange(gx) * step + sx, bx16 - 1) if size >= 16 else \
                    np.minimum(np.arange(gx) * size // 16, bx16 - 1)
                cands.append(m16[iy][:, ix])
        cands.append(np.zeros((gy, gx, 2), np.int32))
        best_cost = np.full((gy, gx), np.iinfo(np.int64).max, np.int64)
        best = np.zeros((gy, gx, 2), np.int32)

        def consider(v_int_q):
            cost = self._sads(c, v_int_q, size) + MV_SAD_COST * np.abs(v_int_q).sum(2)
            better = cost < best_cost
            best_cost[better] = cost[better]
            best[better] = v_int_q[better]

        seen = set()
        for v in cands:
            key = v.tobytes()
            if key in seen:
                continue
            seen.add(key)
            consider(4 * v)
        r = self.pre.int_refine
        if r:
            centre = best.copy()
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if dy or dx:
                        consider(centre + 4 * np.array((dy, dx), np.int32))
        for step_q in ((2, 1) if self.pre.quarter else (2,)):
            centre = best.copy()
            for dy in (-step_q, 0, step_q):
                for dx in (-step_q, 0, step_q):
                    if dy or dx:
                        consider(centre + np.array((dy, dx), np.int32))
        sad = self._sads(c, best, size)
        self.best[size] = (best, sad)

    def _search_sizes(self, sizes: list) -> dict:
        """Search every size, largest first.  With the preset's early termination a block
        whose best SAD is at most EARLY_SAD per pixel is not split, so the blocks inside it
        are not searched; returns, per size, the blocks that stop there or above."""
        stop = {}
        parent = None
        for s in sorted(sizes, reverse=True):
            gy, gx = -(-self.h // s), -(-self.w // s)
            if parent is not None:
                inherited = np.repeat(np.repeat(parent, 2, 0), 2, 1)[:gy, :gx]
                if inherited.any():
                    self.active[s] = ~inherited
            else:
                inherited = np.zeros((gy, gx), bool)
            self.search_size(s)
            done = (self.best[s][1] <= EARLY_SAD * s * s) if self.pre.early_split else False
            stop[s] = inherited | done
            parent = stop[s]
        return stop

    def block_sad(self, y0: int, x0: int, size: int, mv: tuple[int, int]) -> int:
        """SAD of one block (rows and columns past the picture clamped) at quarter-pixel mv."""
        if self._sad1 is None:
            from .sad import qpel_sad_one_fn
            self._sad1 = qpel_sad_one_fn(self.cur, self.planes, BORDER)
        return self._sad1(y0, x0, size, mv[0], mv[1])

    def _walk_native(self, flags: dict):
        """decide's walk (below, the definition) by sad_kernel.c: the leaves' rows, or None."""
        from .sad import tree_decide
        offsets, mvs, sads, n = [], [], [], 0
        for s in (8, 16, 32, 64):
            if s not in self.best:
                offsets.append(-1)
                continue
            offsets.append(n)
            mv, sad = self.best[s]
            mvs.append(mv.reshape(-1, 2))
            sads.append(sad.reshape(-1))
            n += sad.size
        return tree_decide(self.cur, self.planes, BORDER,
                           np.concatenate([flags[s].reshape(-1) for s in (16, 32, 64)]), offsets,
                           np.concatenate(mvs), np.concatenate(sads), _MV_BITS, self.mu,
                           self.max_diff)

    def decide(self) -> dict:
        """The block tree: leaves {(y0, x0, size): mv}, by bottom-up cost, then merge choices
        in coding order."""
        sizes = sorted(self.pre.sizes)
        stop = self._search_sizes(sizes)
        mu = self.mu
        leaf_cost, split = {}, {}
        for s in sizes:
            mv, sad = self.best[s]
            # the vector's bits against the median of the left, above and above-right
            # blocks of the same size (the decoder's predictor, approximately)
            p = np.pad(mv, ((1, 0), (1, 1), (0, 0)))
            med = np.sort(np.stack([p[1:, :-2], p[:-1, 1:-1], p[:-1, 2:]]), axis=0)[1]
            bits = mv_bits(mv - med).sum(2) + 2.0
            leaf_cost[s] = sad + mu * bits
        node_cost = {}
        for s in [8, 16, 32, 64]:
            if s not in leaf_cost:
                continue
            c = leaf_cost[s].copy()
            half = s // 2
            if half in node_cost:
                ch = node_cost[half]
                gy, gx = c.shape
                pad = np.full((gy * 2, gx * 2), 0.0)
                pad[:ch.shape[0], :ch.shape[1]] = ch
                kids = pad.reshape(gy, 2, gx, 2).sum(axis=(1, 3)) + mu
                split[s] = (kids < c) & ~stop[s]
                c = np.where(split[s], kids, c)
            node_cost[s] = c
        # every node's split flag: nodes above the largest size split, the smallest size's not
        flags = {}
        for s in (16, 32, 64):
            shape = (-(-self.h // s), -(-self.w // s))
            flags[s] = (np.ones(shape, np.int8) if s > max(sizes) else
                        split[s].astype(np.int8) if s in split else
                        np.zeros(shape, np.int8))

        def split_of(y0, x0, size, depth):
            return int(flags[size][y0 // size, x0 // size])

        rows = self._walk_native(flags)
        if rows is not None:
            return {(y0, x0, s): (dy, dx) for y0, x0, s, dy, dx in rows.tolist()}
        bmap = syn.BlockMap(self.h, self.w)
        leaves = {}

        def leaf(y0, x0, size):
            mv, sad = self.best[size]
            own = (int(mv[y0 // size, x0 // size, 0]), int(mv[y0 // size, x0 // size, 1]))
            own_sad = int(sad[y0 // size, x0 // size])
            py, px = bmap.predictor(y0, x0, size)
            best_mv = own
            best_cost = own_sad + mu * (1.0 + mv_pair_bits(own[0] - py, own[1] - px))
            if max(abs(own[0] - py), abs(own[1] - px)) > self.max_diff:
                best_cost = float("inf")      # no table codes that difference: merge
            cands = bmap.candidates(y0, x0, size)
            for i, cand in enumerate(cands):
                if cand == own:
                    cost = own_sad + mu * (1.0 + (len(cands) == 2))
                else:
                    cost = self.block_sad(y0, x0, size, cand) + mu * (1.0 + (len(cands) == 2))
                if cost < best_cost:
                    best_mv, best_cost = cand, cost
            leaves[(y0, x0, size)] = best_mv
            bmap.add(syn.PredictionBlock(y0, x0, size, best_mv))

        syn.walk_tree(self.h, self.w, split_of, leaf)
        return leaves
