"""Block SADs for the encoder's motion search: sad_kernel.c when native.py can build it (the
search was about 70 % of encoding at 640x272 in NumPy), else the NumPy definitions below.
Both give the same integers, so the chosen vectors and the stream bytes do not depend on which
ran (tests/test_motion.py)."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from .. import native

_KERNEL = Path(__file__).with_name("sad_kernel.c")
_U8P = native.U8P
_FUNCTIONS = {
    "mlvc_block_sads": (None, [native.I32P, native.I64, native.I32P, native.I64, native.I64,
                               native.I64, native.I64, native.I64P]),
    "mlvc_mv_block_sads": (None, [native.I32P, native.I64, native.I64, native.I32P, native.I64,
                                  native.I64, native.I32P, native.I64, native.I64, native.I64P]),
    "mlvc_mv_block_sads_u8": (None, [native.U8P, native.I64, native.I64, native.U8P,
                                     native.I64, native.I64, native.I32P, native.I64,
                                     native.I64, native.I64P]),
    "mlvc_full_search": (None, [native.I32P, native.I64, native.I64, native.I32P, native.I64,
                                native.I64, native.I32P, native.I64, native.I64, native.I64P,
                                native.I32P]),
    "mlvc_full_search_u8": (None, [native.U8P, native.I64, native.I64, native.U8P, native.I64,
                                   native.I64, native.I32P, native.I64, native.I64,
                                   native.I64P, native.I32P]),
    "mlvc_qpel_block_sads": (None, [native.U8P, native.I64, native.I64, native.U8P,
                                    native.I64, native.I64, native.I64, native.I32P, native.I64,
                                    native.I8P, native.I64P]),
    "mlvc_qpel_sad_one": (native.I64, [native.U8P, native.I64, native.I64, native.I64,
                                       native.I64, native.I64, native.U8P, native.I64,
                                       native.I64, native.I64, native.I64, native.I64]),
    "mlvc_tree_decide": (native.I64, [native.U8P, native.I64, native.I64, native.U8P,
                                      native.I64, native.I64, native.I64, native.I8P,
                                      native.I64P, native.I32P, native.I64P,
                                      ctypes.POINTER(ctypes.c_double), ctypes.c_double,
                                      native.I64, native.I32P, native.I32P, native.I64]),
}


def _kernel():
    return native.load(_KERNEL, _FUNCTIONS)


def _int32_rows(a: np.ndarray) -> np.ndarray:
    """`a` as int32 with contiguous rows (a row-sliced view is kept as it is)."""
    if a.dtype != np.int32 or a.strides[1] != 4:
        a = np.ascontiguousarray(a, np.int32)
    return a


def block_sads(a: np.ndarray, b: np.ndarray, block: int) -> np.ndarray:
    """Sum of absolute differences of every block x block block of two equal-size planes."""
    rows, cols = a.shape
    lib = _kernel()
    if lib is None:
        return (np.abs(a.astype(np.int64) - b).reshape(rows // block, block, cols // block, block)
                .sum(axis=(1, 3), dtype=np.int64))
    a, b = _int32_rows(a), _int32_rows(b)
    out = np.empty((rows // block, cols // block), np.int64)
    lib.mlvc_block_sads(native.ptr(a, native.I32P), a.strides[0] // 4,
                        native.ptr(b, native.I32P), b.strides[0] // 4, rows, cols, block,
                        native.ptr(out))
    return out


def _bytes(a: np.ndarray) -> np.ndarray:
    """A 0..255 plane (luma proxy, phase planes) as contiguous uint8 for the byte kernels."""
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.size and (a.min() < 0 or a.max() > 255):
        raise ValueError("the quarter-pixel SADs take planes of 0..255")
    return np.ascontiguousarray(a, np.uint8)


def full_search(cur: np.ndarray, padded_ref: np.ndarray, block: int, search: int,
                offsets, mv_cost: int):
    """inter._full_search by the C kernel: (best cost, mv) per block of `cur` over `offsets`
    (tie order) against `padded_ref` (the reference edge-padded by `search`); None without
    the kernel (the caller runs its NumPy definition).  Two uint8 planes take the byte kernel."""
    lib = _kernel()
    if lib is None:
        return None
    t, p, fn = _variant(lib, "mlvc_full_search", cur, padded_ref)
    cur = np.ascontiguousarray(cur, t)
    rp = np.ascontiguousarray(padded_ref, t)
    offs = np.ascontiguousarray(offsets, np.int32).reshape(-1, 2)
    rows, cols = cur.shape
    best = np.empty((rows // block, cols // block), np.int64)
    mv = np.empty((rows // block, cols // block, 2), np.int32)
    fn(native.ptr(cur, p), rows, cols, native.ptr(rp, p), search, block,
       native.ptr(offs, native.I32P), len(offs), mv_cost, native.ptr(best),
       native.ptr(mv, native.I32P))
    return best, mv


def _variant(lib, name: str, a: np.ndarray, b: np.ndarray):
    """(dtype, pointer type, function) of a kernel written for int32 and for bytes: bytes
    when both planes are uint8."""
    if a.dtype == b.dtype == np.uint8:
        return np.uint8, _U8P, getattr(lib, name + "_u8")
    return np.int32, native.I32P, getattr(lib, name)


def mv_block_sads(cur: np.ndarray, ref: np.ndarray, mv: np.ndarray, block: int, pad: int,
                  predict) -> np.ndarray:
    """SADs of the blocks of `cur` (the padded block grid) against the whole-pixel prediction
    of `ref` with per-block vectors `mv`; `predict(ref, mv)` is that prediction in NumPy.
    Two uint8 planes take the byte kernel."""
    lib = _kernel()
    if lib is None:
        return block_sads(cur, predict(ref, mv), block)
    t, p, fn = _variant(lib, "mlvc_mv_block_sads", cur, ref)
    cur = np.ascontiguousarray(cur, t)
    ref = np.ascontiguousarray(ref, t)
    mv = np.ascontiguousarray(mv, np.int32)
    rows, cols = cur.shape
    out = np.empty((rows // block, cols // block), np.int64)
    fn(native.ptr(cur, p), rows, cols, native.ptr(ref, p), ref.shape[0], ref.shape[1],
       native.ptr(mv, native.I32P), block, pad, native.ptr(out))
    return out


def qpel_block_sads(cur: np.ndarray, planes: np.ndarray, mv: np.ndarray, block: int,
                    border: int, active: np.ndarray | None = None) -> np.ndarray:
    """SADs of the blocks of `cur` (the padded block grid) against the quarter-pixel
    prediction read from the 16 phase planes `planes` [4, 4, PH, PW] (blocktree.phase_planes
    with `border`), one quarter-pixel vector per block (mv [by, bx, 2]), positions clamped into
    the planes.  `active` [by, bx] bool: only those blocks (the others' SAD is 0).  `cur` and
    `planes` hold 0..255 (uint8 avoids a conversion)."""
    rows, cols = cur.shape
    by, bx = rows // block, cols // block
    lib = _kernel()
    ph, pw = planes.shape[2:]
    if lib is None:
        mv = mv.astype(np.int64)
        phase = (mv[..., 0] & 3) * 4 + (mv[..., 1] & 3)
        ys = (np.arange(by)[:, None, None] * block + (mv[..., 0] >> 2)[..., None] + border
              + np.arange(block))
        xs = (np.arange(bx)[None, :, None] * block + (mv[..., 1] >> 2)[..., None] + border
              + np.arange(block))
        ys, xs = np.clip(ys, 0, ph - 1), np.clip(xs, 0, pw - 1)
        flat = planes.reshape(16, ph, pw)
        pred = flat[phase[..., None, None], ys[..., :, None], xs[..., None, :]]
        c = cur.reshape(by, block, bx, block).swapaxes(1, 2)
        out = np.abs(c.astype(np.int64) - pred).sum(axis=(2, 3))
        return out if active is None else np.where(active, out, 0)
    cur, planes = _bytes(cur), _bytes(planes)
    mv = np.ascontiguousarray(mv, np.int32)
    act = None if active is None else np.ascontiguousarray(active, np.int8)
    out = np.empty((by, bx), np.int64)
    lib.mlvc_qpel_block_sads(native.ptr(cur, _U8P), rows, cols,
                             native.ptr(planes, _U8P), ph, pw, border,
                             native.ptr(mv, native.I32P), block,
                             None if act is None else native.ptr(act, native.I8P),
                             native.ptr(out))
    return out


def qpel_sad_one_fn(cur: np.ndarray, planes: np.ndarray, border: int):
    """qpel_sad_one bound to one picture and its phase planes (the pointers made once):
    f(y0, x0, size, dy, dx) -> SAD."""
    lib = _kernel()
    if lib is None:
        return lambda y0, x0, size, dy, dx: qpel_sad_one(cur, y0, x0, size, planes, border,
                                                          dy, dx)
    cur, planes = _bytes(cur), _bytes(planes)
    h, w = cur.shape
    ph, pw = planes.shape[2:]
    pc, pp, fn = native.ptr(cur, _U8P), native.ptr(planes, _U8P), lib.mlvc_qpel_sad_one

    def sad(y0, x0, size, dy, dx, _keep=(cur, planes)):
        return int(fn(pc, h, w, y0, x0, size, pp, ph, pw, border, dy, dx))
    return sad


def qpel_sad_one(cur: np.ndarray, y0: int, x0: int, size: int, planes: np.ndarray,
                 border: int, dy: int, dx: int) -> int:
    """SAD of one block at (y0, x0) of the picture `cur` (H x W; rows and columns past its
    edge clamped) against the quarter-pixel prediction by (dy, dx) from the
    phase planes; the same integers as qpel_block_sads (0..255 planes, as there)."""
    h, w = cur.shape
    ph, pw = planes.shape[2:]
    lib = _kernel()
    if lib is None:
        pl = planes[dy & 3, dx & 3]
        ys = np.clip(np.arange(y0, y0 + size) + (dy >> 2) + border, 0, ph - 1)
        xs = np.clip(np.arange(x0, x0 + size) + (dx >> 2) + border, 0, pw - 1)
        cy = np.minimum(np.arange(y0, y0 + size), h - 1)
        cx = np.minimum(np.arange(x0, x0 + size), w - 1)
        return int(np.abs(cur[cy][:, cx].astype(np.int64) - pl[ys][:, xs]).sum())
    cur, planes = _bytes(cur), _bytes(planes)
    return int(lib.mlvc_qpel_sad_one(native.ptr(cur, _U8P), h, w, y0, x0, size,
                                     native.ptr(planes, _U8P), ph, pw, border, dy, dx))


def tree_decide(cur: np.ndarray, planes: np.ndarray, border: int, split: np.ndarray,
                offsets: np.ndarray, mv: np.ndarray, sads: np.ndarray, bits: np.ndarray,
                mu: float, max_diff: int) -> np.ndarray | None:
    """blocktree.TreeSearch.decide's walk and merge decisions in C: rows (y0, x0, size, dy, dx)
    of the leaves in coding order; None without the kernel or for a tree it does not take
    (the caller runs its Python definition).  split: the split flags of every node of size
    16, 32, 64 (row-major, concatenated); offsets: per size 8, 16, 32, 64 the index of its
    first block in mv [n, 2] / sads [n] (-1: no vectors of that size)."""
    lib = _kernel()
    if lib is None:
        return None
    cur, planes = _bytes(cur), _bytes(planes)
    h, w = cur.shape
    ph, pw = planes.shape[2:]
    split = np.ascontiguousarray(split, np.int8)
    offsets = np.ascontiguousarray(offsets, np.int64)
    mv = np.ascontiguousarray(mv, np.int32)
    sads = np.ascontiguousarray(sads, np.int64)
    bits = np.ascontiguousarray(bits, np.float64)
    owner = np.empty(-(-h // 8) * -(-w // 8), np.int32)
    cap = owner.size
    rows = np.empty((cap, 5), np.int32)
    n = lib.mlvc_tree_decide(native.ptr(cur, _U8P), h, w, native.ptr(planes, _U8P), ph, pw,
                             border, native.ptr(split, native.I8P), native.ptr(offsets),
                             native.ptr(mv, native.I32P), native.ptr(sads),
                             native.ptr(bits, ctypes.POINTER(ctypes.c_double)), float(mu),
                             int(max_diff), native.ptr(owner, native.I32P),
                             native.ptr(rows, native.I32P), cap)
    return None if n < 0 else rows[:n]
