"""Seeded k-fold cross-validation splits, saved as JSON in the nnU-Net layout.

The file is a list with one entry per fold, ``[{"train": [names...], "val": [names...]}, ...]``,
the format of nnU-Net's ``splits_final.json``, so splits can be shared between tools. Every
regime of an experiment uses the same file: the folds are over the real-tumor cases; healthy
CTs (synthetic regime) are never validated on.

The assignment depends only on the sorted case names and the seed: the same names and seed
give the same file on any machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from tumorsynth.errors import InputError, OptionError

__all__ = ["check_split", "load_splits", "make_splits", "save_splits"]

Split = dict[str, list[str]]


def make_splits(names: Iterable[str], *, n_folds: int = 5, seed: int = 12345) -> list[Split]:
    """Assign case names to ``n_folds`` disjoint validation folds covering every case.

    The sorted names are permuted with ``numpy.random.default_rng(seed)`` and dealt out in
    turn, so fold sizes differ by at most one.

    Example:
        >>> s = make_splits([f"case{i}" for i in range(10)], n_folds=5, seed=0)
        >>> len(s), len(s[0]["val"]), len(s[0]["train"])
        (5, 2, 8)
    """
    unique = sorted(set(names))
    if n_folds < 2:
        raise OptionError(f"n_folds: {n_folds}, expected at least 2")
    if len(unique) < n_folds:
        raise OptionError(
            f"n_folds: {n_folds} folds need at least {n_folds} cases, found {len(unique)}"
        )
    order = np.random.default_rng(seed).permutation(len(unique))
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for rank, idx in enumerate(order):
        folds[rank % n_folds].append(unique[int(idx)])
    splits = []
    for k in range(n_folds):
        val = sorted(folds[k])
        vset = set(val)
        splits.append({"train": [n for n in unique if n not in vset], "val": val})
    return splits


def save_splits(path: str | os.PathLike[str], splits: Sequence[Split]) -> Path:
    """Write splits as JSON (atomically)."""
    from tumorsynth.io import write_text_atomic

    return write_text_atomic(path, json.dumps(list(splits), indent=1) + "\n")


def load_splits(path: str | os.PathLike[str]) -> list[Split]:
    """Read a split file (nnU-Net list, or ``{"folds": [...]}``) and check its structure."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: split file not found; create one with `tumorsynth splits`")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a JSON split file ({exc}); recreate it with `tumorsynth splits`") from None
    if isinstance(data, dict) and "folds" in data:
        data = data["folds"]
    if not isinstance(data, list) or not data:
        raise InputError(f"{p}: expected a list of folds [{{'train': [...], 'val': [...]}}, ...]")
    out: list[Split] = []
    for k, entry in enumerate(data):
        if not (isinstance(entry, dict) and isinstance(entry.get("train"), list)
                and isinstance(entry.get("val"), list)):
            raise InputError(f"{p}: fold {k} lacks 'train' and 'val' lists of case names")
        train = [str(n) for n in entry["train"]]
        val = [str(n) for n in entry["val"]]
        both = sorted(set(train) & set(val))
        if both:
            raise InputError(
                f"{p}: fold {k} has case(s) {', '.join(both[:5])} in both train and val; "
                "recreate the split file"
            )
        out.append({"train": train, "val": val})
    return out


def check_split(
    split: Split, known: Iterable[str], *, source: str = "split", fold: int | None = None
) -> None:
    """Raise :class:`InputError` when a split names a case the dataset does not have."""
    known_set = set(known)
    unknown = [n for n in [*split["train"], *split["val"]] if n not in known_set]
    if unknown:
        where = f" fold {fold}" if fold is not None else ""
        shown = ", ".join(repr(n) for n in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InputError(
            f"{source}{where}: names {len(unknown)} case(s) not in the dataset ({shown}); "
            "use the split made for this dataset or recreate it with `tumorsynth splits`"
        )
