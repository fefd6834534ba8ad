"""Running a batch: shards, claims, workers or any executor, per-job and merged summaries."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import re
import socket
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import OptionError, OutputError, TumorsynthError
from tumorsynth.io import write_text_atomic
from tumorsynth.io.cases import CaseFiles, discover_cases
from tumorsynth.jobs.allocator import is_tuned, tune_allocator
from tumorsynth.jobs.batch.claims import Claim, claim_case, release, sweep
from tumorsynth.jobs.batch.summary import BatchSummary, is_finished, job_summary_path, summarize
from tumorsynth.jobs.owners import owner_record
from tumorsynth.jobs.pipeline import _versions, synthesize_file

__all__ = ["case_seed", "parse_shard", "run_batch", "shard_of"]

log = logging.getLogger(__name__)

#: A running job rewrites its own summary at most this often (and always at its end).
SUMMARY_EVERY_S = 10.0


def case_seed(base_seed: int, name: str) -> int:
    """A case's own seed: depends on the batch seed and the case name only (not order or workers)."""
    ss = np.random.SeedSequence([int(base_seed), zlib.crc32(name.encode("utf-8"))])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def parse_shard(shard: str | tuple[int, int]) -> tuple[int, int]:
    """``"K/N"`` as ``(K mod N, N)``: K may be 0-based (0..N-1) or 1-based (1..N; N is shard 0).

    Example:
        >>> parse_shard("0/4"), parse_shard("4/4"), parse_shard((3, 4))
        ((0, 4), (0, 4), (3, 4))
    """
    if isinstance(shard, tuple):
        k, n = shard
    else:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(shard))
        if not m:
            raise OptionError(f"--shard {shard!r}: give K/N, e.g. --shard 0/8 (K from 0 to N-1, or 1 to N)")
        k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= k <= n:
        raise OptionError(f"--shard {k}/{n}: K must be between 0 and N (0..N-1 or 1..N) and N at least 1")
    return k % n, n


def shard_of(name: str, n: int) -> int:
    """The shard (0..n-1) of a case, from its name only: stable when cases are added or removed."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % n


def _job_id(shard: tuple[int, int] | None) -> str:
    host = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname().split(".")[0])[:40] or "host"
    stamp = time.strftime("%Y%m%dT%H%M%S")
    prefix = f"shard{shard[0]}of{shard[1]}-" if shard else ""
    return f"{prefix}{host}-{stamp}-{os.getpid()}"


def _existing(target: Path, seed: int, knobs_json: dict[str, Any]) -> dict[str, Any] | None:
    """The outcome for a case whose final folder exists (None when it does not)."""
    if not target.exists():
        return None
    if not is_finished(target):
        return {"status": "failed", "error": f"{target}: exists but is not a finished case (no report.json); "
                                             "delete it to make the case again"}
    try:
        old = json.loads((target / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    other = old.get("seed") != seed or old.get("options", knobs_json) != knobs_json
    return {"status": "skipped_existing", "other_options": bool(other)}


def _batch_one(case: CaseFiles, out_dir: str, preset: str, seed: int, knobs: dict[str, Any],
               liver_label: Any, preview: bool, job: str = "", compression_level: int | None = None,
               stale_after_s: float | None = None) -> tuple[str, dict[str, Any]]:
    """Build one case where it runs (a worker, a Dask worker): claim it, make it, release it."""
    out = Path(out_dir)
    target = out / case.name
    knobs_json = json.loads(json.dumps(knobs, default=str))
    seen = _existing(target, seed, knobs_json)
    if seen is not None:
        return case.name, seen
    owner = owner_record(job=job)
    claim = claim_case(out, case.name, owner, stale_after_s=stale_after_s)
    if not isinstance(claim, Claim):
        return case.name, {"status": "busy", "holder": claim}
    try:
        seen = _existing(target, seed, knobs_json)  # finished by another job before our claim
        if seen is not None:
            return case.name, seen
        label = liver_label if liver_label is not None else case.liver_label
        by = {k: owner[k] for k in ("job", "host", "pid")}
        rep = synthesize_file(case.image, case.mask, target, preset=preset, seed=seed, liver_label=label,
                              tumor_label=case.tumor_label, preview=preview, compression_level=compression_level,
                              report_extra={"batch": by}, **knobs)
        return case.name, {"status": "done", "seconds": rep.get("seconds", {}), "by": by}
    except TumorsynthError as exc:
        return case.name, {"status": "failed", "error": str(exc)}
    except Exception as exc:  # a case must never stop the batch; report it and go on
        return case.name, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        release(claim)


def run_batch(
    source: str | os.PathLike[str] | Sequence[CaseFiles],
    out_dir: str | os.PathLike[str],
    *,
    preset: str = "mix",
    seed: int = 0,
    layout: str = "auto",
    liver_label: int | Sequence[int] | None = None,
    workers: int = 1,
    preview: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    shard: str | tuple[int, int] | None = None,
    executor: Executor | None = None,
    job_name: str | None = None,
    compression_level: int | None = None,
    stale_after_s: float | None = None,
    **knobs: Any,
) -> BatchSummary:
    """Synthesize every case of a folder, a CSV list or a list of :class:`CaseFiles`.

    Each case gets its own seed from ``seed`` and its name (:func:`case_seed`) and its own
    folder under ``out_dir``; finished cases are skipped (resume); a case that fails is reported
    and the others go on. Many jobs may share ``out_dir`` (see :mod:`tumorsynth.jobs.batch.claims`).

    ``shard``: ``"K/N"`` or ``(K, N)``, only the cases of shard K of N (:func:`shard_of`; the N
    shards together are the dataset). ``executor``: any :class:`concurrent.futures.Executor`
    (Dask's ``Client.get_executor()``, a Ray or MPI pool, ...) that runs the cases instead of
    ``workers`` local processes (started with ``spawn``). ``job_name``: the name of this job's
    summary ``batch_summary.<job>.json`` (default: shard, host, time and pid). ``compression_level``:
    gzip level 1-9 of ``.nii.gz`` outputs (default: 1). ``stale_after_s``: also take over claims
    and temporary folders of jobs on other hosts older than this. Writes the job summary and the
    merged ``out_dir/batch_summary.json``.
    """
    t0 = time.perf_counter()
    shard_kn = parse_shard(shard) if shard is not None else None
    if compression_level is not None and not 1 <= int(compression_level) <= 9:
        raise OptionError(f"--compression-level {compression_level}: give a gzip level from 1 (fast) to 9 (small)")
    if workers < 1:
        raise OptionError(f"-j/--workers {workers}: give 1 or more worker processes")
    job = job_name or _job_id(shard_kn)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,120}", job):
        raise OptionError(f"--job-name {job!r}: use letters, digits, '.', '_' or '-' only")
    cases: list[CaseFiles] = (list(source) if isinstance(source, (list, tuple))
                              else discover_cases(source, layout=layout))  # type: ignore[arg-type]
    if shard_kn is not None:
        cases = [c for c in cases if shard_of(c.name, shard_kn[1]) == shard_kn[0]]
    if executor is not None:  # workers elsewhere may start in another folder
        cases = [dataclasses.replace(c, image=Path(c.image).resolve(), mask=Path(c.mask).resolve()) for c in cases]
    out = Path(out_dir).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror or exc}); choose a writable -o") from None
    summary = BatchSummary(job=job)
    knobs_json = json.loads(json.dumps(knobs, default=str))
    events: dict[str, dict[str, Any]] = {}
    record_cases = {c.name: {"image": str(c.image), "mask": str(c.mask), "layout": c.layout,
                             "seed": case_seed(seed, c.name)} for c in cases}
    started = time.time()
    state = {"written": 0.0}

    def write_job(status: str) -> None:
        data = {"job": job, "state": status, "shard": None if shard_kn is None else f"{shard_kn[0]}/{shard_kn[1]}",
                "host": socket.gethostname(), "pid": os.getpid(), "started": started,
                "finished": time.time() if status != "running" else None,
                "preset": preset, "seed": seed, "options": knobs_json, "cases": record_cases, "events": events,
                "versions": _versions(), "argv": sys.argv} | summary.to_dict()
        write_text_atomic(job_summary_path(out, job), json.dumps(data, indent=2, default=str))
        state["written"] = time.perf_counter()

    def outcome(name: str, ev: dict[str, Any]) -> None:
        events[name] = ev | {"at": time.time()}
        status = ev["status"]
        if status == "done":
            summary.done.append(name)
        elif status == "skipped_existing":
            summary.skipped.append(name)
            if ev.get("other_options"):
                summary.stale.append(name)
        elif status == "busy":
            summary.busy[name] = ev.get("holder", {})
        else:
            summary.failed[name] = str(ev.get("error", "failed"))

    todo: list[CaseFiles] = []
    for c in cases:
        seen = _existing(out / c.name, case_seed(seed, c.name), knobs_json)
        if seen is None:
            todo.append(c)
        else:
            outcome(c.name, seen)
    if summary.stale:
        log.warning("%d finished case(s) were made with another seed or options (%s ...); they are kept: "
                    "delete their folders to redo them", len(summary.stale), summary.stale[0])
    sweep(out, stale_after_s=stale_after_s)
    write_job("running")
    jobs = [(c, str(out), preset, case_seed(seed, c.name), dict(knobs), liver_label, preview, job,
             compression_level, stale_after_s) for c in todo]
    total = len(jobs)
    count = 0

    def record(name: str, ev: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        outcome(name, ev)
        if progress is not None:
            progress(count, total, name)
        if time.perf_counter() - state["written"] > SUMMARY_EVERY_S:
            write_job("running")

    pool: Executor | None = None
    finished_ok = False
    try:
        if executor is None and (workers <= 1 or total <= 1):
            for args in jobs:
                record(*_batch_one(*args))  # type: ignore[arg-type]
        else:
            if executor is None:
                # spawned workers start with glibc's defaults: tune them as this process was tuned
                pool = ProcessPoolExecutor(max_workers=min(workers, total),
                                           mp_context=multiprocessing.get_context("spawn"),
                                           initializer=tune_allocator if is_tuned() else None)
            run_on = executor if executor is not None else pool
            assert run_on is not None
            futures: dict[Future[Any], str] = {run_on.submit(_batch_one, *args): args[0].name  # type: ignore[arg-type]
                                               for args in jobs}
            for fut in as_completed(futures):
                try:
                    name, ev = fut.result()
                except Exception as exc:  # the worker itself died (killed, out of memory, lost node)
                    name, ev = futures[fut], {"status": "failed",
                                              "error": f"worker lost ({type(exc).__name__}: {exc}); rerun to redo it"}
                record(name, ev)
        finished_ok = True
    finally:
        if pool is not None:
            pool.shutdown(wait=finished_ok, cancel_futures=True)
        summary.seconds = time.perf_counter() - t0
        write_job("finished" if finished_ok else "interrupted")
    summarize(out)
    return summary
