"""The C rANS loops (rans_kernel.c), compiled on first use with the system C compiler and loaded
with ctypes.  Optional: without a compiler (or with MLVC_NATIVE=0) rans.py runs its NumPy
loops, which give the same bytes and symbols, only slower (NumPy's per-step overhead made rANS
about two thirds of the decode time at 640x272).

The library is cached under $MLVC_CACHE (default ~/.cache/mlvc), keyed by the source's hash
and the machine, and written atomically, so concurrent processes can build it at once.
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

_SOURCE = Path(__file__).with_name("rans_kernel.c")
_lib: ctypes.CDLL | None = None
_tried = False

_I64P = ctypes.POINTER(ctypes.c_int64)
_U16P = ctypes.POINTER(ctypes.c_uint16)
_I64 = ctypes.c_int64


def _cache_dir() -> Path:
    base = os.environ.get("MLVC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlvc")
    return Path(base)


def _build() -> ctypes.CDLL | None:
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(source + platform.machine().encode()).hexdigest()[:16]
    target = _cache_dir() / f"rans_kernel-{key}.so"
    if not target.exists():
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(_SOURCE)],
                           check=True, capture_output=True, timeout=120)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lib = ctypes.CDLL(str(target))
    lib.mlvc_rans_decode.restype = _I64
    lib.mlvc_rans_decode.argtypes = [_I64, _I64, _I64P, _U16P, _I64, _I64P, _I64, _I64P, _I64,
                                     _I64P]
    lib.mlvc_rans_encode.restype = _I64
    lib.mlvc_rans_encode.argtypes = [_I64, _I64, _I64P, _I64P, _I64, _I64P, _U16P]
    return lib


def kernel() -> ctypes.CDLL | None:
    """The loaded library, or None (no compiler, MLVC_NATIVE=0, or a failed build)."""
    global _lib, _tried
    if os.environ.get("MLVC_NATIVE", "1") == "0":
        return None
    if not _tried:
        _tried = True
        try:
            _lib = _build()
        except (OSError, subprocess.SubprocessError):
            _lib = None
    return _lib


def _p(a: np.ndarray, kind=_I64P):
    return a.ctypes.data_as(kind)


def decode(lib, x: np.ndarray, words: np.ndarray, tables: np.ndarray, num_tables: int,
           lut: np.ndarray, precision: int) -> tuple[np.ndarray, int]:
    """Symbols and words consumed (-1: ran out of words, -2: table id out of range); `x`
    (int64, contiguous) ends holding the final states."""
    words = np.ascontiguousarray(words, np.uint16)
    tables = np.ascontiguousarray(tables, np.int64)
    lut = np.ascontiguousarray(lut, np.int64)
    out = np.empty(tables.size, np.int64)
    p = lib.mlvc_rans_decode(tables.size, x.size, _p(x), _p(words, _U16P), words.size,
                             _p(tables), num_tables, _p(lut), precision, _p(out))
    return out, int(p)


def encode(lib, lo: np.ndarray, freq: np.ndarray, lanes: int, precision: int, x: np.ndarray
           ) -> np.ndarray | None:
    """The word queue (uint16) for symbols (lo, freq); `x` (lanes int64 at STATE_LOW) ends
    holding the final states.  None for a non-positive frequency."""
    lo = np.ascontiguousarray(lo, np.int64)
    freq = np.ascontiguousarray(freq, np.int64)
    buf = np.empty(lo.size, np.uint16)
    count = lib.mlvc_rans_encode(lo.size, lanes, _p(lo), _p(freq), precision, _p(x),
                                 _p(buf, _U16P))
    return None if count < 0 else buf[lo.size - count:]
