"""Encoder motion search (codec/inter.py): large pans are found, static content gets zero."""
import numpy as np
import pytest

from mlvc.codec.inter import BLOCK, compensate, estimate_motion, refine_half_pel


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


def test_even_half_pel_vectors_are_whole_pixel_copies():
    ref = texture(48, 64, 4)
    mv = np.random.default_rng(0).integers(-20, 21, (3, 4, 2)).astype(np.int32)
    assert np.array_equal(compensate(ref, 2 * mv, half_pel=True), compensate(ref, mv))


def test_half_pel_prediction_is_the_clamped_bilinear_average():
    ref = texture(32, 32, 5)
    mv = np.array([[[1, -3], [-1, 0]], [[0, 1], [5, 7]]], np.int32)     # half pixels
    pred = compensate(ref, mv, half_pel=True).astype(np.int32)
    r = ref.astype(np.int32)
    for y, x in [(0, 0), (3, 17), (20, 5), (31, 31), (16, 16), (15, 31)]:
        dy, dx = mv[y // BLOCK, x // BLOCK]
        iy, fy, ix, fx = dy >> 1, dy & 1, dx >> 1, dx & 1
        def px(a, b):
            return r[min(max(a, 0), 31), min(max(b, 0), 31)]
        want = (px(y + iy, x + ix) * (2 - fy) * (2 - fx) + px(y + iy, x + ix + 1) * (2 - fy) * fx
                + px(y + iy + 1, x + ix) * fy * (2 - fx) + px(y + iy + 1, x + ix + 1) * fy * fx
                + 2) >> 2
        assert (pred[y, x] == want).all(), (y, x)


def test_half_pel_pan_is_found():
    big = texture(200, 260, 6)
    ref = big[20:180, 20:244]
    true = np.full((10, 14, 2), (3, -7), np.int32)           # (1.5, -3.5) pixels
    cur = compensate(ref, true, half_pel=True)
    mv = refine_half_pel(cur, ref, estimate_motion(cur, ref))
    assert (mv[1:-1, 1:-1] == (3, -7)).all(), np.unique(mv[1:-1, 1:-1].reshape(-1, 2), axis=0)
