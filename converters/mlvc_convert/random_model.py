"""The codec's four networks with random weights: for tests and plumbing, never for shipping.

Same architecture, tensor names and quantisation layout as the trained model
(mlvc_train/export_intra.py), at any width, so tests run a full encode/decode in milliseconds
without TensorFlow.
"""
from __future__ import annotations

import numpy as np

from mlvc.intops.graph import Conv2D, DepthToSpace, Graph, QParams

LEVELS = [{"level": 1, "exp": 1}, {"level": 2, "exp": 0}, {"level": 3, "exp": -1},
          {"level": 4, "exp": -2}]


class _Builder:
    def __init__(self, name, inputs: dict[str, tuple[QParams, int]], rng):
        self.name, self.rng = name, rng
        self.tensors = {n: q for n, (q, _) in inputs.items()}
        self.channels = {n: c for n, (_, c) in inputs.items()}
        self.inputs = list(inputs)
        self.ops: list = []

    def conv(self, inp, out, cout, k, stride, act, q: QParams, shift: int = 6):
        cin = self.channels[inp]
        w = (self.rng.integers(-10, 11, size=(cout, k, k, cin)) * 4).astype(np.int8)
        w_exp = np.full(cout, q.exp - self.tensors[inp].exp - shift, np.int32)
        bias = (self.rng.integers(-64, 64, size=cout) * 4 + 2).astype(np.int32)
        self.tensors[out], self.channels[out] = q, cout
        self.ops.append(Conv2D(inp, out, w, w_exp, bias, stride, act))
        return out

    def d2s(self, inp, out):
        self.tensors[out] = self.tensors[inp]
        self.channels[out] = self.channels[inp] // 4
        self.ops.append(DepthToSpace(inp, out, 2))
        return out

    def graph(self, outputs, alignment) -> Graph:
        return Graph(self.name, self.inputs, outputs, self.tensors, self.channels, self.ops,
                     alignment).validate()


def random_codec(n: int = 16, m: int = 24, nz: int = 16, seed: int = 0
                 ) -> tuple[dict[str, Graph], dict]:
    rng = np.random.default_rng(seed)
    relu = QParams(-2, -128)
    img, y = QParams(-7, 0), QParams(-2, 0)
    b = _Builder("g_a", {"image": (img, 3)}, rng)
    t = b.conv("image", "a1", n, 5, 2, "RELU", relu, shift=5)
    t = b.conv(t, "a2", n, 5, 2, "RELU", relu, shift=9)
    t = b.conv(t, "a3", n, 5, 2, "RELU", relu, shift=9)
    b.conv(t, "y", m, 5, 2, "NONE", y, shift=9)
    g_a = b.graph(["y"], 16)

    b = _Builder("h_a", {"y": (y, m)}, rng)
    t = b.conv("y", "b1", n, 3, 1, "RELU", relu, shift=8)
    t = b.conv(t, "b2", n, 5, 2, "RELU", relu, shift=9)
    b.conv(t, "z", nz, 5, 2, "NONE", QParams(0, 0), shift=11)
    h_a = b.graph(["z"], 4)

    b = _Builder("h_s", {"z": (QParams(0, 0), nz)}, rng)
    t = b.d2s(b.conv("z", "c1", 4 * n, 3, 1, "RELU", relu, shift=4), "c1u")
    t = b.d2s(b.conv(t, "c2", 4 * n, 3, 1, "RELU", relu, shift=9), "c2u")
    t = b.conv(t, "h", n, 3, 1, "RELU", relu, shift=9)
    b.conv(t, "mu", m, 3, 1, "NONE", y, shift=9)
    b.conv(t, "sigma_index", m, 3, 1, "NONE", QParams(0, 0), shift=9)
    h_s = b.graph(["mu", "sigma_index"], 1)

    b = _Builder("g_s", {"y_hat": (y, m)}, rng)
    t = b.d2s(b.conv("y_hat", "s1", 4 * n, 3, 1, "RELU", relu, shift=7), "s1u")
    t = b.d2s(b.conv(t, "s2", 4 * n, 3, 1, "RELU", relu, shift=9), "s2u")
    t = b.d2s(b.conv(t, "s3", 4 * n, 3, 1, "RELU", relu, shift=9), "s3u")
    b.d2s(b.conv(t, "s4", 12, 3, 1, "NONE", img, shift=9), "image")
    g_s = b.graph(["image"], 1)

    codec = {"levels": LEVELS, "y_exp": -2, "sigma_min": 0.11, "tables_per_octave": 8,
             "num_tables": 80, "z_table_index": [int(v) for v in rng.integers(10, 40, size=nz)],
             "train": {"note": "random weights, for tests only"}}
    return {"g_a": g_a, "h_a": h_a, "h_s": h_s, "g_s": g_s}, codec
