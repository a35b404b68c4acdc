"""Core ML export: the saved .mlpackage, executed from disk by the NumPy MIL executor, must give
exactly the reference integers (docs/coreml.md).  Needs coremltools (skipped cleanly without)."""
from __future__ import annotations

import gc
import json

import numpy as np
import pytest

ct = pytest.importorskip("coremltools")

from mlvc.errors import ModelError  # noqa: E402
from mlvc.intops.battery import battery, codec_shaped_case  # noqa: E402
from mlvc.intops.graph import Conv2D, Graph, QParams  # noqa: E402
from mlvc.intops.reference import activation_range, requantize, run_graph, same_padding  # noqa: E402
from mlvc_convert import coreml  # noqa: E402
from mlvc_convert.coreml_exec import BlobFile, SavedProgram, run_saved  # noqa: E402

# coremltools ends every convert() with gc.collect(); with TensorFlow loaded that is most of the
# export time.  Freezing the objects that exist now makes those collections cheap.
gc.freeze()

CASES = battery()
ALLOWED_OPS = {"sub", "constexpr_affine_dequantize", "conv", "add", "mul", "floor", "clip",
               "split", "cast", "floor_div", "maximum", "minimum", "concat", "depth_to_space",
               "identity"}


def _shape(case):
    n, h, w, _ = next(iter(case.feeds.values())).shape
    return h, w, n


def _export(case, tmp_path):
    h, w, n = _shape(case)
    path = tmp_path / f"{case.name}.mlpackage"
    rep = coreml.export_graph(case.graph, path, h, w, n)
    return path, rep


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every battery case exported once; shared by the tests below."""
    root = tmp_path_factory.mktemp("coreml")
    return {c.name: _export(c, root) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_saved_program_matches_reference(case, exported):
    path, _ = exported[case.name]
    got = run_saved(path, case.feeds)
    want = run_graph(case.graph, case.feeds)
    assert set(got) == set(want)
    for name in want:
        assert got[name].dtype == np.int8 and got[name].shape == want[name].shape
        assert int(np.count_nonzero(got[name] != want[name])) == 0, name


def test_codec_shaped_network(tmp_path):
    case = codec_shaped_case(128, 128)
    path, rep = _export(case, tmp_path)
    assert rep["int32_convs"] == []          # the profile's bound holds: pure fp32 path
    got = run_saved(path, case.feeds)
    want = run_graph(case.graph, case.feeds)
    (name,) = want
    assert want[name].shape == (1, 128, 128, 3)
    assert int(np.count_nonzero(got[name] != want[name])) == 0


def test_saved_ops_are_the_emitted_ops(exported):
    """The pass pipeline fused, folded or removed nothing: the saved program is the graph as
    written (no conv with a folded bias or scale, no batchnorm, no 'round')."""
    for name, (path, rep) in exported.items():
        prog = SavedProgram(path)
        ops = prog.op_list()
        # Same ops with the same names: nothing fused, folded, replaced or removed.  (The
        # serialiser may reorder independent ops; dataflow is unchanged.)
        assert sorted(ops) == sorted(rep["ops"]), name
        assert prog.dataflow() == rep["dataflow"], name
        assert set(ops) <= ALLOWED_OPS, name
        for op in prog.block.operations:
            if op.type == "conv":
                assert "bias" not in op.inputs, name
            if op.type == "constexpr_affine_dequantize":
                q = prog.value(op.attributes["quantized_data"])
                assert q.dtype == np.int8
                assert float(prog.value(op.attributes["scale"])) == 1.0
                assert int(prog.value(op.attributes["zero_point"])) == 0
        # I/O: fp32 only, NCHW
        for _, dt in prog.inputs.values():
            assert dt == prog.MIL.DataType.FLOAT32
        meta = json.loads(prog.metadata[coreml.META_KEY])
        assert meta["layout"] == "NCHW"


def test_removed_passes_are_absent():
    names = coreml.pass_pipeline().passes
    for p in coreml.REMOVED_PASSES:
        assert p not in names


def test_blob_reader_agrees_with_coremltools(exported):
    from coremltools import libmilstoragepython as ms
    path, _ = exported["mixed_all_ops"]
    prog = SavedProgram(path)
    reader = ms._BlobStorageReader(str(prog.weights_dir / "weight.bin"))
    n = 0
    for op in prog.block.operations:
        for key, v in list(op.attributes.items()):
            if v.WhichOneof("value") == "blobFileValue" and key == "quantized_data":
                mine = prog.value(v)
                theirs = np.asarray(reader.read_int8_data(v.blobFileValue.offset))
                assert np.array_equal(mine.ravel(), theirs)
                n += 1
    assert n >= 3


def test_executor_reads_the_saved_weights(exported, tmp_path):
    """Changing one weight byte in the saved blob changes the executed result."""
    import shutil
    case = next(c for c in CASES if c.name == "mixed_all_ops")
    src, _ = exported[case.name]
    dst = tmp_path / "tampered.mlpackage"
    shutil.copytree(src, dst)
    prog = SavedProgram(dst)
    op = next(o for o in prog.block.operations if o.type == "constexpr_affine_dequantize")
    off = int(op.attributes["quantized_data"].blobFileValue.offset)
    blob = BlobFile(prog.weights_dir / "weight.bin")
    data_off = int(np.frombuffer(blob.data[off + 16:off + 24], "<u8")[0])
    raw = bytearray(blob.data)
    raw[data_off] = (raw[data_off] + 64) % 256
    (prog.weights_dir / "weight.bin").write_bytes(bytes(raw))
    got = run_saved(dst, case.feeds)
    want = run_graph(case.graph, case.feeds)
    assert any(np.count_nonzero(got[n] != want[n]) for n in want)


# ---- the channel split: past the fp32 bound -------------------------------------------------

def _int64_conv(x, op, qin, qout):
    """Exact int64 convolution + the reference requantisation (the float32 reference executor
    is only exact inside the profile's bound, which this graph deliberately exceeds)."""
    n, h, w, cin = x.shape
    kh, kw = op.weights.shape[1:3]
    ho, pt, pb = same_padding(h, kh, op.stride)
    wo, pl, pr = same_padding(w, kw, op.stride)
    xp = np.pad(x.astype(np.int64) - qin.zp, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    wi = op.weights.astype(np.int64)
    acc = np.zeros((n, ho, wo, op.out_channels), np.int64)
    s = op.stride
    for dy in range(kh):
        for dx in range(kw):
            tap = xp[:, dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s, :]
            acc += (tap.reshape(-1, cin) @ wi[:, dy, dx, :].T).reshape(n, ho, wo, -1)
    acc += op.bias.astype(np.int64)
    lo, hi = activation_range(op.activation, qout)
    return requantize(acc, qout.exp - qin.exp - op.w_exp.astype(np.int64), qout.zp, lo, hi), acc


def _big_graph():
    rng = np.random.default_rng(11)
    cin, cout = 256, 8
    w = (rng.choice(np.array([-32, 31]), size=(cout, 3, 3, cin)) * 4).astype(np.int8)
    w[0] = 124                                  # one channel with only large positive weights
    bias = (rng.integers(-(1 << 18), 1 << 18, size=cout) * 4 + 2).astype(np.int32)
    qin, qout = QParams(-4, -128), QParams(-4 + 8 + 19, 3)
    w_exp = (qout.exp - qin.exp - 19 - rng.integers(0, 3, size=cout)).astype(np.int32)
    op = Conv2D("x", "y", w, w_exp, bias, 1, "NONE")
    g = Graph("big_sums", ["x"], ["y"], {"x": qin, "y": qout}, {"x": cin}, [op])
    x = rng.integers(-128, 128, size=(1, 6, 7, cin)).astype(np.int8)
    x[0, 2:5, 2:5, :] = 127                     # x - zp = 255 under the all-124 channel
    return g, op, x


def test_channel_split_is_exact(tmp_path):
    g, op, x = _big_graph()
    with pytest.raises(ModelError):
        g.validate()                            # outside the profile's fp32 bound on purpose
    plan = coreml.plan_conv(op, g.tensors["x"].zp)
    assert plan.int32 and len(plan.groups) >= 4
    assert max(plan.group_bounds) < 1 << 24
    want, acc = _int64_conv(x, op, g.tensors["x"], g.tensors["y"])
    assert np.abs(acc).max() >= 1 << 24        # the accumulators really are past fp32 exactness
    path = tmp_path / "big.mlpackage"
    rep = coreml.export_graph(g, path, 6, 7, check=False)
    assert rep["int32_convs"] == ["y"]
    assert rep["ops"].count("conv") == len(plan.groups)
    assert "split" in rep["ops"] and "floor_div" in rep["ops"]
    assert SavedProgram(path).dataflow() == rep["dataflow"]
    got = run_saved(path, {"x": x})["y"]
    assert int(np.count_nonzero(got != want)) == 0


def test_unsplit_program_is_rejected_by_the_executor(tmp_path, monkeypatch):
    """Without the split the fp32 conv would not be exact, and the executor says so."""
    g, op, x = _big_graph()
    real = coreml.plan_conv

    def unsplit(op, zp):
        p = real(op, zp)
        return coreml.ConvPlan([(0, op.in_channels)], False, p.bound)

    monkeypatch.setattr(coreml, "plan_conv", unsplit)
    path = tmp_path / "unsplit.mlpackage"
    coreml.export_graph(g, path, 6, 7, check=False)
    with pytest.raises(ModelError, match="2\\*\\*24"):
        run_saved(path, {"x": x})


def test_export_rejects_wrong_suffix(tmp_path):
    with pytest.raises(ModelError):
        coreml.export_graph(CASES[0].graph, tmp_path / "x.mlmodel")
