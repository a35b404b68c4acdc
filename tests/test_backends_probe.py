"""Exactness per environment fingerprint, the startup probe and its cache, decoder fallback,
hash recovery (float16 -> an exact backend), strict and preview modes (issue #18 items 1-3)."""
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import mlvc
from conftest import litert_available
from mlvc.backends import fingerprint as fpm
from mlvc.backends import probe as probe_mod
from mlvc.backends import registry
from mlvc.backends.registry import ApproximateBackendWarning
from mlvc.errors import HashMismatchError, InvalidArgumentError

VECTORS = Path(mlvc.__file__).resolve().parent / "data" / "vectors"
needs_litert = pytest.mark.skipif(not litert_available(), reason="ai-edge-litert not installed")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fresh cache folder and fresh registry state; restored for the other test files."""
    monkeypatch.setenv("MLVC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLVC_EVIDENCE", raising=False)
    monkeypatch.delenv("MLVC_PROBE", raising=False)
    registry.reset()
    yield tmp_path
    registry.reset()


def _evidence(tmp_path, monkeypatch, configurations: dict) -> None:
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"format": 2, "configurations": configurations}))
    monkeypatch.setenv("MLVC_EVIDENCE", str(path))
    registry.reset()


def _vector(name="q4_130x66_gop2"):
    stream = (VECTORS / f"{name}.mlvc").read_bytes()
    md5 = [line.split()[0] for line in (VECTORS / f"{name}.md5").read_text().splitlines()]
    return stream, md5


# -- fingerprint --------------------------------------------------------------------------------
def test_fingerprint_names_what_decides_the_arithmetic():
    fp = fpm.fingerprint("litert", "xnnpack", 2)
    assert fp["kernels"] == "xnnpack" and fp["runtime"] == "ai-edge-litert"
    assert fp["arch"] == fpm.arch() and isinstance(fp["features"], list)
    assert "threads" not in fp                     # measured: XNNPACK does not depend on it
    assert fpm.fingerprint("litert", "builtin", 3)["threads"] == 3   # measured: builtin does
    if fp["arch"] == "x86_64":
        assert fp["x86_64_level"] in ("v1", "v2", "v3", "v4")
        assert "sse2" in fp["features"]
        assert fp["x86_64_level"] == fpm.x86_64_level(fp["features"])
    if litert_available():
        assert fp["runtime_version"]
    assert fpm.x86_64_level(["sse2"]) == "v1"
    assert fpm.x86_64_level(["sse4_2", "ssse3", "popcnt", "avx", "avx2", "fma", "f16c"]) == "v3"


def test_covers_needs_every_deciding_field_equal():
    fp = fpm.fingerprint("litert", "xnnpack", 1)
    assert fpm.covers(dict(fp), fp)
    assert fpm.covers(dict(fp, features=list(reversed(fp["features"]))), fp)   # a set
    assert not fpm.covers(None, fp) and not fpm.covers({}, fp)
    assert not fpm.covers(dict(fp, runtime_version="2.4.0"), fp)
    assert not fpm.covers(dict(fp, features=fp["features"] + ["sme"]), fp)
    assert not fpm.covers(dict(fp, kernels="builtin"), fp)
    b = fpm.fingerprint("litert", "builtin", 2)
    assert not fpm.covers(dict(b, threads=4), b)
    assert fpm.key(fp) == fpm.key(dict(fp)) != fpm.key(dict(fp, runtime_version="0"))


def test_bundled_evidence_rows_carry_fingerprints():
    ev = registry.evidence()
    rows = [r for c in ev["configurations"].values() for r in c["rows"].values()]
    assert rows and all(r.get("fingerprint", {}).get("runtime_version") for r in rows)
    assert {"x86_64", "aarch64"} <= {r["fingerprint"]["arch"] for r in rows}


# -- the registry's decision ----------------------------------------------------------------------
@needs_litert
def test_rows_without_a_matching_fingerprint_cover_nothing(isolated, monkeypatch):
    spec = registry.SPECS["litert-xnnpack"]
    fp = spec.fingerprint()
    other = dict(fp, runtime_version="9.9.9")
    _evidence(isolated, monkeypatch, {"litert-xnnpack": {"exact": True, "rows": {
        "by-name-only": {"exact": True, "differing_elements": 0},
        "other-version": {"exact": True, "differing_elements": 0, "fingerprint": other}}}})
    monkeypatch.setenv("MLVC_PROBE", "0")
    st = registry.status(spec)
    assert (st.exact, st.verified_by) == (False, "none")


@needs_litert
def test_a_covering_row_that_differs_makes_the_backend_approximate(isolated, monkeypatch):
    spec = registry.SPECS["litert-xnnpack-1t"]
    _evidence(isolated, monkeypatch, {"litert-xnnpack-1t": {"exact": False, "rows": {
        "here": {"exact": False, "differing_elements": 3, "fingerprint": spec.fingerprint()}}}})
    st = registry.status(spec)
    assert (st.exact, st.verified_by, st.rows) == (False, "matrix", ("here",))


@needs_litert
def test_bundled_matrix_or_probe_decides_here():
    for d in registry.describe():
        assert d["verified_by"] in ("matrix", "probe", "none")
        assert isinstance(d["fingerprint"], dict) and isinstance(d["exact"], bool)
    st = registry.status("litert-xnnpack")
    assert st.exact and st.verified_by in ("matrix", "probe")


# -- the probe ---------------------------------------------------------------------------------
@needs_litert
def test_first_decoder_runs_the_probe_and_caches_it(isolated, monkeypatch):
    _evidence(isolated, monkeypatch, {})              # nothing covers this machine
    cache = isolated / "cache"
    assert not cache.exists()
    stream, md5 = _vector()
    dec = mlvc.Decoder(stream)
    assert dec.backend.name == "litert-xnnpack" and dec.exact
    st = registry.status("litert-xnnpack")
    assert st.verified_by == "probe" and st.probe["from_cache"] is False
    assert st.probe["differing_elements"] == 0 and st.probe["cases"] >= 70
    files = list(cache.glob("probe-*.json"))
    assert [f.name for f in files] == [probe_mod.cache_path(st.fingerprint).name]
    data = json.loads(files[0].read_text())
    assert data["exact"] is True and data["fingerprint"] == st.fingerprint
    assert [f.md5.hex() for f in dec.frames()] == md5

    # a new process (reset): the cached result, no battery run
    registry.reset()
    monkeypatch.setattr(probe_mod, "run_battery",
                        lambda spec: pytest.fail("the probe ran although its result is cached"))
    mlvc.Decoder(stream)
    st = registry.status("litert-xnnpack")
    assert st.verified_by == "probe" and st.exact and st.probe["from_cache"] is True

    # another battery (a new package or battery version) does not reuse the result
    registry.reset()
    monkeypatch.setattr(probe_mod, "_BATTERY_ID", "v0-other")
    assert probe_mod.cached(st.fingerprint) is None


@needs_litert
def test_probe_finds_a_wrong_backend(isolated, monkeypatch):
    """The battery really compares: a backend whose networks add 1 somewhere fails it."""
    spec = registry.SPECS["litert-xnnpack-1t"]
    real_load = type(spec).load

    class OffByOne:
        def __init__(self, net):
            self.net = net

        def run(self, feeds):
            out = self.net.run(feeds)
            k = sorted(out)[0]
            out[k] = out[k].copy()
            out[k].reshape(-1)[0] ^= 1
            return out
    monkeypatch.setattr(type(spec), "load", lambda self, g, t=None: OffByOne(real_load(self, g, t)))
    result = probe_mod.run_battery(spec)
    assert result["exact"] is False and result["differing_elements"] == result["cases"]


@needs_litert
def test_probe_without_a_tflite_writer_runs_the_shipped_networks(monkeypatch):
    """tflite-runtime alone cannot write the generated cases: they are skipped, not failures."""
    monkeypatch.setattr(probe_mod, "_can_write_tflite", lambda: False)
    result = probe_mod.run_battery(registry.SPECS["litert-xnnpack-1t"])
    assert result["exact"] and result["cases"] == 8 and result["skipped_cases"] >= 67
    assert not result["errors"] and result["total_elements"] > 0


def _forge_probe(spec, exact: bool) -> None:
    fp = spec.fingerprint()
    path = probe_mod.cache_path(fp)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"battery_version": probe_mod.BATTERY_VERSION,
                                "battery_id": probe_mod.battery_id(), "fingerprint": fp,
                                "exact": exact, "cases": 75, "differing_elements": 0 if exact
                                else 12, "total_elements": 1000, "seconds": 0.3}))


@needs_litert
def test_decoder_falls_back_when_the_probe_says_approximate(isolated, monkeypatch):
    _evidence(isolated, monkeypatch, {})
    xnn = registry.SPECS["litert-xnnpack"]
    _forge_probe(xnn, exact=False)
    stream, md5 = _vector()
    with pytest.warns(ApproximateBackendWarning, match="litert-xnnpack"):
        dec = mlvc.Decoder(stream, backend="litert-xnnpack")
    assert dec.requested_backend.name == "litert-xnnpack"
    assert dec.backend.name != "litert-xnnpack" and dec.exact
    assert dec.switches[0]["frame"] is None and dec.switched_at == 0
    assert [f.md5.hex() for f in dec.frames()] == md5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ApproximateBackendWarning)
        mlvc.Decoder(stream, backend="litert-xnnpack")    # warned once per process
    # the default skips it too; the encoder refuses it unless allowed
    assert mlvc.Decoder(stream).backend.name != "litert-xnnpack"
    frames = [np.zeros((16, 16, 3), np.uint8)]
    with pytest.raises(InvalidArgumentError, match="approximate"):
        mlvc.Encoder(backend="litert-xnnpack")
    assert mlvc.Encoder(backend="litert-xnnpack", allow_approximate=True).encode(frames)
    # preview and verify_hashes=False keep the named backend
    assert mlvc.Decoder(stream, backend="litert-xnnpack", preview=True).backend.name == \
        "litert-xnnpack"
    assert mlvc.Decoder(stream, backend="litert-xnnpack", verify_hashes=False).backend.name \
        == "litert-xnnpack"


# -- hash recovery ------------------------------------------------------------------------------
def test_float16_decode_equals_the_exact_decode():
    stream, md5 = _vector()
    exact = [f.md5 for f in mlvc.Decoder(stream, backend="numpy").frames()]
    assert [m.hex() for m in exact] == md5
    with pytest.warns(ApproximateBackendWarning, match="float16"):
        dec = mlvc.Decoder(stream, backend="float16")
        frames = dec.decode_all()
    assert [f.md5 for f in frames] == exact and all(f.verified for f in frames)
    k = dec.switched_at
    assert k is not None and frames[k].recovered and not any(f.recovered for f in frames[k + 1:])
    assert frames[k].backend == dec.backend.name != "float16" and dec.exact
    assert dec.switches == [{"frame": k, "from": "float16", "to": dec.backend.name,
                             "reason": dec.switches[0]["reason"]}]


def test_strict_raises_and_preview_keeps_approximate_pictures():
    stream, md5 = _vector()
    with pytest.raises(HashMismatchError, match="float16"):
        mlvc.Decoder(stream, backend="float16", verify_hashes="strict").decode_all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ApproximateBackendWarning)
        prev = mlvc.Decoder(stream, backend="float16", preview=True).decode_all()
    assert all(f.backend == "float16" and not f.recovered for f in prev)
    assert [f.md5.hex() for f in prev] != md5 and not all(f.verified for f in prev)
    with pytest.raises(InvalidArgumentError):
        mlvc.Decoder(stream, verify_hashes="sometimes")


def test_recovery_does_not_hide_a_wrong_stream():
    """A wrong hash in the stream fails on the exact backend too: HashMismatchError."""
    from mlvc.bitstream.container import reseal_record
    stream = bytearray(_vector()[0])
    stream[64 + 8] ^= 0xFF                         # the first picture's hash
    bad = bytes(reseal_record(stream))
    with pytest.raises(HashMismatchError, match="exact"):
        mlvc.Decoder(bad, backend="float16").decode_all()
    with pytest.raises(HashMismatchError):
        mlvc.Decoder(bad, backend="numpy").decode_all()


# -- CLI ---------------------------------------------------------------------------------------
def _md5s(folder: Path) -> list[str]:
    return [hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))]


def test_cli_decode_float16_writes_the_exact_pictures(tmp_path, capsys):
    from mlvc.cli import main
    vec = str(VECTORS / "q4_130x66_gop2.mlvc")
    assert main(["decode", vec, "--backend", "numpy", "-o", str(tmp_path / "np")]) == 0
    assert main(["decode", vec, "--backend", "float16", "-o", str(tmp_path / "f16")]) == 0
    out = capsys.readouterr().out
    assert "backend switch from frame" in out and "picture hashes verified" in out
    a, b = _md5s(tmp_path / "np"), _md5s(tmp_path / "f16")
    assert len(a) == len(_vector()[1]) >= 2 and a == b
    assert main(["decode", vec, "--backend", "float16", "--strict", "-o",
                 str(tmp_path / "s.y4m")]) == 6
    assert not (tmp_path / "s.y4m").exists()


def test_cli_backends_json(capsys):
    from mlvc.cli import main
    assert main(["backends", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [b["name"] for b in data["backends"]]
    assert names == list(registry.SPECS) and data["default"] in names
    for b in data["backends"]:
        assert b["verified_by"] in ("matrix", "probe", "none")
        assert isinstance(b["exact"], bool) and "kernels" in b["fingerprint"]
    f16 = data["backends"][names.index("float16")]
    assert (f16["exact"], f16["verified_by"]) == (False, "none")
