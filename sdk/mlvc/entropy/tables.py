"""Frozen integer CDF tables: loaded from the model package, validated, hashed, never rebuilt.

Table t covers the symbols -radius[t] .. +radius[t]; `cdf` holds for each table the cumulative
frequencies 0 = c[0] < c[1] < ... < c[n] = 2**PRECISION (every symbol has frequency >= 1).
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..errors import ModelError

PRECISION = 16
TOTAL = 1 << PRECISION


class CdfTables:
    def __init__(self, radius: np.ndarray, cdf_flat: np.ndarray):
        radius = np.asarray(radius, dtype=np.int64)
        cdf_flat = np.asarray(cdf_flat, dtype=np.int64)
        if radius.ndim != 1 or radius.size == 0 or np.any(radius < 1) or np.any(radius > 255):
            raise ModelError("CDF tables: radii must be 1..255")
        sizes = 2 * radius + 2                      # n + 1 entries for n = 2r + 1 symbols
        if cdf_flat.ndim != 1 or cdf_flat.size != int(sizes.sum()):
            raise ModelError("CDF tables: array length does not match the radii")
        self.radius = radius
        self.cdf_flat = cdf_flat
        self.start = np.concatenate([[0], np.cumsum(sizes)[:-1]])   # index of c[0] of table t
        for t in range(radius.size):
            c = cdf_flat[self.start[t]:self.start[t] + sizes[t]]
            if c[0] != 0 or c[-1] != TOTAL or np.any(np.diff(c) < 1):
                raise ModelError(f"CDF table {t} is not a valid {PRECISION}-bit CDF")
        self._lut: np.ndarray | None = None

    @property
    def num_tables(self) -> int:
        return int(self.radius.size)

    def sha256(self) -> str:
        h = hashlib.sha256()
        h.update(self.radius.astype("<i4").tobytes())
        h.update(self.cdf_flat.astype("<u4").tobytes())
        return h.hexdigest()

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"radius": self.radius.astype(np.int32), "cdf": self.cdf_flat.astype(np.uint32)}

    # -- per-symbol lookups used by the rANS coder ----------------------------------------------
    def lo_freq(self, tables: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative start and frequency of table-local symbol `index` in table `tables`."""
        g = self.start[tables] + index
        lo = self.cdf_flat[g]
        return lo, self.cdf_flat[g + 1] - lo

    def slot_lookup(self) -> np.ndarray:
        """(table, slot) -> packed (symbol index, cumulative start, frequency), one int64 each:
        bits 0-11 symbol, 12-31 start, 32-49 frequency.  Derived from the integers only; one
        gather per decoded symbol instead of three.  Indexed by table * 2**16 + slot."""
        if self._lut is None:
            lut = np.empty((self.num_tables, TOTAL), np.int64)
            for t in range(self.num_tables):
                c = self.cdf_flat[self.start[t]:self.start[t] + 2 * self.radius[t] + 2]
                f = np.diff(c)
                packed = np.arange(c.size - 1, dtype=np.int64) | (c[:-1] << 12) | (f << 32)
                lut[t] = np.repeat(packed, f)
            self._lut = lut.reshape(-1)
        return self._lut


def symbol_to_index(symbols: np.ndarray, tables: np.ndarray, t: CdfTables) -> np.ndarray:
    """Signed symbol -> table-local index (symbols must already lie inside the table)."""
    return symbols.astype(np.int64) + t.radius[tables]
