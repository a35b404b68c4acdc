"""The syntax modules of bitstream/: the intra payload (§3) and the container's editing helpers,
against the codec that uses them and the checks a decoder makes."""
import numpy as np
import pytest

from mlvc.bitstream import intra_syntax as syn
from mlvc.bitstream.container import (HEADER_FIELDS, HEADER_SIZE, RECORD_FIELDS,
                                      RECORD_HEADER_SIZE, StreamHeader, iter_records,
                                      record_offsets, reseal_header, reseal_record)
from mlvc.errors import CorruptStreamError
from mlvc.package.loader import load_package


@pytest.fixture(scope="module")
def tables():
    return load_package(None).tables


def test_intra_payload_round_trip(tables):
    rng = np.random.default_rng(5)
    zt = rng.integers(0, tables.num_tables, 40)
    yt = rng.integers(0, tables.num_tables, 300)
    def symbols(t):
        r = tables.radius[t].astype(np.int64)
        return np.floor(rng.random(t.size) * (2 * r + 1)).astype(np.int64) - r
    sz, sy = symbols(zt), symbols(yt)
    payload = syn.write_intra_payload(sz, zt, sy, yt, tables)
    got_z, rest = syn.read_z_symbols(payload, zt, tables)
    assert np.array_equal(got_z, sz)
    assert np.array_equal(syn.read_y_symbols(rest, yt, tables), sy)
    # the u32 length of the z substream leads the payload
    assert int.from_bytes(payload[:4], "little") == len(payload) - 4 - len(bytes(rest))


def test_intra_payload_matches_the_codec(tables):
    """The codec's payload is exactly the syntax module's layout of its own symbols."""
    from mlvc.api import Encoder
    from mlvc.conformance.golden import synthetic_frames
    enc = Encoder(quality=2, backend="numpy")
    rgb = synthetic_frames(64, 48, 1, 3)[0]
    coded = enc.codec.encode(rgb, 2)
    _, z_shape = enc.codec.latent_shapes(48, 64)
    sz, rest = syn.read_z_symbols(coded.payload, enc.codec.z_tables(z_shape), tables)
    assert np.array_equal(sz, coded.symbols_z)
    _, t = enc.codec.entropy_parameters(sz.reshape(z_shape).astype(np.int8), 2)
    assert np.array_equal(syn.read_y_symbols(rest, t, tables), coded.symbols_y)
    again = syn.write_intra_payload(coded.symbols_z, enc.codec.z_tables(z_shape),
                                    coded.symbols_y, t, tables)
    assert again == coded.payload


@pytest.mark.parametrize("payload,message", [
    (b"", "truncated"), (b"\x01\x00\x00", "truncated"),
    (b"\x09\x00\x00\x00" + b"\x00" * 8, "longer than the payload"),
    (b"\xff\xff\xff\xff" + b"\x00" * 30, "longer than the payload")])
def test_intra_payload_bad_lengths_are_corrupt(tables, payload, message):
    with pytest.raises(CorruptStreamError, match=message):
        syn.read_z_symbols(payload, np.zeros(4, np.int64), tables)


def test_container_editing_helpers():
    from mlvc.api import Encoder
    from mlvc.conformance.golden import synthetic_frames
    stream = Encoder(quality=1, backend="numpy", gop=1).encode(synthetic_frames(32, 32, 3, 1))
    header = StreamHeader.unpack(stream)
    offs = record_offsets(stream)
    assert offs[0] == HEADER_SIZE and len(offs) == header.frame_count == 3
    lengths = [len(r.payload) for r in iter_records(stream, header)]
    assert [b - a for a, b in zip(offs, offs[1:])] == [RECORD_HEADER_SIZE + n
                                                       for n in lengths[:-1]]
    assert record_offsets(stream[:-1]) == offs[:2]          # a cut record is not listed
    # the named offsets are where StreamHeader reads its fields
    d = bytearray(stream)
    d[HEADER_FIELDS["width"]:HEADER_FIELDS["width"] + 2] = (31).to_bytes(2, "little")
    with pytest.raises(CorruptStreamError, match="checksum"):
        StreamHeader.unpack(bytes(d))
    assert StreamHeader.unpack(bytes(reseal_header(d))).width == 31
    d = bytearray(stream)
    d[offs[1] + RECORD_FIELDS["quality"]] = 4
    with pytest.raises(CorruptStreamError, match="checksum"):
        list(iter_records(bytes(d), header))
    assert [r.quality for r in iter_records(bytes(reseal_record(d, offs[1])), header)][1] == 4
