"""Segmentation metrics in physical units: Dice, surface distances, NSD, lesion detection.

Pure numpy/scipy; no torch. All functions take 3-D masks in the file's own voxel order
``(i, j, k)`` and ``spacing_mm``, the physical step along each array axis (see
:mod:`tumorsynth.io`), so anisotropic grids such as 0.7 x 0.7 x 5 mm are measured correctly
without resampling.

Conventions (tested in ``tests/evaluate``)
------------------------------------------
* **Both masks empty**: :func:`dice` and :func:`nsd` return ``empty_value`` (default ``1.0``:
  nothing to find and nothing found is perfect agreement; pass ``float("nan")`` to exclude such
  cases from a mean). :func:`tumorsynth.apps.evaluate.evaluate_case` reports tumor DSC/NSD as NaN on
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

Modules
-------
* :mod:`~tumorsynth.apps.metrics.overlap`: Dice.
* :mod:`~tumorsynth.apps.metrics.surface_area`: the marching-cubes surface-area table.
* :mod:`~tumorsynth.apps.metrics.surface`: surface distances and NSD.
* :mod:`~tumorsynth.apps.metrics.lesions`: lesion matching, size classes and detection summaries.
* :mod:`~tumorsynth.apps.metrics.stats`: bootstrap confidence intervals.
"""

from __future__ import annotations

from tumorsynth.apps.metrics.lesions import (
    SIZE_CLASSES_MM,
    LesionMatch,
    detection_summary,
    equivalent_diameter_mm,
    match_lesions,
    size_class,
)
from tumorsynth.apps.metrics.overlap import dice
from tumorsynth.apps.metrics.stats import bootstrap_ci
from tumorsynth.apps.metrics.surface import SurfaceDistances, nsd, surface_distances
from tumorsynth.apps.metrics.surface_area import surface_area_table

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
