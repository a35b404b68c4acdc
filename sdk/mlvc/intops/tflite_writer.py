"""Write a profile `Graph` as a fully integer `.tflite` flatbuffer, without TensorFlow.

Every tensor is int8 (biases int32) with exactly the graph's power-of-two scales; there are no
float ops and no QUANTIZE/DEQUANTIZE.  The schema module ships with ai-edge-litert, so this runs
wherever the runtime is installed.  Spatial dimensions are written as 1 with a shape signature of
-1: the interpreter is resized to the frame size at run time.
"""
from __future__ import annotations

import numpy as np

from ..errors import BackendError
from .graph import Add, Concat, Conv2D, DepthToSpace, Graph, QParams

# Operator versions chosen so that every resolver we support (XNNPACK, optimized built-ins,
# reference kernels, tflite-runtime 2.14) registers them for int8; see docs/integer-profile.md.
OP_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "ADD": 2, "CONCATENATION": 2,
               "DEPTH_TO_SPACE": 1}
_ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as s  # type: ignore
        except ImportError as exc:
            raise BackendError("writing .tflite needs ai-edge-litert (pip install ai-edge-litert)"
                               ) from exc
    import flatbuffers
    return s, flatbuffers


def graph_to_tflite(graph: Graph, height: int = 1, width: int = 1, *, check: bool = True) -> bytes:
    """Serialise `graph`; `height`/`width` set the nominal input size (resizable at run time).

    `check=False` skips the profile check: only the selftest's control rows use it, to show
    what the kernels do outside the profile."""
    s, flatbuffers = _schema()
    if check:
        graph.validate()
    model = s.ModelT()
    model.version = 3
    model.description = f"mlvc integer profile: {graph.name}"
    model.buffers = [s.BufferT()]          # buffer 0 is the conventional empty buffer
    tensors: list = []
    index: dict[str, int] = {}
    opcodes: dict[str, int] = {}
    model.operatorCodes = []
    operators: list = []

    def add_buffer(arr: np.ndarray | None) -> int:
        b = s.BufferT()
        if arr is not None:
            b.data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
        model.buffers.append(b)
        return len(model.buffers) - 1

    def add_tensor(name, shape, dtype, scales, zps, qdim=0, data=None, dynamic=False) -> int:
        t = s.TensorT()
        t.name = name
        t.shape = np.array(shape, np.int32)
        if dynamic:
            t.shapeSignature = np.array([1, -1, -1, shape[3]], np.int32)
        t.type = dtype
        t.buffer = add_buffer(data) if data is not None else add_buffer(None)
        qp = s.QuantizationParametersT()
        qp.scale = np.array(scales, np.float32)
        qp.zeroPoint = np.array(zps, np.int64)
        qp.quantizedDimension = qdim
        t.quantization = qp
        tensors.append(t)
        return len(tensors) - 1

    def activation_tensor(name: str, h: int, w: int) -> int:
        if name not in index:
            q: QParams = graph.tensors[name]
            index[name] = add_tensor(name, [1, h, w, graph.channels[name]], s.TensorType.INT8,
                                     [q.scale], [q.zp], dynamic=True)
        return index[name]

    def opcode(op_name: str) -> int:
        if op_name not in opcodes:
            code = s.OperatorCodeT()
            builtin = getattr(s.BuiltinOperator, op_name)
            code.builtinCode = builtin
            code.deprecatedBuiltinCode = min(builtin, 127)
            code.version = OP_VERSIONS[op_name]
            model.operatorCodes.append(code)
            opcodes[op_name] = len(model.operatorCodes) - 1
        return opcodes[op_name]

    def emit(op_name, inputs, outputs, opt_type, opt) -> None:
        o = s.OperatorT()
        o.opcodeIndex = opcode(op_name)
        o.inputs = np.array(inputs, np.int32)
        o.outputs = np.array(outputs, np.int32)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opt
        operators.append(o)

    size = {n: (height, width) for n in graph.inputs}
    for n in graph.inputs:
        activation_tensor(n, height, width)
    for op in graph.ops:
        if isinstance(op, Conv2D):
            h, w = size[op.input]
            h, w = -(-h // op.stride), -(-w // op.stride)
            qin = graph.tensors[op.input]
            w_scales = np.exp2(op.w_exp.astype(np.float64))
            x = index[op.input]
            if op.depthwise:
                wt = add_tensor(f"{op.output}/weights", list(op.weights.shape), s.TensorType.INT8,
                                w_scales, np.zeros(op.out_channels), qdim=3, data=op.weights)
            else:
                wt = add_tensor(f"{op.output}/weights", list(op.weights.shape), s.TensorType.INT8,
                                w_scales, np.zeros(op.out_channels), qdim=0, data=op.weights)
            bt = add_tensor(f"{op.output}/bias", [op.out_channels], s.TensorType.INT32,
                            w_scales * qin.scale, np.zeros(op.out_channels), qdim=0,
                            data=op.bias.astype("<i4"))
            y = activation_tensor(op.output, h, w)
            if op.depthwise:
                opt = s.DepthwiseConv2DOptionsT()
                opt.depthMultiplier = 1
                kind, otype = "DEPTHWISE_CONV_2D", s.BuiltinOptions.DepthwiseConv2DOptions
            else:
                opt = s.Conv2DOptionsT()
                kind, otype = "CONV_2D", s.BuiltinOptions.Conv2DOptions
            opt.padding = s.Padding.SAME
            opt.strideH = opt.strideW = op.stride
            opt.dilationHFactor = opt.dilationWFactor = 1
            opt.fusedActivationFunction = _ACT[op.activation]
            emit(kind, [x, wt, bt], [y], otype, opt)
        elif isinstance(op, Add):
            h, w = size[op.a]
            y = activation_tensor(op.output, h, w)
            opt = s.AddOptionsT()
            opt.fusedActivationFunction = _ACT[op.activation]
            emit("ADD", [index[op.a], index[op.b]], [y], s.BuiltinOptions.AddOptions, opt)
        elif isinstance(op, Concat):
            h, w = size[op.inputs[0]]
            y = activation_tensor(op.output, h, w)
            opt = s.ConcatenationOptionsT()
            opt.axis = 3
            emit("CONCATENATION", [index[n] for n in op.inputs], [y],
                 s.BuiltinOptions.ConcatenationOptions, opt)
        elif isinstance(op, DepthToSpace):
            h, w = size[op.input]
            h, w = h * op.block, w * op.block
            y = activation_tensor(op.output, h, w)
            opt = s.DepthToSpaceOptionsT()
            opt.blockSize = op.block
            emit("DEPTH_TO_SPACE", [index[op.input]], [y], s.BuiltinOptions.DepthToSpaceOptions,
                 opt)
        size[op.output] = (h, w)

    sub = s.SubGraphT()
    sub.name = graph.name
    sub.tensors = tensors
    sub.inputs = np.array([index[n] for n in graph.inputs], np.int32)
    sub.outputs = np.array([index[n] for n in graph.outputs], np.int32)
    sub.operators = operators
    model.subgraphs = [sub]
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
