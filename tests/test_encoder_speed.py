"""The encoder's fast paths (sad_kernel.c, blocktree_kernel.c) against their NumPy definitions:
the same integers and the same decisions (ties included), so that no stream byte depends on
which ran (MLVC_NATIVE=0 runs the definitions)."""
import numpy as np
import pytest

from mlvc.codec import blocktree as bt
from mlvc.codec import inter, sad
from mlvc.conformance.golden import moving_frames

from test_motion import texture


def both(monkeypatch, fn):
    """fn() with the C kernels, then with the NumPy definitions."""
    assert sad._kernel() is not None and bt._kernel() is not None, "no C compiler?"
    fast = fn()
    with monkeypatch.context() as m:
        m.setenv("MLVC_NATIVE", "0")
        slow = fn()
    return fast, slow


def real_like(h, w, seed):
    """A textured picture with flat patches (ties everywhere) and a repeated pattern."""
    pic = texture(h, w, seed)
    pic[: h // 3, : w // 4] = 90
    pic[h // 2:, w // 2:] = np.tile(pic[h // 2:h // 2 + 8, w // 2:w // 2 + 8],
                                    (-(-(h - h // 2) // 8), -(-(w - w // 2) // 8), 1))[
        :h - h // 2, :w - w // 2]
    return pic


@pytest.mark.parametrize("block,search", [(4, 8), (16, 3), (4, 1), (16, 5)])
def test_full_search_kernel_matches_numpy(monkeypatch, block, search):
    rng = np.random.default_rng(block * 10 + search)
    for h, w in ((48, 64), (32, 80)):
        for c, r in ((rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h, w))),
                     (np.full((h, w), 7), np.full((h, w), 7)),            # ties: all zero
                     (inter.luma(real_like(h, w, 3)), inter.luma(real_like(h, w, 4)))):
            for t in (np.int32, np.uint8):           # the int32 and the byte kernel
                c, r = c.astype(t), r.astype(t)
                (bf, mf), (bs, ms) = both(monkeypatch, lambda: inter._full_search(c, r, block,
                                                                                 search))
                assert np.array_equal(bf, bs) and np.array_equal(mf, ms)
                assert bf.dtype == bs.dtype == np.int64


@pytest.mark.parametrize("seed", range(3))
def test_byte_mv_block_sads_match_numpy(monkeypatch, seed):
    """mv_block_sads' byte kernel: vectors far outside the picture (clamped windows), inside
    (the unclamped loop), zero."""
    rng = np.random.default_rng(seed)
    h, w = 37 + 19 * seed, 53 + 5 * seed
    by, bx = -(-h // inter.BLOCK), -(-w // inter.BLOCK)
    cur = rng.integers(0, 256, (by * inter.BLOCK, bx * inter.BLOCK)).astype(np.uint8)
    ref = inter.luma(real_like(h, w, seed))

    def predict(r, m):
        return inter._predict_blocks(r, m, False)
    for scale in (0, 3, 40, 5000):
        mv = rng.integers(-scale, scale + 1, (by, bx, 2)).astype(np.int32)
        got = sad.mv_block_sads(cur, ref.astype(np.uint8), mv, inter.BLOCK, inter.PAD, predict)
        wide = sad.mv_block_sads(cur.astype(np.int32), ref, mv, inter.BLOCK, inter.PAD, predict)
        fast, slow = both(monkeypatch, lambda: sad.mv_block_sads(
            cur, ref.astype(np.uint8), mv, inter.BLOCK, inter.PAD, predict))
        assert np.array_equal(got, wide) and np.array_equal(fast, slow)
        assert np.array_equal(got, fast)


@pytest.mark.parametrize("seed", range(3))
def test_estimate_motion_is_the_numpy_definition(monkeypatch, seed):
    """Pans larger than the search (the picture edge clamps), flat areas and repeats (ties),
    sizes that are not whole blocks."""
    big = real_like(200, 260, 10 + seed)
    for (py, px), (h, w) in zip(((5, -40), (-37, 3), (2, 1)), ((120, 176), (97, 133),
                                                                (40, 40))):
        cur, ref = big[40 + py:40 + py + h, 60 + px:60 + px + w], big[40:40 + h, 60:60 + w]
        fast, slow = both(monkeypatch, lambda: inter.estimate_motion(cur, ref, 32))
        assert np.array_equal(fast, slow)
        assert np.abs(fast).max() > 0


def test_byte_phase_planes_and_qpel_sads(monkeypatch):
    """uint8 phase planes hold the int32 definition's values; the byte SAD kernels give the
    NumPy integers for uint8 and int32 inputs, inside the planes and clamped at their edges."""
    rng = np.random.default_rng(3)
    plane = inter.luma(real_like(50, 70, 8))
    fast, slow = both(monkeypatch, lambda: bt.phase_planes(plane, bt.BORDER))
    assert fast.dtype == np.uint8 and slow.dtype == np.int32 and np.array_equal(fast, slow)
    cur = inter.luma(real_like(48, 64, 9))
    for mv in (rng.integers(-40, 40, (3, 4, 2)), rng.integers(-400, 400, (3, 4, 2)),
               np.zeros((3, 4, 2), np.int64)):
        mv = mv.astype(np.int32)
        active = rng.random((3, 4)) < 0.7
        for c in (cur, cur.astype(np.uint8)):
            got, want = both(monkeypatch, lambda: sad.qpel_block_sads(c, fast, mv, 16, bt.BORDER,
                                                                       active))
            assert np.array_equal(got, want)
    one = [(int(rng.integers(0, 48)), int(rng.integers(0, 64)), s, int(a), int(b))
           for s in (8, 16, 32, 64) for a, b in rng.integers(-90, 90, (12, 2))]
    got, want = both(monkeypatch, lambda: [sad.qpel_sad_one(cur.astype(np.uint8), *o[:3], fast,
                                                            bt.BORDER, *o[3:]) for o in one])
    assert got == want
    with pytest.raises(ValueError):
        sad.qpel_block_sads(cur + 300, fast, mv, 16, bt.BORDER)


@pytest.mark.parametrize("shape", [(37, 53, 3), (8, 8, 3), (1, 1, 3), (70, 130, 1), (9, 17)])
def test_unit_sse_kernel_matches_numpy(monkeypatch, shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = rng.integers(0, 256, shape, dtype=np.uint8)
    for x, y in ((a, b), (a, a), (np.zeros_like(a), np.full_like(a, 255))):
        fast, slow = both(monkeypatch, lambda: bt.unit_sse(x, y))
        assert np.array_equal(fast, slow) and fast.dtype == np.int64
        assert inter.sse(x, y) == int(np.sum((x.astype(np.int64) - y) ** 2))


@pytest.mark.parametrize("preset", ["fast", "medium", "slow"])
def test_tree_decisions_are_the_numpy_definition(monkeypatch, preset):
    """TreeSearch from the whole-pixel field to the leaves, with the kernels and without."""
    frames = moving_frames(136, 104, 2, 7)
    cur, ref = frames[1], frames[0]
    ref[:40, :48] = 128                  # a flat patch: ties in every search

    def leaves(mu, max_diff):
        mv16 = inter.estimate_motion(cur, ref, 32)
        return bt.TreeSearch(inter.luma(cur), inter.luma(ref), mv16, bt.preset(preset),
                             mu, max_diff).decide()
    # max_diff 3: differences no table codes force merges
    for mu, max_diff in ((bt.motion_lambda(0.02), 255), (0.3, 3), (40.0, 255)):
        fast, slow = both(monkeypatch, lambda: leaves(mu, max_diff))
        assert fast == slow and len(fast) > 4
        assert list(fast) == list(slow)                  # the same coding order


@pytest.mark.parametrize("h,w,tc", [(40, 56, 3), (73, 130, 31), (9, 17, 1), (64, 64, 12),
                                    (8, 8, 5), (1, 1, 3), (17, 9, 2)])
def test_deblock_kernel_matches_numpy(monkeypatch, h, w, tc):
    """Random trees (edges at the right and bottom picture edges, q1 clamped), steps of every
    size (both branches of the filter)."""
    from test_blocktree import random_tree
    from mlvc.bitstream import inter_syntax as syn
    rng = np.random.default_rng(h * w + tc)
    leaves = random_tree(h, w, rng)
    f = bt.unit_fields(syn.block_tree_symbols(leaves, 5, h, w).blocks)
    changed = h < 9 or w < 9 or len(leaves) < 2          # no edge to filter
    for rec in (rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                np.clip(100 + rng.integers(-2 * tc, 2 * tc + 1, (h, w, 3)), 0, 255
                        ).astype(np.uint8),
                rng.integers(250, 256, (h, w), dtype=np.uint8)):
        fast, slow = both(monkeypatch, lambda: bt.deblock(rec, f, tc))
        assert np.array_equal(fast, slow) and fast.dtype == np.uint8
        changed |= not np.array_equal(fast, rec)
    assert changed


def test_tree_symbols_kernel_matches_the_definition(monkeypatch):
    """block_tree_symbols by tree_kernel.c: the same symbols, PBs and owner map as the Python
    walk, for random trees (both modes, vectors with merges of both indices), leaves the walk
    never visits, and the same errors."""
    from test_blocktree import random_tree
    from mlvc.bitstream import inter_syntax as syn
    from mlvc.errors import InvalidArgumentError
    rng = np.random.default_rng(17)
    for h, w in ((72, 104), (40, 56), (130, 70), (8, 8), (1, 1), (200, 136)):
        for mode in (4, 5):
            leaves = random_tree(h, w, rng, mode)
            extra = dict(leaves)
            extra[(0, 0, 8) if (0, 0, 8) not in leaves else (0, 0, 64)] = ((5, 5), 0)
            for lv in (leaves, extra):
                got, want = both(monkeypatch, lambda: syn.block_tree_symbols(lv, mode, h, w))
                assert got.kinds == want.kinds and got.values == want.values
                assert got.leaf_ends == want.leaf_ends
                assert got.blocks.blocks == want.blocks.blocks
                assert np.array_equal(got.blocks.owner, want.blocks.owner)
                assert got.blocks._owner == want.blocks._owner
                assert got.blocks.candidates(h - 1, w - 1, 8) == \
                    want.blocks.candidates(h - 1, w - 1, 8)
    merges = [v for k, v in zip(got.kinds, got.values) if k == syn.KIND_MIDX]
    assert 0 in merges and 1 in merges
    bad = dict(leaves)
    bad.pop(next(iter(bad)))
    far = {k: ((4000, 0), s) for k, (_, s) in leaves.items()}
    for lv in (bad, far):
        with pytest.raises(InvalidArgumentError):
            syn.block_tree_symbols(lv, 5, h, w)
