"""The paper's protocol: k-fold cross-validation for models x regimes, then Table 5.

:func:`run_experiment` writes one folder per model, regime and fold::

    EXP/experiment.json                 what was asked (models, regimes, folds, config, seeds)
    EXP/splits_final.json               the split every regime uses (made once, seeded)
    EXP/gt/<case>.nii.gz                ground truth of the real cases, labels 0/1/2
    EXP/<model>_<regime>/fold_<k>/      a training run (see :mod:`tumorsynth.apps.train.engine`)
        pred/<case>.nii.gz              predictions of the fold's validation cases
        gt/<case>.nii.gz                links to EXP/gt for those cases
        eval/summary.json               :func:`tumorsynth.apps.evaluate.evaluate_folder`
    EXP/table5.md, table5.csv, table5.png   :func:`tumorsynth.apps.evaluate.collect_experiment`

It is resumable fold by fold: a fold with ``eval/summary.json`` is done and skipped; an
interrupted fold resumes its training from ``checkpoints/last.pt`` and its prediction from the
files already written. Under ``torchrun`` every process trains, rank 0 predicts and evaluates.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.apps.train.config import MODEL_NAMES, REGIMES, TrainConfig, _unknown
from tumorsynth.errors import InputError, OptionError

__all__ = ["fold_dir", "run_experiment"]

log = logging.getLogger(__name__)


def fold_dir(exp_dir: str | os.PathLike[str], model: str, regime: str, fold: int) -> Path:
    """``EXP/<model>_<regime>/fold_<k>``."""
    return Path(exp_dir) / f"{model}_{regime}" / f"fold_{fold}"


def _write_gt(item: dict[str, Any], target: Path) -> None:
    """The case's label map with the project's labels (0, 1 liver, 2 tumor), on its own grid."""
    from tumorsynth.io import load_nifti, save_nifti

    vol = load_nifti(item["label"], what="mask")
    lab = np.rint(np.asarray(vol.data)).astype(np.int64)
    out = np.zeros(lab.shape, np.uint8)
    liver = item.get("liver_values") or []
    if liver:
        out[np.isin(lab, liver)] = 1
    else:
        out[lab != 0] = 1
    if int(item.get("tumor_value", -1)) >= 0:
        out[lab == int(item["tumor_value"])] = 2
    save_nifti(target, out, like=vol, dtype=np.uint8)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    try:
        dst.symlink_to(os.path.relpath(src, dst.parent))
    except OSError:  # file systems without symlinks
        import shutil

        shutil.copyfile(src, dst)


def run_experiment(
    cfg: TrainConfig,
    exp_dir: str | os.PathLike[str],
    *,
    models: Sequence[str] = ("unet",),
    regimes: Sequence[str] = ("real", "synthetic"),
    folds: Sequence[int] | None = None,
    n_folds: int = 5,
    split_seed: int = 12345,
    preflight: bool = True,
    checkpoint: str = "last",
) -> dict[str, Any]:
    """Run (or resume) the k-fold protocol and write the Table 5 report.

    Args:
        cfg: the base configuration (data, recipe); ``model``, ``regime``, ``fold``, ``out``
            (and ``splits``, when not set) are filled in per run.
        exp_dir: the experiment folder.
        models, regimes: the rows of Table 5.
        folds: which folds to run (default all ``n_folds``).
        n_folds, split_seed: for the split made when ``cfg.splits`` is not given and
            ``EXP/splits_final.json`` does not exist yet.
        preflight: check every data file and label once before the first fold.
        checkpoint: which checkpoint predicts the fold's validation cases: ``"last"`` (the
            default: the validation fold is the test fold, so choosing the checkpoint on it
            would flatter the result) or ``"best"`` (best validation Dice).

    Returns ``{"runs": [...], "table": <collect_experiment result or None>}``.
    """
    from tumorsynth.apps.evaluate import collect_experiment, evaluate_folder
    from tumorsynth.apps.train.data import check_cases
    from tumorsynth.apps.train.engine import DistInfo, resolve_data, train, versions
    from tumorsynth.apps.train.inference import predict
    from tumorsynth.apps.train.splits import load_splits, make_splits, save_splits
    from tumorsynth.io import write_text_atomic

    for m in models:
        if m not in MODEL_NAMES:
            raise OptionError(_unknown("model", m, MODEL_NAMES))
    for r in regimes:
        if r not in REGIMES:
            raise OptionError(_unknown("regime", r, REGIMES))
    if checkpoint not in ("last", "best"):
        raise OptionError(f"checkpoint '{checkpoint}': choose last or best")
    if not cfg.real:
        raise OptionError("an experiment needs real-tumor data to validate on: set 'real' (--real LITS_DIR)")
    exp = Path(exp_dir)
    dist = DistInfo.setup(cfg.device)
    try:
        # ---- the split, shared by every regime ------------------------------------------
        split_path = Path(cfg.splits) if cfg.splits else exp / "splits_final.json"
        if dist.is_main and not split_path.is_file():
            from tumorsynth.apps.train.data import find_cases

            names = [c.name for root in cfg.real for c in find_cases(root, layout=cfg.real_layout)]
            save_splits(split_path, make_splits(names, n_folds=n_folds, seed=split_seed))
            log.info("wrote %s (%d folds, seed %d)", split_path, n_folds, split_seed)
        dist.barrier()  # every process, always: the others wait for the file
        splits = load_splits(split_path)
        fold_list = list(range(len(splits))) if folds is None else [int(k) for k in folds]
        for k in fold_list:
            if not 0 <= k < len(splits):
                raise OptionError(f"fold {k}: {split_path} has folds 0..{len(splits) - 1}")

        # ---- every check before the first fold -------------------------------------------
        base = copy.deepcopy(cfg)
        base.splits = str(split_path)
        per_run: list[tuple[str, str, int, TrainConfig]] = []
        all_items: dict[str, dict[str, Any]] = {}
        val_items: dict[str, dict[str, Any]] = {}
        for m in models:
            for r in regimes:
                for k in fold_list:
                    c = copy.deepcopy(base)
                    c.model, c.regime, c.fold = m, r, k
                    c.out = str(fold_dir(exp, m, r, k))
                    c.validate()
                    tr, va, _ = resolve_data(c)
                    for it in tr + va:
                        all_items[it["name"]] = it
                    for it in va:
                        val_items[it["name"]] = it
                    per_run.append((m, r, k, c))
        if preflight:
            check_cases(list(all_items.values()), read_labels=cfg.check_labels,
                        workers=max(1, cfg.cache_workers))
        if dist.is_main:
            exp.mkdir(parents=True, exist_ok=True)
            write_text_atomic(exp / "experiment.json", json.dumps({
                "models": list(models), "regimes": list(regimes), "folds": fold_list,
                "splits": str(split_path), "split_seed": split_seed, "checkpoint": checkpoint,
                "config": base.to_dict(),
                "versions": versions(),
            }, indent=2) + "\n")
            for name, it in sorted(val_items.items()):
                target = exp / "gt" / f"{name}.nii.gz"
                if not target.is_file():
                    _write_gt(it, target)
        dist.barrier()

        # ---- the runs ------------------------------------------------------------------------
        done = []
        for m, r, k, c in per_run:
            run = Path(c.out)
            summary_path = run / "eval" / "summary.json"
            if summary_path.is_file():
                log.info("%s: done, skipped", run)
                done.append({"model": m, "regime": r, "fold": k, "dir": str(run), "skipped": True})
                continue
            train(c, preflight=False)
            _, va, _ = resolve_data(c)
            if not va:
                raise InputError(f"{split_path}: fold {k} has no validation cases")
            # every process predicts its share of the validation cases; rank 0 evaluates
            mine = va[dist.rank::dist.world_size]
            if mine:
                predict(run / "checkpoints" / f"{checkpoint}.pt", [it["image"] for it in mine], run / "pred",
                        names=[f"{it['name']}.nii.gz" for it in mine], device=c.device,
                        overwrite=False, progress=c.progress and dist.is_main)
            dist.barrier()
            if dist.is_main:
                for it in va:
                    _link(exp / "gt" / f"{it['name']}.nii.gz", run / "gt" / f"{it['name']}.nii.gz")
                evaluate_folder(run / "pred", run / "gt", run / "eval",
                                meta={"model": m, "regime": r, "fold": k})
            dist.barrier()
            done.append({"model": m, "regime": r, "fold": k, "dir": str(run), "skipped": False})
        table = collect_experiment(exp, n_folds=len(splits)) if dist.is_main else None
        return {"runs": done, "table": table}
    finally:
        dist.close()
