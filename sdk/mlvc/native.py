"""C kernels (the `*_kernel.c` files next to the code they speed up), compiled on first use with
the system C compiler and loaded with ctypes.  Optional: without a compiler (or with
MLVC_NATIVE=0) the callers run their NumPy code, which computes the same integers, only slower.
Each caller's tests compare the two paths.

Libraries are cached under $MLVC_CACHE (default ~/.cache/mlvc), keyed by the source's hash and
the machine, and written atomically, so concurrent processes can build them at once.  Plain
-O3 (no -march=native): one build serves every CPU of the architecture; integer code only, so
the optimiser cannot change a result.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

I64 = ctypes.c_int64
I64P = ctypes.POINTER(ctypes.c_int64)
I32P = ctypes.POINTER(ctypes.c_int32)
U16P = ctypes.POINTER(ctypes.c_uint16)
I8P = ctypes.POINTER(ctypes.c_int8)
U8P = ctypes.POINTER(ctypes.c_uint8)

_FLAGS = ("-O3", "-shared", "-fPIC")
_loaded: dict[Path, ctypes.CDLL | None] = {}


def _cache_dir() -> Path:
    base = os.environ.get("MLVC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlvc")
    return Path(base)


def _build(source: Path) -> ctypes.CDLL | None:
    code = source.read_bytes()
    key = hashlib.sha256(code + " ".join(_FLAGS).encode() + platform.machine().encode()
                         ).hexdigest()[:16]
    target = _cache_dir() / f"{source.stem}-{key}.so"
    if not target.exists():
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            subprocess.run([cc, *_FLAGS, "-o", tmp, str(source)],
                           check=True, capture_output=True, timeout=120)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return ctypes.CDLL(str(target))


def load(source: Path, functions: dict) -> ctypes.CDLL | None:
    """The library built from `source` with `functions` {name: (restype, [argtypes])} declared,
    or None (no compiler, MLVC_NATIVE=0, a failed build, or a library this process cannot load,
    as under qemu with the host's compiler)."""
    if os.environ.get("MLVC_NATIVE", "1") == "0":
        return None
    if source not in _loaded:
        try:
            lib = _build(source)
            if lib is not None:
                for name, (restype, argtypes) in functions.items():
                    fn = getattr(lib, name)
                    fn.restype, fn.argtypes = restype, argtypes
        except (OSError, AttributeError, subprocess.SubprocessError):
            lib = None
        _loaded[source] = lib
    return _loaded[source]


def ptr(a: np.ndarray, kind=I64P):
    """A ctypes pointer to a contiguous array's data."""
    return a.ctypes.data_as(kind)
