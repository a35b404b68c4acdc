"""The training code's export: the TF QAT forward and the exported integer graphs agree exactly.

Uses a freshly initialised model (no training needed): the claim under test is that
`QConv.int_params()` + the fake quantisers compute, in float32, the very integers that the
exported graph computes in the NumPy reference executor.
"""
import sys

import numpy as np
import pytest

from conftest import ROOT

tf = pytest.importorskip("tensorflow")
sys.path.insert(0, str(ROOT / "converters" / "mlvc_train"))


@pytest.fixture(scope="module")
def model_and_graphs():
    import intra_model as im
    from export_intra import build_graphs
    model = im.Codec(seed=0)
    return im, model, build_graphs(model)


def test_exported_graphs_are_inside_the_profile(model_and_graphs):
    _, _, graphs = model_and_graphs
    assert set(graphs) == {"g_a", "h_a", "h_s", "g_s"}
    for g in graphs.values():
        g.validate()
        for op in g.ops:
            if hasattr(op, "weights"):
                assert op.weights.min() >= -124            # never -128 (Arm int16 pairs)


@pytest.mark.parametrize("role,inp,shape", [("g_s", "y_hat", (1, 3, 4, 96)),
                                             ("h_s", "z", (1, 2, 2, 64)),
                                             ("g_a", "image", (1, 32, 48, 3))])
def test_qat_forward_equals_integer_executor(model_and_graphs, role, inp, shape):
    from mlvc.intops.reference import run_graph
    im, model, graphs = model_and_graphs
    rng = np.random.default_rng(1)
    x = rng.integers(-40, 41, size=shape).astype(np.int8)
    g = graphs[role]
    ref = run_graph(g, {inp: x})
    xr = tf.constant(x.astype(np.float32) * 2.0 ** g.tensors[inp].exp)
    if role == "g_s":
        sim = {"image": model.run_g_s(xr) / 2.0 ** im.IMAGE_EXP}
    elif role == "h_s":
        mu, si = model.run_h_s(xr)
        sim = {"mu": mu / 2.0 ** im.MU_EXP, "sigma_index": si / 2.0 ** im.SIGMA_EXP}
    else:
        sim = {"y": model.run_g_a(xr) / 2.0 ** im.Y_EXP}
    for k, v in ref.items():
        assert np.array_equal(sim[k].numpy().astype(np.int32), v.astype(np.int32)), k
