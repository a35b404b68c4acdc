"""Startup probe time and what exactness checking adds to opening a Decoder.

    python benchmarks/bench_probe.py [--repeat 5] [--backend litert-xnnpack] [--json]

- probe: the battery of backends/probe.py on `--backend`, run as in an environment the evidence
  does not cover (an empty evidence file, a fresh MLVC_CACHE).  Budget: <= 0.5 s.
- cached open: a fresh process's exactness decision (fingerprint, evidence or probe-cache file),
  measured as Decoder(stream) right after registry.reset() minus Decoder(stream) with the
  decision already made.  Budget: <= 10 ms.  Both paths: the probe's cache file (uncovered
  environment) and the bundled evidence (covered environment).

Medians over --repeat runs; everything in one process, so imports are not counted.  The probe's
CPU time (all threads) is printed too: on a machine shared with other work the wall time
mostly measures the wait for a core.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))


_CHILD = """
import sys, time
import mlvc
from mlvc.backends import registry
stream = open(sys.argv[1], "rb").read()
mlvc.Decoder(stream, backend="numpy")        # imports and the package, not counted
registry.SPECS[sys.argv[2]].available()      # the runtime's import: needed to decode anyway
t0 = time.perf_counter()
st = registry.status(sys.argv[2])            # the exactness decision
t1 = time.perf_counter()
print(t1 - t0, st.verified_by)
"""


def _child(vec, backend, env) -> tuple[float, str]:
    import subprocess
    out = subprocess.run([sys.executable, "-c", _CHILD, str(vec), backend], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), out[1]


def _fresh(registry, fingerprint):
    registry.reset()
    fingerprint.cpu.cache_clear()
    fingerprint.runtime_version.cache_clear()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", default="litert-xnnpack")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mlvc-bench-probe-"))
    empty = tmp / "evidence-empty.json"
    empty.write_text(json.dumps({"format": 2, "configurations": {}}))
    os.environ["MLVC_CACHE"] = str(tmp / "cache")
    os.environ.pop("MLVC_PROBE", None)

    import mlvc
    from mlvc.backends import fingerprint, probe, registry
    spec = registry.SPECS[a.backend]
    if not spec.available():
        print(f"{a.backend}: {spec.runtime} not installed", file=sys.stderr)
        return 1
    vec = Path(mlvc.__file__).resolve().parent / "data" / "vectors" / "q1_64x64.mlvc"
    stream = vec.read_bytes()
    mlvc.Decoder(stream, backend="numpy")            # imports, package load, native kernels
    probe.run_battery(spec)                          # warm: runtime and writer imports

    # 1. the probe itself (uncovered environment, no cache file)
    os.environ["MLVC_EVIDENCE"] = str(empty)
    probe_s, probe_cpu, result = [], [], None
    for _ in range(a.repeat):
        for f in (tmp / "cache").glob("probe-*.json"):
            f.unlink()
        _fresh(registry, fingerprint)
        t0, c0 = time.perf_counter(), time.process_time()
        st = registry.status(spec)
        probe_s.append(time.perf_counter() - t0)
        probe_cpu.append(time.process_time() - c0)
        result = st.probe
    assert result is not None and result["from_cache"] is False

    def open_overhead() -> tuple[float, float]:
        fresh, warm = [], []
        for _ in range(a.repeat):
            _fresh(registry, fingerprint)
            t0 = time.perf_counter()
            mlvc.Decoder(stream, backend=a.backend).close()
            fresh.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mlvc.Decoder(stream, backend=a.backend).close()
            warm.append(time.perf_counter() - t0)
        return statistics.median(fresh), statistics.median(warm)

    # 2. cached start, uncovered environment: the probe's file is read
    fresh_p, warm_p = open_overhead()
    assert registry.status(spec).probe["from_cache"] is True
    # 3. covered environment: the bundled evidence decides
    del os.environ["MLVC_EVIDENCE"]
    fresh_m, warm_m = open_overhead()
    verified = registry.status(spec).verified_by

    # 4. fresh processes: the exactness decision, probe run (empty cache) / cached / covered
    env = dict(os.environ, PYTHONPATH=str(ROOT / "sdk"), MLVC_EVIDENCE=str(empty),
               MLVC_CACHE=str(tmp / "cache-fresh"))
    first = _child(vec, a.backend, env)[0]
    cached = statistics.median(_child(vec, a.backend, env)[0] for _ in range(a.repeat))
    env.pop("MLVC_EVIDENCE")
    covered = statistics.median(_child(vec, a.backend, env)[0] for _ in range(a.repeat))

    out = {
        "backend": a.backend, "repeat": a.repeat,
        "process_first_open_s_probe": round(first, 3),
        "process_open_ms_cached_probe": round(1e3 * cached, 2),
        "process_open_ms_matrix": round(1e3 * covered, 2),
        "probe_s": round(statistics.median(probe_s), 3), "probe_s_min": round(min(probe_s), 3),
        "probe_cpu_s": round(statistics.median(probe_cpu), 3),
        "probe_networks": result["cases"], "probe_elements": result["total_elements"],
        "probe_differing": result["differing_elements"],
        "open_ms_cached_probe": round(1e3 * fresh_p, 2),
        "open_ms_decided": round(1e3 * warm_p, 2),
        "overhead_ms_cached_probe": round(1e3 * (fresh_p - warm_p), 2),
        "overhead_ms_matrix": round(1e3 * (fresh_m - warm_m), 2),
        "verified_by_bundled_evidence": verified,
        "fingerprint_key": fingerprint.key(spec.fingerprint()),
    }
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"probe ({a.backend}, {out['probe_networks']} networks, "
              f"{out['probe_elements']} elements, {out['probe_differing']} differ): "
              f"{out['probe_s']} s median, {out['probe_s_min']} s min, "
              f"{out['probe_cpu_s']} s CPU (all threads)   [budget 0.5 s]")
        print(f"Decoder open with a cached probe result: +{out['overhead_ms_cached_probe']} ms "
              f"({out['open_ms_cached_probe']} vs {out['open_ms_decided']} ms)   [budget 10 ms]")
        print(f"Decoder open decided by the bundled evidence ({verified}): "
              f"+{out['overhead_ms_matrix']} ms")
        print(f"fresh process, exactness decision at the first open: "
              f"{out['process_first_open_s_probe']} s running the probe (its imports "
              f"included), {out['process_open_ms_cached_probe']} ms from its cached result, "
              f"{out['process_open_ms_matrix']} ms from the bundled evidence   [budget 10 ms]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
