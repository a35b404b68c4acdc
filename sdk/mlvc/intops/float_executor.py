"""A float execution of a profile graph: what a float16/float32 delegate (GPU, NNAPI, the Neural
Engine) computes instead of the profile's integers.  Interior tensors stay real-valued; only
the network outputs are quantised back to int8.  It is an *approximate* backend by design, used
to measure drift (benchmarks/bench_drift.py) and to show that the parse path stays exact.
"""
from __future__ import annotations

import numpy as np

from .graph import Add, Concat, Conv2D, DepthToSpace, Graph
from .reference import activation_range, correlate, depth_to_space


def _conv(x: np.ndarray, op: Conv2D, in_exp: int, dtype) -> np.ndarray:
    scale = np.exp2(op.w_exp.astype(np.float64))
    wr = op.weights.astype(np.float64) * (scale if op.depthwise else scale[:, None, None, None])
    acc = correlate(x, wr.astype(dtype), op.stride, op.depthwise)
    bias = op.bias.astype(np.float64) * np.exp2(in_exp + op.w_exp.astype(np.float64))
    return acc + bias.astype(dtype)


def run_graph_float(graph: Graph, feeds: dict[str, np.ndarray], dtype=np.float16
                    ) -> dict[str, np.ndarray]:
    q = graph.tensors
    env = {n: ((feeds[n].astype(np.float64) - q[n].zp) * q[n].scale).astype(dtype)
           for n in graph.inputs}

    def act(v, name, activation):
        lo, hi = activation_range(activation, q[name])
        lo_r, hi_r = (lo - q[name].zp) * q[name].scale, (hi - q[name].zp) * q[name].scale
        return np.clip(v, lo_r, hi_r).astype(dtype)

    for op in graph.ops:
        if isinstance(op, Conv2D):
            env[op.output] = act(_conv(env[op.input], op, q[op.input].exp, dtype), op.output,
                                 op.activation)
        elif isinstance(op, Add):
            env[op.output] = act(env[op.a] + env[op.b], op.output, op.activation)
        elif isinstance(op, Concat):
            env[op.output] = np.concatenate([env[n] for n in op.inputs], axis=3)
        elif isinstance(op, DepthToSpace):
            env[op.output] = depth_to_space(env[op.input], op.block)
    out = {}
    for n in graph.outputs:
        v = np.rint(env[n].astype(np.float64) / q[n].scale) + q[n].zp
        out[n] = np.clip(v, -128, 127).astype(np.int8)
    return out
