"""The training pipeline on a real CT (TotalSegmentator example, liver = label 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "totalseg_example"


@pytest.mark.realct
def test_training_pipeline_synthesizes_in_a_real_liver(tmp_path: Path, tiny_config) -> None:
    if not (REAL / "example_ct_sm.nii.gz").is_file():
        pytest.skip(f"{REAL} not present (real CT fixtures live in ../shared/data)")
    from monai.data import CacheDataset

    from tumorsynth.apps.train.data import (
        build_train_transforms,
        case_dicts,
        check_cases,
        find_cases,
    )

    csv_path = tmp_path / "cases.csv"
    csv_path.write_text(f"name,image,mask,liver_label\nts,{REAL / 'example_ct_sm.nii.gz'},"
                        f"{REAL / 'example_seg.nii.gz'},5\n")
    items = case_dicts(find_cases(csv_path), synth=True)
    check_cases(items)
    cfg = tiny_config({"lits": tmp_path, "healthy": csv_path}, tmp_path / "run",
                      spacing_mm=(3.0, 3.0, 3.0), presets={"small": 1.0}, crop_ratios=(0.0, 0.0, 1.0))
    pipeline = build_train_transforms(cfg, synth=True)
    pipeline.set_random_state(seed=0)
    ds = CacheDataset(items, pipeline, copy_cache=False, progress=False, num_workers=1)
    liver = ds._cache[0]["label"][0] >= 1
    assert int(liver.sum()) > 1000  # label 5 became the liver, other organs background
    assert set(torch.unique(ds._cache[0]["label"]).tolist()) == {0, 1}
    samples = ds[0]
    assert all(s["tumor_params_status"] == "synthesized" for s in samples)
    # crops centred on the synthetic tumors (ratio 1 for the tumor class), image windowed
    assert all((s["label"] == 2).any() for s in samples)
    img = np.concatenate([s["image"].numpy().ravel() for s in samples])
    assert 0.0 <= img.min() and img.max() <= 1.2
