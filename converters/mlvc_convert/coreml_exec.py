"""A NumPy executor for the saved Core ML mlprogram: what Linux CI can check without Core ML.

coremltools cannot run a model on Linux, so this module reads the *saved* ``.mlpackage`` from disk
(``Data/com.apple.CoreML/model.mlmodel``, parsed with ``coremltools.proto``, plus the weight blob
``weights/weight.bin``, parsed here from its documented layout) and executes the MIL operations the
converter uses, with the semantics each op declares: fp32 tensors are np.float32 and every fp32
op is computed in float32.

Exactness mode (default) proves more than "float32 on this machine gave these numbers": every
fp32 arithmetic result is checked to equal the real-number result (float64 recomputation, which is
exact for these magnitudes), and every conv checks, on the actual data, that
``max|x| * sum|W_c| + |B_c| < 2**24`` with integral x and W.  Then no op rounds, so the result is
the same in any summation order, with or without FMA, on any IEEE-754 fp32 implementation: it is
the program's meaning, not one machine's.  What this does not prove is that Apple's runtime on a
device executes fp32 ops as IEEE fp32 (docs/coreml.md: the on-device test).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlvc.errors import ModelError

EXACT_LIMIT = 1 << 24
_BLOB_SENTINEL = 0xDEADBEEF
# Blob-file data type codes (MILBlob::Blob::BlobDataType) that this reader understands.
_BLOB_DTYPES = {1: np.float16, 2: np.float32, 3: np.uint8, 4: np.int8}


def _pb():
    from coremltools.proto import MIL_pb2, Model_pb2
    return Model_pb2, MIL_pb2


def _np_dtype(MIL_pb2, dt: int):
    D = MIL_pb2.DataType
    table = {D.FLOAT32: np.float32, D.FLOAT16: np.float16, D.INT8: np.int8, D.UINT8: np.uint8,
             D.INT32: np.int32, D.INT16: np.int16, D.BOOL: np.bool_}
    if dt == D.STRING:
        return str
    if dt not in table:
        raise ModelError(f"unsupported MIL data type {dt}")
    return table[dt]


class BlobFile:
    """Reader of the mlprogram weight file: 64-byte header, then per blob a 64-byte metadata
    record (sentinel 0xDEADBEEF, data type, size in bytes, data offset) and the data."""

    def __init__(self, path: Path):
        self.path = path
        self.data = path.read_bytes()
        count, version = np.frombuffer(self.data[:8], "<u4")
        if version != 2:
            raise ModelError(f"{path}: weight blob version {version}, expected 2")
        self.count = int(count)

    def read(self, offset: int, dtype, shape) -> np.ndarray:
        meta = self.data[offset:offset + 64]
        sentinel, code = np.frombuffer(meta[:8], "<u4")
        size, data_off = np.frombuffer(meta[8:24], "<u8")
        if sentinel != _BLOB_SENTINEL:
            raise ModelError(f"{self.path}: no blob at offset {offset}")
        if int(code) in _BLOB_DTYPES and _BLOB_DTYPES[int(code)] != dtype:
            raise ModelError(f"{self.path}: blob at {offset} is {_BLOB_DTYPES[int(code)]}, "
                             f"the program declares {dtype}")
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if int(size) != n:
            raise ModelError(f"{self.path}: blob at {offset} holds {size} bytes, expected {n}")
        raw = self.data[int(data_off):int(data_off) + n]
        return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


class SavedProgram:
    """A saved .mlpackage's main function, ready to execute."""

    def __init__(self, package: str | Path):
        Model_pb2, MIL_pb2 = _pb()
        self.MIL = MIL_pb2
        self.package = Path(package)
        manifest = json.loads((self.package / "Manifest.json").read_text())
        root = manifest["rootModelIdentifier"]
        entry = manifest["itemInfoEntries"][root]
        self.model_path = self.package / "Data" / entry["path"]
        spec = Model_pb2.Model()
        spec.ParseFromString(self.model_path.read_bytes())
        if spec.WhichOneof("Type") != "mlProgram":
            raise ModelError(f"{package}: not an mlprogram")
        self.spec = spec
        self.weights_dir = self.model_path.parent / "weights"
        self._blobs: dict[str, BlobFile] = {}
        func = spec.mlProgram.functions["main"]
        self.opset = func.opset
        self.block = func.block_specializations[func.opset]
        self.inputs = {i.name: self._shape(i.type) for i in func.inputs}
        self.outputs = list(self.block.outputs)
        self.metadata = dict(spec.description.metadata.userDefined)

    # ---- decoding -----------------------------------------------------------------------------
    def _shape(self, vtype):
        t = vtype.tensorType
        return tuple(int(d.constant.size) for d in t.dimensions), t.dataType

    def _blob(self, file_name: str) -> BlobFile:
        rel = file_name.replace("@model_path/", "")
        if rel not in self._blobs:
            self._blobs[rel] = BlobFile(self.model_path.parent / rel)
        return self._blobs[rel]

    def value(self, v) -> np.ndarray | str | list:
        """Decode a MIL Value (immediate or blob file) to numpy."""
        t = v.type.tensorType
        dtype = _np_dtype(self.MIL, t.dataType)
        shape = tuple(int(d.constant.size) for d in t.dimensions)
        kind = v.WhichOneof("value")
        if kind == "blobFileValue":
            return self._blob(v.blobFileValue.fileName).read(int(v.blobFileValue.offset), dtype,
                                                             shape)
        tv = v.immediateValue.tensor
        which = tv.WhichOneof("value")
        if dtype is str:
            vals = list(tv.strings.values)
            return vals[0] if not shape else vals
        if which == "floats":
            arr = np.array(tv.floats.values, np.float32)
        elif which == "ints":
            arr = np.array(tv.ints.values, np.int64)
        elif which == "bools":
            arr = np.array(tv.bools.values, np.bool_)
        elif which == "bytes":
            arr = np.frombuffer(tv.bytes.values, np.uint8).view(dtype)
        else:
            raise ModelError(f"unsupported immediate value {which}")
        return arr.astype(dtype).reshape(shape)

    def op_list(self) -> list[str]:
        """Op types of the saved program, in order, without consts."""
        return [op.type for op in self.block.operations if op.type != "const"]

    def dataflow(self) -> list[tuple]:
        """(type, first output name, ((input key, producer's first output name or model input),
        ...)) per non-const op, sorted; inputs that come from consts are left out.  Compared
        with `mlvc_convert.coreml.BuildInfo.dataflow` it shows the saved program is the emitted
        one (the serialiser may reorder independent ops; dataflow is what matters)."""
        producer = {n: n for n in self.inputs}
        ops = [op for op in self.block.operations if op.type != "const"]
        for op in ops:
            for o in op.outputs:
                producer[o.name] = op.outputs[0].name
        rows = []
        for op in ops:
            ins = []
            for key, b in op.inputs.items():
                for a in b.arguments:
                    if a.WhichOneof("binding") == "name" and a.name in producer:
                        ins.append((key, producer[a.name]))
            rows.append((op.type, op.outputs[0].name, tuple(sorted(ins))))
        return sorted(rows)

    # ---- execution ----------------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray], *, check_exact: bool = True
            ) -> dict[str, np.ndarray]:
        env: dict[str, object] = {}
        for name, (shape, dt) in self.inputs.items():
            if name not in feeds:
                raise ModelError(f"missing input {name!r}")
            x = np.asarray(feeds[name])
            if x.shape != shape:
                raise ModelError(f"input {name!r}: shape {x.shape}, the model needs {shape}")
            env[name] = x.astype(_np_dtype(self.MIL, dt))
        ex = _Ops(check_exact)
        for op in self.block.operations:
            if op.type == "const":
                env[op.outputs[0].name] = self.value(op.attributes["val"])
                continue
            args = {}
            for key, binding in op.inputs.items():
                vals = []
                for a in binding.arguments:
                    vals.append(env[a.name] if a.WhichOneof("binding") == "name"
                                else self.value(a.value))
                args[key] = vals if key == "values" else vals[0]
            if op.type == "constexpr_affine_dequantize":
                args = {k: self.value(op.attributes[k]) for k in
                        ("quantized_data", "zero_point", "scale", "axis")}
            fn = getattr(ex, op.type, None)
            if fn is None:
                raise ModelError(f"the executor has no semantics for MIL op {op.type!r}")
            res = fn(**args)
            results = res if isinstance(res, (list, tuple)) else [res]
            if len(results) != len(op.outputs):
                raise ModelError(f"{op.type}: {len(results)} results, {len(op.outputs)} outputs")
            for o, r in zip(op.outputs, results):
                want = _np_dtype(self.MIL, o.type.tensorType.dataType)
                if r.dtype != want:
                    raise ModelError(f"{op.type} -> {o.name}: {r.dtype}, program says {want}")
                shape = tuple(int(d.constant.size) for d in o.type.tensorType.dimensions)
                if r.shape != shape:
                    raise ModelError(f"{op.type} -> {o.name}: shape {r.shape}, declared {shape}")
                env[o.name] = r
        return {n: env[n] for n in self.outputs}


class _Ops:
    """MIL op semantics (iOS16 opset) for the ops the converter emits."""

    def __init__(self, check_exact: bool):
        self.check = check_exact
        self.conv_max_partial = 0

    def _exact(self, name: str, got: np.ndarray, real: np.ndarray) -> np.ndarray:
        if self.check and got.dtype == np.float32 and not np.array_equal(got.astype(np.float64),
                                                                          real):
            bad = int(np.count_nonzero(got.astype(np.float64) != real))
            raise ModelError(f"{name}: {bad} fp32 results were rounded (not exact)")
        return got

    def _binary(self, name, x, y, f32, f64, fint):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype:
            raise ModelError(f"{name}: operand types {x.dtype} and {y.dtype} differ")
        if x.dtype == np.float32:
            return self._exact(name, f32(x, y), f64(x.astype(np.float64), y.astype(np.float64)))
        if x.dtype == np.int32:
            r = fint(x.astype(np.int64), y.astype(np.int64))
            if np.any(r < -(1 << 31)) or np.any(r >= (1 << 31)):
                raise ModelError(f"{name}: int32 overflow")
            return r.astype(np.int32)
        raise ModelError(f"{name}: unsupported type {x.dtype}")

    def add(self, x, y):
        return self._binary("add", x, y, np.add, np.add, np.add)

    def sub(self, x, y):
        return self._binary("sub", x, y, np.subtract, np.subtract, np.subtract)

    def mul(self, x, y):
        return self._binary("mul", x, y, np.multiply, np.multiply, np.multiply)

    def floor_div(self, x, y):
        if np.any(np.asarray(y) == 0):
            raise ModelError("floor_div by zero")
        return self._binary("floor_div", x, y, lambda a, b: np.floor(a / b).astype(np.float32),
                            lambda a, b: np.floor(a / b), np.floor_divide)

    def maximum(self, x, y):
        return self._binary("maximum", x, y, np.maximum, np.maximum, np.maximum)

    def minimum(self, x, y):
        return self._binary("minimum", x, y, np.minimum, np.minimum, np.minimum)

    def floor(self, x):
        return np.floor(x).astype(x.dtype)

    def clip(self, x, alpha, beta):
        # MIL clip: min(max(x, alpha), beta)
        return np.minimum(np.maximum(x, np.float32(alpha)), np.float32(beta)).astype(np.float32)

    def identity(self, x):
        return np.array(x, copy=True)

    def cast(self, x, dtype):
        to = {"fp32": np.float32, "int32": np.int32, "fp16": np.float16}[str(dtype)]
        if to == np.int32 and x.dtype != np.int32:
            if self.check and (np.any(x != np.floor(x)) or np.any(np.abs(x) >= 2.0 ** 31)):
                raise ModelError("cast to int32 of a non-integer or out-of-range value")
            return x.astype(np.int64).astype(np.int32)
        if to == np.float32 and x.dtype == np.int32:
            if self.check and np.any(np.abs(x.astype(np.int64)) >= EXACT_LIMIT):
                raise ModelError("cast to fp32 of an integer past 2**24 (not exact)")
        return x.astype(to)

    def constexpr_affine_dequantize(self, quantized_data, zero_point, scale, axis):
        q = quantized_data.astype(np.float32)
        ax = int(axis)
        shp = [1] * q.ndim
        zp = np.asarray(zero_point, np.float32)
        sc = np.asarray(scale, np.float32)
        if zp.ndim:
            shp[ax] = -1
            zp = zp.reshape(shp)
        shp = [1] * q.ndim
        if sc.ndim:
            shp[ax] = -1
            sc = sc.reshape(shp)
        return ((q - zp) * sc).astype(np.float32)

    def split(self, x, axis, split_sizes=None, num_splits=None):
        ax = int(axis) % x.ndim
        if split_sizes is None:
            split_sizes = [x.shape[ax] // int(num_splits)] * int(num_splits)
        cuts = np.cumsum(np.asarray(split_sizes, np.int64))[:-1]
        return [np.ascontiguousarray(p) for p in np.split(x, cuts, axis=ax)]

    def concat(self, values, axis, interleave=False):
        if bool(interleave):
            raise ModelError("concat interleave=True is not used by the converter")
        return np.concatenate(values, axis=int(axis))

    def depth_to_space(self, x, block_size):
        # MIL depth_to_space on NCHW = TensorFlow DepthToSpace (DCR) after NHWC->NCHW
        # (coremltools' TensorFlow frontend maps one to the other directly).
        b = int(block_size)
        n, c, h, w = x.shape
        oc = c // (b * b)
        y = x.reshape(n, b, b, oc, h, w).transpose(0, 3, 4, 1, 5, 2)
        return np.ascontiguousarray(y.reshape(n, oc, h * b, w * b))

    def conv(self, x, weight, strides, pad_type, dilations, groups, pad=None, bias=None):
        if x.dtype != np.float32 or weight.dtype != np.float32:
            raise ModelError("conv: the converter emits fp32 convs only")
        if np.any(np.asarray(dilations) != 1):
            raise ModelError("conv: dilations are not used by the converter")
        n, cin, h, w = x.shape
        cout, cpg, kh, kw = weight.shape
        g = int(groups)
        sh, sw = (int(s) for s in strides)
        if str(pad_type) == "valid":
            pt = pb = pl = pr = 0
        elif str(pad_type) == "custom":
            pt, pb, pl, pr = (int(p) for p in pad)
        else:
            raise ModelError(f"conv: pad_type {pad_type!r} is not used by the converter")
        if cin != cpg * g or cout % g:
            raise ModelError("conv: channel/group mismatch")
        if self.check:
            if np.any(x != np.floor(x)) or np.any(weight != np.floor(weight)):
                raise ModelError("conv: non-integer operands, the exactness argument needs integers")
            # Per output channel: largest |partial sum| of any subset of products, in any order.
            wabs = np.abs(weight.astype(np.float64)).reshape(cout, -1).sum(axis=1)
            xmax = np.abs(x.astype(np.float64)).max() if x.size else 0.0
            bound = xmax * wabs + (np.abs(bias.astype(np.float64)) if bias is not None else 0)
            if np.any(bound >= EXACT_LIMIT):
                raise ModelError(f"conv: partial sums may reach {bound.max():.0f} >= 2**24")
            self.conv_max_partial = max(self.conv_max_partial, float(bound.max()))
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        ho = (h + pt + pb - kh) // sh + 1
        wo = (w + pl + pr - kw) // sw + 1
        out = np.zeros((n, cout, ho, wo), np.float32)
        opg = cout // g
        for dy in range(kh):
            for dx in range(kw):
                tap = xp[:, :, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw]
                if g == 1:
                    # [n,cin,ho,wo] x [cout,cin] -> [n,cout,ho,wo], float32 BLAS
                    t = np.ascontiguousarray(tap.transpose(0, 2, 3, 1)).reshape(-1, cin)
                    out += (t @ weight[:, :, dy, dx].T).reshape(n, ho, wo, cout).transpose(
                        0, 3, 1, 2)
                elif cpg == 1:   # depthwise (multiplier opg)
                    wt = weight[:, 0, dy, dx].reshape(1, cout, 1, 1)
                    out += np.repeat(tap, opg, axis=1) * wt
                else:
                    raise ModelError("conv: grouped conv other than depthwise is not used")
        if bias is not None:
            out = out + bias.astype(np.float32).reshape(1, -1, 1, 1)
        return out.astype(np.float32)


def run_saved(package: str | Path, feeds_nhwc: dict[str, np.ndarray], *,
              check_exact: bool = True) -> dict[str, np.ndarray]:
    """Run a package written by `mlvc_convert.coreml.export_graph` on int8 NHWC feeds keyed by
    graph tensor names; returns int8 NHWC outputs keyed by graph tensor names."""
    prog = SavedProgram(package)
    meta = json.loads(prog.metadata.get("com.mlvc.integer_profile", "{}"))
    if not meta:
        raise ModelError(f"{package}: no mlvc metadata (not written by mlvc_convert.coreml)")
    feeds = {meta["inputs"][n]: np.asarray(x).astype(np.float32).transpose(0, 3, 1, 2)
             for n, x in feeds_nhwc.items()}
    res = prog.run(feeds, check_exact=check_exact)
    out = {}
    for n, fname in meta["outputs"].items():
        y = res[fname]
        if np.any(y != np.round(y)) or np.any(y < -128) or np.any(y > 127):
            raise ModelError(f"output {n!r} is not int8-valued")
        out[n] = y.transpose(0, 2, 3, 1).astype(np.int8)
    return out
