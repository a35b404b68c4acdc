"""The NumPy reference executor: the definition of every integer the profile computes.

Convolutions run as one float32 BLAS matmul per kernel tap.  That is exact, not approximate:
`Graph.validate()` guarantees 255*sum|W| + |B| < 2**24 per output channel, so every partial sum of
any subset of the products, in any order, is an integer below 2**24 and representable in float32.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .graph import Add, Concat, Conv2D, DepthToSpace, Graph, QParams


def requantize(acc: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int) -> np.ndarray:
    """round(acc / 2**shift) + zp, clamped.  acc is never a tie (profile), so 'round' is unique.

    Written as floor((acc + 2**(shift-1)) / 2**shift), which equals round-half-even, round-half-up
    and round-half-away-from-zero on every non-tie value.
    """
    acc = acc.astype(np.int64)
    half = np.left_shift(np.int64(1), shift - 1)
    out = np.right_shift(acc + half, shift) + zp
    return np.clip(out, lo, hi).astype(np.int8)


def activation_range(activation: str, q: QParams) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for power-of-two scales (exact)."""
    lo, hi = -128, 127
    if activation == "RELU":
        lo = max(lo, q.zp)
    elif activation == "RELU6":
        lo, hi = max(lo, q.zp), min(hi, q.zp + int(round(6.0 / q.scale)))
    elif activation == "RELU_N1_TO_1":
        lo, hi = max(lo, q.zp - int(round(1.0 / q.scale))), min(hi, q.zp + int(round(1.0 / q.scale)))
    return lo, hi


def same_padding(size: int, k: int, stride: int) -> tuple[int, int, int]:
    """TFLite SAME padding: (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def correlate(x: np.ndarray, weights: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
    """SAME-padded NHWC correlation in x's dtype, one BLAS matmul per kernel tap.

    x must already have its zero point removed (so padding with 0 is padding with zp)."""
    n, h, w, cin = x.shape
    kh, kw = weights.shape[1:3]
    ho, pt, pb = same_padding(h, kh, stride)
    wo, pl, pr = same_padding(w, kw, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    cout = weights.shape[3] if depthwise else weights.shape[0]
    acc = np.zeros((n, ho, wo, cout), x.dtype)
    s = stride
    for dy in range(kh):
        for dx in range(kw):
            tap = xp[:, dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s, :]
            if depthwise:
                acc += tap * weights[0, dy, dx, :]
            else:
                acc += (tap.reshape(-1, cin) @ weights[:, dy, dx, :].T).reshape(n, ho, wo, cout)
    return acc


def conv2d(x: np.ndarray, op: Conv2D, qin: QParams, qout: QParams) -> np.ndarray:
    xc = x.astype(np.float32) - np.float32(qin.zp)
    acc = correlate(xc, op.weights.astype(np.float32), op.stride, op.depthwise)
    acc_i = acc.astype(np.int64) + op.bias.astype(np.int64)
    shift = (qout.exp - qin.exp - op.w_exp.astype(np.int64))
    lo, hi = activation_range(op.activation, qout)
    return requantize(acc_i, shift, qout.zp, lo, hi)


def add(a: np.ndarray, b: np.ndarray, qa: QParams, qb: QParams, qo: QParams,
        activation: str) -> np.ndarray:
    # One scale everywhere: the sum of the two real values is an integer number of steps.
    out = a.astype(np.int32) - qa.zp + b.astype(np.int32) - qb.zp + qo.zp
    lo, hi = activation_range(activation, qo)
    return np.clip(out, lo, hi).astype(np.int8)


def depth_to_space(x: np.ndarray, block: int) -> np.ndarray:
    """NHWC depth_to_space, TFLite/TensorFlow 'DCR' channel order."""
    n, h, w, c = x.shape
    oc = c // (block * block)
    y = x.reshape(n, h, w, block, block, oc).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * block, w * block, oc)


def run_graph(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute `graph` on int8 NHWC inputs and return its int8 outputs by name."""
    env: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        if name not in feeds:
            raise InvalidArgumentError(f"{graph.name}: missing input {name!r}")
        x = np.asarray(feeds[name])
        if x.dtype != np.int8 or x.ndim != 4 or x.shape[3] != graph.channels[name]:
            raise InvalidArgumentError(
                f"{graph.name}: input {name!r} must be int8 NHWC with {graph.channels[name]} "
                f"channels, got {x.dtype} {x.shape}")
        env[name] = x
    q = graph.tensors
    for op in graph.ops:
        if isinstance(op, Conv2D):
            env[op.output] = conv2d(env[op.input], op, q[op.input], q[op.output])
        elif isinstance(op, Add):
            env[op.output] = add(env[op.a], env[op.b], q[op.a], q[op.b], q[op.output],
                                 op.activation)
        elif isinstance(op, Concat):
            env[op.output] = np.concatenate([env[n] for n in op.inputs], axis=3)
        elif isinstance(op, DepthToSpace):
            env[op.output] = depth_to_space(env[op.input], op.block)
    return {name: env[name] for name in graph.outputs}
