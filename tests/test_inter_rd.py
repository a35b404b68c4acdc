"""P-frame rate-distortion decision (codec/inter.py) with the bundled trained package."""
from importlib import resources

import numpy as np
import pytest

import mlvc
from mlvc.bitstream.container import StreamHeader, iter_records
from mlvc.codec.inter import InterCodec, sse
from mlvc.package.loader import ModelPackage, bundled_package_path


@pytest.fixture(scope="module")
def sample():
    path = resources.files("mlvc").joinpath("data", "sample.npz")
    with np.load(str(path)) as z:
        return list(z["frames"][:4])        # 176 x 144 carphone, real motion


def records(stream):
    return list(iter_records(stream, StreamHeader.unpack(stream)))


def p_cost(stream, frames, lam):
    """bits + lambda / 3 * SSE of the P-frames of a stream (the encoder's objective)."""
    out = mlvc.Decoder(stream, backend="numpy").decode_all()
    assert all(f.verified for f in out)
    recs = records(stream)
    return sum(8 * (len(r.payload)) + lam / 3.0 * sse(f.rgb, src)
               for r, f, src in zip(recs, out, frames) if r.frame_type == "P")


def test_level_search_lowers_the_p_frame_cost(sample):
    lam = ModelPackage.load(bundled_package_path()).manifest.training["lambdas"][3]
    fixed = mlvc.Encoder(quality=4, gop=8, backend="numpy", inter_rd_levels=1,
                         p_level_cascade=0).encode(sample[:2])
    search = mlvc.Encoder(quality=4, gop=8, backend="numpy", inter_rd_levels=4,
                          p_level_cascade=0).encode(sample[:2])
    assert [r.quality for r in records(fixed)] == [4, 4]
    levels = [r.quality for r in records(search)]
    assert levels[0] == 4 and 1 <= levels[1] <= 4
    # same I-frame, same reference: the searched P-frame can only be cheaper (or the same one)
    assert records(fixed)[0].payload == records(search)[0].payload
    assert p_cost(search, sample, lam) <= p_cost(fixed, sample, lam)


@pytest.mark.parametrize("tools", ["grid", "tree"])
def test_choice_minimises_the_rate_distortion_cost(sample, tools):
    enc = mlvc.Encoder(quality=4, backend="numpy", inter_rd_levels=4, inter_tools=tools)
    ref = enc.codec.encode(sample[0], 4).reconstruction
    lam = enc.inter.lambdas[4]

    def cost(c):
        return 8 * len(c.payload) + lam / 3.0 * sse(c.reconstruction, sample[1])

    chosen = enc.inter.encode(sample[1], ref, 4)
    enc.inter.mode_policy = "residual"
    forced = [enc.inter.encode(sample[1], ref, lv) for lv in (1, 2, 3, 4)]
    enc.inter.mode_policy = "skip"
    forced.append(enc.inter.encode(sample[1], ref, 4))
    assert [c.level for c in forced] == [1, 2, 3, 4, 4]
    if tools == "grid":
        assert cost(chosen) == min(cost(c) for c in forced)
        assert any(chosen.payload == c.payload for c in forced)
    else:
        # the block tree decides its vectors with the requested level's lambda, a forced
        # level with its own: the choice is at least as cheap as every forced option
        assert cost(chosen) <= min(cost(c) for c in forced)
        assert chosen.mode in (4, 5) and {c.mode for c in forced} == {4, 5}


def test_decoder_follows_each_records_level(sample):
    """A stream whose P-frames carry other levels than its I-frame (as the encoder's choice
    makes them) decodes exactly, each frame at its record's level."""
    import io

    from mlvc.bitstream.container import FrameRecord, StreamWriter, picture_md5
    enc = mlvc.Encoder(quality=4, backend="numpy")
    enc.inter.mode_policy = "residual"
    h, w = sample[0].shape[:2]
    buf = io.BytesIO()
    writer = StreamWriter(buf, StreamHeader(enc.package.model_id, enc.package.manifest.stream_hash,
                                            w, h, 30, 1, 4))
    coded = enc.codec.encode(sample[0], 4)
    writer.write(FrameRecord("I", 4, coded.md5, coded.payload))
    ref = coded.reconstruction
    for i, lv in zip((1, 2, 3), (1, 3, 2)):
        p = enc.inter.encode(sample[i], ref, lv)
        ref = p.reconstruction
        writer.write(FrameRecord("P", lv, picture_md5(ref), p.payload))
    writer.close()
    out = mlvc.Decoder(buf.getvalue(), backend="numpy").decode_all()
    assert [f.quality for f in out] == [4, 1, 3, 2]
    assert all(f.verified for f in out)
    assert np.array_equal(out[-1].rgb, ref)


def test_package_without_lambdas_keeps_the_requested_level(sample):
    enc = mlvc.Encoder(quality=3, gop=4, backend="numpy")
    inter = InterCodec(enc.codec, rd_levels=4)
    inter.lambdas = {}                       # what a package without training lambdas gives
    coded = inter.encode(sample[1], sample[0], 3)
    assert coded.level == 3


def test_rd_levels_option_is_validated():
    with pytest.raises(mlvc.InvalidArgumentError):
        mlvc.Encoder(inter_rd_levels=0)


def test_rd_levels_default_to_the_presets(sample):
    """No inter_rd_levels: fast tries the requested level only, medium two; an explicit value
    overrides the preset."""
    levels = {}
    for preset, rd in (("fast", None), ("medium", None), ("fast", 3)):
        enc = mlvc.Encoder(quality=4, backend="numpy", preset=preset, inter_rd_levels=rd)
        levels[(preset, rd)] = enc.inter._levels(4)
    assert levels[("fast", None)] == [4]
    assert levels[("medium", None)] == [4, 3]
    assert levels[("fast", 3)] == [4, 3, 2]
