"""Finding, choosing and loading the input cases of a reader study.

A study is built from real tumor cases, healthy cases (synthetic tumors are drawn on them) and
cases that already carry synthetic tumors. This module finds them (folders, case lists, single
files), chooses the subset a study uses, and loads each case's CT and label.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, OptionError, TumorsynthError

__all__ = ["CaseInput", "find_cases"]

_NIFTI_RE = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class CaseInput:
    """One input case: a CT and, where there is one, its label map or liver mask.

    ``liver_label`` and ``tumor_label`` are the mask values of liver and tumor where the
    dataset layout defines them (BTCV liver 6, LiTS tumor 2, ...); None means "ask the option".
    """

    ct: Path
    label: Path | None = None
    liver_label: tuple[int, ...] | None = None
    tumor_label: int | None = None


# ------------------------------------------------------------------------------------------
# Finding the input cases


def _read_case_list(list_file: Path, kind: str) -> list[CaseInput]:
    """Read a list file: one case per line, ``ct[,label]`` (comma, tab or spaces)."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{list_file}: cannot read {kind} case list ({exc})") from None
    delim = "\t" if "\t" in text else ","
    cases = []
    for lineno, row in enumerate(csv.reader(text.splitlines(), delimiter=delim), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if len(cells) == 1 and delim == "," and " " in cells[0]:
            cells = cells[0].split()
        if not cells or cells[0].startswith("#"):
            continue
        if lineno == 1 and cells[0].lower() in ("ct", "image", "ct_path", "image_path"):
            continue  # a header row
        if len(cells) > 2:
            raise InputError(
                f"{list_file}:{lineno}: expected 'ct' or 'ct,label', found {len(cells)} fields"
            )
        paths = [Path(c) if Path(c).is_absolute() else list_file.parent / c for c in cells]
        for p in paths:
            if not p.is_file():
                raise InputError(f"{list_file}:{lineno}: {p} not found; fix the path in the list")
        cases.append(CaseInput(paths[0], paths[1] if len(paths) > 1 else None))
    if not cases:
        raise InputError(f"{list_file}: {kind} case list has no cases; add lines 'ct.nii.gz,label.nii.gz'")
    return cases


def find_cases(spec: str | os.PathLike[str], *, kind: str = "input") -> list[CaseInput]:
    """Find the cases named by ``spec``.

    ``spec`` is a folder in any layout :func:`tumorsynth.io.cases.discover_cases` knows (LiTS,
    MSD, BTCV, TotalSegmentator, ``NAME`` + ``NAME_liver``/``_label``/``_seg``/``_mask``), a
    CSV case list with columns ``image,mask`` (the same format as ``tumorsynth batch``), a
    plain list file (one case per line, ``ct,label`` or ``ct<TAB>label``; paths relative to
    the list file; ``#`` starts a comment), or a single NIfTI file.
    """
    from tumorsynth.io.cases import discover_cases

    p = Path(spec)
    if not p.exists():
        raise InputError(f"{p}: {kind} cases not found; give a folder or a list file (ct,label per line)")
    if p.is_dir():
        return [CaseInput(c.image, c.mask, c.liver_label, c.tumor_label) for c in discover_cases(p)]
    if _NIFTI_RE.search(p.name):
        return [CaseInput(p)]
    try:
        first = p.read_text(encoding="utf-8-sig").lstrip().splitlines()[:1]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read {kind} case list ({exc})") from None
    header = {h.strip().lower() for h in first[0].split(",")} if first else set()
    if {"image", "mask"} <= header:
        return [CaseInput(c.image, c.mask, c.liver_label, c.tumor_label) for c in discover_cases(p)]
    return _read_case_list(p, kind)


# ------------------------------------------------------------------------------------------
# Choosing and loading the cases


@dataclass
class _Entry:
    truth: str
    origin: str  # "real", "synthesized" or "given"
    case: CaseInput
    synth_seed: int | None = None


def _select(entries: list[_Entry], n: int | None, rng: np.random.Generator, what: str) -> list[_Entry]:
    if n is None:
        return entries
    if n < 0 or n > len(entries):
        raise OptionError(f"--n-{what} {n} is invalid; between 0 and {len(entries)} {what} cases are available")
    keep = sorted(rng.choice(len(entries), size=n, replace=False).tolist())
    return [entries[i] for i in keep]


def _load_real(entry: _Entry, tumor_label: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from tumorsynth.io import check_ct_hu, load_nifti

    case = entry.case
    if tumor_label is None:
        tumor_label = case.tumor_label if case.tumor_label is not None else 2
    if case.label is None:
        raise InputError(
            f"{case.ct}: real tumor case has no label file; give 'ct,label' in a list file "
            "(the label shows where the tumor is and is kept for the owner)"
        )
    ct = load_nifti(case.ct, what="CT")
    lab = load_nifti(case.label, what="label")
    if ct.shape != lab.shape:
        raise InputError(f"{case.label}: label shape {lab.shape} differs from CT shape {ct.shape} ({case.ct})")
    labels = np.rint(np.asarray(lab.data)).astype(np.int64)
    tumor = labels == tumor_label
    if not tumor.any():
        raise InputError(
            f"{case.label}: no tumor voxel (label {tumor_label}); a real case must contain a "
            "tumor: drop it or set --real-tumor-label"
        )
    out = np.where(tumor, 2, np.where(labels != 0, 1, 0)).astype(np.uint8)
    check_ct_hu(np.asarray(ct.data), labels != 0, source=case.ct)
    return np.asarray(ct.data), out, ct.affine, labels != 0


def _load_synthesized(
    entry: _Entry, preset: str, liver_label: int | None, synthesize: Callable[..., Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    from tumorsynth.io import load_case

    case = entry.case
    if case.label is None:
        raise InputError(
            f"{case.ct}: healthy case has no liver mask; give 'ct,liver_mask' in a list file "
            "or put NAME_liver.nii.gz beside it"
        )
    ct, liver = load_case(case.ct, case.label,
                          liver_label=liver_label if liver_label is not None else case.liver_label)
    try:
        new_ct, label, params = synthesize(np.asarray(ct.data), liver, ct.spacing_mm, preset=preset,
                                           rng=entry.synth_seed)
    except TumorsynthError as exc:  # name the case: a study has many
        raise type(exc)(f"{case.ct}: {exc}") from None
    params_json = params.to_json() if hasattr(params, "to_json") else json.dumps(params)
    return np.asarray(new_ct), np.asarray(label, dtype=np.uint8), ct.affine, liver, params_json


def _load_given(entry: _Entry) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    from tumorsynth.io import check_ct_hu, load_nifti

    case = entry.case
    ct = load_nifti(case.ct, what="CT")
    if case.label is None:
        return np.asarray(ct.data), None, ct.affine, None
    lab = load_nifti(case.label, what="label")
    if lab.shape != ct.shape:
        raise InputError(f"{case.label}: label shape {lab.shape} differs from CT shape {ct.shape} ({case.ct})")
    labels = np.rint(np.asarray(lab.data)).astype(np.uint8)
    if (labels != 0).any():
        check_ct_hu(np.asarray(ct.data), labels != 0, source=case.ct)
    return np.asarray(ct.data), labels, ct.affine, labels != 0
