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

from tumorsynth.generator.kernels.grids import (
    bbox,
    flat_cell_min,
    marked_ranges,
    plane_offsets,
    quadratic_forms,
    size_groups,
)
from tumorsynth.generator.kernels.interp import upsample_linear
from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.step3_shape import cube_lookup, quaternion_matrix, surface_tables

__all__ = ["MIN_PUSH_VOXELS", "TumorPlan", "edge_sigma_max", "plan_tumor", "plan_tumors", "push_reach",
           "resolution_var"]

EDGE_REACH = 3.0  # sigmas of the soft edge inside a tumor's box
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


def resolution_var(params: CaseParams) -> tuple[float, float, float]:
    """Variance (mm^2) of the scanner's edge spread along each array axis: the host's measured
    resolution where the record has it, else the voxel's own extent (``s**2 / 12``)."""
    res = params.resolution_mm
    if res is None:
        return tuple(float(v) ** 2 / 12.0 for v in params.spacing_mm)  # type: ignore[return-value]
    return tuple(float(v) ** 2 for v in res)  # type: ignore[return-value]


def edge_sigma_max(t: TumorParams, res_var: tuple[float, float, float]) -> float:
    """The widest soft edge of a tumor (mm): sigma_c with the scanner's coarsest axis (0: a hard edge)."""
    if t.edge_blur_mm <= 0:
        return 0.0
    return math.sqrt(t.edge_blur_mm**2 + max(res_var))


def push_reach(t: TumorParams, min_spacing_mm: float) -> float:
    """Distance outside the surface within which the mass effect moves tissue by half a voxel or more."""
    if t.mass_effect_mm < MIN_PUSH_VOXELS * min_spacing_mm or t.mass_effect_range_mm <= 0:
        return 0.0
    return t.mass_effect_range_mm * (1.0 - math.sqrt(MIN_PUSH_VOXELS * min_spacing_mm / t.mass_effect_mm))


@dataclass
class _Geometry:
    """Box geometry of one tumor, in plain Python (no arrays over the grid yet)."""

    t: TumorParams
    rot: np.ndarray
    a: tuple[float, ...]  # semi-axes (mm)
    c: tuple[float, ...]  # centre (voxel index)
    s: np.ndarray  # voxel spacing (mm)
    base: tuple[float, ...]  # half extents of the lobulated surface per axis (mm)
    table: int  # index of the tumor's cube-map table in its call's tables
    res0: float  # the scanner's edge variance (mm^2) when it is the same along every axis
    need: float  # reach of the blend and the mass effect outside the surface (mm)
    reach_out: float  # reach of the blend alone
    step: list[int]  # coarse grid step (voxels) per axis
    lo: list[int]  # first coarse node (voxel index, may be < 0)
    hi: list[int]  # end of the box (exclusive)
    n_nodes: list[int]


def _geometry(t: TumorParams, s: np.ndarray, shape: tuple[int, ...], ext: np.ndarray, table: int,
              res_var: tuple[float, float, float]) -> _Geometry | None:
    """Box geometry of tumor ``t`` on a CT of ``shape`` with voxel spacing ``s`` (plain Python);
    ``ext`` holds the half extents of its lobulated surface along the array axes (mm)."""
    sl = [float(v) for v in s]
    cl = [float(v) for v in t.centre_vox]
    a = tuple(float(v) for v in t.semi_axes_mm)
    rot = quaternion_matrix(t.rotation)
    # the soft edge reaches EDGE_REACH sigmas: beyond, Phi(-3) times the contrast is below 0.1 HU
    edge = EDGE_REACH * edge_sigma_max(t, res_var)
    rim = 1.0 * t.capsule_width_mm if t.capsule_hu != 0 else 0.0
    reach_out = max(edge, rim)
    need = max(reach_out, push_reach(t, min(sl)))
    base = tuple(float(v) for v in ext)
    hl = [bk + need for bk in base]  # the grid spans [c - h, c + h] (rounded outward)
    g_mm = min(max(min(a) / 4.0, 1.0), 3.0)
    step = [max(1, round(g_mm / sk)) for sk in sl]
    # coarse nodes sit at floor(centre) + multiples of the step (any box gives the same nodes)
    lo = []
    for ck, hk, sk, st in zip(cl, hl, sl, step, strict=True):
        anchor = math.floor(ck)
        lo.append(anchor - st * math.ceil((anchor - max(math.floor(ck - hk / sk), 0)) / st))
    hi = [min(math.ceil(ck + hk / sk) + 1, int(nk)) for ck, hk, sk, nk in zip(cl, hl, sl, shape, strict=True)]
    if any(h <= max(lw, 0) for h, lw in zip(hi, lo, strict=True)):
        return None
    n_nodes = [max(math.ceil((h - 1 - lw) / st) + 1, 3) for h, lw, st in zip(hi, lo, step, strict=True)]
    return _Geometry(t=t, rot=rot, a=a, c=tuple(cl), s=s, base=base, table=table, res0=float(res_var[0]), need=need,
                     reach_out=reach_out, step=step, lo=lo, hi=hi, n_nodes=n_nodes)


GROUP_MAX_NODES = 2_000_000  # nodes of one batch (padded), to bound memory


def _plan_group(geos: list[_Geometry], params: CaseParams, tables: np.ndarray | None) -> list[TumorPlan | None]:
    """Plans of tumors whose coarse grids are padded to one shape and evaluated together.

    Arrays over the grids use the flat layout (S, n0, n1 * n2): every operation then runs over
    long contiguous rows, which for grids of some ten thousand nodes matters more than the
    arithmetic. ``tables`` are the cube-map tables of the call (:func:`tumorsynth.generator.step3_shape.surface_tables`).
    """
    n = len(geos)
    big = [max(q.n_nodes[k] for q in geos) for k in range(3)]
    b0, b1, b2 = big
    s = geos[0].s
    # node offsets (mm) from each centre; the padding continues each tumor's own grid
    x = tuple(((np.array([[q.lo[k]] for q in geos], dtype=np.float64)
                + np.array([[q.step[k]] for q in geos], dtype=np.float64) * np.arange(big[k])
                - np.array([[q.c[k]] for q in geos])) * s[k]).astype(np.float32) for k in range(3))
    x0 = x[0][:, :, None]
    p1, p2 = plane_offsets(x[1], x[2])
    # the ellipsoid in the rotated frame: rho0^2 = x^T A x, |grad|^2 / 4 = x^T B x (undeformed x)
    inv2 = np.array([[1.0 / v**2 for v in q.a] for q in geos])[:, None, :]  # (S, 1, 3)
    rots = np.stack([q.rot for q in geos])
    qa = (rots * inv2) @ rots.transpose(0, 2, 1)
    rho = quadratic_forms(qa, x0, p1, p2)
    np.sqrt(rho, out=rho)
    res_var = resolution_var(params)
    iso = max(res_var) - min(res_var) <= 1e-6 * max(max(res_var), 1e-12)
    deformed = [i for i, q in enumerate(geos) if q.t.deform_sigma_mm > 0]
    pv_c: np.ndarray | None = None
    if len(deformed) == n and tables is not None:
        dg, pv_c = _lobulated_distance(geos, tables, rho, rots, x0, p1, p2, res_var, iso, big)
    else:
        dg, pv_c = _ellipsoid_distance(qa, inv2, rots, rho, x0, p1, p2, res_var, iso)
        if deformed and tables is not None:
            sub = [geos[i] for i in deformed]
            d_sub, pv_sub = _lobulated_distance(sub, tables, rho[deformed], rots[deformed], x0[deformed],
                                                p1[deformed], p2[deformed], res_var, iso, big)
            dg[deformed] = d_sub
            if pv_c is not None and pv_sub is not None:
                pv_c[deformed] = pv_sub
    # the centre itself (rho ~ 0, possible only at a node within 1e-3 a of it): d -> -a along every direction
    amin = np.array([min(q.a) for q in geos])
    lim = np.array([1e-3 * max(q.a) for q in geos])
    if ((np.abs(x[0]).min(axis=1) < lim) & (np.abs(x[1]).min(axis=1) < lim) & (np.abs(x[2]).min(axis=1) < lim)).any():
        centre = rho < 1e-3
        np.copyto(dg, np.broadcast_to((-amin).astype(np.float32)[:, None, None], dg.shape), where=centre)
    need = np.array([q.need for q in geos], dtype=np.float32)[:, None, None]
    dg4 = dg.reshape(n, b0, b1, b2)
    pv4 = None if pv_c is None else pv_c.reshape(n, b0, b1, b2)
    plans: list[TumorPlan | None] = []
    if all(q.step == [1, 1, 1] for q in geos):
        # the nodes are the voxels: the box is that of the nodes within reach
        stop = [np.array([[q.n_nodes[k]] for q in geos]) for k in range(3)]
        mark = dg <= need
        mark &= (np.arange(b0) < stop[0])[:, :, None]  # nodes beyond a tumor's own grid: never
        mark &= ((np.arange(b1) < stop[1])[:, :, None] & (np.arange(b2) < stop[2])[:, None, :]).reshape(n, 1, -1)
        has, nlo, nhi = marked_ranges(mark, b1, b2)
        for i, q in enumerate(geos):
            cut = [(int(q.lo[k] + nlo[i, k]), int(q.lo[k] + nhi[i, k])) for k in range(3)]
            keep = (slice(int(nlo[i, 0]), int(nhi[i, 0])), slice(int(nlo[i, 1]), int(nhi[i, 1])),
                    slice(int(nlo[i, 2]), int(nhi[i, 2])))
            plans.append(_plan(q, np.ascontiguousarray(dg4[i][keep]), None if pv4 is None else pv4[i][keep], cut)
                         if has[i] else None)
        return plans
    cmin = flat_cell_min(dg, b2)
    # cells beyond a tumor's own grid are never in its box
    c_idx = [np.arange(v - 1) for v in big]
    stop = [np.array([[q.n_nodes[k] - 1] for q in geos]) for k in range(3)]
    pen0 = np.where(c_idx[0] < stop[0], np.float32(0), np.float32(np.inf)).astype(np.float32)[:, :, None]
    ok12 = (c_idx[1] < stop[1])[:, :, None] & (np.arange(b2) < stop[2])[:, None, :]
    pen12 = np.where(ok12, np.float32(0), np.float32(np.inf)).astype(np.float32).reshape(n, 1, -1)
    cmin += pen0
    cmin += pen12
    # the voxels' d interpolates the nodes' linearly: a cell holds a voxel within reach only if
    # one of its corners is within reach
    has, mlo, mhi = marked_ranges(cmin <= need, b1 - 1, b2)
    for i, q in enumerate(geos):
        if not has[i]:
            plans.append(None)
            continue
        plans.append(_finish(q, dg4[i], None if pv4 is None else pv4[i], mlo[i].tolist(), mhi[i].tolist()))
    return plans



def _ellipsoid_distance(qa: np.ndarray, inv2: np.ndarray, rots: np.ndarray, rho: np.ndarray, x0: np.ndarray,
                        p1: np.ndarray, p2: np.ndarray, res_var: tuple[float, float, float],
                        iso: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """First-order signed distance to the ellipsoid, ``(rho - 1) rho / |grad rho^2 / 2|``, and the
    scanner's edge variance along its normal ``g = A x`` (None when the same along every axis)."""
    qb = (rots * inv2**2) @ rots.transpose(0, 2, 1)
    sq = quadratic_forms(qb, x0, p1, p2)
    np.maximum(sq, np.float32(1e-12), out=sq)
    np.sqrt(sq, out=sq)
    dg = rho - np.float32(1.0)
    dg *= rho
    dg /= sq
    if iso:
        return dg, None
    # sum_k w_k g_k^2 / |g|^2, with |g|^2 = x^T B x
    pv_c = np.zeros_like(dg)
    for k in range(3):
        gk = (math.sqrt(res_var[k]) * qa[:, k]).astype(np.float32)[:, :, None, None]  # (S, 3, 1, 1)
        comp = gk[:, 1] * p1
        comp += gk[:, 2] * p2
        comp = comp + gk[:, 0] * x0
        comp *= comp
        pv_c += comp
    pv_c /= sq
    pv_c /= sq
    return dg, pv_c


def _lobulated_distance(geos: list[_Geometry], tables: np.ndarray, rho: np.ndarray, rots: np.ndarray,
                        x0: np.ndarray, p1: np.ndarray, p2: np.ndarray, res_var: tuple[float, float, float],
                        iso: bool, big: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Signed distance ``(F - 1) / |grad F|`` to the lobulated surface ``F = rho h(n) = 1`` at the nodes
    (gradient by differences over the node grid) and the scanner's edge variance along its normal."""
    n = len(geos)
    # directions in each tumor's own frame: y = R^T x
    ys = []
    for k in range(3):
        r = rots[:, :, k].astype(np.float32)
        plane = r[:, 1, None, None] * p1
        plane += r[:, 2, None, None] * p2
        ys.append(plane + r[:, 0, None, None] * x0)
    h = cube_lookup(tables[[q.table for q in geos]], ys[0], ys[1], ys[2])
    f = rho * h  # (S, n0, n1 * n2)
    b0, b1, b2 = big
    f4 = f.reshape(n, b0, b1, b2)
    grads = []
    for k in range(3):
        gk = np.gradient(f4, axis=k + 1)
        for i, q in enumerate(geos):  # a tumor's own last node: the one-sided difference, as alone
            nk = q.n_nodes[k]
            if nk < big[k]:
                last: list[slice | int] = [slice(None)] * 3
                prev: list[slice | int] = [slice(None)] * 3
                last[k] = nk - 1
                prev[k] = nk - 2
                gk[i][tuple(last)] = f4[i][tuple(last)] - f4[i][tuple(prev)]
        gk *= (1.0 / np.array([q.step[k] * float(q.s[k]) for q in geos], dtype=np.float32))[:, None, None, None]
        grads.append(gk.reshape(n, b0, b1 * b2))
    norm2 = grads[0] * grads[0]
    norm2 += grads[1] * grads[1]
    norm2 += grads[2] * grads[2]
    np.maximum(norm2, np.float32(1e-12), out=norm2)
    dg = f - np.float32(1.0)
    dg /= np.sqrt(norm2)
    if iso:
        return dg, None
    pv = grads[0] * grads[0]
    pv *= np.float32(res_var[0])
    for k in (1, 2):
        gk = grads[k]
        gk *= gk
        gk *= np.float32(res_var[k])
        pv += gk
    pv /= norm2
    return dg, pv


def _finish(q: _Geometry, dg: np.ndarray, pv_c: np.ndarray | None, mlo: list[int], mhi: list[int]) -> TumorPlan | None:
    """Interpolate one tumor's distances to the voxels of its marked cells and cut its box to the
    voxels within reach (``d <= need``); the blend's part, ``d <= reach_out``, is its inner box."""
    lo, step, hi = q.lo, q.step, q.hi
    start = [int(lo[k] + step[k] * mlo[k]) for k in range(3)]  # may lie before the CT (< 0)
    skip = [max(0, -v) for v in start]
    flo = [start[k] + skip[k] for k in range(3)]
    fhi = [int(min(lo[k] + step[k] * mhi[k] + 1, hi[k])) for k in range(3)]
    if any(fhi[k] <= flo[k] for k in range(3)):
        return None
    sub = (slice(mlo[0], mhi[0] + 1), slice(mlo[1], mhi[1] + 1), slice(mlo[2], mhi[2] + 1))
    full_shape = (fhi[0] - start[0], fhi[1] - start[1], fhi[2] - start[2])
    steps = (int(step[0]), int(step[1]), int(step[2]))
    crop = (slice(skip[0], None), slice(skip[1], None), slice(skip[2], None))
    d_cells = upsample_linear(dg[sub], steps, full_shape)[crop]
    # the marked cells hold every voxel within reach, with a margin of up to a cell: cut it off
    cut = bbox(d_cells <= np.float32(q.need))
    if cut is None:
        return None
    keep = (slice(*cut[0]), slice(*cut[1]), slice(*cut[2]))
    pv = None if pv_c is None else upsample_linear(pv_c[sub], steps, full_shape)[crop][keep]
    return _plan(q, np.ascontiguousarray(d_cells[keep]), pv,
                 [(flo[k] + cut[k][0], flo[k] + cut[k][1]) for k in range(3)])


def _plan(q: _Geometry, d: np.ndarray, pv: np.ndarray | None, box_range: list[tuple[int, int]]) -> TumorPlan:
    """The plan of one tumor from its distances ``d`` on the box ``box_range`` (voxel index ranges)."""
    s = q.s
    box = (slice(*box_range[0]), slice(*box_range[1]), slice(*box_range[2]))
    inner = (slice(0, d.shape[0]), slice(0, d.shape[1]), slice(0, d.shape[2]))
    if q.need > q.reach_out:
        core = bbox(d <= np.float32(q.reach_out))
        inner = (slice(*core[0]), slice(*core[1]), slice(*core[2])) if core is not None else (slice(0, 1),) * 3
    pv_var: np.ndarray | float = q.res0 if pv is None else pv
    offsets = tuple(((np.arange(b.start, b.stop) - q.c[k]) * s[k]).astype(np.float32) for k, b in enumerate(box))
    reach = [b + q.reach_out + float(s.max()) for b in q.base]
    return TumorPlan(box=box, offsets=offsets, d=d, pv_var=pv_var,  # type: ignore[arg-type]
                     reach_mm=(reach[0], reach[1], reach[2]), inner=inner)


def plan_tumors(tumors: tuple[TumorParams, ...] | list[TumorParams], params: CaseParams,
                shape: tuple[int, ...]) -> list[TumorPlan | None]:
    """Tight boxes and signed distances of several tumors (None for one that reaches no voxel).

    The deformed shape of each tumor is evaluated on a coarse grid aligned with the voxels (a
    step of about a quarter of the smallest semi-axis, 1 to 3 mm); its box is cut to the coarse
    cells within the tumor's reach (edge blur, capsule, mass effect), and the distance, a
    smooth function, is interpolated linearly to its voxels. So the cost follows the tumor, not
    a worst-case box. Tumors with similar grids are evaluated together, their grids padded to
    one shape (one array operation for all of them); each tumor's result depends on its own
    record alone.
    """
    spacing = np.asarray(params.spacing_mm, dtype=np.float64)
    tumors = list(tumors)
    res_var = resolution_var(params)
    tables: np.ndarray | None = None
    ext = np.empty((len(tumors), 3))
    if any(t.deform_sigma_mm > 0 for t in tumors):
        tables, ext = surface_tables(tumors)
    for i, t in enumerate(tumors):
        if t.deform_sigma_mm <= 0:  # the ellipsoid's own half extents along the array axes
            rot = quaternion_matrix(t.rotation)
            a2 = np.asarray(t.semi_axes_mm, dtype=np.float64) ** 2
            ext[i] = np.sqrt((rot**2) @ a2)
    geos = [_geometry(t, spacing, shape, ext[i], i, res_var) for i, t in enumerate(tumors)]
    plans: list[TumorPlan | None] = [None] * len(geos)
    live = [i for i, q in enumerate(geos) if q is not None]
    for group in size_groups([geos[i].n_nodes for i in live], GROUP_MAX_NODES):  # type: ignore[union-attr]
        members = [live[j] for j in group]
        for i, p in zip(members, _plan_group([geos[i] for i in members], params, tables), strict=True):  # type: ignore[misc]
            plans[i] = p
    return plans


def plan_tumor(t: TumorParams, params: CaseParams, liver: np.ndarray) -> TumorPlan | None:
    """Tight box and signed distances of tumor ``t`` (None if it reaches no voxel); see :func:`plan_tumors`."""
    return plan_tumors([t], params, liver.shape)[0]
