"""Rebuild every generated artifact from a training export, deterministically.

    python tools/build_artifacts.py EXPORT_DIR [--residual RES_EXPORT_DIR]
                                                   # trained model (mlvc_train/export_intra.py)
    python tools/build_artifacts.py --random       # random weights (plumbing only)

Writes the bundled model package (sdk/mlvc/data/model), the conformance vectors
(sdk/mlvc/data/vectors, with the hostile-stream catalogue vectors/invalid/catalogue.json) and
the ports' golden files (conformance/golden: golden streams, the startup probe's battery, the
recorded network calls of the vectors and the catalogue), then prints their
hashes.  Running it twice on the same export gives byte-identical files.
"""
import argparse
import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT / "converters")]

from mlvc.conformance.golden import write_golden  # noqa: E402
from mlvc.conformance.vectors import make_vectors  # noqa: E402
from mlvc_convert.package_builder import build_package, load_export  # noqa: E402
from mlvc_convert.random_model import random_codec  # noqa: E402


def tree_hash(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(d)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("export_dir", nargs="?", type=Path)
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--residual", type=Path,
                    help="export of the P-frame residual model (the res_* networks)")
    ap.add_argument("--model-id", default="mlvc-lp-v2",
                    help="the bundled model's id (family and version)")
    a = ap.parse_args()
    residual = None
    if a.random:
        graphs, codec = random_codec(n=32, m=48, nz=32)
        model_id = "mlvc-random"
    else:
        graphs, codec = load_export(a.export_dir)
        residual = load_export(a.residual) if a.residual else None
        model_id = a.model_id
    pkg = ROOT / "sdk" / "mlvc" / "data" / "model"
    vec = ROOT / "sdk" / "mlvc" / "data" / "vectors"
    gold = ROOT / "conformance" / "golden"
    for d in (pkg, vec, gold):
        shutil.rmtree(d, ignore_errors=True)
    m = build_package(graphs, codec, pkg, model_id,
                      "MLVC codec: mean-scale hyperprior (intra and P-frame residual), "
                      "integer profile" if residual else
                      "MLVC intra codec: mean-scale hyperprior, integer profile",
                      residual=residual)
    make_vectors(vec, str(pkg))
    write_golden(gold, str(pkg), vec)   # + probe battery, recorded calls of vec
    size = sum(p.stat().st_size for p in pkg.rglob("*") if p.is_file())
    print(f"package {m.model_id} content_hash {m.content_hash} ({size} bytes)")
    for d in (pkg, vec, gold):
        print(f"{d.relative_to(ROOT)}: tree sha256 {tree_hash(d)}")


if __name__ == "__main__":
    main()
