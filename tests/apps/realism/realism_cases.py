"""Synthetic test objects for the realism features: spheres, blurred steps, noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special


def grid_radius(shape, spacing, offset=(0.13, -0.21, 0.37)):
    """Distance (mm) of every voxel centre to a point near the middle of the grid."""
    ax = [(np.arange(n) - (n - 1) / 2) * s + o for n, s, o in zip(shape, spacing, offset, strict=True)]
    return np.sqrt(ax[0][:, None, None] ** 2 + ax[1][None, :, None] ** 2 + ax[2][None, None, :] ** 2)


def blurred_sphere_case(spacing=(1.0, 1.0, 1.0), *, radius_mm=15.0, sigma_mm=1.0, half_width_mm=36.0,
                        lesion_hu=40.0, liver_hu=100.0, noise_hu=0.0, noise_corr_mm=0.0, seed=0):
    """A lesion (label 2) in a liver (label 1) filling the grid; the CT edge an erf of sigma_mm.

    The erf of the radial distance is the Gaussian-blurred step seen along the surface normal.
    """
    shape = tuple(int(2 * half_width_mm / s) for s in spacing)
    rr = grid_radius(shape, spacing)
    label = np.ones(shape, np.uint8)
    label[rr <= radius_mm] = 2
    if sigma_mm > 0:
        step = 0.5 * (1 + special.erf((rr - radius_mm) / (np.sqrt(2) * sigma_mm)))
    else:
        step = (rr > radius_mm).astype(float)
    ct = lesion_hu + (liver_hu - lesion_hu) * step
    if noise_hu:
        n = np.random.default_rng(seed).normal(0.0, 1.0, shape)
        if noise_corr_mm:
            n = ndimage.gaussian_filter(n, noise_corr_mm / np.asarray(spacing))
        ct = ct + noise_hu * n / n.std()
    return ct.astype(np.float32), label


def write_case(ct_path, label_path, ct, label, spacing=(1.5, 1.5, 2.0)):
    """Write a CT (int16) and a label map (uint8) as NIfTI with a diagonal affine."""
    import tumorsynth as ts

    affine = np.diag([*spacing, 1.0])
    ts.save_nifti(ct_path, np.rint(ct).astype(np.int16), affine=affine)
    ts.save_nifti(label_path, label.astype(np.uint8), affine=affine)


def small_case(seed, *, sigma_mm=1.5, lesion_hu=60.0, spacing=(1.5, 1.5, 2.0)):
    """A small labelled CT: one blurred spherical lesion of random size in a liver."""
    r = 8.0 + 4.0 * np.random.default_rng(seed).random()
    return blurred_sphere_case(spacing, radius_mm=r, sigma_mm=sigma_mm, half_width_mm=r + 16.0,
                               lesion_hu=lesion_hu, noise_hu=10.0, seed=seed)
