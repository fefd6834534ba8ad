"""Mixed precision: one setting (``amp``) for training, validation and inference.

``amp`` is one of

* ``"auto"`` (default): bf16 autocast on GPUs that support it, fp16 with a gradient scaler on
  older GPUs, full precision on CPUs;
* ``"bf16"``: bfloat16 autocast (on GPUs that support it, and on CPUs; no scaler needed: bf16
  has float32's exponent range);
* ``"fp16"``: float16 autocast with a ``torch.amp.GradScaler`` for the backward pass (small
  gradients would underflow in fp16 without it);
* ``"off"``: full precision (float32).

``True`` and ``False`` (tumorsynth 0.2's values) mean ``"auto"`` and ``"off"``. A checkpoint
records the setting and inference resolves it on its own device, so a model trained in bf16 is
evaluated in bf16, and one trained with ``amp="off"`` is never run in reduced precision.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tumorsynth.errors import OptionError

__all__ = ["AMP_CHOICES", "autocast", "grad_scaler", "normalize_amp", "resolve_precision"]

AMP_CHOICES = ("auto", "bf16", "fp16", "off")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "none", "fp32", "float32")


def normalize_amp(amp: Any) -> str:
    """The ``amp`` setting as one of :data:`AMP_CHOICES` (booleans and aliases accepted)."""
    if isinstance(amp, bool) or amp is None:
        return "auto" if amp else "off"
    text = str(amp).strip().lower()
    if text in _TRUE:
        return "auto"
    if text in _FALSE:
        return "off"
    aliases = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
    text = aliases.get(text, text)
    if text not in AMP_CHOICES:
        raise OptionError(f"amp: {amp!r}, expected one of {', '.join(AMP_CHOICES)} (or true/false)")
    return text


def _bf16_supported(torch: Any) -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported())
    except Exception:  # old drivers raise instead of answering
        return False


def resolve_precision(amp: Any, device: Any) -> str:
    """What ``amp`` means on ``device``: ``"bf16"``, ``"fp16"`` or ``"off"``.

    Example:
        >>> import torch
        >>> resolve_precision("auto", torch.device("cpu")), resolve_precision("bf16", torch.device("cpu"))
        ('off', 'bf16')
    """
    import torch

    mode = normalize_amp(amp)
    kind = getattr(device, "type", str(device))
    if mode == "off":
        return "off"
    if kind == "cuda":
        if mode == "auto":
            return "bf16" if _bf16_supported(torch) else "fp16"
        if mode == "bf16" and not _bf16_supported(torch):
            raise OptionError("amp: 'bf16' but this GPU does not support bfloat16; use amp='fp16' "
                              "(with a gradient scaler) or 'auto'")
        return mode
    if kind == "cpu":
        return "off" if mode == "auto" else mode
    return "off"  # other devices (mps, ...): full precision unless a future version knows better


def autocast(precision: str, device: Any) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` for a resolved precision (``contextlib.nullcontext`` for ``"off"``)."""
    if precision == "off":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=getattr(device, "type", str(device)), dtype=dtype)


def grad_scaler(precision: str, device: Any) -> Any:
    """A ``torch.amp.GradScaler``, enabled only for fp16."""
    import torch

    return torch.amp.GradScaler(getattr(device, "type", str(device)), enabled=precision == "fp16")
