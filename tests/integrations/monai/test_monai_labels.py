"""The MONAI tumor transforms on every kind of label map (issue 10, part 1).

A TotalSegmentator multi-label map (liver 5; 2 is the right kidney there), a LiTS-style 0/1/2
map and a plain 0/1 mask: tumors only inside the named liver values, the label written with the
configured tumor value, every other label voxel kept, the CT changed only inside the liver.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, RandSpatialCropd, ScaleIntensityRanged

import tumorsynth as ts
from tumorsynth.errors import InputError, OptionError
from tumorsynth.integrations.monai import LiverCase, PrepareLiverd, RandTumord, check_pipeline

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "totalseg_example"


def _totalseg() -> dict:
    if not (REAL / "example_ct_sm.nii.gz").is_file():
        pytest.skip(f"{REAL} not present (real CT fixtures live in ../shared/data)")
    from monai.transforms import EnsureChannelFirstd, LoadImaged

    load = Compose([LoadImaged(["image", "label"], image_only=True),
                    EnsureChannelFirstd(["image", "label"])])
    return load({"image": str(REAL / "example_ct_sm.nii.gz"),
                 "label": str(REAL / "example_seg.nii.gz"), "name": "totalseg"})


def _phantom(labels: str, seed: int = 0) -> dict:
    ph = ts.make_phantom(shape=(64, 64, 48), spacing_mm=(2.0, 2.0, 2.5), rng=seed)
    aff = torch.as_tensor(np.asarray(ph.affine, dtype=np.float64))
    lab = ph.liver.astype(np.uint8)
    if labels == "lits_tumor":
        idx = np.argwhere(ph.liver)[len(np.argwhere(ph.liver)) // 2]
        lab[tuple(slice(int(i) - 2, int(i) + 2) for i in idx)] = 2
    return {"name": labels,
            "image": MetaTensor(torch.as_tensor(ph.ct.astype(np.int16))[None], affine=aff),
            "label": MetaTensor(torch.as_tensor(lab)[None], affine=aff)}


def _synth(d: dict, seed: int, preset: str = "small", **kw) -> dict:
    t = RandTumord(("image", "label"), prob=1.0, presets={preset: 1.0}, **kw)
    t.set_random_state(seed=seed)
    return t(dict(d))


def _check_inside(before: dict, after: dict, liver_values: list[int], tumor_value: int) -> int:
    """Assert the tumors lie in the named liver values and the record replays; return the tumor voxels."""
    lab0 = before["label"][0].numpy()
    lab1 = after["label"][0].numpy()
    ct0 = before["image"][0].numpy()
    ct1 = after["image"][0].numpy()
    liver = np.isin(lab0, liver_values)
    tumor = lab1 == tumor_value
    assert after["tumor_params_status"] == "synthesized"
    assert tumor.sum() > 0, "no voxel carries the configured tumor value"
    assert not (tumor & ~liver).any(), "tumor voxels outside the named liver values"
    assert np.array_equal(lab1[~tumor], lab0[~tumor]), "other label voxels changed"
    changed = ct1 != ct0
    assert changed.any()
    assert not (changed & ~liver).any(), f"{int((changed & ~liver).sum())} CT voxels changed outside the liver"
    # the record replays: same CT as the pure generator on the same liver
    params = ts.CaseParams.from_json(after["tumor_params"])
    ct2, lab2 = ts.synthesize(ct0, liver, params)
    assert np.array_equal(ct2, ct1)
    assert np.array_equal(lab2 == 2, tumor)
    return int(tumor.sum())


@pytest.mark.realct
def test_totalsegmentator_map_default_tumor_value_is_refused_not_skipped() -> None:
    d = _totalseg()
    assert (d["label"] == 2).any()  # the right kidney
    with pytest.raises(InputError, match="tumor_value 2 already labels"):
        PrepareLiverd(("image", "label"), liver_values=[5])(d)


@pytest.mark.realct
def test_totalsegmentator_map_tumors_inside_liver_5_with_the_tumor_value() -> None:
    d = _totalseg()
    prep = PrepareLiverd(("image", "label"), liver_values=[5], tumor_value=200)(d)
    assert isinstance(prep["tumor_prep"], LiverCase)
    for seed in range(3):
        out = _synth(prep, seed)
        _check_inside(d, out, [5], 200)
    assert d["label"].max() < 200  # the input was not modified


@pytest.mark.realct
def test_totalsegmentator_map_without_liver_values_is_refused() -> None:
    with pytest.raises(InputError, match="multi-label map: pass liver_values"):
        PrepareLiverd(("image", "label"))(_totalseg())


@pytest.mark.realct
def test_totalsegmentator_map_without_prepare_uses_the_liver_values() -> None:
    d = _totalseg()
    out = _synth(d, 1, liver_values=[5], tumor_value=200)
    assert _check_inside(d, out, [5], 200) > 0
    kept = out["label"][0].numpy() != 200
    assert set(np.unique(out["label"][0].numpy()[kept])) == set(np.unique(d["label"][0].numpy()))  # organs kept


def test_lits_map_healthy_case_gets_tumor_2_inside_liver() -> None:
    d = _phantom("lits_healthy")
    prep = PrepareLiverd(("image", "label"), liver_values=[1, 2], tumor_value=2)(d)
    out = _synth(prep, 0, preset="medium")
    assert _check_inside(d, out, [1, 2], 2) > 0
    assert set(np.unique(out["label"][0].numpy())) == {0, 1, 2}  # LiTS convention kept


def test_lits_map_with_real_tumor_passes_through() -> None:
    d = _phantom("lits_tumor")
    for kw in ({}, {"liver_values": [1, 2]}):
        prep = PrepareLiverd(("image", "label"), **kw)(d)
        assert prep["tumor_prep"] is None
        out = _synth(prep, 0)
        assert out["tumor_params_status"] == "real_tumor"
        assert out["image"] is d["image"] and out["label"] is d["label"]


def test_lits_map_with_liver_values_excluding_the_tumor_says_what_to_do() -> None:
    with pytest.raises(InputError, match=r"add it to liver_values \(e.g. \[1, 2\]\)"):
        PrepareLiverd(("image", "label"), liver_values=[1])(_phantom("lits_tumor"))


@pytest.mark.parametrize("tumor_value", [2, 3])
def test_binary_mask_tumor_written_with_the_configured_value(tumor_value: int) -> None:
    d = _phantom("binary", seed=1)
    prep = PrepareLiverd(("image", "label"), tumor_value=tumor_value)(d)
    out = _synth(prep, 5, preset="medium")
    _check_inside(d, out, [1], tumor_value)
    assert not (out["label"] == (5 - tumor_value)).any()  # only the configured value is used


def test_tumor_values_of_prepare_and_synthesis_must_agree() -> None:
    prep = PrepareLiverd(("image", "label"), tumor_value=3)(_phantom("binary"))
    with pytest.raises(OptionError, match="give the same value to both"):
        _synth(prep, 0, tumor_value=4)


def test_crop_indices_follow_the_new_tumors() -> None:
    from monai.transforms import ClassesToIndicesd

    d = ClassesToIndicesd("label", num_classes=3, indices_postfix="_idx")(_phantom("binary", 2))
    prep = PrepareLiverd(("image", "label"))(d)
    out = _synth(prep, 3, preset="medium", indices_key="label_idx")
    expect = np.flatnonzero(out["label"][0].numpy().ravel() == 2)
    assert expect.size > 0
    assert np.array_equal(np.asarray(out["label_idx"][2]), expect)
    assert np.asarray(d["label_idx"][2]).size == 0  # the cached indices were not modified


# ---------------------------------------------------------------------------------------------
# crop-first pipelines


def test_crop_between_prepare_and_tumors_is_refused_with_the_fix() -> None:
    d = _phantom("binary")
    crop = RandSpatialCropd(["image", "label"], roi_size=(32, 32, 32), random_size=False)
    steps = [PrepareLiverd(("image", "label")), crop, RandTumord(("image", "label"))]
    with pytest.raises(OptionError, match="move it after RandTumord"):
        check_pipeline(Compose(steps))
    # run anyway: one line at the first sample, not a shape error deep inside MONAI
    crop.set_random_state(seed=0)
    cropped = crop(steps[0](d))
    with pytest.raises(InputError, match="crop after it"):
        _synth(cropped, 0)


def test_check_pipeline_accepts_the_recommended_order_and_refuses_scaling_first() -> None:
    good = Compose([PrepareLiverd(), RandTumord(),
                    ScaleIntensityRanged("image", -21, 189, 0.0, 1.0, clip=True),
                    RandSpatialCropd(["image", "label"], roi_size=(32, 32, 32))])
    assert check_pipeline(good) is good
    with pytest.raises(OptionError, match="works in HU"):
        check_pipeline([ScaleIntensityRanged("image", -21, 189, 0.0, 1.0), PrepareLiverd(), RandTumord()])
    with pytest.raises(OptionError, match="nested Compose"):
        check_pipeline([Compose([PrepareLiverd(), RandTumord()])])


def test_crop_first_without_prepare_synthesizes_into_the_crop() -> None:
    """Without PrepareLiverd a crop-first pipeline works (prepared per crop, slower)."""
    d = _phantom("binary", seed=3)
    crop = RandSpatialCropd(["image", "label"], roi_size=(48, 48, 40), random_size=False)
    crop.set_random_state(seed=1)
    c = crop(d)
    out = _synth(c, 2, preset="small")
    assert _check_inside(c, out, [1], 2) > 0
    assert tuple(out["image"].shape) == tuple(c["image"].shape) == (1, 48, 48, 40)  # the crop's own grid
