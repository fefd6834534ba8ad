"""docs/scale.md shows the commands exactly as tested here: the SLURM array line, --summarize, Dask."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from batch_cases import CASES, assert_same_cases

from tumorsynth.cli import main

DOC = Path(__file__).resolve().parents[3] / "docs" / "scale.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def _slurm_line() -> str:
    script = next(b for b in _blocks("bash") if "#SBATCH --array" in b)
    return next(ln for ln in script.splitlines() if ln.startswith("tumorsynth batch"))


def _argv(line: str, dataset: Path, out: Path, env: dict[str, str]) -> list[str]:
    expanded = re.sub(r"\$(\w+)", lambda m: env[m.group(1)], line)
    words = shlex.split(expanded)[1:]  # drop "tumorsynth"
    return [str(dataset) if w == "LiTS/" else str(out) if w == "synthetic/" else w for w in words]


@pytest.mark.parametrize("first_id", [0, 1])
def test_slurm_array_line_covers_the_dataset(first_id, dataset, tmp_path, capsys):
    line = _slurm_line()
    assert "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" in line
    out = tmp_path / "synthetic"
    n = 3
    for task in range(first_id, first_id + n):
        env = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": str(n)}
        assert main(_argv(line, dataset, out, env)) == 0
    summarize = next(b for b in _blocks("bash") if "--summarize" in b).strip()
    capsys.readouterr()
    assert main(_argv(summarize, dataset, out, {})) == 0
    assert f"finished {len(CASES)} of {len(CASES)}" in capsys.readouterr().out
    merged = json.loads((out / "batch_summary.json").read_text())
    assert sorted(merged["done"]) == CASES and len(merged["jobs"]) == n
    done = [d for j in out.glob("batch_summary.shard*.json") for d in json.loads(j.read_text())["done"]]
    assert sorted(done) == CASES  # no case in two shards


def test_dask_jobqueue_example_runs_on_a_local_cluster(dataset, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    code = next(b for b in _blocks("python") if "SLURMCluster" in b)
    local = ("SLURMCluster = lambda **kw: LocalCluster(n_workers=2, processes=True, threads_per_worker=1, "
             "host='127.0.0.1', dashboard_address=None)")
    assert "from dask_jobqueue import SLURMCluster" in code and "cluster.scale(jobs=10)" in code
    code = code.replace("from dask_jobqueue import SLURMCluster", f"from distributed import LocalCluster\n{local}")
    code = code.replace("cluster.scale(jobs=10)", "cluster.scale(2)")
    (tmp_path / "LiTS").symlink_to(dataset, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)
    scope["cluster"].close()
    assert sorted(scope["summary"].done) == CASES
    assert distributed is not None and os.path.isdir(tmp_path / "synthetic")
    ref = tmp_path / "plain"
    assert main(["batch", str(dataset), "-o", str(ref), "--preset", "any", "--seed", "0", "--no-preview"]) == 0
    assert_same_cases(tmp_path / "synthetic", ref)
