"""The conformance matrix: the battery through every kernel set and CPU, against the NumPy reference.

In-process rows use the runtimes installed here.  Emulated rows (other x86 ISA levels and aarch64
Raspberry Pi CPUs under qemu, tflite-runtime 2.14 with numpy<2 natively and on a Pi 4) run
`battery_worker` through `tools/emulation/run.sh TARGET` on the same battery files and are compared
here.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..backends.registry import SPECS
from ..intops import battery as battery_mod
from ..intops.graph import Conv2D
from ..intops.reference import run_graph

IN_PROCESS = ("litert-xnnpack-1t", "litert-xnnpack-2t", "litert-builtin", "litert-reference")
# name -> (emulation target, runtime, kernels, threads)
EMULATED = {
    "tflite-runtime-2.14": ("tflite-runtime-2.14", "tflite_runtime", "builtin", 2),
    "tflite-runtime-2.14-reference": ("tflite-runtime-2.14", "tflite_runtime", "reference", 1),
    "x86-haswell-xnnpack": ("x86-haswell", "litert", "xnnpack", 2),
    "x86-nehalem-xnnpack": ("x86-nehalem", "litert", "xnnpack", 2),
    "x86-nehalem-builtin": ("x86-nehalem", "litert", "builtin", 2),
    "aarch64-a72-xnnpack": ("aarch64-a72", "litert", "xnnpack", 2),
    "aarch64-a72-builtin": ("aarch64-a72", "litert", "builtin", 2),
    "aarch64-a72-reference": ("aarch64-a72", "litert", "reference", 1),
    "aarch64-a76-xnnpack": ("aarch64-a76", "litert", "xnnpack", 2),
    "aarch64-a76-builtin": ("aarch64-a76", "litert", "builtin", 2),
    "aarch64-a72-tflite-runtime-2.14": ("aarch64-a72-tflite214", "tflite_runtime", "builtin", 2),
}
# Which registry backend each matrix row is evidence for.
EVIDENCE_FOR = {
    "litert-xnnpack": ("litert-xnnpack-1t", "litert-xnnpack-2t", "x86-haswell-xnnpack",
                       "x86-nehalem-xnnpack", "aarch64-a72-xnnpack", "aarch64-a76-xnnpack"),
    "litert-xnnpack-1t": ("litert-xnnpack-1t",),
    "litert-xnnpack-2t": ("litert-xnnpack-2t",),
    "litert-builtin": ("litert-builtin", "x86-nehalem-builtin", "aarch64-a72-builtin",
                       "aarch64-a76-builtin"),
    "litert-reference": ("litert-reference", "aarch64-a72-reference"),
    "tflite-runtime": ("tflite-runtime-2.14", "tflite-runtime-2.14-reference",
                       "aarch64-a72-tflite-runtime-2.14"),
}
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class RowResult:
    name: str
    exact: bool
    differing_elements: int
    total_elements: int
    cases: int
    failed_cases: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""


def _compare(name, cases, outputs_by_case, errors, seconds, note="") -> RowResult:
    diff = total = 0
    failed = []
    for case in cases:
        ref = run_graph(case.graph, case.feeds)
        got = outputs_by_case.get(case.name)
        n = sum(v.size for v in ref.values())
        total += n
        if got is None:
            failed.append(case.name)
            diff += n
            continue
        d = sum(int(np.count_nonzero(ref[k] != got[k])) if got[k].shape == ref[k].shape else n
                for k in ref)
        if d:
            failed.append(f"{case.name}: {d}")
        diff += d
    return RowResult(name, diff == 0 and not errors, diff, total, len(cases), failed, errors,
                     round(seconds, 2), note)


def _run_in_process(name: str, cases) -> RowResult:
    spec = SPECS[name]
    t0 = time.perf_counter()
    outs, errors = {}, []
    if not spec.available():
        return RowResult(name, False, 0, 0, len(cases), [], [f"{spec.runtime} not installed"])
    for case in cases:
        try:
            outs[case.name] = spec.load(case.graph).run(case.feeds)
        except Exception as exc:  # a kernel set that cannot load an op is a row failure
            errors.append(f"{case.name}: {exc}")
    return _compare(name, cases, outs, errors, time.perf_counter() - t0)


def write_battery(cases, directory: Path, *, check: bool = True) -> None:
    from ..intops.tflite_writer import graph_to_tflite
    directory.mkdir(parents=True, exist_ok=True)
    index = []
    for case in cases:
        (directory / f"{case.name}.tflite").write_bytes(graph_to_tflite(case.graph, check=check))
        np.savez(directory / f"{case.name}.feeds.npz", **case.feeds)
        index.append(case.name)
    (directory / "index.json").write_text(json.dumps(index))


def _run_emulated(name: str, cases, battery_dir: Path, timeout: int) -> RowResult:
    target, runtime, kernels, threads = EMULATED[name]
    out_dir = battery_dir / f"out-{name}"
    script = REPO_ROOT / "tools" / "emulation" / "run.sh"
    cmd = ["bash", str(script), target, "--", "-m", "mlvc.conformance.battery_worker",
           str(battery_dir), str(out_dir), runtime, kernels, str(threads)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return RowResult(name, False, 0, 0, len(cases), [], [f"timed out after {timeout} s"])
    seconds = time.perf_counter() - t0
    errors = []
    if proc.returncode != 0:
        errors.append(f"exit {proc.returncode}: {proc.stderr.strip()[-600:]}")
    outs = {}
    for case in cases:
        f = out_dir / f"{case.name}.out.npz"
        if f.exists():
            with np.load(f) as z:
                outs[case.name] = {k: z[k] for k in z.files}
    err_file = out_dir / "errors.json"
    if err_file.exists():
        errors += json.loads(err_file.read_text())
    return _compare(name, cases, outs, errors, seconds, note=f"emulated: {target}")


def control_cases(cases):
    """The battery's convolutions with rounding ties allowed (bias % 4 == 0, shift >= 1).

    Outside the profile the kernel sets must disagree somewhere: this row shows the matrix can
    fail, and why the profile's constraints exist."""
    import copy
    out = []
    for case in cases:
        if not all(isinstance(op, Conv2D) for op in case.graph.ops):
            continue
        c = copy.deepcopy(case)
        for op in c.graph.ops:
            op.bias = (op.bias - 2).astype(np.int32)
            qin, qout = c.graph.tensors[op.input], c.graph.tensors[op.output]
            op.w_exp = np.maximum(op.w_exp, qout.exp - qin.exp - 1).astype(np.int32)
            op.weights = (op.weights // 2 + 1).astype(np.int8)   # odd/even mix, any parity
        out.append(c)
    return out


def run_matrix(*, emulated: bool = False, include_large: bool = True, timeout: int = 900,
               rows: list[str] | None = None) -> dict:
    cases = battery_mod.battery(include_large=include_large)
    results: list[RowResult] = []
    wanted = rows or (list(IN_PROCESS) + (list(EMULATED) if emulated else []))
    t0 = time.perf_counter()
    # The NumPy reference row: the executor against itself on a fresh process's data is trivial,
    # so it is checked against an independent int64 implementation in the tests instead.
    results.append(RowResult("numpy", True, 0, sum(sum(v.size for v in run_graph(c.graph, c.feeds)
                                                        .values()) for c in cases),
                             len(cases), note="defines the profile"))
    for name in wanted:
        if name in IN_PROCESS:
            results.append(_run_in_process(name, cases))
    emulated_rows = [n for n in wanted if n in EMULATED]
    if emulated_rows:
        with tempfile.TemporaryDirectory(prefix="mlvc-battery-") as tmp:
            write_battery(cases, Path(tmp))
            for name in emulated_rows:
                results.append(_run_emulated(name, cases, Path(tmp), timeout))
    control = _control_row(cases)
    summary = {
        "battery_cases": len(cases),
        "configurations": [asdict(r) for r in results],
        "control": control,
        "all_exact": all(r.exact for r in results),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return summary


def _control_row(cases) -> dict:
    """XNNPACK vs reference kernels on the tie-permitting control networks."""
    from ..intops.tflite_writer import graph_to_tflite
    spec_x, spec_r = SPECS["litert-xnnpack-1t"], SPECS["litert-reference"]
    if not spec_x.available():
        return {"skipped": "litert not installed"}
    from ..backends.tflite_runner import TFLiteRunner
    diff = total = 0
    for c in control_cases(cases):
        m = graph_to_tflite(c.graph, check=False)
        a = TFLiteRunner(m, kernels="xnnpack").run(c.feeds)
        b = TFLiteRunner(m, kernels="reference").run(c.feeds)
        for k in a:
            diff += int(np.count_nonzero(a[k] != b[k]))
            total += a[k].size
    return {"name": "control: ties allowed, xnnpack vs reference", "differing_elements": diff,
            "total_elements": total}


def evidence_from(summary: dict) -> dict:
    """Registry marks: a backend is exact when every matrix row standing for it was exact."""
    by_name = {r["name"]: r for r in summary["configurations"]}
    marks = {}
    for backend, rows in EVIDENCE_FOR.items():
        seen = [by_name[r] for r in rows if r in by_name]
        marks[backend] = {
            "exact": bool(seen) and len(seen) == len(rows) and all(r["exact"] for r in seen),
            "rows": {r["name"]: {"exact": r["exact"], "differing_elements":
                                 r["differing_elements"]} for r in seen},
            "missing_rows": [r for r in rows if r not in by_name],
        }
    return {"generated_by": "mlvc selftest --emulated --record",
            "battery_cases": summary["battery_cases"], "configurations": marks}


def format_table(summary: dict) -> str:
    lines = [f"{'configuration':32} {'exact':6} {'differing':>10} {'elements':>10} {'s':>7}"]
    for r in summary["configurations"]:
        lines.append(f"{r['name']:32} {str(r['exact']):6} {r['differing_elements']:>10} "
                     f"{r['total_elements']:>10} {r['seconds']:>7}")
        for e in r["errors"][:3]:
            lines.append(f"    error: {e[:160]}")
    c = summary["control"]
    if "differing_elements" in c:
        lines.append(f"{c['name']}: {c['differing_elements']} of {c['total_elements']} differ "
                     "(expected > 0: outside the profile the kernels disagree)")
    lines.append(f"battery: {summary['battery_cases']} networks; all exact: {summary['all_exact']}")
    return "\n".join(lines)


def default_evidence_path() -> Path:
    return Path(__file__).resolve().parents[1] / "backends" / "evidence.json"


def record(summary: dict, path: Path | None = None) -> Path:
    """Write the evidence of `summary` with each row's environment fingerprint (measured where
    the row runs), so the registry trusts it only on environments like those."""
    from ..backends.record import attach
    path = path or default_evidence_path()
    evidence = attach(evidence_from(summary), later=False)
    evidence["generated_by"] = "mlvc selftest --record"
    path.write_text(json.dumps(evidence, indent=2, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":  # pragma: no cover
    print(format_table(run_matrix(emulated=bool(os.environ.get("MLVC_EMULATED")))))
