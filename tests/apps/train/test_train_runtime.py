"""Mixed precision, disk cache, persistent workers, epoch sampler, SLURM environment (issue 10)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tumorsynth.apps.train import train
from tumorsynth.apps.train.distributed import dist_env
from tumorsynth.apps.train.engine import EpochSampler
from tumorsynth.apps.train.models import load_checkpoint
from tumorsynth.apps.train.precision import autocast, grad_scaler, normalize_amp, resolve_precision
from tumorsynth.errors import OptionError

CUDA = torch.device("cuda")  # a device object only: nothing runs on it
CPU = torch.device("cpu")


def test_amp_setting_resolves_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_amp(True) == "auto" and normalize_amp(False) == "off"
    assert normalize_amp("True") == "auto" and normalize_amp("bfloat16") == "bf16"
    with pytest.raises(OptionError, match="expected one of auto, bf16, fp16, off"):
        normalize_amp("fp8")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", CUDA) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", CUDA) == "fp16"  # old GPU: fp16, with a scaler
    with pytest.raises(OptionError, match="does not support bfloat16"):
        resolve_precision("bf16", CUDA)
    assert resolve_precision("auto", CPU) == "off"
    assert resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("off", CUDA) == "off"


def test_scaler_only_for_fp16_and_autocast_dtype_on_cpu() -> None:
    assert grad_scaler("fp16", CPU).is_enabled()
    assert not grad_scaler("bf16", CPU).is_enabled() and not grad_scaler("off", CPU).is_enabled()
    conv = torch.nn.Conv3d(1, 2, 3)
    x = torch.randn(1, 1, 6, 6, 6)
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("off", torch.float32)):
        with autocast(precision, CPU):
            assert conv(x).dtype == dtype


def test_inference_uses_the_checkpoint_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """tumorsynth 0.2 ran inference in fp16 on every GPU, whatever the training used."""
    from types import SimpleNamespace

    from tumorsynth.apps.train.inference import predict_array

    calls: list[tuple[str, torch.dtype]] = []
    real = torch.autocast

    def recording(device_type: str, dtype: torch.dtype, **kw):
        calls.append((device_type, dtype))
        return real(device_type=device_type, dtype=dtype, **kw)

    monkeypatch.setattr(torch, "autocast", recording)
    net = torch.nn.Conv3d(1, 3, 3, padding=1)
    img = torch.randn(1, 16, 16, 16)
    pre = SimpleNamespace(patch_size=(16, 16, 16), sw_batch_size=1, sw_overlap=0.25, amp="bf16")
    out = predict_array(net, img, pre, device=CPU)
    assert out.shape == (1, 16, 16, 16) and calls == [("cpu", torch.bfloat16)]
    calls.clear()
    predict_array(net, img, SimpleNamespace(**{**vars(pre), "amp": "off"}), device=CPU)
    assert calls == []
    predict_array(net, img, SimpleNamespace(**{**vars(pre), "amp": "off"}), device=CPU, amp="fp16")
    assert calls == [("cpu", torch.float16)]


def test_epoch_sampler_is_seeded_by_seed_epoch_rank() -> None:
    s = EpochSampler(5, 7, seed=3, rank=1)
    a = list(s)
    assert len(a) == 7 and sorted(a[:5]) == [0, 1, 2, 3, 4] and a[5:] == a[:2]
    assert list(EpochSampler(5, 7, seed=3, rank=1)) == a
    s.set_epoch(1)
    assert list(s) != a
    assert list(EpochSampler(5, 7, seed=3, rank=0)) != a


def test_fp16_disk_cache_persistent_workers_run(datasets: dict, tmp_path: Path, tiny_config) -> None:
    """fp16 with a GradScaler on CPU, the deterministic part cached on disk, one persistent
    worker over two epochs; the checkpoint records amp for inference."""
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    cfg = tiny_config(datasets, out, amp="fp16", cache="disk", cache_dir=str(cache), num_workers=1,
                      persistent_workers=True, max_steps=4, presets={"small": 1.0}, val_every=1000)
    rec = train(cfg)
    run = json.loads((out / "run.json").read_text())
    assert run["precision"] == "fp16" and run["status"] == "finished" and rec["epochs"] == 2
    assert all(map(lambda v: v == v and v < 10, rec["last_losses"]))  # finite losses
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["scaler"] is not None and ckpt["scaler"]["scale"] > 0
    assert ckpt["preprocessing"]["amp"] == "fp16"
    files = list((cache / "train").glob("*.pt"))
    assert len(files) == 4  # one file per healthy training case
    assert rec["synthesis"].get("synthesized", 0) > 0  # tumors still made after the disk cache
    # a second run reuses the cached files (same names, not rewritten)
    mtimes = {f.name: f.stat().st_mtime_ns for f in files}
    train(tiny_config(datasets, tmp_path / "run2", amp="bf16", cache="disk", cache_dir=str(cache),
                      max_steps=1, presets={"small": 1.0}, val_every=1000))
    assert {f.name: f.stat().st_mtime_ns for f in (cache / "train").glob("*.pt")} == mtimes
    assert json.loads((tmp_path / "run2" / "run.json").read_text())["precision"] == "bf16"


def test_unknown_cache_mode_is_refused(datasets: dict, tmp_path: Path, tiny_config) -> None:
    with pytest.raises(OptionError, match="did you mean 'disk'"):
        tiny_config(datasets, tmp_path, cache="dsk").validate()


def test_slurm_variables_are_the_fallback() -> None:
    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NODELIST": "gpu[07-08]"}
    d = dist_env(env)
    assert (d["rank"], d["world_size"], d["local_rank"], d["source"]) == (3, 8, 1, "slurm")
    assert d["master_addr"] == "gpu07" and d["master_port"] == str(29500 + 242)
    both = dict(env, WORLD_SIZE="2", RANK="1", LOCAL_RANK="0")  # torchrun inside SLURM wins
    assert dist_env(both)["source"] == "torchrun" and dist_env(both)["world_size"] == 2
    assert dist_env({})["world_size"] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_slurm_tasks_train_together_with_gloo(datasets: dict, tmp_path: Path) -> None:
    """Two processes started as srun would start them (no torchrun variables)."""
    out = tmp_path / "slurm"
    base = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    port = str(_free_port())
    cmd = [
        sys.executable, "-m", "tumorsynth", "train", "--healthy", str(datasets["healthy"]),
        "-o", str(out), "--device", "cpu", "--workers", "0", "--no-progress", "--batch-size", "1",
        "--max-steps", "2", "--seed", "3",
        "--set", "unet_channels=[4,8,16]", "--set", "unet_strides=[2,2]",
        "--set", "unet_res_units=1", "--set", "spacing_mm=[2,2,2]",
        "--set", "patch_size=[32,32,32]", "--set", "crops_per_case=1",
        "--set", "cache_workers=1", "--set", 'presets={"small": 1}', "--set", "warmup_epochs=0",
    ]
    procs = []
    for rank in range(2):
        env = dict(base, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", SLURM_PROCID=str(rank),
                   SLURM_NTASKS="2", SLURM_LOCALID=str(rank), SLURM_JOB_ID="1",
                   SLURM_JOB_NODELIST="localhost", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    r0 = json.loads((out / "ranks" / "rank_0.json").read_text())
    r1 = json.loads((out / "ranks" / "rank_1.json").read_text())
    assert r0["world_size"] == r1["world_size"] == 2
    assert not set(r0["cases_by_epoch"]["0"]) & set(r1["cases_by_epoch"]["0"])
    assert r0["weights_sha256"] == r1["weights_sha256"]  # gradients were averaged
