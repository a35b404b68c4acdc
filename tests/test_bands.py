"""Row bands (codec/bands.py): the plan covers every row once, the halo follows the graph's
receptive field, and banded g_a / g_s are bit-identical to whole-picture runs."""
import numpy as np
import pytest

import mlvc
from mlvc.codec import bands
from mlvc.codec.hyperprior import to_signed
from mlvc.intops.graph import Conv2D, DepthToSpace, Graph, QParams


@pytest.mark.parametrize("units,window,halo", [(10, 10, 3), (11, 10, 3), (40, 10, 3),
                                               (41, 11, 2), (9, 5, 2), (100, 7, 1)])
def test_plan_covers_each_row_once_away_from_cuts(units, window, halo):
    covered = np.zeros(units, int)
    for start, lo, hi in bands.plan(units, window, halo):
        assert 0 <= start <= lo < hi <= min(start + window, units)
        assert start + window <= units or units <= window          # one window shape
        assert lo - start >= halo or start == 0                     # real context above
        assert start + window - hi >= halo or hi == units           # and below
        covered[lo:hi] += 1
    assert np.all(covered == 1)


def _chain(*ops, alignment=1):
    """A graph of convolutions ('c', k, stride) and depth-to-space ('d', block) in a chain."""
    built, prev = [], "x"
    for i, op in enumerate(ops):
        out = f"t{i}"
        if op[0] == "c":
            k = op[1]
            built.append(Conv2D(prev, out, np.zeros((1, k, k, 1), np.int8),
                                np.zeros(1, np.int32), np.zeros(1, np.int32), stride=op[2]))
        else:
            built.append(DepthToSpace(prev, out, block=op[1]))
        prev = out
    names = ["x"] + [f"t{i}" for i in range(len(ops))]
    return Graph("chain", ["x"], [prev], {n: QParams(0) for n in names}, {n: 1 for n in names},
                 built, alignment)


@pytest.mark.parametrize("ops,alignment,reach", [
    ((("c", 3, 1),), 1, 1),                         # a 3x3 convolution: one row each way
    ((("c", 3, 1), ("c", 5, 1)), 1, 3),             # radii add
    ((("c", 3, 1), ("d", 2), ("c", 3, 1)), 1, 2),   # 1 + ceil(1/2) input rows
    # stride 2, k 5, SAME: output j reads input rows 2j-1 .. 2j+3, i.e. 2 past its pair of rows
    ((("c", 5, 2),), 2, 2),
    ((("c", 5, 2), ("c", 5, 2)), 4, 6),             # 2 + 2*2
])
def test_row_reach_is_the_receptive_field(ops, alignment, reach):
    assert bands.row_reach(_chain(*ops, alignment=alignment)) == reach


def _codec(backend):
    return mlvc.Encoder(backend=backend).codec


@pytest.mark.parametrize("backend", ["numpy", "tflite"])
def test_banded_networks_are_bit_identical(monkeypatch, backend):
    codec = _codec(backend)
    rng = np.random.default_rng(5)
    pic = rng.integers(0, 256, (352, 96, 3), np.uint8)
    pic[:, :48] = np.linspace(0, 255, 352, dtype=np.uint8)[:, None, None]   # some structure
    whole_y = codec.analyse(to_signed(pic))
    y_hat = np.clip(whole_y.astype(np.int16) + rng.integers(-3, 4, whole_y.shape), -128,
                    127).astype(np.int8)
    whole_img = codec._synthesise(y_hat, 352, 96)
    monkeypatch.setattr(bands, "MAX_WINDOW_PIXELS", 96 * 16 * 8)   # 8-row windows
    halo = codec._halo("g_s", 1)
    assert len(bands.plan(22, bands.window_units(96, 22, halo), halo)) >= 4
    assert np.array_equal(codec.analyse(to_signed(pic)), whole_y)
    assert np.array_equal(codec._synthesise(y_hat, 352, 96), whole_img)


def test_too_small_a_halo_is_not_exact(monkeypatch):
    """The check above can fail: without context rows the band edges differ."""
    codec = _codec("numpy")
    rng = np.random.default_rng(6)
    # the latent of a real picture: random symbols leave the nonlinear branch of a
    # linear-path g_s at rest, and its 1x1 linear path needs no rows beyond its own
    from importlib import resources
    with np.load(str(resources.files("mlvc").joinpath("data", "sample.npz"))) as d:
        pic = np.ascontiguousarray(np.tile(d["frames"][0], (3, 1, 1))[:352, :96])
    y_hat = codec.analyse(to_signed(pic))
    y_hat = np.clip(y_hat.astype(np.int16) + rng.integers(-1, 2, y_hat.shape), -128,
                    127).astype(np.int8)
    whole = codec._synthesise(y_hat, 352, 96)
    monkeypatch.setattr(bands, "MAX_WINDOW_PIXELS", 96 * 16 * 8)
    codec._halos["g_s"] = 0
    assert not np.array_equal(codec._synthesise(y_hat, 352, 96), whole)
