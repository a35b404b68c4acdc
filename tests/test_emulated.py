"""Other CPUs and runtimes: the matrix rows and the conformance vectors under emulation.

Runs when tools/emulation is set up (scripts/test.sh does it and sets MLVC_EMULATION=1, so CI
always runs these); a developer without it sees them skipped with the reason.
"""
import json
import os
import subprocess

import pytest

from conftest import ROOT

ENABLED = os.environ.get("MLVC_EMULATION") == "1"
pytestmark = pytest.mark.skipif(not ENABLED, reason="set MLVC_EMULATION=1 after "
                                "tools/emulation/setup.sh all (scripts/test.sh does both)")


def test_matrix_emulated_rows_exact():
    from mlvc.conformance.selftest import EMULATED, run_matrix
    summary = run_matrix(emulated=True, include_large=False, rows=list(EMULATED))
    for r in summary["configurations"]:
        assert r["errors"] == [], (r["name"], r["errors"])
        assert r["exact"], (r["name"], r["failed_cases"])
    assert {r["name"] for r in summary["configurations"]} >= set(EMULATED)


@pytest.mark.parametrize("target,backend", [
    ("aarch64-a72", "litert-xnnpack"), ("aarch64-a76", "litert-xnnpack"),
    ("tflite-runtime-2.14", "tflite-runtime"), ("aarch64-a72-tflite214", "tflite-runtime"),
    ("x86-nehalem", "litert-xnnpack")])
def test_vectors_decode_and_encode_bit_exact(target, backend):
    cmd = ["bash", str(ROOT / "tools" / "emulation" / "run.sh"), target, "--", "-m", "mlvc.cli",
           "conformance", "--json", "--encode", "--backend", backend]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    results = json.loads(r.stdout[r.stdout.index("{"):])["results"]
    assert results and all(x["passed"] for x in results)
    assert sum(x["vector"].startswith("encode/") for x in results) >= 6
