"""Lesion-wise detection: size classes, lesion matching and detection summaries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tumorsynth.apps.metrics._checks import _bbox, _check_pair, _check_spacing
from tumorsynth.errors import OptionError

__all__ = [
    "SIZE_CLASSES_MM",
    "LesionMatch",
    "detection_summary",
    "equivalent_diameter_mm",
    "match_lesions",
    "size_class",
]

# (name, lower limit inclusive, upper limit exclusive) of the equivalent diameter in mm.
SIZE_CLASSES_MM: tuple[tuple[str, float, float], ...] = (
    ("tiny", 0.0, 10.0),
    ("small", 10.0, 20.0),
    ("medium", 20.0, 40.0),
    ("large", 40.0, math.inf),
)


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
