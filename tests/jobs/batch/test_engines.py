"""Workers and engines: spawn-started local workers, any concurrent.futures executor, Dask."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from batch_cases import CASES, assert_same_cases, voxels

import tumorsynth.jobs.batch.run as batch_run
from tumorsynth.cli import main
from tumorsynth.errors import (
    OptionError,
)
from tumorsynth.jobs.batch import run_batch


def test_local_workers_start_with_spawn(dataset, reference, tmp_path, monkeypatch):
    methods = []

    class Recording(ThreadPoolExecutor):  # records the start method; threads keep the test fast
        def __init__(self, max_workers, mp_context, initializer=None):
            methods.append((mp_context.get_start_method(), initializer))
            super().__init__(max_workers)

    monkeypatch.setattr(batch_run, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(batch_run, "is_tuned", lambda: False)  # a library caller that did not opt in
    summary = run_batch(dataset, tmp_path / "out", preset="small", seed=3, preview=False, workers=2)
    assert methods == [("spawn", None)] and sorted(summary.done) == CASES  # its workers are left alone
    assert_same_cases(tmp_path / "out", reference)
    # a tuned parent (the CLI) tunes its spawned workers the same way
    monkeypatch.setattr(batch_run, "is_tuned", lambda: True)
    run_batch(dataset, tmp_path / "out2", preset="small", seed=3, preview=False, workers=2)
    assert methods[1] == ("spawn", batch_run.tune_allocator)


def test_any_executor_runs_the_cases(dataset, reference, tmp_path):
    seen = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            seen.append(args[0].name)
            return super().submit(fn, *args, **kwargs)

    with Counting(max_workers=2) as pool:
        summary = run_batch(dataset, tmp_path / "out", preset="small", seed=3, preview=False, executor=pool)
    assert sorted(seen) == sorted(summary.done) == CASES
    assert_same_cases(tmp_path / "out", reference)


def test_a_lost_worker_fails_its_case_and_the_batch_goes_on(dataset, tmp_path):
    class Flaky(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            if args[0].name == "case3":
                def boom():
                    raise MemoryError("worker killed")
                return super().submit(boom)
            return super().submit(fn, *args, **kwargs)

    with Flaky(max_workers=1) as pool:
        summary = run_batch(dataset, tmp_path / "out", preset="small", seed=3, preview=False, executor=pool)
    assert list(summary.failed) == ["case3"] and "worker lost" in summary.failed["case3"]
    assert len(summary.done) == len(CASES) - 1 and not (tmp_path / "out" / "case3").exists()


def test_dask_local_cluster_equals_a_plain_run(dataset, reference, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        code = main(["batch", str(dataset), "-o", str(tmp_path / "out"), "--preset", "small", "--seed", "3",
                     "--no-preview", "--dask-scheduler", cluster.scheduler_address])
    assert code == 0, capsys.readouterr().err
    assert f"done {len(CASES)}," in capsys.readouterr().out
    assert_same_cases(tmp_path / "out", reference)


def test_unreachable_dask_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    from tumorsynth.cli.generate import _dask_client

    with pytest.raises(OptionError, match="cannot reach the scheduler"):
        _dask_client("tcp://127.0.0.1:9", timeout="1s")


def test_compression_level_changes_the_bytes_not_the_voxels(dataset, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(dataset), "-o", str(out), "--preset", "small", "--seed", "3", "--no-preview",
                 "--compression-level", "9"]) == 0
    assert_same_cases(out, reference)
    small = (out / "case0" / "ct.nii.gz").stat().st_size
    assert small < (reference / "case0" / "ct.nii.gz").stat().st_size
    assert voxels(out / "case0" / "ct.nii.gz").dtype == voxels(reference / "case0" / "ct.nii.gz").dtype
    capsys.readouterr()
    code = main(["batch", str(dataset), "-o", str(tmp_path / "o2"), "--compression-level", "0"])
    err = capsys.readouterr().err.strip()
    assert code == OptionError.exit_code and "--compression-level 0" in err and len(err.splitlines()) == 1
