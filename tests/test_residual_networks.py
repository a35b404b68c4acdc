"""The P-frame residual networks (res_*): manifest rules, and that P-frame residuals (and only
they) are coded with them, on every exact backend alike."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from mlvc import Decoder, Encoder
from mlvc.bitstream.container import StreamHeader, iter_records
from mlvc.codec.inter import (HALF_PEL_BIT, RESIDUAL_BIT, block_grid, compensate,
                              mv_from_deltas)
from mlvc.conformance.golden import synthetic_frames
from mlvc.entropy import rans
from mlvc.errors import CorruptStreamError, ModelError
from mlvc.package.loader import ModelPackage
from mlvc.package.manifest import Manifest


@pytest.fixture(scope="module")
def residual_package(tmp_path_factory):
    """Random intra and residual models with different weights and z tables."""
    from mlvc_convert.package_builder import build_package
    from mlvc_convert.random_model import random_codec
    out = tmp_path_factory.mktemp("respkg")
    graphs, codec = random_codec(n=8, m=16, nz=8, seed=3)
    r_graphs, r_codec = random_codec(n=8, m=16, nz=8, seed=4)
    build_package(graphs, codec, out, "test-res", residual=(r_graphs, r_codec))
    return str(out)


def _p_stream(package, backend="numpy"):
    enc = Encoder(package=package, quality=2, backend=backend, gop=4,
                  intra_level_offset=0, p_level_cascade=0)
    enc.inter.mode_policy = "residual"
    enc.inter.tools = "grid"        # the §4b layout this file's checks read
    return enc.encode(synthetic_frames(48, 40, 3, 7))


def test_package_lists_both_sets_and_their_z_tables(residual_package):
    pkg = ModelPackage.load(residual_package)
    assert pkg.has_residual
    assert set(pkg.graphs) == {"g_a", "h_a", "h_s", "g_s",
                               "res_g_a", "res_h_a", "res_h_s", "res_g_s"}
    m = pkg.manifest
    assert len(m.res_z_table_index) == m.hyper_channels
    assert m.res_z_table_index != m.z_table_index


def test_p_residuals_use_the_residual_networks(residual_package):
    stream = _p_stream(residual_package)
    dec = Decoder(stream, package=residual_package, backend="numpy")
    assert dec.inter.residual is not dec.codec
    frames = dec.decode_all()
    header = StreamHeader.unpack(stream)
    recs = list(iter_records(stream, header))
    assert [r.frame_type for r in recs] == ["I", "P", "P"]
    rec = recs[1]
    mode, _, mvlen = struct.unpack_from("<BBI", rec.payload, 0)
    assert mode & RESIDUAL_BIT and mode & HALF_PEL_BIT
    h, w = header.height, header.width
    res = rec.payload[6 + mvlen:]
    by_res = dec.inter.residual.decode_signed(res, h, w, rec.quality)
    try:        # with the intra set the payload parses differently, or not at all
        by_intra = dec.codec.decode_signed(res, h, w, rec.quality)
    except CorruptStreamError:
        by_intra = None
    tables = dec.package.tables
    by, bx = block_grid(h, w)
    table = rec.payload[1]
    k = rans.decode(rec.payload[6:6 + mvlen], np.full(by * bx * 2, table), tables)
    pred = compensate(frames[0].rgb, mv_from_deltas((k - tables.radius[table]).reshape(by, bx, 2)),
                      True).astype(np.int16)
    # the picture is the prediction plus what the residual networks rebuild; the intra networks
    # would rebuild something else from the same payload
    assert np.array_equal(frames[1].rgb, np.clip(pred + by_res, 0, 255))
    assert by_intra is None or not np.array_equal(frames[1].rgb, np.clip(pred + by_intra, 0, 255))
    # intra frames are untouched by the second set
    intra_only = Encoder(package=residual_package, quality=2, backend="numpy", gop=1).encode(
        synthetic_frames(48, 40, 1, 7))
    first = next(iter_records(intra_only, StreamHeader.unpack(intra_only)))
    assert first.payload == recs[0].payload


def test_residual_streams_are_identical_across_exact_backends(residual_package):
    from conftest import litert_available
    if not litert_available():
        pytest.fail("ai-edge-litert is a runtime dependency and must be installed")
    a, b = _p_stream(residual_package, "numpy"), _p_stream(residual_package, "tflite")
    assert a == b
    for backend in ("numpy", "tflite"):
        assert all(f.verified for f in Decoder(a, package=residual_package,
                                               backend=backend).frames())


def _manifest_dict(package) -> dict:
    return json.loads((Path(package) / "manifest.json").read_text())


def test_incomplete_residual_set_is_a_model_error(residual_package):
    d = _manifest_dict(residual_package)
    del d["networks"]["res_g_s"]
    with pytest.raises(ValueError, match="residual networks incomplete"):
        Manifest.model_validate(d)


def test_residual_set_needs_its_z_tables(residual_package, small_package):
    d = _manifest_dict(residual_package)
    d["res_z_table_index"] = None
    with pytest.raises(ValueError, match="res_z_table_index"):
        Manifest.model_validate(d)
    d = _manifest_dict(small_package)
    d["res_z_table_index"] = [0] * d["hyper_channels"]
    with pytest.raises(ValueError, match="res_z_table_index"):
        Manifest.model_validate(d)


def test_bad_residual_z_table_is_rejected_on_load(residual_package, tmp_path):
    import shutil
    pkg = tmp_path / "pkg"
    shutil.copytree(residual_package, pkg)
    m = Manifest.model_validate(_manifest_dict(residual_package))
    m.res_z_table_index = [9999] * m.hyper_channels
    m.content_hash = m.compute_content_hash()
    (pkg / "manifest.json").write_text(m.model_dump_json(indent=2))
    with pytest.raises(ModelError, match="res_z_table_index"):
        ModelPackage.load(pkg)


def test_package_without_residual_set_keeps_its_hash_and_behaviour(small_package):
    m = Manifest.model_validate(_manifest_dict(small_package))
    assert not m.has_residual
    assert b"res_z_table_index" not in m.canonical_json()
    stream = _p_stream(small_package)
    dec = Decoder(stream, package=small_package, backend="numpy")
    assert dec.inter.residual is dec.codec
    assert all(f.verified for f in dec.frames())


def test_residual_set_with_its_own_latent_width(tmp_path):
    """Intra and residual networks may differ in latent channels (res_latent_channels): each set
    decodes with its own latent shape, identically on every exact backend."""
    from mlvc.backends.registry import resolve
    from mlvc_convert.package_builder import build_package
    from mlvc_convert.random_model import random_codec
    graphs, codec = random_codec(n=8, m=16, nz=8, seed=3)
    r_graphs, r_codec = random_codec(n=8, m=8, nz=8, seed=4)
    m = build_package(graphs, codec, tmp_path, "test-res-w", residual=(r_graphs, r_codec))
    assert (m.latent_channels, m.res_latent_channels) == (16, 8)
    assert m.latent_channels_of(False) == 16 and m.latent_channels_of(True) == 8
    stream = _p_stream(str(tmp_path))
    dec = Decoder(stream, package=str(tmp_path), backend="numpy")
    assert dec.inter.residual.latent_shapes(40, 48)[0][-1] == 8
    assert dec.codec.latent_shapes(40, 48)[0][-1] == 16
    frames = dec.decode_all()
    assert all(f.md5 == f.expected_md5 for f in frames)
    if resolve("litert-xnnpack").available():
        assert _p_stream(str(tmp_path), "litert-xnnpack") == stream
    # a package without residual networks cannot name a different residual width
    d = json.loads((tmp_path / "manifest.json").read_text())
    for r in ("res_g_a", "res_h_a", "res_h_s", "res_g_s"):
        d["networks"].pop(r)
    d["res_z_table_index"] = None
    with pytest.raises(ValueError):
        Manifest.model_validate(d)
