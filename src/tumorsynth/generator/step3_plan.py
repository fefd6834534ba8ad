"""Step 3, plan: where a tumor is and how far each voxel of its box lies from its surface.

:func:`plan_tumors` lays out a coarse grid aligned with the voxels for each tumor record
(:func:`_tumor_grid`: a step of about a quarter of the smallest semi-axis, spanning the tumor and
its reach), evaluates the signed distance to the deformed surface at the nodes
(:mod:`tumorsynth.generator.step3_distance`), keeps the cells within the tumor's reach (edge
blur, capsule, mass effect) and interpolates the distance to their voxels. The pure step
:mod:`tumorsynth.generator.step6_synthesize` then blends the tumor with these distances. The grid
depends on the shape alone, so switching the edge blur, capsule or mass effect off leaves the
shape exactly as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tumorsynth.generator.kernels.grids import bbox, flat_cell_min, marked_ranges, size_groups
from tumorsynth.generator.kernels.interp import upsample_linear
from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.step3_distance import (
    GroupGrid,
    TumorGrid,
    group_grid,
    pin_centre_nodes,
    surface_distance,
)
from tumorsynth.generator.step3_shape import quaternion_matrix, surface_tables

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


def _tumor_grid(t: TumorParams, s: np.ndarray, shape: tuple[int, ...], ext: np.ndarray, table: int,
              res_var: tuple[float, float, float]) -> TumorGrid | None:
    """Box geometry of tumor ``t`` on a CT of ``shape`` with voxel spacing ``s`` (plain Python);
    ``ext`` holds the half extents of its lobulated surface along the array axes (mm)."""
    spacing = [float(v) for v in s]
    centre = [float(v) for v in t.centre_vox]
    semi_axes = tuple(float(v) for v in t.semi_axes_mm)
    # the soft edge reaches EDGE_REACH sigmas: beyond, Phi(-3) times the contrast is below 0.1 HU
    edge = EDGE_REACH * edge_sigma_max(t, res_var)
    rim = 1.0 * t.capsule_width_mm if t.capsule_hu != 0 else 0.0
    blend_reach = max(edge, rim)
    reach = max(blend_reach, push_reach(t, min(spacing)))
    half_extent = tuple(float(v) for v in ext)
    half_box = [e + reach for e in half_extent]  # the grid spans [c - h, c + h] (rounded outward)
    cell_mm = min(max(min(semi_axes) / 4.0, 1.0), 3.0)
    node_step = [max(1, round(cell_mm / sk)) for sk in spacing]
    # coarse nodes sit at floor(centre) + multiples of the step (any box gives the same nodes)
    first_node = []
    for ck, hk, sk, st in zip(centre, half_box, spacing, node_step, strict=True):
        anchor = math.floor(ck)
        first_node.append(anchor - st * math.ceil((anchor - max(math.floor(ck - hk / sk), 0)) / st))
    box_end = [min(math.ceil(ck + hk / sk) + 1, int(nk))
               for ck, hk, sk, nk in zip(centre, half_box, spacing, shape, strict=True)]
    if any(e <= max(f, 0) for e, f in zip(box_end, first_node, strict=True)):
        return None
    n_nodes = [max(math.ceil((e - 1 - f) / st) + 1, 3) for e, f, st in zip(box_end, first_node, node_step, strict=True)]
    return TumorGrid(tumor=t, rotation=quaternion_matrix(t.rotation), semi_axes=semi_axes, centre=tuple(centre),
                     spacing=s, half_extent=half_extent, table=table, uniform_res_var=float(res_var[0]),
                     reach=reach, blend_reach=blend_reach, node_step=node_step, first_node=first_node,
                     box_end=box_end, n_nodes=n_nodes)


GROUP_MAX_NODES = 2_000_000  # nodes of one batch (padded), to bound memory


def _plan_group(members: list[TumorGrid], params: CaseParams, tables: np.ndarray | None) -> list[TumorPlan | None]:
    """Plans of tumors whose coarse grids are padded to one shape and evaluated together.

    ``tables`` are the cube-map tables of the call (:func:`tumorsynth.generator.step3_shape.surface_tables`).
    """
    grid = group_grid(members)
    res_var = resolution_var(params)
    dist, pv = surface_distance(members, grid, tables, res_var)
    pin_centre_nodes(members, grid, dist)
    if all(q.node_step == [1, 1, 1] for q in members):
        return _plans_at_nodes(members, grid, dist, pv)
    return _plans_from_cells(members, grid, dist, pv)


def _plans_at_nodes(members: list[TumorGrid], grid: GroupGrid, dist: np.ndarray,
                    pv: np.ndarray | None) -> list[TumorPlan | None]:
    """Plans when every node is a voxel (step 1): each box is that of the nodes within reach."""
    n = len(members)
    b0, b1, b2 = grid.shape
    reach = np.array([q.reach for q in members], dtype=np.float32)[:, None, None]
    stop = [np.array([[q.n_nodes[k]] for q in members]) for k in range(3)]
    mark = dist <= reach
    mark &= (np.arange(b0) < stop[0])[:, :, None]  # nodes beyond a tumor's own grid: never
    mark &= ((np.arange(b1) < stop[1])[:, :, None] & (np.arange(b2) < stop[2])[:, None, :]).reshape(n, 1, -1)
    has, nlo, nhi = marked_ranges(mark, b1, b2)
    dist4 = dist.reshape(n, b0, b1, b2)
    pv4 = None if pv is None else pv.reshape(n, b0, b1, b2)
    plans: list[TumorPlan | None] = []
    for i, q in enumerate(members):
        if not has[i]:
            plans.append(None)
            continue
        box = [(int(q.first_node[k] + nlo[i, k]), int(q.first_node[k] + nhi[i, k])) for k in range(3)]
        keep = (slice(int(nlo[i, 0]), int(nhi[i, 0])), slice(int(nlo[i, 1]), int(nhi[i, 1])),
                slice(int(nlo[i, 2]), int(nhi[i, 2])))
        plans.append(_plan(q, np.ascontiguousarray(dist4[i][keep]), None if pv4 is None else pv4[i][keep], box))
    return plans


def _plans_from_cells(members: list[TumorGrid], grid: GroupGrid, dist: np.ndarray,
                      pv: np.ndarray | None) -> list[TumorPlan | None]:
    """Plans on coarse grids: mark the cells with a voxel within reach, then interpolate (:func:`_finish`)."""
    n = len(members)
    b0, b1, b2 = grid.shape
    reach = np.array([q.reach for q in members], dtype=np.float32)[:, None, None]
    cell_min = flat_cell_min(dist, b2)
    # cells beyond a tumor's own grid are never in its box
    cells = [np.arange(v - 1) for v in grid.shape]
    stop = [np.array([[q.n_nodes[k] - 1] for q in members]) for k in range(3)]
    outside0 = np.where(cells[0] < stop[0], np.float32(0), np.float32(np.inf)).astype(np.float32)[:, :, None]
    inside12 = (cells[1] < stop[1])[:, :, None] & (np.arange(b2) < stop[2])[:, None, :]
    outside12 = np.where(inside12, np.float32(0), np.float32(np.inf)).astype(np.float32).reshape(n, 1, -1)
    cell_min += outside0
    cell_min += outside12
    # the voxels' d interpolates the nodes' linearly: a cell holds a voxel within reach only if
    # one of its corners is within reach
    has, mlo, mhi = marked_ranges(cell_min <= reach, b1 - 1, b2)
    dist4 = dist.reshape(n, b0, b1, b2)
    pv4 = None if pv is None else pv.reshape(n, b0, b1, b2)
    return [_finish(q, dist4[i], None if pv4 is None else pv4[i], mlo[i].tolist(), mhi[i].tolist())
            if has[i] else None for i, q in enumerate(members)]


def _finish(q: TumorGrid, dist: np.ndarray, pv: np.ndarray | None, mlo: list[int], mhi: list[int]) -> TumorPlan | None:
    """Interpolate one tumor's distances to the voxels of its marked cells ``mlo..mhi`` and cut its
    box to the voxels within reach (``d <= reach``); the blend's part, ``d <= blend_reach``, is its
    inner box."""
    lo, step, hi = q.first_node, q.node_step, q.box_end
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
    d_cells = upsample_linear(dist[sub], steps, full_shape)[crop]
    # the marked cells hold every voxel within reach, with a margin of up to a cell: cut it off
    cut = bbox(d_cells <= np.float32(q.reach))
    if cut is None:
        return None
    keep = (slice(*cut[0]), slice(*cut[1]), slice(*cut[2]))
    pv_box = None if pv is None else upsample_linear(pv[sub], steps, full_shape)[crop][keep]
    return _plan(q, np.ascontiguousarray(d_cells[keep]), pv_box,
                 [(flo[k] + cut[k][0], flo[k] + cut[k][1]) for k in range(3)])


def _plan(q: TumorGrid, d: np.ndarray, pv: np.ndarray | None, box_range: list[tuple[int, int]]) -> TumorPlan:
    """The plan of one tumor from its distances ``d`` on the box ``box_range`` (voxel index ranges)."""
    s = q.spacing
    box = (slice(*box_range[0]), slice(*box_range[1]), slice(*box_range[2]))
    inner = (slice(0, d.shape[0]), slice(0, d.shape[1]), slice(0, d.shape[2]))
    if q.reach > q.blend_reach:
        core = bbox(d <= np.float32(q.blend_reach))
        inner = (slice(*core[0]), slice(*core[1]), slice(*core[2])) if core is not None else (slice(0, 1),) * 3
    pv_var: np.ndarray | float = q.uniform_res_var if pv is None else pv
    offsets = tuple(((np.arange(b.start, b.stop) - q.centre[k]) * s[k]).astype(np.float32) for k, b in enumerate(box))
    reach = [b + q.blend_reach + float(s.max()) for b in q.half_extent]
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
    grids = [_tumor_grid(t, spacing, shape, ext[i], i, res_var) for i, t in enumerate(tumors)]
    plans: list[TumorPlan | None] = [None] * len(grids)
    live = [i for i, g in enumerate(grids) if g is not None]
    for group in size_groups([grids[i].n_nodes for i in live], GROUP_MAX_NODES):  # type: ignore[union-attr]
        indices = [live[j] for j in group]
        for i, p in zip(indices, _plan_group([grids[i] for i in indices], params, tables), strict=True):  # type: ignore[misc]
            plans[i] = p
    return plans


def plan_tumor(t: TumorParams, params: CaseParams, liver: np.ndarray) -> TumorPlan | None:
    """Tight box and signed distances of tumor ``t`` (None if it reaches no voxel); see :func:`plan_tumors`."""
    return plan_tumors([t], params, liver.shape)[0]
