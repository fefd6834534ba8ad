"""Counter-based Gaussian noise: a pure function of a seed and integer lattice indices.

The value at lattice node ``(k0, k1, k2)`` is a hash of the seed and the indices, so a field has
the same values in any box, at any voxel spacing, whatever else is computed: the texture of a
tumor (:mod:`tumorsynth.generator.step4_texture`) and the coefficients of its lobulated surface
(:mod:`tumorsynth.generator.step3_shape`) are such lattices. Each axis index is hashed on its own (splitmix64),
a node combines its three axis hashes in 32 bits and one 32-bit finalizer round decorrelates
the nodes; its top 16 bits pick one of 65536 equal-probability normal quantiles.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["PATCH_SIZE", "hashed_normals", "hashed_normals_stack", "noise_patch", "patch_offset", "read_patch"]

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


# --- scanner-like noise: one periodic patch per correlation, read at a per-tumor offset -------

PATCH_SIZE = 128  # voxels per axis of the periodic noise patch (longer than any tumor box at 1 mm)
PATCH_SEED = 20230402  # the white noise under every patch (a constant: patches are data)
_PATCH_CACHE_SIZE = 8


@functools.cache
def _white_patch() -> np.ndarray:
    white = np.random.default_rng(PATCH_SEED).standard_normal((PATCH_SIZE,) * 3, dtype=np.float32)
    white.setflags(write=False)
    return white


@functools.lru_cache(maxsize=_PATCH_CACHE_SIZE)
def _noise_patch_cached(corr_key: tuple[int, int, int]) -> np.ndarray:
    from scipy import ndimage

    from tumorsynth.generator.step1_host import gauss_kernel

    patch = _white_patch()
    for axis, key in enumerate(corr_key):
        k = gauss_kernel(key / 100.0)
        if k.size > 1:
            patch = ndimage.correlate1d(patch, k.astype(np.float32), axis=axis, mode="wrap")
    patch = np.array(patch, dtype=np.float32)
    patch -= np.float32(patch.mean())
    patch *= np.float32(1.0 / max(float(patch.std()), 1e-6))
    patch.setflags(write=False)
    return patch


def noise_patch(corr_vox: tuple[float, float, float]) -> np.ndarray:
    """A periodic, unit-variance noise volume (``PATCH_SIZE`` per axis) with the correlation of a scanner:
    white noise filtered by a Gaussian of ``corr_vox[k]`` voxels along axis ``k`` (wrapping round).

    The widths are rounded to 0.01 voxel and the last few patches are kept, so a training run
    on scans of one kind builds each patch once (about 30 ms).
    """
    key = tuple(int(round(max(0.0, float(c)) * 100)) for c in corr_vox)
    return _noise_patch_cached(key)  # type: ignore[arg-type]


def patch_offset(seed: int) -> tuple[int, int, int]:
    """Where a tumor reads the noise patch: three offsets from its noise seed."""
    z = _mix_int(int(seed) + 0x632BE59BD9B4E019)
    return (z % PATCH_SIZE, (z >> 21) % PATCH_SIZE, (z >> 42) % PATCH_SIZE)


def read_patch(patch: np.ndarray, start: tuple[int, int, int], shape: tuple[int, int, int],
               offset: tuple[int, int, int]) -> np.ndarray:
    """The noise at the voxels ``start + [0, shape)`` of a CT, from the patch tiled over the CT and shifted
    by ``offset``: a few block copies (the patch wraps round), no gather."""
    out = np.empty(shape, dtype=np.float32)
    segs = []
    for k in range(3):
        n = patch.shape[k]
        pos = (int(start[k]) + int(offset[k])) % n
        got, parts = 0, []
        while got < shape[k]:
            take = min(n - pos, shape[k] - got)
            parts.append((got, got + take, pos, pos + take))
            got += take
            pos = 0
        segs.append(parts)
    for a0, a1, p0, p1 in segs[0]:
        for b0, b1, q0, q1 in segs[1]:
            for c0, c1, r0, r1 in segs[2]:
                out[a0:a1, b0:b1, c0:c1] = patch[p0:p1, q0:q1, r0:r1]
    return out
