"""CPU smoke run (train, reload, predict, evaluate), resume, and errors before training."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tumorsynth.apps.train import make_splits, save_splits, train
from tumorsynth.apps.train.models import load_checkpoint, state_checksum
from tumorsynth.cli import main
from tumorsynth.errors import InputError, MissingDependencyError, OptionError


@pytest.fixture(scope="module")
def smoke_run(datasets: dict, tmp_path_factory: pytest.TempPathFactory, tiny_config) -> dict:
    base = tmp_path_factory.mktemp("smoke")
    splits = save_splits(base / "splits.json", make_splits([f"lits-{i}" for i in range(5)], seed=0))
    out = base / "run"
    cfg = tiny_config(datasets, out, splits=str(splits), fold=0, max_steps=14, val_every=1000)
    record = train(cfg)
    return {"cfg": cfg, "record": record, "out": out, "splits": splits, "base": base}


def test_loss_falls_and_run_is_recorded(smoke_run: dict) -> None:
    out, rec = smoke_run["out"], smoke_run["record"]
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 14
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.05, losses
    assert sum(int(r["synthesized"]) for r in rows) > 0  # tumors were synthesized on the fly
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["steps"] == 14
    assert run["config"]["regime"] == "synthetic" and run["seeds"]["seed"] == 0
    assert {"torch", "monai", "numpy", "python"} <= set(run["versions"])
    assert run["data"]["val_cases"] == json.loads(smoke_run["splits"].read_text())[0]["val"]
    assert rec["steps"] == 14 and rec["synthesis"]["synthesized"] == 14 * 2 * 2
    assert (out / "curves.png").stat().st_size > 1000
    val = list(csv.DictReader((out / "val_log.csv").open()))
    assert val and 0.0 <= float(val[-1]["liver_dice"]) <= 1.0


def test_checkpoint_reloads_to_the_trained_weights(smoke_run: dict) -> None:
    out = smoke_run["out"]
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    rank0 = json.loads((out / "ranks" / "rank_0.json").read_text())
    assert state_checksum(ckpt["model"]) == rank0["weights_sha256"]
    assert ckpt["model_spec"]["channels"] == [4, 8, 16] and ckpt["step"] == 14


def test_predict_and_evaluate_via_cli(smoke_run: dict, datasets: dict, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    val = json.loads(smoke_run["splits"].read_text())[0]["val"]
    nums = [n.split("-")[1] for n in val]  # cases are named lits-N
    images = [str(datasets["lits"] / f"volume-{k}.nii.gz") for k in nums]
    pred = tmp_path / "pred"
    ckpt = smoke_run["out"] / "checkpoints" / "last.pt"
    assert main(["predict", "-m", str(ckpt), *images, "-o", str(pred), "--device", "cpu"]) == 0
    gt = tmp_path / "gt"
    gt.mkdir()
    for k, image in zip(nums, images, strict=True):
        seg = datasets["lits"] / f"segmentation-{k}.nii.gz"
        shutil.copy(seg, gt / seg.name)
        p = nib.load(str(pred / f"volume-{k}.nii.gz"))  # named after its input
        src = nib.load(image)
        assert p.shape == src.shape and np.allclose(p.affine, src.affine)  # the input's own grid
        arr = np.asarray(p.dataobj)
        assert arr.dtype == np.uint8 and set(np.unique(arr)) <= {0, 1, 2}
    assert main(["evaluate", str(pred), str(gt), "-o", str(tmp_path / "eval"), "--bootstrap", "50"]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["metrics"]["liver_dsc"]["n"] == len(val)
    assert summary["metrics"]["liver_dsc"]["mean"] > 0.2  # a few steps already find the liver


def test_resume_continues_from_last_checkpoint(smoke_run: dict, datasets: dict, tmp_path: Path,
                                                tiny_config) -> None:
    out = tmp_path / "resume"
    shutil.copytree(smoke_run["out"], out)
    cfg = tiny_config(datasets, out, splits=str(smoke_run["splits"]), max_steps=16, val_every=1000)
    rec = train(cfg)
    assert rec["resumed_from_step"] == 14 and rec["steps"] == 16
    steps = [int(r["step"]) for r in csv.DictReader((out / "train_log.csv").open())]
    assert steps == list(range(1, 17))


def test_checkpoint_of_another_model_fails_before_training(
        smoke_run: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "other"
    shutil.copytree(smoke_run["out"], out)
    before = (out / "train_log.csv").read_text()
    code = main(["train", "--real", str(smoke_run["cfg"].real[0]), "--healthy",
                 str(smoke_run["cfg"].healthy[0]), "-o", str(out), "--device", "cpu",
                 "--set", "unet_channels=[8,16,32]", "--set", "unet_strides=[2,2]",
                 "--set", "patch_size=[32,32,32]", "--no-progress"])
    err = capsys.readouterr().err
    assert code == InputError.exit_code
    assert "checkpoint of model unet(4,8,16)" in err and "unet(8,16,32)" in err
    assert "Traceback" not in err
    assert (out / "train_log.csv").read_text() == before
    code = main(["predict", "-m", str(smoke_run["splits"]), str(smoke_run["splits"]), "-o", str(tmp_path / "p")])
    assert code == InputError.exit_code and "not a readable PyTorch checkpoint" in capsys.readouterr().err


def _csv_with(tmp_path: Path, datasets: dict, edit) -> Path:
    src = Path(datasets["healthy"])
    rows = list(csv.DictReader(src.open()))
    for r in rows:
        for k in ("image", "mask"):
            r[k] = str(src.parent / r[k])
    edit(rows)
    p = tmp_path / "healthy.csv"
    with p.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return p


@pytest.mark.parametrize("problem", ["missing", "mislabeled"])
def test_bad_dataset_fails_before_training(problem: str, datasets: dict, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def edit(rows: list[dict]) -> None:
        if problem == "missing":
            rows[1]["mask"] = rows[1]["mask"].replace("h1_mask", "h1_nomask")
        else:  # a BTCV label map (liver 6) listed as a plain 0/1 mask
            btcv = next(r for r in rows if r["liver_label"] == "6")
            btcv["liver_label"] = ""

    csv_path = _csv_with(tmp_path, datasets, edit)
    out = tmp_path / "run"
    code = main(["train", "--healthy", str(csv_path), "-o", str(out), "--device", "cpu",
                 "--set", "patch_size=[32,32,32]", "--no-progress"])
    err = capsys.readouterr().err
    assert code == InputError.exit_code and "Traceback" not in err
    assert ("not found" in err) if problem == "missing" else ("multi-label" in err)
    assert not (out / "run.json").exists()  # nothing started


def test_config_file_then_flags_then_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "cfg.toml"
    toml.write_text('healthy = ["a.csv"]\nmodel = "swin_unetr_tiny"\nlr = 1e-4\n'
                    'patch_size = [64, 64, 64]\n[presets]\nsmall = 1.0\n')
    assert main(["train", "--config", str(toml), "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["model"] == "swin_unetr_tiny" and cfg["lr"] == 1e-4 and cfg["presets"] == {"small": 1.0}
    assert main(["train", "--config", str(toml), "--model", "unet", "--set", "lr=0.002",
                 "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["model"] == "unet" and cfg["lr"] == 0.002 and cfg["patch_size"] == [64, 64, 64]
    (tmp_path / "bad.json").write_text('{"healthy": ["a.csv"], "batchsize": 3}')
    assert main(["train", "--config", str(tmp_path / "bad.json")]) == OptionError.exit_code
    assert "did you mean 'batch_size'" in capsys.readouterr().err


def test_print_config_and_bad_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--healthy", "x.csv", "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["lr"] == 4e-4 and cfg["weight_decay"] == 1e-5 and cfg["patch_size"] == [96, 96, 96]
    assert cfg["hu_window"] == [-21.0, 189.0] and cfg["sw_overlap"] == 0.75
    assert main(["train", "--healthy", "x.csv", "--set", "weight_decy=1"]) == OptionError.exit_code
    assert "did you mean" in capsys.readouterr().err
    assert main(["train", "--healthy", "x.csv", "--model", "swin_unetr_tiny", "--set", "patch_size=[40,40,40]"]) == OptionError.exit_code
    assert "divisible by 32" in capsys.readouterr().err


def test_without_torch_the_commands_say_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import sys

    for mod in ("torch", "monai"):
        monkeypatch.setitem(sys.modules, mod, None)  # import now fails as if not installed
    code = main(["train", "--healthy", "x.csv", "-o", str(tmp_path / "r")])
    assert code == MissingDependencyError.exit_code and "pip install 'tumorsynth[train]'" in capsys.readouterr().err
    code = main(["predict", "-m", "c.pt", "ct.nii.gz", "-o", str(tmp_path / "p")])
    assert code == MissingDependencyError.exit_code and "pip install 'tumorsynth[train]'" in capsys.readouterr().err


def test_interrupted_run_resumes_from_the_last_epoch(
        datasets: dict, tmp_path: Path, tiny_config, monkeypatch: pytest.MonkeyPatch) -> None:
    import tumorsynth.apps.train.engine as engine

    real_lambda = engine._lr_lambda

    def interrupting(total: int, warmup: int):
        f = real_lambda(total, warmup)

        def g(step: int) -> float:
            if step == 5:  # inside the third epoch (2 steps per epoch)
                raise KeyboardInterrupt
            return f(step)

        return g

    out = tmp_path / "run"
    cfg = tiny_config(datasets, out, max_steps=6, crops_per_case=1, presets={"small": 1.0},
                      log_params=True)
    monkeypatch.setattr(engine, "_lr_lambda", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 4
    monkeypatch.setattr(engine, "_lr_lambda", real_lambda)
    rec = train(cfg)
    assert rec["resumed_from_step"] == 4 and rec["steps"] == 6
    steps = [int(r["step"]) for r in csv.DictReader((out / "train_log.csv").open())]
    assert steps == [1, 2, 3, 4, 5, 6]
    # every synthetic sample was logged with its parameter record, which replays it
    logged = [json.loads(line) for line in (out / "params_rank0.jsonl").read_text().splitlines()]
    assert len(logged) >= 6 * 2 - 2 and {"step", "case", "params"} <= set(logged[-1])
    import tumorsynth as ts

    assert ts.CaseParams.from_json(json.dumps(logged[-1]["params"])).to_json()
