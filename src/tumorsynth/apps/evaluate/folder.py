"""Evaluation of a folder of predictions against a folder of ground truths.

Outputs, written atomically into ``out_dir``:

* ``cases.csv``: one row per case (scores, volumes, lesion counts); empty cells are NaN
  (tumor scores of tumor-free cases).
* ``lesions.csv``: one row per ground-truth lesion (case, equivalent diameter, size class,
  detected).
* ``summary.json``: for tumor and liver DSC and NSD the number of cases, mean, standard
  deviation (ddof 1), median and a percentile-bootstrap confidence interval of the mean;
  lesion-wise sensitivity per size class and false positives per scan; the settings used.
  Table 5 reads ``summary["metrics"]["tumor_dsc"]["mean"]`` (a fraction, not %).

Finding and pairing the files (:func:`case_key`, :func:`list_nifti`, :func:`pair_cases`,
:func:`split_cases`) lives in :mod:`tumorsynth.apps.evaluate.pairing`; those names are re-exported
here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.apps.evaluate.case import evaluate_case
from tumorsynth.apps.evaluate.pairing import case_key, list_nifti, pair_cases, split_cases
from tumorsynth.apps.metrics import SIZE_CLASSES_MM, bootstrap_ci, detection_summary
from tumorsynth.errors import InputError, OptionError

__all__ = [
    "METRICS",
    "case_key",
    "evaluate_files",
    "evaluate_folder",
    "list_nifti",
    "pair_cases",
    "split_cases",
    "summarize",
]

log = logging.getLogger(__name__)

METRICS = ("tumor_dsc", "tumor_nsd", "liver_dsc", "liver_nsd")
_CLASSES = [c[0] for c in SIZE_CLASSES_MM] + ["all"]
CASE_COLUMNS = (
    "case",
    *METRICS,
    "has_tumor",
    "gt_tumor_ml",
    "pred_tumor_ml",
    "gt_liver_ml",
    "pred_liver_ml",
    *(f"{kind}_{c}" for c in _CLASSES for kind in ("lesions", "detected")),
    "false_positives",
    "pred_file",
    "gt_file",
)


def _evaluate_pair(pred_path: Path, gt_path: Path, *, tolerance_mm: float, connectivity: int) -> dict[str, Any]:
    from tumorsynth.io import check_same_grid, load_nifti

    gt = load_nifti(gt_path, what="ground-truth label")
    pred = load_nifti(pred_path, what="prediction")
    check_same_grid(pred, gt, what="prediction", fix="write predictions on the ground truth's grid")
    return evaluate_case(
        pred.data,
        gt.data,
        gt.spacing_mm,
        tolerance_mm=tolerance_mm,
        connectivity=connectivity,
        names=(str(pred_path), str(gt_path)),
    )


def _results(
    pairs: Sequence[tuple[str, Path, Path]], *, tolerance_mm: float, connectivity: int, workers: int
) -> Iterator[tuple[str, Path, Path, dict[str, Any]]]:
    """Per-case results in the order of ``pairs``, from ``workers`` processes."""
    kw: dict[str, Any] = {"tolerance_mm": tolerance_mm, "connectivity": connectivity}
    if workers <= 1 or len(pairs) <= 1:
        for key, p, g in pairs:
            yield key, p, g, _evaluate_pair(p, g, **kw)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    with ProcessPoolExecutor(max_workers=min(workers, len(pairs)), mp_context=ctx) as pool:
        futures = [pool.submit(_evaluate_pair, p, g, **kw) for _, p, g in pairs]
        try:
            for (key, p, g), fut in zip(pairs, futures, strict=True):
                yield key, p, g, fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def _stats(values: Sequence[float], *, rng: np.random.Generator, n_bootstrap: int, alpha: float) -> dict[str, Any]:
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "median": None, "ci": [None, None]}
    lo, hi = bootstrap_ci(v, rng=rng, n=n_bootstrap, alpha=alpha)
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "median": float(np.median(v)),
        "ci": [lo, hi],
    }


def summarize(
    rows: Sequence[Mapping[str, Any]],
    *,
    seed: int = 0,
    n_bootstrap: int = 2000,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Summary statistics of per-case results (:func:`evaluate_case` dicts).

    Each metric's bootstrap draws from its own generator seeded by ``(seed, metric index)``,
    so the intervals are reproducible and independent of each other.

    Example:
        >>> rows = [{"tumor_dsc": 0.5, "tumor_nsd": 0.6, "liver_dsc": 0.9, "liver_nsd": 0.8},
        ...         {"tumor_dsc": float("nan"), "tumor_nsd": float("nan"), "liver_dsc": 0.95, "liver_nsd": 0.9}]
        >>> s = summarize(rows)
        >>> s["metrics"]["tumor_dsc"]["n"], s["metrics"]["liver_dsc"]["mean"]
        (1, 0.925)
    """
    metrics = {
        name: _stats(
            [float(r.get(name, math.nan)) for r in rows],
            rng=np.random.default_rng([int(seed), i]),
            n_bootstrap=n_bootstrap,
            alpha=alpha,
        )
        for i, name in enumerate(METRICS)
    }
    det = detection_summary(rows)
    tumor_free = [r for r in rows if not r.get("has_tumor", True)]
    det["false_positives_per_tumor_free_scan"] = (
        float(np.mean([int(r.get("false_positives", 0)) for r in tumor_free])) if tumor_free else None
    )
    return {
        "n_cases": len(rows),
        "n_cases_with_tumor": sum(1 for r in rows if r.get("has_tumor")),
        "metrics": metrics,
        "detection": det,
        "bootstrap": {"resamples": int(n_bootstrap), "alpha": float(alpha), "seed": int(seed)},
    }


def _json_clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _json_clean(obj.item())
    return obj


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c, "")) for c in columns])
    return buf.getvalue()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tumorsynth")
    except Exception:  # metadata absent in a source checkout
        return "unknown"


def _run(
    pairs: Sequence[tuple[str, Path, Path]],
    out_dir: str | os.PathLike[str] | None,
    *,
    tolerance_mm: float,
    connectivity: int,
    n_bootstrap: int,
    alpha: float,
    seed: int,
    meta: Mapping[str, Any] | None,
    sources: Mapping[str, str],
    workers: int = 1,
) -> dict[str, Any]:
    from tumorsynth.io import write_text_atomic

    if not math.isfinite(float(tolerance_mm)) or float(tolerance_mm) < 0:
        raise OptionError(f"tolerance_mm={tolerance_mm!r}: expected a finite number >= 0 (mm)")
    if connectivity not in (6, 18, 26):
        raise OptionError(f"connectivity={connectivity!r}: expected one of 6, 18, 26")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    lesion_rows: list[dict[str, Any]] = []
    if int(workers) < 1:
        raise OptionError(f"workers={workers!r}: expected a positive number of processes")
    for i, (key, pred_path, gt_path, res) in enumerate(
        _results(pairs, tolerance_mm=tolerance_mm, connectivity=connectivity, workers=int(workers)), 1
    ):
        lesions = res.pop("lesions")
        rows.append({"case": key, **res, "pred_file": pred_path.name, "gt_file": gt_path.name})
        lesion_rows.extend({"case": key, "lesion": j, **le} for j, le in enumerate(lesions, 1))
        log.info(
            "[%d/%d] %s: tumor DSC %.4f NSD %.4f, liver DSC %.4f",
            i, len(pairs), key, res["tumor_dsc"], res["tumor_nsd"], res["liver_dsc"],
        )
    summary = summarize(rows, seed=seed, n_bootstrap=n_bootstrap, alpha=alpha)
    summary.update(
        {
            "tolerance_mm": float(tolerance_mm),
            "connectivity": int(connectivity),
            "size_classes_mm": {name: [lo, hi if math.isfinite(hi) else None] for name, lo, hi in SIZE_CLASSES_MM},
            "sources": dict(sources),
            "meta": dict(meta or {}),
            "tumorsynth_version": _version(),
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    summary = _json_clean(summary)
    if out_dir is not None:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: output exists and is not a folder; choose another -o")
        write_text_atomic(out / "cases.csv", _csv(rows, CASE_COLUMNS))
        write_text_atomic(
            out / "lesions.csv",
            _csv(lesion_rows, ("case", "lesion", "diameter_mm", "volume_mm3", "size_class", "detected")),
        )
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    summary["cases"] = _json_clean(rows)
    return summary


def evaluate_folder(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    *,
    tolerance_mm: float = 2.0,
    connectivity: int = 26,
    n_bootstrap: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    meta: Mapping[str, Any] | None = None,
    cases: Iterable[str] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Evaluate every ground-truth case of ``gt_dir`` against its prediction in ``pred_dir``.

    ``cases`` restricts the evaluation to some ground-truth cases (see :func:`pair_cases`),
    for example a fold's validation cases from :func:`split_cases`. ``workers > 1`` evaluates
    cases in that many processes (results and outputs are identical).

    Files pair by :func:`case_key`; each pair must share shape and affine (else
    :class:`InputError`); labels must be 0, 1, 2. Writes ``cases.csv``, ``lesions.csv`` and
    ``summary.json`` to ``out_dir`` (skipped when ``None``) and returns the summary, with the
    per-case rows under ``"cases"``. ``meta`` (for example ``{"model": "unet", "regime":
    "synthetic", "fold": 0}``) is stored in the summary as is.

    Example:
        >>> s = evaluate_folder("pred/", "labelsTr/", "eval/")  # doctest: +SKIP
        >>> s["metrics"]["tumor_dsc"]["mean"]  # doctest: +SKIP
        0.5981
    """
    pairs = pair_cases(
        list_nifti(pred_dir, what="prediction"), list_nifti(gt_dir, what="ground-truth"), cases=cases
    )
    return _run(
        pairs, out_dir, tolerance_mm=tolerance_mm, connectivity=connectivity,
        n_bootstrap=n_bootstrap, alpha=alpha, seed=seed, meta=meta,
        sources={"pred": str(pred_dir), "gt": str(gt_dir)}, workers=workers,
    )


def evaluate_files(
    pred_path: str | os.PathLike[str],
    gt_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    *,
    tolerance_mm: float = 2.0,
    connectivity: int = 26,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate one prediction file against one ground-truth file; same outputs as
    :func:`evaluate_folder` (a summary of one case)."""
    p, g = Path(pred_path), Path(gt_path)
    return _run(
        [(case_key(g), p, g)], out_dir, tolerance_mm=tolerance_mm, connectivity=connectivity,
        n_bootstrap=1, alpha=0.05, seed=0, meta=meta, sources={"pred": str(p), "gt": str(g)},
    )
