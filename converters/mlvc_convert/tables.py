"""Build the frozen integer CDF tables once, at package build time, from discretized Gaussians.

Floats are used only here; the package stores the resulting integers and their hash, and no
decoder ever recomputes them.
"""
from __future__ import annotations

import math

import numpy as np

from mlvc.entropy.tables import PRECISION, TOTAL, CdfTables


def gaussian_sigmas(num_tables: int, sigma_min: float, per_octave: int) -> np.ndarray:
    return sigma_min * np.exp2(np.arange(num_tables) / per_octave)


def table_radius(sigma: float) -> int:
    """Support half-width: wide enough that clamping at the edge is very rare."""
    return int(min(255, math.ceil(12 * sigma) + 3))


def gaussian_cdf(sigma: float, radius: int) -> np.ndarray:
    """Integer CDF of a zero-mean Gaussian discretized on -radius..radius, tails folded in."""
    s = np.arange(-radius, radius + 1, dtype=np.float64)
    upper = np.array([0.5 * math.erfc(-(v + 0.5) / (sigma * math.sqrt(2))) for v in s])
    upper[-1] = 1.0
    lower = np.concatenate([[0.0], upper[:-1]])
    p = np.maximum(upper - lower, 0.0)
    n = p.size
    spare = TOTAL - n                            # every symbol keeps frequency >= 1
    f = 1 + np.floor(p / p.sum() * spare).astype(np.int64)
    f[np.argmax(p)] += TOTAL - int(f.sum())      # the rounding remainder goes to the mode
    return np.concatenate([[0], np.cumsum(f)]).astype(np.int64)


def build_tables(num_tables: int, sigma_min: float, per_octave: int) -> CdfTables:
    sigmas = gaussian_sigmas(num_tables, sigma_min, per_octave)
    radius = np.array([table_radius(s) for s in sigmas])
    cdf = np.concatenate([gaussian_cdf(s, r) for s, r in zip(sigmas, radius)])
    assert PRECISION == 16
    return CdfTables(radius, cdf)
