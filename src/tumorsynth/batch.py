"""Batches: every case of a dataset folder or CSV list, resumable and in parallel.

Each case gets its own folder (see :mod:`tumorsynth.pipeline`) and its own seed, derived from the
batch seed and the case name only, so results do not depend on order, workers or resumption.
Cases whose folder exists are skipped (a stopped batch resumes where it stopped); a case that
fails is reported in ``batch_summary.json`` and the others go on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.cases import CaseFiles, discover_cases
from tumorsynth.errors import OutputError, TumorsynthError
from tumorsynth.io import write_text_atomic
from tumorsynth.pipeline import _versions, synthesize_file

__all__ = ["BatchSummary", "case_seed", "run_batch"]

log = logging.getLogger(__name__)


def case_seed(base_seed: int, name: str) -> int:
    """A case's own seed: depends on the batch seed and the case name only (not order or workers)."""
    ss = np.random.SeedSequence([int(base_seed), zlib.crc32(name.encode("utf-8"))])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass
class BatchSummary:
    """What a batch did."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already complete (resume)
    stale: list[str] = field(default_factory=list)  # complete, but made with another preset or seed
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "skipped_existing": self.skipped, "made_with_other_options": self.stale,
                "failed": self.failed,
                "counts": {"done": len(self.done), "skipped_existing": len(self.skipped), "failed": len(self.failed)},
                "seconds": round(self.seconds, 2)}


def _batch_one(case: CaseFiles, out_dir: str, preset: str, seed: int, knobs: dict[str, Any],
               liver_label: Any, preview: bool) -> tuple[str, str | None]:
    label = liver_label if liver_label is not None else case.liver_label
    try:
        synthesize_file(case.image, case.mask, Path(out_dir) / case.name, preset=preset, seed=seed,
                        liver_label=label, tumor_label=case.tumor_label, preview=preview, **knobs)
        return case.name, None
    except TumorsynthError as exc:
        return case.name, str(exc)
    except Exception as exc:  # a case must never stop the batch; report it and go on
        return case.name, f"{type(exc).__name__}: {exc}"


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
    **knobs: Any,
) -> BatchSummary:
    """Synthesize every case of a folder, a CSV list or a list of :class:`CaseFiles`.

    Each case gets its own seed from ``seed`` and its name (:func:`case_seed`) and its own
    folder under ``out_dir``. Cases whose folder exists are skipped (resume); a case that fails
    is reported and the others go on. Writes ``out_dir/batch_summary.json``.
    """
    t0 = time.perf_counter()
    cases: list[CaseFiles] = (list(source) if isinstance(source, (list, tuple))
                              else discover_cases(source, layout=layout))  # type: ignore[arg-type]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror or exc}); choose a writable -o") from None
    summary = BatchSummary()
    todo: list[CaseFiles] = []
    knobs_json = json.loads(json.dumps(knobs, default=str))
    for c in cases:
        if (out / c.name).is_dir():
            summary.skipped.append(c.name)
            try:
                old = json.loads((out / c.name / "report.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = {}
            if old.get("seed") != case_seed(seed, c.name) or old.get("options", knobs_json) != knobs_json:
                summary.stale.append(c.name)
        else:
            todo.append(c)
    if summary.stale:
        log.warning("%d finished case(s) were made with another seed or options (%s ...); they are kept: "
                    "delete their folders to redo them", len(summary.stale), summary.stale[0])
    for stale in out.glob(".*.partial-*"):  # left by a batch that was killed
        shutil.rmtree(stale, ignore_errors=True)
    jobs = [(c, str(out), preset, case_seed(seed, c.name), dict(knobs), liver_label, preview) for c in todo]
    total = len(jobs)
    done = 0

    def record(name: str, err: str | None) -> None:
        nonlocal done
        done += 1
        if err is None:
            summary.done.append(name)
        else:
            summary.failed[name] = err
        if progress is not None:
            progress(done, total, name)

    if workers <= 1 or total <= 1:
        for job in jobs:
            record(*_batch_one(*job))  # type: ignore[arg-type]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_batch_one, *job) for job in jobs]  # type: ignore[arg-type]
            for fut in as_completed(futures):
                record(*fut.result())
    summary.seconds = time.perf_counter() - t0
    report = summary.to_dict() | {"preset": preset, "seed": seed, "options": knobs,
                                  "cases": {c.name: {"image": str(c.image), "mask": str(c.mask),
                                                     "layout": c.layout,
                                                     "seed": case_seed(seed, c.name)} for c in cases},
                                  "versions": _versions(), "argv": sys.argv}
    write_text_atomic(out / "batch_summary.json", json.dumps(report, indent=2, default=str))
    return summary
