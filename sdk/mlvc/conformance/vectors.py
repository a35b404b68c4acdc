"""Conformance vectors (libvpx style) and the runner behind `mlvc conformance`.

A vectors directory holds `manifest.json`; for each valid vector a stream and a `.md5` file
(one line per decoded frame), and for each invalid one the error kind it must raise.  The
manifest records every file's SHA-256, so a damaged vector set is reported as such.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from ..errors import InvalidArgumentError, MLVCError

# name, width, height, frames, quality, GOP: every level, I and P frames, several GOPs,
# odd and non-multiple-of-64 sizes.  The first eleven use the 16x16 grid tools of bitstream 1.0
# (modes 0-3: INTER_OPTIONS forces each mode in one vector, whole- and half-pixel residual
# frames, modes 1 and 3; skip frames, modes 0 and 2, whatever a future model chooses); the
# "tree_" vectors the block-tree tools of §4c (modes 4/5, bitstream 1.1) on panning content
# (golden.moving_frames): every PB size 8..64, merge (both indices), per-block skip,
# quarter-pixel phases at the picture edges, deblocking on; tests/test_blocktree.py checks that
# the set covers each tool.
VECTORS = (
    ("q1_64x64", 64, 64, 2, 1, 1),
    ("q2_53x37", 53, 37, 3, 2, 1),
    ("q3_176x144_gop3", 176, 144, 5, 3, 3),
    ("q4_130x66_gop2", 130, 66, 4, 4, 2),
    ("q4_1x1", 1, 1, 1, 4, 1),
    ("q2_200x17_gop4", 200, 17, 4, 2, 4),
    ("q1_96x80_gop8", 96, 80, 3, 1, 8),
    ("q3_72x48_wholepel_gop3", 72, 48, 4, 3, 3),
    ("q2_48x40_halfpel_gop3", 48, 40, 3, 2, 3),
    ("q2_48x32_skip_gop3", 48, 32, 3, 2, 3),
    ("q2_40x24_halfpel_skip_gop3", 40, 24, 3, 2, 3),
    ("tree_q2_136x88_gop4", 136, 88, 4, 2, 4),
    ("tree_q3_200x72_residual_slow_gop3", 200, 72, 3, 3, 3),
    ("tree_q2_72x40_predonly_fast_gop3", 72, 40, 3, 2, 3),
    ("tree_q1_33x21_gop3", 33, 21, 3, 1, 3),
    ("tree_q4_64x48_residual_fast_gop2", 64, 48, 2, 4, 2),
)
_GRID = {"tools": "grid"}
# InterCodec settings of a vector (manifest entry "inter"): tools, mode_policy, half_pel, preset.
INTER_OPTIONS = {
    "q3_176x144_gop3": _GRID,
    "q4_130x66_gop2": _GRID,
    "q2_200x17_gop4": _GRID,
    "q1_96x80_gop8": _GRID,
    "q3_72x48_wholepel_gop3": {**_GRID, "mode_policy": "residual", "half_pel": False},
    "q2_48x40_halfpel_gop3": {**_GRID, "mode_policy": "residual", "half_pel": True},
    "q2_48x32_skip_gop3": {**_GRID, "mode_policy": "skip", "half_pel": False},
    "q2_40x24_halfpel_skip_gop3": {**_GRID, "mode_policy": "skip", "half_pel": True},
    "tree_q2_136x88_gop4": {"tools": "tree", "preset": "medium"},
    "tree_q3_200x72_residual_slow_gop3": {"tools": "tree", "preset": "slow",
                                          "mode_policy": "residual"},
    "tree_q2_72x40_predonly_fast_gop3": {"tools": "tree", "preset": "fast",
                                         "mode_policy": "skip"},
    "tree_q1_33x21_gop3": {"tools": "tree", "preset": "medium"},
    "tree_q4_64x48_residual_fast_gop2": {"tools": "tree", "preset": "fast",
                                         "mode_policy": "residual"},
}


def vector_frames(name: str, w: int, h: int, n: int, k: int):
    """The source pictures of vector number k."""
    from .golden import moving_frames, synthetic_frames
    if name.startswith("tree_"):
        return moving_frames(w, h, n, 100 + k)
    return synthetic_frames(w, h, n, 100 + k)


def _encoder(package: str | None, quality: int, backend: str, gop: int, inter: dict | None):
    from ..api import Encoder
    # intra_level_offset 0, p_level_cascade 0: every frame at the stated quality (the files stay
    # what they were; P-frame levels already differ from frame to frame)
    enc = Encoder(package=package, quality=quality, backend=backend, gop=gop,
                  intra_level_offset=0, p_level_cascade=0)
    for k, v in (inter or {}).items():
        setattr(enc.inter, k, v)
    return enc


def bundled_vectors_path() -> Path:
    return Path(str(resources.files("mlvc").joinpath("data", "vectors")))


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def make_vectors(out: Path, package: str | None = None) -> dict:
    """Generate the vector set with the NumPy reference encoder (deterministic)."""
    from ..api import Decoder
    from .hostile import write_catalogue
    out.mkdir(parents=True, exist_ok=True)
    import numpy as np
    entries, sources = [], {}
    for k, (name, w, h, n, q, gop) in enumerate(VECTORS):
        sources[name] = np.stack(vector_frames(name, w, h, n, k))
        stream = _encoder(package, q, "numpy", gop, INTER_OPTIONS.get(name)).encode(
            list(sources[name]))
        (out / f"{name}.mlvc").write_bytes(stream)
        md5s = [f.md5.hex() for f in Decoder(stream, package=package, backend="numpy").frames()]
        (out / f"{name}.md5").write_text("".join(f"{m}  frame {i}\n" for i, m in enumerate(md5s)))
        entries.append({"name": name, "stream": f"{name}.mlvc", "md5": f"{name}.md5",
                        "width": w, "height": h, "frames": n, "quality": q, "gop": gop,
                        **({"inter": INTER_OPTIONS[name]} if name in INTER_OPTIONS else {})})
    # The source pictures, so that any encoder can be checked for bitstream equality.
    np.savez_compressed(out / "sources.npz", **sources)
    # The hostile-stream catalogue (hostile.py): invalid/*.mlvc and invalid/catalogue.json.
    invalid = [{"name": c["name"], "stream": c["stream"], "error": c["error"]}
               for c in write_catalogue(out, entries, package)]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
                   and p.name != "manifest.json")
    manifest = {"format": "mlvc-conformance-vectors", "version": 1, "vectors": entries,
                "invalid": invalid, "sha256": {f: _sha(out / f) for f in files}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


@dataclass
class VectorResult:
    vector: str
    backend: str
    passed: bool
    frames: int = 0
    first_bad_frame: int | None = None
    detail: str = ""
    seconds: float = 0.0


def load_manifest(vectors: Path) -> dict:
    try:
        manifest = json.loads((vectors / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"{vectors}: no readable manifest.json ({exc})") from exc
    for rel, sha in manifest.get("sha256", {}).items():
        if not (vectors / rel).is_file() or _sha(vectors / rel) != sha:
            raise InvalidArgumentError(f"{vectors}: vector file {rel} is missing or damaged")
    return manifest


def run_vector(vectors: Path, entry: dict, backend: str, package: str | None) -> VectorResult:
    from ..api import Decoder
    t0 = time.perf_counter()
    expected = [line.split()[0] for line in (vectors / entry["md5"]).read_text().splitlines()]
    res = VectorResult(entry["name"], backend, False)
    try:
        dec = Decoder((vectors / entry["stream"]).read_bytes(), package=package, backend=backend,
                      verify_hashes=False)
        got = 0
        for f in dec.frames():
            if f.index >= len(expected) or f.md5.hex() != expected[f.index] or not f.verified:
                res.first_bad_frame = f.index
                res.detail = f"frame {f.index}: md5 {f.md5.hex()}"
                break
            got += 1
        res.frames = got
        res.passed = res.first_bad_frame is None and got == len(expected)
        if not res.passed and not res.detail:
            res.detail = f"{got} of {len(expected)} frames"
    except MLVCError as exc:
        res.detail = f"{exc.code}: {exc}"
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def run_encode(vectors: Path, entry: dict, backend: str, package: str | None) -> VectorResult:
    """Re-encode the vector's source pictures: the bytes must equal the vector's stream."""
    import numpy as np

    res = VectorResult(f"encode/{entry['name']}", backend, False)
    t0 = time.perf_counter()
    try:
        with np.load(vectors / "sources.npz") as z:
            frames = list(z[entry["name"]])
        stream = _encoder(package, entry["quality"], backend, entry.get("gop", 1),
                          entry.get("inter")).encode(frames)
        expected = (vectors / entry["stream"]).read_bytes()
        res.passed = stream == expected
        res.frames = len(frames)
        if not res.passed:
            diff = next((i for i, (a, b) in enumerate(zip(stream, expected)) if a != b),
                        min(len(stream), len(expected)))
            res.detail = f"stream differs from byte {diff}"
    except MLVCError as exc:
        res.detail = f"{exc.code}: {exc}"
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def run_invalid(vectors: Path, entry: dict, backend: str, package: str | None) -> VectorResult:
    from ..api import Decoder
    res = VectorResult(f"invalid/{entry['name']}", backend, False)
    t0 = time.perf_counter()
    try:
        Decoder((vectors / entry["stream"]).read_bytes(), package=package,
                backend=backend).decode_all()
        res.detail = f"decoded without error; expected {entry['error']}"
    except MLVCError as exc:
        res.passed = exc.code == entry["error"]
        res.detail = f"{exc.code}" + ("" if res.passed else f" (expected {entry['error']})")
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def run_conformance(vectors: Path | None, backends: list[str], package: str | None = None,
                    encode: bool = False) -> list[VectorResult]:
    vectors = Path(vectors) if vectors else bundled_vectors_path()
    manifest = load_manifest(vectors)
    results = []
    for b in backends:
        for e in manifest["vectors"]:
            results.append(run_vector(vectors, e, b, package))
        if encode:
            for e in manifest["vectors"]:
                results.append(run_encode(vectors, e, b, package))
        for e in manifest["invalid"]:
            results.append(run_invalid(vectors, e, b, package))
    return results


def results_json(results: list[VectorResult]) -> dict:
    return {"results": [asdict(r) for r in results],
            "passed": sum(r.passed for r in results),
            "failed": sum(not r.passed for r in results)}


def format_results(results: list[VectorResult]) -> str:
    backends = list(dict.fromkeys(r.backend for r in results))
    names = list(dict.fromkeys(r.vector for r in results))
    cell = {(r.vector, r.backend): r for r in results}
    width = max(len(n) for n in names) + 2
    lines = ["vector".ljust(width) + "".join(b.ljust(18) for b in backends)]
    for n in names:
        row = n.ljust(width)
        for b in backends:
            r = cell[(n, b)]
            txt = "pass" if r.passed else ("FAIL" + (f"@{r.first_bad_frame}"
                                                     if r.first_bad_frame is not None else ""))
            row += txt.ljust(18)
        lines.append(row)
    for r in results:
        if not r.passed:
            lines.append(f"  {r.vector} on {r.backend}: {r.detail}")
    p = sum(r.passed for r in results)
    lines.append(f"{p} passed, {len(results) - p} failed")
    return "\n".join(lines)
