"""``tumorsynth nnunet export``: an nnU-Net v2 raw dataset from tumorsynth's dataset layouts.

Writes ``OUT/DatasetNNN_NAME/``::

    imagesTr/CASE_0000.nii.gz   the CTs in HU (copied; .nii converted to .nii.gz)
    labelsTr/CASE.nii.gz        0 background, 1 liver, 2 tumor (on the CT's grid, uint8)
    dataset.json                channel 0 "CT" (nnU-Net's CT normalisation), the labels, and a
                                "tumorsynth" block: regime, healthy and real cases, the tumor
                                types and weights, probability, generator knobs, seed, splits
    splits_final.json           the folds of the regime (copy it next to the preprocessed data,
                                or let nnUNetTrainerTumorSynth do it)
    tumorsynth_export.json      what was done: inputs, options, versions

Splits: the folds are over the real cases (a split file from ``tumorsynth splits``, or made
here with ``folds`` and ``seed``); each fold validates on its real ``val`` cases and trains on
its real ``train`` cases (regimes ``real`` and ``real+synthetic``) and on every healthy case
(regimes ``synthetic`` and ``real+synthetic``). Healthy cases are never validated on. Without
real cases there is one fold that validates on the first healthy case (nnU-Net needs a
validation case; it gets no synthetic tumors there).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, OptionError, OutputExistsError

__all__ = ["DEFAULT_PRESETS", "REGIMES", "export_dataset", "regime_splits"]

log = logging.getLogger(__name__)

REGIMES = ("real", "synthetic", "real+synthetic")
#: The paper's training mixture: the five tumor types with probability 0.2 each.
DEFAULT_PRESETS: dict[str, float] = {"tiny": 0.2, "small": 0.2, "medium": 0.2, "large": 0.2, "mix": 0.2}

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _identifier(name: str) -> str:
    ident = _SAFE.sub("_", name).strip("._")
    if not ident:
        raise InputError(f"case name {name!r} gives no usable nnU-Net identifier; rename the case")
    return ident


def regime_splits(real: Sequence[str], healthy: Sequence[str], regime: str, *,
                  folds: Sequence[Mapping[str, Sequence[str]]] | None = None, n_folds: int = 5,
                  seed: int = 12345) -> list[dict[str, list[str]]]:
    """The nnU-Net splits of a regime (see the module docstring).

    Example:
        >>> regime_splits(["r1", "r2"], ["h1"], "synthetic", n_folds=2, seed=0)
        [{'train': ['h1'], 'val': ['r2']}, {'train': ['h1'], 'val': ['r1']}]
    """
    from tumorsynth.apps.train.splits import make_splits

    if regime not in REGIMES:
        raise OptionError(f"regime '{regime}': expected one of {', '.join(REGIMES)}")
    if regime != "synthetic" and not real:
        raise OptionError(f"regime '{regime}' needs real tumor cases: give --real")
    if regime != "real" and not healthy:
        raise OptionError(f"regime '{regime}' needs healthy cases: give --healthy")
    if not real:
        return [{"train": sorted(healthy), "val": sorted(healthy)[:1]}]
    base: list[dict[str, Any]] = [dict(f) for f in folds] if folds is not None else make_splits(real, n_folds=n_folds, seed=seed)
    known = set(real)
    out = []
    for k, f in enumerate(base):
        bad = [n for n in list(f.get("train", [])) + list(f.get("val", [])) if n not in known]
        if bad:
            raise InputError(f"split fold {k}: cases {', '.join(bad[:5])} are not among the real "
                             "cases exported; use the split file of this dataset")
        train = (list(f["train"]) if regime != "synthetic" else []) + (
            sorted(healthy) if regime != "real" else [])
        out.append({"train": train, "val": list(f["val"])})
    return out


def _write_label(src_mask: Path, ct_path: Path, dst: Path, liver_values: Sequence[int],
                 tumor_value: int | None) -> dict[str, int]:
    import nibabel as nib

    ct: Any = nib.load(str(ct_path))
    m: Any = nib.load(str(src_mask))
    arr = np.asanyarray(m.dataobj)
    arr = np.rint(arr).astype(np.int64) if arr.dtype.kind == "f" else arr
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    liver = np.isin(arr, list(liver_values)) if liver_values else arr != 0
    out = np.zeros(arr.shape, dtype=np.uint8)
    out[liver] = 1
    if tumor_value is not None:
        out[arr == tumor_value] = 2
    if not (out == 1).any() and not (out == 2).any():
        raise InputError(f"{src_mask}: no liver voxel (label {list(liver_values) or 'non-zero'}); "
                         "fix the mask or its liver label")
    header = ct.header.copy()
    header.set_data_dtype(np.uint8)
    img = nib.Nifti1Image(out, ct.affine, header=header)
    img.set_qform(ct.affine, code=int(ct.header["qform_code"]) or 1)
    img.set_sform(ct.affine, code=int(ct.header["sform_code"]) or 1)
    nib.save(img, str(dst))
    return {"liver": int((out == 1).sum()), "tumor": int((out == 2).sum())}


def _write_image(src: Path, dst: Path) -> None:
    if src.name.endswith(".nii.gz"):
        shutil.copyfile(src, dst)
        return
    import nibabel as nib

    img: Any = nib.load(str(src))
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, header=img.header), str(dst))


def export_dataset(
    out_dir: str | os.PathLike[str],
    *,
    healthy: Sequence[str | os.PathLike[str]] = (),
    real: Sequence[str | os.PathLike[str]] = (),
    dataset_id: int = 501,
    name: str = "TumorSynth",
    regime: str = "synthetic",
    splits: str | os.PathLike[str] | None = None,
    n_folds: int = 5,
    split_seed: int = 12345,
    presets: Mapping[str, float] | None = None,
    prob: float = 1.0,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    layout: str = "auto",
    overwrite: bool = False,
    check_labels: bool = True,
) -> dict[str, Any]:
    """Write an nnU-Net v2 raw dataset (see the module docstring); return the export record.

    Args:
        out_dir: the ``nnUNet_raw`` folder (the dataset goes into ``DatasetNNN_NAME`` there).
        healthy: datasets of healthy CTs with liver masks (any layout ``tumorsynth batch``
            reads: folders or CSVs), for on-the-fly synthesis.
        real: datasets with real tumors (LiTS, MSD Task03, CSV).
        dataset_id, name: nnU-Net's dataset number (1..999) and name.
        regime: ``real``, ``synthetic`` or ``real+synthetic`` (which cases each fold trains on).
        splits: a split file over the real cases (``tumorsynth splits``); default: made here
            from ``n_folds`` and ``split_seed``.
        presets, prob, overrides: the tumor types and weights (default: the paper's five at
            0.2), the probability of tumors in a healthy sample, and generator knobs (as for
            :func:`tumorsynth.sample_params`); checked here on a phantom.
        seed: base seed of the trainer's data workers.
        overwrite: replace an existing dataset folder of the same id.
        check_labels: read every mask before writing (values, grids).
    """
    from tumorsynth._version import __version__
    from tumorsynth.apps.train.data import case_dicts, check_cases, find_cases
    from tumorsynth.apps.train.splits import load_splits

    if not 1 <= int(dataset_id) <= 999:
        raise OptionError(f"dataset_id: {dataset_id}, expected 1..999 (nnU-Net's dataset numbers)")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise OptionError(f"name {name!r}: use letters, digits, '_' or '-'")
    if not 0.0 <= float(prob) <= 1.0:
        raise OptionError(f"prob: {prob}, expected 0..1")
    weights = dict(DEFAULT_PRESETS if presets is None else presets)
    knobs = dict(overrides or {})
    _check_generator_options(weights, knobs)
    root = Path(out_dir)
    folder = root / f"Dataset{int(dataset_id):03d}_{name}"
    others = [p for p in root.glob(f"Dataset{int(dataset_id):03d}_*") if p != folder] if root.is_dir() else []
    if others:
        raise OutputExistsError(f"{others[0]}: dataset id {dataset_id} is taken by another dataset; "
                                "pick another --dataset-id")
    if folder.exists() and not overwrite:
        raise OutputExistsError(f"{folder} exists; pass --overwrite to replace it")

    items_h = [dict(d, kind="healthy") for src in healthy
               for d in case_dicts(find_cases(src, layout=layout), synth=True)]
    items_r = [dict(d, kind="real") for src in real
               for d in case_dicts(find_cases(src, layout=layout), synth=False)]
    items = items_h + items_r
    if not items:
        raise OptionError("nothing to export: give --healthy and/or --real datasets")
    check_cases(items, read_labels=check_labels, workers=2)
    ids: dict[str, dict[str, Any]] = {}
    for it in items:
        ident = _identifier(it["name"])
        if ident in ids:
            raise InputError(f"two cases are named '{ident}' ({ids[ident]['image']} and "
                             f"{it['image']}); rename one (case names must be unique)")
        ids[ident] = it
    healthy_ids = [i for i, it in ids.items() if it["kind"] == "healthy"]
    real_ids = [i for i, it in ids.items() if it["kind"] == "real"]
    folds = None
    if splits is not None:
        folds = [{"train": [_identifier(n) for n in f["train"]], "val": [_identifier(n) for n in f["val"]]}
                 for f in load_splits(splits)]
    split_list = regime_splits(real_ids, healthy_ids, regime, folds=folds, n_folds=n_folds, seed=split_seed)

    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "imagesTr").mkdir(parents=True)
    (tmp / "labelsTr").mkdir()
    counts = {}
    for ident, it in ids.items():
        _write_image(Path(it["image"]), tmp / "imagesTr" / f"{ident}_0000.nii.gz")
        tumor = it["tumor_value"] if it["tumor_value"] >= 0 else None
        counts[ident] = _write_label(Path(it["label"]), Path(it["image"]),
                                     tmp / "labelsTr" / f"{ident}.nii.gz", it["liver_values"], tumor)
    with_tumor = [i for i in healthy_ids if counts[i]["tumor"]]
    settings = {
        "version": __version__, "regime": regime, "healthy": [i for i in healthy_ids if i not in with_tumor],
        "real": real_ids, "presets": weights, "prob": float(prob), "overrides": knobs,
        "seed": int(seed), "liver_label": 1, "tumor_label": 2, "splits": split_list,
    }
    dataset_json = {
        "name": name,
        "description": "CT liver and liver tumor; healthy cases get synthetic tumors on the fly "
                       "with -tr nnUNetTrainerTumorSynth (tumorsynth)",
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "liver": 1, "tumor": 2},
        "numTraining": len(ids),
        "file_ending": ".nii.gz",
        "tumorsynth": settings,
    }
    (tmp / "dataset.json").write_text(json.dumps(dataset_json, indent=2) + "\n", encoding="utf-8")
    (tmp / "splits_final.json").write_text(json.dumps(split_list, indent=1) + "\n", encoding="utf-8")
    record = {"tumorsynth": __version__, "dataset": folder.name, "regime": regime,
              "healthy": [str(p) for p in healthy], "real": [str(p) for p in real],
              "cases": {i: {"kind": ids[i]["kind"], "image": ids[i]["image"], "label": ids[i]["label"],
                            **counts[i]} for i in ids},
              "healthy_with_tumor_label_not_synthesized": with_tumor, "splits": splits and str(splits)}
    (tmp / "tumorsynth_export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    log.info("nnU-Net dataset %s: %d healthy, %d real cases, %d folds (%s)", folder,
             len(healthy_ids), len(real_ids), len(split_list), regime)
    return {"folder": str(folder), **record}


def _check_generator_options(weights: Mapping[str, float], knobs: Mapping[str, Any]) -> None:
    """Refuse tumor types and knobs the generator refuses, before anything is written."""
    import tumorsynth as ts
    from tumorsynth.errors import NoRoomError

    for k, w in weights.items():
        if k not in ts.PRESETS:
            raise OptionError(f"presets: unknown tumor type '{k}' (choose from {', '.join(ts.PRESETS)})")
        if not w >= 0:
            raise OptionError(f"presets: weight of '{k}' is {w}, expected >= 0")
    if not sum(weights.values()) > 0:
        raise OptionError("presets: all weights are 0")
    ph = ts.make_phantom(shape=(64, 64, 48), spacing_mm=(2.0, 2.0, 2.5), rng=0)
    prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)
    try:
        ts.sample_params(prep, next(k for k, w in weights.items() if w > 0), rng=0, **dict(knobs))
    except NoRoomError:
        pass
