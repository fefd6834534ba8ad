"""Evaluation of one case: liver and tumor DSC and NSD, and lesion-wise tumor detection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tumorsynth.apps.metrics import dice, match_lesions, nsd
from tumorsynth.errors import InputError

__all__ = ["LABELS", "check_labels", "evaluate_case"]

# The LiTS / MSD Task03 label convention.
LABELS = {"background": 0, "liver": 1, "tumor": 2}


def check_labels(labels: Any, *, what: str = "label map") -> np.ndarray:
    """Return ``labels`` as an integer array after checking that its values are 0, 1 or 2.

    Floating-point label maps are accepted when every value is a whole number. Raises
    :class:`~tumorsynth.errors.InputError` naming ``what``, the offending values and the fix.

    Example:
        >>> check_labels(np.array([[[0.0, 1.0], [2.0, 0.0]]])).dtype
        dtype('uint8')
    """
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{what}: unsupported data type {arr.dtype}; expected integer labels 0, 1, 2")
    if arr.size == 0:
        raise InputError(f"{what}: empty label map")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.rint(arr)):
            raise InputError(
                f"{what}: has non-integer label values; expected labels 0 (background), 1 (liver), "
                "2 (tumor); save an argmax label map, not probabilities"
            )
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > 2:
        bad = np.unique(arr[(arr < 0) | (arr > 2)])[:10]
        shown = ", ".join(f"{float(v):g}" for v in bad)
        raise InputError(
            f"{what}: has label values {shown} outside 0 (background), 1 (liver), 2 (tumor); "
            "map the labels to the LiTS convention first"
        )
    return arr.astype(np.uint8, copy=False)


def evaluate_case(
    pred_label: Any,
    gt_label: Any,
    spacing_mm: Sequence[float],
    *,
    tolerance_mm: float = 2.0,
    connectivity: int = 26,
    names: tuple[str, str] = ("prediction", "ground truth"),
) -> dict[str, Any]:
    """Evaluate one predicted label map against its ground truth (0 background, 1 liver, 2 tumor).

    Liver is ``label >= 1`` (liver including its tumors), tumor is ``label == 2``. Returns a
    flat, JSON-able dict:

    * ``tumor_dsc``, ``tumor_nsd``: NaN when the ground truth has no tumor (the paper averages
      tumor scores over cases with tumors); ``liver_dsc``, ``liver_nsd`` likewise NaN without
      a ground-truth liver. NSD at ``tolerance_mm`` in physical units.
    * ``has_tumor``; ``gt_tumor_ml``, ``pred_tumor_ml``, ``gt_liver_ml``, ``pred_liver_ml``.
    * lesion counts ``lesions_<class>`` / ``detected_<class>`` for tiny, small, medium, large
      and all, and ``false_positives`` (see :func:`tumorsynth.apps.metrics.match_lesions`).

    ``names`` label the two inputs in error messages (for example their file names).

    Example:
        >>> gt = np.zeros((20, 20, 20), np.uint8); gt[2:18, 2:18, 2:18] = 1
        >>> gt[5:9, 5:9, 5:9] = 2
        >>> r = evaluate_case(gt, gt, (1.0, 1.0, 2.5))
        >>> (r["tumor_dsc"], r["tumor_nsd"], r["liver_dsc"], r["detected_all"])
        (1.0, 1.0, 1.0, 1)
    """
    pred = check_labels(pred_label, what=names[0])
    gt = check_labels(gt_label, what=names[1])
    if pred.shape != gt.shape:
        raise InputError(
            f"{names[0]}: shape {pred.shape} differs from {names[1]} shape {gt.shape}; "
            "predictions must be on the ground truth's grid"
        )
    if pred.ndim != 3:
        raise InputError(f"{names[0]}: expected a 3-D label map, got shape {pred.shape}")
    voxel_ml = float(np.prod(np.asarray(spacing_mm, dtype=float))) / 1000.0

    gt_tumor = gt == 2
    pred_tumor = pred == 2
    gt_liver = gt >= 1
    pred_liver = pred >= 1
    has_tumor = bool(gt_tumor.any())
    has_liver = bool(gt_liver.any())
    nan = math.nan

    out: dict[str, Any] = {
        "tumor_dsc": dice(pred_tumor, gt_tumor) if has_tumor else nan,
        "tumor_nsd": nsd(pred_tumor, gt_tumor, spacing_mm, tolerance_mm) if has_tumor else nan,
        "liver_dsc": dice(pred_liver, gt_liver) if has_liver else nan,
        "liver_nsd": nsd(pred_liver, gt_liver, spacing_mm, tolerance_mm) if has_liver else nan,
        "has_tumor": has_tumor,
        "gt_tumor_ml": int(np.count_nonzero(gt_tumor)) * voxel_ml,
        "pred_tumor_ml": int(np.count_nonzero(pred_tumor)) * voxel_ml,
        "gt_liver_ml": int(np.count_nonzero(gt_liver)) * voxel_ml,
        "pred_liver_ml": int(np.count_nonzero(pred_liver)) * voxel_ml,
    }
    match = match_lesions(pred_tumor, gt_tumor, spacing_mm, connectivity=connectivity)
    out.update(match.counts())
    out["lesions"] = [
        {k: le[k] for k in ("diameter_mm", "volume_mm3", "size_class", "detected")}
        for le in match.lesions
    ]
    return out
