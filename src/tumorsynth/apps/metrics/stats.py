"""Percentile bootstrap confidence intervals of a mean over cases (``scipy.stats.bootstrap``)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable

import numpy as np
from scipy import stats

from tumorsynth.errors import OptionError

__all__ = ["bootstrap_ci"]

# scipy 1.15 renamed ``random_state`` to ``rng``; both take a numpy Generator.
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


def bootstrap_ci(
    values: Iterable[float],
    *,
    rng: np.random.Generator | int,
    n: int = 2000,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (cases resampled).

    A thin wrapper of :func:`scipy.stats.bootstrap` (``method="percentile"``) that drops NaN
    values first and answers the cases scipy does not: ``(nan, nan)`` for no values, ``(v, v)``
    for one value or for values that are all equal. ``rng`` is a numpy Generator or an int seed;
    the same seed gives the same interval.

    Example:
        >>> lo, hi = bootstrap_ci([0.5, 0.6, 0.7, 0.8], rng=0)
        >>> lo <= 0.65 <= hi
        True
    """
    if int(n) < 1:
        raise OptionError(f"n={n!r}: expected a positive number of bootstrap resamples")
    if not 0.0 < float(alpha) < 1.0:
        raise OptionError(f"alpha={alpha!r}: expected a number between 0 and 1 (0.05 for 95%)")
    v = np.asarray(list(values), dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    if v.size == 1 or np.all(v == v[0]):
        return (float(v[0]), float(v[0]))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    res = stats.bootstrap(
        (v,),
        np.mean,
        n_resamples=int(n),
        batch=max(1, 2_000_000 // v.size),  # bounds the memory of the resampled means
        confidence_level=1.0 - float(alpha),
        method="percentile",
        vectorized=True,
        **{_RNG_KEYWORD: gen},
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))
