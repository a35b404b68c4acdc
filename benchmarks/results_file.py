"""The one results file the README's numbers come from: docs/results.json.

Each benchmark merges its own section into it (bench_codec.py: "speed", bench_rd.py:
"intra_rd" and "video_rd") and leaves the other sections as they are; tools/render_readme.py
then regenerates the README's results section from the file.  Every entry records when and on
what machine it was measured (`machine()`).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "docs" / "results.json"


def _cpu() -> tuple[str, set[str]]:
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key == "model name" and name in ("", platform.machine(), platform.processor()):
                name = val.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(val.split())
    except OSError:
        pass
    return name, flags


def machine() -> dict:
    """What decides the speed numbers: CPU model and features, cores, memory, runtime versions."""
    name, flags = _cpu()
    level = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else
             "SSE4.2" if "sse4_2" in flags else "NEON" if "asimd" in flags else "baseline")
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 2 ** 20)
    except OSError:
        pass
    versions = {}
    from importlib import metadata
    for pkg in ("numpy", "ai-edge-litert", "tflite-runtime"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    cores = os.cpu_count()
    return {"cpu": name, "isa": level, "cores": cores, "memory_gib": mem,
            "python": platform.python_version(), "versions": versions,
            "label": f"{cores}-core {platform.machine()} {name} ({level})"
                     f"{f', {mem} GiB' if mem else ''}"}


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).date().isoformat()


def load(path: Path | str = DEFAULT) -> dict:
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else {}


def save(data: dict, path: Path | str = DEFAULT) -> None:
    """Writes the file atomically (a temporary file in the same folder, then renamed)."""
    p = Path(path)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".part")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, p)


def span(values) -> dict:
    """A measured range: {"min", "max", "runs"}."""
    values = [float(v) for v in values]
    return {"min": min(values), "max": max(values), "runs": len(values)}


def merge_span(old: dict | None, value: float) -> dict:
    if not old:
        return span([value])
    return {"min": min(old["min"], value), "max": max(old["max"], value),
            "runs": old["runs"] + 1}


def merge_entry(path: Path | str, section: str, key: str, entry: dict,
                spans: tuple[str, ...] = (), same: tuple[str, ...] = ()) -> dict:
    """Puts `entry` under results[section]["entries"][key] and saves the file.

    Fields named in `spans` hold ranges: when the previous entry for `key` was measured on the
    same day and machine and agrees on the fields in `same`, the new value widens its range
    (another run); otherwise the entry is replaced.  Returns the merged entry."""
    data = load(path)
    sec = data.setdefault(section, {})
    entries = sec.setdefault("entries", {})
    old = entries.get(key)
    again = (old is not None and old.get("date") == entry.get("date")
             and old.get("machine", {}).get("label") == entry.get("machine", {}).get("label")
             and all(old.get(f) == entry.get(f) for f in same))
    new = dict(entry)
    for f in spans:
        if f in entry and entry[f] is not None:
            new[f] = merge_span(old.get(f) if again else None, entry[f])
    entries[key] = new
    save(data, path)
    return new


def merge_section(path: Path | str, section: str, items: dict, **fields) -> None:
    """results[section]["entries"] gains (or replaces) `items` by key; `fields` are set on the
    section itself (e.g. its description)."""
    data = load(path)
    sec = data.setdefault(section, {})
    sec.update(fields)
    sec.setdefault("entries", {}).update(items)
    save(data, path)
