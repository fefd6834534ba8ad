"""Statistics of a reader study: per-reader metrics, confidence intervals, agreement, AUC.

Detection of *synthetic* cases is the task: positive = synthetic. For each reader, on the cases
the reader answered:

* **unsure counted as wrong** (``unsure_wrong``): accuracy = (TP + TN) / answered;
  sensitivity = TP / (synthetic cases answered); specificity = TN / (real cases answered).
  An "unsure" on a synthetic case is a miss, on a real case a false alarm.
* **unsure excluded** (``unsure_excluded``): the same on the cases answered real or synthetic.

Each proportion comes with a Wilson score 95% confidence interval. Agreement between two
readers is Cohen's kappa on the cases both answered, once with the three answers as categories
and once on the cases both answered real or synthetic. Ratings (answer times confidence) give
an ROC AUC with the Hanley-McNeil interval. A low accuracy (near or below 50%) means the
synthetic tumors are hard to tell from real ones.

Example:
    >>> from tumorsynth.apps.reader_study.stats import wilson_interval, cohen_kappa
    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    >>> round(cohen_kappa(["real", "real", "synthetic"], ["real", "synthetic", "synthetic"]), 4)
    0.4
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MODES",
    "cohen_kappa",
    "rating_auc",
    "rating_score",
    "reader_metrics",
    "wilson_interval",
]

#: The two ways of counting "unsure".
MODES = ("unsure_wrong", "unsure_excluded")
Z95 = 1.959963984540054
NAN = float("nan")


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (``(nan, nan)`` when ``n == 0``)."""
    if n <= 0:
        return (NAN, NAN)
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must be between 0 and n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def cohen_kappa(a: Sequence[str], b: Sequence[str], categories: Sequence[str] | None = None) -> float:
    """Cohen's kappa of two raters' answers to the same items (``nan`` if undefined).

    Undefined means no items, or chance agreement of 1 (both raters gave one and the same
    answer to everything).
    """
    if len(a) != len(b):
        raise ValueError("both raters must answer the same items")
    n = len(a)
    if n == 0:
        return NAN
    cats = list(categories) if categories is not None else sorted(set(a) | set(b))
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pe = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in cats)
    if math.isclose(pe, 1.0):
        return NAN
    return (po - pe) / (1 - pe)


def _prop(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"k": k, "n": n, "value": (k / n) if n else NAN, "ci_low": lo, "ci_high": hi}


def reader_metrics(truth: Mapping[str, str], answers: Mapping[str, str], n_cases: int | None = None) -> dict[str, Any]:
    """Counts and metrics of one reader.

    Args:
        truth: case id -> ``"real"`` or ``"synthetic"``.
        answers: case id -> ``"real"``, ``"synthetic"`` or ``"unsure"`` (answered cases only).
        n_cases: cases in the study (default: ``len(truth)``), for the count of missing answers.
    """
    c = {"tp": 0, "fn": 0, "tn": 0, "fp": 0, "unsure_synthetic": 0, "unsure_real": 0}
    for cid, ans in answers.items():
        t = truth[cid]
        if ans == "unsure":
            c["unsure_synthetic" if t == "synthetic" else "unsure_real"] += 1
        elif t == "synthetic":
            c["tp" if ans == "synthetic" else "fn"] += 1
        else:
            c["tn" if ans == "real" else "fp"] += 1
    answered = len(answers)
    unsure = c["unsure_synthetic"] + c["unsure_real"]
    correct = c["tp"] + c["tn"]
    n_syn = c["tp"] + c["fn"]
    n_real = c["tn"] + c["fp"]
    out: dict[str, Any] = {
        "n_cases": n_cases if n_cases is not None else len(truth),
        "answered": answered,
        "missing": (n_cases if n_cases is not None else len(truth)) - answered,
        "unsure": unsure,
        **c,
        "unsure_wrong": {
            "accuracy": _prop(correct, answered),
            "sensitivity": _prop(c["tp"], n_syn + c["unsure_synthetic"]),
            "specificity": _prop(c["tn"], n_real + c["unsure_real"]),
        },
        "unsure_excluded": {
            "accuracy": _prop(correct, answered - unsure),
            "sensitivity": _prop(c["tp"], n_syn),
            "specificity": _prop(c["tn"], n_real),
        },
    }
    return out


def rating_auc(scores_synthetic: Sequence[float], scores_real: Sequence[float]) -> dict[str, Any]:
    """Area under the ROC curve of ratings (synthetic should score higher), with the
    Hanley-McNeil 95% interval; ties count one half. ``nan`` without cases of both kinds."""
    n1, n2 = len(scores_synthetic), len(scores_real)
    out: dict[str, Any] = {"value": NAN, "ci_low": NAN, "ci_high": NAN, "n_synthetic": n1, "n_real": n2}
    if not n1 or not n2:
        return out
    wins = sum((x > y) + 0.5 * (x == y) for x in scores_synthetic for y in scores_real)
    a = wins / (n1 * n2)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt(max(0.0, (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2)))
    out.update(value=a, ci_low=max(0.0, a - Z95 * se), ci_high=min(1.0, a + Z95 * se))
    return out


def rating_score(answer: str, confidence: int | None) -> float:
    """A reader's answer as one number: +confidence for synthetic, -confidence for real, 0 for
    unsure; a missing confidence counts as 3 (the middle)."""
    c = 3 if confidence is None else confidence
    return float(c) if answer == "synthetic" else -float(c) if answer == "real" else 0.0
