"""Golden files for the Kotlin and Swift ports: streams plus every intermediate of the parse path.

    python -m mlvc.conformance.golden OUT_DIR [--package DIR]

The ports cannot run TFLite or Core ML on this machine, so their tests replace the two network
calls with these files: they check that the port asks h_s about exactly the `z` written here and
g_s about exactly this `y_hat`, then use the recorded outputs.  P-frames also record `mode`,
`mv_table` and the decoded motion field (`.mv.i32`, BY x BX x 2); their residual (mode bit 0) has
the same files as an intra frame, made with the residual networks (res_h_s, res_g_s and
`res_z_table_index`) when the package has them (package.json `residual_networks`).  Everything else (container,
rANS, tables, parse path, cropping, MD5) is the port's own.  Raw arrays are little-endian.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from ..api import Encoder
from ..bitstream.container import HEADER_SIZE, StreamHeader, iter_records
from ..codec.inter import HALF_PEL_BIT, RESIDUAL_BIT, block_grid, compensate, mv_from_deltas
from ..codec.intra import rebuild_latent
from ..entropy import rans
from ..package.loader import load_package

CLIPS = (  # name, width, height, frames, quality, GOP; inter clips in half pixels but one
    ("tiny_q1", 64, 64, 2, 1, 1),
    ("odd_q3", 53, 37, 2, 3, 1),
    ("wide_q4", 150, 70, 1, 4, 1),
    ("inter_q2_gop3", 72, 40, 4, 2, 3),
    ("inter_wholepel_q3_gop3", 56, 40, 3, 3, 3),
)


def synthetic_frames(w: int, h: int, n: int, seed: int) -> list[np.ndarray]:
    """Smooth moving gradients with texture: compressible, but not trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        r = 128 + 100 * np.sin((xx + 3 * i) / 9.0)
        g = 128 + 90 * np.cos((yy - 2 * i) / 7.0)
        b = 128 + 60 * np.sin((xx + yy) / 13.0) + rng.normal(0, 8, (h, w))
        frames.append(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))
    return frames


def _raw(path: Path, arr: np.ndarray) -> None:
    path.write_bytes(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())


def write_golden(out: Path, package_dir: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pkg = load_package(package_dir)
    m = pkg.manifest
    _raw(out / "tables.radius.i32", pkg.tables.radius.astype(np.int32))
    _raw(out / "tables.cdf.u32", pkg.tables.cdf_flat.astype(np.uint32))
    (out / "package.json").write_text(json.dumps({
        "model_id": m.model_id, "model_hash": m.stream_hash.hex(), "y_exp": m.y_exp,
        "levels": [lv.model_dump() for lv in m.levels], "alignment": m.alignment,
        "latent_channels": m.latent_channels, "hyper_channels": m.hyper_channels,
        "num_tables": m.tables.num_tables, "tables_per_octave": m.tables.tables_per_octave,
        "z_table_index": m.z_table_index, "tables_sha256": m.tables.sha256,
        "residual_networks": m.has_residual, "res_z_table_index": m.res_z_table_index,
        "max_width": m.max_width, "max_height": m.max_height}, indent=1))
    index = []
    for k, (name, w, h, n, q, gop) in enumerate(CLIPS):
        enc = Encoder(package=package_dir, quality=q, backend="numpy", gop=gop)
        enc.inter.mode_policy = "residual"      # exercise the residual path in every P-frame
        enc.inter.half_pel = "wholepel" not in name
        stream = enc.encode(synthetic_frames(w, h, n, k))
        (out / f"{name}.mlvc").write_bytes(stream)
        header = StreamHeader.unpack(stream)
        frames = []
        ref = None
        for i, rec in enumerate(iter_records(stream, header)):
            pre = f"{name}.f{i}"
            entry = {"type": rec.frame_type, "quality": rec.quality,
                     "md5": rec.picture_md5.hex(), "payload_bytes": len(rec.payload)}
            if rec.frame_type == "I":
                signed = _intra_files(enc.codec, rec.payload, w, h, rec.quality, out, pre, entry)
                picture = (signed.astype(np.int16) + 128).astype(np.uint8)
            else:
                mode, table, mvlen = struct.unpack_from("<BBI", rec.payload, 0)
                by, bx = block_grid(h, w)
                k_mv = rans.decode(rec.payload[6:6 + mvlen], np.full(by * bx * 2, table),
                                   pkg.tables)
                mv = mv_from_deltas((k_mv - pkg.tables.radius[table]).reshape(by, bx, 2))
                _raw(out / f"{pre}.mv.i32", mv.astype(np.int32))
                entry.update(mode=mode, mv_table=table, mv_shape=[by, bx, 2])
                picture = compensate(ref, mv, bool(mode & HALF_PEL_BIT))
                if mode & RESIDUAL_BIT:
                    r = _intra_files(enc.inter.residual, rec.payload[6 + mvlen:], w, h,
                                     rec.quality, out, pre, entry)
                    picture = np.clip(picture.astype(np.int16) + r, 0, 255).astype(np.uint8)
            assert hashlib.md5(picture.tobytes()).digest() == rec.picture_md5
            ref = picture
            frames.append(entry)
        index.append({"name": name, "stream": f"{name}.mlvc", "width": w, "height": h,
                      "gop": gop, "header_bytes": HEADER_SIZE, "frames": frames})
    (out / "index.json").write_text(json.dumps(index, indent=1))
    write_invalid(out / "invalid", out / f"{CLIPS[0][0]}.mlvc", out / "inter_q2_gop3.mlvc")


def _intra_files(codec, payload: bytes, w: int, h: int, quality: int, out: Path, pre: str,
                 entry: dict) -> np.ndarray:
    """Write the parse-path intermediates of one intra payload; returns its int8 signal."""
    pkg = codec.package
    y_shape, z_shape = codec.latent_shapes(h, w)
    exp, d = codec._shift(quality)
    (zlen,) = struct.unpack_from("<I", payload, 0)
    zt = codec._z_tables(z_shape)
    kz = rans.decode(payload[4:4 + zlen], zt, pkg.tables)
    z_hat = (kz - pkg.tables.radius[zt]).reshape(z_shape).astype(np.int8)
    hs = codec._net("h_s").run({"z": z_hat})
    mu, t = codec.entropy_parameters(z_hat, quality)
    ky = rans.decode(payload[4 + zlen:], t.reshape(-1), pkg.tables)
    s = ky - pkg.tables.radius[t.reshape(-1)]
    y_hat = rebuild_latent(mu + s.reshape(y_shape), d)
    img = codec._net("g_s").run({"y_hat": y_hat})["image"]
    _raw(out / f"{pre}.z.i8", z_hat)
    _raw(out / f"{pre}.hs_mu.i8", hs["mu"])
    _raw(out / f"{pre}.hs_sigma_index.i8", hs["sigma_index"])
    _raw(out / f"{pre}.table_index.i32", t.astype(np.int32))
    _raw(out / f"{pre}.y_symbols.i32", s.astype(np.int32))
    _raw(out / f"{pre}.y_hat.i8", y_hat)
    _raw(out / f"{pre}.gs_image.i8", img)
    entry.update(y_shape=list(y_shape), z_shape=list(z_shape))
    return img[0, :h, :w]


def write_invalid(out: Path, good: Path, inter: Path) -> None:
    """Hostile streams, each with the error kind every port must report."""
    from .hostile import invalid_streams
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, data, kind in invalid_streams(good.read_bytes(), inter.read_bytes()):
        (out / f"{name}.mlvc").write_bytes(data)
        cases.append({"file": f"{name}.mlvc", "error": kind})
    (out / "index.json").write_text(json.dumps(cases, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description="write golden files for the ports")
    ap.add_argument("out", type=Path)
    ap.add_argument("--package", default=None)
    a = ap.parse_args()
    write_golden(a.out, a.package)
    print(f"golden files written to {a.out}")


if __name__ == "__main__":
    main()
