import json

import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.errors import InputError
from tumorsynth.generator.params import FORMAT_VERSION


def test_json_round_trip_is_exact(prepared):
    params = ts.sample_params(prepared, "mix", rng=5)
    again = ts.CaseParams.from_json(params.to_json())
    assert again == params
    assert again.tumors[0].centre_vox == params.tumors[0].centre_vox  # floats survive exactly
    assert again.settings == params.settings


def test_record_holds_numbers_and_seeds_not_ranges(prepared):
    params = ts.sample_params(prepared, "medium", rng=2, contrast_hu=(-50, -30))
    for t in params.tumors:
        assert isinstance(t.deform_seed, int) and isinstance(t.texture_seed, int)
        assert -50 <= t.tumor_mean_hu - params.parenchyma_hu <= -30
        for v in (t.semi_axes_mm, t.centre_vox):
            assert all(isinstance(x, float) for x in v)


def test_unknown_field_and_bad_version_are_clear():
    good = {"shape": [4, 4, 4], "spacing_mm": [1, 1, 1], "parenchyma_hu": 50, "noise_hu": 10, "tumors": []}
    assert ts.CaseParams.from_dict(good).shape == (4, 4, 4)
    with pytest.raises(InputError, match="unknown field"):
        ts.CaseParams.from_dict({**good, "bogus": 1})
    with pytest.raises(InputError, match="version 99"):
        ts.CaseParams.from_dict({**good, "version": 99})
    with pytest.raises(InputError, match="not valid JSON"):
        ts.CaseParams.from_json("{nope")
    with pytest.raises(InputError, match="missing field"):
        ts.CaseParams.from_dict({"shape": [1, 1, 1]})


def test_tumor_record_validates_values():
    with pytest.raises(InputError, match="semi_axes_mm"):
        ts.TumorParams(kind="x", centre_vox=(1.0, 1.0, 1.0), semi_axes_mm=(0.0, 1.0, 1.0))
    with pytest.raises(InputError, match="edge_blur_mm"):
        ts.TumorParams(kind="x", centre_vox=(1.0, 1.0, 1.0), semi_axes_mm=(1.0, 1.0, 1.0), edge_blur_mm=-1)


def test_params_json_is_plain_json(prepared):
    data = json.loads(ts.sample_params(prepared, "small", rng=0).to_json())
    assert data["version"] == FORMAT_VERSION == 3 and isinstance(data["tumors"], list)
    assert np.isfinite(data["parenchyma_hu"])
