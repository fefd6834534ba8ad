"""Percentile bootstrap confidence intervals of a mean over cases."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tumorsynth.errors import OptionError

__all__ = ["bootstrap_ci"]


def bootstrap_ci(
    values: Iterable[float],
    *,
    rng: np.random.Generator | int,
    n: int = 2000,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (cases resampled).

    NaN values are dropped first. Returns ``(nan, nan)`` for no values and ``(v, v)`` for one.
    ``rng`` is a numpy Generator or an int seed; the same seed gives the same interval.

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
    if v.size == 1:
        return (float(v[0]), float(v[0]))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    means = np.empty(int(n))
    chunk = max(1, 2_000_000 // v.size)
    for start in range(0, int(n), chunk):
        stop = min(int(n), start + chunk)
        idx = gen.integers(0, v.size, size=(stop - start, v.size))
        means[start:stop] = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))
