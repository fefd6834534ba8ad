"""Dice similarity coefficient of two masks (see :mod:`tumorsynth.apps.metrics` for conventions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tumorsynth.errors import OptionError

__all__ = ["dice"]


def dice(pred: Any, gt: Any, *, empty_value: float = 1.0) -> float:
    """Dice similarity coefficient ``2 |P & G| / (|P| + |G|)`` of two masks (non-zero = in).

    Returns ``empty_value`` (default 1.0) when both masks are empty, 0.0 when only one is.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((4, 4, 4), bool); a[:2] = True
        >>> b = np.zeros((4, 4, 4), bool); b[1:3] = True
        >>> dice(a, b)
        0.5
        >>> dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
        1.0
    """
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.shape != g.shape:
        raise OptionError(f"pred shape {p.shape} differs from gt shape {g.shape}; pass masks on the same grid")
    n_p = int(np.count_nonzero(p))
    n_g = int(np.count_nonzero(g))
    if n_p + n_g == 0:
        return float(empty_value)
    inter = int(np.count_nonzero(p & g)) if n_p and n_g else 0
    return 2.0 * inter / (n_p + n_g)
