"""Datasets for training: case discovery, pre-flight checks, and the MONAI pipelines.

Cases come from :func:`tumorsynth.io.cases.discover_cases` (LiTS, MSD Task03, BTCV, TotalSegmentator,
plain 0/1 masks, or a CSV). Each becomes a dictionary::

    {"name": "lits-3", "image": ".../volume-3.nii", "label": ".../segmentation-3.nii",
     "liver_values": [1, 2], "tumor_value": 2, "synth": False}

and :class:`LiverLabelsd` maps the dataset's own label values to the project's convention
(0 background, 1 liver, 2 tumor) right after loading, so BTCV (liver 6) and TotalSegmentator
(liver 5) cases train side by side with LiTS.

:func:`check_cases` reads every header (and, by default, every label's values) before any
training starts, so a missing, mismatched or mislabeled file stops the run with one clear line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, MissingDependencyError
from tumorsynth.io.cases import CaseFiles, discover_cases, natural_key

__all__ = [
    "CaseFiles",
    "build_predict_transforms",
    "build_train_transforms",
    "build_val_transforms",
    "case_dicts",
    "check_cases",
    "find_cases",
]

log = logging.getLogger(__name__)


def find_cases(root_or_csv: str | os.PathLike[str], *, layout: str = "auto") -> list[CaseFiles]:
    """Cases of a dataset folder or CSV (:func:`tumorsynth.io.cases.discover_cases`), by name."""
    cases = list(discover_cases(root_or_csv, layout=layout))
    if not cases:
        raise InputError(f"{root_or_csv}: no cases found (layout {layout})")
    return sorted(cases, key=lambda c: natural_key(c.name))


def case_dicts(cases: Sequence[Any], *, synth: bool) -> list[dict[str, Any]]:
    """MONAI data dictionaries of discovered cases; ``synth`` marks healthy cases for synthesis."""
    out = []
    for c in cases:
        out.append({
            "name": str(c.name),
            "image": str(c.image),
            "label": str(c.mask),
            "liver_values": list(c.liver_label) if c.liver_label else [],
            "tumor_value": int(c.tumor_label) if c.tumor_label is not None else -1,
            "synth": bool(synth),
        })
    return out


# --------------------------------------------------------------------------------------------
# pre-flight checks


def check_cases(items: Sequence[Mapping[str, Any]], *, read_labels: bool = True, workers: int = 4) -> None:
    """Check every case before training: files exist, are 3-D NIfTI, image and mask share the
    grid, and (``read_labels``) the mask holds the expected label values.

    Raises :class:`InputError` for the first bad case, naming the file, the problem and the fix.
    """
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(lambda it: _check_one(it, read_labels), items):
            pass


def _check_one(item: Mapping[str, Any], read_labels: bool) -> None:
    import nibabel as nib

    shapes = {}
    affines = {}
    for key, what in (("image", "CT"), ("label", "mask")):
        p = Path(item[key])
        if not p.is_file():
            raise InputError(f"{p}: {what} of case '{item['name']}' not found; fix the dataset")
        try:
            img: Any = nib.load(str(p))
        except Exception as exc:  # nibabel raises many types for broken files
            raise InputError(f"{p}: {what} of case '{item['name']}' is not a readable NIfTI ({exc})") from None
        shape = tuple(int(s) for s in img.shape)
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) != 3:
            raise InputError(f"{p}: {what} has shape {img.shape}, expected a 3-D volume")
        shapes[key] = shape
        affines[key] = np.asarray(img.affine, dtype=float)
        if key == "label" and read_labels:
            _check_label_values(np.asanyarray(img.dataobj), item, p)
    if shapes["image"] != shapes["label"]:
        raise InputError(
            f"{item['label']}: mask shape {shapes['label']} differs from CT shape {shapes['image']} "
            f"({item['image']}); use the mask of this CT"
        )
    if not np.allclose(affines["image"], affines["label"], atol=1e-3, rtol=1e-4):
        raise InputError(
            f"{item['label']}: mask affine differs from the CT's ({item['image']}); the two are "
            "not on the same grid; resample the mask to the CT"
        )


def _check_label_values(arr: np.ndarray, item: Mapping[str, Any], path: Path) -> None:
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        arr = np.rint(arr)
    flat = arr.astype(np.int64, copy=False).ravel() if arr.dtype.kind != "u" else arr.ravel()
    if flat.size and int(flat.min()) >= 0 and int(flat.max()) < 65536:
        values = np.flatnonzero(np.bincount(flat))  # much faster than np.unique on big maps
    else:
        values = np.unique(flat)
    shown = ", ".join(str(int(v)) for v in values[:12]) + (" ..." if values.size > 12 else "")
    liver = [int(v) for v in item.get("liver_values") or []]
    tumor = int(item.get("tumor_value", -1))
    if liver:
        if not np.isin(liver, values).any():
            raise InputError(
                f"{path}: liver label {','.join(map(str, liver))} does not occur (values present: "
                f"{shown}); this mask does not match its dataset's labels, fix or remove it"
            )
    else:
        if not (values != 0).any():
            raise InputError(f"{path}: mask is empty; remove the case or fix its mask")
        extra = [int(v) for v in values if v not in (0, 1, tumor)]
        if extra:
            raise InputError(
                f"{path}: a 0/1 liver mask was expected but it holds values {shown}; it looks "
                "like a multi-label map; give the dataset's liver label (BTCV 6, TotalSegmentator 5)"
            )
    if item.get("synth") and tumor >= 0 and tumor in values:
        log.info("%s: marked healthy but holds tumor label %d; it will not get synthetic tumors",
                 path, tumor)


# --------------------------------------------------------------------------------------------
# transforms


def _monai() -> Any:
    try:
        import monai.transforms as mt
    except ModuleNotFoundError:
        raise MissingDependencyError("training needs MONAI: pip install 'tumorsynth[train]'") from None
    return mt


def _loading(cfg: Any, keys: tuple[str, ...]) -> list[Any]:
    """Load, map labels, RAS, resample; store the CT as int16 HU and the label as uint8.

    Rounding to whole HU after resampling changes nothing a CT can show and halves the memory
    of the cache and the cost of the copy it hands out per sample.
    """
    mt = _monai()
    modes = ["bilinear", "nearest"][: len(keys)]
    out = [
        mt.LoadImaged(keys=list(keys), image_only=True),
        mt.EnsureChannelFirstd(keys=list(keys)),
    ]
    if "label" in keys:
        from tumorsynth.integrations.monai import LiverLabelsd

        out.append(LiverLabelsd(keys="label"))
    out += [
        mt.Orientationd(keys=list(keys), axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
        mt.Spacingd(keys=list(keys), pixdim=tuple(cfg.spacing_mm), mode=modes),
        mt.CastToTyped(keys=list(keys), dtype=[np.int16, np.uint8][: len(keys)]),
    ]
    return out


def _scale(cfg: Any) -> Any:
    mt = _monai()
    lo, hi = cfg.hu_window
    return mt.ScaleIntensityRanged(keys="image", a_min=float(lo), a_max=float(hi),
                                   b_min=0.0, b_max=1.0, clip=True)


#: Crop centres per class kept in the cache (evenly spaced over the class's voxels).
MAX_CENTRES_PER_CLASS = 200_000


def build_train_transforms(cfg: Any, *, synth: bool) -> Any:
    """The training pipeline as one flat ``Compose`` (cacheable prefix, then random part).

    Cached: load, map labels, RAS, resample to ``cfg.spacing_mm`` (int16 HU, uint8 labels),
    pad to the patch size (air), crop centres per class, [PrepareLiverd].
    Random: crops centred on background / liver / tumor by ``cfg.crop_ratios`` [with tumors, in
    HU: RandTumorCropByLabelClassesd, which copies only the crops and centres the tumor class on
    the new tumor voxels], HU window -> [0, 1] (on the crops only),
    flips, rotations, intensity shift.
    """
    mt = _monai()
    patch = tuple(int(s) for s in cfg.patch_size)
    lo = float(cfg.hu_window[0])
    t = _loading(cfg, ("image", "label"))
    t += [
        mt.SpatialPadd(keys="image", spatial_size=patch, value=-1024),
        mt.SpatialPadd(keys="label", spatial_size=patch),
        # background centres only where the image is above the window's floor (no air/fat)
        mt.ClassesToIndicesd(keys="label", num_classes=3, indices_postfix="_cls_indices",
                             image_key="image", image_threshold=lo,
                             max_samples_per_class=MAX_CENTRES_PER_CLASS),
    ]
    keep = ["image", "label", "name"]
    if synth:
        from tumorsynth.integrations.monai import PrepareLiverd, RandTumorCropByLabelClassesd

        # tumors and crops in one step: only the crops are copied, never the whole case
        t.append(PrepareLiverd(("image", "label"), enable_key="synth"))
        t.append(RandTumorCropByLabelClassesd(
            ("image", "label"), patch, ratios=list(cfg.crop_ratios), num_classes=3,
            num_samples=int(cfg.crops_per_case), indices_key="label_cls_indices", warn=False,
            prob=cfg.synth_prob, presets=cfg.presets, enable_key="synth",
            max_indices=MAX_CENTRES_PER_CLASS, **cfg.synth_overrides))
        keep += ["tumor_params", "tumor_params_status"]
    else:
        t.append(mt.RandCropByLabelClassesd(
            keys=["image", "label"], label_key="label", spatial_size=patch,
            ratios=list(cfg.crop_ratios), num_classes=3, num_samples=int(cfg.crops_per_case),
            indices_key="label_cls_indices", warn=False,
        ))
    t += [mt.SelectItemsd(keys=keep), _scale(cfg)]
    if cfg.augment:
        t += [
            mt.RandFlipd(keys=["image", "label"], prob=0.1, spatial_axis=0),
            mt.RandFlipd(keys=["image", "label"], prob=0.1, spatial_axis=1),
            mt.RandFlipd(keys=["image", "label"], prob=0.1, spatial_axis=2),
            mt.RandRotate90d(keys=["image", "label"], prob=0.1, max_k=3),
            mt.RandShiftIntensityd(keys="image", offsets=0.1, prob=0.2),
        ]
    if synth:
        from tumorsynth.integrations.monai import check_pipeline

        check_pipeline(t)
    return mt.Compose(t)


def build_val_transforms(cfg: Any) -> Any:
    """Validation: load, map labels, RAS, resample, HU window (all deterministic, cacheable)."""
    mt = _monai()
    return mt.Compose([*_loading(cfg, ("image", "label")), _scale(cfg),
                       mt.SelectItemsd(keys=["image", "label", "name"])])


def build_predict_transforms(cfg: Any) -> Any:
    """Inference preprocessing of a CT alone (same grid and window as training)."""
    mt = _monai()
    return mt.Compose([*_loading(cfg, ("image",)), _scale(cfg)])
