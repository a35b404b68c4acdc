"""The block-tree inter tools (docs/bitstream.md §4c): interpolation and deblocking against
direct scalar transcriptions of the spec, the incremental rANS reader, syntax and encoder round
trips for modes 4 and 5, and hostile payloads (typed errors only)."""
import struct

import numpy as np
import pytest

import mlvc
from mlvc.bitstream import inter_syntax as syn
from mlvc.bitstream.container import StreamHeader, iter_records
from mlvc.codec import blocktree as bt
from mlvc.conformance.golden import synthetic_frames
from mlvc.entropy import rans
from mlvc.errors import CorruptStreamError, MLVCError
from mlvc.package.loader import load_package

C = [[0, 0, 0, 64, 0, 0, 0, 0], [-1, 4, -10, 58, 17, -5, 1, 0],
     [-1, 4, -11, 40, 40, -11, 4, -1], [0, 1, -5, 17, 58, -10, 4, -1]]


def spec_pred_pixel(ref, y, x, dy, dx, ch):
    """§4c prediction of one sample, transcribed literally (Python integers)."""
    h, w = ref.shape[:2]
    iy, fy, ix, fx = dy >> 2, dy & 3, dx >> 2, dx & 3

    def R(u, v):
        return int(ref[min(max(u, 0), h - 1), min(max(v, 0), w - 1), ch])
    hk = [sum(C[fx][j] * R(y + iy + k - 3, x + ix + j - 3) for j in range(8)) for k in range(8)]
    return min(max((sum(C[fy][k] * hk[k] for k in range(8)) + 2048) >> 12, 0), 255)


@pytest.mark.parametrize("h,w", [(13, 19), (8, 8), (24, 17)])
def test_interpolation_matches_the_spec_at_all_16_phases_and_edges(h, w):
    rng = np.random.default_rng(h * 100 + w)
    ref = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ref[0, :, 0] = 255          # saturated edges: the clamp to 0..255 is reached
    ref[:, 0, 1] = 0
    uh, uw = -(-h // 8), -(-w // 8)
    for trial in range(6):
        # every phase, vectors pointing inside, across the edges and far outside
        base = rng.integers(-4 * (h + 12), 4 * (h + 12), (uh, uw, 2))
        if trial < 4:
            base[..., 0] = (base[..., 0] & ~3) | trial
            base[..., 1] = (base[..., 1] & ~3) | rng.integers(0, 4, (uh, uw))
        if trial == 5:
            base[...] = rng.choice([-2048, 2047, -1, 1, 0, 5, -7], (uh, uw, 2))
        pred = bt.predict(ref, base.astype(np.int32))
        assert pred.shape == ref.shape and pred.dtype == np.uint8
        for y in range(h):
            for x in range(w):
                dy, dx = (int(v) for v in base[y // 8, x // 8])
                for ch in range(3):
                    assert pred[y, x, ch] == spec_pred_pixel(ref, y, x, dy, dx, ch), (y, x, dy, dx)


def test_phase_planes_are_the_spec_prediction():
    rng = np.random.default_rng(5)
    plane = rng.integers(0, 256, (11, 14), dtype=np.int32)
    planes = bt.phase_planes(plane, bt.BORDER)
    ref3 = plane[..., None].astype(np.uint8)
    for fy in range(4):
        for fx in range(4):
            for y in range(-bt.BORDER, 11 + bt.BORDER):
                for x in range(-bt.BORDER, 14 + bt.BORDER, 3):
                    # a position outside the picture: vector from the clamped pixel
                    yy, xx = min(max(y, 0), 10), min(max(x, 0), 13)
                    v = spec_pred_pixel(ref3, yy, xx, 4 * (y - yy) + fy, 4 * (x - xx) + fx, 0)
                    assert planes[fy, fx, y + bt.BORDER, x + bt.BORDER] == v


def test_qpel_sad_kernel_matches_numpy(monkeypatch):
    from mlvc import native
    from mlvc.codec import sad
    rng = np.random.default_rng(9)
    cur = rng.integers(0, 256, (48, 64), dtype=np.int32)
    planes = bt.phase_planes(rng.integers(0, 256, (45, 61)), bt.BORDER)
    mv = rng.integers(-300, 300, (6, 8, 2)).astype(np.int32)
    one = [(int(rng.integers(0, 48)), int(rng.integers(0, 64)), int(s), int(dy), int(dx))
           for s, dy, dx in zip(rng.choice([8, 16, 32, 64], 40), rng.integers(-300, 300, 40),
                                rng.integers(-300, 300, 40))]
    a = sad.qpel_block_sads(cur, planes, mv, 8, bt.BORDER)
    a1 = [sad.qpel_sad_one(cur, y, x, s, planes, bt.BORDER, dy, dx) for y, x, s, dy, dx in one]
    bound = sad.qpel_sad_one_fn(cur, planes, bt.BORDER)
    assert [bound(*o) for o in one] == a1
    monkeypatch.setattr(native, "load", lambda *a, **k: None)
    b = sad.qpel_block_sads(cur, planes, mv, 8, bt.BORDER)
    b1 = [sad.qpel_sad_one(cur, y, x, s, planes, bt.BORDER, dy, dx) for y, x, s, dy, dx in one]
    assert np.array_equal(a, b) and a.sum() > 0
    assert a1 == b1 and min(a1) > 0


@pytest.mark.parametrize("h,w,c", [(37, 53, 3), (9, 17, 1), (8, 8, 3), (1, 1, 3), (70, 130, 3),
                                   (2, 300, 1)])
def test_prediction_kernel_matches_numpy(h, w, c):
    """blocktree_kernel.c against the NumPy definitions: the prediction (vectors far outside
    the picture, every phase, partial units at the right and bottom edges) and the phase
    planes."""
    assert bt._kernel() is not None, "no C compiler?"     # CI has one (scripts/test.sh)
    rng = np.random.default_rng(h * 1000 + w)
    ref = rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)
    for scale in (3, 40, 9000):
        mv = rng.integers(-scale, scale + 1, (-(-h // 8), -(-w // 8), 2)).astype(np.int32)
        assert np.array_equal(bt.predict(ref, mv), bt.predict_numpy(ref, mv))
    plane = ref if c == 1 else ref[..., 1]
    for border in (4, bt.BORDER):
        assert np.array_equal(bt.phase_planes(plane, border),
                              bt.phase_planes_numpy(plane, border))


def test_with_skips_equals_coding_the_tree_again():
    rng = np.random.default_rng(21)
    for h, w in ((72, 104), (40, 56), (130, 70)):
        leaves = random_tree(h, w, rng, mode=5)
        sym4 = syn.block_tree_symbols({k: (mv, 1) for k, (mv, _) in leaves.items()}, 4, h, w)
        skips = [leaves[(b.y0, b.x0, b.size)][1] for b in sym4.blocks.blocks]
        got = syn.with_skips(sym4, skips)
        want = syn.block_tree_symbols(leaves, 5, h, w)
        assert got.kinds == want.kinds and got.values == want.values
        assert got.leaf_ends == want.leaf_ends
        assert got.blocks.blocks == want.blocks.blocks
        assert np.array_equal(got.blocks.owner, want.blocks.owner)
        assert syn.KIND_SKIP in got.kinds and any(s == 0 for s in skips)
    with pytest.raises(mlvc.errors.InvalidArgumentError):
        syn.with_skips(sym4, skips[:-1])


def test_early_termination_skips_the_search_inside_well_predicted_blocks(monkeypatch):
    """fast preset: a block predicted within EARLY_SAD per pixel is a leaf, and the sizes
    inside it are not searched (their SADs are not computed)."""
    from mlvc.codec.inter import luma
    from mlvc.conformance.golden import moving_frames
    frames = moving_frames(128, 96, 2, 5)
    cur, ref = luma(frames[1]), luma(frames[1])        # a perfect reference: SAD 0 at mv 0
    ref[:48, :64] = luma(frames[0])[:48, :64]          # except in one corner
    fast = bt.preset("fast")
    mv16 = np.zeros((6, 8, 2), np.int32)
    s = bt.TreeSearch(cur, ref, mv16, fast, 1.0)
    leaves = s.decide()
    assert s.active[32].sum() < s.active[32].size and s.active[16].sum() < s.active[16].size
    assert (0, 64, 64) in leaves and leaves[(0, 64, 64)] == (0, 0)
    full = bt.TreeSearch(cur, ref, mv16, bt.Preset(**{**fast.__dict__, "early_split": False}),
                         1.0)
    assert full.active == {}
    full_leaves = full.decide()
    assert len(leaves) < len(full_leaves)
    # the moving corner is still split finely; the leaves tile the picture
    assert any(k[2] < 64 and k[0] < 48 and k[1] < 64 for k in leaves)
    assert sum(min(k[2], 96 - k[0]) * min(k[2], 128 - k[1]) for k in leaves) == 96 * 128


def random_tree(h, w, rng, mode=5):
    """Leaves {(y0, x0, size): (mv, skip)} of a random quadtree covering h x w."""
    leaves = {}

    def node(y0, x0, size):
        if y0 >= h or x0 >= w:
            return
        if size > 8 and rng.random() < 0.6:
            s = size // 2
            for dy, dx in ((0, 0), (0, s), (s, 0), (s, s)):
                node(y0 + dy, x0 + dx, s)
        else:
            mv = tuple(int(v) for v in rng.choice([-9, -4, 0, 0, 3, 4, 17], 2))
            leaves[(y0, x0, size)] = (mv, int(rng.random() < 0.5) if mode == 5 else 1)
    for cy in range(0, h, 64):
        for cx in range(0, w, 64):
            node(cy, cx, 64)
    return leaves


def spec_deblock(rec, blocks: syn.BlockMap, tc):
    """§4c deblocking, transcribed literally: two passes, each reading the picture as it was
    before the pass."""
    h, w = rec.shape[:2]
    a, b = 4 * tc, 2 * tc

    own = blocks.owner

    def pb(y, x):
        return blocks.blocks[int(own[y // 8, x // 8])], int(own[y // 8, x // 8])

    def filtered(y1, x1, y2, x2):
        (p, i), (q, j) = pb(y1, x1), pb(y2, x2)
        return i != j and (abs(p.mv[0] - q.mv[0]) >= 4 or abs(p.mv[1] - q.mv[1]) >= 4
                           or p.skip != q.skip)

    def line(v):                       # v: p1, p0, q0, q1
        p1, p0, q0, q1 = (int(t) for t in v)
        if abs(p0 - q0) < a and abs(p1 - p0) < b and abs(q1 - q0) < b:
            d = min(max(((q0 - p0) * 4 + (p1 - q1) + 4) >> 3, -tc), tc)
            return min(max(p0 + d, 0), 255), min(max(q0 - d, 0), 255)
        return p0, q0
    out = rec.astype(np.int32).copy()
    src = out.copy()
    for x in range(8, w, 8):
        for y in range(h):
            if filtered(y, x - 1, y, x):
                for c in range(rec.shape[2]):
                    out[y, x - 1, c], out[y, x, c] = line(
                        (src[y, x - 2, c], src[y, x - 1, c], src[y, x, c], src[y, min(x + 1, w - 1), c]))
    src = out.copy()
    for y in range(8, h, 8):
        for x in range(w):
            if filtered(y - 1, x, y, x):
                for c in range(rec.shape[2]):
                    out[y - 1, x, c], out[y, x, c] = line(
                        (src[y - 2, x, c], src[y - 1, x, c], src[y, x, c], src[min(y + 1, h - 1), x, c]))
    return out.astype(np.uint8)


@pytest.mark.parametrize("h,w,tc", [(40, 56, 3), (73, 130, 31), (9, 17, 1), (64, 64, 12)])
def test_deblocking_matches_the_spec(h, w, tc):
    rng = np.random.default_rng(h + w + tc)
    leaves = random_tree(h, w, rng)
    if len(leaves) < 4:      # 8x8 blocks with vectors 4 apart (every edge filtered)
        leaves = {(y, x, 8): ((4 * (x // 8), 0), 0) for y in range(0, h, 8) for x in range(0, w, 8)}
    sym = syn.block_tree_symbols(leaves, 5, h, w)
    f = bt.unit_fields(sym.blocks)
    # smooth picture with steps at block edges, so that both branches of the filter occur
    yy, xx = np.mgrid[0:h, 0:w]
    base = (100 + (yy + 2 * xx) // 5)[..., None] + rng.integers(0, 2, (h, w, 3))
    step = (f.mv[..., 0] + 3 * f.mv[..., 1]) % (4 * tc + 2)
    rec = np.clip(base + step.repeat(8, 0).repeat(8, 1)[:h, :w, None], 0, 255).astype(np.uint8)
    rec[0, 0] = 255
    got = bt.deblock(rec, f, tc)
    want = spec_deblock(rec, sym.blocks, tc)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, rec)
    assert np.array_equal(bt.deblock(rec, f, 0), rec)


@pytest.fixture(scope="module")
def tables():
    return load_package(None).tables


def test_rans_reader_reads_mixed_binary_and_table_symbols(tables):
    rng = np.random.default_rng(3)
    n = 5000
    is_bin = rng.random(n) < 0.6
    f = rng.integers(1, 65536, n)
    t = rng.integers(0, tables.num_tables, n)
    k = np.array([rng.integers(0, 2 * tables.radius[tt] + 1) for tt in t])
    bits = (rng.random(n) < 0.3).astype(np.int64)
    lo, fr = rans.binary_lo_freq(bits, f)
    tlo, tfr = tables.lo_freq(t, k)
    lo, fr = np.where(is_bin, lo, tlo), np.where(is_bin, fr, tfr)
    data = rans.encode_lo_freq(lo, fr)
    r = rans.RansReader(data, tables)
    got = [r.binary(int(f[i])) if is_bin[i] else r.symbol(int(t[i])) for i in range(n)]
    r.finish()
    assert got == [int(bits[i]) if is_bin[i] else int(k[i]) for i in range(n)]
    # table symbols alone: the same as the one-shot decoder
    data = rans.encode(k, t, tables)
    r = rans.RansReader(data, tables)
    assert [r.symbol(int(v)) for v in t] == list(rans.decode(data, t, tables))
    r.finish()
    # reading one symbol too many or too few fails the end checks or runs out
    r = rans.RansReader(data, tables)
    for v in t[:-1]:
        r.symbol(int(v))
    with pytest.raises(CorruptStreamError):
        r.finish()
    with pytest.raises(CorruptStreamError):
        rans.RansReader(data + b"\0\0", tables)
    with pytest.raises(CorruptStreamError):
        rans.RansReader(rans.encode(k[:3], t[:3], tables), tables).binary(0)


@pytest.mark.parametrize("mode", [4, 5])
def test_block_syntax_round_trip_every_size_merge_and_skip(tables, mode):
    rng = np.random.default_rng(mode)
    h, w = 150, 200
    leaves = random_tree(h, w, rng, mode)
    sym = syn.block_tree_symbols(leaves, mode, h, w)
    payload = syn.write_block_tree(sym, mode, 7, tables, residual=b"" if mode == 4 else b"RES")
    hdr, bmap, rest = syn.read_tree_payload(payload, h, w, tables)
    assert hdr.mode == mode and hdr.deblock == 7 and bytes(rest) == (b"" if mode == 4 else b"RES")
    got = {(b.y0, b.x0, b.size): (b.mv, b.skip) for b in bmap.blocks}
    assert got == {k: (v[0], v[1] if mode == 5 else 1) for k, v in leaves.items()}
    assert {b.size for b in bmap.blocks} == {8, 16, 32, 64}
    assert any(b.merge and b.merge_idx == 1 for b in bmap.blocks)
    assert any(b.merge and b.merge_idx == 0 for b in bmap.blocks)
    assert any(not b.merge for b in bmap.blocks)
    if mode == 5:
        assert {b.skip for b in bmap.blocks} == {0, 1}


def test_encoder_round_trip_modes_4_and_5():
    frames = synthetic_frames(136, 88, 4, 21)
    for policy, mode in (("skip", 4), ("residual", 5)):
        enc = mlvc.Encoder(quality=2, gop=4, backend="numpy")
        enc.inter.mode_policy = policy
        stream = enc.encode(frames)
        header = StreamHeader.unpack(stream)
        assert header.version_minor == 1
        recs = list(iter_records(stream, header))
        assert [r.payload[0] for r in recs[1:]] == [mode] * 3
        dec = mlvc.Decoder(stream, backend="numpy").decode_all()
        assert all(f.verified for f in dec)          # the encoder's pictures, bit for bit
        tabs = enc.package.tables
        sizes = set()
        for r in recs[1:]:
            _, bmap, _ = syn.read_tree_payload(r.payload, 88, 136, tabs)
            sizes |= {b.size for b in bmap.blocks}
            assert any(b.merge for b in bmap.blocks)
            assert any(b.mv[0] & 3 or b.mv[1] & 3 for b in bmap.blocks)     # sub-pixel
        assert len(sizes) >= 2


def test_old_grid_tools_still_write_bitstream_1_0():
    frames = synthetic_frames(48, 40, 3, 2)
    enc = mlvc.Encoder(quality=2, gop=3, backend="numpy", inter_tools="grid")
    stream = enc.encode(frames)
    header = StreamHeader.unpack(stream)
    assert header.version_minor == 0
    assert [r.payload[0] for r in iter_records(stream, header)][1:] in ([3, 3], [2, 3], [3, 2],
                                                                        [2, 2])
    assert all(f.verified for f in mlvc.Decoder(stream, backend="numpy").decode_all())


def test_presets_are_validated():
    with pytest.raises(mlvc.errors.InvalidArgumentError):
        mlvc.Encoder(quality=2, preset="ultra")
    for p in ("fast", "medium", "slow"):
        assert mlvc.Encoder(quality=2, preset=p).inter.preset == p


# -- hostile payloads ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tree_stream():
    enc = mlvc.Encoder(quality=2, gop=2, backend="numpy")
    enc.inter.mode_policy = "residual"
    return enc.encode(synthetic_frames(72, 40, 2, 4))


def _with_p_payload(stream, fn):
    from mlvc.conformance.hostile import _Records
    r = _Records(stream)
    r.records[1][4] = bytearray(fn(bytes(r.records[1][4])))
    return r.bytes()


def _set(offset, fmt, value):
    def edit(p):
        d = bytearray(p)
        struct.pack_into(fmt, d, offset, value)
        return bytes(d)
    return edit


HOSTILE = {
    "unknown_mode_6": _set(0, "<B", 6),
    "mv_table_huge": _set(1, "<B", 250),
    "f_split0_zero": _set(2, "<H", 0),
    "f_split2_zero": _set(6, "<H", 0),
    "f_merge_zero": _set(8, "<H", 0),
    "f_midx_zero": _set(10, "<H", 0),
    "f_skip_zero": _set(12, "<H", 0),
    "deblock_32": _set(14, "<B", 32),
    "deblock_255": _set(14, "<B", 255),
    "substream_len_huge": _set(15, "<I", 0xFFFFFFFF),
    "substream_len_short": lambda p: _set(15, "<I", struct.unpack_from("<I", p, 15)[0] - 2)(p),
    "header_only": lambda p: p[:19],
    "header_truncated": lambda p: p[:12],
    "mode_4_with_residual_bytes": _set(0, "<B", 4),
    "substream_truncated": lambda p: p[:19 + struct.unpack_from("<I", p, 15)[0] // 2],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_block_tree_payloads_are_corrupt_stream(tree_stream, case):
    data = _with_p_payload(tree_stream, HOSTILE[case])
    with pytest.raises(CorruptStreamError):
        mlvc.Decoder(data, backend="numpy").decode_all()


def test_vector_out_of_range_is_corrupt(tables):
    """8x8 PBs, each coded as its predictor + (radius, 0) of the widest table: the vectors grow
    along the diagonal until one passes 2047, which the reader refuses."""
    t = int(np.argmax(tables.radius))
    r = int(tables.radius[t])
    h = w = 128
    sym = syn.TreeSymbols()
    bmap = syn.BlockMap(h, w)
    top = []

    def split_of(y0, x0, size, depth):
        sym.kinds.append(depth)
        sym.values.append(1)
        return 1

    def leaf(y0, x0, size):
        py, px = bmap.predictor(y0, x0, size)
        sym.kinds.extend([syn.KIND_MERGE, syn.KIND_MV, syn.KIND_MV])
        sym.values.extend([0, r, 0])
        top.append(py + r)
        bmap.add(syn.PredictionBlock(y0, x0, size, (py + r, px)))
    syn.walk_tree(h, w, split_of, leaf)
    assert max(top) >= 2048
    payload = syn.write_block_tree(sym, 4, 0, tables, mv_table=t)
    with pytest.raises(CorruptStreamError, match="outside"):
        syn.read_tree_payload(payload, h, w, tables)


def test_random_block_tree_bytes_never_raise_anything_but_typed_errors(tree_stream, tables):
    rng = np.random.default_rng(17)
    from mlvc.conformance.hostile import _Records
    p = bytes(_Records(tree_stream).records[1][4])
    outcomes = {"typed": 0, "parsed": 0}
    for i in range(300):
        d = bytearray(p)
        for _ in range(int(rng.integers(1, 6))):
            d[int(rng.integers(0, min(len(d), 19 + 64)))] = int(rng.integers(0, 256))
        try:
            syn.read_tree_payload(bytes(d), 40, 72, tables)
            outcomes["parsed"] += 1
        except MLVCError:
            outcomes["typed"] += 1
    assert outcomes["typed"] + outcomes["parsed"] == 300 and outcomes["typed"] > 150


def test_bundled_vectors_cover_every_block_tree_tool():
    """The conformance vectors exercise each §4c tool: modes 4 and 5, every PB size, merge with
    both indices, vector differences, per-block skip both ways, sub-pixel vectors on PBs at the
    picture edges, deblocking on; and the hostile catalogue covers the new syntax."""
    import json

    from mlvc.conformance.vectors import bundled_vectors_path
    vec = bundled_vectors_path()
    tabs = load_package(None).tables
    seen = {"modes": set(), "sizes": set(), "midx": set(), "diff": 0, "skip": set(),
            "edge_frac": 0, "deblock": 0}
    for e in json.loads((vec / "manifest.json").read_text())["vectors"]:
        s = (vec / e["stream"]).read_bytes()
        hd = StreamHeader.unpack(s)
        recs = list(iter_records(s, hd))
        tree = [r for r in recs if r.frame_type == "P" and r.payload[0] in syn.TREE_MODES]
        assert hd.version_minor == (1 if tree else 0), e["name"]
        for r in tree:
            hdr, bmap, _ = syn.read_tree_payload(r.payload, hd.height, hd.width, tabs)
            seen["modes"].add(hdr.mode)
            seen["deblock"] += hdr.deblock > 0
            for b in bmap.blocks:
                seen["sizes"].add(b.size)
                if b.merge:
                    seen["midx"].add(b.merge_idx)
                else:
                    seen["diff"] += 1
                if hdr.mode == 5:
                    seen["skip"].add(b.skip)
                at_edge = (b.y0 == 0 or b.x0 == 0 or b.y0 + b.size >= hd.height
                           or b.x0 + b.size >= hd.width)
                seen["edge_frac"] += at_edge and bool(b.mv[0] & 3 or b.mv[1] & 3)
    assert seen["modes"] == {4, 5}
    assert seen["sizes"] == {8, 16, 32, 64}
    assert seen["midx"] == {0, 1} and seen["diff"] > 0
    assert seen["skip"] == {0, 1}
    assert seen["edge_frac"] > 0 and seen["deblock"] > 0
    cases = json.loads((vec / "invalid" / "catalogue.json").read_text())["cases"]
    names = {c["name"] for c in cases}
    for want in ("p5_f_split0_zero", "p5_f_skip_zero", "p5_deblock_32", "p5_substream_truncated",
                 "p4_prediction_only_one_extra_byte", "p5_mode_6", "tree_vector_out_of_range"):
        assert want in names


def test_native_block_syntax_reader_matches_the_python_reader(tables, tree_stream):
    """tree_kernel.c against read_block_tree: the same blocks (and reader state) on valid
    trees of every shape, and an error on exactly the same mutated substreams."""
    from mlvc import native
    assert native.load(syn._KERNEL, syn._KERNEL_FUNCTIONS) is not None, "no C compiler?"
    rng = np.random.default_rng(23)

    def both(payload, h, w):
        out = []
        for nat in (True, False):
            try:
                hdr, bmap, rest = syn.read_tree_payload(payload, h, w, tables, native_tree=nat)
                out.append(([(b.y0, b.x0, b.size, b.mv, b.skip, b.merge, b.merge_idx)
                             for b in bmap.blocks], bmap.owner.tolist()))
            except CorruptStreamError:
                out.append("corrupt")
        return out
    valid = 0
    for i in range(40):
        h, w = int(rng.integers(1, 150)), int(rng.integers(1, 150))
        mode = 4 + i % 2
        payload = syn.write_block_tree(syn.block_tree_symbols(random_tree(h, w, rng, mode), mode,
                                                              h, w), mode, 5, tables)
        a, b = both(payload, h, w)
        assert a == b and a != "corrupt"
        valid += 1
        for _ in range(5):
            d = bytearray(payload)
            d[int(rng.integers(19, len(d)))] ^= 1 << int(rng.integers(0, 8))
            a, b = both(bytes(d), h, w)
            assert a == b
    from mlvc.conformance.hostile import _Records
    p = bytes(_Records(tree_stream).records[1][4])
    a, b = both(p, 40, 72)
    assert a == b and a != "corrupt" and valid == 40


def test_cli_preset_and_tools(tmp_path):
    from mlvc.cli import main
    src = tmp_path / "in.npz"
    np.savez(src, frames=np.stack(moving_frames_small()))
    for preset, tools, minor, modes in (("fast", "tree", 1, {4, 5}), ("slow", "tree", 1, {4, 5}),
                                        (None, "grid", 0, {0, 1, 2, 3})):
        out = tmp_path / f"{preset}_{tools}.mlvc"
        args = ["encode", str(src), "-o", str(out), "--quality", "2", "--gop", "3",
                "--backend", "numpy", "--inter-tools", tools] + (
            ["--preset", preset] if preset else [])
        assert main(args) == 0
        s = out.read_bytes()
        hd = StreamHeader.unpack(s)
        assert hd.version_minor == minor
        assert {r.payload[0] for r in iter_records(s, hd) if r.frame_type == "P"} <= modes
        assert all(f.verified for f in mlvc.Decoder(s, backend="numpy").decode_all())
    assert main(["encode", str(src), "-o", str(tmp_path / "x.mlvc"), "--preset", "ultra"]) == 2
    assert not (tmp_path / "x.mlvc").exists()


def moving_frames_small():
    from mlvc.conformance.golden import moving_frames
    return moving_frames(40, 32, 3, 1)
