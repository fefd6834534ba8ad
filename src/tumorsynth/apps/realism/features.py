"""Per-lesion features of labelled CTs: one dict per lesion, NaN for what cannot be measured.

A lesion is a 26-connected component of ``label == tumor_label`` of at least
``min_volume_mm3``. Shape features (:mod:`.geometry`) are measured on the scan's own grid;
appearance features (:mod:`.appearance`) on a common isotropic grid, in a crop around each
lesion only, so the cost follows the lesions, not the CT.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from tumorsynth.apps.realism.appearance import (
    APPEARANCE_KEYS,
    CROP_MARGIN_MM,
    LESION,
    LIVER,
    OTHER_TUMOR,
    appearance_features,
)
from tumorsynth.apps.realism.geometry import elongation, require_skimage, sphericity
from tumorsynth.errors import InputError, OptionError

__all__ = [
    "DEFAULT_MIN_VOLUME_MM3",
    "FEATURE_KEYS",
    "RealismCase",
    "case_features",
    "collect_features",
    "lesion_features",
]

log = logging.getLogger(__name__)

# 50 mm^3: a ball of 4.6 mm diameter, a few voxels on any clinical grid; smaller components are
# mostly label noise, and their edge and texture cannot be measured anyway.
DEFAULT_MIN_VOLUME_MM3 = 50.0

SHAPE_KEYS = ("volume_mm3", "diameter_mm", "sphericity", "elongation")
FEATURE_KEYS = SHAPE_KEYS + APPEARANCE_KEYS
"""The numeric features of a lesion dict, in report order."""

_STRUCT26 = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class RealismCase:
    """One labelled CT to measure: the CT file, its label map and which values mean what.

    Attributes:
        name: the case name used in the outputs.
        image: CT file (HU).
        label: label map on the CT's grid.
        liver_labels: label values that are liver (the tumor value is never counted as liver).
        tumor_label: label value of lesions.
    """

    name: str
    image: os.PathLike[str] | str
    label: os.PathLike[str] | str
    liver_labels: tuple[int, ...] = (1,)
    tumor_label: int = 2


def _check_spacing(spacing_mm: Sequence[float]) -> tuple[float, float, float]:
    sp = tuple(float(s) for s in spacing_mm)
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise OptionError(f"spacing_mm must be 3 positive numbers, got {spacing_mm!r}")
    return sp  # type: ignore[return-value]


def lesion_features(
    ct: np.ndarray,
    label: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    tumor_label: int = 2,
    liver_labels: Sequence[int] = (1,),
    min_volume_mm3: float = DEFAULT_MIN_VOLUME_MM3,
    iso_mm: float = 1.0,
    case: str = "",
) -> list[dict[str, Any]]:
    """Measure every lesion of a labelled CT; the inputs are not modified.

    Args:
        ct: CT in HU, 3-D.
        label: label map on the same grid (e.g. LiTS: 0 background, 1 liver, 2 tumor).
        spacing_mm: voxel spacing per array axis (anisotropic allowed).
        tumor_label: value of lesion voxels; a lesion is a 26-connected component of it.
        liver_labels: values of liver voxels (the rim around a lesion is taken from them).
        min_volume_mm3: smaller components are ignored.
        iso_mm: grid step of the isotropic grid of the appearance features.
        case: case name copied into each dict.

    Returns:
        One dict per lesion, largest first: ``case``, ``lesion`` (index in this case),
        ``centroid_vox`` (i, j, k), ``voxels`` and the features of :data:`FEATURE_KEYS`
        (``volume_mm3``, ``diameter_mm``, ``sphericity``, ``elongation``, ``contrast_hu``,
        ``heterogeneity``, ``fine_texture_ratio``, ``edge_width_mm``, ``edge_offset_mm``,
        ``lesion_mean_hu``, ``rim_median_hu``, ``rim_sd_hu``), NaN where a feature cannot be
        measured (too small, no liver around it, no contrast for the edge fit).

    Example:
        >>> import numpy as np
        >>> lab = np.ones((40, 40, 40), np.uint8)
        >>> g = np.indices(lab.shape) - 20
        >>> lab[(g ** 2).sum(0) <= 64] = 2
        >>> ct = np.where(lab == 2, 40.0, 100.0)
        >>> f = lesion_features(ct, lab, (1.0, 1.0, 1.0))
        >>> len(f), round(f[0]["contrast_hu"])
        (1, -60)
    """
    require_skimage()
    sp = _check_spacing(spacing_mm)
    ct = np.asarray(ct)
    label = np.asarray(label)
    if ct.ndim != 3 or ct.shape != label.shape:
        raise InputError(f"CT shape {ct.shape} and label shape {label.shape} differ (or are not 3-D); "
                         "pass a CT and a label map on the same grid")
    if not (iso_mm > 0 and math.isfinite(iso_mm)):
        raise OptionError(f"iso_mm must be a positive number, got {iso_mm!r}")
    liver_set = tuple(int(v) for v in liver_labels if int(v) != int(tumor_label))
    tumor = label == tumor_label
    nz = [np.flatnonzero(tumor.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)]
    if any(v.size == 0 for v in nz):
        return []
    box = tuple(slice(int(v[0]), int(v[-1]) + 1) for v in nz)
    comp, n = ndimage.label(tumor[box], structure=_STRUCT26)
    voxvol = sp[0] * sp[1] * sp[2]
    counts = np.bincount(comp.ravel(), minlength=n + 1)
    objects = ndimage.find_objects(comp)
    keep = [i for i in range(1, n + 1) if counts[i] * voxvol >= min_volume_mm3]
    keep.sort(key=lambda i: -int(counts[i]))
    margin = [int(math.ceil(CROP_MARGIN_MM / s)) for s in sp]
    out: list[dict[str, Any]] = []
    for k, i in enumerate(keep):
        sl = objects[i - 1]
        assert sl is not None
        own = comp[sl] == i
        coords = np.argwhere(own) + [s.start + b.start for s, b in zip(sl, box, strict=True)]
        vol = float(counts[i]) * voxvol
        feats: dict[str, Any] = {
            "case": case,
            "lesion": k,
            "centroid_vox": [round(float(v), 2) for v in coords.mean(axis=0)],
            "voxels": int(counts[i]),
            "volume_mm3": vol,
            "diameter_mm": float((6.0 * vol / math.pi) ** (1 / 3)),
            "sphericity": sphericity(own, sp),
            "elongation": elongation(coords, sp),
        }
        # the lesion's crop in the whole CT, plus the margin the rim and profile need
        lo = [max(int(c.min()) - m, 0) for c, m in zip(coords.T, margin, strict=True)]
        hi = [min(int(c.max()) + m + 1, s) for c, m, s in zip(coords.T, margin, ct.shape, strict=True)]
        crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        lab_c = label[crop]
        codes = np.zeros(lab_c.shape, dtype=np.uint8)
        if liver_set:
            codes[np.isin(lab_c, liver_set)] = LIVER
        codes[lab_c == tumor_label] = OTHER_TUMOR
        local = tuple(c - a for c, a in zip(coords.T, lo, strict=True))
        codes[local] = LESION
        feats.update(appearance_features(ct[crop].astype(np.float32), codes, sp, iso_mm=iso_mm))
        out.append(feats)
    return out


def _label_values(data: np.ndarray) -> str:
    vals = np.unique(data[:: max(1, data.shape[0] // 64)])
    return ", ".join(str(int(v)) for v in vals[:20])


def case_features(
    ct_path: str | os.PathLike[str],
    label_path: str | os.PathLike[str],
    *,
    tumor_label: int = 2,
    liver_labels: Sequence[int] = (1,),
    min_volume_mm3: float = DEFAULT_MIN_VOLUME_MM3,
    iso_mm: float = 1.0,
    case: str = "",
) -> list[dict[str, Any]]:
    """Read a CT and its label map (NIfTI) and measure their lesions (:func:`lesion_features`).

    Spacing comes from the CT's affine; the files are only read. Raises
    :class:`~tumorsynth.errors.InputError` for unreadable files, a label map on another grid
    (shape or affine), or a label map without any of ``liver_labels``.
    """
    from tumorsynth.io import check_same_grid, load_nifti

    ct = load_nifti(ct_path, what="CT")
    lab = load_nifti(label_path, what="label map")
    check_same_grid(lab, ct, what="label map", fix="use the label map made for this CT or resample it to the CT grid")
    data = np.asarray(lab.data)
    if data.dtype.kind == "f":
        data = np.rint(data).astype(np.int32)
    liver_set = tuple(int(v) for v in liver_labels if int(v) != int(tumor_label))
    if not liver_set or not np.isin(data, liver_set).any():
        raise InputError(
            f"{label_path}: no liver voxels (label {', '.join(map(str, liver_set)) or 'none'}; values present: "
            f"{_label_values(data)}); the rim around each lesion is liver: pass the liver value(s) "
            "with --liver-label or use a label map with the liver"
        )
    return lesion_features(ct.data, data, ct.spacing_mm, tumor_label=tumor_label, liver_labels=liver_set,
                           min_volume_mm3=min_volume_mm3, iso_mm=iso_mm, case=case or str(ct_path))


def collect_features(
    cases: Iterable[RealismCase],
    *,
    min_volume_mm3: float = DEFAULT_MIN_VOLUME_MM3,
    iso_mm: float = 1.0,
    progress: bool = False,
    desc: str = "lesions",
) -> list[dict[str, Any]]:
    """Measure the lesions of many cases (:func:`case_features` each); one list of dicts.

    ``progress=True`` shows a tqdm progress bar when tqdm is installed.
    """
    items = list(cases)
    it: Iterable[RealismCase] = items
    if progress:
        try:
            from tqdm.auto import tqdm

            it = tqdm(items, desc=desc, unit="case")
        except ModuleNotFoundError:  # the bar is a convenience; the measurements do not need it
            log.info("tqdm is not installed; no progress bar (pip install 'tumorsynth[realism]')")
    out: list[dict[str, Any]] = []
    for c in it:
        found = case_features(c.image, c.label, tumor_label=c.tumor_label, liver_labels=c.liver_labels,
                              min_volume_mm3=min_volume_mm3, iso_mm=iso_mm, case=c.name)
        log.info("%s: %d lesion(s)", c.name, len(found))
        out.extend(found)
    return out
