"""The mean-scale hyperprior in the integer profile (docs/bitstream.md §4): codes a signed
picture, an I-frame (pixel - 128) or a P-frame's residual, with one network set.

Everything that decides symbols (h_s, the integer mean and table index, the rANS tables) runs
on an exact backend, `parse`.  g_s may run on any backend when decoding; an approximate one still
parses exactly, and its pictures are reported when they do not match the stream's hashes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.registry import BackendSpec, Network
from ..bitstream import intra_syntax as syn
from ..bitstream.container import picture_md5
from ..errors import InvalidArgumentError
from ..package.loader import ModelPackage
from .bands import halo_units, run_in_bands
from .refine import LatentRefiner


def round_shift(v: np.ndarray, d: int) -> np.ndarray:
    """round(v / 2**d), ties upward: floor((v + 2**(d-1)) / 2**d).  d == 0 leaves v unchanged."""
    v = v.astype(np.int32)
    return v if d == 0 else np.right_shift(v + (1 << (d - 1)), d)


def rebuild_latent(q: np.ndarray, d: int) -> np.ndarray:
    """The synthesis input: q * 2**d, saturated to int8."""
    return np.clip(q.astype(np.int32) << d, -128, 127).astype(np.int8)


def pad_to(rgb: np.ndarray, alignment: int) -> np.ndarray:
    """Edge-replicate an H x W x 3 picture up to multiples of `alignment`."""
    h, w = rgb.shape[:2]
    ph, pw = -h % alignment, -w % alignment
    if ph or pw:
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return rgb


def rd_cost(coded: tuple, x: np.ndarray, lam: float) -> float:
    """Bits of a coded signal's payload + lam / 3 * its SSE (the training loss, per picture)."""
    err = coded[1].astype(np.int64) - x.astype(np.int64)
    return 8.0 * len(coded[0]) + float(lam) / 3.0 * float(np.sum(err * err))


def to_signed(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.int16) - 128).astype(np.int8)


def to_pixels(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.int16) + 128).astype(np.uint8)


@dataclass
class CodedFrame:
    payload: bytes
    reconstruction: np.ndarray        # H x W x 3 uint8, what every exact decoder rebuilds
    md5: bytes
    symbols_z: np.ndarray
    symbols_y: np.ndarray


class HyperpriorCodec:
    """Encodes and decodes signed pictures with one package, one network set and one pair of
    backends.

    `networks="intra"` codes I-frames; `networks="residual"` codes P-frame residuals with the
    package's residual networks (res_*) and their z tables: the same hyperprior and the same
    parse path, other weights.
    `refine` > 0: the encoder refines each picture's symbols for that many iterations
    (refine.py; needs the package's training lambdas, else it is a no-op)."""

    def __init__(self, package: ModelPackage, backend: BackendSpec, parse: BackendSpec,
                 networks: str = "intra", refine: int = 0):
        if networks not in ("intra", "residual"):
            raise ValueError(f"networks must be 'intra' or 'residual', not {networks!r}")
        if networks == "residual" and not package.has_residual:
            raise InvalidArgumentError("this model package has no residual networks")
        if not parse.exact:
            raise InvalidArgumentError(f"parse backend {parse.name!r} is not exact")
        self.package = package
        self.m = package.manifest
        self.backend = backend            # g_a, h_a (encoder) and g_s
        self.parse_backend = parse        # h_s: decides symbols, always exact
        self._nets: dict[str, Network] = {}
        self._wrap = None
        self._halos: dict[str, int] = {}
        self._prefix = "res_" if networks == "residual" else ""
        self._ztab = np.asarray(self.m.res_z_table_index if self._prefix else
                                self.m.z_table_index, np.int64)
        if refine < 0:
            raise InvalidArgumentError("refine must be >= 0 iterations")
        self.refine = refine
        # the training lambda of each level (the RD decisions of refinement and of P-frames);
        # a package without them gets {}
        lambdas = self.m.training.get("lambdas") or []
        self.lambdas = (dict(zip(package.levels, (float(v) for v in lambdas)))
                        if len(lambdas) == len(package.levels) else {})
        self._refiner: LatentRefiner | None = None

    def residual_codec(self) -> "HyperpriorCodec | None":
        """The P-frame residual codec: the package's residual networks on the same backends
        (None when the package has none)."""
        if not self.package.has_residual:
            return None
        return HyperpriorCodec(self.package, self.backend, self.parse_backend,
                               networks="residual", refine=self.refine)

    def role_key(self, role: str) -> str:
        """The package's name of this set's network `role` (g_s -> g_s or res_g_s)."""
        return self._prefix + role

    def network(self, role: str) -> Network:
        """The network of `role` (g_a, h_a, h_s, g_s) in this codec's set."""
        if role not in self._nets:
            spec = self.parse_backend if role == "h_s" else self.backend
            key = self.role_key(role)
            net = spec.load(self.package.graphs[key], self.package.tflite[key])
            self._nets[role] = self._wrap(key, net) if self._wrap else net
        return self._nets[role]

    def wrap_networks(self, wrap) -> None:
        """Route every later network call through `wrap(role_key, network)`, which returns an
        object with the network's `run` (the golden-file writer records calls with it)."""
        self._wrap = wrap
        self._nets.clear()

    # -- shared parse-path arithmetic --------------------------------------------------------
    def level_shift(self, level: int) -> tuple[int, int]:
        """(exp, d) of a level: its exponent and the latent shift d = exp - y_exp (§4 step 2)."""
        try:
            exp = self.m.level(level).exp
        except KeyError:
            raise InvalidArgumentError(
                f"quality {level} not in this package (1..{max(self.package.levels)})") from None
        return exp, exp - self.m.y_exp

    def entropy_parameters(self, z_hat: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Integer mean (in coded units) and table index of every latent element."""
        exp, d = self.level_shift(level)
        out = self.network("h_s").run({"z": z_hat})
        mu = round_shift(out["mu"], d)
        t = np.clip(out["sigma_index"].astype(np.int32) - self.m.tables.tables_per_octave * exp,
                    0, self.m.tables.num_tables - 1)
        return mu, t

    def z_tables(self, shape: tuple) -> np.ndarray:
        """The table of every hyper-latent symbol of a z grid of `shape` (flattened)."""
        return np.broadcast_to(self._ztab, shape).reshape(-1)

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, rgb: np.ndarray, level: int) -> CodedFrame:
        """Code an RGB picture; the network input is pixel - 128."""
        payload, rec, sz, sy = self.encode_signed(to_signed(rgb), level)
        rgb_rec = to_pixels(rec)
        return CodedFrame(payload, rgb_rec, picture_md5(rgb_rec), sz, sy)

    def analyse(self, x: np.ndarray) -> np.ndarray:
        """g_a of an H x W x 3 int8 signal: the latent y, the same for every level (in row
        bands for large pictures: bands.py, bit-identical)."""
        image = pad_to(x, self.m.alignment)[None]
        net = self.network("g_a")
        return run_in_bands(lambda a: net.run({"image": a})["y"], image, image.shape[1] // 16,
                            16, 1, image.shape[2], self._halo("g_a", 16))

    def encode_signed(self, x: np.ndarray, level: int, y: np.ndarray | None = None):
        """Code an H x W x 3 int8 signal (a picture - 128, or an inter residual); `y`: its
        analyse() output when the caller already has it (coding one signal at several levels).

        Returns the payload, the int8 signal every decoder rebuilds, and the symbols."""
        exp, d = self.level_shift(level)
        if y is None:
            y = self.analyse(x)
        coded, mu, t = self._code(x, round_shift(y, d), level)
        lam = self.lambdas.get(level)
        if self.refine and lam is not None:
            if self._refiner is None:
                self._refiner = LatentRefiner(self.package.graphs[self.role_key("g_s")],
                                              self.package.tables)
            q = self._refiner.refine(x, y, d, mu, t, lam, self.refine)
            # the refined symbols get their own hyperprior; kept only if the real stream's
            # rate + lambda/3 * SSE is lower
            refined, _, _ = self._code(x, q, level)
            if rd_cost(refined, x, lam) < rd_cost(coded, x, lam):
                coded = refined
        return coded

    def _code(self, x: np.ndarray, q: np.ndarray, level: int):
        """(payload, rebuilt signal, z symbols, y symbols), and the entropy parameters."""
        h, w = x.shape[:2]
        exp, d = self.level_shift(level)
        z = self.network("h_a").run({"y": rebuild_latent(q, d)})["z"]
        tables = self.package.tables
        zt = self.z_tables(z.shape)
        zr = tables.radius[zt].reshape(z.shape)
        z_hat = np.clip(z.astype(np.int32), -zr, zr).astype(np.int8)
        mu, t = self.entropy_parameters(z_hat, level)
        r = tables.radius[t]
        s = np.clip(q - mu, -r, r)
        rec = self._synthesise(rebuild_latent(mu + s, d), h, w)
        sz = z_hat.reshape(-1).astype(np.int64)
        sy = s.reshape(-1).astype(np.int64)
        payload = syn.write_intra_payload(sz, zt, sy, t, tables)
        return (payload, rec, sz, sy), mu, t

    def _synthesise(self, y_hat: np.ndarray, h: int, w: int) -> np.ndarray:
        net = self.network("g_s")
        image = run_in_bands(lambda a: net.run({"y_hat": a})["image"], y_hat, y_hat.shape[1],
                             1, 16, 16 * y_hat.shape[2], self._halo("g_s", 1))
        return image[0, :h, :w, :]

    def _halo(self, role: str, in_rows_per_unit: int) -> int:
        """Row-band halo (latent rows) of a network, from its graph's receptive field."""
        if role not in self._halos:
            self._halos[role] = halo_units(self.package.graphs[self.role_key(role)],
                                           in_rows_per_unit)
        return self._halos[role]

    # -- decoder ------------------------------------------------------------------------------
    def latent_shapes(self, h: int, w: int) -> tuple[tuple, tuple]:
        a = self.m.alignment
        ph, pw = -(-h // a) * a, -(-w // a) * a
        y_shape = (1, ph // 16, pw // 16, self.m.latent_channels_of(bool(self._prefix)))
        z_shape = (1, ph // 64, pw // 64, self.m.hyper_channels)
        return y_shape, z_shape

    def decode(self, payload: bytes, h: int, w: int, level: int) -> np.ndarray:
        return to_pixels(self.decode_signed(payload, h, w, level))

    def decode_signed(self, payload: bytes, h: int, w: int, level: int) -> np.ndarray:
        exp, d = self.level_shift(level)
        y_shape, z_shape = self.latent_shapes(h, w)
        tables = self.package.tables
        sz, y_bytes = syn.read_z_symbols(payload, self.z_tables(z_shape), tables)
        z_hat = sz.reshape(z_shape).astype(np.int8)
        mu, t = self.entropy_parameters(z_hat, level)
        sy = syn.read_y_symbols(y_bytes, t, tables)
        y_hat = rebuild_latent(mu + sy.reshape(y_shape), d)
        return self._synthesise(y_hat, h, w)
