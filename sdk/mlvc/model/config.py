"""The training config (TOML, validated with pydantic): architecture, data, schedule, seed, init.

Everything a run needs is in the config or the command line: no default data folder.  Relative
paths in a config are relative to the config file's folder.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InvalidArgumentError

if sys.version_info >= (3, 11):
    import tomllib
else:                                     # pragma: no cover
    import tomli as tomllib


# what data.video_dir reads (OpenCV, or mlvc.io.video's own Y4M reader)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".y4m")


class ConfigError(InvalidArgumentError):
    """A config that cannot be read or does not validate (exit status 2)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Arch(_Strict):
    # the building blocks of the integer profile (sdk/mlvc/intops/graph.py): a mean-scale
    # hyperprior codec of stride-2 convs, ReLU, depth-to-space; optionally the linear path
    family: Literal["mean-scale-hyperprior"] = "mean-scale-hyperprior"
    ga_width: int = Field(64, ge=8, le=256, description="hidden channels of g_a")
    m: int = Field(96, ge=8, le=256, description="latent channels")
    linear_path: bool = Field(False, description="block-KLT linear path (the bundled model's)")


class Data(_Strict):
    images: Optional[str] = Field(None, description="folder of pictures ('skimage': "
                                  "scikit-image's bundled stills); unset: the development clips")
    videos: Optional[str] = Field(None, description="folder with bikes.mp4 and "
                                  "carphone_pristine.mp4 (the development set)")
    photos: Optional[str] = Field(None, description="extra photographs with the clips")
    video_dir: Optional[str] = Field(None, description="folder of videos (.mp4 .mkv .avi .mov "
                                     ".y4m): frames drawn from each, with or instead of images")
    frames_per_video: int = Field(32, ge=1, le=100000, description="frames drawn (seeded) "
                                  "from each video of video_dir")
    crop: int = Field(128, ge=32, le=1024, multiple_of=16)
    heldout: int = Field(2, ge=0, description="last N pictures of `images` and last N videos "
                         "of `video_dir` held out")


class Schedule(_Strict):
    steps: Optional[int] = Field(None, ge=1)
    minutes: Optional[float] = Field(None, gt=0)
    batch: int = Field(8, ge=1, le=256)
    lr: float = Field(1e-3, gt=0)
    lr_min: float = Field(5e-5, ge=0)
    warmup: int = Field(200, ge=1)
    float_frac: float = Field(0.0, ge=0, lt=1, description="float phase, then QAT")
    freeze_frac: float = Field(0.2, ge=0, le=1)
    lambdas: Optional[list[float]] = Field(None, min_length=4, max_length=4)
    ckpt_minutes: float = Field(5.0, gt=0)
    log_every: int = Field(250, ge=1)
    xla: bool = False
    fp32: bool = False
    threads: int = Field(2, ge=1)
    klt_batches: int = Field(256, ge=1)
    devices: Union[int, str] = Field("auto", description="'auto' (every GPU TensorFlow sees "
                                     "under MirroredStrategy, else the CPU path), 'cpu', N (the "
                                     "first N GPUs) or 'cpu:N' (N logical CPU devices: tests)")
    mixed_precision: Optional[bool] = Field(None, description="mixed_float16; unset: on GPU "
                                            "only")

    @model_validator(mode="after")
    def _length(self):
        if self.steps is None and self.minutes is None:
            raise ValueError("schedule needs steps or minutes")
        d = self.devices
        if isinstance(d, int) or (isinstance(d, str) and d.startswith("cpu:")):
            try:
                n = d if isinstance(d, int) else int(d[4:])
            except ValueError:
                n = 0
            if n < 1:
                raise ValueError(f"devices {d!r}: 'auto', 'cpu', N or 'cpu:N' with N >= 1")
            if self.batch % n:
                raise ValueError(f"batch {self.batch} does not split across devices = {d!r}")
        elif d not in ("auto", "cpu"):
            raise ValueError(f"devices {d!r}: 'auto', 'cpu', N or 'cpu:N'")
        if self.mixed_precision and self.fp32:
            raise ValueError("mixed_precision and fp32 exclude each other")
        return self


class Init(_Strict):
    # a run directory (its latest checkpoint) or "bundled" (the repository's training/intra_lp)
    source: Optional[str] = None
    revive_hyperprior: bool = False


class Package(_Strict):
    model_id: str = Field("mlvc-custom-v1", pattern=r"^[a-z0-9][a-z0-9.-]*-v[0-9]+$")
    description: str = "MLVC codec trained with mlvc model train"
    fit_z_tables: Optional[str] = Field(None, description="folder of pictures on whose crops "
                                        "each hyper channel's z table is chosen at conversion")


class Config(_Strict):
    seed: int = 1
    arch: Arch = Arch()
    data: Data = Data()
    schedule: Schedule
    init: Init = Init()
    package: Package = Package()

    @model_validator(mode="after")
    def _init(self):
        if self.init.revive_hyperprior and not self.init.source:
            raise ValueError("init.revive_hyperprior needs init.source")
        return self


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        lines = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}"
                          for e in exc.errors())
        raise ConfigError(f"config {path}: {lines}") from None
    base = path.resolve().parent
    for sec, key in (("data", "images"), ("data", "videos"), ("data", "photos"),
                     ("data", "video_dir"),
                     ("package", "fit_z_tables")):
        v = getattr(getattr(cfg, sec), key)
        if v and v != "skimage" and not Path(v).is_absolute():
            setattr(getattr(cfg, sec), key, str(base / v))
    return cfg
