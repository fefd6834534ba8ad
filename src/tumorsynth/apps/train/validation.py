"""Validation: sliding-window inference and Dice on this process's validation cases."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from tumorsynth.apps.train.config import TrainConfig

__all__ = ["dice", "validate"]


def dice(pred: Any, gt: Any) -> float:
    """Dice of two boolean tensors; NaN when both are empty."""
    inter = float((pred & gt).sum())
    s = float(pred.sum()) + float(gt.sum())
    return 2.0 * inter / s if s > 0 else float("nan")


def validate(model: Any, loader: Any, cfg: TrainConfig, device: Any) -> dict[str, float]:
    """Sliding-window inference on this process's validation cases (on the resampled grid).

    Returns sums and counts: ``tumor_sum``/``tumor_n`` over cases with a tumor,
    ``liver_sum``/``liver_n`` over all cases.
    """
    import torch
    from monai.inferers import sliding_window_inference

    out = {"tumor_sum": 0.0, "tumor_n": 0.0, "liver_sum": 0.0, "liver_n": 0.0}
    model.eval()
    with torch.no_grad():
        for batch in loader:
            img = batch["image"].to(device)
            with _autocast(cfg, device):
                logits = sliding_window_inference(
                    img, roi_size=tuple(cfg.patch_size), sw_batch_size=int(cfg.sw_batch_size),
                    predictor=model, overlap=float(cfg.val_overlap), mode="gaussian",
                )
            assert isinstance(logits, torch.Tensor)
            pred = torch.argmax(logits, dim=1).cpu()
            lab = batch["label"][:, 0].cpu().round().long()
            for p, g in zip(pred, lab, strict=True):
                out["liver_sum"] += dice(p >= 1, g >= 1)
                out["liver_n"] += 1
                if bool((g == 2).any()):
                    out["tumor_sum"] += dice(p == 2, g == 2)
                    out["tumor_n"] += 1
    model.train()
    return out


def _autocast(cfg: TrainConfig, device: Any) -> AbstractContextManager[Any]:
    """Autocast of the run's ``amp`` setting on ``device`` (training and validation alike)."""
    from tumorsynth.apps.train.precision import autocast, resolve_precision

    return autocast(resolve_precision(cfg.amp, device), device)
