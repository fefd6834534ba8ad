"""Comparing feature distributions: the numbers, and the gap between generators."""

import math

import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.apps.realism import compare_features, format_table, lesion_features


def test_compare_numbers_and_nan_handling():
    rng = np.random.default_rng(0)
    real = [{"sphericity": float(v), "contrast_hu": float(c), "edge_width_mm": math.nan}
            for v, c in zip(rng.normal(0.85, 0.05, 200), rng.normal(-30, 10, 200), strict=True)]
    shifted = [{**f, "contrast_hu": f["contrast_hu"] - 13.49} for f in real]  # one real IQR lower
    cmp = compare_features(real, shifted)
    c = cmp["features"]["contrast_hu"]
    assert c["w_over_iqr"] == pytest.approx(13.49 / c["real"]["iqr"], rel=1e-6)
    assert c["real"]["median"] - c["synthetic"]["median"] == pytest.approx(13.49)
    assert 0.4 < c["ks"] <= 1 and c["ks_pvalue"] < 1e-6
    s = cmp["features"]["sphericity"]
    assert s["w_over_iqr"] == pytest.approx(0.0, abs=1e-12) and s["ks"] == 0
    e = cmp["features"]["edge_width_mm"]
    assert e["real"]["n"] == 0 and math.isnan(e["w_over_iqr"])
    # NaN features are dropped from the gap; volume is reported but not in it
    assert cmp["gap"] == pytest.approx(np.mean([s["w_over_iqr"], c["w_over_iqr"]]))
    assert not cmp["features"]["volume_mm3"]["in_gap"] and cmp["features"]["sphericity"]["in_gap"]
    table = format_table(cmp)
    assert "| contrast_hu * |" in table and "gap" in table
    only = compare_features(real, None)
    assert "gap" not in only and only["features"]["sphericity"]["real"]["n"] == 200


@pytest.fixture(scope="module")
def generator_sets(phantom, prepared):
    def run(seeds, **knobs):
        out = []
        for s in seeds:
            params = ts.sample_params(prepared, "medium", rng=s, count=8, **knobs)
            ct, label = ts.synthesize(phantom.ct, phantom.liver, params)
            out += lesion_features(ct, label, phantom.spacing_mm, case=f"seed{s}")
        return out

    return {"reference": run(range(0, 5)), "same": run(range(10, 15)),
            "wrong": run(range(20, 25), deformation=False, edge_blur=False, contrast_hu=(-120, -80))}


@pytest.mark.slow
def test_same_generator_small_gap_wrong_generator_large_gap(generator_sets):
    ref = generator_sets["reference"]
    assert len(ref) >= 20
    same = compare_features(ref, generator_sets["same"])
    wrong = compare_features(ref, generator_sets["wrong"])
    assert same["gap"] < 0.5
    assert wrong["gap"] > 3 * same["gap"]
    # each broken step shows in its own feature
    f = wrong["features"]
    assert f["contrast_hu"]["w_over_iqr"] > 2 and f["contrast_hu"]["synthetic"]["median"] < -70
    assert f["edge_width_mm"]["synthetic"]["median"] < f["edge_width_mm"]["real"]["median"]
    assert f["sphericity"]["synthetic"]["median"] > f["sphericity"]["real"]["median"]
