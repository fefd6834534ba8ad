"""Hand-computable checks of tumorsynth.apps.metrics (Dice, NSD, lesion detection, bootstrap)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tumorsynth.apps.metrics import (
    SIZE_CLASSES_MM,
    bootstrap_ci,
    detection_summary,
    dice,
    equivalent_diameter_mm,
    match_lesions,
    nsd,
    size_class,
    surface_area_table,
    surface_distances,
)
from tumorsynth.errors import OptionError

ANISO = (0.7, 0.7, 5.0)


def ball(shape, center, radius_mm, spacing):
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    d2 = sum(((g - c) * sp) ** 2 for g, c, sp in zip(grids, center, spacing, strict=True))
    return d2 <= radius_mm**2


def voxel(shape, idx):
    m = np.zeros(shape, bool)
    m[idx] = True
    return m


# ---------------------------------------------------------------- Dice


def test_dice_conventions_and_hand_value():
    empty = np.zeros((6, 6, 6), bool)
    a = empty.copy()
    a[1:3] = True  # 72 voxels
    b = empty.copy()
    b[2:4] = True  # overlap 36
    assert dice(a, a) == 1.0
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(empty, a) == 0.0  # empty prediction
    assert dice(a, empty) == 0.0  # empty ground truth
    assert dice(empty, empty) == 1.0  # both empty: documented default
    assert math.isnan(dice(empty, empty, empty_value=math.nan))


def test_dice_shape_mismatch_raises():
    with pytest.raises(OptionError, match="shape"):
        dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))


# ---------------------------------------------------------------- surface areas


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO, (0.3, 2.2, 1.7)])
def test_area_table_hand_values(spacing):
    s0, s1, s2 = spacing
    t = surface_area_table(spacing)
    assert t[0] == 0.0 and t[255] == 0.0
    # a flat face: the four corners with a = 0 inside -> a plane normal to axis 0
    assert t[0b00001111] == pytest.approx(s1 * s2)
    assert t[0b00110011] == pytest.approx(s0 * s2)
    assert t[0b01010101] == pytest.approx(s0 * s1)
    # one corner cut off: triangle with area vector (1/8)(s1 s2, s0 s2, s0 s1)
    corner = math.sqrt((s1 * s2) ** 2 + (s0 * s2) ** 2 + (s0 * s1) ** 2) / 8
    assert t[1] == pytest.approx(corner)
    # a configuration and its complement have the same surface
    np.testing.assert_allclose(t, t[::-1])


def test_single_voxel_surface_area():
    sp = ANISO
    sd = surface_distances(voxel((3, 3, 3), (1, 1, 1)), voxel((3, 3, 3), (1, 1, 1)), sp)
    s0, s1, s2 = sp
    assert sd.areas_pred.size == 8
    assert sd.areas_pred.sum() == pytest.approx(math.sqrt((s1 * s2) ** 2 + (s0 * s2) ** 2 + (s0 * s1) ** 2))
    assert np.all(sd.distances_pred_to_gt == 0)


# ---------------------------------------------------------------- NSD


def test_nsd_empty_conventions():
    empty = np.zeros((8, 8, 8), bool)
    a = empty.copy()
    a[2:5, 2:5, 2:5] = True
    assert nsd(empty, empty, ANISO) == 1.0
    assert math.isnan(nsd(empty, empty, ANISO, empty_value=math.nan))
    assert nsd(empty, a, ANISO) == 0.0  # empty prediction
    assert nsd(a, empty, ANISO) == 0.0  # empty ground truth
    assert nsd(a, a, ANISO) == 1.0


@pytest.mark.parametrize(
    ("axis", "shift", "spacing", "tol", "expected"),
    [
        # single voxels shifted by k along an axis of spacing s: half the surfels of each
        # voxel lie (k-1) s from the other voxel's surfels, half k s
        (0, 2, (1.5, 1.0, 1.0), 2.0, 0.5),  # distances 1.5 and 3.0
        (0, 2, (1.5, 1.0, 1.0), 3.0, 1.0),
        (0, 2, (1.5, 1.0, 1.0), 1.0, 0.0),
        (2, 1, ANISO, 2.0, 0.5),  # distances 0 and 5 mm
        (0, 2, ANISO, 2.0, 1.0),  # distances 0.7 and 1.4 mm
        (1, 3, ANISO, 2.0, 0.5),  # distances 1.4 and 2.1 mm
    ],
)
def test_nsd_shifted_voxel_known_fraction(axis, shift, spacing, tol, expected):
    shape = (9, 9, 9)
    idx = [4, 4, 4]
    a = voxel(shape, tuple(idx))
    idx[axis] += shift
    b = voxel(shape, tuple(idx))
    assert nsd(a, b, spacing, tol) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("axis", "shift_vox", "spacing"), [(0, 1, (1.0, 1.0, 1.0)), (0, 2, (1.0, 1.0, 1.0)), (1, 2, ANISO)])
def test_nsd_sphere_shift_within_tolerance_is_one(axis, shift_vox, spacing):
    # every surfel of the shifted surface has its own translate at exactly the shift distance
    # (<= 2 mm, the 2-voxel shift is an exact tie) -> NSD 1
    shape = (30, 30, 14)
    a = ball(shape, (15, 15, 7), 8.0, spacing)
    b = np.roll(a, shift_vox, axis=axis)
    assert nsd(a, b, spacing, 2.0) == 1.0
    assert nsd(a, b, spacing, 0.5) < 1.0


def test_nsd_beyond_tolerance():
    sp = (1.0, 1.0, 1.0)
    a = ball((40, 20, 20), (10, 10, 10), 5.0, sp)
    far = np.roll(a, 20, axis=0)  # 20 mm apart, diameter 10 mm -> gap 10 mm > 2 mm
    assert nsd(a, far, sp, 2.0) == 0.0
    # prediction = ground truth plus a far copy: gt surface fully matched, half of the
    # prediction's surface unmatched -> (A + A) / (A + 2A) = 2/3 exactly
    assert nsd(a | far, a, sp, 2.0) == pytest.approx(2.0 / 3.0, abs=1e-12)
    # one slice of 5 mm is beyond 2 mm: the caps fail, the sides pass
    b = ball((20, 20, 12), (10, 10, 6), 9.0, ANISO)
    v = nsd(b, np.roll(b, 1, axis=2), ANISO, 2.0)
    assert 0.0 < v < 1.0


def test_nsd_symmetric_translation_invariant_and_input_untouched():
    rng = np.random.default_rng(3)
    a = rng.random((12, 14, 10)) < 0.3
    b = rng.random((12, 14, 10)) < 0.3
    a0, b0 = a.copy(), b.copy()
    v = nsd(a, b, ANISO)
    assert v == pytest.approx(nsd(b, a, ANISO), abs=1e-12)
    big_a = np.zeros((40, 50, 30), bool)
    big_b = np.zeros_like(big_a)
    big_a[20:32, 5:19, 11:21] = a
    big_b[20:32, 5:19, 11:21] = b
    assert nsd(big_a, big_b, ANISO) == pytest.approx(v, abs=1e-12)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_surface_distances_and_hausdorff():
    sp = (1.0, 1.0, 1.0)
    a = ball((30, 30, 30), (15, 15, 15), 7.0, sp)
    b = np.roll(a, 3, axis=0)
    sd = surface_distances(a, b, sp)
    assert sd.distances_pred_to_gt.max() == pytest.approx(3.0)
    assert sd.hausdorff(100) == pytest.approx(3.0)
    assert 0 < sd.average_symmetric() < 3.0
    assert sd.nsd(2.0) == pytest.approx(nsd(a, b, sp, 2.0), abs=1e-12)
    assert sd.nsd(3.0) == 1.0
    empty = surface_distances(np.zeros_like(a), a, sp)
    assert np.all(np.isinf(empty.distances_gt_to_pred)) and empty.areas_pred.size == 0
    assert empty.hausdorff() == math.inf


def test_nsd_bad_arguments():
    a = np.ones((3, 3, 3), bool)
    with pytest.raises(OptionError, match="spacing_mm"):
        nsd(a, a, (1.0, 0.0, 1.0))
    with pytest.raises(OptionError, match="tolerance_mm"):
        nsd(a, a, (1.0, 1.0, 1.0), -1.0)
    with pytest.raises(OptionError, match="3-D"):
        nsd(np.ones((3, 3)), np.ones((3, 3)), (1.0, 1.0, 1.0))


# ---------------------------------------------------------------- lesions


def test_size_classes_match_paper_tumor_types():
    sphere = lambda r: 4.0 / 3.0 * math.pi * r**3  # noqa: E731
    assert [size_class(equivalent_diameter_mm(sphere(r))) for r in (4, 8, 16, 32)] == [
        "tiny", "small", "medium", "large",
    ]
    assert [size_class(d) for d in (9.999, 10.0, 19.999, 20.0, 39.999, 40.0)] == [
        "tiny", "small", "small", "medium", "medium", "large",
    ]
    assert [c[0] for c in SIZE_CLASSES_MM] == ["tiny", "small", "medium", "large"]


def test_match_lesions_multi_lesion_volume():
    sp = (2.0, 2.0, 2.0)  # 8 mm^3 per voxel
    gt = np.zeros((64, 64, 64), bool)
    gt[2:4, 2:4, 2:4] = True  # 64 mm^3 -> d 4.96 mm, tiny
    gt[10:15, 2:7, 2:7] = True  # 1000 mm^3 -> d 12.4 mm, small
    gt[20:30, 2:12, 2:12] = True  # 8000 mm^3 -> d 24.8 mm, medium
    gt[30:50, 30:50, 30:50] = True  # 64000 mm^3 -> d 49.6 mm, large (touches medium? no: y/z apart)
    pred = np.zeros_like(gt)
    pred[3, 3, 3] = True  # one voxel on the tiny lesion: detected
    pred[25:28, 5:8, 5:8] = True  # medium detected
    pred[40:60, 40:60, 40:60] = True  # large detected (partial overlap, extends outside)
    pred[2:4, 40:42, 2:4] = True  # false positive 1
    pred[60:62, 2:4, 60:62] = True  # false positive 2
    gt0 = gt.copy()
    m = match_lesions(pred, gt, sp)
    np.testing.assert_array_equal(gt, gt0)
    classes = sorted((le["size_class"], le["detected"]) for le in m.lesions)
    assert classes == [("large", True), ("medium", True), ("small", False), ("tiny", True)]
    diam = sorted(le["diameter_mm"] for le in m.lesions)
    assert diam[0] == pytest.approx(equivalent_diameter_mm(64.0))
    assert m.n_lesions == 4 and m.n_detected == 3 and m.n_false_positives == 2
    c = m.counts()
    assert c["lesions_small"] == 1 and c["detected_small"] == 0
    assert c["detected_all"] == 3 and c["false_positives"] == 2


def test_match_lesions_connectivity_and_empty():
    gt = np.zeros((6, 6, 6), bool)
    gt[1, 1, 1] = gt[2, 2, 2] = True  # diagonal neighbours
    assert match_lesions(gt, gt, (1, 1, 1)).n_lesions == 1
    assert match_lesions(gt, gt, (1, 1, 1), connectivity=6).n_lesions == 2
    none = match_lesions(np.zeros_like(gt), np.zeros_like(gt), (1, 1, 1))
    assert none.n_lesions == 0 and none.n_false_positives == 0
    fp_only = match_lesions(gt, np.zeros_like(gt), (1, 1, 1))  # tumor-free scan
    assert fp_only.n_lesions == 0 and fp_only.n_false_positives == 1
    with pytest.raises(OptionError, match="connectivity"):
        match_lesions(gt, gt, (1, 1, 1), connectivity=8)


def test_detection_summary_pools_lesions_and_counts_tumor_free_scans():
    rows = [
        {"lesions_tiny": 3, "detected_tiny": 1, "lesions_large": 1, "detected_large": 1, "lesions_all": 4, "detected_all": 2, "false_positives": 2},
        {"lesions_tiny": 1, "detected_tiny": 1, "lesions_all": 1, "detected_all": 1, "false_positives": 0},
        {"false_positives": 1},  # tumor-free scan
    ]
    s = detection_summary(rows)
    assert s["tiny"] == {"lesions": 4, "detected": 2, "sensitivity": 0.5}
    assert s["large"]["sensitivity"] == 1.0
    assert math.isnan(s["small"]["sensitivity"])
    assert s["all"]["sensitivity"] == pytest.approx(3 / 5)
    assert s["false_positives_per_scan"] == pytest.approx(1.0)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_ci_reproducible_and_covers_mean():
    values = np.random.default_rng(7).normal(0.6, 0.1, size=40)
    lo, hi = bootstrap_ci(values, rng=123)
    assert (lo, hi) == bootstrap_ci(values, rng=np.random.default_rng(123))
    assert lo < values.mean() < hi
    assert hi - lo < 0.1
    assert bootstrap_ci(values, rng=124) != (lo, hi)
    lo50, hi50 = bootstrap_ci(values, rng=123, alpha=0.5)
    assert lo < lo50 < hi50 < hi


def test_bootstrap_ci_edge_cases():
    assert all(math.isnan(x) for x in bootstrap_ci([], rng=0))
    assert bootstrap_ci([0.3, math.nan], rng=0) == (0.3, 0.3)
    assert bootstrap_ci([0.5] * 5, rng=0) == pytest.approx((0.5, 0.5))
    with pytest.raises(OptionError, match="alpha"):
        bootstrap_ci([1, 2], rng=0, alpha=1.5)
