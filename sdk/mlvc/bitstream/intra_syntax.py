"""The intra payload syntax (docs/bitstream.md §3), read and written in one place.

A coded signed picture (an I-frame, or a P-frame's residual after its motion data) is two rANS
substreams: the hyper-latent symbols, then the latent symbols, whose tables the decoder only
knows after running h_s on the first.  So reading takes two steps (`read_z_symbols`, then
`read_y_symbols` with the tables h_s gave) and writing one (`write_intra_payload`).

Symbols, tables and bytes only, like container.py and inter_syntax.py: no networks.  The codec
(codec/hyperprior.py), the fuzzer's re-coder and the golden-file writer all use these.
"""
from __future__ import annotations

import struct

import numpy as np

from ..entropy import rans
from ..errors import CorruptStreamError

_Z_LEN = struct.Struct("<I")


def write_intra_payload(sz: np.ndarray, z_tables: np.ndarray, sy: np.ndarray,
                        y_tables: np.ndarray, tables) -> bytes:
    """u32 Z, the z substream, the y substream.  `sz`, `sy`: signed symbols (flattened, each
    within its table's radius); `z_tables`, `y_tables`: the table of every symbol."""
    z_tables = np.asarray(z_tables, np.int64).reshape(-1)
    y_tables = np.asarray(y_tables, np.int64).reshape(-1)
    z_bytes = rans.encode(np.asarray(sz, np.int64).reshape(-1) + tables.radius[z_tables],
                          z_tables, tables)
    y_bytes = rans.encode(np.asarray(sy, np.int64).reshape(-1) + tables.radius[y_tables],
                          y_tables, tables)
    return _Z_LEN.pack(len(z_bytes)) + z_bytes + y_bytes


def read_z_symbols(payload, z_tables: np.ndarray, tables) -> tuple[np.ndarray, memoryview]:
    """The signed hyper-latent symbols and the bytes of the y substream."""
    view = memoryview(payload)
    if len(view) < _Z_LEN.size:
        raise CorruptStreamError("intra payload truncated")
    (zlen,) = _Z_LEN.unpack_from(view, 0)
    if zlen > len(view) - _Z_LEN.size:
        raise CorruptStreamError("intra payload: z substream longer than the payload")
    z_tables = np.asarray(z_tables, np.int64).reshape(-1)
    start = _Z_LEN.size
    sz = rans.decode(view[start:start + zlen], z_tables, tables) - tables.radius[z_tables]
    return sz, view[start + zlen:]


def read_y_symbols(y_bytes, y_tables: np.ndarray, tables) -> np.ndarray:
    """The signed latent symbols of the y substream (which must end at the payload end)."""
    y_tables = np.asarray(y_tables, np.int64).reshape(-1)
    return rans.decode(y_bytes, y_tables, tables) - tables.radius[y_tables]
