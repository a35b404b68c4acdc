"""The startup probe: is a backend exact in *this* environment, when no evidence row covers it?

The first time a backend is used under a fingerprint (fingerprint.py) that `evidence.json` does
not cover, a short battery runs through it and is compared element by element with the NumPy
reference: every single-op case of the conformance battery (intops/battery.py: each profile op
with edge values and odd shapes), the mixed all-ops network, and the bundled package's eight
networks on small odd-sized inputs (where no .tflite writer is installed, as with tflite-runtime
alone, the generated cases are skipped and the package's shipped networks run).  The result is cached per fingerprint:

    $MLVC_CACHE/probe-v1-<fingerprint key>.json      (MLVC_CACHE default: ~/.cache/mlvc)

and is used only for the same battery (its version and the bundled package manifest's hash),
so later starts read one small file.  `MLVC_PROBE=0` turns probing off (uncovered backends are
then approximate, verified_by "none").
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from .fingerprint import key as fingerprint_key

BATTERY_VERSION = 1
_LOCK = threading.Lock()

# The bundled networks on small inputs (latent sizes: odd, and not multiples of the tiles).
# input rows and columns of the package's networks in the battery (channels: the graph's own)
_PACKAGE_INPUTS = {"g_a": (32, 48), "h_a": (4, 8), "h_s": (1, 2), "g_s": (2, 3)}


def cache_dir() -> Path:
    base = os.environ.get("MLVC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlvc")
    return Path(base)


def battery_id() -> str:
    """The battery's identity: its version and the bundled package's manifest (which hashes the
    networks), so a new package or battery never reuses an old result."""
    global _BATTERY_ID
    if _BATTERY_ID is None:
        import hashlib
        try:
            from ..package.loader import bundled_package_path
            digest = hashlib.sha256((bundled_package_path() / "manifest.json").read_bytes())
            _BATTERY_ID = f"v{BATTERY_VERSION}-{digest.hexdigest()[:12]}"
        except OSError:
            _BATTERY_ID = f"v{BATTERY_VERSION}-nopackage"
    return _BATTERY_ID


_BATTERY_ID: str | None = None


def cache_path(fp: dict) -> Path:
    return cache_dir() / f"probe-v{BATTERY_VERSION}-{fingerprint_key(fp)}.json"


def enabled() -> bool:
    return os.environ.get("MLVC_PROBE", "1").strip().lower() not in ("0", "off", "no", "false")


def cached(fp: dict) -> dict | None:
    """The cached probe result for this fingerprint, or None."""
    try:
        data = json.loads(cache_path(fp).read_text())
    except (OSError, ValueError):
        return None
    if data.get("battery_id") != battery_id() or data.get("fingerprint") != fp:
        return None
    return data


def _cases():
    """(name, graph, tflite bytes or None, feeds) of the probe battery."""
    from ..intops import battery
    out = [(c.name, c.graph, None, c.feeds) for c in battery.single_op_cases()]
    m = battery.mixed_case()
    out.append((m.name, m.graph, None, m.feeds))
    try:
        from ..package.loader import load_package
        pkg = load_package(None)
    except Exception:  # no bundled package (a stripped install): the op battery alone
        return out
    rng = np.random.default_rng(18)
    for role, graph in pkg.graphs.items():
        size = _PACKAGE_INPUTS.get(role.replace("res_", ""))
        if size is None:
            continue
        shape = (1, *size, graph.channels[graph.inputs[0]])
        feeds = {graph.inputs[0]: rng.integers(-128, 128, size=shape).astype(np.int8)}
        out.append((f"package/{role}", graph, pkg.tflite.get(role), feeds))
    return out


class _OneBlasThread:
    """OpenBLAS on one thread while the battery runs: its matrices are tiny, and a second BLAS
    thread made the NumPy reference 40x slower on a busy 2-core machine (0.7 s instead of
    0.02 s).  The reference's integers do not depend on it (every partial sum is exact in
    float32, the profile's accumulator bound).  A no-op where OpenBLAS cannot be found."""

    _NAMES = ("scipy_openblas_{}_num_threads64_", "openblas_{}_num_threads64_",
              "scipy_openblas_{}_num_threads", "openblas_{}_num_threads")

    def __enter__(self):
        self._set = self._saved = None
        try:
            import ctypes
            with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
                paths = {line.split()[-1] for line in fh
                         if "openblas" in line.lower() and ".so" in line}
            for path in sorted(paths):
                lib = ctypes.CDLL(path)
                for name in self._NAMES:
                    get = getattr(lib, name.format("get"), None)
                    put = getattr(lib, name.format("set"), None)
                    if get is not None and put is not None:
                        self._saved, self._set = int(get()), put
                        put(1)
                        return self
        except Exception:  # not Linux, no OpenBLAS (Accelerate, MKL): leave it alone
            self._set = None
        return self

    def __exit__(self, *exc):
        if self._set is not None and self._saved:
            self._set(self._saved)
        return False


def run_battery(spec) -> dict:
    """Run the probe battery through `spec`; counts of differing elements against NumPy."""
    with _OneBlasThread():
        return _run_battery(spec)


def _run_battery(spec) -> dict:
    from ..intops.reference import run_graph
    t0 = time.perf_counter()
    diff = total = 0
    failed, errors, skipped = [], [], []
    cases = _cases()
    if not _can_write_tflite():
        # tflite-runtime alone (older Raspberry Pi OS images) has no flatbuffer schema module:
        # the generated op cases cannot be written there; the package's shipped networks run.
        skipped = [c[0] for c in cases if c[2] is None]
        cases = [c for c in cases if c[2] is not None]
    for name, graph, tflite, feeds in cases:
        ref = run_graph(graph, feeds)
        n = sum(v.size for v in ref.values())
        total += n
        try:
            got = spec.load(graph, tflite).run(feeds)
        except Exception as exc:  # a kernel set that cannot run an op is not exact here
            errors.append(f"{name}: {exc}"[:300])
            diff += n
            continue
        d = sum(int(np.count_nonzero(ref[k] != got[k])) if k in got and
                got[k].shape == ref[k].shape else ref[k].size for k in ref)
        if d:
            failed.append(f"{name}: {d}")
        diff += d
    return {"exact": diff == 0 and not errors and bool(cases), "cases": len(cases),
            "differing_elements": diff, "total_elements": total, "failed_cases": failed[:20],
            "errors": errors[:5], "skipped_cases": len(skipped),
            "seconds": round(time.perf_counter() - t0, 3)}


def _can_write_tflite() -> bool:
    from ..errors import BackendError
    from ..intops.tflite_writer import _schema
    try:
        _schema()
        return True
    except BackendError:
        return False


def probe(spec, fp: dict, *, use_cache: bool = True) -> dict:
    """The probe result of `spec` under fingerprint `fp`: from the cache, or run and cached."""
    with _LOCK:
        if use_cache:
            hit = cached(fp)
            if hit is not None:
                hit["from_cache"] = True
                return hit
        result = run_battery(spec)
        result.update({"battery_version": BATTERY_VERSION, "battery_id": battery_id(),
                       "fingerprint": fp,
                       "backend": spec.name,
                       "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        _write(cache_path(fp), result)
        result["from_cache"] = False
        return result


def _write(path: Path, result: dict) -> None:
    """Atomic write; an unwritable cache only costs a probe at the next start."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass
