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


def test_invalid_vectors_name_their_error():
    manifest = json.loads((bundled_vectors_path() / "manifest.json").read_text())
    assert len(manifest["invalid"]) >= 20
    for e in manifest["invalid"]:
        data = (bundled_vectors_path() / e["stream"]).read_bytes()
        with pytest.raises(MLVCError) as info:
            mlvc.Decoder(data).decode_all()
        assert info.value.code == e["error"], e["name"]


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
