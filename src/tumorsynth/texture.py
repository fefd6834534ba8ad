"""Step 2, texture: Gaussian noise upsampled by cubic interpolation (grain eta) and blurred.

The noise lives on a grid of step ``grain_mm`` (eta) centred on the tumor, so the texture is the
same whatever the CT's voxel spacing; it is blurred with sigma_b and resampled to the voxels by
one small matrix per axis (:mod:`tumorsynth.interp`). Each voxel's value is normalized to unit
variance, then scaled: ``texture = tumor_mean_hu + texture_std_hu * field``.
"""

from __future__ import annotations

import math

import numpy as np

from tumorsynth.interp import apply_separable, cubic_matrix, gaussian_matrix
from tumorsynth.params import TumorParams

__all__ = ["texture_field"]


def texture_field(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray],
                  reach_mm: tuple[float, float, float]) -> np.ndarray:
    """Unit-variance texture field of tumor ``t`` at the grid of 1-D mm offsets (n0, n1, n2).

    ``reach_mm`` bounds the tumor's extent along each axis; the noise grid covers it, so the
    same tumor gives the same texture in any box that contains it.
    """
    g = float(t.grain_mm)
    halves = [int(math.ceil(r / g)) + 3 for r in reach_mm]
    rng = np.random.default_rng(t.texture_seed)
    noise = rng.standard_normal(tuple(2 * h + 1 for h in halves), dtype=np.float32)
    mats = []
    norms = []
    for o, h in zip(offsets, halves, strict=True):
        n = 2 * h + 1
        m = cubic_matrix(np.clip(o / g + h, 0, n - 1), n) @ gaussian_matrix(n, t.texture_blur_mm / g)
        mats.append(m)
        norms.append(np.sqrt((m * m).sum(axis=1)).astype(np.float32))
    field = apply_separable(noise, (mats[0], mats[1], mats[2]))
    field /= norms[0][:, None, None] * norms[1][None, :, None] * norms[2][None, None, :]
    return field
