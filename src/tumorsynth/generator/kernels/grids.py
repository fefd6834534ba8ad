"""Array kernels on stacks of tumor grids in the flat layout (S, n0, n1 * n2).

The tumors of a call are evaluated together (:mod:`tumorsynth.generator.step3_plan`): their grids are padded to
one shape and stored with the last two axes flattened, so every array operation runs over long
contiguous rows; for grids of some ten thousand nodes that matters more than the arithmetic.
Shifts along the flat plane stand for neighbours along the last two axes; where they wrap
around a row the results are garbage, which the callers mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BATCH_WASTE = 1.6  # a batch's padded arrays may hold this many times the elements of its members

__all__ = ["bbox", "block_mean", "central_slopes", "flat_cell_min", "marked_ranges", "plane_offsets", "quadratic_forms",
           "size_groups"]


def central_slopes(ur: np.ndarray, w0: np.ndarray, w1: np.ndarray, w2: np.ndarray, n2: int) -> np.ndarray:
    """Slope ``sum_k D_k(ur) w_k`` with central differences D_k on the flat layout (S, n0, n1 * n2).

    Differences along the last two axes are shifts of the flat plane (by ``n2`` and 1): they are
    right wherever both neighbours lie on the grid, garbage elsewhere (the caller masks those).
    """
    s = ur.shape[0]
    flat = ur.reshape(s, -1)
    acc = np.zeros_like(ur)
    np.subtract(flat[:, 2 * n2:], flat[:, :-2 * n2], out=acc.reshape(s, -1)[:, n2:-n2])
    acc *= w1
    tmp = np.zeros_like(ur)
    np.subtract(flat[:, 2:], flat[:, :-2], out=tmp.reshape(s, -1)[:, 1:-1])
    tmp *= w2
    acc += tmp
    np.subtract(ur[:, 2:], ur[:, :-2], out=tmp[:, 1:-1])
    tmp[:, 0] = 0
    tmp[:, -1] = 0
    tmp *= w0
    acc += tmp
    return acc


def plane_offsets(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The offsets ``x1`` (S, n1) and ``x2`` (S, n2) spread over the flat plane: two (S, 1, n1 * n2)."""
    s, n1, n2 = x1.shape[0], x1.shape[1], x2.shape[1]
    return (np.repeat(x1, n2, axis=1).reshape(s, 1, n1 * n2),
            np.tile(x2, (1, n1)).reshape(s, 1, n1 * n2))


def quadratic_forms(m: np.ndarray, x0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """``x^T m_s x`` on the flat layout (S, n0, n1 * n2): ``x0`` (S, n0, 1), ``p1``, ``p2`` from :func:`plane_offsets`.

    The terms without x0 live on the plane; the rest is one product and two sums over the grid,
    each with a long contiguous inner loop.
    """
    f = (m * np.array([[1.0, 2.0, 2.0], [2.0, 1.0, 2.0], [2.0, 2.0, 1.0]])).astype(np.float32)[:, :, :, None, None]
    plane = f[:, 1, 1] * p1 * p1
    plane += f[:, 1, 2] * p1 * p2
    plane += f[:, 2, 2] * p2 * p2
    lin = f[:, 0, 1] * p1
    lin += f[:, 0, 2] * p2
    out = x0 * lin
    out += plane
    out += f[:, 0, 0] * x0 * x0
    return out


def _edges(hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First marked index and one past the last, per row of a (S, n) bool array."""
    first = np.argmax(hit, axis=1)
    last = hit.shape[1] - np.argmax(hit[:, ::-1], axis=1)
    return first, last


def marked_ranges(mark: np.ndarray, c1: int, n2: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marked cells on the flat cell layout (S, c0, c1 * n2): any, first cell and last node per axis."""
    s = mark.shape[0]
    a0: np.ndarray = np.asarray(mark.any(axis=2))
    p12: np.ndarray = np.asarray(mark.any(axis=1)).reshape(s, c1, n2)
    lo, hi = zip(_edges(a0), _edges(np.asarray(p12.any(axis=2))), _edges(np.asarray(p12.any(axis=1))), strict=True)
    return np.asarray(a0.any(axis=1)), np.stack(lo, axis=1), np.stack(hi, axis=1)


def flat_cell_min(g: np.ndarray, n2: int) -> np.ndarray:
    """Minimum over the 8 corners of every cell, on the flat layout: (S, n0, n1 * n2) -> (S, n0 - 1, (n1 - 1) * n2).

    Entry ``j1 * n2 + j2`` is cell (j1, j2); the column ``j2 = n2 - 1`` wraps around the plane:
    garbage, which the caller masks (its last entry, with no neighbour, is +inf).
    """
    m = np.minimum(g[:, :-1], g[:, 1:])
    m1 = np.minimum(m[..., :-n2], m[..., n2:])
    out = np.empty_like(m1)
    np.minimum(m1[..., :-1], m1[..., 1:], out=out[..., :-1])
    out[..., -1] = np.inf
    return out


def bbox(mask: np.ndarray) -> list[tuple[int, int]] | None:
    """Index range (start, stop) per axis of the non-zero voxels of a 3-D mask; None if there are none.

    Two reductions over the whole mask (over its last two axes, and over its first), then the
    small plane.
    """
    i0 = np.flatnonzero(mask.any(axis=(1, 2)))
    if i0.size == 0:
        return None
    p12 = np.asarray(mask.any(axis=0))
    i1, i2 = np.flatnonzero(p12.any(axis=1)), np.flatnonzero(p12.any(axis=0))
    return [(int(i[0]), int(i[-1]) + 1) for i in (i0, i1, i2)]


def block_mean(arr: np.ndarray, step: Sequence[int]) -> np.ndarray:
    """Mean (float32) over blocks of ``step`` voxels of a 3-D array, padded by edge values to a multiple."""
    pads = [(0, (-n) % k) for n, k in zip(arr.shape, step, strict=True)]
    a = np.asarray(arr, dtype=np.float32)
    if any(p[1] for p in pads):
        a = np.pad(a, pads, mode="edge")
    n0, n1, n2 = (s // k for s, k in zip(a.shape, step, strict=True))
    k0, k1, k2 = step
    return a.reshape(n0, k0, n1, k1, n2, k2).mean(axis=(1, 3, 5), dtype=np.float32)


def size_groups(shapes: Sequence[Sequence[int]], max_elements: int, waste: float = BATCH_WASTE) -> list[list[int]]:
    """Indices of the grids stacked together: largest first, a grid joins the current batch while
    the padded batch holds at most ``waste`` times the elements of its grids and ``max_elements``.

    Example:
        >>> size_groups([(2, 2, 2), (10, 10, 10), (9, 10, 10)], max_elements=10**6)  # 1.6x padding at most
        [[1, 2, 0]]
        >>> size_groups([(2, 2, 2), (10, 10, 10)], max_elements=10**6)
        [[1], [0]]
        >>> size_groups([(10, 10, 10), (9, 10, 10)], max_elements=1500)
        [[0], [1]]
    """
    order = sorted(range(len(shapes)), key=lambda i: -math.prod(shapes[i]))
    groups: list[list[int]] = []
    shape: list[int] = []
    total = 0
    for i in order:
        n = list(shapes[i])
        if groups:
            new = [max(x, y) for x, y in zip(shape, n, strict=True)]
            padded = math.prod(new) * (len(groups[-1]) + 1)
            if padded <= waste * (total + math.prod(n)) and padded <= max_elements:
                groups[-1].append(i)
                shape, total = new, total + math.prod(n)
                continue
        groups.append([i])
        shape, total = n, math.prod(n)
    return groups
