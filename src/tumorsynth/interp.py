"""Separable resampling as small matrix products.

A smooth random field (tumor texture, elastic deformation) is a small grid of random numbers
resampled to the voxels of a tumor's box. Resampling a grid along one axis is a linear map, so
the whole 3-D resampling is three small matrix products (``np.tensordot``) with one matrix per
axis, far cheaper than ``scipy.ndimage.zoom`` on large outputs and exact at any anisotropic
spacing: the matrices are built from each axis's own voxel positions in millimetres.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "apply_separable",
    "apply_separable_batch",
    "bspline_matrix",
    "cubic_matrix",
    "gaussian_matrix",
    "upsample_linear",
]


def _keys_weights(t: np.ndarray) -> np.ndarray:
    """Keys cubic-convolution weights (a = -0.5, Catmull-Rom) of the 4 nodes around offset t."""
    t2 = t * t
    t3 = t2 * t
    return np.stack([-0.5 * t3 + t2 - 0.5 * t, 1.5 * t3 - 2.5 * t2 + 1, -1.5 * t3 + 2 * t2 + 0.5 * t,
                     0.5 * t3 - 0.5 * t2], axis=-1)


def _bspline_weights(t: np.ndarray) -> np.ndarray:
    """Uniform cubic B-spline weights of the 4 nodes around fractional offset t (sum to 1, >= 0)."""
    u = 1 - t
    return np.stack([u**3 / 6, (3 * t**3 - 6 * t**2 + 4) / 6, (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
                     t**3 / 6], axis=-1)


def _matrix(positions: np.ndarray, n_nodes: int, weights_fn) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    base = np.floor(pos).astype(np.int64)
    w = weights_fn(pos - base)
    cols = base[:, None] + np.arange(-1, 3)[None, :]
    mat = np.zeros((pos.size, n_nodes), dtype=np.float64)
    rows = np.arange(pos.size)[:, None]
    if cols.min() >= 0 and cols.max() < n_nodes:  # interior: no repeated index per row
        mat[rows, cols] = w
    else:
        np.add.at(mat, (np.broadcast_to(rows, cols.shape), np.clip(cols, 0, n_nodes - 1)), w)
    return mat


def cubic_matrix(positions: np.ndarray, n_nodes: int) -> np.ndarray:
    """Matrix (len(positions), n_nodes) of cubic interpolation; node k sits at position k."""
    return _matrix(positions, n_nodes, _keys_weights)


def bspline_matrix(positions: np.ndarray, n_nodes: int) -> np.ndarray:
    """Matrix of cubic B-spline smoothing: a convex combination, so never overshoots the nodes."""
    return _matrix(positions, n_nodes, _bspline_weights)


def gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) Gaussian smoothing of a grid (sigma in grid steps; rows renormalized at the ends)."""
    if sigma <= 1e-3:
        return np.eye(n)
    x = np.arange(n, dtype=np.float64)
    g = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    return g / g.sum(axis=1, keepdims=True)


def apply_separable(grid: np.ndarray, mats: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Resample a 3-D grid with one matrix per axis: ``out[i,j,k] = sum M0[i,a] M1[j,b] M2[k,c] grid[a,b,c]``.

    Three matrix products on contiguous data (no transposed copies).

    Example:
        >>> g = np.ones((4, 4, 4))
        >>> m = cubic_matrix(np.linspace(1, 2, 5), 4)
        >>> np.allclose(apply_separable(g, (m, m, m)), 1.0)
        True
    """
    m0, m1, m2 = (np.asarray(m, dtype=np.float32) for m in mats)
    g = np.ascontiguousarray(grid, dtype=np.float32)
    a, b, c = g.shape
    n0, n1, n2 = m0.shape[0], m1.shape[0], m2.shape[0]
    t = (g.reshape(a * b, c) @ m2.T).reshape(a, b, n2)  # contract the last axis
    t = np.matmul(m1, t)  # (a, n1, n2): contract the middle axis, batched over a
    return (m0 @ t.reshape(a, n1 * n2)).reshape(n0, n1, n2)


def apply_separable_batch(grids: np.ndarray, mats: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """:func:`apply_separable` on a stack of grids (C, a, b, c) at once -> (C, n0, n1, n2)."""
    m0, m1, m2 = (np.asarray(m, dtype=np.float32) for m in mats)
    g = np.asarray(grids, dtype=np.float32)
    t = np.tensordot(g, m2, axes=(3, 1))  # (C, a, b, n2)
    t = np.tensordot(t, m1, axes=(2, 1))  # (C, a, n2, n1)
    t = np.tensordot(t, m0, axes=(1, 1))  # (C, n2, n1, n0)
    return np.ascontiguousarray(t.transpose(0, 3, 2, 1))


def upsample_linear(grid: np.ndarray, steps: tuple[int, int, int], out_shape: tuple[int, int, int]) -> np.ndarray:
    """Linear interpolation of a node grid (nodes every ``steps[k]`` voxels, node 0 at voxel 0).

    Done axis by axis with two slices and a lerp, so it costs a few passes over the output.
    """
    out = np.asarray(grid, dtype=np.float32)
    for axis, (k, n) in enumerate(zip(steps, out_shape, strict=True)):
        if k == 1:
            out = out[(slice(None),) * axis + (slice(0, n),)]
            continue
        pos = np.arange(n) / k
        i0 = np.minimum(np.floor(pos).astype(np.intp), out.shape[axis] - 2)
        w = (pos - i0).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = n
        w = w.reshape(shape)
        a = np.take(out, i0, axis=axis)
        b = np.take(out, i0 + 1, axis=axis)
        b -= a
        b *= w
        a += b
        out = a
    return out
