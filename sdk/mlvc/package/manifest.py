"""The model package: a directory with a pydantic-validated manifest, networks and CDF tables.

    manifest.json            format, model id, quality levels, entropy-model constants, hashes
    networks/NAME.graph.npz  the integer network (NumPy reference weights)   NAME in ROLES
    networks/NAME.tflite     the same network as a fully integer TFLite model  (and, optionally,
                             in RESIDUAL_ROLES: the P-frame residual networks)
    tables.npz               frozen integer CDF tables

`content_hash` is the SHA-256 of the canonical manifest without that field; since the manifest
holds every file's SHA-256, it identifies the whole package.  Streams carry its first 16 bytes.
From format version 2 it covers only what decoding depends on: `description` and `training`
(bookkeeping: paths, elapsed time, held-out numbers) are left out, so re-documenting a model does
not change its identity.  Version 1 packages (the first bundled model) keep their hash.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from ..errors import ModelError

FORMAT = "mlvc-model-package"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
# manifest fields that are not part of the model's identity (format version >= 2)
NOT_HASHED = ("description", "training")
ROLES = ("g_a", "h_a", "h_s", "g_s")
# Optional second set with the same structure, trained on motion-compensated residuals: when a
# package has it, P-frame residuals are coded with it (docs/bitstream.md §4b).
RESIDUAL_ROLES = tuple(f"res_{r}" for r in ROLES)


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=1, le=32)
    exp: int = Field(ge=-8, le=8, description="step of the coded latent is 2**exp (y units)")


class NetworkEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    graph: str
    graph_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tflite: str
    tflite_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    macs_per_pixel: float = Field(ge=0)


class TablesEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    num_tables: int = Field(ge=1, le=256)
    sigma_min: float = Field(gt=0)
    tables_per_octave: int = Field(ge=1, le=64)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    format_version: int
    model_id: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    levels: list[Level] = Field(min_length=1)
    y_exp: int = Field(ge=-8, le=8)
    latent_channels: int = Field(ge=1, le=1024)
    hyper_channels: int = Field(ge=1, le=1024)
    alignment: int = Field(ge=1, le=256)
    max_width: int = Field(ge=16, le=16384)
    max_height: int = Field(ge=16, le=16384)
    z_table_index: list[int]
    res_z_table_index: list[int] | None = None
    # latent channels of the residual networks when they differ from the intra set's
    res_latent_channels: int | None = Field(default=None, ge=1, le=1024)
    networks: dict[str, NetworkEntry]
    tables: TablesEntry
    training: dict = Field(default_factory=dict)
    content_hash: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v != FORMAT:
            raise ValueError(f"not an MLVC model package (format {v!r})")
        return v

    @field_validator("format_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v not in SUPPORTED_VERSIONS:
            raise ValueError(f"package format version {v} is not supported "
                             f"({', '.join(map(str, SUPPORTED_VERSIONS))})")
        return v

    @field_validator("networks")
    @classmethod
    def _roles(cls, v: dict) -> dict:
        missing = [r for r in ROLES if r not in v]
        if missing:
            raise ValueError(f"networks missing: {missing}")
        res = [r for r in RESIDUAL_ROLES if r in v]
        if res and len(res) != len(RESIDUAL_ROLES):
            raise ValueError(f"residual networks incomplete: {res}")
        unknown = sorted(set(v) - set(ROLES) - set(RESIDUAL_ROLES))
        if unknown:
            raise ValueError(f"unknown networks: {unknown}")
        return v

    @model_validator(mode="after")
    def _residual_tables(self) -> "Manifest":
        if self.has_residual != (self.res_z_table_index is not None):
            raise ValueError("res_z_table_index must be given exactly when the package has "
                             "residual networks")
        if (not self.has_residual and self.res_latent_channels is not None
                and self.res_latent_channels != self.latent_channels):
            raise ValueError("res_latent_channels differs from latent_channels in a package "
                             "without residual networks")
        return self

    @property
    def has_residual(self) -> bool:
        return RESIDUAL_ROLES[0] in self.networks

    def latent_channels_of(self, residual: bool) -> int:
        """Latent channels of the intra set, or of the residual set (the same unless given)."""
        if residual and self.res_latent_channels is not None:
            return self.res_latent_channels
        return self.latent_channels

    @property
    def roles(self) -> tuple[str, ...]:
        return ROLES + (RESIDUAL_ROLES if self.has_residual else ())

    def level(self, level: int) -> Level:
        for lv in self.levels:
            if lv.level == level:
                return lv
        raise KeyError(level)

    def canonical_json(self) -> bytes:
        d = self.model_dump()
        d.pop("content_hash")
        for key in ("res_z_table_index", "res_latent_channels"):
            if d[key] is None:                  # packages without them: hash unchanged
                d.pop(key)
        if self.format_version >= 2:
            for key in NOT_HASHED:
                d.pop(key)
        return json.dumps(d, sort_keys=True, separators=(",", ":")).encode()

    def compute_content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()

    @property
    def stream_hash(self) -> bytes:
        """The 16 bytes a stream carries to name this package."""
        return bytes.fromhex(self.content_hash)[:16]


def read_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelError(f"cannot read model package manifest {path}: {exc}") from exc
    try:
        m = Manifest.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelError(f"invalid model package manifest {path}: {where}: {first['msg']}"
                         ) from exc
    if m.content_hash != m.compute_content_hash():
        raise ModelError(f"model package manifest {path}: content hash does not match")
    return m
