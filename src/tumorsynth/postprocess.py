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
    """Values of a 3-D array at fractional indices (trilinear; clamped at the borders)."""
    n0, n1, n2 = vol.shape
    flat = vol.reshape(-1)  # a view for C-contiguous arrays
    f = []
    w = []
    for p, n in ((p0, n0), (p1, n1), (p2, n2)):
        p = np.clip(p, 0, n - 1)
        fi = np.minimum(np.floor(p).astype(np.int64), max(n - 2, 0))
        f.append(fi)
        w.append((p - fi).astype(np.float32) if n > 1 else np.zeros_like(p, dtype=np.float32))
    s0, s1 = n1 * n2, n2
    d0, d1, d2 = (s0 if n0 > 1 else 0), (s1 if n1 > 1 else 0), (1 if n2 > 1 else 0)
    base = f[0] * s0 + f[1] * s1 + f[2]

    def lerp_z(b: np.ndarray) -> np.ndarray:
        lo = flat[b].astype(np.float32)
        return lo + w[2] * (flat[b + d2] - lo)

    c00 = lerp_z(base)
    c01 = lerp_z(base + d1)
    c10 = lerp_z(base + d0)
    c11 = lerp_z(base + d0 + d1)
    c0 = c00 + w[1] * (c01 - c00)
    c1 = c10 + w[1] * (c11 - c10)
    return (c0 + w[0] * (c1 - c0)).astype(np.float32, copy=False)
