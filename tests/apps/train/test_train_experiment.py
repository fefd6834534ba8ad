"""The experiment runner: folds, evaluation, Table 5, resume fold by fold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tumorsynth.cli import main
from tumorsynth.errors import OptionError

TINY = ["--set", "unet_channels=[4,8,16]", "--set", "unet_strides=[2,2]", "--set", "unet_res_units=1",
        "--set", "spacing_mm=[2,2,2]", "--set", "patch_size=[32,32,32]", "--set", "cache_workers=1",
        "--set", 'presets={"small": 1}', "--set", "warmup_epochs=0", "--set", "sw_batch_size=2"]


@pytest.mark.slow
def test_experiment_runs_folds_writes_table5_and_resumes(
        datasets: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "EXP"
    args = ["experiment", "--real", str(datasets["lits"]), "--healthy", str(datasets["healthy"]),
            "-o", str(exp), "--models", "unet", "--regimes", "synthetic", "--folds", "0",
            "--device", "cpu", "--workers", "0", "--no-progress", "--max-steps", "2", *TINY]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| unet | synthetic |" in out
    splits = json.loads((exp / "splits_final.json").read_text())
    assert len(splits) == 5
    fold = exp / "unet_synthetic" / "fold_0"
    summary = json.loads((fold / "eval" / "summary.json").read_text())
    assert summary["meta"] == {"model": "unet", "regime": "synthetic", "fold": 0}
    preds = sorted(p.name for p in (fold / "pred").iterdir())
    assert preds == sorted(f"{n}.nii.gz" for n in splits[0]["val"])
    assert (exp / "table5.md").is_file() and (exp / "table5.csv").is_file()
    # a done fold is skipped on rerun: nothing is retrained
    mtime = (fold / "checkpoints" / "last.pt").stat().st_mtime_ns
    assert main(args) == 0
    assert (fold / "checkpoints" / "last.pt").stat().st_mtime_ns == mtime


def test_experiment_refuses_bad_generator_option_before_training(
        datasets: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--healthy", str(datasets["healthy"]), "-o", str(tmp_path / "r"),
                 "--device", "cpu", "--no-progress", *TINY,
                 "--set", 'synth_overrides={"contrast_hu_typo": 1}'])
    err = capsys.readouterr().err
    assert code == OptionError.exit_code and "contrast_hu_typo" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "run.json").exists()
