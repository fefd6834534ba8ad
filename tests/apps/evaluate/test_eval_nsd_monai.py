"""Our NSD against MONAI's surface Dice with sub-voxel surfaces (the DeepMind definition).

``monai.metrics.compute_surface_dice(..., use_subvoxels=True, spacing=...)`` implements the
normalized surface Dice of DeepMind's ``surface-distance`` package, which the paper uses. MONAI
computes in float32, so agreement is to float32 precision (about 1e-7), inside the required
1e-6.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tumorsynth.apps.metrics import nsd, surface_area_table

torch = pytest.importorskip("torch", reason="MONAI comparison needs torch (pip install tumorsynth[train])")
monai_metrics = pytest.importorskip("monai.metrics", reason="MONAI comparison needs monai (pip install tumorsynth[train])")


def monai_nsd(a: np.ndarray, b: np.ndarray, spacing, tol: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = torch.as_tensor(np.stack([~a, a])[None])
        gt = torch.as_tensor(np.stack([~b, b])[None])
        out = monai_metrics.compute_surface_dice(
            pred, gt, class_thresholds=[tol], spacing=list(spacing), use_subvoxels=True
        )
    return float(out[0, 0])


def random_shape(rng: np.random.Generator, shape) -> np.ndarray:
    from scipy import ndimage

    kind = rng.integers(0, 3)
    if kind == 0:  # speckle, dilated: many small, irregular components (all 256 codes)
        m = rng.random(shape) < rng.uniform(0.05, 0.35)
        return ndimage.binary_dilation(m, iterations=int(rng.integers(0, 2)))
    if kind == 1:  # smooth blob from thresholded smoothed noise
        field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=rng.uniform(1.0, 2.5))
        return field > np.quantile(field, rng.uniform(0.5, 0.9))
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]  # ellipsoid
    c = [rng.uniform(0.3, 0.7) * s for s in shape]
    r = [rng.uniform(0.15, 0.45) * s for s in shape]
    return sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, r, strict=True)) <= 1.0


def test_area_table_matches_monai_for_all_256_codes():
    from monai.metrics.utils import create_table_neighbour_code_to_surface_area

    # MONAI's code: corner (a, b, c) has weight 2**(7 - (4a + 2b + c)); ours 2**(4a + 2b + c)
    to_monai = [sum(((c >> i) & 1) << (7 - i) for i in range(8)) for c in range(256)]
    for spacing in [(1.0, 1.0, 1.0), (0.7, 0.7, 5.0), (0.3, 2.2, 1.7), (4.0, 0.5, 0.9)]:
        ref = create_table_neighbour_code_to_surface_area(spacing)[0].double().numpy()[to_monai]
        np.testing.assert_allclose(surface_area_table(spacing), ref, rtol=1e-6, atol=1e-6)


def test_nsd_matches_monai_on_random_shapes_and_spacings():
    rng = np.random.default_rng(2026)
    worst = 0.0
    for trial in range(40):
        shape = tuple(int(s) for s in rng.integers(6, 26, size=3))
        spacing = tuple(float(s) for s in rng.uniform(0.3, 5.0, size=3))
        if trial % 4 == 0:
            spacing = (0.7, 0.7, 5.0)
        tol = float(rng.choice([1.0, 2.0, 3.5]))
        a = random_shape(rng, shape)
        if trial % 3 == 0:  # a shifted copy: many distances near the tolerance
            b = np.roll(a, int(rng.integers(1, 4)), axis=int(rng.integers(0, 3)))
        else:
            b = random_shape(rng, shape)
        if not (a.any() and b.any()):
            continue
        ours, ref = nsd(a, b, spacing, tol), monai_nsd(a, b, spacing, tol)
        worst = max(worst, abs(ours - ref))
        assert ours == pytest.approx(ref, abs=1e-6), (trial, shape, spacing, tol)
    assert worst < 1e-6


def test_default_monai_nsd_is_a_different_definition():
    # without sub-voxel surfaces MONAI counts edge voxels, not surface area: values differ,
    # which is why the comparison above uses use_subvoxels=True
    sp = (0.7, 0.7, 5.0)
    grids = np.ogrid[:30, :30, :12]
    a = ((grids[0] - 15) * sp[0]) ** 2 + ((grids[1] - 15) * sp[1]) ** 2 + ((grids[2] - 6) * sp[2]) ** 2 <= 81
    b = np.roll(a, 1, axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = float(
            monai_metrics.compute_surface_dice(
                torch.as_tensor(np.stack([~a, a])[None]), torch.as_tensor(np.stack([~b, b])[None]),
                class_thresholds=[2.0], spacing=list(sp),
            )[0, 0]
        )
    assert abs(default - nsd(a, b, sp, 2.0)) > 1e-3
    assert nsd(a, b, sp, 2.0) == pytest.approx(monai_nsd(a, b, sp, 2.0), abs=1e-6)
