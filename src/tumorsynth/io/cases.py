"""Finding cases in the folder layouts users bring (one registry of layouts).

:func:`discover_cases` turns a folder (or a CSV list) into :class:`CaseFiles` records: the CT,
its mask, which mask values are liver, and which value is tumor. Layouts:

``lits``        ``volume-N.nii[.gz]`` beside ``segmentation-N.nii[.gz]`` (1 liver, 2 tumor)
``msd``         ``imagesTr/liver_N.nii.gz`` + ``labelsTr/liver_N.nii.gz`` (Task03_Liver; 1, 2)
``btcv``        ``img/imgNNNN.nii.gz`` + ``label/labelNNNN.nii.gz`` (liver = 6)
``totalseg``    per-case folders ``CASE/ct.nii.gz`` + ``CASE/segmentations/liver.nii.gz`` (its
                per-organ output) or a multi-label map beside the CT (liver = 5)
``pairs``       ``NAME.nii.gz`` beside ``NAME_liver.nii.gz`` (or ``_seg``, ``_mask``, ``_label``)
``csv``         a CSV file with columns ``image,mask`` and optional ``name,liver_label`` (values
                separated by ``;``), paths relative to the CSV's folder

``layout="auto"`` tries them in this order and takes the first that finds cases.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tumorsynth.errors import InputError, OptionError

__all__ = ["LAYOUTS", "CaseFiles", "discover_cases", "natural_key"]


@dataclass(frozen=True)
class CaseFiles:
    """One case on disk.

    Attributes:
        name: a unique case name (used for output folders).
        image: the CT file.
        mask: the liver mask or label map.
        liver_label: mask values that are liver (None: every non-zero voxel).
        tumor_label: mask value of real tumors (None: the case is healthy by construction).
        layout: which layout found it.
    """

    name: str
    image: Path
    mask: Path
    liver_label: tuple[int, ...] | None
    tumor_label: int | None
    layout: str


_NII = r"\.nii(?:\.gz)?$"


def _strip(name: str) -> str:
    return re.sub(_NII, "", name)


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in (".nii.gz", ".nii"):
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def natural_key(s: str) -> list[object]:
    """Sort key that orders numbers by value: ``case2`` before ``case10`` (the one natural sort)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _lits(root: Path) -> list[CaseFiles]:
    out = []
    for vol in sorted(root.rglob("volume-*.nii*"), key=lambda p: natural_key(p.name)):
        n = re.match(r"volume-(\d+)" + _NII, vol.name)
        if not n:
            continue
        seg = _find(vol.parent, f"segmentation-{n.group(1)}")
        if seg is None:
            # the LiTS download splits volumes and segmentations into sibling folders
            for cand in root.rglob(f"segmentation-{n.group(1)}.nii*"):
                seg = cand
                break
        if seg is None:
            raise InputError(f"{vol}: no segmentation-{n.group(1)}.nii[.gz] found for this LiTS volume; "
                             "add it or move the volume out of the dataset folder")
        out.append(CaseFiles(f"lits-{n.group(1)}", vol, seg, (1, 2), 2, "lits"))
    return out


def _msd(root: Path) -> list[CaseFiles]:
    out = []
    for images in sorted(root.rglob("imagesTr")):
        labels = images.parent / "labelsTr"
        if not labels.is_dir():
            continue
        for img in sorted(images.glob("*.nii*"), key=lambda p: natural_key(p.name)):
            if img.name.startswith("._"):
                continue
            stem = re.sub(r"_0000$", "", _strip(img.name))
            lab = _find(labels, stem)
            if lab is None:
                raise InputError(f"{img}: no label {stem}.nii.gz in {labels}; add it or remove the image")
            out.append(CaseFiles(stem, img, lab, (1, 2), 2, "msd"))
    return out


def _btcv(root: Path) -> list[CaseFiles]:
    out = []
    for img_dir in sorted(root.rglob("img")):
        lab_dir = img_dir.parent / "label"
        if not lab_dir.is_dir():
            continue
        for img in sorted(img_dir.glob("img*.nii*"), key=lambda p: natural_key(p.name)):
            num = _strip(img.name)[3:]
            lab = _find(lab_dir, f"label{num}")
            if lab is not None:
                out.append(CaseFiles(f"btcv-{num}", img, lab, (6,), None, "btcv"))
    return out


def _totalseg(root: Path) -> list[CaseFiles]:
    out = []
    for ct in sorted(root.rglob("ct.nii*"), key=lambda p: natural_key(str(p))):
        folder = ct.parent
        organ = _find(folder / "segmentations", "liver")
        name = folder.name if folder != root else _strip(ct.name)
        if organ is not None:
            out.append(CaseFiles(name, ct, organ, None, None, "totalseg"))
            continue
        for stem in ("segmentations", "seg", "totalseg", "labels"):
            ml = _find(folder, stem)
            if ml is not None:
                out.append(CaseFiles(name, ct, ml, (5,), None, "totalseg"))
                break
    return out


_PAIR_SUFFIXES = ("_liver", "_seg", "_mask", "_label", "_labels")


def _pairs(root: Path) -> list[CaseFiles]:
    out = []
    files = sorted((p for p in root.rglob("*.nii*") if re.search(_NII, p.name)), key=lambda p: natural_key(str(p)))
    masks = {p for p in files if any(_strip(p.name).endswith(s) for s in _PAIR_SUFFIXES)}
    for img in files:
        if img in masks:
            continue
        stem = _strip(img.name)
        for suf in _PAIR_SUFFIXES:
            m = _find(img.parent, stem + suf)
            if m is not None:
                liver = (5,) if suf == "_seg" and "totalseg" in str(img).lower() else None
                out.append(CaseFiles(stem, img, m, liver, None, "pairs"))
                break
    return out


def _csv(path: Path) -> list[CaseFiles]:
    out = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the case list ({exc.strerror})") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"image", "mask"} <= set(rows[0]):
        raise InputError(f"{path}: a case list needs a header with columns image,mask "
                         "(optional: name, liver_label)")
    seen: set[str] = set()
    for n, row in enumerate(rows, start=2):
        img = (path.parent / row["image"].strip()).resolve()
        mask = (path.parent / row["mask"].strip()).resolve()
        name = (row.get("name") or "").strip() or _strip(img.name)
        if name in seen:
            raise InputError(f"{path}: line {n}: case name {name!r} appears twice; give a unique name column")
        seen.add(name)
        lab = (row.get("liver_label") or "").strip()
        try:
            liver = tuple(int(v) for v in lab.split(";")) if lab else None
        except ValueError:
            raise InputError(f"{path}: line {n}: liver_label {lab!r} is not a list of integers (use 5 or 1;2)") from None
        out.append(CaseFiles(name, img, mask, liver, None, "csv"))
    return out


LAYOUTS: dict[str, Callable[[Path], list[CaseFiles]]] = {
    "lits": _lits,
    "msd": _msd,
    "btcv": _btcv,
    "totalseg": _totalseg,
    "pairs": _pairs,
}


def discover_cases(root: str | os.PathLike[str], *, layout: str = "auto") -> list[CaseFiles]:
    """Find the cases under ``root`` (a folder, or a ``.csv`` case list).

    Raises :class:`InputError` when nothing is found, naming the layouts tried.

    Example:
        >>> cases = discover_cases("LiTS/")  # doctest: +SKIP
        >>> cases[0].name, cases[0].liver_label  # doctest: +SKIP
        ('lits-0', (1, 2))
    """
    path = Path(root)
    if not path.exists():
        raise InputError(f"{path}: not found; give a folder of cases or a .csv case list")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise InputError(f"{path}: a batch input is a folder of cases or a .csv list with columns image,mask")
        return _csv(path)
    if layout != "auto" and layout not in LAYOUTS:
        raise OptionError(f"layout {layout!r} is unknown; choose auto, {', '.join(LAYOUTS)}")
    order = list(LAYOUTS) if layout == "auto" else [layout]
    for name in order:
        found = LAYOUTS[name](path)
        if found:
            names = [c.name for c in found]
            if len(set(names)) != len(names):
                found = [CaseFiles(f"{c.name}-{i}", c.image, c.mask, c.liver_label, c.tumor_label, c.layout)
                         for i, c in enumerate(found)]
            return found
    raise InputError(
        f"{path}: no cases found (looked for layouts {', '.join(order)}: e.g. volume-N/segmentation-N, "
        "imagesTr+labelsTr, CASE/ct.nii.gz+segmentations/liver.nii.gz, NAME.nii.gz+NAME_liver.nii.gz); "
        "or pass a .csv with columns image,mask"
    )
