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
