"""rANS: round trips (vectorised and scalar decoders agree), corruption is detected."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mlvc.entropy import rans
from mlvc.entropy.tables import CdfTables
from mlvc.errors import CorruptStreamError, ModelError
from mlvc_convert.tables import build_tables

TABLES = build_tables(40, 0.11, 8)


def _symbols(n, seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, TABLES.num_tables, n)
    s = np.round(rng.normal(0, 0.11 * 2 ** (t / 8))).astype(np.int64)
    s = np.clip(s, -TABLES.radius[t], TABLES.radius[t])
    return s + TABLES.radius[t], t


@pytest.mark.parametrize("n,lanes", [(1, None), (7, 3), (1000, None), (5000, 17), (70000, None),
                                     (300, 300)])
def test_round_trip(n, lanes):
    idx, t = _symbols(n, n)
    data = rans.encode(idx, t, TABLES, lanes)
    assert np.array_equal(rans.decode(data, t, TABLES), idx)
    if n <= 5000:
        assert np.array_equal(rans.decode_scalar(data, t, TABLES), idx)


def test_rate_close_to_ideal():
    idx, t = _symbols(65536, 1)
    lo, f = TABLES.lo_freq(t, idx)
    ideal = float(np.sum(-np.log2(f / 65536.0))) / 8
    assert len(rans.encode(idx, t, TABLES)) < ideal * 1.03 + 64


def test_empty_substream():
    data = rans.encode(np.zeros(0, int), np.zeros(0, int), TABLES)
    assert rans.decode(data, np.zeros(0, int), TABLES).size == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 400))
def test_flipped_bits_are_detected_or_decode_in_bounds(pos_seed, n):
    idx, t = _symbols(n, pos_seed % 1000)
    data = bytearray(rans.encode(idx, t, TABLES))
    pos = pos_seed % len(data)
    data[pos] ^= 1 << (pos_seed % 8)
    try:
        out = rans.decode(bytes(data), t, TABLES)
    except CorruptStreamError:
        return
    # A flip that survives the end-state check must still give symbols inside their tables.
    assert np.all(out >= 0) and np.all(out <= 2 * TABLES.radius[t])


def test_truncation_is_corrupt():
    idx, t = _symbols(2000, 5)
    data = rans.encode(idx, t, TABLES)
    for cut in range(0, len(data), 37):
        with pytest.raises(CorruptStreamError):
            rans.decode(data[:cut], t, TABLES)


def test_invalid_tables_rejected():
    with pytest.raises(ModelError):
        CdfTables(np.array([1]), np.array([0, 100, 100, 65536]))
    with pytest.raises(ModelError):
        CdfTables(np.array([1]), np.array([0, 1, 2]))


def test_table_hash_is_stable():
    assert build_tables(40, 0.11, 8).sha256() == TABLES.sha256()


def _numpy_loops(monkeypatch):
    monkeypatch.setenv("MLVC_NATIVE", "0")


def test_the_c_kernel_is_built_here():
    """CI has a C compiler (scripts/test.sh installs one), so the fast path is what is tested."""
    assert rans._kernel() is not None


@pytest.mark.parametrize("n,lanes", [(1, None), (7, 3), (1000, None), (5000, 17), (70000, None),
                                     (300, 300), (1025, 1024)])
def test_c_kernel_and_numpy_loops_agree(monkeypatch, n, lanes):
    idx, t = _symbols(n, n + 1)
    fast = rans.encode(idx, t, TABLES, lanes)
    fast_out = rans.decode(fast, t, TABLES)
    _numpy_loops(monkeypatch)
    slow = rans.encode(idx, t, TABLES, lanes)
    assert fast == slow                                   # byte-identical substreams
    assert np.array_equal(rans.decode(slow, t, TABLES), fast_out)
    assert np.array_equal(fast_out, idx)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 600), st.integers(0, 3))
def test_c_kernel_and_numpy_loops_fail_alike(pos_seed, n, how):
    """Corrupt substreams: both paths raise the same error (or decode the same symbols)."""
    import os
    idx, t = _symbols(n, pos_seed % 97)
    data = bytearray(rans.encode(idx, t, TABLES))
    rng = np.random.default_rng(pos_seed)
    if how == 0:
        data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
    elif how == 1:
        data = data[:int(rng.integers(0, len(data)))]
    elif how == 2:
        data[6:6 + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
    else:
        data += rng.integers(0, 256, 2, dtype=np.uint8).tobytes()
    results = []
    for flag in ("1", "0"):
        os.environ["MLVC_NATIVE"] = flag
        try:
            results.append(("ok", rans.decode(bytes(data), t, TABLES).tolist()))
        except CorruptStreamError as exc:
            results.append(("corrupt", str(exc)))
        finally:
            os.environ.pop("MLVC_NATIVE", None)
    assert results[0] == results[1]


def test_decode_rejects_table_ids_out_of_range():
    from mlvc.errors import InvalidArgumentError
    idx, t = _symbols(50, 3)
    data = rans.encode(idx, t, TABLES)
    for bad in (-1, TABLES.num_tables):
        t2 = t.copy()
        t2[10] = bad
        with pytest.raises(InvalidArgumentError):
            rans.decode(data, t2, TABLES)
