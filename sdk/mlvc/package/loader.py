"""Load a model package from disk, verifying every file against the manifest's hashes."""
from __future__ import annotations

import hashlib
import io
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..entropy.tables import CdfTables
from ..errors import ModelError
from ..intops.graph import Graph
from .manifest import Manifest, read_manifest


class ModelPackage:
    """A verified package: manifest, integer graphs, `.tflite` bytes and CDF tables."""

    def __init__(self, root: Path, manifest: Manifest, graphs: dict[str, Graph],
                 tflite: dict[str, bytes], tables: CdfTables):
        self.root = root
        self.manifest = manifest
        self.graphs = graphs
        self.tflite = tflite
        self.tables = tables

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def has_residual(self) -> bool:
        """Whether P-frame residuals have their own networks (res_*) in this package."""
        return self.manifest.has_residual

    @property
    def levels(self) -> list[int]:
        return sorted(lv.level for lv in self.manifest.levels)

    @classmethod
    def load(cls, path: str | Path) -> "ModelPackage":
        root = Path(path)
        if not root.is_dir():
            raise ModelError(f"model package {root} is not a directory")
        manifest = read_manifest(root / "manifest.json")

        def read_checked(rel: str, sha: str) -> bytes:
            f = (root / rel).resolve()
            if root.resolve() not in f.parents:
                raise ModelError(f"model package file {rel!r} escapes the package directory")
            try:
                data = f.read_bytes()
            except OSError as exc:
                raise ModelError(f"model package file missing: {rel}") from exc
            if hashlib.sha256(data).hexdigest() != sha:
                raise ModelError(f"model package file {rel} does not match its hash")
            return data

        graphs, tflite = {}, {}
        for role in manifest.roles:
            entry = manifest.networks[role]
            graphs[role] = Graph.from_bytes(read_checked(entry.graph, entry.graph_sha256))
            tflite[role] = read_checked(entry.tflite, entry.tflite_sha256)
        try:
            with np.load(io.BytesIO((root / manifest.tables.file).read_bytes())) as z:
                tables = CdfTables(z["radius"], z["cdf"])
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"cannot read CDF tables: {exc}") from exc
        if tables.sha256() != manifest.tables.sha256:
            raise ModelError("CDF tables do not match the manifest's hash")
        if tables.num_tables != manifest.tables.num_tables:
            raise ModelError("CDF table count does not match the manifest")
        for name in ("z_table_index", "res_z_table_index"):
            zt = getattr(manifest, name)
            if zt is not None and (len(zt) != manifest.hyper_channels or any(
                    not 0 <= t < tables.num_tables for t in zt)):
                raise ModelError(f"{name} must name one valid table per hyper channel")
        return cls(root, manifest, graphs, tflite, tables)


def bundled_package_path() -> Path:
    return Path(str(resources.files("mlvc").joinpath("data", "model")))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> ModelPackage:
    return ModelPackage.load(path)


def load_package(path: str | Path | None = None) -> ModelPackage:
    """The package at `path`, or the bundled one; loaded once per process."""
    return _load_cached(str(Path(path).resolve() if path else bundled_package_path()))


MODEL_PATH_ENV = "MLVC_MODEL_PATH"


def _candidates(paths) -> list[Path]:
    """Package directories named by `paths` (a package, or a folder of packages), in order."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / "manifest.json").is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(c for c in p.iterdir() if (c / "manifest.json").is_file())
    return out


def find_package(model_id: str, stream_hash: bytes,
                 packages: str | Path | list | tuple | None = None) -> ModelPackage:
    """The package a stream names (model id and 16-byte hash): searched in `packages` (one
    directory or several), then in the folders of $MLVC_MODEL_PATH (os.pathsep-separated; each
    a package or a folder of packages), then the bundled package.  Only manifests are read
    until one matches; that package is then loaded and verified.  None matches: ModelError
    naming the model and hash the stream needs, and what was searched."""
    if isinstance(packages, (str, Path)):
        packages = [packages]
    env = [p for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p]
    searched = _candidates(list(packages or []) + env) + [bundled_package_path()]
    seen = []
    for root in searched:
        try:
            m = read_manifest(root / "manifest.json")
        except ModelError:
            continue                      # an unreadable package is not the one we need
        seen.append(f"{m.model_id} ({m.stream_hash.hex()})")
        if m.model_id == model_id and m.stream_hash == stream_hash:
            return load_package(root)
    raise ModelError(f"stream needs model {model_id!r} ({stream_hash.hex()}); not found among "
                     f"{', '.join(seen) or 'no packages'} (give it with package=... or put its "
                     f"directory on {MODEL_PATH_ENV})")
