"""torchrun with 2 CPU processes (gloo): the data are split, the weights agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("shard", [False, True], ids=["DistributedSampler", "cache_shard"])
def test_torchrun_two_processes_split_data_and_agree(datasets: dict, tmp_path: Path, shard: bool) -> None:
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "tumorsynth", "train", "--healthy", str(datasets["healthy"]), "-o", str(out),
        "--device", "cpu", "--workers", "0", "--no-progress", "--batch-size", "1",
        "--max-steps", "4", "--seed", "3",
        "--set", "unet_channels=[4,8,16]", "--set", "unet_strides=[2,2]",
        "--set", "unet_res_units=1", "--set", "spacing_mm=[2,2,2]",
        "--set", "patch_size=[32,32,32]", "--set", "crops_per_case=1",
        "--set", "cache_workers=1", "--set", 'presets={"small": 1}', "--set", "warmup_epochs=0",
        "--set", f"cache_shard={'true' if shard else 'false'}",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((out / "ranks" / "rank_0.json").read_text())
    r1 = json.loads((out / "ranks" / "rank_1.json").read_text())
    assert r0["world_size"] == r1["world_size"] == 2
    # 4 healthy cases, 2 processes, batch 1: 2 steps per epoch, 2 epochs
    assert set(r0["cases_by_epoch"]) == set(r1["cases_by_epoch"]) == {"0", "1"}
    for epoch in ("0", "1"):
        a, b = set(r0["cases_by_epoch"][epoch]), set(r1["cases_by_epoch"][epoch])
        assert a and b and not a & b, (epoch, a, b)  # each process its own share
        assert len(a | b) == 4  # together the whole data set
    if shard:  # fixed shares: each process always sees the same cases
        assert r0["cases_by_epoch"]["0"] == r0["cases_by_epoch"]["1"]
    assert r0["weights_sha256"] == r1["weights_sha256"]  # DDP kept the replicas identical
    run = json.loads((out / "run.json").read_text())
    assert run["world_size"] == 2 and run["status"] == "finished" and run["steps"] == 4
    assert (out / "checkpoints" / "last.pt").is_file()
