"""The shipped artifacts: package verified and small, vectors pass, files reproducible."""
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, litert_available
from mlvc.conformance.vectors import bundled_vectors_path, run_conformance
from mlvc.errors import ModelError
from mlvc.package.loader import ModelPackage, bundled_package_path


def test_bundled_package_loads_and_fits_budget():
    pkg = ModelPackage.load(bundled_package_path())
    size = sum(p.stat().st_size for p in bundled_package_path().rglob("*") if p.is_file())
    assert size < 10 * 1024 * 1024
    assert len(pkg.levels) >= 4 and pkg.levels[0] == 1


def test_tampered_package_is_rejected(tmp_path):
    dst = tmp_path / "pkg"
    shutil.copytree(bundled_package_path(), dst)
    f = dst / "networks" / "g_s.tflite"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="hash"):
        ModelPackage.load(dst)
    shutil.copytree(bundled_package_path(), tmp_path / "pkg2")
    m = tmp_path / "pkg2" / "manifest.json"
    d = json.loads(m.read_text())
    d["y_exp"] = 0
    m.write_text(json.dumps(d))
    with pytest.raises(ModelError, match="content hash"):
        ModelPackage.load(tmp_path / "pkg2")
    (tmp_path / "pkg3").mkdir()
    (tmp_path / "pkg3" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(ModelError):
        ModelPackage.load(tmp_path / "pkg3")


@pytest.mark.parametrize("backend", ["numpy"] + (["litert-xnnpack", "litert-reference"]
                                                 if litert_available() else []))
def test_bundled_vectors_pass(backend):
    results = run_conformance(None, [backend])
    failed = [(r.vector, r.detail) for r in results if not r.passed]
    assert not failed
    assert len(results) > 20


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def test_vectors_and_golden_files_are_reproducible(tmp_path):
    from mlvc.conformance.golden import write_golden
    from mlvc.conformance.vectors import make_vectors
    make_vectors(tmp_path / "v", str(bundled_package_path()))
    assert _tree(tmp_path / "v") == _tree(bundled_vectors_path())
    write_golden(tmp_path / "g", str(bundled_package_path()), tmp_path / "v")
    assert _tree(tmp_path / "g") == _tree(ROOT / "conformance" / "golden")
