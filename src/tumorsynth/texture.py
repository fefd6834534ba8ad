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

from tumorsynth.interp import apply_separable, cubic_matrix
from tumorsynth.params import TumorParams

__all__ = ["hashed_normals", "scaled_texture", "texture_field"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_AXES = (np.uint64(0xD6E8FEB86659FD93), np.uint64(0xA0761D6478BD642F), np.uint64(0xE7037ED1A0B428DB))


_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (wrapping uint64 arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _mix_inplace(z: np.ndarray, tmp: np.ndarray) -> None:
    """:func:`_mix` in place, with a scratch array of the same shape."""
    np.right_shift(z, np.uint64(30), out=tmp)
    z ^= tmp
    z *= _M1
    np.right_shift(z, np.uint64(27), out=tmp)
    z ^= tmp
    z *= _M2
    np.right_shift(z, np.uint64(31), out=tmp)
    z ^= tmp


def _mix_int(z: int) -> int:
    """:func:`_mix` of one Python integer."""
    z &= _MASK
    z ^= z >> 30
    z = (z * int(_M1)) & _MASK
    z ^= z >> 27
    z = (z * int(_M2)) & _MASK
    return z ^ (z >> 31)


def hashed_normals(seed: int, k0: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Standard normal values at integer grid nodes ``(k0 x k1 x k2)``, a pure function of the seed.

    Example:
        >>> a = hashed_normals(7, np.arange(-2, 3), np.arange(3), np.arange(2))
        >>> b = hashed_normals(7, np.arange(0, 3), np.arange(3), np.arange(2))
        >>> bool(np.array_equal(a[2:], b))
        True
    """
    key = np.uint64(_mix_int(seed % (1 << 64) + int(_GOLD)))
    # wrapping uint64 array arithmetic (array integer ops raise no overflow warnings)
    a0, a1, a2 = (np.asarray(k).astype(np.int64).astype(np.uint64) * ax for k, ax in zip((k0, k1, k2), _AXES, strict=True))
    h = (a0[:, None] + a1[None, :])[:, :, None] + a2
    h ^= key
    tmp = np.empty_like(h)
    _mix_inplace(h, tmp)
    h2 = h + _GOLD
    _mix_inplace(h2, tmp)
    h >>= np.uint64(40)
    u1 = h.astype(np.int32).astype(np.float32)  # < 2**24 after the shift: exact, and faster than from uint64
    u1 += np.float32(0.5)
    u1 *= np.float32(1.0 / (1 << 24))
    np.log(u1, out=u1)
    u1 *= np.float32(-2.0)
    np.sqrt(u1, out=u1)  # the radius of Box-Muller
    h2 >>= np.uint64(40)
    u2 = h2.astype(np.int32).astype(np.float32)
    u2 *= np.float32(1.0 / (1 << 24))
    u2 *= np.float32(2 * math.pi)
    np.cos(u2, out=u2)
    u1 *= u2
    return u1


def texture_field(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray],
                  reach_mm: object = None) -> np.ndarray:
    """Unit-variance texture field of tumor ``t`` at the grid of 1-D mm offsets (n0, n1, n2).

    ``reach_mm`` is accepted for compatibility and ignored: the noise grid follows the offsets.
    """
    return scaled_texture(t, offsets, 1.0)


def scaled_texture(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float) -> np.ndarray:
    """``scale`` times :func:`texture_field` (the factor is folded into a resampling matrix).

    Per axis the resampling matrix is cubic interpolation of the noise grid followed by the
    Gaussian blur (rows renormalized at the grid's ends), each row scaled to unit norm; the
    three axes share one cubic-weight evaluation and one table of Gaussian weights.
    """
    g = float(t.grain_mm)
    sigma = float(t.texture_blur_mm) / g
    pad = 2 + int(math.ceil(3 * sigma))
    offs = [np.asarray(o, dtype=np.float64) for o in offsets]
    k_lo = [int(math.floor(float(o.min()) / g)) - pad for o in offs]
    sizes = [int(math.ceil(float(o.max()) / g)) + pad - lo + 1 for o, lo in zip(offs, k_lo, strict=True)]
    kmax = max(sizes)
    cub = cubic_matrix(np.concatenate([o / g - lo for o, lo in zip(offs, k_lo, strict=True)]), kmax)
    if sigma > 1e-3:
        x = np.arange(kmax, dtype=np.float64)
        e = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    mats = []
    r0 = 0
    for o, k in zip(offs, sizes, strict=True):
        c = cub[r0:r0 + o.size, :k]
        r0 += o.size
        if sigma > 1e-3:
            ek = e[:k, :k]
            m = c @ (ek / ek.sum(axis=1, keepdims=True))
        else:
            m = c.copy()
        m /= np.sqrt(np.einsum("ij,ij->i", m, m))[:, None]  # unit variance at every voxel
        mats.append(m)
    if scale != 1.0:
        mats[0] *= scale
    noise = hashed_normals(t.texture_seed, *(np.arange(lo, lo + k) for lo, k in zip(k_lo, sizes, strict=True)))
    return apply_separable(noise, (mats[0], mats[1], mats[2]))
