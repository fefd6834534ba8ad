"""What batches did: one summary per job, and one merged summary of all jobs on an output folder.

Each job writes ``OUTDIR/batch_summary.<job>.json`` (at its start, as it goes, and at its end):
its shard, options and, for every case of its shard, what it did and when. The merged
``OUTDIR/batch_summary.json`` is rebuilt from all job summaries and written atomically (by each
job at its end, or by ``tumorsynth batch --summarize OUTDIR``): per case, the latest outcome
of any job ("busy", a case another job was building, never hides an outcome), checked against
the folders on disk (a case counts as finished only when its final folder holds report.json).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tumorsynth.errors import InputError
from tumorsynth.io import write_text_atomic

__all__ = ["JOB_GLOB", "SUMMARY_NAME", "BatchSummary", "is_finished", "job_summary_path", "summarize"]

log = logging.getLogger(__name__)

SUMMARY_NAME = "batch_summary.json"
JOB_GLOB = "batch_summary.*.json"


def job_summary_path(out_dir: Path, job: str) -> Path:
    return out_dir / f"batch_summary.{job}.json"


def is_finished(case_dir: Path) -> bool:
    """A case is finished when its final folder exists and holds report.json (written last)."""
    return (case_dir / "report.json").is_file()


@dataclass
class BatchSummary:
    """What one batch job did."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already complete (resume)
    stale: list[str] = field(default_factory=list)  # complete, but made with another preset or seed
    failed: dict[str, str] = field(default_factory=dict)
    busy: dict[str, dict[str, Any]] = field(default_factory=dict)  # being built by another job: its owner
    seconds: float = 0.0
    job: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "skipped_existing": self.skipped, "made_with_other_options": self.stale,
                "failed": self.failed, "busy": self.busy,
                "counts": {"done": len(self.done), "skipped_existing": len(self.skipped), "failed": len(self.failed)},
                "seconds": round(self.seconds, 2)}


def _read_jobs(out_dir: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    jobs: dict[str, dict[str, Any]] = {}
    unreadable = []
    for path in sorted(out_dir.glob(JOB_GLOB)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("events"), dict):
                raise ValueError("not a job summary")
        except (OSError, ValueError):
            unreadable.append(path.name)
            continue
        jobs[str(data.get("job", path.name))] = data
    return jobs, unreadable


def merge(out_dir: Path) -> dict[str, Any]:
    """The merged summary of every job summary in ``out_dir`` (see the module docstring)."""
    jobs, unreadable = _read_jobs(out_dir)
    ordered = sorted(jobs.values(), key=lambda j: float(j.get("started", 0.0)))
    cases: dict[str, Any] = {}
    latest: dict[str, dict[str, Any]] = {}
    busy: dict[str, dict[str, Any]] = {}
    for job in ordered:
        cases.update(job.get("cases", {}))
        for name, ev in job["events"].items():
            if not isinstance(ev, dict):
                continue
            if ev.get("status") == "busy":
                busy[name] = ev.get("holder", {})
            elif name not in latest or float(ev.get("at", 0)) >= float(latest[name].get("at", 0)):
                latest[name] = ev | {"job": job.get("job")}
    done, skipped, stale, not_done = [], [], [], []
    failed: dict[str, str] = {}
    in_progress: dict[str, dict[str, Any]] = {}
    for name in cases:
        finished = is_finished(out_dir / name)
        ev = latest.get(name)
        status = ev.get("status") if ev else None
        if status == "failed" and not finished:
            failed[name] = str(ev.get("error", "failed")) if ev else "failed"
        elif finished and status == "skipped_existing":
            skipped.append(name)
            if ev and ev.get("other_options"):
                stale.append(name)
        elif finished:
            done.append(name)
        elif name in busy:
            in_progress[name] = busy[name]
        else:
            not_done.append(name)
    last = ordered[-1] if ordered else {}
    return {
        "done": done, "skipped_existing": skipped, "made_with_other_options": stale, "failed": failed,
        "in_progress": in_progress, "not_done": not_done,
        "counts": {"done": len(done), "skipped_existing": len(skipped), "failed": len(failed)},
        "finished": len(done) + len(skipped), "total": len(cases),
        "seconds": round(sum(float(j.get("seconds", 0.0)) for j in ordered), 2),
        "preset": last.get("preset"), "seed": last.get("seed"), "options": last.get("options", {}),
        "cases": cases,
        "jobs": {str(j.get("job")): {k: j.get(k) for k in ("host", "pid", "shard", "state", "started",
                                                              "finished", "counts", "seconds")}
                 for j in ordered},
        "unreadable_job_summaries": unreadable,
        "versions": last.get("versions", {}), "argv": last.get("argv", []),
    }


def _signature(out_dir: Path) -> list[tuple[str, int, int]]:
    sig = []
    for p in sorted(out_dir.glob(JOB_GLOB)):
        try:
            st = p.stat()
        except OSError:
            continue
        sig.append((p.name, st.st_mtime_ns, st.st_size))
    return sig


def summarize(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Rebuild ``OUTDIR/batch_summary.json`` from the job summaries and the case folders.

    Written atomically; rebuilt again when a job summary changed while it was being merged, so
    the last job to finish always leaves a summary that includes every job.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise InputError(f"{out}: not a folder; give the output folder of a batch")
    if not any(out.glob(JOB_GLOB)):
        raise InputError(f"{out}: no batch_summary.<job>.json found; is this the output folder of a batch?")
    merged: dict[str, Any] = {}
    for _ in range(5):
        before = _signature(out)
        merged = merge(out)
        write_text_atomic(out / SUMMARY_NAME, json.dumps(merged, indent=2, default=str))
        if _signature(out) == before:
            break
    return merged
