"""The README's numbers come from docs/results.json, which the benchmarks write; LICENSE matches
pyproject."""
import json
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import render_readme  # noqa: E402
import results_file  # noqa: E402

RESULTS = json.loads((ROOT / "docs" / "results.json").read_text())


def test_readme_results_section_matches_the_results_file():
    readme = (ROOT / "README.md").read_text()
    a, b = readme.index(render_readme.BEGIN), readme.index(render_readme.END)
    section = readme[a:b + len(render_readme.END)]
    assert section == render_readme.render(RESULTS), \
        "README differs from docs/results.json: run python tools/render_readme.py"
    assert render_readme.main(["--check"]) == 0


def test_results_file_says_where_its_numbers_come_from():
    assert "seeded" in RESULTS and "2026-12-01" in RESULTS["seeded"]
    for section in ("speed", "intra_rd", "video_rd"):
        entries = RESULTS[section]["entries"]
        assert entries, section
        for key, e in entries.items():
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", e["date"]), (section, key)
            assert e["machine"]["label"], (section, key)


def test_readme_outside_the_section_has_no_measured_numbers():
    """Outside the generated block the README quotes no fps, MB, dB or BD-rate percentages."""
    readme = (ROOT / "README.md").read_text()
    a, b = readme.index(render_readme.BEGIN), readme.index(render_readme.END)
    rest = readme[:a] + readme[b:]
    hits = re.findall(r"\d[\d.,]*\s*(?:fps|MB|GB|dB|ms)\b|[+−-]\d+(?:\.\d+)?\s*%", rest)
    assert not hits, hits


def test_benchmark_writers_merge_and_the_readme_renders_them(tmp_path):
    """bench_codec's entry: a second run on the same day and machine widens the range; another
    section is left alone; bench_rd's sets replace theirs; the renderer shows the new numbers."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    entry = {"width": 640, "height": 272, "source": "bikes", "frames": 20, "quality": 3,
             "gop": 16, "backend": "litert-xnnpack", "native_kernels": True, "bpp": 0.13,
             "encode_fps": 9.0, "decode_fps": 50.0, "decoder_peak_mb": 140,
             "model_id": "m", "date": results_file.today(), "machine": results_file.machine()}
    results_file.merge_entry(path, "speed", "640x272 bikes", entry,
                             spans=("encode_fps", "decode_fps"), same=("frames", "model_id"))
    merged = results_file.merge_entry(path, "speed", "640x272 bikes",
                                      {**entry, "decode_fps": 60.0},
                                      spans=("encode_fps", "decode_fps"),
                                      same=("frames", "model_id"))
    assert merged["decode_fps"] == {"min": 50.0, "max": 60.0, "runs": 2}
    results_file.merge_section(path, "intra_rd", {"bikes": {
        **RESULTS["intra_rd"]["entries"]["bikes"], "bd_rate_vs_jpeg_percent": -5.25}})
    data = json.loads(path.read_text())
    assert data["video_rd"] == RESULTS["video_rd"]
    assert set(data["intra_rd"]["entries"]) == set(RESULTS["intra_rd"]["entries"])
    text = render_readme.render(data)
    assert "| 640×272 bikes (20 frames) | 50.0–60.0 (2 runs) | 9.0 (2 runs) | 140 MB |" in text
    assert "−5.2 %" in text or "−5.3 %" in text
    assert results_file.today() in text and entry["machine"]["label"] in text


def test_machine_description_is_recorded():
    m = results_file.machine()
    assert m["cores"] and m["label"] and m["isa"]


@pytest.mark.parametrize("name", ["LICENSE"])
def test_license_matches_pyproject(name):
    text = (ROOT / name).read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert re.search(r'^license = "Apache-2.0"$', (ROOT / "pyproject.toml").read_text(), re.M)
