"""Reading and writing MONAI dictionaries for the tumor transforms (internal helpers).

Case names, channel 0 of an image as numpy, the voxel spacing from a MetaTensor affine or a meta
dict, putting results back with the template's type and meta, the HU check of a cached image,
and the preset weights of :class:`tumorsynth.integrations.monai.RandTumord`.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from tumorsynth.errors import InputError, OptionError
from tumorsynth.generator.step1_prepare import check_ct_hu
from tumorsynth.io.nifti import spacing_from_affine


def _case_name(d: Mapping[Hashable, Any], key: Hashable) -> str:
    """A readable name of the case for error messages: ``name`` entry or the source file."""
    name = d.get("name")
    if name:
        return str(name)
    x = d.get(key)
    meta = getattr(x, "meta", None) or d.get(f"{key}_meta_dict") or {}
    src = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    return str(src) if src else f"'{key}'"


def _channel0(x: Any, *, key: Hashable, case: str) -> np.ndarray:
    """Channel 0 of a channel-first image as a numpy array (no copy when possible)."""
    arr: np.ndarray
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        t = t.as_tensor() if isinstance(t, MetaTensor) else t
        arr = t.numpy()
    else:
        arr = np.asarray(x)
    if arr.ndim != 4:
        raise InputError(
            f"{case}: '{key}' has shape {tuple(arr.shape)}, expected channel-first (C, i, j, k); "
            "add EnsureChannelFirstd before the tumor transforms"
        )
    return arr[0]


def _spacing_of(d: Mapping[Hashable, Any], key: Hashable, *, case: str) -> tuple[float, float, float]:
    """Voxel spacing (mm) of image ``key``, from the MetaTensor affine or the meta dict."""
    x = d[key]
    affine = getattr(x, "affine", None) if isinstance(x, MetaTensor) else None
    if affine is None:
        meta = d.get(f"{key}_meta_dict")
        affine = meta.get("affine") if isinstance(meta, Mapping) else None
    if affine is None:
        raise InputError(
            f"{case}: no affine found for '{key}' (not a MetaTensor, no '{key}_meta_dict'); "
            "load the image with LoadImaged or pass spacing_mm= to the transform"
        )
    return spacing_from_affine(affine)


def _like(template: Any, arr: np.ndarray) -> Any:
    """``arr`` (spatial) put back as channel 0 of a container like ``template``, meta kept."""
    if isinstance(template, torch.Tensor):
        t = torch.from_numpy(np.ascontiguousarray(arr)[None]).to(
            dtype=template.dtype, device=template.device
        )
        if template.shape[0] > 1:  # several channels: replace channel 0 only
            t = torch.cat([t, template[1:].detach().clone().as_subclass(torch.Tensor)], dim=0)
        if isinstance(template, MetaTensor):
            out = MetaTensor(t)
            out.copy_meta_from(template, copy_attr=True)
            return out
        return t
    res = np.array(template, copy=True)
    res[0] = arr
    return res


def _has_value(label: np.ndarray, value: int) -> bool:
    """Whether a label array holds ``value`` (integer fast path; floats are rounded)."""
    if label.dtype.kind in "iub":
        return bool((label == value).any())
    return bool((np.abs(label - value) < 0.5).any())


def _check_hu(ct: np.ndarray, liver: np.ndarray, *, case: str) -> None:
    """Refuse an image that is not in HU (the usual mistake: intensity scaling came first)."""
    check_ct_hu(ct, liver, source=case,
                scaled_fix="put PrepareLiverd/RandTumord before ScaleIntensityRanged")


def _normalize_weights(presets: str | Sequence[str] | Mapping[str, float]) -> dict[str, float]:
    """Preset choice as ``{name: probability}``, names checked against ``tumorsynth.PRESETS``."""
    from tumorsynth import PRESETS

    if isinstance(presets, str):
        weights = {presets: 1.0}
    elif isinstance(presets, Mapping):
        weights = {str(k): float(v) for k, v in presets.items()}
    else:
        weights = {str(k): 1.0 for k in presets}
    if not weights:
        raise OptionError("RandTumord presets: empty; give at least one of " + ", ".join(PRESETS))
    for name, w in weights.items():
        if name not in PRESETS:
            close = difflib.get_close_matches(name, list(PRESETS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise OptionError(
                f"RandTumord presets: unknown tumor type '{name}'{hint} "
                f"(choose from {', '.join(PRESETS)})"
            )
        if not np.isfinite(w) or w < 0:
            raise OptionError(f"RandTumord presets: weight of '{name}' is {w}, expected >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise OptionError("RandTumord presets: all weights are 0; give at least one positive weight")
    return {k: v / total for k, v in weights.items()}
