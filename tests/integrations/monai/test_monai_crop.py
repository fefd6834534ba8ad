"""RandTumorCropByLabelClassesd: tumors and crops in one step that copies only the crops (issue 10).

Each crop must equal the crop of the whole-volume result (``RandTumord``'s image and label for
the same record) at the same place, the tumor crop centres must be new tumor voxels, and the
cached input must stay as it was.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import ClassesToIndicesd, Compose

import tumorsynth as ts
from tumorsynth.errors import OptionError
from tumorsynth.integrations.monai import (
    PrepareLiverd,
    RandTumorCropByLabelClassesd,
    check_pipeline,
)
from tumorsynth.integrations.monai.transforms import _paste_tumors

ROI = (32, 32, 24)


@pytest.fixture(scope="module")
def cached() -> dict:
    ph = ts.make_phantom(shape=(80, 72, 56), spacing_mm=(2.0, 2.0, 2.5), rng=4)
    aff = torch.as_tensor(np.asarray(ph.affine, dtype=np.float64))
    d = {"name": "ph",
         "image": MetaTensor(torch.as_tensor(ph.ct.astype(np.int16))[None], affine=aff),
         "label": MetaTensor(torch.as_tensor(ph.liver.astype(np.uint8))[None], affine=aff)}
    d = ClassesToIndicesd("label", num_classes=3, indices_postfix="_idx")(d)
    return PrepareLiverd(("image", "label"))(d)


def _fused(seed: int, **kw) -> RandTumorCropByLabelClassesd:
    kw.setdefault("presets", {"medium": 1.0})
    t = RandTumorCropByLabelClassesd(("image", "label"), ROI, ratios=[0, 1, 2], num_classes=3,
                                     num_samples=4, indices_key="label_idx", **kw)
    t.set_random_state(seed=seed)
    return t


def _offset(crop: MetaTensor, full: MetaTensor) -> tuple[int, ...]:
    """Where a crop starts in the full grid, from the two affines."""
    shift = np.linalg.solve(np.asarray(full.affine, float), np.asarray(crop.affine, float)[:, 3])
    return tuple(int(round(v)) for v in shift[:3])


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_crops_equal_the_whole_volume_result_at_the_same_place(cached: dict, seed: int) -> None:
    before_img = cached["image"].clone()
    before_idx = [np.asarray(i).copy() for i in cached["label_idx"]]
    out = _fused(seed)(dict(cached))
    assert len(out) == 4
    status = {s["tumor_params_status"] for s in out}
    assert status == {"synthesized"}
    params = ts.CaseParams.from_json(out[0]["tumor_params"])
    assert all(s["tumor_params"] == out[0]["tumor_params"] for s in out)
    ct = cached["image"][0].numpy()
    lab = cached["label"][0].numpy()
    full_img, full_lab, _, flat = _paste_tumors(ct, lab, cached["tumor_prep"], params)
    tumor_centres = 0
    for s in out:
        img, lab_c = s["image"], s["label"]
        assert tuple(img.shape) == (1, *ROI) and img.dtype == cached["image"].dtype
        o = _offset(img, cached["image"])
        window = tuple(slice(a, a + n) for a, n in zip(o, ROI, strict=True))
        assert np.array_equal(img[0].numpy(), full_img[window])
        assert np.array_equal(lab_c[0].numpy(), full_lab[window])
        centre = np.ravel_multi_index(tuple(int(c) for c in img.meta["crop_center"]), ct.shape)
        tumor_centres += int(np.isin(centre, flat))
    assert any((s["label"][0].numpy() == 2).any() for s in out), "no crop shows a tumor"
    # ratios 0:1:2 and 4 samples: tumor-class centres are new tumor voxels, and some were drawn
    assert tumor_centres >= 1
    assert np.array_equal(np.asarray(out[0]["label_idx"][2]), flat)
    # the cache is untouched
    assert torch.equal(cached["image"], before_img)
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(cached["label_idx"], before_idx, strict=True))
    assert "tumor_prep" in cached and "tumor_prep" not in out[0]


def test_same_seed_same_crops_and_without_tumors_plain_crops(cached: dict) -> None:
    a = _fused(3)(dict(cached))
    b = _fused(3)(dict(cached))
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(a, b, strict=True))
    none = _fused(3, prob=0.0)(dict(cached))
    assert {s["tumor_params_status"] for s in none} == {"not_drawn"}
    for s in none:  # a plain crop of the cache
        o = _offset(s["image"], cached["image"])
        window = (slice(None), *(slice(p, p + n) for p, n in zip(o, ROI, strict=True)))
        assert torch.equal(s["image"].as_tensor(), cached["image"].as_tensor()[window])


def test_needs_crop_indices_and_passes_the_pipeline_check(cached: dict) -> None:
    with pytest.raises(OptionError, match="ClassesToIndicesd"):
        RandTumorCropByLabelClassesd(("image", "label"), ROI, indices_key="")
    t = _fused(0)
    with pytest.raises(OptionError, match="no 'label_idx' entry"):
        t({k: v for k, v in cached.items() if k != "label_idx"})
    assert check_pipeline(Compose([PrepareLiverd(), t])) is not None
    from monai.transforms import ScaleIntensityRanged

    with pytest.raises(OptionError, match=r"RandTumorCropByLabelClassesd \(step 1\).*works in HU"):
        check_pipeline([ScaleIntensityRanged("image", -21, 189, 0.0, 1.0), t])


def test_compose_seeds_it_reproducibly(cached: dict) -> None:
    """A Compose (and MONAI's DataLoader worker seeding) reaches both inner random parts."""
    def run() -> list[dict]:
        c = Compose([_fused(0)])
        c.set_random_state(seed=11)
        return c(dict(cached))

    a, b = run(), run()
    assert [s["tumor_params"] for s in a] == [s["tumor_params"] for s in b]
    assert all(torch.equal(x["label"], y["label"]) for x, y in zip(a, b, strict=True))
