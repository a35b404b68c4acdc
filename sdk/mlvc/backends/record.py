"""Write `evidence.json` with the environment fingerprint of every matrix row.

    python -m mlvc.backends.record                 # run the matrix (in-process + emulated rows)
    python -m mlvc.backends.record --rows litert-xnnpack-1t,x86-haswell-xnnpack
    python -m mlvc.backends.record --attach-only   # keep the recorded results, add fingerprints

Each row's fingerprint (`fingerprint.py`) is measured in the environment that ran the row: this
process for in-process rows, `tools/emulation/run.sh TARGET -- -m mlvc.backends.fingerprint`
for emulated ones (CPUID there is qemu's model).  The registry trusts a row only for the
fingerprint it carries; a row without one covers nothing (so an evidence file written by
`mlvc selftest --record`, which has no fingerprints, makes every backend fall back to the probe).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
from pathlib import Path

from .fingerprint import fingerprint

FORMAT = 2


def _emulated_fingerprint(target: str, runtime: str, kernels: str, threads: int) -> dict:
    from ..conformance.selftest import REPO_ROOT
    cmd = ["bash", str(REPO_ROOT / "tools" / "emulation" / "run.sh"), target, "--", "-m",
           "mlvc.backends.fingerprint", runtime, kernels, str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{target}: fingerprint failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row_fingerprint(row: str) -> dict:
    """The fingerprint of one matrix row, measured where the row runs."""
    from ..conformance.selftest import EMULATED
    from .registry import SPECS
    if row in EMULATED:
        target, runtime, kernels, threads = EMULATED[row]
        fp = _emulated_fingerprint(target, runtime, kernels, threads)
    else:
        spec = SPECS[row]
        fp = fingerprint(spec.runtime, spec.kernels, spec.threads)
        from .fingerprint import cpu
        fp["features_from"] = cpu()["features_from"]
    return fp


def attach(evidence: dict, *, later: bool) -> dict:
    cache: dict[str, dict] = {}
    for conf in evidence["configurations"].values():
        for row, data in conf["rows"].items():
            if row not in cache:
                cache[row] = row_fingerprint(row)
            data["fingerprint"] = cache[row]
            if later:
                data["fingerprint_measured"] = "later, in the same target definition"
    evidence["format"] = FORMAT
    return evidence


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlvc.backends.record")
    p.add_argument("--rows", default=None, help="comma-separated matrix rows (default: all)")
    p.add_argument("--quick", action="store_true", help="battery without the large case")
    p.add_argument("--attach-only", action="store_true",
                   help="do not run the matrix: add fingerprints to the recorded rows")
    p.add_argument("-o", "--output", default=None)
    args = p.parse_args(argv)
    from ..conformance.selftest import default_evidence_path, evidence_from, format_table, \
        run_matrix
    path = Path(args.output) if args.output else default_evidence_path()
    if args.attach_only:
        evidence = attach(json.loads(default_evidence_path().read_text()), later=True)
    else:
        rows = args.rows.split(",") if args.rows else None
        summary = run_matrix(emulated=True, include_large=not args.quick, rows=rows)
        print(format_table(summary), file=sys.stderr)
        evidence = attach(evidence_from(summary), later=False)
        evidence["matrix_seconds"] = summary["seconds"]
    evidence["generated_by"] = "python -m mlvc.backends.record" + \
        (" --attach-only" if args.attach_only else "")
    evidence["recorded"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(evidence, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    print(f"evidence written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
