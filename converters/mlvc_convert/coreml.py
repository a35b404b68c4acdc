"""Write a profile `Graph` as a Core ML mlprogram (.mlpackage) whose fp32 arithmetic is exact.

Built directly with the MIL builder, so the program is the graph as written (no frontend, and the
converter passes that would fold scales or biases into a convolution are removed).  Layout and
types (see docs/coreml.md):

* model inputs and outputs are fp32 tensors, **NCHW**, holding the int8 values ``q`` of the
  graph's tensors (``-128..127``); the app converts NHWC int8 to NCHW fp32 and back;
* conv weights are stored as int8 through ``constexpr_affine_dequantize`` (scale 1, zero point 0),
  which reproduces every int8 exactly as fp32;
* a conv computes ``acc = conv(x - zp_in, W) + B`` in fp32.  Every partial sum is an integer below
  2**24 (checked here per output channel with the input's real range ``max|x - zp_in|``), so any
  summation order, with or without FMA, gives the same fp32 value.  Where the bound fails the input
  channels are split into groups, each group is convolved in fp32 (each below 2**24), cast to int32
  and the groups are added in int32, with the requantisation done in int32 too;
* requantisation by the power-of-two scale 2**-k is exact: ``q = floor(acc * 2**-(k-1))`` (an exact
  scaling, then floor), ``r = floor((q + 1 + 2*zp) * 0.5)`` = ``floor(acc / 2**k + 1/2) + zp``,
  then ``clip`` to the activation range.  Every intermediate is an integer (or half-integer) far
  below 2**24: no op of the program ever rounds;
* ADD is ``a + b + (zo - za - zb)`` then ``clip``; CONCATENATION is ``concat`` on axis 1;
  DEPTH_TO_SPACE is MIL ``depth_to_space`` (DCR order, what coremltools maps TensorFlow's
  DepthToSpace to).

Shapes are fixed at export (one package per input size): SAME padding is written as explicit
``custom`` pads so the program does not depend on how a runtime splits odd padding.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlvc.errors import BackendError, ModelError
from mlvc.intops.graph import Add, Concat, Conv2D, DepthToSpace, Graph
from mlvc.intops.reference import activation_range, same_padding

EXACT_LIMIT = 1 << 24        # fp32 integers are exact below this
INT32_LIMIT = 1 << 31
# Passes of coremltools' default pipeline that fold scales/biases/elementwise ops into a conv or
# rewrite divisions; removed so the saved program is the graph as written (docs/coreml.md).
REMOVED_PASSES = (
    "common::fuse_conv_scale",
    "common::fuse_conv_bias",
    "common::fuse_conv_batchnorm",
    "common::fuse_elementwise_to_batchnorm",
    "common::divide_to_multiply",
)
LAYOUT = "NCHW"
META_KEY = "com.mlvc.integer_profile"


def _ct():
    try:
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb
        from coremltools.converters.mil.mil import Function, Program, types
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BackendError("Core ML export needs coremltools (pip install coremltools)") from exc
    return ct, mb, Function, Program, types


def _ident(name: str) -> str:
    """A MIL-safe identifier for a graph tensor name."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or not (s[0].isalpha() or s[0] == "_"):
        s = "t_" + s
    return s


def max_abs_centered(zp: int) -> int:
    """max |q - zp| over int8 q: the largest value a conv input takes after the zp subtraction."""
    return max(128 + zp, 127 - zp)


@dataclass
class ConvPlan:
    """How one conv is emitted: channel groups (input channel ranges) and the accumulator type."""
    groups: list[tuple[int, int]]
    int32: bool                     # True: groups summed and requantised in int32
    bound: np.ndarray               # per output channel: m*sum|W| + |B|
    group_bounds: list[int] = field(default_factory=list)   # max over channels of m*sum_g|W|


def plan_conv(op: Conv2D, zp_in: int) -> ConvPlan:
    """Choose fp32 (one group) or the int32 channel split, and prove each part's bound."""
    m = max_abs_centered(zp_in)
    w = np.abs(op.weights.astype(np.int64))
    bias = np.abs(op.bias.astype(np.int64))
    cin = op.in_channels
    if op.depthwise:
        per = w.sum(axis=(0, 1, 2))                      # [C]: one input channel per output
        bound = m * per + bias
        if np.all(bound < EXACT_LIMIT):
            return ConvPlan([(0, cin)], False, bound, [int((m * per).max())])
        # A depthwise channel sees kh*kw <= 25 weights: the fp32 conv alone is always exact
        # (25*128*255 < 2**24); only the bias pushes past, so add it in int32.
        if np.any(m * per >= EXACT_LIMIT):
            raise ModelError(f"conv -> {op.output!r}: depthwise taps exceed 2**24")
        return ConvPlan([(0, cin)], True, bound, [int((m * per).max())])
    s = w.sum(axis=(1, 2))                               # [Cout, Cin]
    bound = m * s.sum(axis=1) + bias
    if np.all(bound < EXACT_LIMIT):
        return ConvPlan([(0, cin)], False, bound, [int((m * s.sum(axis=1)).max())])
    groups: list[tuple[int, int]] = []
    gb: list[int] = []
    start, acc = 0, np.zeros(s.shape[0], np.int64)
    for c in range(cin):
        nxt = acc + s[:, c]
        if np.any(m * nxt >= EXACT_LIMIT):
            if c == start:
                raise ModelError(f"conv -> {op.output!r}: one input channel alone exceeds 2**24")
            groups.append((start, c))
            gb.append(int((m * acc).max()))
            start, nxt = c, s[:, c].copy()
        acc = nxt
    groups.append((start, cin))
    gb.append(int((m * acc).max()))
    return ConvPlan(groups, True, bound, gb)


@dataclass
class BuildInfo:
    """What the converter emitted: op types in order (without consts), and the conv plans."""
    ops: list[str] = field(default_factory=list)
    op_names: list[str] = field(default_factory=list)
    dataflow: list[tuple] = field(default_factory=list)
    plans: dict[str, ConvPlan] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)      # graph name -> feature name
    outputs: dict[str, str] = field(default_factory=dict)


def build_program(graph: Graph, height: int = 1, width: int = 1, batch: int = 1, *,
                  check: bool = True):
    """Build the MIL Program for `graph` with fixed input shape (batch, C, height, width).

    Returns ``(program, BuildInfo)``.  `check=False` skips `Graph.validate()` (used to build
    graphs past the profile's accumulator bound, which the channel split handles); the bounds this
    converter relies on are checked either way."""
    ct, mb, Function, Program, types = _ct()
    if check:
        graph.validate()
    info = BuildInfo()
    q = graph.tensors
    channels = {n: int(graph.channels[n]) for n in graph.inputs}
    hw = {n: (height, width) for n in graph.inputs}
    names: dict[str, str] = {}
    used: set[str] = set()

    def fresh(base: str) -> str:
        base = _ident(base)
        n, i = base, 0
        while n in used:
            i += 1
            n = f"{base}_{i}"
        used.add(n)
        return n

    placeholders = {}
    for n in graph.inputs:
        fname = fresh(n)
        info.inputs[n] = fname
        placeholders[fname] = mb.placeholder(shape=(batch, channels[n], height, width),
                                             dtype=types.fp32, name=fname)
    outputs = set(graph.outputs)
    for n in graph.outputs:
        if n not in graph.inputs:
            info.outputs[n] = fresh(n)

    def emit(kind: str, fn, **kw):
        info.ops.append(kind)
        info.op_names.append(kw["name"])
        return fn(**kw)

    def c4(v, dtype) -> np.ndarray:
        return np.asarray(v, dtype).reshape(1, -1, 1, 1)

    with Function(placeholders, opset_version=ct.target.iOS16) as func:
        env = {n: func.inputs[info.inputs[n]] for n in graph.inputs}
        centered: dict[str, object] = {}

        def centered_input(n: str):
            """x - zp (fp32, exact), emitted once per tensor."""
            if n not in centered:
                zp = q[n].zp
                centered[n] = env[n] if zp == 0 else emit(
                    "sub", mb.sub, x=env[n], y=np.float32(zp), name=fresh(f"{n}_centered"))
            return centered[n]

        def final_name(out: str, step: str) -> str:
            return info.outputs[out] if out in outputs else fresh(f"{out}_{step}")

        for op in graph.ops:
            out = op.output
            if isinstance(op, Conv2D):
                qin, qout = q[op.input], q[out]
                plan = plan_conv(op, qin.zp)
                info.plans[out] = plan
                h, w_ = hw[op.input]
                kh, kw = op.weights.shape[1:3]
                ho, pt, pb = same_padding(h, kh, op.stride)
                wo, pl, pr = same_padding(w_, kw, op.stride)
                k = (qout.exp - qin.exp - op.w_exp.astype(np.int64))
                if np.any(k < 1) or np.any(k > 30):
                    raise ModelError(f"conv -> {out!r}: shifts {k.min()}..{k.max()} not in [1, 30]")
                lo, hi = activation_range(op.activation, qout)
                x = centered_input(op.input)
                if op.depthwise:
                    wt = np.ascontiguousarray(op.weights.transpose(3, 0, 1, 2))   # [C,1,kh,kw]
                    groups = op.in_channels
                else:
                    wt = np.ascontiguousarray(op.weights.transpose(0, 3, 1, 2))   # [Co,Ci,kh,kw]
                    groups = 1
                parts = []
                if len(plan.groups) > 1:
                    sizes = [e - s for s, e in plan.groups]
                    xs = emit("split", mb.split, x=x, split_sizes=np.array(sizes, np.int32),
                              axis=1, name=fresh(f"{out}_split"))
                else:
                    xs = [x]
                for gi, (s0, e0) in enumerate(plan.groups):
                    wg = wt if op.depthwise else np.ascontiguousarray(wt[:, s0:e0])
                    wv = emit("constexpr_affine_dequantize", mb.constexpr_affine_dequantize,
                              quantized_data=wg, zero_point=np.int8(0), scale=np.float32(1.0),
                              axis=0, name=fresh(f"{out}_w{gi}"))
                    parts.append(emit("conv", mb.conv, x=xs[gi], weight=wv,
                                      strides=[op.stride, op.stride], pad_type="custom",
                                      pad=[pt, pb, pl, pr], dilations=[1, 1], groups=groups,
                                      name=fresh(f"{out}_conv{gi}")))
                if not plan.int32:
                    acc = emit("add", mb.add, x=parts[0], y=c4(op.bias, np.float32),
                               name=fresh(f"{out}_acc"))
                    # q = floor(acc * 2^-(k-1)); r = floor((q + 1 + 2 zp) / 2)  (exact, see doc)
                    t = emit("mul", mb.mul, x=acc, y=c4(2.0 ** -(k - 1), np.float32),
                             name=fresh(f"{out}_scaled"))
                    t = emit("floor", mb.floor, x=t, name=fresh(f"{out}_floor1"))
                    t = emit("add", mb.add, x=t, y=np.float32(1 + 2 * qout.zp),
                             name=fresh(f"{out}_offset"))
                    t = emit("mul", mb.mul, x=t, y=np.float32(0.5), name=fresh(f"{out}_half"))
                    t = emit("floor", mb.floor, x=t, name=fresh(f"{out}_floor2"))
                    y = emit("clip", mb.clip, x=t, alpha=np.float32(lo), beta=np.float32(hi),
                             name=final_name(out, "clip"))
                else:
                    half = np.left_shift(np.int64(1), k - 1)
                    worst = int((plan.bound + half).max())
                    if worst >= INT32_LIMIT:
                        raise ModelError(f"conv -> {out!r}: accumulator bound {worst} >= 2**31")
                    ints = [emit("cast", mb.cast, x=p, dtype="int32", name=fresh(f"{out}_i{i}"))
                            for i, p in enumerate(parts)]
                    acc = ints[0]
                    for i, p in enumerate(ints[1:]):
                        acc = emit("add", mb.add, x=acc, y=p, name=fresh(f"{out}_sum{i}"))
                    acc = emit("add", mb.add, x=acc, y=c4(op.bias.astype(np.int64) + half,
                                                          np.int32),
                               name=fresh(f"{out}_acc"))
                    t = emit("floor_div", mb.floor_div, x=acc,
                             y=c4(np.left_shift(np.int64(1), k), np.int32),
                             name=fresh(f"{out}_shift"))
                    if qout.zp:
                        t = emit("add", mb.add, x=t, y=np.int32(qout.zp), name=fresh(f"{out}_zp"))
                    t = emit("maximum", mb.maximum, x=t, y=np.int32(lo), name=fresh(f"{out}_lo"))
                    t = emit("minimum", mb.minimum, x=t, y=np.int32(hi), name=fresh(f"{out}_hi"))
                    y = emit("cast", mb.cast, x=t, dtype="fp32", name=final_name(out, "f32"))
                env[out] = y
                channels[out] = op.out_channels
                hw[out] = (ho, wo)
            elif isinstance(op, Add):
                qa, qb, qo = q[op.a], q[op.b], q[out]
                if not qa.exp == qb.exp == qo.exp:
                    raise ModelError(f"add -> {out!r}: inputs and output must share one scale")
                lo, hi = activation_range(op.activation, qo)
                t = emit("add", mb.add, x=env[op.a], y=env[op.b], name=fresh(f"{out}_sum"))
                off = qo.zp - qa.zp - qb.zp
                if off:
                    t = emit("add", mb.add, x=t, y=np.float32(off), name=fresh(f"{out}_zp"))
                env[out] = emit("clip", mb.clip, x=t, alpha=np.float32(lo), beta=np.float32(hi),
                                name=final_name(out, "clip"))
                channels[out] = channels[op.a]
                hw[out] = hw[op.a]
            elif isinstance(op, Concat):
                env[out] = emit("concat", mb.concat, values=[env[n] for n in op.inputs], axis=1,
                                interleave=False, name=final_name(out, "concat"))
                channels[out] = sum(channels[n] for n in op.inputs)
                hw[out] = hw[op.inputs[0]]
            elif isinstance(op, DepthToSpace):
                env[out] = emit("depth_to_space", mb.depth_to_space, x=env[op.input],
                                block_size=op.block, name=final_name(out, "d2s"))
                channels[out] = channels[op.input] // (op.block * op.block)
                h, w_ = hw[op.input]
                hw[out] = (h * op.block, w_ * op.block)
            else:  # pragma: no cover - closed set
                raise ModelError(f"unknown op {op!r}")
        outs = []
        for n in graph.outputs:
            if n in graph.inputs:   # an input passed through: emit an explicit copy
                info.outputs[n] = fresh(f"{n}_out")
                outs.append(emit("identity", mb.identity, x=env[n], name=info.outputs[n]))
            else:
                outs.append(env[n])
        func.set_outputs(outs)
    prog = Program()
    prog.add_function("main", func)
    info.dataflow = _dataflow(func)
    return prog, info


def _dataflow(func) -> list[tuple]:
    """Every non-const op as (type, first output name, ((input key, producing op's first output
    name or model input), ...)), sorted; const inputs are left out.  The saved program must have
    the same rows (tests): nothing fused, folded, replaced or removed.  Ops are identified by
    their output variable names because coremltools' cast pass renames the cast ops themselves."""
    producer = {v.name: v.name for v in func.inputs.values()}
    rows = []
    for op in func.operations:
        if op.op_type == "const":
            continue
        for o in op.outputs:
            producer[o.name] = op.outputs[0].name
    for op in func.operations:
        if op.op_type == "const":
            continue
        ins = []
        for key, v in op.inputs.items():
            for var in (v if isinstance(v, (list, tuple)) else [v]):
                if var.name in producer:
                    ins.append((key, producer[var.name]))
        rows.append((op.op_type, op.outputs[0].name, tuple(sorted(ins))))
    return sorted(rows)


def pass_pipeline():
    ct = _ct()[0]
    p = ct.PassPipeline.DEFAULT
    p.remove_passes(list(REMOVED_PASSES))
    return p


def graph_to_mlprogram(graph: Graph, height: int = 1, width: int = 1, batch: int = 1, *,
                       check: bool = True):
    """Convert `graph` to a coremltools MLModel (mlprogram, fp32, iOS16+/macOS13+).

    Inputs are fixed-shape fp32 NCHW tensors of shape (batch, C, height, width)."""
    ct = _ct()[0]
    prog, info = build_program(graph, height, width, batch, check=check)
    model = ct.convert(prog, convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                       minimum_deployment_target=ct.target.iOS16,
                       pass_pipeline=pass_pipeline())
    meta = {
        "graph": graph.name, "layout": LAYOUT, "dtype": "fp32-holding-int8",
        "inputs": info.inputs, "outputs": info.outputs,
        "input_shape": [batch, height, width],
        "emitted_ops": [list(t) for t in zip(info.ops, info.op_names)],
        "int32_convs": sorted(n for n, p in info.plans.items() if p.int32),
    }
    model.user_defined_metadata[META_KEY] = json.dumps(meta, sort_keys=True)
    model.short_description = f"mlvc integer profile: {graph.name} (exact in fp32, cpuOnly)"
    model._mlvc_build_info = info      # for tests and tools; not saved
    return model


def export_graph(graph: Graph, path: str | Path, height: int = 1, width: int = 1,
                 batch: int = 1, *, check: bool = True) -> dict:
    """Write `graph` as an .mlpackage at `path`; returns a small report (ops, sizes, seconds)."""
    path = Path(path)
    if path.suffix != ".mlpackage":
        raise ModelError(f"{path}: a Core ML mlprogram is saved as a .mlpackage directory")
    t0 = time.perf_counter()
    model = graph_to_mlprogram(graph, height, width, batch, check=check)
    model.save(str(path))
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    info = model._mlvc_build_info
    return {"path": str(path), "seconds": seconds, "bytes": size, "ops": info.ops,
            "op_names": info.op_names, "dataflow": info.dataflow,
            "inputs": info.inputs, "outputs": info.outputs,
            "int32_convs": sorted(n for n, p in info.plans.items() if p.int32)}
