"""Backend registry: every way the SDK can run a profile network, each marked exact or approximate.

A backend is *exact* when the conformance matrix (`mlvc selftest`, recorded in
`evidence.json`) found 0 differing elements against the NumPy reference on every CPU tried.
The marks come from that file, not from hopes: a configuration the matrix never ran is approximate.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import numpy as np

from ..errors import BackendError, InvalidArgumentError
from ..intops.graph import Graph


class Network(Protocol):
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class BackendSpec:
    name: str
    runtime: str          # "numpy", "litert" or "tflite_runtime"
    kernels: str          # "reference-numpy", "xnnpack", "builtin", "reference"
    threads: int
    description: str

    @property
    def exact(self) -> bool:
        return self.name in exact_configurations()

    def available(self) -> bool:
        if self.runtime == "numpy":
            return True
        from .tflite_runner import available
        return available(self.runtime)

    def load(self, graph: Graph, tflite: bytes | None = None) -> Network:
        """A runnable network for `graph` (its `.tflite` is written if not given)."""
        if self.runtime == "numpy":
            return _NumpyNetwork(graph) if self.kernels == "reference-numpy" \
                else _FloatNetwork(graph)
        from ..intops.tflite_writer import graph_to_tflite
        from .tflite_runner import TFLiteRunner
        return TFLiteRunner(tflite if tflite is not None else graph_to_tflite(graph),
                            runtime=self.runtime, kernels=self.kernels, threads=self.threads)


class _NumpyNetwork:
    def __init__(self, graph: Graph):
        self.graph = graph

    def run(self, feeds):
        from ..intops.reference import run_graph
        return run_graph(self.graph, feeds)


class _FloatNetwork:
    def __init__(self, graph: Graph):
        self.graph = graph

    def run(self, feeds):
        from ..intops.float_executor import run_graph_float
        return run_graph_float(self.graph, feeds)


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


SPECS: dict[str, BackendSpec] = {s.name: s for s in (
    BackendSpec("numpy", "numpy", "reference-numpy", 1,
                "NumPy reference executor: the definition of the integer profile"),
    BackendSpec("float16", "numpy", "float16", 1,
                "float16 execution of the same networks: how a GPU/NNAPI/Neural Engine delegate "
                "computes; approximate by design (drift measurements)"),
    BackendSpec("litert-xnnpack", "litert", "xnnpack", _default_threads(),
                "LiteRT (ai-edge-litert) with its default XNNPACK kernels"),
    BackendSpec("litert-xnnpack-1t", "litert", "xnnpack", 1, "LiteRT XNNPACK, 1 thread"),
    BackendSpec("litert-xnnpack-2t", "litert", "xnnpack", 2, "LiteRT XNNPACK, 2 threads"),
    BackendSpec("litert-builtin", "litert", "builtin", _default_threads(),
                "LiteRT optimized built-in kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES)"),
    BackendSpec("litert-reference", "litert", "reference", 1,
                "LiteRT reference kernels (BUILTIN_REF)"),
    BackendSpec("tflite-runtime", "tflite_runtime", "builtin", _default_threads(),
                "tflite-runtime (2.14 on older Raspberry Pi OS images), its default int8 path"),
)}

# User-facing aliases: `tflite` is whatever TFLite configuration is fastest among exact ones.
ALIASES = {"tflite": "litert-xnnpack"}
# Preference order for the default: fastest first (measured, see docs/benchmarks.md).
SPEED_ORDER = ("litert-xnnpack", "litert-builtin", "tflite-runtime", "numpy", "litert-reference")


def exact_configurations() -> frozenset[str]:
    """Configurations the committed conformance evidence found exact on every CPU tried."""
    return _load_evidence()


_EVIDENCE: frozenset[str] | None = None


def _load_evidence() -> frozenset[str]:
    global _EVIDENCE
    if _EVIDENCE is None:
        text = resources.files("mlvc.backends").joinpath("evidence.json").read_text()
        data = json.loads(text)
        _EVIDENCE = frozenset(["numpy"] + [k for k, v in data["configurations"].items()
                                          if v.get("exact")])
    return _EVIDENCE


def resolve(name: str | None) -> BackendSpec:
    """The backend called `name`; None or 'auto' gives the fastest exact one installed."""
    if name in (None, "auto"):
        for candidate in SPEED_ORDER:
            spec = SPECS[candidate]
            if spec.exact and spec.available():
                return spec
        return SPECS["numpy"]
    key = ALIASES.get(name, name)
    if key not in SPECS:
        raise InvalidArgumentError(
            f"unknown backend {name!r}; choose one of {sorted(set(SPECS) | set(ALIASES))}")
    spec = SPECS[key]
    if not spec.available():
        raise BackendError(f"backend {name!r} needs {spec.runtime}, which is not installed")
    return spec


def describe() -> list[dict]:
    return [{"name": s.name, "exact": s.exact, "available": s.available(),
             "description": s.description} for s in SPECS.values()]

