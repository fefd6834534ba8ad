"""The training and validation cases of a configuration, and a check of the generator options
before any step."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from tumorsynth.apps.train.config import TrainConfig
from tumorsynth.errors import InputError, OptionError

__all__ = ["check_synthesis_options", "resolve_data"]


def resolve_data(cfg: TrainConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Training and validation case dictionaries of a configuration, and a description.

    Validation cases are the real cases of the split's ``val`` list; the training cases depend
    on the regime (real: the split's ``train`` cases; synthetic: the healthy CTs;
    real+synthetic: both, each limited by ``max_real_cases`` / ``max_healthy_cases``).
    Raises :class:`InputError` when the split names a case that the real data lack.
    """
    from tumorsynth.apps.train.data import case_dicts, find_cases
    from tumorsynth.apps.train.splits import check_split, load_splits

    real = [c for root in cfg.real for c in find_cases(root, layout=cfg.real_layout)]
    healthy = [c for root in cfg.healthy for c in find_cases(root, layout=cfg.healthy_layout)]
    for group, what in ((real, "real"), (healthy, "healthy")):
        names = [c.name for c in group]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"{what} datasets: case name(s) {', '.join(dup[:5])} occur in two datasets; "
                             "rename them")
    info: dict[str, Any] = {"n_real_found": len(real), "n_healthy_found": len(healthy)}
    val_real: list[Any] = []
    train_real = list(real)
    if cfg.splits:
        splits = load_splits(cfg.splits)
        if cfg.fold >= len(splits):
            raise OptionError(f"fold {cfg.fold}: {cfg.splits} has only {len(splits)} folds (0..{len(splits) - 1})")
        split = splits[cfg.fold]
        check_split(split, [c.name for c in real], source=str(cfg.splits), fold=cfg.fold)
        tr, va = set(split["train"]), set(split["val"])
        train_real = [c for c in real if c.name in tr]
        val_real = [c for c in real if c.name in va]
        info.update(splits=str(cfg.splits), fold=cfg.fold)
    if cfg.max_real_cases is not None:
        train_real = train_real[: int(cfg.max_real_cases)]
    if cfg.max_healthy_cases is not None:
        healthy = healthy[: int(cfg.max_healthy_cases)]
    if cfg.regime == "real":
        train_items = case_dicts(train_real, synth=False)
    elif cfg.regime == "synthetic":
        train_items = case_dicts(healthy, synth=True)
    else:
        train_items = case_dicts(train_real, synth=False) + case_dicts(healthy, synth=True)
    val_items = case_dicts(val_real, synth=False)
    if not train_items:
        raise InputError(f"no training cases for regime '{cfg.regime}'; check the data paths and the split")
    overlap = {d["name"] for d in train_items} & {d["name"] for d in val_items}
    if overlap:
        raise InputError(f"case(s) {', '.join(sorted(overlap)[:5])} are both trained and validated on; "
                         "check the split and the datasets")
    info.update(n_train=len(train_items), n_val=len(val_items),
                train_cases=[d["name"] for d in train_items], val_cases=[d["name"] for d in val_items])
    return train_items, val_items, info


def check_synthesis_options(cfg: TrainConfig) -> None:
    """Run the tumor transforms once on a small phantom so bad generator options fail now."""
    if cfg.regime == "real":
        return
    import numpy as np
    import torch
    from monai.data import MetaTensor

    from tumorsynth import make_phantom
    from tumorsynth.integrations.monai import PrepareLiverd, RandTumord

    ph = make_phantom(shape=(64, 64, 48), spacing_mm=(4.0, 4.0, 5.0), rng=0)
    aff = torch.as_tensor(np.asarray(ph.affine, dtype=np.float64))
    d: dict[Hashable, Any] = {"image": MetaTensor(torch.as_tensor(ph.ct.astype(np.float32))[None], affine=aff),
         "label": MetaTensor(torch.as_tensor(ph.liver.astype(np.float32))[None], affine=aff),
         "name": "phantom (options check)"}
    t = RandTumord(("image", "label"), prob=1.0, presets=cfg.presets, **cfg.synth_overrides)
    t.set_random_state(seed=0)
    try:
        t(PrepareLiverd(("image", "label"))(d))
    except (TypeError, KeyError) as exc:
        raise OptionError(f"synth_overrides {cfg.synth_overrides}: rejected by the generator ({exc})") from None
