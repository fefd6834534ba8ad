"""Step 3, shape: a rotated ellipsoid with a lobulated surface and a soft edge.

The shape is evaluated analytically at the nodes of a coarse grid (no mask is rasterized, warped
or filtered). The *elastic deformation* moves every point of the ellipsoid's surface along its
ray from the centre by a smooth random amount: the surface's radius in direction ``n`` is
``R(n) = R_ellipsoid(n) exp(s q(g(n)) - c)``, where ``g`` is a smooth, unit-variance random
function on the sphere, ``s = LOBE_GAIN sigma_e / r``, ``q`` leaves the lobes (``g > 0``) as they
are and softens the clefts between them (``q(g) = 1.5 tanh(g / 1.5)`` for ``g < 0``: a lobulated
margin bulges; its notches are not thinner than a voxel), and ``c`` keeps the volume that of the
ellipsoid. Real liver lesions of a few
centimetres are lobulated, more so as they grow (SPEC 2b): ``g`` is a random sum of spherical
harmonics of degrees 2 to 10 (degree 2 stretches the ellipsoid, higher degrees make lobes about
``pi r / l`` wide; degree ``l`` carries a share of the variance proportional to ``l**-1.5``, so
broad lobes dominate and finer ones ride on them), so the margin's irregularity has the amplitude sigma_e (in mm, the paper's
deformation strength) at the scales of the tumor's own lobes. A surface defined along rays is
star-shaped: every ray from the centre crosses it once, so a tumor is one piece without holes
or folds at any sigma_e.

``g`` is tabulated on a cube map (six faces of CUBE_CELLS x CUBE_CELLS cells around the tumor's
centre, in its own rotated frame) and read by bilinear interpolation; the signed distance to the
surface is the first-order ``(F - 1) / |grad F|`` of ``F(x) = |x| / R(x / |x|)``. The soft mask
``t''`` is the Gaussian edge profile ``Phi(-d / sigma)``: blurring a hard mask with a Gaussian of
width sigma_c, and then imaging it with the host scanner's own resolution (measured on the host,
:mod:`tumorsynth.generator.step1_host`), gives ``sigma**2 = sigma_c**2 + sum_k n_k**2 res_k**2`` along the normal
``n``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tumorsynth.generator.kernels.noise import hashed_normals_stack
from tumorsynth.generator.params import TumorParams

__all__ = ["CUBE_CELLS", "LOBE_DEGREES", "LOBE_GAIN", "cube_lookup", "deform_seeds", "lobulation_scale",
           "quaternion_matrix", "soft_mask", "surface_tables"]

LOBE_DEGREES = (2, 10)  # spherical-harmonic degrees of the lobulation (inclusive)
# SD of the surface's radial displacement per sigma_e: cubic B-spline interpolation of control-point
# offsets of SD sigma_e (the paper's elastic deformation) moves a surface point by about 0.7 sigma_e
LOBE_GAIN = 0.7
LOBE_CLIP = 2.5  # g is clipped at this many SDs
CLEFT_SOFT = 1.5  # clefts (g < 0) saturate at this many SDs
LOBE_MAX = 0.4  # s saturates here: beyond, lobes turn into spikes and clefts thinner than a voxel
CUBE_CELLS = 16  # cells per edge of each cube-map face


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


def deform_seeds(t: TumorParams) -> list[int]:
    """Seed of the tumor's lobulation (its spherical-harmonic coefficients)."""
    return [(int(t.deform_seed) * 3) % (1 << 64)]


def lobulation_scale(t: TumorParams) -> float:
    """``s``: SD of the log-radius of the surface (sigma_e relative to the tumor's radius)."""
    if t.deform_sigma_mm <= 0:
        return 0.0
    return min(LOBE_GAIN * float(t.deform_sigma_mm) / t.radius_mm, LOBE_MAX)


@functools.cache
def _cube_directions(m: int) -> np.ndarray:
    """Unit directions of the cube-map nodes: (6, m + 1, m + 1, 3); face ``2 a + (n_a < 0)``, its
    grid along the other two axes in increasing order."""
    u = np.linspace(-1.0, 1.0, m + 1)
    out = np.empty((6, m + 1, m + 1, 3))
    for a in range(3):
        b, c = [k for k in range(3) if k != a]
        for neg in (0, 1):
            f = out[2 * a + neg]
            f[..., a] = -1.0 if neg else 1.0
            f[..., b] = u[:, None]
            f[..., c] = u[None, :]
    out /= np.linalg.norm(out, axis=-1, keepdims=True)
    out.setflags(write=False)
    return out


@functools.cache
def _sh_basis(m: int) -> np.ndarray:
    """Real spherical harmonics of the lobulation degrees at the cube-map nodes, each degree ``l``
    weighted so that ``basis @ c`` with iid N(0, 1) coefficients has unit variance everywhere and
    degree ``l`` carries a share of it proportional to ``l**-1.5``: (nodes, coefficients), float32."""
    from scipy.special import sph_harm_y

    n = _cube_directions(m).reshape(-1, 3)
    theta = np.arccos(np.clip(n[:, 2], -1.0, 1.0))
    phi = np.arctan2(n[:, 1], n[:, 0])
    lo, hi = LOBE_DEGREES
    share = np.array([ll**-1.5 for ll in range(lo, hi + 1)])
    share /= share.sum()
    cols = []
    for ll, v in zip(range(lo, hi + 1), share, strict=True):
        a = math.sqrt(4 * math.pi * v / (2 * ll + 1))  # addition theorem: sum_m Y_lm**2 = (2l + 1) / 4 pi
        for mm in range(-ll, ll + 1):
            y = sph_harm_y(ll, abs(mm), theta, phi)
            if mm > 0:
                col = math.sqrt(2) * (-1) ** mm * y.real
            elif mm < 0:
                col = math.sqrt(2) * (-1) ** mm * y.imag
            else:
                col = y.real
            cols.append(a * col)
    basis = np.stack(cols, axis=1).astype(np.float32)
    basis.setflags(write=False)
    return basis


def surface_tables(tumors: list[TumorParams]) -> tuple[np.ndarray, np.ndarray]:
    """Cube-map tables of ``h = R_ellipsoid / R = exp(c - s q(g))`` per tumor, (S, 6, m + 1, m + 1)
    float32, and the half extents of each lobulated surface along the array axes (S, 3), mm: the
    largest ``R(n) |(rot n)_k|`` over the table's directions, plus 3%.
    """
    m = CUBE_CELLS
    basis = _sh_basis(m)
    n_coef = basis.shape[1]
    seeds = [deform_seeds(t)[0] for t in tumors]
    k0 = np.broadcast_to(np.arange(n_coef), (len(tumors), n_coef))
    zero = np.zeros((len(tumors), 1), dtype=np.int64)
    coef = hashed_normals_stack(seeds, k0, zero, zero)[:, :, 0, 0]  # (S, n_coef)
    g = (coef @ basis.T).astype(np.float64)  # (S, nodes)
    np.minimum(g, LOBE_CLIP, out=g)
    neg = g < 0
    g[neg] = CLEFT_SOFT * np.tanh(g[neg] / CLEFT_SOFT)
    s = np.array([lobulation_scale(t) for t in tumors])[:, None]
    lr = s * g  # log of R / R_ellipsoid, before the volume correction
    dirs = _cube_directions(m).reshape(-1, 3)
    w = _solid_angles(m)
    rots = np.stack([quaternion_matrix(t.rotation) for t in tumors])  # (S, 3, 3)
    inv_a2 = 1.0 / np.array([t.semi_axes_mm for t in tumors], dtype=np.float64) ** 2  # (S, 3)
    r_ell3 = ((dirs * dirs) @ inv_a2.T).T ** -1.5  # (S, P): R_ellipsoid**3
    # volume = integral of R**3 / 3 over the sphere: keep that of the ellipsoid
    c = np.log((w * r_ell3 * np.exp(3.0 * lr)).sum(axis=1) / (w * r_ell3).sum(axis=1)) / 3.0
    lr -= c[:, None]
    radius = np.cbrt(r_ell3) * np.exp(lr)  # (S, P)
    arr = np.abs(np.matmul(dirs, rots.transpose(0, 2, 1)))  # |rot n| per direction, array axes (S, P, 3)
    ext = 1.03 * (arr * radius[:, :, None]).max(axis=1)
    h = np.exp(-lr).astype(np.float32)
    return h.reshape(len(tumors), 6, m + 1, m + 1), ext


@functools.cache
def _solid_angles(m: int) -> np.ndarray:
    """Relative solid angle of each cube-map node ((1 + u**2 + v**2)**-1.5 on a face), flat."""
    u = np.linspace(-1.0, 1.0, m + 1)
    face = (1.0 + u[:, None] ** 2 + u[None, :] ** 2) ** -1.5
    return np.tile(face.reshape(-1), 6)


def cube_lookup(tables: np.ndarray, y0: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """Bilinear lookup of per-tumor cube-map tables (S, 6, m + 1, m + 1) in the directions
    ``(y0, y1, y2)`` (arrays of shape (S, ...), one stack entry per tumor)."""
    s_n = tables.shape[0]
    m = tables.shape[2] - 1
    a0, a1, a2 = np.abs(y0), np.abs(y1), np.abs(y2)
    on0 = (a0 >= a1) & (a0 >= a2)
    on1 = ~on0 & (a1 >= a2)
    on2 = ~(on0 | on1)
    den = np.where(on0, a0, np.where(on1, a1, a2))
    np.maximum(den, np.float32(1e-12), out=den)
    u = np.where(on0, y1, y0)  # the face's first in-plane axis: 1 on faces of axis 0, else 0
    v = np.where(on2, y1, y2)  # its second: 1 on faces of axis 2, else 2
    neg = np.where(on0, y0, np.where(on1, y1, y2)) < 0
    face = np.where(on0, 0, np.where(on1, 2, 4)) + neg
    half = np.float32(m / 2.0)
    u /= den
    u += np.float32(1.0)
    u *= half
    v /= den
    v += np.float32(1.0)
    v *= half
    top = np.float32(m - 1e-3)
    np.clip(u, 0, top, out=u)
    np.clip(v, 0, top, out=v)
    iu = u.astype(np.intp)
    iv = v.astype(np.intp)
    u -= iu
    v -= iv
    base = np.arange(s_n, dtype=np.intp).reshape((s_n,) + (1,) * (y0.ndim - 1)) * 6
    base = (base + face) * (m + 1)
    base += iu
    base *= m + 1
    base += iv
    flat = tables.reshape(-1)
    c00 = flat[base]
    c01 = flat[base + 1]
    c10 = flat[base + (m + 1)]
    c11 = flat[base + (m + 2)]
    c01 -= c00
    c01 *= v
    c00 += c01
    c11 -= c10
    c11 *= v
    c10 += c11
    c10 -= c00
    c10 *= u
    c00 += c10
    return c00


def soft_mask(d: np.ndarray, edge_blur_mm: float, pv_var: np.ndarray | float) -> np.ndarray:
    """t'' = Phi(-d / sigma), sigma**2 = sigma_c**2 + the scanner's resolution along the normal (``pv_var``);
    a hard mask when sigma_c = 0 (the ablation without edge blur).

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
