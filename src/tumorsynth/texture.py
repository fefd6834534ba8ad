"""Step 2, texture: Gaussian noise upsampled by cubic interpolation (grain eta) and blurred.

The noise lives on an unbounded grid of step ``grain_mm`` (eta) centred on the tumor; the value
at each grid node is a counter-based hash of the tumor's seed and the node's index, so the same
tumor has the same texture in any box, at any voxel spacing, whatever else is switched on or
off. The grid is blurred with sigma_b and resampled to the voxels by one small matrix per axis
(:mod:`tumorsynth.interp`), each row scaled so that every voxel has unit variance; then
``texture = tumor_mean_hu + texture_std_hu * field``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tumorsynth.interp import apply_separable_stack, cubic_matrix_stack
from tumorsynth.params import TumorParams

__all__ = ["hashed_normals", "hashed_normals_stack", "scaled_texture", "scaled_textures", "texture_field"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_AXES = (np.uint64(0xD6E8FEB86659FD93), np.uint64(0xA0761D6478BD642F), np.uint64(0xE7037ED1A0B428DB))


_AXES_ARRAY = np.array(_AXES, dtype=np.uint64)
_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (wrapping uint64 arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


_F1 = np.uint32(0x7FEB352D)  # a 32-bit xorshift-multiply finalizer with low bias
_F2 = np.uint32(0x846CA68B)


def _mix32_inplace(z: np.ndarray, tmp: np.ndarray) -> None:
    """Finalize uint32 hashes in place (wrapping arithmetic), with a scratch array of the same shape.

    32-bit lanes: twice as many per vector instruction as uint64, and a vectorized multiply.
    """
    np.right_shift(z, np.uint32(16), out=tmp)
    z ^= tmp
    z *= _F1
    np.right_shift(z, np.uint32(15), out=tmp)
    z ^= tmp
    z *= _F2
    np.right_shift(z, np.uint32(16), out=tmp)
    z ^= tmp


def _mix_int(z: int) -> int:
    """:func:`_mix` of one Python integer."""
    z &= _MASK
    z ^= z >> 30
    z = (z * int(_M1)) & _MASK
    z ^= z >> 27
    z = (z * int(_M2)) & _MASK
    return z ^ (z >> 31)


@functools.cache
def _normal_table() -> np.ndarray:
    """The standard normal quantiles at the centres of 65536 equal-probability bins (float32)."""
    from scipy.special import ndtri

    return ndtri((np.arange(1 << 16) + 0.5) / (1 << 16)).astype(np.float32)


def _normals_from_hash(h: np.ndarray) -> np.ndarray:
    """Standard normals from uint32 pre-hashes (``h`` is overwritten).

    One finalizer round per node; its top 16 bits pick one of 65536 equal-probability normal
    quantiles (values to +-4.3 SD): a table lookup instead of Box-Muller's log and cosine,
    several times faster and the same distribution to 1/65536 in probability.
    """
    _mix32_inplace(h, np.empty_like(h))
    h >>= np.uint32(16)
    return np.take(_normal_table(), h.astype(np.intp))


def hashed_normals(seed: int, k0: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Standard normal values at integer grid nodes ``(k0 x k1 x k2)``, a pure function of the seed.

    Example:
        >>> a = hashed_normals(7, np.arange(-2, 3), np.arange(3), np.arange(2))
        >>> b = hashed_normals(7, np.arange(0, 3), np.arange(3), np.arange(2))
        >>> bool(np.array_equal(a[2:], b))
        True
    """
    return hashed_normals_stack([seed], np.asarray(k0)[None], np.asarray(k1)[None], np.asarray(k2)[None])[0]


def hashed_normals_stack(seeds: list[int], k0: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """:func:`hashed_normals` of several seeds at once: ``k0`` (S, n0), ``k1`` (S, n1), ``k2`` (S, n2)
    give (S, n0, n1, n2), entry ``s`` equal to ``hashed_normals(seeds[s], k0[s], k1[s], k2[s])``.

    Each axis index is hashed on its own (splitmix64 of index, axis and seed, on the short 1-D
    axes); a node combines its three axis hashes, ``h0 ^ (h1 + h2)`` in 32 bits, and one 32-bit
    finalizer round over the grid decorrelates the nodes.
    """
    keys = np.array([int(sd) % (1 << 64) for sd in seeds], dtype=np.uint64)
    keys += _GOLD
    keys = _mix(keys)[:, None]  # the same as _mix_int per seed
    ks = [np.asarray(k) for k in (k0, k1, k2)]
    s, n0, n1, n2 = len(seeds), ks[0].shape[1], ks[1].shape[1], ks[2].shape[1]
    # the three axes in one pass; wrapping uint64 arithmetic (array ops raise no overflow warnings)
    mult = np.repeat(_AXES_ARRAY, [n0, n1, n2])
    a = np.concatenate(ks, axis=1).astype(np.int64).astype(np.uint64)
    a *= mult
    a ^= keys
    a = _mix(a).astype(np.uint32)
    a0, a1, a2 = a[:, :n0], a[:, n0:n0 + n1], a[:, n0 + n1:]
    plane = (a1[:, :, None] + a2[:, None, :]).reshape(s, 1, n1 * n2)
    h = a0[:, :, None] ^ plane  # long contiguous rows: far faster than a 3-D broadcast
    return _normals_from_hash(h).reshape(s, n0, n1, n2)


def texture_field(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray],
                  reach_mm: object = None) -> np.ndarray:
    """Unit-variance texture field of tumor ``t`` at the grid of 1-D mm offsets (n0, n1, n2).

    ``reach_mm`` is accepted for compatibility and ignored: the noise grid follows the offsets.
    """
    return scaled_texture(t, offsets, 1.0)


def scaled_texture(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float) -> np.ndarray:
    """``scale`` times :func:`texture_field` (the factor is folded into a resampling matrix)."""
    return scaled_textures([t], [offsets], [scale])[0]


def _blur_window(sigma: float) -> int:
    """Half width (nodes) of the Gaussian blur of the noise grid: 3 sigma, 0 when there is no blur."""
    return int(math.ceil(3 * sigma)) if sigma > 1e-3 else 0


def scaled_textures(tumors: list[TumorParams], offsets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                    scales: list[float]) -> list[np.ndarray]:
    """:func:`scaled_texture` of several tumors at once (one hash, one set of batched products).

    Per axis the resampling matrix is cubic interpolation of the noise grid followed by the
    Gaussian blur (truncated at 3 sigma), each row scaled to unit norm, so every voxel has unit
    variance. Each tumor's field depends on its own record and offsets only: the grids of the
    batch are padded with further nodes of the same unbounded noise lattice, which carry zero
    weight. Axes are padded by repeating their last offset; the results are cropped back.
    """
    n = len(tumors)
    if n == 0:
        return []
    grain = np.array([float(t.grain_mm) for t in tumors])
    sig = [float(t.texture_blur_mm) / g for t, g in zip(tumors, grain, strict=True)]
    win = np.array([_blur_window(sg) for sg in sig])
    sizes_out = [[len(o[k]) for o in offsets] for k in range(3)]
    rows = [max(sz) for sz in sizes_out]
    cuts = np.cumsum([0, *rows])
    pos = np.empty((n, int(cuts[-1])))
    for k in range(3):
        for i, o in enumerate(offsets):
            ok = np.asarray(o[k], dtype=np.float64)
            pos[i, cuts[k]:cuts[k] + ok.size] = ok
            pos[i, cuts[k] + ok.size:cuts[k + 1]] = ok[-1]
    pos /= grain[:, None]
    k_lo, widths = [], []
    for k in range(3):
        pk = pos[:, cuts[k]:cuts[k + 1]]
        # the nodes a voxel reads: cubic interpolation 1 below to 2 above, then the blur window
        lo = np.floor(pk.min(axis=1)) - 1 - win
        pk -= lo[:, None]  # >= 1 + win (rounding is monotone)
        widths.append(int(np.floor(pk.max())) + 3 + int(win.max()))
        k_lo.append(lo.astype(np.int64)[:, None] + np.arange(widths[-1]))
    cub = cubic_matrix_stack(pos, max(widths))  # one matrix build for the three axes
    blur = None
    if win.any():  # Gaussian weights of node j on node k: a function of j - k, one table for all axes
        x = np.arange(max(widths), dtype=np.float64)
        diff = x[:, None] - x[None, :]
        sg = np.array([max(v, 1e-3) for v in sig])[:, None, None]
        blur = np.exp(-0.5 * (diff / sg) ** 2)
        blur *= np.abs(diff) <= win[:, None, None]  # no blur (window 0): the identity
        blur = blur.astype(np.float32)
    mats = []
    for k in range(3):
        width = widths[k]
        m = cub[:, cuts[k]:cuts[k + 1], :width]
        m = np.matmul(m, blur[:, :width, :width]) if blur is not None else m.copy()
        m /= np.sqrt(np.einsum("sij,sij->si", m, m))[:, :, None]  # unit variance at every voxel
        if k == 0:
            m *= np.asarray(scales, dtype=np.float32)[:, None, None]
        mats.append(m)
    noise = hashed_normals_stack([t.texture_seed for t in tumors], k_lo[0], k_lo[1], k_lo[2])
    out = apply_separable_stack(noise, (mats[0], mats[1], mats[2]))
    return [out[i, :sizes_out[0][i], :sizes_out[1][i], :sizes_out[2][i]] for i in range(n)]
