"""Blinded volumes: a reader study's case files carry nothing but voxels and spacing.

Every volume is turned to RAS, given a bare affine and a fresh header, gzipped without name or
time stamp and given a fixed file time, so that nothing in a file reveals its source.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["FIXED_MTIME", "blinded_affine", "to_ras", "write_blinded_nifti"]

# Every blinded file gets this modification time, so that file times reveal no build order.
FIXED_MTIME = 946684800.0  # 2000-01-01T00:00:00Z


def to_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Reorder and flip the axes of ``data`` to the closest RAS+ orientation; return the spacing."""
    import nibabel as nib

    from tumorsynth.io import spacing_from_affine

    ornt = nib.orientations.io_orientation(affine)
    out = nib.orientations.apply_orientation(data, ornt)
    sp_in = spacing_from_affine(affine)
    sp = [0.0, 0.0, 0.0]
    for i in range(3):
        sp[int(ornt[i, 0])] = sp_in[i]
    return np.ascontiguousarray(out), (sp[0], sp[1], sp[2])


def blinded_affine(shape: Sequence[int], spacing_mm: Sequence[float]) -> np.ndarray:
    """A bare RAS affine: the spacing on the diagonal, the volume centre at the origin."""
    aff = np.diag([float(s) for s in spacing_mm] + [1.0])
    aff[:3, 3] = -np.asarray(spacing_mm, dtype=float) * (np.asarray(shape[:3], dtype=float) - 1) / 2
    return aff


def write_blinded_nifti(path: Path, data: np.ndarray, spacing_mm: Sequence[float], dtype: str) -> None:
    """Write a NIfTI with a fresh header (no description, no intent, no aux file, no
    extensions), a bare affine, gzip without name or time stamp, and a fixed file time."""
    import nibabel as nib

    from tumorsynth.io import write_bytes_atomic

    target = np.dtype(dtype)
    arr = np.asarray(data)
    if target.kind in "iu" and arr.dtype != target:
        info = np.iinfo(target)
        arr = np.clip(np.rint(arr), info.min, info.max)
    arr = arr.astype(target.newbyteorder("<"), copy=False)  # little endian, as the viewer reads it
    aff = blinded_affine(arr.shape, spacing_mm)
    img = nib.Nifti1Image(arr, aff)
    img.set_data_dtype(target.newbyteorder("<"))
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_slope_inter(1.0, 0.0)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    payload = gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)
    write_bytes_atomic(path, payload)
    os.chmod(path, 0o644)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def _crop_box(mask: np.ndarray, spacing_mm: Sequence[float], margin_mm: float) -> tuple[slice, ...]:
    idx = np.nonzero(mask)
    box = []
    for d in range(3):
        pad = int(np.ceil(margin_mm / spacing_mm[d]))
        lo = max(0, int(idx[d].min()) - pad)
        hi = min(mask.shape[d], int(idx[d].max()) + 1 + pad)
        box.append(slice(lo, hi))
    return tuple(box)
