"""Per-lesion features on objects whose answer is known: spheres, blurred steps, shared noise."""

import numpy as np
import pytest
from realism_cases import blurred_sphere_case, grid_radius

from tumorsynth.apps.realism import elongation, lesion_features, sphericity
from tumorsynth.errors import InputError

SPACINGS = [(1.0, 1.0, 1.0), (0.7, 0.7, 2.5), (0.8, 0.8, 5.0)]


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("radius_mm", [16.0, 24.0])
def test_digitised_sphere_scores_one_at_any_spacing(spacing, radius_mm):
    shape = tuple(int(2 * (radius_mm + 4) / s) for s in spacing)
    ball = grid_radius(shape, spacing) <= radius_mm
    assert sphericity(ball, spacing) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_elongated_and_lobulated_shapes_score_lower(spacing):
    shape = tuple(int(70 / s) for s in spacing)
    ax = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    x, y, z = np.meshgrid(*ax, indexing="ij")
    prolate = (x / 26) ** 2 + (y / 13) ** 2 + (z / 13) ** 2 <= 1
    r = np.sqrt(x * x + y * y + z * z)
    theta, phi = np.arccos(np.clip(z / np.maximum(r, 1e-6), -1, 1)), np.arctan2(y, x)
    lobed = r <= 16 * (1 + 0.25 * np.sin(5 * phi) * np.sin(3 * theta))
    s_prolate, s_lobed = sphericity(prolate, spacing), sphericity(lobed, spacing)
    assert s_prolate < 0.95 and s_lobed < 0.9
    coords = np.argwhere(prolate)
    assert elongation(coords, spacing) == pytest.approx(2.0, rel=0.08)
    assert elongation(np.argwhere(grid_radius(shape, spacing) <= 15), spacing) == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize(("spacing", "sigma"), [((1.0, 1.0, 1.0), 1.0), ((1.0, 1.0, 1.0), 2.0),
                                                ((0.8, 0.8, 2.5), 2.0)])
def test_blurred_step_gives_its_edge_width_and_the_label_at_half_contrast(spacing, sigma):
    ct, label = blurred_sphere_case(spacing, sigma_mm=sigma, noise_hu=8.0, seed=1)
    (f,) = lesion_features(ct, label, spacing)
    assert f["edge_width_mm"] == pytest.approx(2.563 * sigma, rel=0.10)
    assert abs(f["edge_offset_mm"]) < 0.3
    assert f["diameter_mm"] == pytest.approx(30.0, rel=0.03)


def test_contrast_is_the_known_offset_and_sharp_edges_are_narrow():
    ct, label = blurred_sphere_case(sigma_mm=0.0, lesion_hu=70.0, liver_hu=110.0, noise_hu=10.0, seed=2)
    (f,) = lesion_features(ct, label, (1.0, 1.0, 1.0))
    assert f["contrast_hu"] == pytest.approx(-40.0, abs=1.5)
    assert f["rim_median_hu"] == pytest.approx(110.0, abs=1.5)
    assert f["heterogeneity"] == pytest.approx(1.0, abs=0.1)
    assert f["edge_width_mm"] < 1.5
    hyper, _ = blurred_sphere_case(sigma_mm=0.0, lesion_hu=150.0, liver_hu=110.0, noise_hu=10.0, seed=2)
    assert lesion_features(hyper, label, (1.0, 1.0, 1.0))[0]["contrast_hu"] == pytest.approx(40.0, abs=1.5)


@pytest.mark.parametrize(("spacing", "corr"), [((1.0, 1.0, 1.0), 0.0), ((1.0, 1.0, 1.0), 1.0),
                                               ((0.8, 0.8, 2.5), 0.0)])
def test_shared_noise_gives_fine_texture_ratio_one(spacing, corr):
    ct, label = blurred_sphere_case(spacing, sigma_mm=1.0, noise_hu=12.0, noise_corr_mm=corr, seed=3)
    (f,) = lesion_features(ct, label, spacing)
    assert f["fine_texture_ratio"] == pytest.approx(1.0, abs=0.1)


def test_grainier_lesion_scores_above_one_and_vessels_are_left_out_of_the_rim():
    ct, label = blurred_sphere_case(sigma_mm=1.0, noise_hu=10.0, seed=4)
    rough = ct + np.where(label == 2, np.random.default_rng(5).normal(0, 15, ct.shape), 0).astype(np.float32)
    assert lesion_features(rough, label, (1.0, 1.0, 1.0))[0]["fine_texture_ratio"] > 1.5
    # a bright vessel running past the lesion inside the rim does not move the rim level
    rr = grid_radius(ct.shape, (1.0, 1.0, 1.0))
    ax = (np.arange(ct.shape[0]) - (ct.shape[0] - 1) / 2)[:, None]
    tube = (ax ** 2 + (np.arange(ct.shape[1]) - (ct.shape[1] - 1) / 2 - 21.0)[None, :] ** 2) <= 4.0
    vessel = ct + np.where(tube[:, :, None] & (rr > 18), 120.0, 0.0).astype(np.float32)
    f0, f1 = lesion_features(ct, label, (1, 1, 1))[0], lesion_features(vessel, label, (1, 1, 1))[0]
    assert f1["contrast_hu"] == pytest.approx(f0["contrast_hu"], abs=1.0)
    assert f1["heterogeneity"] == pytest.approx(f0["heterogeneity"], rel=0.1)


def test_several_lesions_small_ones_dropped_unmeasurable_is_nan_and_inputs_untouched():
    ct, label = blurred_sphere_case(sigma_mm=1.0, noise_hu=5.0, seed=6)
    label[2:4, 2:4, 2:4] = 2       # 8 mm^3: below the minimum volume
    label[60:66, 60:66, 2:8] = 2   # 216 mm^3 in a corner
    ct0, lab0 = ct.copy(), label.copy()
    feats = lesion_features(ct, label, (1.0, 1.0, 1.0), case="c1")
    assert np.array_equal(ct, ct0) and np.array_equal(label, lab0)
    assert len(feats) == 2 and feats[0]["volume_mm3"] > feats[1]["volume_mm3"] == 216.0
    assert all(f["case"] == "c1" for f in feats)
    # no liver at all: the appearance features are NaN, the shape features are still there
    nolive = np.where(label == 2, 2, 0).astype(np.uint8)
    (big, _) = lesion_features(ct, nolive, (1.0, 1.0, 1.0))
    assert np.isnan(big["contrast_hu"]) and np.isnan(big["edge_width_mm"]) and big["sphericity"] > 0.97
    assert lesion_features(ct, np.ones_like(label), (1.0, 1.0, 1.0)) == []
    with pytest.raises(InputError):
        lesion_features(ct, label[:-1], (1.0, 1.0, 1.0))
