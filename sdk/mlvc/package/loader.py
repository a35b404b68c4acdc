"""Load a model package from disk, verifying every file against the manifest's hashes."""
from __future__ import annotations

import hashlib
import io
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
