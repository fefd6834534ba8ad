"""Preview images in plain numpy (no matplotlib needed): liver-window slices with label outlines.

:func:`render_slice` turns a 2-D CT slice (and optionally its label slice) into an RGB image;
:func:`radiological_slices` cuts axial, coronal and sagittal slices through a point and orients
them as radiologists read them (patient's right on the image's left, anterior up in axial
views, superior up in coronal and sagittal views), with square pixels in millimetres;
:func:`write_preview` writes the three side by side as a PNG. The figures of
:mod:`tumorsynth.apps.figures` use the same :func:`render_slice`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tumorsynth.io import spacing_from_affine, write_bytes_atomic

__all__ = [
    "LIVER_WINDOW",
    "encode_png",
    "radiological_slices",
    "render_slice",
    "write_preview",
]

LIVER_WINDOW = (400.0, 50.0)  # (width, level) in HU
TUMOR_RGB = (255, 60, 40)
LIVER_RGB = (60, 200, 90)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` that touch a pixel outside it (4-neighbourhood)."""
    m = np.pad(mask, 1, constant_values=False)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def render_slice(
    ct2d: np.ndarray,
    label2d: np.ndarray | None = None,
    *,
    window: tuple[float, float] = LIVER_WINDOW,
    outline: bool = True,
    liver_outline: bool = False,
) -> np.ndarray:
    """RGB uint8 image of a CT slice in a window ``(width, level)``, with label outlines.

    Tumor (label 2) outlines are drawn in red, the liver's (label >= 1) optionally in green.

    Example:
        >>> img = render_slice(np.zeros((4, 5)), np.array([[0, 2, 2, 0, 0]] * 4))
        >>> img.shape, img.dtype
        ((4, 5, 3), dtype('uint8'))
    """
    width, level = (float(v) for v in window)
    lo = level - width / 2
    g = np.clip((np.asarray(ct2d, dtype=np.float32) - lo) * (255.0 / max(width, 1e-6)), 0, 255)
    rgb = np.repeat(g.astype(np.uint8)[..., None], 3, axis=2)
    if label2d is not None and outline:
        lab = np.asarray(label2d)
        if liver_outline:
            rgb[_outline(lab >= 1)] = LIVER_RGB
        rgb[_outline(lab == 2)] = TUMOR_RGB
    return rgb


def _ras_view(vol: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A view of ``vol`` with axes in RAS order and directions; returns (view, perm, flips)."""
    import nibabel as nib

    ornt = nib.orientations.io_orientation(affine)
    perm = np.argsort(ornt[:, 0]).astype(int)  # array axis feeding each RAS axis
    flips = ornt[perm, 1] < 0
    view = np.transpose(vol, perm)
    sl = tuple(slice(None, None, -1) if f else slice(None) for f in flips)
    return view[sl], perm, flips


def _stretch_rows(img: np.ndarray, row_mm: float, col_mm: float) -> np.ndarray:
    """Nearest-neighbour stretch so that rows and columns have the same size in mm."""
    if abs(row_mm - col_mm) < 1e-3 * col_mm:
        return img
    n = max(1, int(round(img.shape[0] * row_mm / col_mm)))
    idx = np.minimum((np.arange(n) * img.shape[0] / n).astype(int), img.shape[0] - 1)
    return img[idx]


def radiological_slices(
    vol: np.ndarray,
    affine: np.ndarray,
    point_vox: Sequence[float],
) -> dict[str, np.ndarray]:
    """Axial, coronal and sagittal slices of ``vol`` through ``point_vox``, display-oriented.

    Works for any orientation and spacing of the volume (nearest slice; rows stretched to
    square millimetre pixels).
    """
    view, perm, flips = _ras_view(np.asarray(vol), np.asarray(affine))
    shape = np.asarray(vol.shape)
    p = np.asarray(point_vox, dtype=float)[perm]
    p = np.where(flips, shape[perm] - 1 - p, p)
    i, j, k = (int(np.clip(round(float(v)), 0, n - 1)) for v, n in zip(p, view.shape, strict=True))
    spacing = np.asarray(spacing_from_affine(affine))[perm]
    sx, sy, sz = (float(v) for v in spacing)
    axial = view[:, :, k].T[::-1, ::-1]  # rows: anterior -> posterior; cols: right -> left
    coronal = view[:, j, :].T[::-1, ::-1]  # rows: superior -> inferior; cols: right -> left
    sagittal = view[i, :, :].T[::-1, ::-1]  # rows: superior -> inferior; cols: anterior -> posterior
    return {
        "axial": _stretch_rows(axial, sy, sx),
        "coronal": _stretch_rows(coronal, sz, sx),
        "sagittal": _stretch_rows(sagittal, sz, sy),
    }


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an RGB (H, W, 3) or grey (H, W) uint8 image as PNG bytes (zlib only)."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    if img.ndim == 2:
        color, channels = 0, 1
    elif img.ndim == 3 and img.shape[2] == 3:
        color, channels = 2, 3
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {img.shape}")
    h, w = img.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * channels)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b"")


def write_preview(
    path: str | os.PathLike[str],
    ct: np.ndarray,
    label: np.ndarray | None,
    affine: np.ndarray,
    point_vox: Sequence[float],
    *,
    window: tuple[float, float] = LIVER_WINDOW,
    outline: bool = True,
    min_size: int = 384,
) -> Path:
    """Write axial | coronal | sagittal slices through ``point_vox`` as one PNG (atomically).

    Panels are enlarged by an integer factor (nearest neighbour) to at least ``min_size`` pixels.
    """
    cts = radiological_slices(ct, affine, point_vox)
    labs = radiological_slices(label, affine, point_vox) if label is not None else None
    panels = [render_slice(cts[v], labs[v] if labs is not None else None, window=window,
                           outline=outline, liver_outline=True) for v in ("axial", "coronal", "sagittal")]
    scale = max(1, int(np.ceil(min_size / max(max(p.shape[:2]) for p in panels))))
    if scale > 1:
        panels = [np.repeat(np.repeat(p, scale, axis=0), scale, axis=1) for p in panels]
    height = max(p.shape[0] for p in panels)
    gap = np.zeros((height, 4, 3), np.uint8)
    row = []
    for n, p in enumerate(panels):
        pad = np.zeros((height - p.shape[0], p.shape[1], 3), np.uint8)
        row.append(np.concatenate([p, pad], axis=0))
        if n < len(panels) - 1:
            row.append(gap)
    return write_bytes_atomic(path, encode_png(np.concatenate(row, axis=1)))
