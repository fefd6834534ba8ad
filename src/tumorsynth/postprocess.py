"""Step 4, post-processing: mass effect and capsule.

*Mass effect*: a growing tumor pushes the parenchyma and vessels around it outward. Tissue that
now lies at signed distance ``d`` outside the tumor surface came from ``delta(d)`` mm closer to
the tumor centre, with ``delta = D (1 - d / W)**2`` for ``0 <= d < W`` (``D`` the push at the
surface, ``W`` the decay range; ``W >= 2.5 D`` keeps the map one-to-one), and ``delta = D rho``
inside. The CT is resampled there with trilinear interpolation, only at liver voxels that move.

*Capsule*: a thin bright rim, a Gaussian profile of width ``w`` centred half a width inside the
tumor surface, for the larger tumors that have one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["capsule_profile", "push_distance", "trilinear_gather"]


def push_distance(d: np.ndarray, rho: np.ndarray, push_mm: float, range_mm: float) -> np.ndarray:
    """delta(d): how far (mm, toward the centre) each point's tissue came from."""
    out = np.zeros_like(d)
    if push_mm <= 0 or range_mm <= 0:
        return out
    outside = d >= 0
    f = np.clip(1.0 - d / np.float32(range_mm), 0.0, 1.0)
    np.multiply(f, f, out=f)
    out = np.where(outside, np.float32(push_mm) * f, np.float32(push_mm) * np.minimum(rho, 1.0))
    return out.astype(np.float32, copy=False)


def capsule_profile(d: np.ndarray, width_mm: float) -> np.ndarray:
    """Weight of the capsule rim at signed distance d (peak 1, half a width inside the surface)."""
    z = (d + np.float32(0.5 * width_mm)) / np.float32(width_mm)
    return np.exp(-0.5 * z * z).astype(np.float32, copy=False)


def trilinear_gather(vol: np.ndarray, p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Values of a C-contiguous 3-D array at fractional indices inside it (trilinear).

    Indices are clamped to the array; the result is float32.
    """
    vol = np.ascontiguousarray(vol)
    shape = vol.shape
    flat = vol.reshape(-1)
    strides = (shape[1] * shape[2], shape[2], 1)
    base = np.zeros(p0.shape, dtype=np.intp)
    w = []
    step = []
    for p, n, st in zip((p0, p1, p2), shape, strides, strict=True):
        if n == 1:
            w.append(None)
            step.append(0)
            continue
        q = np.clip(p, 0, n - 1).astype(np.float32, copy=False)
        fi = np.minimum(q.astype(np.intp), n - 2)  # q >= 0: truncation is floor
        base += fi * st
        q -= fi
        w.append(q)
        step.append(st)

    def lerp(lo: np.ndarray, hi: np.ndarray, wk: np.ndarray | None) -> np.ndarray:
        if wk is None:
            return lo
        hi -= lo
        hi *= wk
        hi += lo
        return hi

    s0, s1, s2 = step
    c00 = lerp(flat[base].astype(np.float32), flat[base + s2].astype(np.float32), w[2])
    c01 = lerp(flat[base + s1].astype(np.float32), flat[base + s1 + s2].astype(np.float32), w[2])
    c10 = lerp(flat[base + s0].astype(np.float32), flat[base + s0 + s2].astype(np.float32), w[2])
    c11 = lerp(flat[base + s0 + s1].astype(np.float32), flat[base + s0 + s1 + s2].astype(np.float32), w[2])
    return lerp(lerp(c00, c01, w[1]), lerp(c10, c11, w[1]), w[0])
