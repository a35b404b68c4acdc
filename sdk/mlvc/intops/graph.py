"""The integer profile's network description (IR): tensors, ops, validation, (de)serialisation.

A `Graph` is the single source from which every backend is built: the NumPy reference executes it
directly, the TFLite writer turns it into a flatbuffer, the Core ML converter into an mlprogram.
The constraints checked by `Graph.validate()` are what make every kernel set compute the same
integers (see docs/integer-profile.md):

* every scale is a power of two (a tensor stores ``exp``: real = (q - zp) * 2**exp);
* conv weights are int8 multiples of 4 in [-124, 124] (never -128: Arm kernels without dot
  product instructions add two int8 x int8 products in int16, and (-128)*(-128) twice overflows
  it; measured on Cortex-A72), biases are int32 with ``bias % 4 == 2``, and every
  requantisation shift ``k = out_exp - in_exp - w_exp[c]`` is at least 3.  The accumulator is then
  always ``2 (mod 4)``: it is never a rounding tie, and TFLite's double rounding, its single rounding
  and XNNPACK's fp32 round-half-even all give the same integer;
* ``255 * sum|W_c| + |B_c| < 2**24`` per output channel, so every partial sum is exact in fp32
  (XNNPACK's float requantisation, Core ML, the NumPy executor's float32 BLAS);
* ADD and CONCATENATION see one scale on every input and on the output, DEPTH_TO_SPACE keeps its
  input's quantisation: those ops move or add integers and never round.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

ACC_LIMIT = 1 << 24          # every partial sum stays below this: exact in float32
MIN_SHIFT = 3                # smallest requantisation shift the tie-free argument allows
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


@dataclass(frozen=True)
class QParams:
    """int8 tensor quantisation: real = (q - zp) * 2**exp."""
    exp: int
    zp: int = 0

    @property
    def scale(self) -> float:
        return float(2.0 ** self.exp)


@dataclass
class Conv2D:
    input: str
    output: str
    weights: np.ndarray          # int8 [Cout, kh, kw, Cin]; depthwise: [1, kh, kw, C]
    w_exp: np.ndarray            # int32 [Cout]: per-channel weight scale 2**w_exp
    bias: np.ndarray             # int32 [Cout], in accumulator units 2**(in_exp + w_exp)
    stride: int = 1
    activation: str = "NONE"
    depthwise: bool = False
    kind: str = field(default="conv", init=False)

    @property
    def out_channels(self) -> int:
        return int(self.weights.shape[3] if self.depthwise else self.weights.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weights.shape[3])


@dataclass
class Add:
    a: str
    b: str
    output: str
    activation: str = "NONE"
    kind: str = field(default="add", init=False)


@dataclass
class Concat:
    inputs: list[str]
    output: str
    kind: str = field(default="concat", init=False)


@dataclass
class DepthToSpace:
    input: str
    output: str
    block: int = 2
    kind: str = field(default="depth_to_space", init=False)


Op = Conv2D | Add | Concat | DepthToSpace


@dataclass
class Graph:
    """A network in the integer profile. Inputs and outputs are NHWC int8 tensors."""
    name: str
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, QParams]
    channels: dict[str, int]
    ops: list[Op]
    # Spatial size the input must be a multiple of (product of the strides), for padding.
    alignment: int = 1

    # ---- queries -------------------------------------------------------------------------
    def op_inputs(self, op: Op) -> list[str]:
        if isinstance(op, Conv2D) or isinstance(op, DepthToSpace):
            return [op.input]
        if isinstance(op, Add):
            return [op.a, op.b]
        return list(op.inputs)

    def macs_per_input_pixel(self) -> float:
        """Multiply-accumulates per input pixel (all convs)."""
        area = {n: 1.0 for n in self.inputs}
        macs = 0.0
        for op in self.ops:
            if isinstance(op, Conv2D):
                a = area[op.input] / (op.stride * op.stride)
                kh, kw = op.weights.shape[1:3]
                per = kh * kw * (1 if op.depthwise else op.in_channels)
                macs += a * per * op.out_channels
                area[op.output] = a
            elif isinstance(op, DepthToSpace):
                area[op.output] = area[op.input] * op.block * op.block
            else:
                area[op.output] = area[self.op_inputs(op)[0]]
        return macs

    # ---- validation ------------------------------------------------------------------------
    def validate(self) -> "Graph":
        """Raise ModelError unless the graph is inside the integer profile."""
        def fail(msg: str) -> None:
            raise ModelError(f"graph {self.name!r}: {msg}")

        known = set(self.inputs)
        for n in self.inputs:
            if n not in self.tensors or n not in self.channels:
                fail(f"input {n!r} has no quantisation or channel count")
        for op in self.ops:
            for n in self.op_inputs(op):
                if n not in known:
                    fail(f"{op.kind} reads {n!r} before it is produced")
            out = op.output
            if out in known:
                fail(f"tensor {out!r} is produced twice")
            if out not in self.tensors:
                fail(f"tensor {out!r} has no quantisation")
            for q in [self.tensors[n] for n in self.op_inputs(op)] + [self.tensors[out]]:
                if not -128 <= q.zp <= 127 or not -40 <= q.exp <= 40:
                    fail(f"{op.kind} -> {out!r}: quantisation {q} out of range")
            if isinstance(op, Conv2D):
                self._validate_conv(op, fail)
                self.channels[out] = op.out_channels
            elif isinstance(op, Add):
                qs = {self.tensors[op.a].exp, self.tensors[op.b].exp, self.tensors[out].exp}
                if len(qs) != 1:
                    fail(f"add -> {out!r}: inputs and output must share one scale")
                if self.channels[op.a] != self.channels[op.b]:
                    fail(f"add -> {out!r}: channel counts differ")
                if op.activation not in ACTIVATIONS:
                    fail(f"add -> {out!r}: unknown activation {op.activation}")
                self.channels[out] = self.channels[op.a]
            elif isinstance(op, Concat):
                if len(op.inputs) < 2:
                    fail(f"concat -> {out!r}: needs two or more inputs")
                if any(self.tensors[n] != self.tensors[out] for n in op.inputs):
                    fail(f"concat -> {out!r}: inputs and output must share quantisation")
                self.channels[out] = sum(self.channels[n] for n in op.inputs)
            elif isinstance(op, DepthToSpace):
                if self.tensors[op.input] != self.tensors[out]:
                    fail(f"depth_to_space -> {out!r}: must keep its input's quantisation")
                c = self.channels[op.input]
                if op.block < 2 or c % (op.block * op.block):
                    fail(f"depth_to_space -> {out!r}: {c} channels, block {op.block}")
                self.channels[out] = c // (op.block * op.block)
            else:  # pragma: no cover - closed set
                fail(f"unknown op {op!r}")
            known.add(out)
        for n in self.outputs:
            if n not in known:
                fail(f"output {n!r} is never produced")
        return self

    def _validate_conv(self, op: Conv2D, fail) -> None:
        w, cin = op.weights, self.channels[op.input]
        if w.dtype != np.int8 or w.ndim != 4:
            fail(f"conv -> {op.output!r}: weights must be int8 [Cout,kh,kw,Cin]")
        if op.depthwise and (w.shape[0] != 1 or w.shape[3] != cin):
            fail(f"conv -> {op.output!r}: depthwise weights must be [1,kh,kw,{cin}]")
        if not op.depthwise and w.shape[3] != cin:
            fail(f"conv -> {op.output!r}: weights expect {w.shape[3]} input channels, got {cin}")
        cout = op.out_channels
        if op.bias.dtype != np.int32 or op.bias.shape != (cout,):
            fail(f"conv -> {op.output!r}: bias must be int32 [{cout}]")
        if op.w_exp.shape != (cout,):
            fail(f"conv -> {op.output!r}: w_exp must have {cout} entries")
        if np.any(w.astype(np.int32) % 4) or np.any(w == -128):
            fail(f"conv -> {op.output!r}: weights must be multiples of 4 in [-124, 124]")
        if np.any(op.bias.astype(np.int64) % 4 != 2):
            fail(f"conv -> {op.output!r}: biases must be 2 (mod 4)")
        if op.stride not in (1, 2):
            fail(f"conv -> {op.output!r}: stride {op.stride} not in the profile")
        if op.activation not in ACTIVATIONS:
            fail(f"conv -> {op.output!r}: unknown activation {op.activation}")
        qin, qout = self.tensors[op.input], self.tensors[op.output]
        shift = qout.exp - qin.exp - op.w_exp.astype(np.int64)
        if np.any(shift < MIN_SHIFT) or np.any(shift > 30):
            fail(f"conv -> {op.output!r}: requantisation shifts {shift.min()}..{shift.max()} "
                 f"outside [{MIN_SHIFT}, 30]")
        absw = np.abs(w.astype(np.int64))
        per_channel = absw.sum(axis=(0, 1, 2)) if op.depthwise else absw.sum(axis=(1, 2, 3))
        bound = 255 * per_channel + np.abs(op.bias.astype(np.int64))
        if np.any(bound >= ACC_LIMIT):
            fail(f"conv -> {op.output!r}: accumulator bound {int(bound.max())} >= 2**24")

    # ---- serialisation ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Deterministic .npz bytes: a JSON description plus the integer arrays."""
        arrays: dict[str, np.ndarray] = {}
        ops = []
        for i, op in enumerate(self.ops):
            d = {"kind": op.kind}
            if isinstance(op, Conv2D):
                d.update(input=op.input, output=op.output, stride=op.stride,
                         activation=op.activation, depthwise=op.depthwise)
                arrays[f"op{i}_weights"] = op.weights
                arrays[f"op{i}_w_exp"] = op.w_exp.astype(np.int32)
                arrays[f"op{i}_bias"] = op.bias
            elif isinstance(op, Add):
                d.update(a=op.a, b=op.b, output=op.output, activation=op.activation)
            elif isinstance(op, Concat):
                d.update(inputs=list(op.inputs), output=op.output)
            else:
                d.update(input=op.input, output=op.output, block=op.block)
            ops.append(d)
        desc = {
            "name": self.name, "inputs": self.inputs, "outputs": self.outputs,
            "alignment": self.alignment,
            "tensors": {n: [q.exp, q.zp] for n, q in sorted(self.tensors.items())},
            "input_channels": {n: self.channels[n] for n in self.inputs},
            "ops": ops,
        }
        arrays["graph_json"] = np.frombuffer(json.dumps(desc, sort_keys=True).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **{k: arrays[k] for k in sorted(arrays)})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Graph":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            desc = json.loads(bytes(arrays["graph_json"]).decode())
            ops: list[Op] = []
            for i, d in enumerate(desc["ops"]):
                kind = d["kind"]
                if kind == "conv":
                    ops.append(Conv2D(d["input"], d["output"], arrays[f"op{i}_weights"],
                                      arrays[f"op{i}_w_exp"], arrays[f"op{i}_bias"],
                                      int(d["stride"]), d["activation"], bool(d["depthwise"])))
                elif kind == "add":
                    ops.append(Add(d["a"], d["b"], d["output"], d.get("activation", "NONE")))
                elif kind == "concat":
                    ops.append(Concat(list(d["inputs"]), d["output"]))
                elif kind == "depth_to_space":
                    ops.append(DepthToSpace(d["input"], d["output"], int(d["block"])))
                else:
                    raise ModelError(f"unknown op kind {kind!r}")
            g = cls(name=desc["name"], inputs=list(desc["inputs"]), outputs=list(desc["outputs"]),
                    tensors={n: QParams(int(e), int(z)) for n, (e, z) in desc["tensors"].items()},
                    channels={n: int(c) for n, c in desc["input_channels"].items()},
                    ops=ops, alignment=int(desc.get("alignment", 1)))
        except ModelError:
            raise
        except Exception as exc:  # malformed archive or description
            raise ModelError(f"cannot read network description: {exc}") from exc
        return g.validate()
