"""Encoder motion search (codec/inter.py): large pans are found, static content gets zero."""
import numpy as np
import pytest

from mlvc.codec.inter import BLOCK, compensate, estimate_motion


def texture(h, w, seed):
    """Smooth random texture (a blurred noise field), the kind block matching can lock on to."""
    rng = np.random.default_rng(seed)
    n = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2, 3)).astype(np.float64)
    up = np.kron(n, np.ones((4, 4, 1)))[:h, :w]
    k = np.ones(5) / 5
    for ax in (0, 1):
        up = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), ax, up)
    return np.clip(up, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dy,dx", [(0, 0), (3, -2), (17, -22), (-30, 9)])
def test_pan_is_found_exactly(dy, dx):
    big = texture(240, 320, 1)
    ref = big[40:200, 40:264]                              # 160 x 224
    cur = big[40 + dy:200 + dy, 40 + dx:264 + dx]          # the view moved by (dy, dx)
    mv = estimate_motion(cur, ref, search=32)
    interior = mv[2:-2, 2:-2].reshape(-1, 2)
    assert (interior == (dy, dx)).all(), np.unique(interior, axis=0)
    pred = compensate(ref, mv)
    b = 2 * BLOCK
    assert np.array_equal(pred[b:-b, b:-b], cur[b:-b, b:-b])


def test_static_and_flat_content_get_zero_motion():
    pic = texture(64, 96, 2)
    assert not estimate_motion(pic, pic).any()
    flat = np.full((48, 48, 3), 77, np.uint8)
    assert not estimate_motion(flat, flat).any()


def test_tiny_pictures():
    a = texture(16, 16, 3)[:5, :3]
    mv = estimate_motion(a, a)
    assert mv.shape == (1, 1, 2) and not mv.any()
