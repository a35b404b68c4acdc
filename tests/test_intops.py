"""The integer profile: validation, the NumPy reference against a naive int64 form, rounding."""
import numpy as np
import pytest

from mlvc.errors import ModelError
from mlvc.intops import battery
from mlvc.intops.graph import Conv2D, Graph, QParams
from mlvc.intops.reference import activation_range, requantize, run_graph, same_padding


def naive_conv(x, op, qin, qout):
    """Direct int64 convolution, loop over output pixels: independent of the BLAS path."""
    n, h, w, cin = x.shape
    kh, kw = op.weights.shape[1:3]
    ho, pt, _ = same_padding(h, kh, op.stride)
    wo, pl, _ = same_padding(w, kw, op.stride)
    xc = x.astype(np.int64) - qin.zp
    wt = op.weights.astype(np.int64)
    cout = op.out_channels
    acc = np.zeros((n, ho, wo, cout), np.int64)
    for oy in range(ho):
        for ox in range(wo):
            for dy in range(kh):
                for dx in range(kw):
                    iy, ix = oy * op.stride + dy - pt, ox * op.stride + dx - pl
                    if 0 <= iy < h and 0 <= ix < w:
                        v = xc[:, iy, ix, :]
                        if op.depthwise:
                            acc[:, oy, ox, :] += v * wt[0, dy, dx, :]
                        else:
                            acc[:, oy, ox, :] += v @ wt[:, dy, dx, :].T
    acc += op.bias
    k = qout.exp - qin.exp - op.w_exp.astype(np.int64)
    # round half to even on the exact rational acc / 2**k, independent of the shift form
    out = np.rint(acc / np.exp2(k)).astype(np.int64) + qout.zp
    lo, hi = activation_range(op.activation, qout)
    return np.clip(out, lo, hi).astype(np.int8)


@pytest.mark.parametrize("case", [c for c in battery.single_op_cases()
                                  if c.name.startswith(("conv", "dwconv"))][::3],
                         ids=lambda c: c.name)
def test_reference_matches_naive_int64(case):
    op = case.graph.ops[0]
    q = case.graph.tensors
    expect = naive_conv(case.feeds["x"], op, q[op.input], q[op.output])
    got = run_graph(case.graph, case.feeds)["y"]
    assert np.array_equal(got, expect)


def test_no_ties_so_every_rounding_rule_agrees():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 23), 1 << 23, 200000) * 4 + 2       # profile accumulators
    for k in range(3, 12):
        exact = acc / 2.0 ** k
        half_even = np.rint(exact)
        half_away = np.sign(exact) * np.floor(np.abs(exact) + 0.5)
        assert np.array_equal(half_even, half_away)
        # the reference's requantize itself (int8 out, so the accumulators are drawn to land in
        # int8 after the shift and the zero point; and the clamp is checked on the wide ones)
        zp = int(rng.integers(-20, 21))
        lim = (107 << k) // 4
        small = rng.integers(-lim, lim, 200000) * 4 + 2
        want = np.rint(small / 2.0 ** k).astype(np.int64) + zp
        assert want.min() >= -128 and want.max() <= 127
        got = requantize(small, np.full(small.shape, k), zp, -128, 127)
        assert got.dtype == np.int8
        assert np.array_equal(got.astype(np.int64), want)
        got = requantize(acc, np.full(acc.shape, k), zp, -128, 127)
        assert np.array_equal(got.astype(np.int64), np.clip(half_even + zp, -128, 127))
        assert np.count_nonzero((got > -128) & (got < 127)) > 0          # not all clamped
        # and TFLite's double rounding: exact halving first, then round half away from zero
        double = np.sign(acc // 2) * ((np.abs(acc // 2) + (1 << (k - 2))) >> (k - 1))
        assert np.array_equal(double, half_even)


def _conv_graph(weights, bias, w_exp, out_exp=0):
    t = {"x": QParams(-7, 0), "y": QParams(out_exp, 0)}
    op = Conv2D("x", "y", weights, np.asarray(w_exp, np.int32), np.asarray(bias, np.int32))
    return Graph("t", ["x"], ["y"], t, {"x": weights.shape[3]}, [op])


@pytest.mark.parametrize("mutate,msg", [
    (lambda w, b, e: (w + np.int8(1), b, e), "multiples of 4"),
    (lambda w, b, e: (np.full_like(w, -128)[:, :1, :1, :1], b, e), "multiples of 4"),
    (lambda w, b, e: (w, b + 1, e), "2 \\(mod 4\\)"),
    (lambda w, b, e: (w, b, e + 8), "shifts"),
    (lambda w, b, e: (np.full_like(w, 124), b, e), "accumulator bound"),
])
def test_validate_rejects_graphs_outside_the_profile(mutate, msg):
    w = np.full((4, 3, 3, 600), 8, np.int8)
    b = np.full(4, 6, np.int32)
    e = np.full(4, -3, np.int32)
    _conv_graph(w, b, e).validate()
    w2, b2, e2 = mutate(w, b, e)
    with pytest.raises(ModelError, match=msg):
        _conv_graph(w2, b2, e2).validate()


def test_graph_serialisation_round_trip():
    case = battery.mixed_case()
    data = case.graph.to_bytes()
    g = Graph.from_bytes(data)
    assert g.to_bytes() == data
    a = run_graph(case.graph, case.feeds)
    b = run_graph(g, case.feeds)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_corrupt_graph_bytes_raise_model_error():
    with pytest.raises(ModelError):
        Graph.from_bytes(b"not an npz")
