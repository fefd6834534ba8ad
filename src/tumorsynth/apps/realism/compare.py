"""Compare the feature distributions of two sets of lesions (real and synthetic).

Per feature: median, 25th and 75th percentile, IQR and count of each set; the 1-D Wasserstein
distance (the mean absolute shift between the two distributions, in the feature's unit) divided
by the real set's IQR, so that features of different units can be averaged; the two-sample
Kolmogorov-Smirnov statistic. NaNs are dropped per feature.

The summary ``gap`` is the mean of the normalised distances over the shape
(:data:`SHAPE_GAP`) and appearance (:data:`APPEARANCE_GAP`) features; 0 means the synthetic
lesions are distributed like the real ones, about 1 means a typical shift of one real IQR.
Volume and diameter are reported but not in the gap: they follow the preset, not realism.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["APPEARANCE_GAP", "COMPARED", "SHAPE_GAP", "compare_features", "describe_features"]

SHAPE_GAP = ("sphericity", "elongation")
APPEARANCE_GAP = ("contrast_hu", "heterogeneity", "fine_texture_ratio", "edge_width_mm")
COMPARED = ("volume_mm3", "diameter_mm", *SHAPE_GAP, *APPEARANCE_GAP, "edge_offset_mm")
"""The features compared, in table order."""


def _values(lesions: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    v = np.array([float(f.get(key, math.nan)) for f in lesions], dtype=np.float64)
    return v[np.isfinite(v)]


def _stats(v: np.ndarray) -> dict[str, float | int]:
    if v.size == 0:
        return {"n": 0, "median": math.nan, "q25": math.nan, "q75": math.nan, "iqr": math.nan}
    q25, med, q75 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    return {"n": int(v.size), "median": med, "q25": q25, "q75": q75, "iqr": q75 - q25}


def describe_features(lesions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Median, quartiles, IQR and count of each compared feature of one set."""
    return {k: _stats(_values(lesions, k)) for k in COMPARED}


def compare_features(
    real: Sequence[Mapping[str, Any]],
    synthetic: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """Compare two lists of lesion dicts (from :func:`~tumorsynth.apps.realism.lesion_features`).

    Args:
        real: the reference lesions.
        synthetic: the lesions to judge; None only describes ``real``.

    Returns:
        ``{"features": {name: {"real": stats, "synthetic": stats, "wasserstein": w,
        "w_over_iqr": w / real IQR, "ks": D, "ks_pvalue": p, "in_gap": bool}}, "gap": g,
        "gap_shape": g_s, "gap_appearance": g_a, "gap_features": [...], "n_lesions": {"real": n,
        "synthetic": m}}`` where ``stats`` is ``{"n", "median", "q25", "q75", "iqr"}``. Distances
        are NaN when a set has no value of that feature or the real IQR is 0; the gaps are NaN
        when none of their features could be compared. Without ``synthetic`` the distances and
        gaps are absent.

    Example:
        >>> a = [{"sphericity": 0.8 + 0.01 * i} for i in range(20)]
        >>> b = [{"sphericity": 0.9 + 0.01 * i} for i in range(20)]
        >>> round(compare_features(a, b)["features"]["sphericity"]["w_over_iqr"], 2)
        1.05
    """
    from scipy import stats

    out: dict[str, Any] = {"features": {}, "n_lesions": {"real": len(real)}}
    if synthetic is None:
        out["features"] = {k: {"real": s} for k, s in describe_features(real).items()}
        return out
    out["n_lesions"]["synthetic"] = len(synthetic)
    in_gap = set(SHAPE_GAP) | set(APPEARANCE_GAP)
    for key in COMPARED:
        a, b = _values(real, key), _values(synthetic, key)
        sa, sb = _stats(a), _stats(b)
        entry: dict[str, Any] = {"real": sa, "synthetic": sb, "wasserstein": math.nan,
                                 "w_over_iqr": math.nan, "ks": math.nan, "ks_pvalue": math.nan,
                                 "in_gap": key in in_gap}
        if a.size and b.size:
            w = float(stats.wasserstein_distance(a, b))
            entry["wasserstein"] = w
            iqr = float(sa["iqr"])
            if iqr > 0:
                entry["w_over_iqr"] = w / iqr
            ks = stats.ks_2samp(a, b)
            entry["ks"], entry["ks_pvalue"] = float(ks.statistic), float(ks.pvalue)
        out["features"][key] = entry

    def mean_of(keys: Sequence[str]) -> float:
        vals = [out["features"][k]["w_over_iqr"] for k in keys]
        vals = [v for v in vals if math.isfinite(v)]
        return float(np.mean(vals)) if vals else math.nan

    out["gap_features"] = [*SHAPE_GAP, *APPEARANCE_GAP]
    out["gap"] = mean_of(out["gap_features"])
    out["gap_shape"] = mean_of(SHAPE_GAP)
    out["gap_appearance"] = mean_of(APPEARANCE_GAP)
    return out
