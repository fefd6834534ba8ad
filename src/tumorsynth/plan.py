"""Tumor geometry: where a tumor is and how far each voxel lies from its surface.

:func:`plan_tumor` evaluates the deformed ellipsoid of a tumor record on a coarse grid aligned
with the voxels, keeps the cells within the tumor's reach (edge blur, capsule, mass effect) and
interpolates the signed distance to their voxels. The pure step :mod:`tumorsynth.synthesize`
then blends the tumor with these distances. The grid depends on the shape alone, so switching
the edge blur, capsule or mass effect off leaves the shape exactly as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tumorsynth.interp import upsample_linear
from tumorsynth.params import CaseParams, TumorParams
from tumorsynth.shape import (
    NODE_CLIP,
    OVERSHOOT,
    deformation_nodes,
    quaternion_matrix,
)

__all__ = ["FOLD_MIN_DET", "MIN_PUSH_VOXELS", "TumorPlan", "fold_free_scale", "plan_tumor", "push_reach"]

MIN_PUSH_VOXELS = 0.5  # pushes under half a voxel move no voxel (nearest-voxel resampling)


@dataclass
class TumorPlan:
    """Geometry of one tumor in its box (internal; used by figures and tests).

    ``box`` is the tight region the tumor may change (soft edge, capsule, mass effect);
    ``d`` holds the signed distance to the deformed surface at every voxel of the box.
    """

    box: tuple[slice, slice, slice]
    offsets: tuple[np.ndarray, np.ndarray, np.ndarray]  # mm offsets of the box axes from the centre
    d: np.ndarray  # signed distance (mm, < 0 inside), shape of the box
    pv_var: np.ndarray | float  # partial-volume variance along the normal (mm^2)
    reach_mm: tuple[float, float, float]  # extent of the tumor itself along each axis
    inner: tuple[slice, slice, slice]  # part of the box (box-relative) the blend can change

    @property
    def tumor_box(self) -> tuple[slice, slice, slice]:
        """The region the blend changes, in CT indices."""
        return tuple(slice(b.start + i.start, b.start + i.stop) for b, i in zip(self.box, self.inner, strict=True))  # type: ignore[return-value]


FOLD_MIN_DET = 0.1  # smallest slope of r -> r + u_r(r) along a ray allowed near a tumor


def fold_free_scale(ur: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray], r: np.ndarray,
                    h_mm: tuple[float, float, float], near: np.ndarray) -> float:
    """Factor (<= 1) for a radial displacement ``ur`` so that ``r -> r + s ur`` keeps rising along
    every ray near the tumor (derivative > FOLD_MIN_DET): the tumor stays star-shaped, no holes.

    ``ur`` lives on the grid of 1-D mm offsets ``axes`` (step ``h_mm``), ``r`` is the distance
    from the centre there. The slope along a ray is ``grad(ur) . x / r``, with the gradient of
    ``np.gradient`` (central differences, one-sided at the ends), the factor ``x_k / r`` folded in
    axis by axis. Only fields with steep inward slopes are scaled (strong sigma_e on a small grid
    step); deterministic, so replays agree.
    """
    if min(ur.shape) < 2:
        return 1.0
    w = [np.asarray(x, dtype=np.float32) * np.float32(0.5 / h) for x, h in zip(axes, h_mm, strict=True)]
    for wk in w:  # one-sided differences at the ends: twice the weight of a central one
        wk[0] *= 2
        wk[-1] *= 2
    acc = np.empty_like(ur)
    np.subtract(ur[2:], ur[:-2], out=acc[1:-1])
    np.subtract(ur[1], ur[0], out=acc[0])
    np.subtract(ur[-1], ur[-2], out=acc[-1])
    acc *= w[0][:, None, None]
    tmp = np.empty_like(ur)
    np.subtract(ur[:, 2:], ur[:, :-2], out=tmp[:, 1:-1])
    np.subtract(ur[:, 1], ur[:, 0], out=tmp[:, 0])
    np.subtract(ur[:, -1], ur[:, -2], out=tmp[:, -1])
    tmp *= w[1][None, :, None]
    acc += tmp
    np.subtract(ur[:, :, 2:], ur[:, :, :-2], out=tmp[:, :, 1:-1])
    np.subtract(ur[:, :, 1], ur[:, :, 0], out=tmp[:, :, 0])
    np.subtract(ur[:, :, -1], ur[:, :, -2], out=tmp[:, :, -1])
    tmp *= w[2]
    acc += tmp
    acc /= r
    worst = -float(np.min(acc, where=near, initial=np.inf))
    if worst <= 1.0 - FOLD_MIN_DET:
        return 1.0
    return (1.0 - FOLD_MIN_DET) / worst


def _quadratic_form(m: np.ndarray, x0: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """``x^T m x`` on the grid of 1-D offsets (x0 x x1 x x2), in three passes over the grid."""
    m = np.asarray(m, dtype=np.float64)
    a0 = x0[:, None]
    b1 = x1[None, :]
    p = np.float32(m[0, 0]) * a0 * a0 + np.float32(m[1, 1]) * b1 * b1 + np.float32(2 * m[0, 1]) * a0 * b1
    lin = np.float32(2 * m[0, 2]) * a0 + np.float32(2 * m[1, 2]) * b1
    out = np.add(lin[:, :, None], np.float32(m[2, 2]) * x2)
    out *= x2
    out += p[:, :, None]
    return out


def push_reach(t: TumorParams, min_spacing_mm: float) -> float:
    """Distance outside the surface within which the mass effect moves tissue by half a voxel or more."""
    if t.mass_effect_mm < MIN_PUSH_VOXELS * min_spacing_mm or t.mass_effect_range_mm <= 0:
        return 0.0
    return t.mass_effect_range_mm * (1.0 - math.sqrt(MIN_PUSH_VOXELS * min_spacing_mm / t.mass_effect_mm))


def _cell_min(g: np.ndarray) -> np.ndarray:
    """Minimum over the 8 corners of every cell of a node grid (one pass per axis)."""
    m = np.minimum(g[:-1], g[1:])
    m = np.minimum(m[:, :-1], m[:, 1:])
    return np.minimum(m[:, :, :-1], m[:, :, 1:])


def plan_tumor(t: TumorParams, params: CaseParams, liver: np.ndarray) -> TumorPlan | None:
    """Tight box and signed distances of tumor ``t`` (None if it reaches no voxel).

    The deformed shape is evaluated on a coarse grid aligned with the voxels (a step of about a
    eighth of the smallest semi-axis, 1 to 3 mm); the box is cut to the coarse cells within the
    tumor's reach (edge blur, capsule, mass effect), and the distance, a smooth function, is
    interpolated linearly to its voxels. So the cost follows the tumor, not a worst-case box.
    """
    s = np.asarray(params.spacing_mm, dtype=np.float64)
    c = np.asarray(t.centre_vox, dtype=np.float64)
    a = np.asarray(t.semi_axes_mm, dtype=np.float64)
    rot = quaternion_matrix(t.rotation)
    smax = float(s.max())
    edge = 4.0 * math.sqrt(t.edge_blur_mm**2 + smax**2 / 12) if t.edge_blur_mm > 0 else 0.0
    rim = 1.0 * t.capsule_width_mm if t.capsule_hu != 0 else 0.0
    reach_out = max(edge, rim)
    need = max(reach_out, push_reach(t, float(s.min())))
    # the control-point grid depends on the shape alone (not on edge blur, capsule or mass
    # effect), so switching those steps off leaves the deformed shape exactly as it was
    deform = deformation_nodes(t, float(a.max() + NODE_CLIP * OVERSHOOT * t.deform_sigma_mm + 2 * smax + 2.0))
    bound = deform.bound_mm if deform is not None else np.zeros(3)
    base = np.sqrt((rot**2) @ (a**2))  # half extents of the rotated ellipsoid per axis
    half = base + bound + need + smax
    # integer grid geometry in plain Python (the same IEEE operations as numpy, fewer calls)
    sl = [float(v) for v in s]
    cl = [float(v) for v in c]
    hl = [float(v) for v in half]
    g_mm = min(max(float(a.min()) / 4.0, 1.0), 3.0)
    step = [max(1, round(g_mm / sk)) for sk in sl]
    # coarse nodes sit at floor(centre) + multiples of the step (any box gives the same nodes)
    lo = []
    for ck, hk, sk, st in zip(cl, hl, sl, step, strict=True):
        anchor = math.floor(ck)
        lo.append(anchor - st * math.ceil((anchor - max(math.floor(ck - hk / sk), 0)) / st))
    hi = [min(math.ceil(ck + hk / sk) + 1, int(nk)) for ck, hk, sk, nk in zip(cl, hl, sl, liver.shape, strict=True)]
    if any(h <= max(lw, 0) for h, lw in zip(hi, lo, strict=True)):
        return None
    n_nodes = [max(math.ceil((h - 1 - lw) / st) + 1, 2) for h, lw, st in zip(hi, lo, step, strict=True)]
    diag_mm = math.sqrt(sum((st * sk) * (st * sk) for st, sk in zip(step, sl, strict=True)))
    node_off = tuple(((lo[k] + step[k] * np.arange(n_nodes[k]) - c[k]) * s[k]).astype(np.float32) for k in range(3))
    x0, x1, x2 = node_off
    r = ((x0 * x0)[:, None] + (x1 * x1)[None, :])[:, :, None] + x2 * x2
    np.sqrt(r, out=r)
    np.maximum(r, np.float32(1e-3), out=r)
    # the ellipsoid in the rotated frame: rho0^2 = x^T A x, |grad|^2 / 4 = x^T B x (undeformed x)
    inv2 = 1.0 / a**2
    qa = (rot * inv2) @ rot.T
    qb = (rot * inv2**2) @ rot.T
    rho = _quadratic_form(qa, x0, x1, x2)
    np.sqrt(rho, out=rho)
    sq = _quadratic_form(qb, x0, x1, x2)
    np.maximum(sq, np.float32(1e-12), out=sq)
    np.sqrt(sq, out=sq)
    kd = rho / sq  # rho0 / |grad rho0^2 / 2|: the first-order distance per unit of rho
    if deform is not None:
        # keep the radial part of the displacement: it carries the change of shape (a surface
        # point sliding along the surface changes nothing), and along each ray from the centre
        # it stays one-to-one, so it cannot punch holes into the tumor. A point x moves to
        # f x with f = 1 + u_r / r, and rho scales by f (the distance (rho - 1) kd).
        ur = deform.radial_on_axes(node_off)
        ur /= r
        near = r > np.float32(0.3 * a.min())  # around the tumor, inside any box it gets
        ext = base + bound
        for k, o in enumerate(node_off):
            inside = np.abs(o) <= np.float32(ext[k])
            near &= inside.reshape([-1 if j == k else 1 for j in range(3)])
        scale = fold_free_scale(ur, node_off, r, tuple(st * sk for st, sk in zip(step, sl, strict=True)), near)  # type: ignore[arg-type]
        if scale != 1.0:
            ur *= np.float32(scale)
        ur /= r
        np.maximum(ur, np.float32(-0.8), out=ur)  # never through the centre
        ur += np.float32(1.0)
        rho *= ur
    dg = rho - np.float32(1.0)
    dg *= kd
    dg[rho < 1e-3] = -float(a.min())  # the centre itself: d -> -a along every direction
    iso = float(s.max() - s.min()) <= 1e-6 * float(s.max())
    pv_c = None
    if not iso:
        # variance of the voxel extent along the normal g = A x (its direction does not depend
        # on f): sum_k w_k g_k^2 / |g|^2, with |g|^2 = x^T B x
        pv_c = np.zeros(tuple(int(v) for v in n_nodes), dtype=np.float32)
        for k in range(3):
            gk = math.sqrt(float(s[k]) ** 2 / 12.0) * qa[k]
            comp = ((np.float32(gk[0]) * x0)[:, None] + (np.float32(gk[1]) * x1)[None, :])[:, :, None] \
                + np.float32(gk[2]) * x2
            comp *= comp
            pv_c += comp
        pv_c /= sq
        pv_c /= sq
    cmin = _cell_min(dg)
    rel = cmin < need + 0.6 * diag_mm  # d is ~1-Lipschitz; a nearest corner is within diag/2
    if not rel.any():
        return None
    mlo, mhi = _cell_range(rel)
    start = [int(lo[k] + step[k] * mlo[k]) for k in range(3)]  # may lie before the CT (< 0)
    skip = [max(0, -v) for v in start]
    flo = [start[k] + skip[k] for k in range(3)]
    fhi = [int(min(lo[k] + step[k] * mhi[k] + 1, hi[k])) for k in range(3)]
    if any(fhi[k] <= flo[k] for k in range(3)):
        return None
    box = (slice(flo[0], fhi[0]), slice(flo[1], fhi[1]), slice(flo[2], fhi[2]))
    core = cmin < reach_out + 0.6 * diag_mm
    if core.any() and need > reach_out:
        ilo, ihi = _cell_range(core)
        inner = tuple(slice(max(int(step[k] * (ilo[k] - mlo[k])) - skip[k], 0),
                            max(int(min(step[k] * (ihi[k] - mlo[k]) + 1 - skip[k], fhi[k] - flo[k])), 1))
                      for k in range(3))
    else:
        inner = tuple(slice(0, fhi[k] - flo[k]) for k in range(3))
    sub = (slice(mlo[0], mhi[0] + 1), slice(mlo[1], mhi[1] + 1), slice(mlo[2], mhi[2] + 1))
    full_shape = (fhi[0] - start[0], fhi[1] - start[1], fhi[2] - start[2])
    steps = (int(step[0]), int(step[1]), int(step[2]))
    crop = (slice(skip[0], None), slice(skip[1], None), slice(skip[2], None))
    d = np.ascontiguousarray(upsample_linear(dg[sub], steps, full_shape)[crop])
    pv_var: np.ndarray | float = float(s[0] ** 2 / 12)
    if pv_c is not None:
        pv_var = upsample_linear(pv_c[sub], steps, full_shape)[crop]
    offsets = tuple(((np.arange(flo[k], fhi[k]) - c[k]) * s[k]).astype(np.float32) for k in range(3))
    reach = base + bound + reach_out + smax
    return TumorPlan(box=box, offsets=offsets, d=d, pv_var=pv_var,  # type: ignore[arg-type]
                     reach_mm=(float(reach[0]), float(reach[1]), float(reach[2])), inner=inner)  # type: ignore[arg-type]


def _cell_range(rel: np.ndarray) -> tuple[list[int], list[int]]:
    """First cell and last node index (inclusive) along each axis of the marked cells."""
    mlo, mhi = [], []
    p12: np.ndarray = np.asarray(rel.any(axis=0))  # (n1, n2)
    for hit in (np.flatnonzero(rel.any(axis=(1, 2))), np.flatnonzero(p12.any(axis=1)),
                np.flatnonzero(p12.any(axis=0))):
        mlo.append(int(hit[0]))
        mhi.append(int(hit[-1]) + 1)
    return mlo, mhi


