"""Segmentation metrics in physical units: Dice, surface distances, NSD, lesion detection.

Pure numpy/scipy; no torch. All functions take 3-D masks in the file's own voxel order
``(i, j, k)`` and ``spacing_mm``, the physical step along each array axis (see
:mod:`tumorsynth.io`), so anisotropic grids such as 0.7 x 0.7 x 5 mm are measured correctly
without resampling.

Conventions (tested in ``tests/evaluate``)
------------------------------------------
* **Both masks empty**: :func:`dice` and :func:`nsd` return ``empty_value`` (default ``1.0``:
  nothing to find and nothing found is perfect agreement; pass ``float("nan")`` to exclude such
  cases from a mean). :func:`tumorsynth.evaluate.evaluate_case` reports tumor DSC/NSD as NaN on
  cases without a ground-truth tumor, because the paper averages tumor scores over cases with
  tumors only; detection statistics (false positives per scan) do count tumor-free cases.
* **One mask empty**: DSC 0 and NSD 0.
* **NSD** is the normalized surface Dice of Nikolov et al. as implemented by DeepMind's
  ``surface-distance`` package, which the paper (and MONAI's
  ``compute_surface_dice(..., use_subvoxels=True)``) uses: the surface of each mask is the set
  of surface elements ("surfels") of a marching-cubes surface placed on the 2x2x2 neighbourhoods
  of voxels; each surfel has an area in mm^2; NSD is the area of both surfaces lying within
  ``tolerance_mm`` of the other surface, divided by the total area of both surfaces.
  Distances are exact Euclidean distances between surfel positions in mm. A distance equal to
  the tolerance counts as within it.
* **Lesions** are 26-connected components (``connectivity=26``) of the ground-truth tumor mask;
  a lesion is detected when at least one predicted tumor voxel overlaps it. A predicted
  component that touches no ground-truth tumor voxel is one false positive.
* **Size classes** use the equivalent diameter ``d = 2 * (3 V / (4 pi))^(1/3)`` of a lesion of
  volume ``V`` mm^3 (the diameter of the sphere of the same volume). The paper's tumor types
  have radii 4, 8, 16 and 32 mm (diameters 8, 16, 32, 64 mm); the class limits lie between them
  at round clinical sizes: tiny ``d < 10`` mm, small ``10 <= d < 20``, medium
  ``20 <= d < 40``, large ``d >= 40`` mm (:data:`SIZE_CLASSES_MM`).

Surface areas
-------------
The area of each of the 256 possible 2x2x2 neighbourhoods follows the classic marching-cubes
construction with vertices at edge midpoints: on a face whose diagonal corners agree, the
corners of the minority value (inside when at most four corners are inside, else outside) are
cut off separately, so a configuration and its complement get the same surface; every
resulting polygon is split into the triangulation of largest area at unit spacing. Each
triangle's area vector is scaled by the spacing, so areas are exact for anisotropic voxels.
This reproduces DeepMind's lookup table for all 256 configurations (checked in the tests
against MONAI's copy of it).

Speed
-----
Surfaces are extracted only inside the bounding box of ``pred | gt`` plus a one-voxel margin,
and distances are nearest-neighbour queries of a k-d tree over surfel positions, so the cost
grows with the masks' size and surface, not with the CT volume.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tumorsynth.errors import OptionError

__all__ = [
    "SIZE_CLASSES_MM",
    "LesionMatch",
    "SurfaceDistances",
    "bootstrap_ci",
    "detection_summary",
    "dice",
    "equivalent_diameter_mm",
    "match_lesions",
    "nsd",
    "size_class",
    "surface_area_table",
    "surface_distances",
]

# (name, lower limit inclusive, upper limit exclusive) of the equivalent diameter in mm.
SIZE_CLASSES_MM: tuple[tuple[str, float, float], ...] = (
    ("tiny", 0.0, 10.0),
    ("small", 10.0, 20.0),
    ("medium", 20.0, 40.0),
    ("large", 40.0, math.inf),
)

# Relative slack so that a distance equal to the tolerance in exact arithmetic (for example two
# voxels of 1 mm) still counts as within it after floating-point rounding.
_TIE_RTOL = 1e-9


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _check_pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred)
    g = np.asarray(gt)
    if p.shape != g.shape:
        raise OptionError(f"pred shape {p.shape} differs from gt shape {g.shape}; pass masks on the same grid")
    if p.ndim != 3:
        raise OptionError(f"masks must be 3-D, got {p.ndim} dimensions (shape {p.shape})")
    return p.astype(bool, copy=False), g.astype(bool, copy=False)


def _check_spacing(spacing_mm: Sequence[float] | float) -> tuple[float, float, float]:
    sp = np.asarray(spacing_mm, dtype=float)
    if sp.ndim == 0:
        sp = np.repeat(sp, 3)
    if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise OptionError(f"spacing_mm={spacing_mm!r}: expected three positive finite numbers (mm per voxel)")
    return (float(sp[0]), float(sp[1]), float(sp[2]))


def _check_tolerance(tolerance_mm: float) -> float:
    tol = float(tolerance_mm)
    if not math.isfinite(tol) or tol < 0:
        raise OptionError(f"tolerance_mm={tolerance_mm!r}: expected a finite number >= 0 (mm)")
    return tol


def _bbox(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box of the non-zero voxels as slices, or None when empty."""
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        if idx.size == 0:
            return None
        out.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Dice
# --------------------------------------------------------------------------------------------


def dice(pred: Any, gt: Any, *, empty_value: float = 1.0) -> float:
    """Dice similarity coefficient ``2 |P & G| / (|P| + |G|)`` of two masks (non-zero = in).

    Returns ``empty_value`` (default 1.0) when both masks are empty, 0.0 when only one is.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((4, 4, 4), bool); a[:2] = True
        >>> b = np.zeros((4, 4, 4), bool); b[1:3] = True
        >>> dice(a, b)
        0.5
        >>> dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
        1.0
    """
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.shape != g.shape:
        raise OptionError(f"pred shape {p.shape} differs from gt shape {g.shape}; pass masks on the same grid")
    n_p = int(np.count_nonzero(p))
    n_g = int(np.count_nonzero(g))
    if n_p + n_g == 0:
        return float(empty_value)
    inter = int(np.count_nonzero(p & g)) if n_p and n_g else 0
    return 2.0 * inter / (n_p + n_g)


# --------------------------------------------------------------------------------------------
# marching-cubes surfel areas
# --------------------------------------------------------------------------------------------

# Corner k of a 2x2x2 neighbourhood sits at offset (a, b, c) with k = 4a + 2b + c, so two
# corners share an edge exactly when their indices differ in one bit.
_CORNERS: tuple[tuple[int, int, int], ...] = tuple(
    (a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)
)
_EDGES: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1
)
_EDGE_INDEX = {e: n for n, e in enumerate(_EDGES)}


def _faces() -> list[list[int]]:
    """The six faces of the cube, each as its four corners in cyclic order."""
    faces = []
    for axis_bit in (4, 2, 1):
        p, q = (b for b in (4, 2, 1) if b != axis_bit)
        for base in (0, axis_bit):
            faces.append([base, base | p, base | p | q, base | q])
    return faces


def _edge(i: int, j: int) -> int:
    return _EDGE_INDEX[(min(i, j), max(i, j))]


def _polygons(code: int) -> list[list[int]]:
    """Closed loops of edge indices of the marching-cubes surface of one configuration."""
    inside = [(code >> k) & 1 for k in range(8)]
    separate = 1 if sum(inside) <= 4 else 0  # the value whose corners are cut off separately
    neighbours: dict[int, list[int]] = {}
    for f in _faces():
        e = [_edge(f[k], f[(k + 1) % 4]) for k in range(4)]
        cut = [k for k in range(4) if inside[f[k]] != inside[f[(k + 1) % 4]]]
        if len(cut) == 2:
            pairs = [(e[cut[0]], e[cut[1]])]
        elif len(cut) == 4:  # ambiguous face: diagonal corners agree
            if inside[f[0]] == separate:  # cut corners f0 and f2 off
                pairs = [(e[3], e[0]), (e[1], e[2])]
            else:  # cut corners f1 and f3 off
                pairs = [(e[0], e[1]), (e[2], e[3])]
        else:
            pairs = []
        for a, b in pairs:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    loops: list[list[int]] = []
    seen: set[int] = set()
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            nxt = [n for n in neighbours[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


@functools.lru_cache(maxsize=16)
def _triangulations(n: int) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    """All triangulations of a convex n-gon with vertices 0..n-1."""

    def rec(vs: tuple[int, ...]) -> list[tuple[tuple[int, int, int], ...]]:
        if len(vs) < 3:
            return [()]
        out = []
        a, b = vs[0], vs[-1]
        for k in range(1, len(vs) - 1):
            for left in rec(vs[: k + 1]):
                for right in rec(vs[k:]):
                    out.append((*left, *right, (a, vs[k], b)))
        return out

    return tuple(rec(tuple(range(n))))


@functools.lru_cache(maxsize=1)
def _area_vectors() -> np.ndarray:
    """Area vectors (unit spacing) of the surface triangles of each configuration: (256, T, 3)."""
    mid = np.array([(np.add(_CORNERS[i], _CORNERS[j])) / 2.0 for i, j in _EDGES])
    per_code: list[list[np.ndarray]] = []
    for code in range(256):
        vecs: list[np.ndarray] = []
        for loop in _polygons(code):
            pts = mid[loop]
            best: list[np.ndarray] = []
            best_area = -1.0
            for tri in _triangulations(len(loop)):
                v = [0.5 * np.cross(pts[b] - pts[a], pts[c] - pts[a]) for a, b, c in tri]
                area = float(sum(np.linalg.norm(x) for x in v))
                if area > best_area + 1e-12:
                    best, best_area = v, area
            vecs.extend(best)
        per_code.append(vecs)
    width = max(len(v) for v in per_code)
    table = np.zeros((256, width, 3))
    for code, vecs in enumerate(per_code):
        if vecs:
            table[code, : len(vecs)] = vecs
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=64)
def _area_table(spacing_mm: tuple[float, float, float]) -> np.ndarray:
    s0, s1, s2 = spacing_mm
    scale = np.array([s1 * s2, s0 * s2, s0 * s1])
    table = np.linalg.norm(_area_vectors() * scale, axis=-1).sum(axis=-1)
    table.setflags(write=False)
    return table


def surface_area_table(spacing_mm: Sequence[float]) -> np.ndarray:
    """Surface area in mm^2 of each of the 256 neighbourhood codes at the given spacing.

    Code bit ``4a + 2b + c`` is set when the voxel at offset ``(a, b, c)`` of the 2x2x2
    neighbourhood is inside the mask. Codes 0 and 255 (no surface) have area 0.

    Example:
        >>> t = surface_area_table((1.0, 1.0, 1.0))
        >>> round(float(t[0b00001111]), 6)  # a flat face across the cube
        1.0
    """
    return _area_table(_check_spacing(spacing_mm)).copy()


def _surfel_codes(mask: np.ndarray) -> np.ndarray:
    """Neighbourhood code of every 2x2x2 cube of ``mask`` (shape minus one per axis)."""
    m = mask.astype(np.uint8)
    n0, n1, n2 = (s - 1 for s in m.shape)
    code = np.zeros((n0, n1, n2), dtype=np.uint8)
    for bit, (a, b, c) in enumerate(_CORNERS):
        code |= m[a : a + n0, b : b + n1, c : c + n2] << np.uint8(bit)
    return code


def _surfels(mask: np.ndarray, spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Positions (mm, relative to the crop) and areas (mm^2) of the surfels of a padded mask."""
    code = _surfel_codes(mask)
    border = (code != 0) & (code != 255)
    idx = np.nonzero(border)
    pos = np.stack(idx, axis=1).astype(np.float64) * np.asarray(spacing)
    areas = _area_table(spacing)[code[idx]]
    return pos, areas


# --------------------------------------------------------------------------------------------
# surface distances and NSD
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurfaceDistances:
    """Surfel-wise distances between two surfaces, in mm, with the surfel areas in mm^2.

    Attributes:
        distances_pred_to_gt: for each surfel of the prediction, the distance to the nearest
            surfel of the ground truth (``inf`` when the ground truth is empty).
        distances_gt_to_pred: the same from the ground truth to the prediction.
        areas_pred: the area of each prediction surfel.
        areas_gt: the area of each ground-truth surfel.
    """

    distances_pred_to_gt: np.ndarray
    distances_gt_to_pred: np.ndarray
    areas_pred: np.ndarray
    areas_gt: np.ndarray

    def nsd(self, tolerance_mm: float = 2.0, *, empty_value: float = 1.0) -> float:
        """Normalized surface Dice at ``tolerance_mm`` (see :func:`nsd`)."""
        tol = _check_tolerance(tolerance_mm) * (1.0 + _TIE_RTOL)
        total = float(self.areas_pred.sum() + self.areas_gt.sum())
        if total == 0.0:
            return float(empty_value)
        good = float(self.areas_pred[self.distances_pred_to_gt <= tol].sum()) + float(
            self.areas_gt[self.distances_gt_to_pred <= tol].sum()
        )
        return good / total

    def hausdorff(self, percentile: float = 95.0) -> float:
        """Symmetric (robust) Hausdorff distance in mm, surfel-area weighted.

        ``percentile=100`` is the classic Hausdorff distance; 95 the usual robust variant
        (the larger of the two directed 95th percentiles). ``inf`` when exactly one surface is
        empty, NaN when both are.
        """
        if not 0.0 <= percentile <= 100.0:
            raise OptionError(f"percentile={percentile!r}: expected a number in 0..100")
        if self.areas_pred.size == 0 and self.areas_gt.size == 0:
            return math.nan
        if self.areas_pred.size == 0 or self.areas_gt.size == 0:
            return math.inf
        return max(
            _weighted_percentile(self.distances_pred_to_gt, self.areas_pred, percentile),
            _weighted_percentile(self.distances_gt_to_pred, self.areas_gt, percentile),
        )

    def average_symmetric(self) -> float:
        """Average symmetric surface distance in mm (surfel-area weighted)."""
        total = float(self.areas_pred.sum() + self.areas_gt.sum())
        if self.areas_pred.size == 0 or self.areas_gt.size == 0:
            return math.nan if total == 0.0 else math.inf
        return float(
            (self.distances_pred_to_gt @ self.areas_pred + self.distances_gt_to_pred @ self.areas_gt)
            / total
        )


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, percentile: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    k = int(np.searchsorted(cum, percentile / 100.0 - 1e-12))
    return float(values[order][min(k, values.size - 1)])


def _crop_pair(p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    box = _bbox(p | g)
    if box is None:
        return None
    return np.pad(p[box], 1), np.pad(g[box], 1)


def _nearest(points_from: np.ndarray, points_to: np.ndarray, upper_bound: float = math.inf) -> np.ndarray:
    """Distance from each of ``points_from`` to the nearest of ``points_to`` (inf if none)."""
    if points_from.shape[0] == 0:
        return np.zeros(0)
    if points_to.shape[0] == 0:
        return np.full(points_from.shape[0], math.inf)
    from scipy.spatial import cKDTree

    tree = cKDTree(points_to, leafsize=32)
    dist, _ = tree.query(points_from, k=1, distance_upper_bound=upper_bound)
    return np.asarray(dist, dtype=np.float64)


def surface_distances(pred: Any, gt: Any, spacing_mm: Sequence[float]) -> SurfaceDistances:
    """Surfel-wise distances in mm between the surfaces of two 3-D masks.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((8, 8, 8), bool); a[2:6, 2:6, 2:6] = True
        >>> b = np.roll(a, 1, axis=2)  # shifted by one voxel of 2 mm
        >>> sd = surface_distances(a, b, (1.0, 1.0, 2.0))
        >>> float(sd.distances_pred_to_gt.max())
        2.0
        >>> sd.nsd(2.0)
        1.0
    """
    p, g = _check_pair(pred, gt)
    sp = _check_spacing(spacing_mm)
    empty = np.zeros(0)
    crops = _crop_pair(p, g)
    if crops is None:
        return SurfaceDistances(empty, empty.copy(), empty.copy(), empty.copy())
    pos_p, area_p = _surfels(crops[0], sp)
    pos_g, area_g = _surfels(crops[1], sp)
    return SurfaceDistances(
        distances_pred_to_gt=_nearest(pos_p, pos_g),
        distances_gt_to_pred=_nearest(pos_g, pos_p),
        areas_pred=area_p,
        areas_gt=area_g,
    )


def nsd(
    pred: Any,
    gt: Any,
    spacing_mm: Sequence[float],
    tolerance_mm: float = 2.0,
    *,
    empty_value: float = 1.0,
) -> float:
    """Normalized surface Dice: the fraction of both surfaces within ``tolerance_mm`` of the other.

    The DeepMind ``surface-distance`` definition used by the paper (area-weighted
    marching-cubes surfels, see the module notes), in physical units with anisotropic
    ``spacing_mm``. Returns ``empty_value`` (default 1.0) when both masks are empty and 0.0
    when exactly one is.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((10, 10, 10), bool); a[3:7, 3:7, 3:7] = True
        >>> nsd(a, a, (0.7, 0.7, 5.0))
        1.0
        >>> nsd(a, np.roll(a, 3, axis=0), (1.0, 1.0, 1.0), tolerance_mm=2.0) < 1.0
        True
    """
    p, g = _check_pair(pred, gt)
    sp = _check_spacing(spacing_mm)
    tol = _check_tolerance(tolerance_mm)
    crops = _crop_pair(p, g)
    if crops is None:
        return float(empty_value)
    pos_p, area_p = _surfels(crops[0], sp)
    pos_g, area_g = _surfels(crops[1], sp)
    total = float(area_p.sum() + area_g.sum())
    if pos_p.shape[0] == 0 or pos_g.shape[0] == 0:
        return 0.0
    bound = tol * (1.0 + _TIE_RTOL)
    # Query with an upper bound: far surfels come back as inf without a full search.
    ub = np.nextafter(bound, math.inf)
    good = float(area_p[_nearest(pos_p, pos_g, ub) <= bound].sum())
    good += float(area_g[_nearest(pos_g, pos_p, ub) <= bound].sum())
    return good / total


# --------------------------------------------------------------------------------------------
# lesion-wise detection
# --------------------------------------------------------------------------------------------


def equivalent_diameter_mm(volume_mm3: float) -> float:
    """Diameter in mm of the sphere with the given volume in mm^3.

    Example:
        >>> round(equivalent_diameter_mm(4 / 3 * math.pi * 4**3), 6)  # the paper's tiny tumor
        8.0
    """
    return 2.0 * (3.0 * float(volume_mm3) / (4.0 * math.pi)) ** (1.0 / 3.0)


def size_class(diameter_mm: float) -> str:
    """Size class (tiny, small, medium, large) of an equivalent diameter in mm.

    Example:
        >>> [size_class(d) for d in (8, 10, 16, 32, 64)]
        ['tiny', 'small', 'small', 'medium', 'large']
    """
    for name, lo, hi in SIZE_CLASSES_MM:
        if lo <= diameter_mm < hi:
            return name
    raise OptionError(f"diameter_mm={diameter_mm!r}: expected a non-negative number")


@dataclass(frozen=True)
class LesionMatch:
    """Result of :func:`match_lesions` for one scan.

    Attributes:
        lesions: one record per ground-truth lesion: ``volume_mm3``, ``diameter_mm``,
            ``size_class``, ``voxels``, ``overlap_voxels`` and ``detected``.
        false_positives: one record per predicted component that touches no ground-truth
            tumor: ``volume_mm3``, ``diameter_mm``, ``voxels``.
    """

    lesions: tuple[dict[str, Any], ...] = ()
    false_positives: tuple[dict[str, Any], ...] = ()
    n_pred_components: int = 0

    @property
    def n_lesions(self) -> int:
        return len(self.lesions)

    @property
    def n_detected(self) -> int:
        return sum(1 for le in self.lesions if le["detected"])

    @property
    def n_false_positives(self) -> int:
        return len(self.false_positives)

    def counts(self) -> dict[str, int]:
        """Flat counts: ``lesions_<class>``, ``detected_<class>`` for each class and ``all``,
        and ``false_positives``."""
        out: dict[str, int] = {}
        for name, _, _ in SIZE_CLASSES_MM:
            out[f"lesions_{name}"] = sum(1 for le in self.lesions if le["size_class"] == name)
            out[f"detected_{name}"] = sum(
                1 for le in self.lesions if le["size_class"] == name and le["detected"]
            )
        out["lesions_all"] = self.n_lesions
        out["detected_all"] = self.n_detected
        out["false_positives"] = self.n_false_positives
        return out


_STRUCTURES = {6: 1, 18: 2, 26: 3}


def _structure(connectivity: int) -> np.ndarray:
    from scipy import ndimage

    if connectivity not in _STRUCTURES:
        raise OptionError(f"connectivity={connectivity!r}: expected one of 6, 18, 26")
    return ndimage.generate_binary_structure(3, _STRUCTURES[connectivity])


def match_lesions(
    pred: Any,
    gt: Any,
    spacing_mm: Sequence[float],
    *,
    connectivity: int = 26,
) -> LesionMatch:
    """Lesion-wise detection of ground-truth tumors by a predicted tumor mask.

    Each connected component of ``gt`` is a lesion, detected when at least one voxel of
    ``pred`` overlaps it, and sized by its equivalent diameter (:data:`SIZE_CLASSES_MM`).
    Each component of ``pred`` that overlaps no ``gt`` voxel is a false positive. Works inside
    the bounding box of ``pred | gt``.

    Example:
        >>> import numpy as np
        >>> gt = np.zeros((20, 20, 20), bool); gt[2:4, 2:4, 2:4] = True; gt[10:18, 10:18, 10:18] = True
        >>> pred = np.zeros_like(gt); pred[12:14, 12:14, 12:14] = True; pred[0, 19, 0] = True
        >>> m = match_lesions(pred, gt, (1.0, 1.0, 1.0))
        >>> (m.n_lesions, m.n_detected, m.n_false_positives)
        (2, 1, 1)
    """
    from scipy import ndimage

    p, g = _check_pair(pred, gt)
    sp = _check_spacing(spacing_mm)
    structure = _structure(connectivity)
    box = _bbox(p | g)
    if box is None:
        return LesionMatch()
    p, g = p[box], g[box]
    voxel_mm3 = sp[0] * sp[1] * sp[2]

    lesions: list[dict[str, Any]] = []
    gl, n_g = ndimage.label(g, structure=structure)
    if n_g:
        sizes = np.bincount(gl.ravel(), minlength=n_g + 1)
        overlap = np.bincount(gl[p].ravel(), minlength=n_g + 1)
        for k in range(1, n_g + 1):
            vol = float(sizes[k]) * voxel_mm3
            d = equivalent_diameter_mm(vol)
            lesions.append(
                {
                    "voxels": int(sizes[k]),
                    "volume_mm3": vol,
                    "diameter_mm": d,
                    "size_class": size_class(d),
                    "overlap_voxels": int(overlap[k]),
                    "detected": bool(overlap[k] > 0),
                }
            )
    fps: list[dict[str, Any]] = []
    pl, n_p = ndimage.label(p, structure=structure)
    if n_p:
        psizes = np.bincount(pl.ravel(), minlength=n_p + 1)
        hits = np.bincount(pl[g].ravel(), minlength=n_p + 1)
        for k in range(1, n_p + 1):
            if hits[k] == 0:
                vol = float(psizes[k]) * voxel_mm3
                fps.append(
                    {"voxels": int(psizes[k]), "volume_mm3": vol, "diameter_mm": equivalent_diameter_mm(vol)}
                )
    return LesionMatch(lesions=tuple(lesions), false_positives=tuple(fps), n_pred_components=int(n_p))


def detection_summary(counts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Pool per-scan detection counts (:meth:`LesionMatch.counts`) over scans.

    Sensitivity per size class is pooled over lesions (detected / lesions; NaN for a class
    without lesions); false positives per scan average over every scan, tumor-free ones
    included.

    Example:
        >>> detection_summary([{"lesions_tiny": 2, "detected_tiny": 1, "false_positives": 1},
        ...                    {"lesions_tiny": 2, "detected_tiny": 2, "false_positives": 0}])["tiny"]
        {'lesions': 4, 'detected': 3, 'sensitivity': 0.75}
    """
    rows = list(counts)
    out: dict[str, Any] = {}
    for name in [c[0] for c in SIZE_CLASSES_MM] + ["all"]:
        total = sum(int(r.get(f"lesions_{name}", 0) or 0) for r in rows)
        if name == "all" and not any(f"lesions_{name}" in r for r in rows):
            total = sum(int(r.get(f"lesions_{c[0]}", 0) or 0) for r in rows for c in SIZE_CLASSES_MM)
            det = sum(int(r.get(f"detected_{c[0]}", 0) or 0) for r in rows for c in SIZE_CLASSES_MM)
        else:
            det = sum(int(r.get(f"detected_{name}", 0) or 0) for r in rows)
        out[name] = {"lesions": total, "detected": det, "sensitivity": det / total if total else math.nan}
    fp = [int(r.get("false_positives", 0) or 0) for r in rows]
    out["scans"] = len(rows)
    out["false_positives"] = int(sum(fp))
    out["false_positives_per_scan"] = float(np.mean(fp)) if fp else math.nan
    return out


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------


def bootstrap_ci(
    values: Iterable[float],
    *,
    rng: np.random.Generator | int,
    n: int = 2000,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (cases resampled).

    NaN values are dropped first. Returns ``(nan, nan)`` for no values and ``(v, v)`` for one.
    ``rng`` is a numpy Generator or an int seed; the same seed gives the same interval.

    Example:
        >>> lo, hi = bootstrap_ci([0.5, 0.6, 0.7, 0.8], rng=0)
        >>> lo <= 0.65 <= hi
        True
    """
    if int(n) < 1:
        raise OptionError(f"n={n!r}: expected a positive number of bootstrap resamples")
    if not 0.0 < float(alpha) < 1.0:
        raise OptionError(f"alpha={alpha!r}: expected a number between 0 and 1 (0.05 for 95%)")
    v = np.asarray(list(values), dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    if v.size == 1:
        return (float(v[0]), float(v[0]))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    means = np.empty(int(n))
    chunk = max(1, 2_000_000 // v.size)
    for start in range(0, int(n), chunk):
        stop = min(int(n), start + chunk)
        idx = gen.integers(0, v.size, size=(stop - start, v.size))
        means[start:stop] = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))

