"""The paper's Table 5: tumor DSC and NSD per model x data regime, per fold and averaged.

Experiment layout read by :func:`collect_experiment` (written by training and
:func:`tumorsynth.apps.evaluate.evaluate_folder`)::

    EXP/<model>_<regime>/fold_<k>/eval/summary.json

for example ``EXP/unet_synthetic/fold_0/eval/summary.json`` or
``EXP/swin_unetr_tiny_real_synthetic/fold_4/eval/summary.json``. Model and regime come from the
summary's ``meta`` (``{"model": ..., "regime": ..., "fold": ...}``) when present, else from a
``run.json`` or ``config.json`` with ``model`` and ``regime`` keys in the fold or run folder,
else from the run folder's name, split before a known regime suffix (:data:`REGIMES`). The fold
number comes from ``meta["fold"]`` or the ``fold_<k>`` folder name.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tumorsynth.errors import InputError, OptionError

__all__ = ["MODELS", "REGIMES", "collect_experiment", "read_experiment", "table5"]

log = logging.getLogger(__name__)

# Display order; names not listed follow in alphabetical order.
MODELS = ("unet", "swin_unetr_tiny", "swin_unetr_small", "swin_unetr_base")
REGIMES = ("real", "synthetic", "real_synthetic", "mixed")
_METRICS = (("tumor_dsc", "Tumor DSC (%)"), ("tumor_nsd", "Tumor NSD (%)"))
_FOLD_DIR = re.compile(r"^fold[_-]?(\d+)$")


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace("+", "_").replace(" ", "_")


def _order(name: str, known: Sequence[str]) -> tuple[int, str]:
    n = _norm(name)
    return (known.index(n), n) if n in known else (len(known), n)


def _pct(v: float | None) -> str:
    return "-" if v is None or math.isnan(v) else f"{100.0 * v:.2f}"


def _value(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    if v is None:
        return math.nan
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise OptionError(f"{key}={v!r} for {row.get('model')}/{row.get('regime')} fold {row.get('fold')}: expected a number") from None
    if not math.isnan(x) and not 0.0 <= x <= 1.0:
        raise OptionError(
            f"{key}={v!r} for {row.get('model')}/{row.get('regime')} fold {row.get('fold')}: "
            "expected a fraction in 0..1 (divide percentages by 100)"
        )
    return x


def _grid(rows: Iterable[Mapping[str, Any]], n_folds: int) -> tuple[list[tuple[str, str]], list[int], dict[tuple[str, str, int], dict[str, float]]]:
    cells: dict[tuple[str, str, int], dict[str, float]] = {}
    for r in rows:
        for key in ("model", "regime", "fold"):
            if r.get(key) is None:
                raise OptionError(f"Table 5 row {dict(r)!r} has no '{key}'; rows need model, regime, fold, tumor_dsc, tumor_nsd")
        try:
            fold = int(r["fold"])
        except (TypeError, ValueError):
            raise OptionError(f"fold={r['fold']!r}: expected a whole number") from None
        k = (str(r["model"]), str(r["regime"]), fold)
        if k in cells:
            raise OptionError(f"Table 5 has two results for model {k[0]}, regime {k[1]}, fold {k[2]}; keep one")
        cells[k] = {m: _value(r, m) for m, _ in _METRICS}
    pairs = sorted({(m, g) for m, g, _ in cells}, key=lambda p: (_order(p[0], MODELS), _order(p[1], REGIMES)))
    folds = sorted(set(range(n_folds)) | {f for _, _, f in cells})
    return pairs, folds, cells


def _averages(pairs: list[tuple[str, str]], folds: list[int], cells: Mapping[tuple[str, str, int], Mapping[str, float]], metric: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(mean, std ddof 1, number of folds) over the folds that have a value."""
    out = {}
    for p in pairs:
        vals = [cells[(*p, f)][metric] for f in folds if (*p, f) in cells and not math.isnan(cells[(*p, f)][metric])]
        if vals:
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            out[p] = (mean, std, len(vals))
        else:
            out[p] = (math.nan, math.nan, 0)
    return out


def table5(rows: Iterable[Mapping[str, Any]], *, n_folds: int = 5) -> tuple[str, str]:
    """Render Table 5: ``(markdown, csv_text)``.

    ``rows`` are dicts with ``model``, ``regime``, ``fold`` and the fractions ``tumor_dsc`` and
    ``tumor_nsd`` (0..1; None or NaN for a missing value). Output: one table per metric, one row
    per model x regime, columns fold 0..``n_folds - 1`` (more when present) and the average
    over folds, in % with two decimals. A missing fold shows ``-``; an average over fewer
    folds than the table has is marked ``*``. The CSV has the same cells in columns
    ``metric, model, regime, fold_0.., average, folds``.

    Example:
        >>> md, text = table5([{"model": "unet", "regime": "real", "fold": 0, "tumor_dsc": 0.5, "tumor_nsd": 0.6},
        ...                    {"model": "unet", "regime": "real", "fold": 1, "tumor_dsc": 0.6, "tumor_nsd": 0.7}], n_folds=2)
        >>> text.splitlines()[1]
        'tumor_dsc,unet,real,50.00,60.00,55.00,2'
    """
    pairs, folds, cells = _grid(list(rows), n_folds)
    md: list[str] = []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["metric", "model", "regime", *(f"fold_{f}" for f in folds), "average", "folds"])
    starred = False
    for metric, title in _METRICS:
        avg = _averages(pairs, folds, cells, metric)
        md += [f"### {title}", ""]
        md.append("| model | regime | " + " | ".join(f"fold {f}" for f in folds) + " | average |")
        md.append("| --- | --- | " + " | ".join("---:" for _ in folds) + " | ---: |")
        for p in pairs:
            vals = [_pct(cells[(*p, f)][metric]) if (*p, f) in cells else "-" for f in folds]
            mean, _, n = avg[p]
            mark = "*" if 0 < n < len(folds) else ""
            starred = starred or bool(mark)
            md.append(f"| {p[0]} | {p[1]} | " + " | ".join(vals) + f" | {_pct(mean)}{mark} |")
            w.writerow([metric, p[0], p[1], *(v if v != "-" else "" for v in vals), "" if n == 0 else _pct(mean), n])
        md.append("")
    if starred:
        md.append("\\* average over the folds available so far.")
        md.append("")
    return "\n".join(md), buf.getvalue()


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read JSON ({str(exc).splitlines()[0][:100]}); rerun the evaluation of this fold") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _model_regime(run_dir: Path, fold_dir: Path, meta: Mapping[str, Any], exp: Path) -> tuple[str, str]:
    if meta.get("model") and meta.get("regime"):
        return str(meta["model"]), str(meta["regime"])
    for d in (fold_dir, run_dir):
        for name in ("run.json", "config.json"):
            f = d / name
            if f.is_file():
                try:
                    cfg = json.loads(f.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                    continue
                if isinstance(cfg, dict) and cfg.get("model") and cfg.get("regime"):
                    return str(cfg["model"]), str(cfg["regime"])
    name = "_".join(run_dir.relative_to(exp).parts) if run_dir != exp else run_dir.name
    for regime in sorted(REGIMES, key=len, reverse=True):
        if _norm(name).endswith("_" + regime):
            return name[: -len(regime) - 1], name[-len(regime):]
    raise InputError(
        f"{run_dir}: cannot tell model and regime; name the folder <model>_<regime> with regime one "
        f"of {', '.join(REGIMES)}, or store them in the summary's meta or a run.json"
    )


def read_experiment(exp_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Table 5 rows from every ``fold_<k>/eval/summary.json`` under ``exp_dir`` (see module notes)."""
    exp = Path(exp_dir)
    if not exp.is_dir():
        raise InputError(f"{exp}: experiment folder not found; check the path")
    rows = []
    for summary in sorted(exp.rglob("summary.json")):
        if summary.parent.name != "eval" or not _FOLD_DIR.match(summary.parent.parent.name):
            continue
        fold_dir = summary.parent.parent
        run_dir = fold_dir.parent
        data = _json(summary)
        meta = data.get("meta") or {}
        model, regime = _model_regime(run_dir, fold_dir, meta, exp)
        m = _FOLD_DIR.match(fold_dir.name)
        fold = int(meta["fold"]) if meta.get("fold") is not None else int(m.group(1)) if m else -1
        metrics = data.get("metrics") or {}
        try:
            dsc = metrics["tumor_dsc"]["mean"]
            nsd = metrics["tumor_nsd"]["mean"]
        except (KeyError, TypeError):
            raise InputError(f"{summary}: no metrics.tumor_dsc.mean / tumor_nsd.mean; was it written by tumorsynth evaluate?") from None
        rows.append({"model": model, "regime": regime, "fold": fold, "tumor_dsc": dsc, "tumor_nsd": nsd, "source": str(summary)})
    if not rows:
        raise InputError(
            f"{exp}: no fold results found; expected <model>_<regime>/fold_<k>/eval/summary.json "
            "(run tumorsynth evaluate on each fold's predictions)"
        )
    return rows


def _bar_chart(rows: Sequence[Mapping[str, Any]], path: Path, n_folds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tumorsynth.io import atomic_path

    pairs, folds, cells = _grid(rows, n_folds)
    labels = [f"{m}\n{g}" for m, g in pairs]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(pairs) + 2), 4.0), dpi=120)
    width = 0.38
    for i, (metric, title) in enumerate(_METRICS):
        avg = _averages(pairs, folds, cells, metric)
        means = [100 * avg[p][0] if avg[p][2] else 0.0 for p in pairs]
        stds = [100 * avg[p][1] if avg[p][2] > 1 else 0.0 for p in pairs]
        xs = [k + (i - 0.5) * width for k in range(len(pairs))]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=title.replace(" (%)", ""))
    ax.set_xticks(range(len(pairs)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("% (mean over folds, error bar: SD)")
    ax.set_ylim(0, 100)
    ax.set_title("Tumor segmentation, cross-validation")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def collect_experiment(
    exp_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    n_folds: int = 5,
    plot: bool = True,
) -> dict[str, Any]:
    """Write ``table5.md``, ``table5.csv`` and (with ``plot``) ``table5.png`` for an experiment.

    Reads the per-fold summaries under ``exp_dir`` (:func:`read_experiment`), writes into
    ``out_dir`` (default ``exp_dir``) atomically and returns ``{"rows", "markdown", "csv",
    "files"}``. The PNG (matplotlib, Agg) shows the fold-averaged DSC and NSD per row with
    the standard deviation over folds.
    """
    from tumorsynth.io import write_text_atomic

    rows = read_experiment(exp_dir)
    markdown, csv_text = table5(rows, n_folds=n_folds)
    out = Path(out_dir) if out_dir is not None else Path(exp_dir)
    files = [
        write_text_atomic(out / "table5.md", "## Table 5: tumor segmentation, 5-fold cross-validation\n\n" + markdown),
        write_text_atomic(out / "table5.csv", csv_text),
    ]
    if plot:
        try:
            _bar_chart(rows, out / "table5.png", n_folds)
            files.append(out / "table5.png")
        except ImportError:
            log.warning("matplotlib is not installed; skipping table5.png (pip install tumorsynth[figures])")
    return {"rows": rows, "markdown": markdown, "csv": csv_text, "files": [str(f) for f in files]}
