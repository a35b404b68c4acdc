"""Interleaved rANS with 32-bit states, 16-bit words and 16-bit frequencies (docs/bitstream.md).

Symbol i is coded on lane i mod L; all lanes share one word queue.  The decoder, for each step
j = 0, 1, ... and each lane l in ascending order, decodes symbol j*L + l and then, if the lane's
state fell below 2**16, reads the next word.  That order is what makes the scalar decoder (the
Kotlin and Swift ports) a few lines, while NumPy decodes all lanes of a step at once.

Substream layout: u16 lanes, u32 word count, lanes x u32 initial states, words x u16.
A decoder checks that every lane ends in the encoder's initial state (2**16) and that every word
was consumed: a corrupt substream almost never passes both.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .. import native
from ..errors import CorruptStreamError, InvalidArgumentError
from .tables import PRECISION, CdfTables

STATE_LOW = 1 << 16
MAX_LANES = 1024

# the same loops in C (rans_kernel.c; native.py builds it on first use)
_KERNEL = Path(__file__).with_name("rans_kernel.c")
_KERNEL_FUNCTIONS = {
    "mlvc_rans_decode": (native.I64, [native.I64, native.I64, native.I64P, native.U16P,
                                      native.I64, native.I64P, native.I64, native.I64P,
                                      native.I64, native.I64P]),
    "mlvc_rans_encode": (native.I64, [native.I64, native.I64, native.I64P, native.I64P,
                                      native.I64, native.I64P, native.U16P]),
}


def _kernel():
    return native.load(_KERNEL, _KERNEL_FUNCTIONS)


def choose_lanes(n: int) -> int:
    """Encoder's lane count: wide enough for NumPy speed, narrow enough that the 32 flush bits
    per lane stay a small share of the substream."""
    if n <= 0:
        return 0
    return int(min(256, max(1, n // 1024)))


def encode(index: np.ndarray, tables: np.ndarray, cdf: CdfTables, lanes: int | None = None
           ) -> bytes:
    """Code table-local symbol indices `index` with per-symbol table ids `tables`."""
    index = np.asarray(index, np.int64).reshape(-1)
    tables = np.asarray(tables, np.int64).reshape(-1)
    n = index.size
    if tables.size != n:
        raise InvalidArgumentError("rANS: one table id per symbol")
    if n and (np.any(tables < 0) or np.any(tables >= cdf.num_tables) or np.any(index < 0)
              or np.any(index > 2 * cdf.radius[tables])):
        raise InvalidArgumentError("rANS: symbol outside its table")
    lanes = choose_lanes(n) if lanes is None else lanes
    if n == 0:
        return struct.pack("<HI", 0, 0)
    if not 1 <= lanes <= min(n, MAX_LANES):
        raise InvalidArgumentError(f"rANS: lane count {lanes} invalid for {n} symbols")
    lo, freq = cdf.lo_freq(tables, index)
    return encode_lo_freq(lo, freq, lanes)


def binary_lo_freq(bits: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative start, frequency) of binary symbols `bits` (0 / 1) with frequency-of-0 `f`
    (1..65535): the table [0, f, 65536] of docs/bitstream.md §4c."""
    bits = np.asarray(bits, np.int64)
    f = np.asarray(f, np.int64)
    return np.where(bits == 0, 0, f), np.where(bits == 0, f, (1 << PRECISION) - f)


def encode_lo_freq(lo: np.ndarray, freq: np.ndarray, lanes: int | None = None) -> bytes:
    """Code symbols given directly by their cumulative start and frequency (any mix of table
    symbols and binary symbols, in decoding order)."""
    lo = np.asarray(lo, np.int64).reshape(-1)
    freq = np.asarray(freq, np.int64).reshape(-1)
    n = lo.size
    if freq.size != n:
        raise InvalidArgumentError("rANS: one frequency per symbol")
    if n and (np.any(freq < 1) or np.any(lo < 0) or np.any(lo + freq > (1 << PRECISION))):
        raise InvalidArgumentError("rANS: symbol frequency outside the table")
    lanes = choose_lanes(n) if lanes is None else lanes
    if n == 0:
        return struct.pack("<HI", 0, 0)
    if not 1 <= lanes <= min(n, MAX_LANES):
        raise InvalidArgumentError(f"rANS: lane count {lanes} invalid for {n} symbols")
    lib = _kernel()
    if lib is not None:
        x = np.full(lanes, STATE_LOW, np.int64)
        lo, freq = np.ascontiguousarray(lo, np.int64), np.ascontiguousarray(freq, np.int64)
        buf = np.empty(n, np.uint16)
        count = lib.mlvc_rans_encode(n, lanes, native.ptr(lo), native.ptr(freq), PRECISION,
                                     native.ptr(x), native.ptr(buf, native.U16P))
        if count < 0:
            raise InvalidArgumentError("rANS: a symbol has zero frequency")
        return (struct.pack("<HI", lanes, count) + x.astype("<u4").tobytes()
                + buf[n - count:].astype("<u2").tobytes())
    steps = -(-n // lanes)
    pad = steps * lanes - n
    lo = np.concatenate([lo, np.zeros(pad, np.int64)]).reshape(steps, lanes)
    freq = np.concatenate([freq, np.ones(pad, np.int64)]).reshape(steps, lanes)
    x = np.full(lanes, STATE_LOW, np.int64)
    chunks = []
    for j in range(steps - 1, -1, -1):
        active = lanes if j < steps - 1 else lanes - pad
        f, c = freq[j, :active], lo[j, :active]
        xa = x[:active]
        emit = xa >= (f << 16)
        chunks.append((xa[emit] & 0xFFFF).astype("<u2"))
        xa = np.where(emit, xa >> 16, xa)
        x[:active] = ((xa // f) << PRECISION) + (xa % f) + c
    words = np.concatenate(chunks[::-1]) if chunks else np.zeros(0, "<u2")
    return (struct.pack("<HI", lanes, words.size) + x.astype("<u4").tobytes()
            + words.astype("<u2").tobytes())


def substream_size(data: bytes | memoryview, offset: int = 0) -> int:
    """Total byte size of the substream starting at `offset` (validated against `data`)."""
    if len(data) - offset < 6:
        raise CorruptStreamError("rANS substream header truncated")
    lanes, nwords = struct.unpack_from("<HI", data, offset)
    size = 6 + 4 * lanes + 2 * nwords
    if size > len(data) - offset:
        raise CorruptStreamError("rANS substream truncated")
    return size


def decode(data: bytes | memoryview, tables: np.ndarray, cdf: CdfTables) -> np.ndarray:
    """Decode len(tables) table-local symbol indices from one complete substream `data`."""
    tables = np.asarray(tables, np.int64).reshape(-1)
    n = tables.size
    size = substream_size(data)
    if size != len(data):
        raise CorruptStreamError("rANS substream has trailing bytes")
    lanes, nwords = struct.unpack_from("<HI", data, 0)
    if n == 0:
        if lanes or nwords:
            raise CorruptStreamError("rANS substream not empty for zero symbols")
        return np.zeros(0, np.int64)
    if not 1 <= lanes <= min(n, MAX_LANES):
        raise CorruptStreamError(f"rANS lane count {lanes} invalid for {n} symbols")
    # A word is read at most once per symbol: more words than symbols cannot be valid.
    if nwords > n:
        raise CorruptStreamError("rANS substream declares more words than symbols")
    x = np.frombuffer(data, "<u4", lanes, 6).astype(np.int64)
    words = np.frombuffer(data, "<u2", nwords, 6 + 4 * lanes)
    if np.any(x < STATE_LOW):
        raise CorruptStreamError("rANS initial state out of range")
    if np.any(tables < 0) or np.any(tables >= cdf.num_tables):
        raise InvalidArgumentError("rANS: table id out of range")
    lut = cdf.slot_lookup()
    lib = _kernel()
    if lib is not None:
        w16 = np.ascontiguousarray(words, np.uint16)
        tables = np.ascontiguousarray(tables, np.int64)
        out = np.empty(n, np.int64)
        p = lib.mlvc_rans_decode(n, lanes, native.ptr(x), native.ptr(w16, native.U16P), nwords,
                                 native.ptr(tables), cdf.num_tables, native.ptr(lut), PRECISION,
                                 native.ptr(out))
        if p < 0:
            raise CorruptStreamError("rANS substream ran out of words")
        if p != nwords or np.any(x != STATE_LOW):
            raise CorruptStreamError("rANS substream did not end in the initial state")
        return out
    total = 1 << PRECISION
    steps = -(-n // lanes)
    tpad = np.concatenate([tables, np.zeros(steps * lanes - n, np.int64)]).reshape(steps, lanes)
    out = np.empty((steps, lanes), np.int64)
    base = tpad * total
    mask16 = total - 1
    p = 0
    for j in range(steps):
        active = lanes if j < steps - 1 else n - j * lanes
        xa = x[:active]
        slot = xa & mask16
        packed = lut[base[j, :active] + slot]
        sym = packed & 0xFFF
        xa = (packed >> 32) * (xa >> PRECISION) + slot - ((packed >> 12) & 0xFFFFF)
        need = xa < STATE_LOW
        k = int(np.count_nonzero(need))
        if k:
            if p + k > nwords:
                raise CorruptStreamError("rANS substream ran out of words")
            xa[need] = (xa[need] << 16) | words[p:p + k].astype(np.int64)
            p += k
        x[:active] = xa
        out[j, :active] = sym
    if p != nwords or np.any(x != STATE_LOW):
        raise CorruptStreamError("rANS substream did not end in the initial state")
    return out.reshape(-1)[:n]


def decode_scalar(data: bytes, tables: np.ndarray, cdf: CdfTables) -> np.ndarray:
    """The same decoder one symbol at a time: the form the Kotlin and Swift ports follow."""
    tables = [int(t) for t in np.asarray(tables).reshape(-1)]
    lanes, nwords = struct.unpack_from("<HI", data, 0)
    x = list(struct.unpack_from(f"<{lanes}I", data, 6))
    words = struct.unpack_from(f"<{nwords}H", data, 6 + 4 * lanes)
    p, out = 0, []
    for i, t in enumerate(tables):
        lane = i % lanes
        s = x[lane]
        slot = s & 0xFFFF
        start = int(cdf.start[t])
        k = 0
        while cdf.cdf_flat[start + k + 1] <= slot:
            k += 1
        lo = int(cdf.cdf_flat[start + k])
        f = int(cdf.cdf_flat[start + k + 1]) - lo
        s = f * (s >> 16) + slot - lo
        if s < STATE_LOW:
            if p >= nwords:
                raise CorruptStreamError("rANS substream ran out of words")
            s = (s << 16) | words[p]
            p += 1
        x[lane] = s
        out.append(k)
    if p != nwords or any(v != STATE_LOW for v in x):
        raise CorruptStreamError("rANS substream did not end in the initial state")
    return np.array(out, np.int64)


class RansReader:
    """Incremental, bounds-checked decoder of one substream (docs/bitstream.md §5) for syntax
    whose symbol count and tables depend on the symbols already read (the block tree of §4c):
    one symbol at a time, each with its own table (`symbol`) or binary frequency (`binary`),
    every violation a CorruptStreamError; the end checks that need the symbol count N
    (1 <= L <= N, W <= N, every word consumed, every state back at 2**16) in `finish`.  The same
    arithmetic as `decode`, so on a substream both accept they return the same symbols.
    `max_symbols`: the most symbols the caller's syntax can need; reading more is corrupt."""

    def __init__(self, data: bytes | memoryview, cdf: CdfTables | None = None,
                 max_symbols: int | None = None):
        data = bytes(data)
        size = substream_size(data)
        if size != len(data):
            raise CorruptStreamError("rANS substream has trailing bytes")
        self.lanes, self.words = struct.unpack_from("<HI", data, 0)
        if self.lanes > MAX_LANES:
            raise CorruptStreamError(f"rANS lane count {self.lanes} above {MAX_LANES}")
        if self.lanes == 0 and self.words:
            raise CorruptStreamError("rANS substream not empty for zero symbols")
        self._x = list(struct.unpack_from(f"<{self.lanes}I", data, 6))
        if any(v < STATE_LOW for v in self._x):
            raise CorruptStreamError("rANS initial state out of range")
        self._w = struct.unpack_from(f"<{self.words}H", data, 6 + 4 * self.lanes)
        self._data = data
        self._p = 0
        self._lane = 0
        self.count = 0
        self.cdf = cdf
        self.max_symbols = max_symbols

    def _slot(self) -> tuple[int, int]:
        if self.lanes == 0:
            raise CorruptStreamError("rANS substream has no lanes for a symbol")
        if self.max_symbols is not None and self.count >= self.max_symbols:
            raise CorruptStreamError("rANS: more symbols than the syntax allows")
        s = self._x[self._lane]
        return s, s & 0xFFFF

    def _advance(self, s: int, slot: int, lo: int, f: int) -> None:
        s = f * (s >> 16) + slot - lo
        if s < STATE_LOW:
            if self._p >= self.words:
                raise CorruptStreamError("rANS substream ran out of words")
            s = (s << 16) | self._w[self._p]
            self._p += 1
        self._x[self._lane] = s
        self.count += 1
        self._lane += 1
        if self._lane == self.lanes:
            self._lane = 0

    def binary(self, f: int) -> int:
        """A binary symbol whose 0 has frequency f (1..65535; the table [0, f, 65536])."""
        if not 1 <= f < (1 << PRECISION):
            raise CorruptStreamError(f"binary symbol frequency {f} outside 1..65535")
        s, slot = self._slot()
        if slot < f:
            self._advance(s, slot, 0, f)
            return 0
        self._advance(s, slot, f, (1 << PRECISION) - f)
        return 1

    def symbol(self, t: int) -> int:
        """The next symbol's table-local index k (0 .. 2 radius[t]) with table t."""
        cdf = self.cdf
        if cdf is None or not 0 <= t < cdf.num_tables:
            raise CorruptStreamError(f"rANS: table {t} does not exist")
        s, slot = self._slot()
        lut = cdf.slot_lookup()
        packed = int(lut[(t << PRECISION) + slot])
        self._advance(s, slot, (packed >> 12) & 0xFFFFF, packed >> 32)
        return packed & 0xFFF

    def signed(self, t: int) -> int:
        """The next symbol's value k - radius[t]."""
        return self.symbol(t) - int(self.cdf.radius[t])

    def native_state(self):
        """(lane states int64, words uint16) for a C loop that continues this reader; give
        its result back with `resume`."""
        return (np.array(self._x, np.int64),
                np.frombuffer(self._data, "<u2", self.words, 6 + 4 * self.lanes).astype(np.uint16))

    def resume(self, states: np.ndarray, p: int, count: int, lane: int) -> None:
        self._x = [int(v) for v in states]
        self._p, self.count, self._lane = int(p), int(count), int(lane)

    def finish(self) -> None:
        """The end checks of §5, once every symbol is read."""
        n = self.count
        if n == 0:
            if self.lanes or self.words:
                raise CorruptStreamError("rANS substream not empty for zero symbols")
            return
        if not 1 <= self.lanes <= min(n, MAX_LANES):
            raise CorruptStreamError(f"rANS lane count {self.lanes} invalid for {n} symbols")
        if self.words > n:
            raise CorruptStreamError("rANS substream declares more words than symbols")
        if self._p != self.words or any(v != STATE_LOW for v in self._x):
            raise CorruptStreamError("rANS substream did not end in the initial state")
