"""Step 3, shape: a rotated ellipsoid, elastically deformed, with a blurred edge.

The shape is evaluated analytically at the voxels that need it (no mask is rasterized, warped or
filtered): a voxel at offset ``x`` (mm) from the centre is moved by a smooth random displacement
``u(x)`` (control points every ``h`` mm, offsets drawn with standard deviation sigma_e, cubic
interpolation; the elastic deformation of the paper), rotated into the ellipsoid's frame, and
its signed distance to the ellipsoid surface is estimated to first order. The soft mask
``t''`` is then the Gaussian edge profile ``Phi(-d / sigma)``, which is what blurring a hard
mask with a Gaussian of width sigma_c gives near a smooth surface; the voxel's own extent
(partial volume, e.g. 5 mm slices) adds ``s**2 / 12`` per axis to ``sigma**2`` along the normal.
"""

from __future__ import annotations

import math

import numpy as np

from tumorsynth.interp import cubic_matrix_stack
from tumorsynth.noise import hashed_normals_stack
from tumorsynth.params import TumorParams

__all__ = ["deform_seeds", "deformation_step_mm", "quaternion_matrix", "radial_displacement", "soft_mask"]

NODE_CLIP = 2.5  # control-point offsets are clipped at NODE_CLIP * sigma_e
OVERSHOOT = 1.3  # bound of cubic interpolation overshoot used to size boxes


def quaternion_matrix(q: tuple[float, float, float, float]) -> np.ndarray:
    """3x3 rotation matrix of a (not necessarily normalized) quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in q)
    n = math.sqrt(w * w + x * x + y * y + z * z) or 1.0
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


DEFORM_STEP_PER_SIGMA = 4.0  # control points at least this many sigma_e apart


def deformation_step_mm(t: TumorParams) -> float:
    """Spacing of the control points of a tumor's elastic deformation.

    About three control points across the tumor (1.25 mean semi-axes apart), and never closer
    than DEFORM_STEP_PER_SIGMA sigma_e: offsets of SD sigma_e between control points h apart
    give slopes of about 4 sigma_e / h, and slopes near -1 would fold the tumor onto itself.
    So a strong deformation makes broad lobes; the fold check in :mod:`tumorsynth.plan` then
    rarely has to scale a field down (which would make every sigma_e beyond the limit give
    the same shape). The paper's types (Table 6) keep 1.25 r for all but the top of the
    medium range.
    """
    a0, a1, a2 = (float(v) for v in t.semi_axes_mm)
    return max(1.25 * ((a0 + a1 + a2) / 3), DEFORM_STEP_PER_SIGMA * float(t.deform_sigma_mm))


def deform_seeds(t: TumorParams) -> list[int]:
    """Seeds of the three displacement components (one unbounded node lattice each)."""
    return [(int(t.deform_seed) * 3 + k) % (1 << 64) for k in range(3)]


def radial_displacement(tumors: list[TumorParams], x: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """``x . u(x)`` on the flat layout (S, n0, n1 * n2) of the tumors' elastic deformations at their
    node offsets ``x`` (``x[k]`` (S, n_k), mm).

    The displacement of each component lives on an unbounded lattice of control points every
    ``deformation_step_mm`` around the tumor centre, with hashed normal offsets of SD sigma_e
    clipped at NODE_CLIP sigma_e, resampled by cubic interpolation (the elastic deformation of
    the paper). Each tumor uses the lattice nodes its grid needs, so any box gives the same
    field. Separable: three batched matrix products, the factor ``x_k`` of each component folded
    into that axis's matrix and the sum over components into the last product.
    """
    n = len(tumors)
    g = np.array([deformation_step_mm(t) for t in tumors], dtype=np.float64)[:, None]
    pos = np.concatenate(x, axis=1) / g  # (S, n0 + n1 + n2) in lattice steps
    cuts = np.cumsum([0, *(xk.shape[1] for xk in x)])
    los, widths = [], []
    for k in range(3):
        pk = pos[:, cuts[k]:cuts[k + 1]]
        lo = np.floor(pk.min(axis=1)) - 1
        pk -= lo[:, None]  # >= 1 (rounding is monotone)
        los.append(lo.astype(np.int64))
        widths.append(int(np.floor(pk.max())) + 3)
    m_all = cubic_matrix_stack(pos, max(widths))  # one matrix build for the three axes
    mats = [m_all[:, cuts[k]:cuts[k + 1], :widths[k]] for k in range(3)]
    mxs = [m * xk[:, :, None] for m, xk in zip(mats, x, strict=True)]
    ks = [lo[:, None] + np.arange(w) for lo, w in zip(los, widths, strict=True)]
    seeds = [sd for t in tumors for sd in deform_seeds(t)]
    nodes = hashed_normals_stack(seeds, *(np.repeat(kk, 3, axis=0) for kk in ks))  # (3S, w0, w1, w2)
    sig = np.repeat(np.array([t.deform_sigma_mm for t in tumors], dtype=np.float32), 3)[:, None, None, None]
    nodes *= sig
    np.clip(nodes, -NODE_CLIP * sig, NODE_CLIP * sig, out=nodes)
    m0, m1, m2 = mats
    n0, n1, n2 = (xk.shape[1] for xk in x)
    w0, w1, w2 = (mk.shape[2] for mk in mats)
    # contract w2, then w1, then w0 (and the components), each as one matrix product per
    # tumor and component on contiguous data
    a2 = np.stack([m2, m2, mxs[2]], axis=1).transpose(0, 1, 3, 2)  # (S, 3, w2, n2)
    t = np.matmul(nodes.reshape(n, 3, w0 * w1, w2), a2).reshape(n, 3, w0, w1, n2)
    t = np.ascontiguousarray(t.transpose(0, 1, 3, 2, 4)).reshape(n, 3, w1, w0 * n2)
    a1 = np.stack([m1, mxs[1], m1], axis=1)  # (S, 3, n1, w1)
    t = np.matmul(a1, t).reshape(n, 3, n1, w0, n2)
    t = np.ascontiguousarray(t.transpose(0, 1, 3, 2, 4)).reshape(n, 3 * w0, n1 * n2)
    return np.matmul(np.concatenate([mxs[0], m0, m0], axis=2), t)  # (S, n0, n1 * n2): sum over components


def soft_mask(d: np.ndarray, edge_blur_mm: float, pv_var: np.ndarray | float) -> np.ndarray:
    """t'' = Phi(-d / sigma), sigma**2 = sigma_c**2 + partial volume; a hard mask when sigma_c = 0.

    Phi is evaluated with the logistic approximation ``1 / (1 + exp(1.5976 z + 0.070566 z**3))``
    (absolute error below 2e-4), five times faster than the exact error function. With a scalar
    ``pv_var`` the scale 1 / sigma is folded into the polynomial's coefficients.
    """
    if edge_blur_mm <= 0:
        return (d <= 0).astype(np.float32)
    if np.ndim(pv_var) == 0:
        inv = 1.0 / math.sqrt(float(np.float32(edge_blur_mm) ** 2 + np.float32(pv_var)))
        e = np.multiply(d, d, dtype=np.float32)
        e *= np.float32(0.070566 * inv**3)
        e += np.float32(1.5976 * inv)
        e *= d
    else:
        z = d * (1.0 / np.sqrt(np.float32(edge_blur_mm) ** 2 + np.asarray(pv_var, dtype=np.float32)))
        e = z * z
        e *= np.float32(0.070566)
        e += np.float32(1.5976)
        e *= z
    with np.errstate(over="ignore"):  # far outside: exp overflows to inf and the mask to 0
        np.exp(e, out=e)
    e += np.float32(1.0)
    np.reciprocal(e, out=e)
    return e
