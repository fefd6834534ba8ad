"""Separable resampling as small matrix products.

A smooth random field (tumor texture, elastic deformation) is a small grid of random numbers
resampled to the voxels of a tumor's box. Resampling a grid along one axis is a linear map, so
the whole 3-D resampling is three small matrix products (``np.tensordot``) with one matrix per
axis, far cheaper than ``scipy.ndimage.zoom`` on large outputs and exact at any anisotropic
spacing: the matrices are built from each axis's own voxel positions in millimetres.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "apply_separable",
    "apply_separable_stack",
    "cubic_matrix",
    "cubic_matrix_stack",
    "gaussian_matrix",
    "row_blocks",
    "upsample_linear",
]


_KEYS = np.array([[0.0, 1.0, 0.0, 0.0],  # Keys weights of the 4 nodes: sum_p _KEYS[p] t**p
                  [-0.5, 0.0, 0.5, 0.0],
                  [1.0, -2.5, 2.0, -0.5],
                  [-0.5, 1.5, -1.5, 0.5]])


def _keys_weights(t: np.ndarray) -> np.ndarray:
    """Keys cubic-convolution weights (a = -0.5, Catmull-Rom) of the 4 nodes around offset t."""
    tc = np.asarray(t)[:, None]
    w = tc * _KEYS[3]
    w += _KEYS[2]
    w *= tc
    w += _KEYS[1]
    w *= tc
    w += _KEYS[0]
    return w


def _matrix(positions: np.ndarray, n_nodes: int, weights_fn) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    fl = np.floor(pos)
    w = weights_fn(pos - fl)
    base = fl.astype(np.intp)
    n = pos.size
    mat = np.zeros((n, n_nodes), dtype=np.float64)
    if n and int(base.min()) >= 1 and int(base.max()) + 2 < n_nodes:  # interior: 4 distinct nodes per row
        idx = (base + (np.arange(n) * n_nodes - 1))[:, None] + np.arange(4)
        mat.reshape(-1)[idx] = w
    elif n:
        cols = base[:, None] + np.arange(-1, 3)[None, :]
        rows = np.arange(n)[:, None]
        np.add.at(mat, (np.broadcast_to(rows, cols.shape), np.clip(cols, 0, n_nodes - 1)), w)
    return mat


def cubic_matrix(positions: np.ndarray, n_nodes: int) -> np.ndarray:
    """Matrix (len(positions), n_nodes) of cubic interpolation; node k sits at position k."""
    return _matrix(positions, n_nodes, _keys_weights)


def cubic_matrix_stack(positions: np.ndarray, n_nodes: int) -> np.ndarray:
    """Cubic interpolation matrices (float32) of a stack of position rows: (S, R) -> (S, R, n_nodes).

    Every position must lie in the interior, ``1 <= floor(p)`` and ``floor(p) + 2 < n_nodes``
    (four distinct nodes per row), which the callers guarantee by their choice of node range.

    Example:
        >>> m = cubic_matrix_stack(np.array([[1.0, 2.5]]), 5)
        >>> m.shape, bool(np.allclose(m[0], cubic_matrix(np.array([1.0, 2.5]), 5)))
        ((1, 2, 5), True)
    """
    pos = np.asarray(positions, dtype=np.float64)
    fl = np.floor(pos)
    flat = fl.reshape(-1)
    w = _keys_weights((pos - fl).reshape(-1))
    base = flat.astype(np.intp)
    n = base.size
    if n and (int(base.min()) < 1 or int(base.max()) + 2 >= n_nodes):
        raise ValueError("cubic_matrix_stack: a position lies outside the interior of the node range")
    mat = np.zeros((n, n_nodes), dtype=np.float32)
    idx = (base + (np.arange(n) * n_nodes - 1))[:, None] + np.arange(4)
    mat.reshape(-1)[idx] = w
    return mat.reshape(*pos.shape, n_nodes)


def gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) Gaussian smoothing of a grid (sigma in grid steps; rows renormalized at the ends)."""
    if sigma <= 1e-3:
        return np.eye(n)
    x = np.arange(n, dtype=np.float64)
    g = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    return g / g.sum(axis=1, keepdims=True)


BAND_TOL = 1e-9  # matrix entries below this fraction of their row's largest are left out of products
BAND_MIN_ROWS = 48  # matrices with fewer rows are applied in one dense product


def row_blocks(m: np.ndarray, rows: int) -> list[tuple[int, int, int, int]]:
    """Blocks ``(r0, r1, c0, c1)`` of ``rows`` rows of a banded matrix and the columns they use.

    Entries below ``BAND_TOL`` times their row's largest are treated as zero (their share of a
    product is far below float32 rounding).
    """
    n, k = m.shape
    a = np.abs(m)
    nz = a > BAND_TOL * a.max(axis=1, keepdims=True)
    first = np.argmax(nz, axis=1)
    last = k - np.argmax(nz[:, ::-1], axis=1)
    starts = np.arange(0, n, rows)
    c0 = np.minimum.reduceat(first, starts)
    c1 = np.maximum.reduceat(last, starts)
    ends = np.append(starts[1:], n)
    return [(int(r0), int(r1), int(a0), int(a1)) for r0, r1, a0, a1 in zip(starts, ends, c0, c1, strict=True)]


def apply_separable(grid: np.ndarray, mats: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Resample a 3-D grid with one matrix per axis: ``out[i,j,k] = sum M0[i,a] M1[j,b] M2[k,c] grid[a,b,c]``.

    Three matrix products on contiguous data (no transposed copies); large banded matrices
    (cubic interpolation, a narrow blur) are applied in blocks of rows, each with only the
    columns it uses, so a product costs what its band costs.

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
    g2 = g.reshape(a * b, c)
    if n2 < 2 * BAND_MIN_ROWS:  # contract the last axis
        t = g2 @ m2.T
    else:
        t = np.empty((a * b, n2), dtype=np.float32)
        for r0, r1, c0, c1 in row_blocks(m2, 32):
            np.matmul(g2[:, c0:c1], m2[r0:r1, c0:c1].T, out=t[:, r0:r1])
    t3 = t.reshape(a, b, n2)
    if n1 < BAND_MIN_ROWS:  # (a, n1, n2): contract the middle axis, batched over a
        u = np.matmul(m1, t3)
    else:
        u = np.empty((a, n1, n2), dtype=np.float32)
        for r0, r1, c0, c1 in row_blocks(m1, 16):
            np.matmul(m1[r0:r1, c0:c1], t3[:, c0:c1], out=u[:, r0:r1])
    u2 = u.reshape(a, n1 * n2)
    if n0 < BAND_MIN_ROWS:
        return (m0 @ u2).reshape(n0, n1, n2)
    out = np.empty((n0, n1 * n2), dtype=np.float32)
    for r0, r1, c0, c1 in row_blocks(m0, 16):
        np.matmul(m0[r0:r1, c0:c1], u2[c0:c1], out=out[r0:r1])
    return out.reshape(n0, n1, n2)


def apply_separable_stack(grids: np.ndarray, mats: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """:func:`apply_separable` of a stack of grids (S, a, b, c), each with its own matrices
    ``mats[k]`` (S, n_k, .): -> (S, n0, n1, n2), as three batched matrix products."""
    m0, m1, m2 = (np.asarray(m, dtype=np.float32) for m in mats)
    g = np.asarray(grids, dtype=np.float32)
    if g.shape[0] == 1:  # one grid: the banded products of apply_separable
        return apply_separable(g[0], (m0[0], m1[0], m2[0]))[None]
    s, a, b, c = g.shape
    n0, n1, n2 = m0.shape[1], m1.shape[1], m2.shape[1]
    t = np.matmul(g.reshape(s, a * b, c), m2.transpose(0, 2, 1))  # (S, a*b, n2)
    t = np.ascontiguousarray(t.reshape(s, a, b, n2).transpose(0, 2, 1, 3)).reshape(s, b, a * n2)
    u = np.matmul(m1, t)  # (S, n1, a*n2): one product per grid, not one per row
    u = np.ascontiguousarray(u.reshape(s, n1, a, n2).transpose(0, 2, 1, 3)).reshape(s, a, n1 * n2)
    return np.matmul(m0, u).reshape(s, n0, n1, n2)


LERP_MATMUL_MAX = 4_000_000  # multiply-adds below which an axis is upsampled by one matrix product


@functools.lru_cache(maxsize=1024)
def _lerp_matrix(k: int, n: int, m: int) -> np.ndarray:
    """(n, m) matrix of linear interpolation from m nodes every k voxels to n voxels (read-only, cached:
    tumors of one size share it)."""
    pos = np.arange(n) / k
    i0 = np.minimum(np.floor(pos).astype(np.intp), m - 2)
    w = pos - i0
    lin = np.zeros((n, m), dtype=np.float32)
    rows = np.arange(n)
    lin[rows, i0] = 1.0 - w
    lin[rows, i0 + 1] = w
    lin.setflags(write=False)
    return lin


def upsample_linear(grid: np.ndarray, steps: tuple[int, int, int], out_shape: tuple[int, int, int]) -> np.ndarray:
    """Linear interpolation of a node grid (nodes every ``steps[k]`` voxels, node 0 at voxel 0).

    Done axis by axis, the last axis first (the smallest intermediate arrays) and axis 0 last:
    for each of the ``k`` phases of an axis, one strided slice of the output is the lerp of two
    neighbouring node slices with a constant weight, so an axis costs two passes over its output.
    """
    out = np.asarray(grid, dtype=np.float32)
    for axis in (2, 1, 0):
        k, n = int(steps[axis]), int(out_shape[axis])
        if k == 1:
            out = out[(slice(None),) * axis + (slice(0, n),)]
            continue
        m = out.shape[axis]
        out_size = out.size // m * n
        if axis == 2 or m * out_size <= LERP_MATMUL_MAX:
            # one small matrix product (exact lerp weights), every write contiguous: for the last
            # axis always, for the others while the product is cheap
            lin = _lerp_matrix(k, n, m)
            if axis == 2:
                a0, a1 = out.shape[0], out.shape[1]
                out = (out.reshape(a0 * a1, m) @ lin.T).reshape(a0, a1, n)
            elif axis == 1:
                out = np.matmul(lin, out)
            else:
                out = (lin @ out.reshape(m, -1)).reshape(n, *out.shape[1:])
            continue
        pre = (slice(None),) * axis
        res_shape = list(out.shape)
        res_shape[axis] = n
        res = np.empty(res_shape, dtype=np.float32)
        lo = out[(*pre, slice(0, m - 1))]
        diff = out[(*pre, slice(1, m))] - lo
        for j in range(min(k, n)):
            cnt = (n - j + k - 1) // k  # outputs j, j + k, ... below n
            main = min(cnt, m - 1)
            dst = res[(*pre, slice(j, j + k * main, k))]
            np.multiply(diff[(*pre, slice(0, main))], np.float32(j / k), out=dst)
            dst += lo[(*pre, slice(0, main))]
            for q in range(main, cnt):  # beyond the last node: extrapolate the last cell
                w = np.float32((j + k * q) / k - (m - 2))
                dst1 = res[(*pre, slice(j + k * q, j + k * q + 1))]
                np.multiply(diff[(*pre, slice(m - 2, m - 1))], w, out=dst1)
                dst1 += lo[(*pre, slice(m - 2, m - 1))]
        out = res
    return out
