"""The training code's export: the TF QAT forward and the exported integer graphs agree exactly.

Uses a freshly initialised model (no training needed): the claim under test is that
`QConv.int_params()` + the fake quantisers compute, in float32, the very integers that the
exported graph computes in the NumPy reference executor.
"""
import importlib.util

import numpy as np
import pytest

from conftest import ROOT

tf = pytest.importorskip("tensorflow")


def _research(name):
    """A research/ script (not installed) loaded by path."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "research" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def model_and_graphs():
    from mlvc_train import intra_model as im
    from mlvc_train.export_intra import build_graphs
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


def test_widened_analysis_computes_what_the_narrow_one_did_and_exports_exactly():
    """widen_ga.py: new g_a channels change nothing until trained, and the wider g_a still
    exports to a graph the integer executor runs bit-exactly like the QAT forward."""
    from mlvc_train import intra_model as im
    from mlvc_train.export_intra import build_graphs
    wg = _research("widen_ga")
    check_preserved, widen_model = wg.check_preserved, wg.widen_model
    from mlvc.intops.reference import run_graph
    rng = np.random.default_rng(3)
    narrow, wide = im.Codec(seed=0), im.Codec(seed=5, ga_width=96)
    for a in narrow.acts.values():          # calibrated-looking exponents, as after training
        if not a.fixed:
            a.exp.assign(-4.0)
    x = tf.constant(rng.integers(0, 256, size=(2, 64, 64, 3)).astype(np.float32) / 128.0 - 1.0)
    report = widen_model(narrow, wide, x, rng=rng)
    assert report["max_abs_y_change_qat"] == 0.0
    assert report["g_a/conv2"]["new"] == 32
    w2 = wide.g_a[1].w.numpy()
    assert np.all(w2[:, :, 64:, :64] == 0) and np.any(w2[..., 64:] != 0)
    g = build_graphs(wide)["g_a"]
    g.validate()
    img = rng.integers(-128, 128, size=(1, 32, 48, 3)).astype(np.int8)
    ref = run_graph(g, {"image": img})["y"]
    sim = wide.run_g_a(tf.constant(img.astype(np.float32) * 2.0 ** im.IMAGE_EXP))
    assert np.array_equal((sim / 2.0 ** im.Y_EXP).numpy().astype(np.int32), ref.astype(np.int32))
    # a bad widening (new channels wired into old ones) is caught
    wide.g_a[1].w.assign(np.where(np.arange(96)[None, None, :, None] >= 64, 0.05, w2))
    with pytest.raises(ValueError):
        check_preserved(narrow, wide, x)


def test_checkpoint_restore_keeps_adam_bias_correction_consistent(tmp_path):
    """Adam's bias correction counts the moments' own steps (adam_t): a full checkpoint keeps
    them, a slim one restarts them at zero, and a full checkpoint written before adam_t existed
    counts from step 0 (its moments ran since then)."""
    from mlvc_train.train_intra import restore, save_slim, training_state
    ts = training_state(1, str(tmp_path / "run"), ga_width=64)
    ts.step.assign(1234)
    ts.adam_t.assign(321)
    ts.adam_m[0].assign(tf.ones_like(ts.adam_m[0]))
    full = ts.mgr.save(checkpoint_number=1234)
    slim = save_slim(ts, str(tmp_path / "slim"))
    legacy = tf.train.Checkpoint(model=ts.model, adam_m=ts.adam_m, adam_v=ts.adam_v,
                                 step=ts.step, total_steps=ts.total_steps, calib=ts.calib,
                                 noise=ts.noise, qat_on=ts.qat_on).save(str(tmp_path / "old"))
    for path, full_expected, t_expected, m_expected in ((full, True, 321, 1.0),
                                                        (slim, False, 0, 0.0),
                                                        (legacy, True, 1234, 1.0)):
        fresh = training_state(1, str(tmp_path / "fresh"), ga_width=64)
        assert restore(fresh, path) is full_expected
        assert int(fresh.step.numpy()) == 1234
        assert int(fresh.adam_t.numpy()) == t_expected
        assert float(fresh.adam_m[0].numpy().mean()) == m_expected
