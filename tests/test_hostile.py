"""Hostile input: the listed invalid streams, truncation at every byte, seeded mutation fuzzing."""
import json

import pytest

import mlvc
from mlvc.conformance import fuzz
from mlvc.conformance.vectors import bundled_vectors_path
from mlvc.errors import MLVCError


def _q1():
    return (bundled_vectors_path() / "q1_64x64.mlvc").read_bytes()


def test_truncation_at_every_byte_is_a_typed_error():
    data = _q1()
    for cut in range(len(data)):
        with pytest.raises(MLVCError):
            mlvc.Decoder(data[:cut]).decode_all()


def test_seeded_fuzzing_finds_no_crash_or_hang():
    report = fuzz.run(cases=3000, seed=11, backend=None)
    assert report["cases"] == 3000
    assert report["failures"] == 0, report["first_failures"]
    assert report["timeouts"] == 0
    assert report["typed_errors"] > 2000
    assert report["recoded_decoded"] == 300     # every valid hostile-symbol stream decodes


def _catalogue():
    return json.loads((bundled_vectors_path() / "invalid" / "catalogue.json").read_text())


def test_hostile_catalogue_names_its_error_and_where():
    """The one catalogue (hostile.py) the Kotlin and Swift suites run too: every stream fails
    with its kind after exactly `frames_before` frames, on the default backend."""
    cat = _catalogue()
    assert cat["format"] == "mlvc-hostile-catalogue"
    cases = cat["cases"]
    assert len(cases) >= 60
    kinds = {c["error"] for c in cases}
    assert kinds == {"corrupt_stream", "unsupported", "model", "hash_mismatch"}
    # P-frame cases on a whole-pixel and a half-pixel residual P-frame
    assert any(c["name"].startswith("p1_") for c in cases)
    assert any(c["name"].startswith("p3_") for c in cases)
    for c in cases:
        data = (bundled_vectors_path() / c["stream"]).read_bytes()
        decoded = 0
        with pytest.raises(MLVCError) as info:
            for _ in mlvc.Decoder(data).frames():
                decoded += 1
        assert info.value.code == c["error"], c["name"]
        assert decoded == c["frames_before"], c["name"]


def test_manifest_lists_the_catalogue():
    manifest = json.loads((bundled_vectors_path() / "manifest.json").read_text())
    assert [(e["name"], e["stream"], e["error"]) for e in manifest["invalid"]] == [
        (c["name"], c["stream"], c["error"]) for c in _catalogue()["cases"]]
    on_disk = sorted(p.name for p in (bundled_vectors_path() / "invalid").glob("*.mlvc"))
    assert on_disk == sorted(c["stream"].split("/")[1] for c in _catalogue()["cases"])


def test_streamed_input_fails_like_bytes_at_every_truncation():
    """Decoder over a file object (a pipe) reads record by record; every prefix of a valid
    stream fails with the same error kind as the bytes path."""
    import io
    data = _q1()
    assert len(mlvc.Decoder(io.BytesIO(data)).decode_all()) == len(mlvc.Decoder(data)
                                                                    .decode_all())
    for cut in range(0, len(data), 3):
        kinds = []
        for src in (data[:cut], io.BytesIO(data[:cut])):
            with pytest.raises(MLVCError) as info:
                mlvc.Decoder(src).decode_all()
            kinds.append(info.value.code)
        assert kinds[0] == kinds[1], cut


def test_streamed_absurd_length_allocates_nothing():
    import io
    import tracemalloc
    from mlvc.conformance.hostile import invalid_streams
    case = {name: (data, kind) for name, data, kind in invalid_streams(_q1())}
    data, kind = case["payload_length_huge"]
    tracemalloc.start()
    with pytest.raises(MLVCError) as info:
        mlvc.Decoder(io.BytesIO(data)).decode_all()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info.value.code == kind and peak < 16 << 20
