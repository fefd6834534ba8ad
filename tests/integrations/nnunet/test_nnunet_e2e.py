"""nnU-Net v2 end to end on CPU: export, install, plan and preprocess, train with synthetic tumors
(tiny trainer, a tiny network), predict, and ``tumorsynth evaluate`` on the predictions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.cli import main

pytest.importorskip("nnunetv2")
REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "totalseg_example"
BIN = Path(sys.executable).parent
SHAPE, SPACING = (64, 64, 48), (2.0, 2.0, 2.5)


def _data(base: Path) -> tuple[Path, Path]:
    (base / "lits").mkdir(parents=True)
    (base / "healthy").mkdir()
    for i in range(2):
        ph = ts.make_phantom(shape=SHAPE, spacing_mm=SPACING, rng=100 + i)
        p = ts.sample_params(ts.prepare(ph.ct, ph.liver, ph.spacing_mm), "medium", rng=i, on_no_room="skip")
        ct, lab = ts.synthesize(ph.ct, ph.liver, p)
        nib.save(nib.Nifti1Image(ct.astype(np.int16), ph.affine), str(base / "lits" / f"volume-{i}.nii.gz"))
        nib.save(nib.Nifti1Image(lab.astype(np.uint8), ph.affine), str(base / "lits" / f"segmentation-{i}.nii.gz"))
    rows = ["name,image,mask,liver_label"]
    for i in range(2):
        ph = ts.make_phantom(shape=SHAPE, spacing_mm=SPACING, rng=500 + i)
        nib.save(nib.Nifti1Image(ph.ct.astype(np.int16), ph.affine), str(base / "healthy" / f"h{i}.nii.gz"))
        nib.save(nib.Nifti1Image(ph.liver.astype(np.uint8), ph.affine), str(base / "healthy" / f"h{i}_liver.nii.gz"))
        rows.append(f"healthy{i},h{i}.nii.gz,h{i}_liver.nii.gz,")
    if (REAL / "example_ct_sm.nii.gz").is_file():  # a real CT with a TotalSegmentator map (liver 5)
        rows.append(f"totalseg,{REAL / 'example_ct_sm.nii.gz'},{REAL / 'example_seg.nii.gz'},5")
    (base / "healthy" / "healthy.csv").write_text("\n".join(rows) + "\n")
    return base / "healthy" / "healthy.csv", base / "lits"


def _tiny_network(plans_path: Path) -> None:
    """Shrink the planned 3d_fullres network and patch so that CPU steps take a fraction of a second."""
    plans = json.loads(plans_path.read_text())
    c = plans["configurations"]["3d_fullres"]
    c["patch_size"], c["batch_size"] = [32, 32, 32], 2
    a = c["architecture"]["arch_kwargs"]
    a.update(n_stages=4, features_per_stage=[4, 8, 16, 16], kernel_sizes=a["kernel_sizes"][:4],
             strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]], n_conv_per_stage=[1, 1, 1, 1],
             n_conv_per_stage_decoder=[1, 1, 1])
    plans_path.write_text(json.dumps(plans, indent=1))


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc.stdout


def test_export_refuses_bad_options(tmp_path: Path) -> None:
    from tumorsynth.errors import OptionError
    from tumorsynth.integrations.nnunet.export import regime_splits

    with pytest.raises(OptionError, match="needs real tumor cases"):
        regime_splits([], ["h1"], "real")
    real = regime_splits(["r1", "r2"], ["h1"], "real", n_folds=2, seed=0)
    assert [f["train"] + f["val"] for f in real] == [["r2", "r1"], ["r1", "r2"]]  # no healthy case
    assert main(["nnunet", "export", "-o", str(tmp_path), "--presets", '{"smal": 1}',
                 "--healthy", str(tmp_path)]) != 0


@pytest.mark.slow
def test_nnunet_end_to_end_on_cpu(tmp_path: Path) -> None:
    from tumorsynth.integrations.nnunet import (
        install_trainers,
        installed_trainer_path,
        uninstall_trainers,
    )

    healthy, lits = _data(tmp_path / "data")
    raw, pre, res = tmp_path / "raw", tmp_path / "pre", tmp_path / "res"
    assert main(["nnunet", "export", "--healthy", str(healthy), "--real", str(lits), "-o", str(raw),
                 "--dataset-id", "501", "--regime", "real+synthetic", "--folds", "2"]) == 0
    ds = raw / "Dataset501_TumorSynth"
    dj = json.loads((ds / "dataset.json").read_text())
    assert dj["channel_names"] == {"0": "CT"} and dj["labels"] == {"background": 0, "liver": 1, "tumor": 2}
    assert {"healthy0", "healthy1"} <= set(dj["tumorsynth"]["healthy"])
    splits = json.loads((ds / "splits_final.json").read_text())
    assert all(not set(f["val"]) & set(dj["tumorsynth"]["healthy"]) for f in splits)
    for lab in (ds / "labelsTr").glob("*.nii.gz"):
        assert set(np.unique(np.asarray(nib.load(str(lab)).dataobj))) <= {0, 1, 2}

    was_installed = installed_trainer_path().is_file()
    install_trainers()
    env = dict(os.environ, nnUNet_raw=str(raw), nnUNet_preprocessed=str(pre), nnUNet_results=str(res),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", nnUNet_n_proc_DA="1",
               nnUNet_def_n_proc="1", nnUNet_compile="f", PYTHONWARNINGS="ignore")
    try:
        _run([str(BIN / "nnUNetv2_plan_and_preprocess"), "-d", "501", "-c", "3d_fullres",
              "-np", "1", "-npfp", "1", "--verify_dataset_integrity"], env)
        _tiny_network(pre / "Dataset501_TumorSynth" / "nnUNetPlans.json")
        out = _run([str(BIN / "nnUNetv2_train"), "501", "3d_fullres", "0",
                    "-tr", "nnUNetTrainerTumorSynth_tiny", "-device", "cpu"], env)
        assert "tumorsynth: regime real+synthetic" in out
        fold = res / "Dataset501_TumorSynth" / "nnUNetTrainerTumorSynth_tiny__nnUNetPlans__3d_fullres" / "fold_0"
        assert (fold / "checkpoint_final.pth").is_file()
        records = [json.loads(line) for f in (fold / "tumorsynth_records").glob("*.jsonl")
                   for line in f.read_text().splitlines()]
        synthesized = [r for r in records if r["status"] == "synthesized"]
        assert synthesized and {r["case"] for r in records} <= set(dj["tumorsynth"]["healthy"])
        rec = ts.CaseParams.from_dict(synthesized[0]["params"])  # a record replays
        assert rec.tumors and synthesized[0]["ct_norm"]["std"] > 0
        # predict the validation case and score it
        val = splits[0]["val"]
        imgs = tmp_path / "imagesTs"
        imgs.mkdir()
        for case in val:
            shutil.copy(ds / "imagesTr" / f"{case}_0000.nii.gz", imgs)
        pred = tmp_path / "pred"
        _run([str(BIN / "nnUNetv2_predict"), "-i", str(imgs), "-o", str(pred), "-d", "501",
              "-c", "3d_fullres", "-f", "0", "-tr", "nnUNetTrainerTumorSynth_tiny", "-device", "cpu",
              "--disable_tta", "-npp", "1", "-nps", "1"], env)
        gt = tmp_path / "gt"
        gt.mkdir()
        for case in val:
            shutil.copy(ds / "labelsTr" / f"{case}.nii.gz", gt)
        assert main(["evaluate", str(pred), str(gt), "-o", str(tmp_path / "eval"), "--bootstrap", "10"]) == 0
        summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
        assert summary  # evaluated the nnU-Net output
    finally:
        if not was_installed:
            uninstall_trainers()
