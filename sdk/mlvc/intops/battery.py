"""A generated battery of profile networks for the conformance matrix (checkasm-style).

Every op of the profile with edge values (largest weights the accumulator bound allows, extreme
zero points and activations), odd shapes, random weights, plus one codec-shaped network.  Cases
are generated from fixed seeds, so every machine builds the same battery.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import ACC_LIMIT, Add, Concat, Conv2D, DepthToSpace, Graph, QParams


@dataclass
class Case:
    name: str
    graph: Graph
    feeds: dict[str, np.ndarray]


def _weights(rng, shape, depthwise=False, extreme=False) -> np.ndarray:
    """Multiples of 4 in [-124, 124], scaled down if needed to respect the accumulator bound."""
    levels = rng.integers(-31, 32, size=shape)
    if extreme:
        levels = rng.choice(np.array([-31, 31, -31, 0]), size=shape)
    w = levels * 4
    axes = (0, 1, 2) if depthwise else (1, 2, 3)
    per = np.abs(w).sum(axis=axes, keepdims=True)
    limit = (ACC_LIMIT - (1 << 20)) // 255
    factor = np.maximum(1, -(-per // limit))
    w = (w // factor) // 4 * 4
    return w.astype(np.int8)


def _bias(rng, n, extreme=False) -> np.ndarray:
    mag = (1 << 20) if extreme else (1 << 14)
    return (rng.integers(-mag, mag, size=n) * 4 + 2).astype(np.int32)


def conv_op(rng, graph_tensors, channels, inp, out, cout, k, stride, act, *, depthwise=False,
            extreme=False, out_q: QParams | None = None) -> Conv2D:
    cin = channels[inp]
    qin = graph_tensors[inp]
    if depthwise:
        cout = cin
        w = _weights(rng, (1, k, k, cin), True, extreme)
    else:
        w = _weights(rng, (cout, k, k, cin), False, extreme)
    if out_q is None:
        zp = -128 if act in ("RELU", "RELU6") else int(rng.integers(-20, 21))
        out_q = QParams(qin.exp + 3 + int(rng.integers(0, 6)) + 8, zp)
    graph_tensors[out] = out_q
    # Per-channel weight exponents give shifts of 3..(3+7) (the profile's minimum is 3).
    w_exp = (out_q.exp - qin.exp - 3 - rng.integers(0, 8, size=cout)).astype(np.int32)
    channels[out] = cout
    return Conv2D(inp, out, w, w_exp, _bias(rng, cout, extreme), stride, act, depthwise)


def _random_input(rng, shape, extreme=False) -> np.ndarray:
    if extreme:
        return rng.choice(np.array([-128, 127, 0, -1], np.int8), size=shape)
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def single_op_cases(seed: int = 1) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    shapes = [(1, 16, 16), (1, 7, 5), (1, 1, 1), (1, 13, 17), (2, 9, 8)]

    def case(name, ops, tensors, channels, inputs, outputs, shape):
        g = Graph(name, inputs, outputs, tensors, channels, ops).validate()
        feeds = {n: _random_input(rng, (shape[0], shape[1], shape[2], channels[n]),
                                  extreme="edge" in name) for n in inputs}
        cases.append(Case(name, g, feeds))

    for k in (1, 3, 5):
        for stride in (1, 2):
            for act in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
                for extreme in (False, True):
                    shape = shapes[int(rng.integers(0, len(shapes)))]
                    cin, cout = int(rng.integers(1, 20)), int(rng.integers(1, 24))
                    t = {"x": QParams(int(rng.integers(-8, 0)), int(rng.integers(-128, 128)))}
                    ch = {"x": cin}
                    op = conv_op(rng, t, ch, "x", "y", cout, k, stride, act, extreme=extreme)
                    tag = "edge" if extreme else "rand"
                    case(f"conv{k}x{k}_s{stride}_{act.lower()}_{tag}", [op], t, ch, ["x"], ["y"],
                         shape)
    for k in (3, 5):
        for stride in (1, 2):
            for extreme in (False, True):
                c = int(rng.integers(1, 40))
                t = {"x": QParams(-5, int(rng.integers(-128, 128)))}
                ch = {"x": c}
                op = conv_op(rng, t, ch, "x", "y", c, k, stride, "RELU" if extreme else "NONE",
                             depthwise=True, extreme=extreme)
                tag = "edge" if extreme else "rand"
                case(f"dwconv{k}x{k}_s{stride}_{tag}", [op], t, ch, ["x"], ["y"], (1, 11, 14))
    for act in ("NONE", "RELU", "RELU6"):
        for extreme in (False, True):
            e = int(rng.integers(-6, -1))
            t = {"a": QParams(e, int(rng.integers(-128, 128))),
                 "b": QParams(e, int(rng.integers(-128, 128))),
                 "y": QParams(e, -128 if act != "NONE" else int(rng.integers(-10, 10)))}
            ch = {"a": 8, "b": 8}
            tag = "edge" if extreme else "rand"
            case(f"add_{act.lower()}_{tag}", [Add("a", "b", "y", act)], t, ch, ["a", "b"], ["y"],
                 (1, 9, 11))
    q = QParams(-4, 3)
    case("concat3", [Concat(["a", "b", "c"], "y")], {"a": q, "b": q, "c": q, "y": q},
         {"a": 3, "b": 5, "c": 1}, ["a", "b", "c"], ["y"], (1, 6, 7))
    for act in ("NONE", "RELU"):
        # the linear path's block steps: 2x2 kernels, stride 2 (no padding on even sizes)
        for extreme in (False, True):
            cin, cout = int(rng.integers(1, 50)), int(rng.integers(1, 40))
            t = {"x": QParams(int(rng.integers(-8, 0)), int(rng.integers(-128, 128)))}
            ch = {"x": cin}
            op = conv_op(rng, t, ch, "x", "y", cout, 2, 2, act, extreme=extreme)
            tag = "edge" if extreme else "rand"
            case(f"conv2x2_s2_{act.lower()}_{tag}", [op], t, ch, ["x"], ["y"], (1, 10, 14))
    for block, c in ((2, 12), (2, 256), (3, 18), (16, 768)):
        case(f"depth_to_space_b{block}_c{c}", [DepthToSpace("x", "y", block)],
             {"x": q, "y": q}, {"x": c}, ["x"], ["y"], (1, 5, 6))
    return cases


def codec_shaped_graph(seed: int = 7, n: int = 64, m: int = 96) -> Graph:
    """A synthesis-like network: conv3x3 + depth_to_space upsampling x4, random weights."""
    rng = np.random.default_rng(seed)
    t = {"y_hat": QParams(-2, 0)}
    ch = {"y_hat": m}
    ops: list = []
    cur = "y_hat"
    for i, cout in enumerate((4 * n, 4 * n, 4 * n, 12)):
        last = cout == 12
        act = "NONE" if last else "RELU"
        out_q = QParams(-7, 0) if last else QParams(-3, -128)
        ops.append(conv_op(rng, t, ch, cur, f"c{i}", cout, 3, 1, act, out_q=out_q))
        t[f"u{i}"] = out_q
        ops.append(DepthToSpace(f"c{i}", f"u{i}", 2))
        ch[f"u{i}"] = cout // 4
        cur = f"u{i}"
    return Graph("codec_shaped", ["y_hat"], [cur], t, ch, ops, alignment=1).validate()


def codec_shaped_case(height: int, width: int, seed: int = 7) -> Case:
    """Feeds the codec-shaped network a latent for a height x width picture."""
    g = codec_shaped_graph(seed)
    rng = np.random.default_rng(seed + 1)
    x = np.clip(np.round(rng.laplace(0, 6, size=(1, height // 16, width // 16, 96))),
                -128, 127).astype(np.int8)
    return Case(f"codec_shaped_{width}x{height}", g, {"y_hat": x})


def mixed_case(seed: int = 3) -> Case:
    """A small network using every op together: stride-2 conv, depthwise, concat, add, d2s."""
    rng = np.random.default_rng(seed)
    t = {"x": QParams(-7, 0)}
    ch = {"x": 3}
    ops = [conv_op(rng, t, ch, "x", "a", 16, 5, 2, "RELU")]
    ops.append(conv_op(rng, t, ch, "a", "b", 16, 3, 1, "RELU6", depthwise=True))
    ops.append(conv_op(rng, t, ch, "a", "c", 16, 3, 1, "NONE", out_q=t["b"]))
    t["d"] = t["b"]
    ops.append(Add("b", "c", "d", "RELU"))
    t["e"] = t["b"]
    ops.append(Concat(["b", "d"], "e"))
    ch["e"] = 32
    ops.append(conv_op(rng, t, ch, "e", "f", 12, 3, 1, "NONE"))
    t["g"] = t["f"]
    ops.append(DepthToSpace("f", "g", 2))
    g = Graph("mixed", ["x"], ["g"], t, ch, ops).validate()
    return Case("mixed_all_ops", g, {"x": _random_input(rng, (1, 18, 22, 3))})


def battery(include_large: bool = False) -> list[Case]:
    cases = single_op_cases() + [mixed_case(), codec_shaped_case(64, 96)]
    if include_large:
        cases.append(codec_shaped_case(256, 256))
    return cases
