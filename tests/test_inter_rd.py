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
    fixed = mlvc.Encoder(quality=4, gop=8, backend="numpy", inter_rd_levels=1).encode(sample[:2])
    search = mlvc.Encoder(quality=4, gop=8, backend="numpy", inter_rd_levels=4).encode(sample[:2])
    assert [r.quality for r in records(fixed)] == [4, 4]
    levels = [r.quality for r in records(search)]
    assert levels[0] == 4 and 1 <= levels[1] <= 4
    # same I-frame, same reference: the searched P-frame can only be cheaper (or the same one)
    assert records(fixed)[0].payload == records(search)[0].payload
    assert p_cost(search, sample, lam) <= p_cost(fixed, sample, lam)


def test_p_frames_take_coarser_levels_and_decode_exactly(sample):
    stream = mlvc.Encoder(quality=4, gop=4, backend="numpy", inter_rd_levels=4).encode(sample)
    recs = records(stream)
    assert [r.frame_type for r in recs] == ["I", "P", "P", "P"]
    assert recs[0].quality == 4 and all(1 <= r.quality <= 4 for r in recs[1:])
    # this clip's residuals cost less at a coarser level for the level-4 lambda (measured);
    # the decoder follows each record's level
    assert any(r.quality < 4 for r in recs[1:])
    out = mlvc.Decoder(stream, backend="numpy").decode_all()
    assert [f.quality for f in out] == [r.quality for r in recs]
    assert all(f.verified for f in out)


def test_package_without_lambdas_keeps_the_requested_level(sample):
    enc = mlvc.Encoder(quality=3, gop=4, backend="numpy")
    inter = InterCodec(enc.codec, rd_levels=4)
    inter.lambdas = {}                       # what a package without training lambdas gives
    coded = inter.encode(sample[1], sample[0], 3)
    assert coded.level == 3


def test_rd_levels_option_is_validated():
    with pytest.raises(mlvc.InvalidArgumentError):
        mlvc.Encoder(inter_rd_levels=0)
