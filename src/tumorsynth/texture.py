"""Step 2, texture: Gaussian noise upsampled by cubic interpolation (grain eta) and blurred.

The noise lives on an unbounded grid of step ``grain_mm`` (eta) centred on the tumor; the value
at each grid node is a counter-based hash of the tumor's seed and the node's index, so the same
tumor has the same texture in any box, at any voxel spacing, whatever else is switched on or
off. The grid is blurred with sigma_b and resampled to the voxels by one small matrix per axis
(:mod:`tumorsynth.interp`), each row scaled so that every voxel has unit variance; then
``texture = tumor_mean_hu + texture_std_hu * field``.
"""

from __future__ import annotations

import math

import numpy as np

from tumorsynth.interp import apply_separable, cubic_matrix, gaussian_matrix
from tumorsynth.params import TumorParams

__all__ = ["hashed_normals", "texture_field"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_AXES = (np.uint64(0xD6E8FEB86659FD93), np.uint64(0xA0761D6478BD642F), np.uint64(0xE7037ED1A0B428DB))


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (wrapping uint64 arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def hashed_normals(seed: int, k0: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Standard normal values at integer grid nodes ``(k0 x k1 x k2)``, a pure function of the seed.

    Example:
        >>> a = hashed_normals(7, np.arange(-2, 3), np.arange(3), np.arange(2))
        >>> b = hashed_normals(7, np.arange(0, 3), np.arange(3), np.arange(2))
        >>> bool(np.array_equal(a[2:], b))
        True
    """
    with np.errstate(over="ignore"):
        key = _mix(np.array([seed % (1 << 64)], dtype=np.uint64) + _GOLD)[0]
        h = (np.asarray(k0).astype(np.int64).astype(np.uint64) * _AXES[0])[:, None, None] \
            + (np.asarray(k1).astype(np.int64).astype(np.uint64) * _AXES[1])[None, :, None] \
            + (np.asarray(k2).astype(np.int64).astype(np.uint64) * _AXES[2])[None, None, :]
        h ^= key
        h = _mix(h)
        h2 = _mix(h + _GOLD)
    u1 = ((h >> np.uint64(40)).astype(np.float32) + np.float32(0.5)) * np.float32(1.0 / (1 << 24))
    u2 = (h2 >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    r = np.sqrt(np.float32(-2.0) * np.log(u1))
    return (r * np.cos(np.float32(2 * math.pi) * u2)).astype(np.float32, copy=False)


def texture_field(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray],
                  reach_mm: object = None) -> np.ndarray:
    """Unit-variance texture field of tumor ``t`` at the grid of 1-D mm offsets (n0, n1, n2).

    ``reach_mm`` is accepted for compatibility and ignored: the noise grid follows the offsets.
    """
    g = float(t.grain_mm)
    sigma = float(t.texture_blur_mm) / g
    pad = 2 + int(math.ceil(3 * sigma))
    nodes, mats = [], []
    for o in offsets:
        o = np.asarray(o, dtype=np.float64)
        k_lo = int(math.floor(float(o.min()) / g)) - pad
        k_hi = int(math.ceil(float(o.max()) / g)) + pad
        k = np.arange(k_lo, k_hi + 1)
        m = cubic_matrix(o / g - k_lo, k.size) @ gaussian_matrix(k.size, sigma)
        m /= np.sqrt((m * m).sum(axis=1, keepdims=True))  # unit variance at every voxel
        nodes.append(k)
        mats.append(m)
    noise = hashed_normals(t.texture_seed, nodes[0], nodes[1], nodes[2])
    return apply_separable(noise, (mats[0], mats[1], mats[2]))
