"""Step 3, distance: the signed distance to each tumor's surface at the nodes of its coarse grid.

A tumor's grid (:class:`TumorGrid`, laid out by :mod:`tumorsynth.generator.step3_plan`) is aligned
with the voxels. Tumors with similar grids are evaluated together: their grids are padded to one
shape (:class:`GroupGrid`) and every array has the flat layout (S, n0, n1 * n2), so each operation
runs over long contiguous rows, which for grids of some ten thousand nodes matters more than the
arithmetic. The distance is that to the ellipsoid, or, where the record deforms it, to the
lobulated surface of :mod:`tumorsynth.generator.step3_shape`; with it comes the scanner's edge
variance along the surface normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tumorsynth.generator.kernels.grids import plane_offsets, quadratic_forms
from tumorsynth.generator.params import TumorParams
from tumorsynth.generator.step3_shape import cube_lookup

__all__ = ["GroupGrid", "TumorGrid", "group_grid", "pin_centre_nodes", "surface_distance"]


@dataclass
class TumorGrid:
    """Box geometry of one tumor, in plain Python (no arrays over the grid yet)."""

    tumor: TumorParams
    rotation: np.ndarray  # 3x3, the tumor's own axes as columns
    semi_axes: tuple[float, ...]  # mm
    centre: tuple[float, ...]  # voxel index
    spacing: np.ndarray  # voxel spacing (mm)
    half_extent: tuple[float, ...]  # half extents of the lobulated surface along the array axes (mm)
    table: int  # index of the tumor's cube-map table in its call's tables
    uniform_res_var: float  # the scanner's edge variance (mm^2), used when it is the same along every axis
    reach: float  # how far outside the surface the blend or the mass effect changes a voxel (mm)
    blend_reach: float  # the same for the blend alone (soft edge, capsule)
    node_step: list[int]  # coarse grid step (voxels) per axis
    first_node: list[int]  # voxel index of the first coarse node (may be < 0)
    box_end: list[int]  # end of the box (exclusive voxel index)
    n_nodes: list[int]  # coarse nodes per axis


@dataclass
class GroupGrid:
    """The coarse grids of a group of S tumors, padded to one shape, in the flat layout.

    Arrays over the grids have the shape (S, n0, n1 * n2): every operation then runs over long
    contiguous rows, which for grids of some ten thousand nodes matters more than the arithmetic.
    """

    shape: tuple[int, int, int]  # nodes per axis, the largest of the group
    axis_mm: tuple[np.ndarray, np.ndarray, np.ndarray]  # (S, n_k): node offsets from each centre (mm)
    x0: np.ndarray  # (S, n0, 1): offsets along axis 0
    plane1: np.ndarray  # (S, 1, n1 * n2): offsets along axis 1 over the flat plane
    plane2: np.ndarray  # (S, 1, n1 * n2): offsets along axis 2
    rotations: np.ndarray  # (S, 3, 3)
    inv_axes2: np.ndarray  # (S, 1, 3): 1 / a^2 of the semi-axes
    ellipsoid_form: np.ndarray  # (S, 3, 3): A = R diag(1 / a^2) R^T
    rho: np.ndarray  # (S, n0, n1 * n2): the ellipsoid's radius sqrt(x^T A x) (1 on its surface)


def group_grid(members: list[TumorGrid]) -> GroupGrid:
    """Node offsets of the group's padded grids (the padding continues each tumor's own grid) and
    the undeformed ellipsoid's radius at every node."""
    shape = (max(q.n_nodes[0] for q in members), max(q.n_nodes[1] for q in members), max(q.n_nodes[2] for q in members))
    s = members[0].spacing
    axis_mm = tuple(((np.array([[q.first_node[k]] for q in members], dtype=np.float64)
                      + np.array([[q.node_step[k]] for q in members], dtype=np.float64) * np.arange(shape[k])
                      - np.array([[q.centre[k]] for q in members])) * s[k]).astype(np.float32) for k in range(3))
    x0 = axis_mm[0][:, :, None]
    plane1, plane2 = plane_offsets(axis_mm[1], axis_mm[2])
    inv_axes2 = np.array([[1.0 / v**2 for v in q.semi_axes] for q in members])[:, None, :]
    rotations = np.stack([q.rotation for q in members])
    form = (rotations * inv_axes2) @ rotations.transpose(0, 2, 1)
    rho = quadratic_forms(form, x0, plane1, plane2)
    np.sqrt(rho, out=rho)
    return GroupGrid(shape=shape, axis_mm=axis_mm, x0=x0, plane1=plane1, plane2=plane2,  # type: ignore[arg-type]
                      rotations=rotations, inv_axes2=inv_axes2, ellipsoid_form=form, rho=rho)


def surface_distance(members: list[TumorGrid], grid: GroupGrid, tables: np.ndarray | None,
                      res_var: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray | None]:
    """Signed distance to each tumor's surface at its nodes (lobulated where the record deforms it,
    else the ellipsoid) and the scanner's edge variance along the normal (None: the same along
    every axis, :attr:`TumorGrid.uniform_res_var`)."""
    uniform = max(res_var) - min(res_var) <= 1e-6 * max(max(res_var), 1e-12)
    deformed = [i for i, q in enumerate(members) if q.tumor.deform_sigma_mm > 0]
    if len(deformed) == len(members) and tables is not None:
        return _lobulated_distance(members, grid, tables, res_var, uniform)
    dist, pv = _ellipsoid_distance(grid, res_var, uniform)
    if deformed and tables is not None:
        sub = GroupGrid(shape=grid.shape, axis_mm=grid.axis_mm, x0=grid.x0[deformed], plane1=grid.plane1[deformed],
                         plane2=grid.plane2[deformed], rotations=grid.rotations[deformed],
                         inv_axes2=grid.inv_axes2, ellipsoid_form=grid.ellipsoid_form, rho=grid.rho[deformed])
        d_sub, pv_sub = _lobulated_distance([members[i] for i in deformed], sub, tables, res_var, uniform)
        dist[deformed] = d_sub
        if pv is not None and pv_sub is not None:
            pv[deformed] = pv_sub
    return dist, pv


def pin_centre_nodes(members: list[TumorGrid], grid: GroupGrid, dist: np.ndarray) -> None:
    """At the centre itself (rho ~ 0, possible only at a node within 1e-3 a of it) the distance is
    undefined: set it to -a, its limit along every direction."""
    lim = np.array([1e-3 * max(q.semi_axes) for q in members])
    near = [np.abs(grid.axis_mm[k]).min(axis=1) < lim for k in range(3)]
    if (near[0] & near[1] & near[2]).any():
        amin = np.array([min(q.semi_axes) for q in members])
        centre = grid.rho < 1e-3
        np.copyto(dist, np.broadcast_to((-amin).astype(np.float32)[:, None, None], dist.shape), where=centre)


def _ellipsoid_distance(grid: GroupGrid, res_var: tuple[float, float, float],
                        uniform: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """First-order signed distance to the ellipsoid, ``(rho - 1) rho / |grad rho^2 / 2|``, and the
    scanner's edge variance along its normal ``g = A x`` (None when the same along every axis)."""
    x0, p1, p2, rho = grid.x0, grid.plane1, grid.plane2, grid.rho
    rots = grid.rotations
    grad_form = (rots * grid.inv_axes2**2) @ rots.transpose(0, 2, 1)  # |grad|^2 / 4 = x^T B x
    grad_norm = quadratic_forms(grad_form, x0, p1, p2)
    np.maximum(grad_norm, np.float32(1e-12), out=grad_norm)
    np.sqrt(grad_norm, out=grad_norm)
    dist = rho - np.float32(1.0)
    dist *= rho
    dist /= grad_norm
    if uniform:
        return dist, None
    # sum_k w_k g_k^2 / |g|^2, with |g|^2 = x^T B x
    pv = np.zeros_like(dist)
    for k in range(3):
        gk = (math.sqrt(res_var[k]) * grid.ellipsoid_form[:, k]).astype(np.float32)[:, :, None, None]  # (S, 3, 1, 1)
        comp = gk[:, 1] * p1
        comp += gk[:, 2] * p2
        comp = comp + gk[:, 0] * x0
        comp *= comp
        pv += comp
    pv /= grad_norm
    pv /= grad_norm
    return dist, pv


def _lobulated_distance(members: list[TumorGrid], grid: GroupGrid, tables: np.ndarray,
                        res_var: tuple[float, float, float], uniform: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Signed distance ``(F - 1) / |grad F|`` to the lobulated surface ``F = rho h(n) = 1`` at the nodes
    (gradient by differences over the node grid) and the scanner's edge variance along its normal."""
    n = len(members)
    x0, p1, p2, rots = grid.x0, grid.plane1, grid.plane2, grid.rotations
    # directions in each tumor's own frame: y = R^T x
    ys = []
    for k in range(3):
        r = rots[:, :, k].astype(np.float32)
        plane = r[:, 1, None, None] * p1
        plane += r[:, 2, None, None] * p2
        ys.append(plane + r[:, 0, None, None] * x0)
    h = cube_lookup(tables[[q.table for q in members]], ys[0], ys[1], ys[2])
    f = grid.rho * h  # (S, n0, n1 * n2)
    b0, b1, b2 = grid.shape
    f4 = f.reshape(n, b0, b1, b2)
    grads = []
    for k in range(3):
        gk = np.gradient(f4, axis=k + 1)
        for i, q in enumerate(members):  # a tumor's own last node: the one-sided difference, as alone
            nk = q.n_nodes[k]
            if nk < grid.shape[k]:
                last: list[slice | int] = [slice(None)] * 3
                prev: list[slice | int] = [slice(None)] * 3
                last[k] = nk - 1
                prev[k] = nk - 2
                gk[i][tuple(last)] = f4[i][tuple(last)] - f4[i][tuple(prev)]
        gk *= (1.0 / np.array([q.node_step[k] * float(q.spacing[k]) for q in members], dtype=np.float32))[:, None, None, None]
        grads.append(gk.reshape(n, b0, b1 * b2))
    norm2 = grads[0] * grads[0]
    norm2 += grads[1] * grads[1]
    norm2 += grads[2] * grads[2]
    np.maximum(norm2, np.float32(1e-12), out=norm2)
    dist = f - np.float32(1.0)
    dist /= np.sqrt(norm2)
    if uniform:
        return dist, None
    pv = grads[0] * grads[0]
    pv *= np.float32(res_var[0])
    for k in (1, 2):
        gk = grads[k]
        gk *= gk
        gk *= np.float32(res_var[k])
        pv += gk
    pv /= norm2
    return dist, pv
