"""Inference: sliding-window prediction, the paper's post-processing, NIfTI on the input grid.

:func:`predict` takes a checkpoint written by ``tumorsynth train`` (it carries the network and
the preprocessing: grid, HU window, patch size) and one CT or a folder of CTs. Each CT is
oriented to RAS and resampled like the training data, segmented with
``monai.inferers.sliding_window_inference`` (overlap 0.75, Gaussian weighting by default),
post-processed (:func:`postprocess`), and resampled back (nearest neighbour) onto the input's own
grid, so the output has the input's shape, affine and header: labels 0 background, 1 liver,
2 tumor, ``uint8``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, OptionError

__all__ = ["load_model", "postprocess", "predict", "predict_array", "to_input_grid"]

log = logging.getLogger(__name__)


def postprocess(
    labels: np.ndarray, spacing_mm: Sequence[float] = (1.0, 1.0, 1.0), *, tumor_margin_mm: float = 5.0
) -> np.ndarray:
    """Keep the largest liver component and the tumors near it.

    The liver is the largest 26-connected component of ``labels >= 1`` (liver and tumor); every
    other liver voxel is dropped. A tumor component outside it is kept when it comes within
    ``tumor_margin_mm`` of that component (measured with the voxel spacing), else dropped.
    Returns a new ``uint8`` array; the input is not modified.

    Example:
        >>> lab = np.zeros((20, 20, 20), np.uint8); lab[2:10, 2:10, 2:10] = 1; lab[15:17, 15:17, 15:17] = 1
        >>> int((postprocess(lab) == 1).sum())
        512
    """
    from scipy import ndimage

    lab = np.asarray(labels).astype(np.uint8, copy=True)
    fg = lab >= 1
    if not fg.any():
        return lab
    structure = np.ones((3, 3, 3), bool)
    comp, n = ndimage.label(fg, structure=structure)
    if n > 1:
        sizes = np.bincount(comp.ravel())
        sizes[0] = 0
        liver = comp == int(np.argmax(sizes))
    else:
        liver = fg
    out = np.where(liver, lab, 0).astype(np.uint8)
    outside_tumor = (lab == 2) & ~liver
    if tumor_margin_mm > 0 and outside_tumor.any():
        # distance to the liver component, only inside a box around it grown by the margin
        sp = np.asarray(spacing_mm, float)
        pad = np.ceil(tumor_margin_mm / sp).astype(int) + 1
        idx = np.argwhere(liver)
        lo = np.maximum(idx.min(0) - pad, 0)
        hi = np.minimum(idx.max(0) + pad + 1, lab.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        dist = ndimage.distance_transform_edt(~liver[box], sampling=sp)
        near = np.zeros_like(liver)
        near[box] = dist <= tumor_margin_mm
        tcomp, _ = ndimage.label(outside_tumor, structure=structure)
        keep = np.unique(tcomp[near & (tcomp > 0)])
        out[np.isin(tcomp, keep[keep > 0])] = 2
    return out


def to_input_grid(
    labels: np.ndarray, affine: Any, input_affine: np.ndarray, input_shape: Sequence[int]
) -> np.ndarray:
    """A label map on the resampled grid (``affine``) put back onto an input's own grid.

    Nearest-neighbour resampling in world coordinates (so reorientation and 1 mm resampling
    are both undone); returns ``uint8`` of shape ``input_shape`` in the input's voxel order.
    """
    import torch
    from monai.data import MetaTensor
    from monai.transforms import ResampleToMatch

    dst = MetaTensor(torch.zeros((1, *[int(s) for s in input_shape]), dtype=torch.uint8),
                     affine=torch.as_tensor(np.asarray(input_affine, dtype=np.float64)))
    src = MetaTensor(torch.from_numpy(np.asarray(labels, dtype=np.float32)[None]),
                     affine=torch.as_tensor(np.asarray(affine, dtype=np.float64)))
    back = ResampleToMatch(mode="nearest", padding_mode="zeros")(src, img_dst=dst)
    arr = np.rint(np.asarray(back[0].detach().cpu())).astype(np.uint8)
    if arr.shape != tuple(int(s) for s in input_shape):  # pragma: no cover - MONAI contract
        raise InputError(f"resampling back gave shape {arr.shape}, expected {tuple(input_shape)}")
    return arr


def load_model(checkpoint: str | os.PathLike[str], *, device: Any = "cpu") -> tuple[Any, dict[str, Any]]:
    """Rebuild the network of a tumorsynth checkpoint; return ``(model in eval mode, checkpoint)``."""
    import torch

    from tumorsynth.apps.train.models import build_model, load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = build_model(ckpt["model_spec"])
    model.load_state_dict(ckpt["model"])
    model.to(torch.device(device) if isinstance(device, str) else device).eval()
    return model, ckpt


def _resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError(f"device '{device}': no CUDA GPU is visible; use --device cpu")
    return torch.device(device)


class _Pre:
    """The preprocessing settings stored in a checkpoint, as attributes."""

    def __init__(self, pre: dict[str, Any]) -> None:
        self.spacing_mm = tuple(pre["spacing_mm"])
        self.hu_window = tuple(pre["hu_window"])
        self.patch_size = tuple(int(s) for s in pre["patch_size"])
        self.sw_overlap = float(pre.get("sw_overlap", 0.75))
        self.sw_batch_size = int(pre.get("sw_batch_size", 4))
        self.tumor_margin_mm = float(pre.get("tumor_margin_mm", 5.0))
        self.amp = str(pre.get("amp", "auto"))  # the training run's mixed-precision setting


def predict_array(
    model: Any, image: Any, pre: Any, *, device: Any, overlap: float | None = None,
    sw_batch_size: int | None = None, mode: str = "gaussian", amp: str | None = None,
) -> Any:
    """Label map (``1, i, j, k`` tensor on the resampled grid) of a preprocessed image tensor.

    Mixed precision follows ``amp`` (default: the training run's setting, ``pre.amp``),
    resolved on ``device`` by :func:`tumorsynth.apps.train.precision.resolve_precision`.
    """
    import torch
    from monai.inferers import sliding_window_inference

    from tumorsynth.apps.train.precision import autocast, resolve_precision

    precision = resolve_precision(getattr(pre, "amp", "auto") if amp is None else amp, device)
    with torch.no_grad():
        x = image[None].to(device) if image.ndim == 4 else image.to(device)
        with autocast(precision, device):
            logits = sliding_window_inference(
                x, roi_size=tuple(pre.patch_size),
                sw_batch_size=int(sw_batch_size or pre.sw_batch_size), predictor=model,
                overlap=float(pre.sw_overlap if overlap is None else overlap), mode=mode,
            )
        assert isinstance(logits, torch.Tensor)
        return torch.argmax(logits, dim=1).to(torch.uint8).cpu()


_MASK_NAME = re.compile(r"(^segmentation-\d+|_(liver|seg|mask|label|labels))\.nii(\.gz)?$", re.IGNORECASE)


def _inputs(path: Path) -> list[Path]:
    """The CTs of a file or folder; files named like masks (``segmentation-N``, ``*_liver``,
    ``*_seg``, ``*_mask``, ``*_label``) are skipped in a folder."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.lower().endswith((".nii", ".nii.gz"))
                       and not p.name.startswith("."))
        masks = [p for p in files if _MASK_NAME.search(p.name)]
        if masks:
            log.info("%s: skipping %d mask file(s) such as %s", path, len(masks), masks[0].name)
        files = [p for p in files if p not in masks]
        if not files:
            raise InputError(f"{path}: no CT (.nii or .nii.gz, not a mask) in this folder")
        return files
    if not path.exists():
        raise InputError(f"{path}: CT file or folder not found; check the path")
    return [path]


def predict(
    checkpoint: str | os.PathLike[str],
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    names: Sequence[str] | None = None,
    device: str = "auto",
    overlap: float | None = None,
    sw_batch_size: int | None = None,
    mode: str = "gaussian",
    postprocessing: bool = True,
    overwrite: bool = True,
    progress: bool = False,
    amp: str | None = None,
) -> list[Path]:
    """Segment CTs with a trained checkpoint; write label maps on each input's own grid.

    Args:
        checkpoint: a ``.pt`` file written by ``tumorsynth train``.
        inputs: a CT file, a folder of CTs, or a list of CT files (NIfTI, HU).
        out_dir: output folder; each output takes the input's file name unless ``names``
            gives one per input.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1`` ...
        overlap, sw_batch_size, mode: sliding-window settings (default: the checkpoint's,
            0.75 and Gaussian).
        postprocessing: keep the largest liver component and tumors near it.
        overwrite: replace existing outputs (else they are skipped, which resumes a folder).
        amp: mixed precision (``auto``, ``bf16``, ``fp16``, ``off``); default: the setting the
            checkpoint was trained with.

    Returns the written (or kept) output paths.
    """
    from tumorsynth.apps.train.data import build_predict_transforms
    from tumorsynth.apps.train.engine import unwrap_user_error
    from tumorsynth.io import load_nifti, save_nifti, spacing_from_affine

    if isinstance(inputs, (str, os.PathLike)):
        files = _inputs(Path(inputs))
    else:
        files = [Path(p) for p in inputs]
        for f in files:
            if not f.is_file():
                raise InputError(f"{f}: CT file not found; check the path")
    if names is not None and len(names) != len(files):
        raise OptionError(f"names: {len(names)} names for {len(files)} inputs")
    if mode not in ("gaussian", "constant"):
        raise OptionError(f"mode '{mode}': expected gaussian or constant")
    dev = _resolve_device(device)
    model, ckpt = load_model(checkpoint, device=dev)
    pre = _Pre(ckpt["preprocessing"])
    pre_tf = build_predict_transforms(pre)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    iterator: Any = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc="predict", unit="CT")
    for i, f in enumerate(iterator):
        target = out / (names[i] if names is not None else f.name)
        if target.exists() and not overwrite:
            written.append(target)
            continue
        vol = load_nifti(f, what="CT")  # clear errors for bad files; header for the output
        try:
            d = pre_tf({"image": str(f)})
        except Exception as exc:
            user = unwrap_user_error(exc)
            if user is not None:
                raise user from None
            raise
        img = d["image"]
        pred = predict_array(model, img, pre, device=dev, overlap=overlap,
                             sw_batch_size=sw_batch_size, mode=mode, amp=amp)
        lab = pred[0].numpy()
        if postprocessing:
            lab = postprocess(lab, spacing_from_affine(img.affine), tumor_margin_mm=pre.tumor_margin_mm)
        arr = to_input_grid(lab, img.affine, vol.affine, vol.shape)
        save_nifti(target, arr, like=vol, dtype=np.uint8)
        written.append(target)
        log.info("%s -> %s (tumor voxels: %d)", f, target, int((arr == 2).sum()))
    return written
