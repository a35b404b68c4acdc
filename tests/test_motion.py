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


def clamped_reference(ref, mv, half_pel):
    """compensate()'s definition, pixel by pixel: every coordinate clamped to the picture."""
    h, w = ref.shape[:2]
    s = 1 if half_pel else 0
    d = np.repeat(np.repeat(mv, BLOCK, 0), BLOCK, 1)[:h, :w].astype(np.int64)
    ys, xs = np.arange(h)[:, None] + (d[..., 0] >> s), np.arange(w)[None, :] + (d[..., 1] >> s)
    fy, fx = (d[..., 0] & 1) * s, (d[..., 1] & 1) * s
    if ref.ndim == 3:
        fy, fx = fy[..., None], fx[..., None]
    r = ref.astype(np.int64)

    def at(a, b):
        return r[np.clip(a, 0, h - 1), np.clip(b, 0, w - 1)]
    acc = (at(ys, xs) * (2 - fy) * (2 - fx) + at(ys, xs + 1) * (2 - fy) * fx
           + at(ys + 1, xs) * fy * (2 - fx) + at(ys + 1, xs + 1) * fy * fx)
    return ((acc + 2) >> 2).astype(ref.dtype)


@pytest.mark.parametrize("seed", range(6))
def test_windowed_compensation_equals_clamped_coordinates(seed):
    """The padded-window implementation against the per-pixel definition, on odd sizes, colour
    and luma, and vectors far outside the picture (a hostile stream may carry any vector)."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        shape = (h, w, 3) if rng.random() < 0.5 else (h, w)
        ref = rng.integers(0, 256, shape).astype(np.uint8 if len(shape) == 3 else np.int32)
        lim = int(rng.choice([2, 20, 70, 5000]))
        mv = rng.integers(-lim, lim + 1, (-(-h // BLOCK), -(-w // BLOCK), 2)).astype(np.int32)
        for half_pel in (False, True):
            got = compensate(ref, mv, half_pel)
            want = clamped_reference(ref, mv, half_pel)
            assert got.dtype == ref.dtype and np.array_equal(got, want), (h, w, lim, half_pel)


def test_the_sad_kernel_is_built_here():
    from mlvc.codec import sad
    assert sad._kernel() is not None       # CI has a C compiler (scripts/test.sh)


@pytest.mark.parametrize("seed", range(4))
def test_c_and_numpy_sads_agree(monkeypatch, seed):
    """block_sads on strided views and mv_block_sads with vectors far outside the picture give
    the NumPy definitions' integers."""
    from mlvc.codec import sad
    from mlvc.codec.inter import PAD, _predict_blocks
    rng = np.random.default_rng(seed)
    h, w = 37 + 11 * seed, 53 + 7 * seed
    by, bx = -(-h // BLOCK), -(-w // BLOCK)
    cur = rng.integers(0, 256, (by * BLOCK, bx * BLOCK)).astype(np.int32)
    ref = rng.integers(0, 256, (h, w)).astype(np.int32)
    big = rng.integers(0, 256, (by * BLOCK + 8, bx * BLOCK + 8)).astype(np.int32)
    view = big[3:3 + by * BLOCK, 5:5 + bx * BLOCK]            # rows with a stride
    mv = rng.integers(-3 * BLOCK, 3 * BLOCK, (by, bx, 2)).astype(np.int32)
    mv[0, 0] = (-10_000, 10_000)

    def predict(r, m):
        return _predict_blocks(r, m, False)
    fast = (sad.block_sads(cur, view, BLOCK), sad.block_sads(cur, view, 4),
            sad.mv_block_sads(cur, ref, mv, BLOCK, PAD, predict))
    monkeypatch.setenv("MLVC_NATIVE", "0")
    slow = (sad.block_sads(cur, view, BLOCK), sad.block_sads(cur, view, 4),
            sad.mv_block_sads(cur, ref, mv, BLOCK, PAD, predict))
    for a, b in zip(fast, slow):
        assert a.dtype == np.int64 and np.array_equal(a, b)


def test_motion_search_picks_the_same_vectors_either_way(monkeypatch):
    cur, ref = texture(96, 128, 5), texture(96, 128, 6)
    ref[8:, 4:] = cur[:-8, :-4]                                  # a pan over part of it
    fast = refine_half_pel(cur, ref, estimate_motion(cur, ref))
    monkeypatch.setenv("MLVC_NATIVE", "0")
    slow = refine_half_pel(cur, ref, estimate_motion(cur, ref))
    assert np.array_equal(fast, slow)
