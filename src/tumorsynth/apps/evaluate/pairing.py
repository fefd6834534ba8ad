"""Finding the cases to evaluate: NIfTI files of a folder, case names, and their pairing.

* :func:`case_key`: the case name that pairs a prediction file with its ground truth.
* :func:`list_nifti`: the NIfTI files directly in a folder.
* :func:`pair_cases`: predictions paired with ground truths by case name, optionally restricted
  to some cases.
* :func:`split_cases`: the case names of one fold of an nnU-Net style split file.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from tumorsynth.errors import InputError, OptionError

__all__ = ["case_key", "list_nifti", "pair_cases", "split_cases"]

log = logging.getLogger(__name__)

_SUFFIX = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)
_LITS = re.compile(r"^(segmentation|volume)-(\d+)$", re.IGNORECASE)
_TRAILING = re.compile(r"(_0000|_pred|_seg|_label|_labels)$", re.IGNORECASE)


def case_key(path: str | os.PathLike[str]) -> str:
    """The case name used to pair a prediction with its ground truth.

    The file name without ``.nii``/``.nii.gz`` and without a trailing ``_0000`` (nnU-Net
    channel), ``_pred``, ``_seg``, ``_label`` or ``_labels``; LiTS ``volume-N`` and
    ``segmentation-N`` both become ``lits-N``, so a prediction named after the CT pairs with
    its segmentation.

    Example:
        >>> [case_key(p) for p in ("liver_3.nii.gz", "liver_3_0000.nii.gz", "volume-7.nii", "segmentation-7.nii")]
        ['liver_3', 'liver_3', 'lits-7', 'lits-7']
    """
    name = _SUFFIX.sub("", Path(path).name)
    name = _TRAILING.sub("", name)
    m = _LITS.match(name)
    if m:
        return f"lits-{int(m.group(2))}"
    return name


def list_nifti(folder: str | os.PathLike[str], *, what: str) -> list[Path]:
    """The NIfTI files directly in ``folder`` (hidden and temporary files skipped), sorted."""
    d = Path(folder)
    if not d.exists():
        raise InputError(f"{d}: {what} folder not found; check the path")
    if not d.is_dir():
        raise InputError(f"{d}: expected a folder of {what} NIfTI files")
    files = sorted(
        p for p in d.iterdir() if p.is_file() and _SUFFIX.search(p.name) and not p.name.startswith(".")
    )
    if not files:
        raise InputError(f"{d}: no {what} NIfTI files (.nii, .nii.gz) in this folder")
    return files


def pair_cases(
    pred_files: Sequence[Path],
    gt_files: Sequence[Path],
    *,
    cases: Iterable[str] | None = None,
) -> list[tuple[str, Path, Path]]:
    """Pair predictions with ground truths by :func:`case_key`; ``[(case, pred, gt), ...]``.

    ``cases`` (names or file names, compared by :func:`case_key`) restricts the evaluation to
    those ground-truth cases, for example the validation cases of one fold; each must exist.
    Every selected ground truth needs a prediction (else :class:`InputError` listing the
    missing cases); predictions without a selected ground truth are ignored with a warning.
    """
    def index(files: Sequence[Path], what: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for f in files:
            k = case_key(f)
            if k in out:
                raise InputError(
                    f"{f}: {what} file has the same case name '{k}' as {out[k].name}; keep one per case"
                )
            out[k] = f
        return out

    preds = index(pred_files, "prediction")
    gts = index(gt_files, "ground-truth")
    if cases is not None:
        wanted = list(dict.fromkeys(case_key(c) for c in cases))
        if not wanted:
            raise OptionError("cases: the list of cases to evaluate is empty")
        unknown = [k for k in wanted if k not in gts]
        if unknown:
            where = Path(gt_files[0]).parent if gt_files else "the ground-truth folder"
            raise InputError(
                f"{where}: no ground truth for {len(unknown)} selected case(s) ({', '.join(unknown[:5])}"
                f"{', ...' if len(unknown) > 5 else ''}); check the case names or the split file"
            )
        gts = {k: gts[k] for k in wanted}
    missing = [k for k in gts if k not in preds]
    if missing:
        shown = ", ".join(gts[k].name for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
        where = Path(pred_files[0]).parent if pred_files else "the prediction folder"
        raise InputError(
            f"{where}: no prediction for {len(missing)} of {len(gts)} ground-truth case(s) ({shown}); "
            "run prediction on those cases or remove them from the ground-truth folder"
        )
    extra = [preds[k].name for k in preds if k not in gts]
    if extra:
        log.warning("ignoring %d prediction(s) without ground truth: %s", len(extra), ", ".join(extra[:5]))
    return [(k, preds[k], gts[k]) for k in gts]


def split_cases(split_file: str | os.PathLike[str], fold: int, *, part: str = "val") -> list[str]:
    """The case names of one fold of an nnU-Net style split file.

    The file is a JSON list with one ``{"train": [...], "val": [...]}`` per fold (or an object
    with such a list under ``"folds"``), as written by ``tumorsynth.apps.train.splits``.

    Example:
        >>> split_cases("splits_final.json", 0)  # doctest: +SKIP
        ['liver_10', 'liver_17', ...]
    """
    p = Path(split_file)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: split file not found; check the path") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{p}: not a JSON split file ({str(exc).splitlines()[0][:80]})") from None
    if isinstance(data, dict) and "folds" in data:
        data = data["folds"]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise InputError(f"{p}: expected a list of folds [{{'train': [...], 'val': [...]}}, ...]")
    if not 0 <= int(fold) < len(data):
        raise OptionError(f"fold {fold}: {p} has folds 0..{len(data) - 1}")
    names = data[int(fold)].get(part)
    if not isinstance(names, list) or not names:
        raise InputError(f"{p}: fold {fold} has no '{part}' case list")
    return [str(n) for n in names]
