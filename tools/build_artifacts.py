"""Rebuild every generated artifact from a training export, deterministically.

    python tools/build_artifacts.py --run RUN_DIR [--residual-run RUN_DIR] \
        [--fit-z-tables PICTURES] --model-id ID    # training runs, converted by mlvc.model.convert
                                                   # (the product path, `mlvc model convert`)
    python tools/build_artifacts.py EXPORT_DIR [--residual RES_EXPORT_DIR]
                                                   # exports of mlvc_train/export_intra.py
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


DESCRIPTION = "MLVC codec: mean-scale hyperprior (intra and P-frame residual), integer profile"
DESCRIPTION_INTRA = "MLVC intra codec: mean-scale hyperprior, integer profile"


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
    ap.add_argument("--run", type=Path, help="training run of the intra networks (its latest "
                    "checkpoint), converted with mlvc.model.convert")
    ap.add_argument("--residual-run", type=Path, help="training run of the residual networks")
    ap.add_argument("--fit-z-tables", type=Path, metavar="PICTURES",
                    help="with --run: choose the intra z tables on crops of these pictures")
    ap.add_argument("--model-id", default="mlvc-lp-v2",
                    help="the bundled model's id (family and version)")
    a = ap.parse_args()
    residual = None
    pkg = ROOT / "sdk" / "mlvc" / "data" / "model"
    vec = ROOT / "sdk" / "mlvc" / "data" / "vectors"
    gold = ROOT / "conformance" / "golden"
    if a.run:
        from mlvc.model import convert
        # convert() replaces the package only once it is complete
        r = convert(a.run, pkg, residual=a.residual_run, model_id=a.model_id,
                    fit_z_tables=a.fit_z_tables, description=DESCRIPTION if a.residual_run
                    else DESCRIPTION_INTRA)
        for d in (vec, gold):
            shutil.rmtree(d, ignore_errors=True)
        write_generated(pkg, vec, gold, r["model_id"], r["content_hash"])
        return
    if a.random:
        graphs, codec = random_codec(n=32, m=48, nz=32)
        model_id = "mlvc-random"
    else:
        graphs, codec = load_export(a.export_dir)
        residual = load_export(a.residual) if a.residual else None
        model_id = a.model_id
    for d in (pkg, vec, gold):
        shutil.rmtree(d, ignore_errors=True)
    m = build_package(graphs, codec, pkg, model_id,
                      DESCRIPTION if residual else DESCRIPTION_INTRA, residual=residual)
    write_generated(pkg, vec, gold, m.model_id, m.content_hash)


def write_generated(pkg: Path, vec: Path, gold: Path, model_id: str, content_hash: str) -> None:
    """The vectors and golden files of package `pkg`, then every tree's hash."""
    make_vectors(vec, str(pkg))
    write_golden(gold, str(pkg), vec)   # + probe battery, recorded calls of vec
    size = sum(p.stat().st_size for p in pkg.rglob("*") if p.is_file())
    print(f"package {model_id} content_hash {content_hash} ({size} bytes)")
    for d in (pkg, vec, gold):
        print(f"{d.relative_to(ROOT)}: tree sha256 {tree_hash(d)}")


if __name__ == "__main__":
    main()
