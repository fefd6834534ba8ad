"""How real do synthetic tumors look? Per-lesion features and a real-versus-synthetic report.

::

    from tumorsynth.apps.realism import lesion_features, compare_features, realism_report
    feats = lesion_features(ct, label, spacing_mm)            # one dict per lesion
    cmp = realism_report("LiTS/", "synth/", "realism/")       # JSON, table, CSV, histograms
    cmp["gap"], cmp["features"]["edge_width_mm"]["w_over_iqr"]

Shape (own grid): volume, equivalent diameter, grid-normalised sphericity, elongation.
Appearance (isotropic grid): contrast to the liver rim, heterogeneity, fine-texture ratio, edge
width and offset. See docs/realism.md for the definitions. Needs scikit-image
(``pip install 'tumorsynth[realism]'``).
"""

from __future__ import annotations

from tumorsynth.apps.realism.appearance import (
    APPEARANCE_KEYS,
    appearance_features,
    robust_sd,
    signed_distance,
)
from tumorsynth.apps.realism.compare import (
    APPEARANCE_GAP,
    COMPARED,
    SHAPE_GAP,
    compare_features,
    describe_features,
)
from tumorsynth.apps.realism.features import (
    DEFAULT_MIN_VOLUME_MM3,
    FEATURE_KEYS,
    RealismCase,
    case_features,
    collect_features,
    lesion_features,
)
from tumorsynth.apps.realism.geometry import elongation, sphere_reference, sphericity
from tumorsynth.apps.realism.report import find_realism_cases, format_table, realism_report

__all__ = [
    "APPEARANCE_GAP",
    "APPEARANCE_KEYS",
    "COMPARED",
    "DEFAULT_MIN_VOLUME_MM3",
    "FEATURE_KEYS",
    "SHAPE_GAP",
    "RealismCase",
    "appearance_features",
    "case_features",
    "collect_features",
    "compare_features",
    "describe_features",
    "elongation",
    "find_realism_cases",
    "format_table",
    "lesion_features",
    "realism_report",
    "robust_sd",
    "signed_distance",
    "sphere_reference",
    "sphericity",
]
