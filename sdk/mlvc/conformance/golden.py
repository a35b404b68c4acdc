"""Golden files for the Kotlin and Swift ports: streams plus every intermediate of the parse path.

    python -m mlvc.conformance.golden OUT_DIR [--package DIR]

The ports cannot run TFLite or Core ML on this machine, so their tests replace the two network
calls with these files: they check that the port asks h_s about exactly the `z` written here and
g_s about exactly this `y_hat`, then use the recorded outputs.  P-frames also record `mode`,
`mv_table` and the decoded motion field (`.mv.i32`, BY x BX x 2); their residual (mode bit 0) has
the same files as an intra frame, made with the residual networks (res_h_s, res_g_s and
`res_z_table_index`) when the package has them (package.json `residual_networks`).  The
block-tree clips (modes 4/5, §4c) are listed in `blocktree.json` (TREE_CLIPS below) with their
header fields, decoded blocks, prediction and pre-deblocking picture.  Everything else (container,
rANS, tables, parse path, cropping, MD5) is the port's own.  Raw arrays are little-endian.

Two more sets, in the same tensor-file layout (`{"name", "shape", "file"}` per tensor):

* `probe/probe.json`: the ports' startup probe, a small battery of network inputs (every role of
  the package, seeded int8 inputs of a small non-square picture) with the NumPy reference's
  outputs.  A port runs it through its network runner once per environment and treats a
  runner that differs as approximate.
* `calls/calls.json`: every network call the NumPy decoder makes on the official conformance
  vectors (sdk/mlvc/data/vectors) and on the hostile-stream catalogue, input and outputs, so
  that the ports can run the vectors and the catalogue on machines without the networks.
  Files are named by the SHA-256 of the role and input; the manifest's SHA-256 is recorded, so
  vectors regenerated without these files are detected.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from ..api import Encoder
from ..bitstream.container import HEADER_SIZE, StreamHeader, iter_records
from ..bitstream import inter_syntax as syn
from ..bitstream import intra_syntax
from ..codec import blocktree as bt
from ..codec.inter import HALF_PEL_BIT, RESIDUAL_BIT, compensate
from ..codec.hyperprior import rebuild_latent
from ..package.loader import load_package

CLIPS = (  # name, width, height, frames, quality, GOP; inter clips in half pixels but one
    ("tiny_q1", 64, 64, 2, 1, 1),
    ("odd_q3", 53, 37, 2, 3, 1),
    ("wide_q4", 150, 70, 1, 4, 1),
    ("inter_q2_gop3", 72, 40, 4, 2, 3),
    ("inter_wholepel_q3_gop3", 56, 40, 3, 3, 3),
)
# The block-tree tools (§4c, modes 4/5), listed in blocktree.json (index.json keeps the grid
# clips of bitstream 1.0): name, width, height, frames, quality, GOP, mode policy, preset.
# Per P-frame: the header fields, the decoded blocks (`.pbs.i32`, one row per PB in coding
# order: y0, x0, size, dy, dx, skip, merge, merge index), the prediction (`.pred.u8`), the
# reconstruction before deblocking (`.prefilter.u8`), and the residual's parse-path files.
TREE_CLIPS = (
    ("tree_q2_gop3", 104, 72, 3, 2, 3, "residual", "medium"),
    ("tree_predonly_q3_gop2", 72, 40, 2, 3, 2, "skip", "fast"),
    ("tree_auto_q1_gop3", 88, 64, 3, 1, 3, "auto", "slow"),
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


def moving_frames(w: int, h: int, n: int, seed: int) -> list[np.ndarray]:
    """A smooth random texture panning by fractional steps (0.75, 1.25 pixels a frame) with a
    textured square crossing it at another speed and a flat band: the block-tree tools' content
    (large blocks and merge in the background, small ones at the square's edges, sub-pixel
    vectors, prediction-only blocks on the band).  Float arithmetic rounded once to uint8 (the
    same bytes on every machine: numpy's bilinear sampling, no library resampler)."""
    rng = np.random.default_rng(seed)
    th, tw = h + 64, w + 64
    tex = rng.normal(0, 1, (th // 8 + 3, tw // 8 + 3, 3))
    yy, xx = np.mgrid[0:th, 0:tw].astype(np.float64)

    def sample(img, y, x):
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        fy, fx = (y - y0)[..., None], (x - x0)[..., None]
        y0 = np.clip(y0, 0, img.shape[0] - 2)
        x0 = np.clip(x0, 0, img.shape[1] - 2)
        return ((1 - fy) * (1 - fx) * img[y0, x0] + (1 - fy) * fx * img[y0, x0 + 1]
                + fy * (1 - fx) * img[y0 + 1, x0] + fy * fx * img[y0 + 1, x0 + 1])
    big = 128 + 45 * sample(tex, yy / 8, xx / 8) + 12 * np.sin(xx / 3.0)[..., None]
    obj = rng.normal(0, 1, (6, 6, 3))
    frames = []
    oy, ox = np.mgrid[0:h, 0:w].astype(np.float64)
    for i in range(n):
        f = sample(big, oy + 20 + 0.75 * i, ox + 20 + 1.25 * i)
        sy, sx = h * 0.3 - 1.5 * i, w * 0.45 + 2.25 * i
        side = max(8, min(h, w) // 3)
        inside = (oy >= sy) & (oy < sy + side) & (ox >= sx) & (ox < sx + side)
        sq = 128 + 60 * sample(obj, (oy - sy) * 5 / side, (ox - sx) * 5 / side)
        f = np.where(inside[..., None], sq, f)
        f[(oy >= h * 0.8) & (oy < h * 0.8 + 9)] = (90, 160, 200)
        frames.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    return frames


def _raw(path: Path, arr: np.ndarray) -> None:
    path.write_bytes(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())


PROBE_PICTURE = (64, 128)     # height, width of the probe battery's pictures (not square)
PROBE_SEED = 20261203


def _tensor(out: Path, sub: str, stem: str, name: str, arr: np.ndarray) -> dict:
    rel = f"{stem}.{name}.i8"
    _raw(out / sub / rel, arr.astype(np.int8))
    return {"name": name, "shape": list(arr.shape), "file": rel}


def _roles(package_dir: str | None):
    """(role, HyperpriorCodec) for every decoder network of the package: h_s, g_s, res_h_s,
    res_g_s."""
    enc = Encoder(package=package_dir, backend="numpy")
    yield from (("h_s", enc.codec), ("g_s", enc.codec))
    if enc.codec.package.manifest.has_residual:
        yield from (("res_h_s", enc.inter.residual), ("res_g_s", enc.inter.residual))


def write_probe(out: Path, package_dir: str | None = None) -> None:
    """The startup probe's battery: per role, one full-range and one latent-like int8 input."""
    (out / "probe").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(PROBE_SEED)
    ph, pw = PROBE_PICTURE
    entries = []
    for role, codec in _roles(package_dir):
        m = codec.package.manifest
        y_shape, z_shape = codec.latent_shapes(ph, pw)
        shape, name = (z_shape, "z") if role.endswith("h_s") else (y_shape, "y_hat")
        inputs = (rng.integers(-128, 128, shape, dtype=np.int64),
                  np.clip(np.rint(rng.normal(0, 6, shape)), -128, 127))
        for k, x in enumerate(inputs):
            x = x.astype(np.int8)
            outs = codec.network(role.removeprefix("res_")).run({name: x})
            stem = f"{role}.{k}"
            entries.append({"role": role, "input": _tensor(out, "probe", stem, name, x),
                            "outputs": [_tensor(out, "probe", stem, o, outs[o])
                                        for o in sorted(outs)]})
        assert m.alignment and ph % m.alignment == 0 and pw % m.alignment == 0
    body = json.dumps(entries, sort_keys=True).encode()
    (out / "probe" / "probe.json").write_text(json.dumps({
        "format": "mlvc-probe-battery", "version": 1, "model_hash": m.stream_hash.hex(),
        "picture": {"height": ph, "width": pw}, "battery_sha256": hashlib.sha256(body).hexdigest(),
        "entries": entries}, indent=1) + "\n")


class _Recorder:
    """Wraps a network: records every call (role, input, outputs) in `calls`."""

    def __init__(self, net, role: str, out: Path, calls: dict):
        self.net, self.role, self.out, self.calls = net, role, out, calls

    def run(self, feeds: dict) -> dict:
        (name, x), = feeds.items()
        outs = self.net.run(feeds)
        x = np.ascontiguousarray(x, np.int8)
        key = hashlib.sha256(self.role.encode() + b"\0" + repr(x.shape).encode() + b"\0"
                             + x.tobytes()).hexdigest()[:20]
        if key not in self.calls:
            stem = f"{self.role}.{key}"
            self.calls[key] = {
                "role": self.role, "input": _tensor(self.out, "calls", stem, name, x),
                "outputs": [_tensor(self.out, "calls", stem, o, outs[o]) for o in sorted(outs)]}
        return outs


def _record(codec, out: Path, calls: dict) -> None:
    codec.wrap_networks(lambda key, net: _Recorder(net, key, out, calls))


def write_calls(out: Path, vectors: Path, package_dir: str | None = None) -> None:
    """Every network call of the NumPy decoder on the vectors and on the hostile catalogue."""
    from ..api import Decoder
    from ..errors import MLVCError
    (out / "calls").mkdir(parents=True, exist_ok=True)
    manifest = json.loads((vectors / "manifest.json").read_text())
    streams = [e["stream"] for e in manifest["vectors"]]
    catalogue = json.loads((vectors / "invalid" / "catalogue.json").read_text())
    streams += [c["stream"] for c in catalogue["cases"]]
    calls: dict = {}
    for rel in streams:
        try:
            dec = Decoder((vectors / rel).read_bytes(), package=package_dir, backend="numpy",
                          verify_hashes=False)
            for c in {id(dec.codec): dec.codec, id(dec.inter.residual): dec.inter.residual
                      }.values():
                _record(c, out, calls)
            for _ in dec.frames():
                pass
        except MLVCError:
            pass
    (out / "calls" / "calls.json").write_text(json.dumps({
        "format": "mlvc-recorded-calls", "version": 1,
        "vectors_manifest_sha256": hashlib.sha256((vectors / "manifest.json").read_bytes())
        .hexdigest(),
        "calls": [calls[k] for k in sorted(calls)]}, indent=1) + "\n")


def write_golden(out: Path, package_dir: str | None = None, vectors: Path | None = None) -> None:
    """Golden streams and their intermediates, the probe battery and the recorded calls of the
    vectors in `vectors` (default: the bundled ones, which must come from the same package)."""
    from .vectors import bundled_vectors_path
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
        "res_latent_channels": m.latent_channels_of(True),
        "max_width": m.max_width, "max_height": m.max_height}, indent=1))
    index = []
    for k, (name, w, h, n, q, gop) in enumerate(CLIPS):
        # every frame at the clip's stated quality (no I-frame offset, no P-frame cascade)
        enc = Encoder(package=package_dir, quality=q, backend="numpy", gop=gop,
                      intra_level_offset=0, p_level_cascade=0)
        enc.inter.mode_policy = "residual"      # exercise the residual path in every P-frame
        enc.inter.tools = "grid"
        enc.inter.half_pel = "wholepel" not in name
        index.append(_write_clip(out, name, enc, synthetic_frames(w, h, n, k), gop,
                                 _grid_p_frame))
    (out / "index.json").write_text(json.dumps(index, indent=1))
    tree_index = []
    for k, (name, w, h, n, q, gop, policy, preset) in enumerate(TREE_CLIPS):
        enc = Encoder(package=package_dir, quality=q, backend="numpy", gop=gop, preset=preset,
                      intra_level_offset=0, p_level_cascade=0)
        enc.inter.mode_policy = policy
        tree_index.append(_write_clip(out, name, enc, moving_frames(w, h, n, 50 + k), gop,
                                      _tree_p_frame))
    (out / "blocktree.json").write_text(json.dumps(tree_index, indent=1))
    write_probe(out, package_dir)
    write_calls(out, Path(vectors) if vectors else bundled_vectors_path(), package_dir)


def _write_clip(out: Path, name: str, enc: Encoder, pictures: list, gop: int,
                p_frame) -> dict:
    """Encode one clip, write its stream and every frame's intermediates; its index entry.
    `p_frame(enc, payload, ref, w, h, quality, out, prefix, entry)` decodes a P-frame (writing
    its files) and returns its picture; every picture is checked against the stream's hash."""
    stream = enc.encode(pictures)
    (out / f"{name}.mlvc").write_bytes(stream)
    header = StreamHeader.unpack(stream)
    w, h = header.width, header.height
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
            picture = p_frame(enc, rec.payload, ref, w, h, rec.quality, out, pre, entry)
        assert hashlib.md5(picture.tobytes()).digest() == rec.picture_md5
        ref = picture
        frames.append(entry)
    return {"name": name, "stream": f"{name}.mlvc", "width": w, "height": h,
            "gop": gop, "header_bytes": HEADER_SIZE, "frames": frames}


def _grid_p_frame(enc, payload, ref, w, h, quality, out, pre, entry) -> np.ndarray:
    """A §4b P-frame: the motion field, then the residual's parse-path files."""
    g, mv, rest = syn.read_grid_payload(payload, h, w, enc.codec.package.tables)
    _raw(out / f"{pre}.mv.i32", mv.astype(np.int32))
    entry.update(mode=g.mode, mv_table=g.mv_table, mv_shape=list(mv.shape))
    picture = compensate(ref, mv, bool(g.mode & HALF_PEL_BIT))
    if g.mode & RESIDUAL_BIT:
        r = _intra_files(enc.inter.residual, bytes(rest), w, h, quality, out, pre, entry)
        picture = np.clip(picture.astype(np.int16) + r, 0, 255).astype(np.uint8)
    return picture


def _tree_p_frame(enc, payload, ref, w, h, quality, out, pre, entry) -> np.ndarray:
    """A §4c P-frame: header fields, decoded blocks, prediction, pre-deblocking picture."""
    hdr, bmap, rest = syn.read_tree_payload(payload, h, w, enc.codec.package.tables)
    rows = np.array([(b.y0, b.x0, b.size, b.mv[0], b.mv[1], b.skip, b.merge,
                      b.merge_idx) for b in bmap.blocks], np.int32)
    _raw(out / f"{pre}.pbs.i32", rows)
    entry.update(mode=hdr.mode, mv_table=hdr.mv_table, f_split=list(hdr.f_split),
                 f_merge=hdr.f_merge, f_midx=hdr.f_midx, f_skip=hdr.f_skip,
                 deblock=hdr.deblock, substream_bytes=hdr.substream_len,
                 pbs_shape=list(rows.shape))
    f = bt.unit_fields(bmap)
    pred = bt.predict(ref, f.mv)
    _raw(out / f"{pre}.pred.u8", pred)
    r = None
    if hdr.mode == syn.TREE_RESIDUAL_MODE:
        r = _intra_files(enc.inter.residual, bytes(rest), w, h, quality, out, pre, entry)
    pre_filter = bt.reconstruct(pred, r, f, h, w)
    _raw(out / f"{pre}.prefilter.u8", pre_filter)
    return bt.deblock(pre_filter, f, hdr.deblock)


def _intra_files(codec, payload: bytes, w: int, h: int, quality: int, out: Path, pre: str,
                 entry: dict) -> np.ndarray:
    """Write the parse-path intermediates of one intra payload; returns its int8 signal."""
    pkg = codec.package
    y_shape, z_shape = codec.latent_shapes(h, w)
    exp, d = codec.level_shift(quality)
    sz, y_bytes = intra_syntax.read_z_symbols(payload, codec.z_tables(z_shape), pkg.tables)
    z_hat = sz.reshape(z_shape).astype(np.int8)
    hs = codec.network("h_s").run({"z": z_hat})
    mu, t = codec.entropy_parameters(z_hat, quality)
    s = intra_syntax.read_y_symbols(y_bytes, t, pkg.tables)
    y_hat = rebuild_latent(mu + s.reshape(y_shape), d)
    img = codec.network("g_s").run({"y_hat": y_hat})["image"]
    _raw(out / f"{pre}.z.i8", z_hat)
    _raw(out / f"{pre}.hs_mu.i8", hs["mu"])
    _raw(out / f"{pre}.hs_sigma_index.i8", hs["sigma_index"])
    _raw(out / f"{pre}.table_index.i32", t.astype(np.int32))
    _raw(out / f"{pre}.y_symbols.i32", s.astype(np.int32))
    _raw(out / f"{pre}.y_hat.i8", y_hat)
    _raw(out / f"{pre}.gs_image.i8", img)
    entry.update(y_shape=list(y_shape), z_shape=list(z_shape))
    return img[0, :h, :w]


def main() -> None:
    ap = argparse.ArgumentParser(description="write golden files for the ports")
    ap.add_argument("out", type=Path)
    ap.add_argument("--package", default=None)
    ap.add_argument("--vectors", type=Path, default=None,
                    help="the conformance vectors made with the same package (default: bundled)")
    a = ap.parse_args()
    write_golden(a.out, a.package, a.vectors)
    print(f"golden files written to {a.out}")


if __name__ == "__main__":
    main()
