"""What a training run needs from its environment: PyTorch and MONAI, their versions, and the
user error behind an exception MONAI wrapped."""

from __future__ import annotations

import platform
from typing import Any

from tumorsynth.errors import MissingDependencyError, TumorsynthError

__all__ = ["unwrap_user_error", "versions"]


def _torch() -> Any:
    try:
        import monai  # noqa: F401
        import torch
    except ModuleNotFoundError:
        raise MissingDependencyError("training needs PyTorch and MONAI: pip install 'tumorsynth[train]'") from None
    return torch


def versions() -> dict[str, str]:
    """Versions of the software a run depends on (for the run record)."""
    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("tumorsynth", "torch", "monai", "scipy", "nibabel"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # a missing or odd module must not break the record
            out[mod] = "unknown"
    try:
        import torch

        out["cuda"] = str(torch.version.cuda)
        out["cudnn"] = str(torch.backends.cudnn.version())
    except Exception:
        pass
    return out


def unwrap_user_error(exc: BaseException) -> TumorsynthError | None:
    """The :class:`TumorsynthError` behind an exception MONAI wrapped (``applying transform``)."""
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, TumorsynthError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None
