"""Build a model package directory from the four integer graphs and the codec constants.

    python -m mlvc_convert.package_builder EXPORT_DIR OUT_DIR [--model-id ID] [--residual DIR]

EXPORT_DIR holds {g_a,h_a,h_s,g_s}.graph.npz and codec.json (written by
mlvc_train/export_intra.py); `--residual DIR` is the same export of the P-frame residual model,
stored as the res_* networks.  Output is deterministic: the same inputs give the same bytes and
the same content hash.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from mlvc.intops.graph import Graph
from mlvc.intops.tflite_writer import graph_to_tflite
from mlvc.package.manifest import FORMAT, FORMAT_VERSION, ROLES, Manifest

from .tables import build_tables


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_networks(graphs: dict[str, Graph], out_dir: Path, prefix: str = "") -> dict:
    networks = {}
    for role in ROLES:
        g = graphs[role].validate()
        gb, tb = g.to_bytes(), graph_to_tflite(g)
        name = prefix + role
        (out_dir / "networks" / f"{name}.graph.npz").write_bytes(gb)
        (out_dir / "networks" / f"{name}.tflite").write_bytes(tb)
        networks[name] = {"graph": f"networks/{name}.graph.npz", "graph_sha256": _sha(gb),
                          "tflite": f"networks/{name}.tflite", "tflite_sha256": _sha(tb),
                          "macs_per_pixel": round(g.macs_per_input_pixel(), 3)}
    return networks


def build_package(graphs: dict[str, Graph], codec: dict, out_dir: Path, model_id: str,
                  description: str = "", max_size: tuple[int, int] = (3840, 2160),
                  residual: tuple[dict[str, Graph], dict] | None = None) -> Manifest:
    """`residual`: the (graphs, codec.json) of the P-frame residual model, if the package has
    one; it must share the levels and entropy constants of the intra model."""
    out_dir = Path(out_dir)
    (out_dir / "networks").mkdir(parents=True, exist_ok=True)
    networks = _write_networks(graphs, out_dir)
    training = portable(codec.get("train", {}))
    res_zt = res_latent = None
    if residual is not None:
        r_graphs, r_codec = residual
        for key in ("levels", "y_exp", "num_tables", "sigma_min", "tables_per_octave"):
            if r_codec[key] != codec[key]:
                raise ValueError(f"residual model differs from the intra model in {key}")
        networks.update(_write_networks(r_graphs, out_dir, "res_"))
        res_zt = [int(t) for t in r_codec["z_table_index"]]
        res_latent = _latent_channels(r_graphs)
        # export_intra.py's held-out numbers code pictures, not residuals (eval_residual.py
        # measures those), so they are left out here
        training["residual"] = {k: v for k, v in portable(r_codec.get("train", {})).items()
                                if k != "heldout"}
    tables = build_tables(codec["num_tables"], codec["sigma_min"], codec["tables_per_octave"])
    buf = io.BytesIO()
    np.savez(buf, **tables.to_arrays())
    (out_dir / "tables.npz").write_bytes(buf.getvalue())
    m = Manifest(
        format=FORMAT, format_version=FORMAT_VERSION, model_id=model_id, description=description,
        levels=codec["levels"], y_exp=codec["y_exp"],
        latent_channels=_latent_channels(graphs),
        hyper_channels=graphs["h_s"].channels["z"], alignment=64,
        max_width=max_size[0], max_height=max_size[1],
        z_table_index=[int(t) for t in codec["z_table_index"]], res_z_table_index=res_zt,
        res_latent_channels=res_latent if res_latent != _latent_channels(graphs) else None,
        networks=networks,
        tables={"file": "tables.npz", "sha256": tables.sha256(),
                "num_tables": codec["num_tables"], "sigma_min": codec["sigma_min"],
                "tables_per_octave": codec["tables_per_octave"]},
        training=training)
    m.content_hash = m.compute_content_hash()
    (out_dir / "manifest.json").write_text(m.model_dump_json(indent=2) + "\n")
    return m


def portable(value):
    """Training bookkeeping without machine paths: an absolute path keeps its last two
    components (`/home/me/build/train_hp` -> `build/train_hp`), so a package does not record
    where it was built (the bookkeeping is outside content_hash; this is for the reader)."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return "/".join(Path(value).parts[-2:])
    return value


def _latent_channels(graphs: dict[str, Graph]) -> int:
    return graphs["g_s"].channels["y_hat"]


def load_export(export_dir: Path) -> tuple[dict[str, Graph], dict]:
    graphs = {r: Graph.from_bytes((export_dir / f"{r}.graph.npz").read_bytes()) for r in ROLES}
    codec = json.loads((export_dir / "codec.json").read_text())
    return graphs, codec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--model-id", required=True,
                    help="family and version, e.g. mycodec-v1 (1-16 of [A-Za-z0-9._-])")
    ap.add_argument("--description", default="MLVC intra codec, mean-scale hyperprior, int8")
    ap.add_argument("--residual", type=Path, help="export of the P-frame residual model")
    a = ap.parse_args()
    graphs, codec = load_export(a.export_dir)
    m = build_package(graphs, codec, a.out_dir, a.model_id, a.description,
                      residual=load_export(a.residual) if a.residual else None)
    print(f"wrote {a.out_dir} model_id={m.model_id} content_hash={m.content_hash}")


if __name__ == "__main__":
    main()
