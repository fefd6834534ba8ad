"""Networks (MONAI) and checkpoints that know which network they belong to.

A model is described by a small JSON-able *spec* (``{"name": "unet", "in_channels": 1, ...}``)
stored in every checkpoint, so ``predict`` rebuilds the right network and a resumed run refuses
a checkpoint of another model before any training starts.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tumorsynth.errors import InputError, MissingDependencyError, OptionError

__all__ = [
    "SWIN_FEATURE_SIZES",
    "build_model",
    "describe_spec",
    "load_checkpoint",
    "model_spec",
    "save_checkpoint",
    "state_checksum",
]

#: Swin UNETR feature sizes of the paper's tiny, small and base variants.
SWIN_FEATURE_SIZES = {"swin_unetr_tiny": 12, "swin_unetr_small": 24, "swin_unetr_base": 48}
CHECKPOINT_FORMAT = "tumorsynth-checkpoint-1"


def model_spec(cfg: Any) -> dict[str, Any]:
    """The spec of the model a :class:`~tumorsynth.apps.train.config.TrainConfig` asks for."""
    spec: dict[str, Any] = {"name": cfg.model, "in_channels": 1, "out_channels": 3}
    if cfg.model == "unet":
        spec.update(channels=[int(c) for c in cfg.unet_channels],
                    strides=[int(s) for s in cfg.unet_strides],
                    num_res_units=int(cfg.unet_res_units))
    elif cfg.model in SWIN_FEATURE_SIZES:
        spec.update(feature_size=SWIN_FEATURE_SIZES[cfg.model])
    else:
        from tumorsynth.apps.train.config import MODEL_NAMES, _unknown

        raise OptionError(_unknown("model", cfg.model, MODEL_NAMES))
    return spec


def describe_spec(spec: dict[str, Any]) -> str:
    """Short human description, e.g. ``unet(16,32,64,128,256)``."""
    if spec.get("name") == "unet":
        return f"unet({','.join(map(str, spec.get('channels', [])))})"
    return str(spec.get("name"))


def build_model(spec: dict[str, Any], *, checkpointing: bool = False) -> Any:
    """Build the MONAI network of a spec (weights freshly initialised)."""
    try:
        from monai.networks.nets import UNet
    except ModuleNotFoundError:
        raise MissingDependencyError("training needs MONAI: pip install 'tumorsynth[train]'") from None
    name = spec["name"]
    if name == "unet":
        return UNet(
            spatial_dims=3, in_channels=int(spec["in_channels"]),
            out_channels=int(spec["out_channels"]), channels=tuple(spec["channels"]),
            strides=tuple(spec["strides"]), num_res_units=int(spec["num_res_units"]),
            norm="instance",
        )
    if name in SWIN_FEATURE_SIZES:
        from monai.utils import OptionalImportError

        try:
            from monai.networks.nets import SwinUNETR

            return SwinUNETR(
                in_channels=int(spec["in_channels"]), out_channels=int(spec["out_channels"]),
                feature_size=int(spec["feature_size"]), spatial_dims=3,
                use_checkpoint=bool(checkpointing),
            )
        except (ModuleNotFoundError, OptionalImportError) as exc:
            raise OptionError(
                f"Swin UNETR needs einops ({exc}): pip install 'monai[einops]'"
            ) from None
    raise OptionError(f"unknown model '{name}' in model spec; use one of unet, {', '.join(SWIN_FEATURE_SIZES)}")


def state_checksum(state: dict[str, Any]) -> str:
    """SHA-256 of a state dict's tensors (names and bytes, in key order)."""
    import torch

    h = hashlib.sha256()
    for key in sorted(state):
        v = state[key]
        if isinstance(v, torch.Tensor):
            h.update(key.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    import torch

    from tumorsynth.io import atomic_path

    payload = {"format": CHECKPOINT_FORMAT, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, str(tmp))
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike[str], *, expect_spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read a tumorsynth checkpoint; check it belongs to ``expect_spec`` when given.

    Raises :class:`InputError` for a missing or foreign file, and for a checkpoint of another
    model (naming both models), so a run fails before training starts.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: checkpoint not found; check the path")
    try:
        ckpt = torch.load(str(p), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        raise InputError(f"{p}: not a readable PyTorch checkpoint ({str(exc)[:100]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model_spec" not in ckpt:
        raise InputError(
            f"{p}: not a tumorsynth checkpoint (no model spec); use a checkpoint written by "
            "`tumorsynth train`"
        )
    if expect_spec is not None and ckpt["model_spec"] != expect_spec:
        raise InputError(
            f"{p}: checkpoint of model {describe_spec(ckpt['model_spec'])}, but this run trains "
            f"{describe_spec(expect_spec)}; use a checkpoint of the same model or another output "
            "folder"
        )
    return ckpt
