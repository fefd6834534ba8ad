"""Many jobs on one output folder: claims, owners of temporary folders, SIGKILL, merged summaries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from batch_cases import CASES, assert_same_cases, start_paused_job

from tumorsynth.cli import main
from tumorsynth.errors import (
    EXIT_CASES_FAILED,
)
from tumorsynth.jobs.batch import run_batch
from tumorsynth.jobs.owners import OWNER_FILE, owner_alive, owner_record


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _dead_owner(**extra) -> dict:
    return owner_record(**extra) | {"pid": _dead_pid(), "pid_start": None}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if ".partial-" in p.name or p.name.endswith(".lock")
                  or ".stale-" in p.name)


def test_owner_liveness():
    me = owner_record()
    assert owner_alive(me)
    assert not owner_alive(_dead_owner())
    assert not owner_alive(me | {"pid_start": (me["pid_start"] or 0) + 1}) or me["pid_start"] is None
    other = me | {"host": "another-host-" + socket.gethostname()}
    assert owner_alive(other)  # cannot be judged: never taken for dead ...
    assert not owner_alive(other | {"time": time.time() - 7200}, stale_after_s=3600)  # ... unless old


def test_only_temporary_folders_of_dead_owners_are_removed(dataset, reference, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    live = out / ".case0.partial-live"  # a concurrent job (this process) writing case0 now
    live.mkdir()
    (live / OWNER_FILE).write_text(json.dumps(owner_record(case="case0")))
    dead = out / ".case1.partial-dead"
    dead.mkdir()
    (dead / OWNER_FILE).write_text(json.dumps(_dead_owner(case="case1")))
    fresh = out / ".other.partial-new"  # no owner file yet, not a case of ours: kept
    fresh.mkdir()
    old = out / ".old.partial-legacy"  # no owner file for hours: abandoned
    old.mkdir()
    os.utime(old, (time.time() - 7300, time.time() - 7300))
    (out / ".case0.lock").write_text(json.dumps(owner_record(case="case0")))  # case0 is claimed: busy
    summary = run_batch(dataset, out, preset="small", seed=3, preview=False)
    assert live.is_dir() and fresh.is_dir()
    assert not dead.exists() and not old.exists()
    assert list(summary.busy) == ["case0"] and not (out / "case0").exists()
    assert sorted(summary.done) == CASES[1:]
    merged = json.loads((out / "batch_summary.json").read_text())
    assert list(merged["in_progress"]) == ["case0"] and merged["finished"] == 4
    # the claim's owner dies: a rerun takes the case over and removes its debris
    (out / ".case0.lock").write_text(json.dumps(_dead_owner(case="case0")))
    (live / OWNER_FILE).write_text(json.dumps(_dead_owner(case="case0")))
    summary = run_batch(dataset, out, preset="small", seed=3, preview=False)
    assert summary.done == ["case0"] and sorted(summary.skipped) == CASES[1:]
    assert_same_cases(out, reference)
    assert _leftovers(out) == [".other.partial-new"]


def test_a_case_folder_without_its_report_is_never_taken_for_finished(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "case2").mkdir(parents=True)
    (out / "case2" / "ct.nii.gz").write_bytes(b"half")
    code = main(["batch", str(dataset), "-o", str(out), "--preset", "small", "--seed", "3", "--no-preview"])
    assert code == EXIT_CASES_FAILED
    err = capsys.readouterr().err
    assert "case2" in err and "not a finished case" in err and "delete it" in err
    assert (out / "case2" / "ct.nii.gz").read_bytes() == b"half"  # the user's folder is left alone
    merged = json.loads((out / "batch_summary.json").read_text())
    assert list(merged["failed"]) == ["case2"] and merged["finished"] == 4


def test_a_job_paused_in_a_case_keeps_it_and_a_second_job_does_the_rest(dataset, reference, tmp_path):
    out = tmp_path / "out"
    proc, marker, go = start_paused_job(dataset, out, "case0", tmp_path, "jobA")
    partial = [p for p in out.glob(".case0.partial-*")]
    assert len(partial) == 1 and (partial[0] / OWNER_FILE).is_file()
    second = run_batch(dataset, out, preset="small", seed=3, job_name="jobB")
    assert list(second.busy) == ["case0"] and sorted(second.done) == CASES[1:]
    assert partial[0].is_dir()  # the second job left the first one's folder alone
    go.write_text("go")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    for name in CASES:
        by = json.loads((out / name / "report.json").read_text())["batch"]["job"]
        assert by == ("jobA" if name == "case0" else "jobB"), name
    first = json.loads((out / "batch_summary.jobA.json").read_text())
    assert first["done"] == ["case0"] and sorted(first["skipped_existing"]) == CASES[1:]
    merged = json.loads((out / "batch_summary.json").read_text())
    assert merged["finished"] == len(CASES) and merged["in_progress"] == {} and merged["failed"] == {}
    assert_same_cases(out, reference)
    assert _leftovers(out) == []


def test_sigkill_in_the_middle_of_a_case_then_rerun_finishes_everything(dataset, reference, tmp_path):
    out = tmp_path / "out"
    proc, _, _ = start_paused_job(dataset, out, "case1", tmp_path, "killed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "case1").exists()  # half-written: never under the final name
    assert len(list(out.glob(".case1.partial-*"))) == 1 and (out / ".case1.lock").is_file()
    assert (out / "case0" / "report.json").is_file()  # finished before the kill
    killed = json.loads((out / "batch_summary.killed.json").read_text())
    assert killed["state"] == "running"  # it never got to say it finished
    summary = run_batch(dataset, out, preset="small", seed=3, preview=False, job_name="rerun")
    assert sorted(summary.done) == CASES[1:] and summary.skipped == ["case0"]
    assert_same_cases(out, reference)
    assert _leftovers(out) == []
    merged = json.loads((out / "batch_summary.json").read_text())
    assert merged["finished"] == len(CASES) and set(merged["jobs"]) == {"killed", "rerun"}


def test_two_concurrent_processes_never_build_a_case_twice(dataset, reference, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tumorsynth", "batch", str(dataset), "-o", str(out), "--preset", "small",
           "--seed", "3", "--no-preview"]
    procs = [subprocess.Popen([*cmd, "--job-name", f"p{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    done = [json.loads((out / f"batch_summary.p{i}.json").read_text())["done"] for i in range(2)]
    assert not set(done[0]) & set(done[1]) and sorted(done[0] + done[1]) == CASES
    for i in range(2):
        for name in done[i]:
            assert json.loads((out / name / "report.json").read_text())["batch"]["job"] == f"p{i}"
    merged = json.loads((out / "batch_summary.json").read_text())
    assert merged["finished"] == len(CASES) and set(merged["jobs"]) == {"p0", "p1"}
    assert_same_cases(out, reference)
    assert _leftovers(out) == []


def test_summarize_rebuilds_the_merged_summary(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(dataset), "-o", str(out), "--preset", "small", "--seed", "3", "--no-preview",
                 "--shard", "1/2", "--job-name", "half"]) == 0
    before = json.loads((out / "batch_summary.json").read_text())
    (out / "batch_summary.json").unlink()
    capsys.readouterr()
    assert main(["batch", "--summarize", str(out)]) == 0
    assert "summary:" in capsys.readouterr().out
    after = json.loads((out / "batch_summary.json").read_text())
    assert after["done"] == before["done"] and after["finished"] == len(before["done"]) > 0
    assert after["total"] == len(before["cases"])
