"""Encoder-side latent refinement: better symbols for the same decoder (EncoderOptions.refine).

g_a's latent is a one-shot guess.  The symbols q it gives can be moved, by a few steps of normalised
gradient descent on J = rate + lambda/3 * SSE through the package's own synthesis g_s, to ones
the same decoder turns into a better picture for about the same rate (docs/refinement.md).
Nothing in the bitstream changes; decoders cannot tell.

Bitstream equality still holds on every machine: each quantity that moves a symbol is an exact
integer, or a float64 computed from exact integers by single correctly rounded IEEE operations
(no transcendental functions, no float reductions):
  * g_s runs on the NumPy reference (its integers are every exact backend's integers);
  * the backward pass is integer: per-channel power-of-two rescaling, ReLU/saturation masks from
    the forward activations, and float64 matmuls whose partial sums stay below 2**53 (so they are
    exact in any summation order, like the profile's float32 ones below 2**24);
  * the rate of a symbol is read from the frozen CDF tables as bits * 2**16 through an integer
    log2 (no libm);
  * the step is a fixed-point integer; the best iterate is chosen by J computed from exact sums.
"""
from __future__ import annotations

import math

import numpy as np

from ..entropy.tables import PRECISION, CdfTables
from ..errors import ModelError
from ..intops.graph import Add, Conv2D, DepthToSpace, Graph
from ..intops.reference import activation_range, correlate, depth_to_space, requantize

FRAC = 8                  # fractional bits of the continuous latent u, in level steps
STEP0 = 1 << (FRAC - 2)   # first step: a quarter of a level step, decaying linearly to 0
COST_FRAC = 16            # symbol costs in bits * 2**16
NORM_PERCENTILE = 95      # a symbol moves by step * g / (95th percentile of |g|), at most step
GRAD_BITS = 20            # |gradient << channel spread| < 2**20 before each backward matmul:
#                           2**20 * 124 * (9 taps * 256 channels) < 2**53, exact in float64


def log2_fixed(f: np.ndarray) -> np.ndarray:
    """floor(2**16 * log2(f)) for integers 1 <= f < 2**31, by integer squaring (no libm).

    f = 2**e * m with m in [1, 2): each squaring of m (a 30-bit fixed-point integer, so m*m < 2**62
    fits int64) yields the next fractional bit of log2(m)."""
    f = np.asarray(f, np.int64)
    if np.any(f < 1) or np.any(f >= 1 << 31):
        raise ValueError("log2_fixed: argument out of range")
    e = np.zeros_like(f)
    for b in (16, 8, 4, 2, 1):                    # e = floor(log2 f), exactly
        big = (f >> (e + b)) > 0
        e = e + np.where(big, b, 0)
    m = np.left_shift(f, 30 - e)                  # m / 2**30 in [1, 2)
    out = e << COST_FRAC
    for k in range(COST_FRAC - 1, -1, -1):
        m = (m * m) >> 30
        bit = m >= (1 << 31)
        m = np.where(bit, m >> 1, m)
        out = out + np.where(bit, 1 << k, 0)
    return out


class SymbolCosts:
    """Cost of every symbol of every table, -log2(freq / 2**16) in bits * 2**16 (integers)."""

    def __init__(self, tables: CdfTables):
        freq = np.diff(tables.cdf_flat)
        freq[tables.start[1:] - 1] = 1 << PRECISION          # the gaps between tables: unused
        self.flat = (PRECISION << COST_FRAC) - log2_fixed(freq)
        self.tables = tables

    def cost(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Cost of signed symbol s (inside table t's radius) in table t."""
        return self.flat[self.tables.start[t] + s + self.tables.radius[t]]

    def slope(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """d cost / d s in bits (float64, exact): the central difference, one-sided at the edge."""
        r = self.tables.radius[t]
        up, dn = np.minimum(s + 1, r), np.maximum(s - 1, -r)
        diff = (self.cost(up, t) - self.cost(dn, t)).astype(np.float64)
        return diff / (up - dn).astype(np.float64) / float(1 << COST_FRAC)


def space_to_depth(g: np.ndarray, block: int) -> np.ndarray:
    """The adjoint of depth_to_space (DCR order)."""
    n, hb, wb, oc = g.shape
    h, w = hb // block, wb // block
    return g.reshape(n, h, block, w, block, oc).transpose(0, 1, 3, 2, 4, 5).reshape(
        n, h, w, block * block * oc)


class SynthesisGradient:
    """The exact forward of a synthesis graph with its activations, and its integer backward."""

    def __init__(self, graph: Graph):
        for op in graph.ops:
            ok = isinstance(op, (DepthToSpace, Add)) or (
                isinstance(op, Conv2D) and op.stride == 1 and not op.depthwise)
            if not ok:
                raise ModelError(f"{graph.name}: latent refinement supports stride-1 convolutions, "
                                 f"add and depth_to_space only, not {op.kind}")
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise ModelError(f"{graph.name}: latent refinement needs one input and one output")
        self.graph = graph
        self.weights = {op.output: op.weights.astype(np.float64)
                        for op in graph.ops if isinstance(op, Conv2D)}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """g_s(x) (int8, the reference executor's integers) and, per convolution, the mask of
        the outputs whose unrounded value lies inside the int8 range (where the straight-through
        gradient passes: below it is ReLU's zero, above it saturation)."""
        g = self.graph
        env = {g.inputs[0]: x}
        masks = {}
        for op in g.ops:
            if isinstance(op, DepthToSpace):
                env[op.output] = depth_to_space(env[op.input], op.block)
                continue
            if isinstance(op, Add):
                qa, qb, qo = g.tensors[op.a], g.tensors[op.b], g.tensors[op.output]
                total = (env[op.a].astype(np.int32) - qa.zp + env[op.b].astype(np.int32) - qb.zp
                         + qo.zp)
                lo, hi = activation_range(op.activation, qo)
                masks[op.output] = (total >= lo) & (total <= hi)
                env[op.output] = np.clip(total, lo, hi).astype(np.int8)
                continue
            qi, qo = g.tensors[op.input], g.tensors[op.output]
            xc = env[op.input].astype(np.float32) - np.float32(qi.zp)
            acc = correlate(xc, op.weights.astype(np.float32), op.stride, op.depthwise)
            acc += op.bias.astype(np.float32)       # exact: the profile keeps |acc| < 2**24
            acc = acc.astype(np.int32)
            k = (qo.exp - qi.exp - op.w_exp.astype(np.int64))
            lo, hi = activation_range(op.activation, qo)
            masks[op.output] = ((acc >= np.left_shift(np.int64(lo - qo.zp), k))
                                & (acc <= np.left_shift(np.int64(hi - qo.zp), k)))
            env[op.output] = requantize(acc, k, qo.zp, lo, hi)
            del acc
        return env[g.outputs[0]], masks

    def backward(self, masks: dict[str, np.ndarray], grad: np.ndarray) -> tuple[np.ndarray, int]:
        """grad: int64 d J / d output (in the output's integer units, real = grad exactly).
        Returns (G, s): d J / d input ~= G * 2**s in the input's integer units (G int64).
        Reverse mode over the graph: a tensor read by several ops (the linear path's y_hat)
        sums its gradients at the coarser of their scales (the finer one rounded half up)."""
        g = self.graph
        # G holds integers in float64 (always below 2**53, so every operation on it is exact):
        # no int64 copies of the largest activations
        grads = {g.outputs[0]: (grad.astype(np.float64), 0)}
        for op in reversed(g.ops):
            if op.output not in grads:
                continue
            G, s = grads.pop(op.output)
            if isinstance(op, DepthToSpace):
                _accumulate(grads, op.input, space_to_depth(G, op.block), s)
                continue
            G = np.where(masks[op.output], G, 0.0)
            if isinstance(op, Add):
                # d out / d a = d out / d b = 1 inside the range (one scale everywhere)
                _accumulate(grads, op.a, G, s)
                _accumulate(grads, op.b, G.copy(), s)
                continue
            qi, qo = g.tensors[op.input], g.tensors[op.output]
            # d out_q / d in_q = W / 2**k per output channel, k = out_exp - in_exp - w_exp
            k = qo.exp - qi.exp - op.w_exp.astype(np.int64)
            spread = int(k.max()) - k
            peak = np.abs(G).reshape(-1, G.shape[-1]).max(axis=0)
            bits = max((int(p).bit_length() + int(sp) for p, sp in zip(peak, spread)), default=0)
            r = max(0, bits - GRAD_BITS)
            if r:                                   # round half up to 2**r, exactly
                G = np.floor(G * math.ldexp(1.0, -r) + 0.5)
            G *= np.ldexp(1.0, spread)
            s += r - int(k.max())
            _accumulate(grads, op.input, _conv_input_grad(G, self.weights[op.output]), s)
        G, s = grads[g.inputs[0]]
        return G.astype(np.int64), s


def _accumulate(grads: dict, name: str, G: np.ndarray, s: int) -> None:
    """grads[name] += G * 2**s, exactly: both terms at the coarser scale, the finer rounded
    half up (integers in float64 stay below 2**53)."""
    if name not in grads:
        grads[name] = (G, s)
        return
    H, t = grads[name]
    if s < t:
        G, s, H, t = H, t, G, s
    if s > t:
        H = np.floor(H * math.ldexp(1.0, t - s) + 0.5)
    grads[name] = (G + H, s)


def _conv_input_grad(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Adjoint of the SAME stride-1 correlation: d/d input of sum(g * conv(input, w)).
    g: [n, h, w, cout] float64 (exact integers), w: [cout, kh, kw, cin]."""
    n, h, wd, cout = g.shape
    _, kh, kw, cin = w.shape
    pt, pl = (kh - 1) // 2, (kw - 1) // 2
    acc = np.zeros((n, h + kh - 1, wd + kw - 1, cin), np.float64)
    flat = g.reshape(-1, cout)
    for dy in range(kh):
        for dx in range(kw):
            acc[:, dy:dy + h, dx:dx + wd, :] += (flat @ w[:, dy, dx, :]).reshape(n, h, wd, cin)
    return acc[:, pt:pt + h, pl:pl + wd, :]


class LatentRefiner:
    """Normalised gradient descent on the symbols of one picture at one level (see the module doc)."""

    def __init__(self, g_s: Graph, tables: CdfTables):
        self.synthesis = SynthesisGradient(g_s)
        self.costs = SymbolCosts(tables)
        self.radius = tables.radius

    def refine(self, x: np.ndarray, y: np.ndarray, d: int, mu: np.ndarray, t: np.ndarray,
               lam: float, iterations: int) -> np.ndarray:
        """Symbols q (int32, y's shape) lowering J = R + lam/3 * SSE(g_s(q << d), x).

        x: H x W x 3 int8 target (the unpadded signal); y: g_a's int8 latent; d: the level's
        shift (q = round(y / 2**d)); mu, t: the entropy parameters of g_a's own symbols (kept
        fixed: the caller rebuilds z from the result).  Returns g_a's own symbols when no
        iterate has a lower J."""
        h, w = x.shape[:2]
        target = x.astype(np.int64)
        lam3 = float(lam) / 3.0
        r = self.radius[t]
        lo, hi = mu - r, mu + r                      # keep every symbol codable as it is
        u = np.left_shift(y.astype(np.int64), FRAC - d)
        grad_scale = math.ldexp(1.0, d)              # d y_hat / d q

        def symbols(u):
            return np.clip(np.right_shift(u + (1 << (FRAC - 1)), FRAC), lo, hi)

        best_j, best_q, best_u, g_best = None, None, None, None
        shrink = 0
        for k in range(iterations + 1):
            q = symbols(u)
            y_hat = np.clip(np.left_shift(q, d), -128, 127)
            img, masks = self.synthesis.forward(y_hat.astype(np.int8))
            err = img[0, :h, :w, :].astype(np.int64) - target
            sse = int(np.sum(err * err))
            rate = int(np.sum(self.costs.cost(q - mu, t)))
            j = float(rate) / float(1 << COST_FRAC) + lam3 * float(sse)
            if k == iterations:
                if best_j is None or j < best_j:
                    best_q = q
                break
            if best_j is None or j < best_j:
                best_j, best_q, best_u = j, q, u
                g_img = np.zeros(img.shape, np.int64)
                g_img[0, :h, :w, :] = 2 * err
                G, s = self.synthesis.backward(masks, g_img)
                g_d = np.ldexp(G.astype(np.float64), s) * grad_scale
                g_d = np.where((y_hat > -128) & (y_hat < 127), g_d, 0.0)
                g_best = self.costs.slope(q - mu, t) + lam3 * g_d
            else:
                # worse: back to the best iterate with half the step (a backtracking line
                # search; the first-order step overshoots where one symbol moves a whole
                # block, as the linear path's low-frequency coefficients do)
                shrink += 1
            g = g_best
            step = ((STEP0 * (iterations - k)) // iterations) >> shrink
            # normalised, not sign, descent: a sign step moves every symbol alike and makes the
            # whole latent oscillate; this one moves the symbols of small gradient less.
            # np.partition selects an exact element (no arithmetic), so ref is exact too; the
            # percentile is of the nonzero gradients (a wide latent has many exact zeros).
            a = np.abs(g).reshape(-1)
            a = a[a > 0.0]
            ref = 0.0
            if a.size:
                kth = NORM_PERCENTILE * (a.size - 1) // 100
                ref = float(np.partition(a, kth)[kth])
            u = best_u
            if ref > 0.0 and step > 0:
                move = np.floor(np.clip(g / ref, -1.0, 1.0) * float(step) + 0.5)
                u = best_u - move.astype(np.int64)
        return best_q.astype(np.int32)
