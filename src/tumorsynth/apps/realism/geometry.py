"""Shape features of one lesion on its own voxel grid: sphericity and elongation.

Both are measured on the scan's own grid (no resampling), so they must not depend on the voxel
spacing. The marching-cubes surface of a binary mask overestimates the area of a smooth surface
by an amount that depends on the grid (staircases on thick slices), so the raw sphericity
``pi^(1/3) (6 V)^(2/3) / A`` of a lesion is divided by the raw sphericity of a digitised sphere of
the same volume on the same grid, measured the same way: a digitised sphere then scores 1 at
any spacing, and a lobulated or elongated lesion scores less.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from tumorsynth.errors import MissingDependencyError

__all__ = ["elongation", "raw_sphericity", "require_skimage", "sphere_reference", "sphericity"]

# Sub-voxel offsets of the reference sphere's centre (fractions of a voxel); the reference is
# the mean over them, so the digitisation luck of one placement does not set the scale.
_OFFSETS = ((0.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.25, 0.4, 0.15), (0.4, 0.1, 0.35))
# Reference spheres larger than this many voxels in their box are measured at this size instead
# (the normalised area bias has converged by then; it depends on the spacing ratios only).
_MAX_REF_VOXELS = 1_500_000
# Volumes are grouped in 1 % steps (log scale) for the reference cache.
_VOLUME_STEP = math.log(1.01)


def require_skimage() -> None:
    """Raise a helpful :class:`OptionError` when scikit-image is not installed."""
    try:
        import skimage.measure  # noqa: F401
    except ModuleNotFoundError:
        raise MissingDependencyError("the realism report needs scikit-image: pip install 'tumorsynth[realism]'") from None


def _mc_area(mask: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """Marching-cubes area (mm^2) of a binary mask, padded with one empty voxel on every side."""
    from skimage.measure import marching_cubes, mesh_surface_area

    vol = np.pad(mask.astype(np.float32), 1)
    verts, faces, _, _ = marching_cubes(vol, level=0.5, spacing=tuple(float(s) for s in spacing_mm))
    return float(mesh_surface_area(verts, faces))


def raw_sphericity(volume_mm3: float, area_mm2: float) -> float:
    """``pi^(1/3) (6 V)^(2/3) / A``: 1 for a perfect sphere, less for any other shape."""
    if not (volume_mm3 > 0 and area_mm2 > 0):
        return float("nan")
    return float(math.pi ** (1 / 3) * (6.0 * volume_mm3) ** (2 / 3) / area_mm2)


def _digitised_sphere(radius_mm: float, spacing: tuple[float, float, float],
                      offset: tuple[float, float, float]) -> np.ndarray:
    axes = []
    for s, o in zip(spacing, offset, strict=True):
        n = int(math.ceil(radius_mm / s)) + 1
        axes.append((np.arange(-n, n + 1, dtype=np.float64) + o) * s)
    r2 = (axes[0] ** 2)[:, None, None] + (axes[1] ** 2)[None, :, None] + (axes[2] ** 2)[None, None, :]
    return r2 <= radius_mm * radius_mm


@functools.lru_cache(maxsize=4096)
def _reference(spacing: tuple[float, float, float], volume_key: int) -> float:
    volume = math.exp(volume_key * _VOLUME_STEP)
    vox = spacing[0] * spacing[1] * spacing[2]
    radius = (3.0 * volume / (4.0 * math.pi)) ** (1 / 3)
    box = math.prod(2 * (radius / s + 2) for s in spacing)
    if box > _MAX_REF_VOXELS:  # converged regime: measure a smaller sphere on the same grid
        radius *= (_MAX_REF_VOXELS / box) ** (1 / 3)
    offsets = _OFFSETS if box < _MAX_REF_VOXELS / 4 else _OFFSETS[:2]
    values = []
    for off in offsets:
        sphere = _digitised_sphere(radius, spacing, off)
        n = int(sphere.sum())
        if n == 0:
            continue
        values.append(raw_sphericity(n * vox, _mc_area(sphere, spacing)))
    return float(np.mean(values)) if values else float("nan")


def sphere_reference(volume_mm3: float, spacing_mm: Sequence[float]) -> float:
    """Raw sphericity of a digitised sphere of ``volume_mm3`` on a grid of ``spacing_mm``.

    Cached by (spacing to 1e-4 mm, volume in 1 % steps); the mean over a few sub-voxel
    placements of the sphere's centre.
    """
    if not volume_mm3 > 0:
        return float("nan")
    key = tuple(round(float(s), 4) for s in spacing_mm)
    return _reference(key, round(math.log(volume_mm3) / _VOLUME_STEP))  # type: ignore[arg-type]


def sphericity(mask: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """Grid-normalised sphericity of a binary mask (one lesion, cropped): 1 for a digitised sphere.

    Example:
        >>> ball = _digitised_sphere(12.0, (0.8, 0.8, 2.5), (0.0, 0.0, 0.0))
        >>> abs(sphericity(ball, (0.8, 0.8, 2.5)) - 1.0) < 0.02
        True
    """
    require_skimage()
    m = np.asarray(mask, dtype=bool)
    n = int(m.sum())
    if n == 0:
        return float("nan")
    vol = n * float(np.prod(spacing_mm))
    raw = raw_sphericity(vol, _mc_area(m, spacing_mm))
    return float(raw / sphere_reference(vol, spacing_mm))


def elongation(coords_vox: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """``sqrt(largest / smallest eigenvalue)`` of the physical covariance of the voxel centres.

    ``coords_vox`` is an ``(n, 3)`` array of voxel indices. Each voxel is a box, not a point:
    its own variance ``s^2 / 12`` per axis is added, so a lesion one slice thick still has a
    finite extent along that axis (1 for a sphere, 2 for a 2:1 ellipsoid).
    """
    c = np.asarray(coords_vox, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 2:
        return float("nan")
    s = np.asarray(spacing_mm, dtype=np.float64)
    cov = np.cov(c * s, rowvar=False) + np.diag(s * s / 12.0)
    ev = np.linalg.eigvalsh(cov)
    if not ev[0] > 0:
        return float("nan")
    return float(np.sqrt(ev[-1] / ev[0]))
