"""Backend registry: every way the SDK can run a profile network, each marked exact or approximate.

A backend is *exact here* when its environment fingerprint (fingerprint.py: runtime and version,
kernel set, CPU arch and features, threads where they matter) is

- covered by a row of the conformance matrix (`evidence.json`, written by
  `python -m mlvc.backends.record`) that found 0 differing elements: verified_by "matrix"; or
- not covered, and the startup probe (probe.py) found 0 differing elements on this machine,
  cached per fingerprint: verified_by "probe".

Otherwise it is approximate here (verified_by "probe" when the probe found differences, "none"
when nothing was checked: runtime missing, probing off, or approximate by design like float16).
A backend's name alone proves nothing.  `MLVC_EVIDENCE` names another evidence file (a device
lab's own matrix run; tests).
"""
from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import dataclass, field
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
        """Exact in this environment (evidence row covering it, or the startup probe)."""
        return status(self).exact

    @property
    def approximate_by_design(self) -> bool:
        return self.kernels == "float16"

    def fingerprint(self) -> dict:
        from .fingerprint import fingerprint
        return fingerprint(self.runtime, self.kernels, self.threads)

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


class ApproximateBackendWarning(RuntimeWarning):
    """A backend is not exact on this machine and another one is used (or its pictures are
    replaced); the message says which and why."""


@dataclass(frozen=True)
class BackendStatus:
    name: str
    exact: bool
    verified_by: str          # "matrix", "probe" or "none"
    fingerprint: dict
    detail: str = ""
    rows: tuple = ()          # evidence rows covering this environment
    probe: dict | None = field(default=None, compare=False)

    def as_dict(self) -> dict:
        d = {"exact": self.exact, "verified_by": self.verified_by,
             "fingerprint": self.fingerprint, "detail": self.detail}
        if self.rows:
            d["evidence_rows"] = list(self.rows)
        if self.probe is not None:
            d["probe"] = {k: self.probe.get(k) for k in (
                "differing_elements", "total_elements", "cases", "skipped_cases", "seconds",
                "from_cache", "failed_cases", "errors")}
        return d


_EVIDENCE: dict | None = None
_STATUS: dict[str, BackendStatus] = {}
_STATUS_LOCK = threading.RLock()
_WARNED: set = set()


def evidence() -> dict:
    """The evidence file (bundled, or the one `MLVC_EVIDENCE` names)."""
    global _EVIDENCE
    if _EVIDENCE is None:
        path = os.environ.get("MLVC_EVIDENCE")
        try:
            text = (open(path, encoding="utf-8").read() if path else
                    resources.files("mlvc.backends").joinpath("evidence.json").read_text())
            _EVIDENCE = json.loads(text)
        except FileNotFoundError:
            if path:
                raise BackendError(f"MLVC_EVIDENCE={path}: no such file") from None
            # an install without the bundled file: nothing is covered, the probe decides
            _EVIDENCE = {"configurations": {}, "missing": True}
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read backend evidence {path or 'evidence.json'}: "
                               f"{exc}") from exc
    return _EVIDENCE


def reset() -> None:
    """Forget the evidence, the statuses and the warnings given (tests; MLVC_* changed)."""
    global _EVIDENCE
    from . import probe
    with _STATUS_LOCK:
        _EVIDENCE = None
        _STATUS.clear()
        _WARNED.clear()
        probe._BATTERY_ID = None


def exact_configurations() -> frozenset[str]:
    """Configurations exact in this environment (each one checked: may run probes)."""
    return frozenset(name for name, spec in SPECS.items() if spec.available() and spec.exact)


def _covering_rows(spec: BackendSpec, fp: dict) -> list[tuple[str, dict]]:
    from .fingerprint import covers
    conf = evidence().get("configurations", {}).get(spec.name) or {}
    return [(row, data) for row, data in (conf.get("rows") or {}).items()
            if covers(data.get("fingerprint"), fp)]


def _compute_status(spec: BackendSpec, *, probe: bool) -> BackendStatus | None:
    if spec.runtime == "numpy":
        fp = {"runtime": "numpy", "kernels": spec.kernels}
        if spec.approximate_by_design:
            return BackendStatus(spec.name, False, "none", fp,
                                 "approximate by design (float16 arithmetic)")
        return BackendStatus(spec.name, True, "matrix", fp,
                             "the NumPy reference: defines the profile")
    if not spec.available():
        return BackendStatus(spec.name, False, "none", spec.fingerprint(),
                             f"{spec.runtime} is not installed")
    fp = spec.fingerprint()
    rows = _covering_rows(spec, fp)
    if rows:
        exact = all(bool(d.get("exact")) and not d.get("differing_elements") for _, d in rows)
        return BackendStatus(spec.name, exact, "matrix", fp,
                             "conformance matrix rows cover this environment" if exact else
                             "a conformance matrix row for this environment differs",
                             tuple(r for r, _ in rows))
    from . import probe as probe_mod
    if not probe_mod.enabled():
        return BackendStatus(spec.name, False, "none", fp,
                             "no evidence row covers this environment and MLVC_PROBE=0")
    if not probe:
        hit = probe_mod.cached(fp)
        if hit is None:
            return None
        result = dict(hit, from_cache=True)
    else:
        result = probe_mod.probe(spec, fp)
    detail = (f"startup probe: {result['cases']} networks, 0 of {result['total_elements']} "
              "elements differ" if result["exact"] else
              f"startup probe: {result['differing_elements']} of {result['total_elements']} "
              f"elements differ" + (f", {len(result['errors'])} errors"
                                    if result.get("errors") else ""))
    return BackendStatus(spec.name, bool(result["exact"]), "probe", fp, detail, probe=result)


def status(spec: BackendSpec | str, *, probe: bool = True) -> BackendStatus | None:
    """The exactness of `spec` here; runs the probe the first time it is needed (probe=False:
    only what is known without running it, None if that is nothing)."""
    if isinstance(spec, str):
        spec = SPECS[ALIASES.get(spec, spec)]
    st = _STATUS.get(spec.name)
    if st is not None:
        return st
    with _STATUS_LOCK:
        st = _STATUS.get(spec.name)
        if st is None:
            st = _compute_status(spec, probe=probe)
            if st is not None:
                _STATUS[spec.name] = st
    return st


def warn_once(key, message: str) -> None:
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, ApproximateBackendWarning, stacklevel=3)


def resolve(name: str | None) -> BackendSpec:
    """The backend called `name`; None or 'auto' gives the fastest backend exact here."""
    if name in (None, "auto"):
        return fastest_exact()
    key = ALIASES.get(name, name)
    if key not in SPECS:
        raise InvalidArgumentError(
            f"unknown backend {name!r}; choose one of {sorted(set(SPECS) | set(ALIASES))}")
    spec = SPECS[key]
    if not spec.available():
        raise BackendError(f"backend {name!r} needs {spec.runtime}, which is not installed")
    return spec


def fastest_exact(exclude: str | None = None) -> BackendSpec:
    """The first backend of SPEED_ORDER that is installed and exact here (NumPy at worst).
    A faster one found approximate here is skipped with a warning (once per process)."""
    for candidate in SPEED_ORDER:
        spec = SPECS[candidate]
        if candidate == exclude or not spec.available():
            continue
        st = status(spec)
        if st.exact:
            return spec
        warn_once(("skip", candidate),
                  f"backend {candidate!r} is approximate on this machine ({st.detail}); "
                  "the fastest exact backend is used instead")
    return SPECS["numpy"]


def describe(*, probe: bool = True) -> list[dict]:
    """Every backend with `exact`, `verified_by` and the fingerprint (runs probes where needed
    unless probe=False: then an unprobed backend shows verified_by "none", exact False)."""
    out = []
    for s in SPECS.values():
        st = status(s, probe=probe) or BackendStatus(
            s.name, False, "none", s.fingerprint(), "not probed yet (no cached probe result)")
        out.append({"name": s.name, "available": s.available(), "description": s.description,
                    **st.as_dict()})
    return out
