"""Every TFLite kernel set computes the profile's integers exactly (the in-process matrix rows)."""
import numpy as np
import pytest

from conftest import litert_available
from mlvc.conformance.selftest import IN_PROCESS, run_matrix
from mlvc.intops import battery
from mlvc.intops.tflite_writer import graph_to_tflite

pytestmark = pytest.mark.skipif(not litert_available(), reason="ai-edge-litert not installed")


def test_matrix_in_process_rows_are_exact_and_control_differs():
    summary = run_matrix(include_large=False)
    rows = {r["name"]: r for r in summary["configurations"]}
    for name in IN_PROCESS:
        assert rows[name]["errors"] == [], rows[name]["errors"]
        assert rows[name]["differing_elements"] == 0, rows[name]["failed_cases"]
        assert rows[name]["total_elements"] > 50000
    # Outside the profile (ties allowed) XNNPACK and the reference kernels disagree.
    assert summary["control"]["differing_elements"] > 0


def test_exported_model_is_fully_integer_with_exact_scales():
    from ai_edge_litert import schema_py_generated as s
    case = battery.mixed_case()
    buf = graph_to_tflite(case.graph)
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(buf, 0))
    ops = {model.operatorCodes[o.opcodeIndex].builtinCode for o in model.subgraphs[0].operators}
    assert s.BuiltinOperator.QUANTIZE not in ops and s.BuiltinOperator.DEQUANTIZE not in ops
    for t in model.subgraphs[0].tensors:
        assert t.type in (s.TensorType.INT8, s.TensorType.INT32)
        scales = np.asarray(t.quantization.scale, np.float64)
        assert np.all(np.exp2(np.round(np.log2(scales))) == scales)   # powers of two


def test_xnnpack_takes_every_node():
    from mlvc.backends.tflite_runner import TFLiteRunner
    case = battery.codec_shaped_case(64, 64)
    r = TFLiteRunner(graph_to_tflite(case.graph), kernels="xnnpack")
    r.run(case.feeds)
    assert r.fully_delegated()
