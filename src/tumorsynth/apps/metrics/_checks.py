"""Input checks shared by the metrics modules: mask pairs, spacing, tolerance, bounding box."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tumorsynth.errors import OptionError
from tumorsynth.generator.kernels.grids import bbox


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
    """Bounding box of the non-zero voxels of a 3-D mask as slices, or None when empty."""
    box = bbox(mask)
    return None if box is None else tuple(slice(a, b) for a, b in box)
