"""A stream names its model (id + 16-byte hash): the decoder finds that package among the ones it
is given, $MLVC_MODEL_PATH and the bundled one, or fails with a ModelError that names it."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlvc
from mlvc.errors import ModelError
from mlvc.package.loader import ModelPackage, find_package, load_package

DATA = Path(__file__).parent / "data"
V1_STREAM = DATA / "mlvc-intra-v1_q1_96x80_gop8.mlvc"     # a vector of the first bundled model


def frames(n=2, h=32, w=48):
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def two_packages(tmp_path_factory):
    from mlvc_convert.package_builder import build_package
    from mlvc_convert.random_model import random_codec
    root = tmp_path_factory.mktemp("models")
    for name, seed in (("alpha", 11), ("beta", 12)):
        graphs, codec = random_codec(n=8, m=16, nz=8, seed=seed)
        build_package(graphs, codec, root / name, f"test-{name}")
    return root


def test_decoder_picks_the_package_the_stream_names(two_packages):
    alpha, beta = str(two_packages / "alpha"), str(two_packages / "beta")
    stream = mlvc.Encoder(package=beta, backend="numpy", quality=1).encode(frames())
    want = mlvc.Decoder(stream, package=beta, backend="numpy").decode_all()
    dec = mlvc.Decoder(stream, package=[alpha, beta], backend="numpy")
    assert dec.package.model_id == "test-beta"
    got = dec.decode_all()
    assert [f.md5 for f in got] == [f.md5 for f in want]


def test_model_path_is_searched(two_packages, monkeypatch):
    stream = mlvc.Encoder(package=str(two_packages / "alpha"), backend="numpy").encode(frames(1))
    monkeypatch.setenv("MLVC_MODEL_PATH", str(two_packages))      # a folder of packages
    dec = mlvc.Decoder(stream, backend="numpy")
    assert dec.package.model_id == "test-alpha"
    assert all(f.md5 == f.expected_md5 for f in dec.decode_all())


def test_absent_package_names_model_and_hash(two_packages, monkeypatch):
    monkeypatch.delenv("MLVC_MODEL_PATH", raising=False)
    stream = mlvc.Encoder(package=str(two_packages / "alpha"), backend="numpy").encode(frames(1))
    h = load_package(str(two_packages / "alpha")).manifest.stream_hash.hex()
    with pytest.raises(ModelError) as e:
        mlvc.Decoder(stream, package=str(two_packages / "beta"), backend="numpy")
    assert "test-alpha" in str(e.value) and h in str(e.value) and "test-beta" in str(e.value)


def test_a_broken_package_on_the_path_is_passed_over(two_packages, tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    monkeypatch.setenv("MLVC_MODEL_PATH", f"{bad}:{two_packages / 'beta'}")
    m = load_package(str(two_packages / "beta")).manifest
    assert find_package(m.model_id, m.stream_hash).model_id == "test-beta"


# streams of earlier bundled models (vectors of theirs): model id and the hash the stream names
EARLIER_STREAMS = (
    (V1_STREAM, "mlvc-intra-v1", "ca6607a269da55157b815b720c169115"),
    (DATA / "mlvc-lp-v2_q1_96x80_gop8.mlvc", "mlvc-lp-v2", "c855b70d8e83999e53f9d0ea7e425d71"),
)


@pytest.mark.parametrize("stream,model_id,stream_hash", EARLIER_STREAMS,
                         ids=[m for _, m, _ in EARLIER_STREAMS])
def test_streams_of_earlier_bundled_models(stream, model_id, stream_hash, monkeypatch, tmp_path):
    """Streams of earlier bundled models never decode to wrong pixels with a later package: the
    decoder refuses them with a ModelError that names their model and hash."""
    monkeypatch.delenv("MLVC_MODEL_PATH", raising=False)
    data = stream.read_bytes()
    assert load_package().manifest.model_id != model_id
    with pytest.raises(ModelError) as e:
        mlvc.Decoder(data)
    assert model_id in str(e.value) and stream_hash in str(e.value)
    out = subprocess.run([sys.executable, "-m", "mlvc.cli", "decode", str(stream), "-o",
                          str(tmp_path / "out.y4m")], capture_output=True, text=True)
    assert out.returncode == ModelError.exit_status
    assert model_id in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out.y4m").exists()


def test_identity_covers_what_decoding_needs_not_bookkeeping(two_packages, tmp_path):
    """Format 2: description and training notes are not part of content_hash; anything decoding
    reads is (here a network's hash and a quality level's step)."""
    import json
    import shutil
    src = two_packages / "alpha"
    ref = load_package(str(src)).manifest
    assert ref.format_version == 2
    pkg = tmp_path / "renamed"
    shutil.copytree(src, pkg)
    d = json.loads((pkg / "manifest.json").read_text())
    d["description"] = "re-documented"
    d["training"] = {"checkpoint": "/elsewhere/ckpt-1", "elapsed_s": 1.0}
    (pkg / "manifest.json").write_text(json.dumps(d))
    assert load_package(str(pkg)).manifest.stream_hash == ref.stream_hash
    for edit in (lambda d: d["networks"]["g_s"].update(graph_sha256="0" * 64),
                 lambda d: d["levels"][0].update(exp=d["levels"][0]["exp"] + 1)):
        bad = json.loads(json.dumps(d))
        edit(bad)
        (pkg / "manifest.json").write_text(json.dumps(bad))
        with pytest.raises(ModelError, match="content hash"):
            ModelPackage.load(pkg)


def test_package_records_no_machine_paths(tmp_path):
    """Training bookkeeping keeps only the last two components of an absolute path, and the
    package's identity does not depend on it."""
    from mlvc_convert.package_builder import build_package
    from mlvc_convert.random_model import random_codec
    graphs, codec = random_codec(n=8, m=16, nz=8, seed=3)
    hashes = []
    for root in ("/home/a", "/srv/b/c"):
        codec["train"] = {"args": {"out": f"{root}/build/run", "init": None,
                                   "images": [f"{root}/pics/x"]}}
        m = build_package(graphs, codec, tmp_path / root.replace("/", "_"), "test-paths")
        assert m.training["args"] == {"out": "build/run", "init": None, "images": ["pics/x"]}
        hashes.append(m.content_hash)
    assert hashes[0] == hashes[1]
