"""Row bands: a convolutional network run over a large picture in overlapping windows of rows.

Activation memory then follows the window, not the picture (a 3840x2160 decode needs about what
a 1280x720 one does, for a Raspberry Pi with 1 GB).  The result is bit-identical to one run over
the whole picture: each window carries `halo` extra rows of real neighbours on every side that
is not a picture border, as far as the network's receptive field reaches, and only rows
at least `halo` away from a cut are kept.  Every window has the same shape, so a TFLite
interpreter is allocated once (the last window is moved up to end at the picture's last row).
The halo is derived from the network's graph (row_reach), not assumed.

Rows are counted in latent units (16 picture rows): g_s turns 1 latent row into 16 picture
rows, g_a 16 picture rows into 1 latent row.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..intops.graph import Conv2D, DepthToSpace, Graph
from ..intops.reference import same_padding

# The largest picture area run in one piece (a padded 1280x720 picture); larger pictures are
# cut into row bands.
MAX_WINDOW_PIXELS = 1280 * 768


def row_reach(graph: Graph) -> int:
    """How many rows of the network's input, above or below, any output row depends on: the
    receptive field along rows, from the graph's convolutions (SAME padding, strides) and
    depth-to-space ops.  A band whose every kept output row has this many real input rows on
    each side computes exactly what the whole picture would."""
    n_in = 64 * graph.alignment                    # a size every op divides evenly
    size = {name: n_in for name in graph.inputs}
    for op in graph.ops:                           # rows of every tensor
        if isinstance(op, Conv2D):
            size[op.output] = -(-size[op.input] // op.stride)
        elif isinstance(op, DepthToSpace):
            size[op.output] = size[op.input] * op.block
        else:
            size[op.output] = size[graph.op_inputs(op)[0]]
    out = graph.outputs[0]
    ratio = n_in / size[out]                       # input rows per output row
    reach = 0
    for o in range(size[out] // 4, size[out] // 4 + 64):   # rows far from both borders
        need = {out: (o, o)}
        for op in reversed(graph.ops):
            if op.output not in need:
                continue
            lo, hi = need[op.output]
            if isinstance(op, Conv2D):
                k = op.weights.shape[1]
                _, pad_top, _ = same_padding(size[op.input], k, op.stride)
                lo, hi = lo * op.stride - pad_top, hi * op.stride - pad_top + k - 1
            elif isinstance(op, DepthToSpace):
                lo, hi = lo // op.block, hi // op.block
            for name in graph.op_inputs(op):
                old = need.get(name, (lo, hi))
                need[name] = (min(old[0], lo), max(old[1], hi))
        lo, hi = need[graph.inputs[0]]
        # the input rows output row o stands for: a block of them (analysis), or one (synthesis)
        centre_lo, centre_hi = ((o * ratio, (o + 1) * ratio - 1) if ratio >= 1 else
                                (o * ratio // 1, o * ratio // 1))
        reach = max(reach, int(np.ceil(centre_lo - lo)), int(np.ceil(hi - centre_hi)))
    return reach


def halo_units(graph: Graph, in_rows_per_unit: int) -> int:
    """row_reach in latent units (16 picture rows), rounded up."""
    return -(-row_reach(graph) // in_rows_per_unit)


def plan(units: int, window: int, halo: int) -> list[tuple[int, int, int]]:
    """Windows over `units` rows: (start, keep_from, keep_to), each window `window` rows long
    from `start`; together the kept ranges cover 0..units exactly once."""
    if units <= window:
        return [(0, 0, units)]
    step = window - 2 * halo
    if step < 1:
        raise ValueError(f"window of {window} rows is too small for a halo of {halo}")
    out, done = [], 0
    while done < units:
        start = min(max(done - halo, 0), units - window)
        end = start + window
        keep_to = units if end == units else end - halo
        out.append((start, done, keep_to))
        done = keep_to
    return out


def window_units(width_px: int, units: int, halo: int) -> int:
    """Latent rows per window for a picture `width_px` wide: within MAX_WINDOW_PIXELS (but at
    least 2 * halo + 4 rows), and then as few as give the same number of windows, so that the
    rows computed twice are few (1920x1088: 3 windows of 27 rows for 68, not 3 of 32)."""
    fit = max(MAX_WINDOW_PIXELS // (16 * max(width_px, 1)), 2 * halo + 4)
    if units <= fit:
        return units
    n = -(-(units - 2 * halo) // (fit - 2 * halo))          # windows needed
    return -(-(units - 2 * halo) // n) + 2 * halo


def run_in_bands(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, units: int,
                 in_per_unit: int, out_per_unit: int, width_px: int, halo: int) -> np.ndarray:
    """fn(x) for an NHWC `x` whose rows are `units` latent rows of `in_per_unit` rows each,
    computed in row bands when the picture is large; output rows are `out_per_unit` per unit."""
    window = window_units(width_px, units, halo)
    bands = plan(units, window, halo)
    if len(bands) == 1:
        return fn(x)
    out = None
    for start, keep_from, keep_to in bands:
        part = fn(x[:, start * in_per_unit:(start + window) * in_per_unit])
        if out is None:
            out = np.empty((part.shape[0], units * out_per_unit) + part.shape[2:], part.dtype)
        lo, hi = (keep_from - start) * out_per_unit, (keep_to - start) * out_per_unit
        out[:, keep_from * out_per_unit:keep_to * out_per_unit] = part[:, lo:hi]
    return out
