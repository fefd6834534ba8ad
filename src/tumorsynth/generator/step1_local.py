"""The liver's own level from place to place, for contrasts a reader would see (step 1).

A liver's parenchyma is not one HU everywhere: perfusion, fatty infiltration, beam hardening
near the ribs and streaks shift it regionally, by 10 to 20 HU on an ordinary scan. A reader
judges a lesion against the liver around it, and so does the realism report (its rim, 3 to 10 mm
outside the lesion). :func:`local_parenchyma_map` (run once in ``prepare``) smooths the
parenchyma's cells without vessels into a coarse map; :func:`local_parenchyma_hu` reads it around
a planned tumor, and ``sample_params`` draws the contrast against that level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from tumorsynth.generator.kernels.grids import block_mean

__all__ = ["LOCAL_CELL_MM", "LOCAL_SMOOTH_MM", "RIM_MM", "local_parenchyma_hu", "local_parenchyma_map"]

#: Cells of the local parenchyma map (mm) and the Gaussian it is smoothed with (mm): coarser than
#: any texture, finer than the regional changes of a liver (perfusion, beam hardening, streaks).
LOCAL_CELL_MM = 6.0
LOCAL_SMOOTH_MM = 8.0
#: Cells further than this from the parenchyma (HU) are not parenchyma: cysts, calcifications,
#: lesions already there (a floor; 4 robust SDs of the cells where the scan is noisier).
LOCAL_OUTLIER_HU = 30.0
#: The map is unknown (NaN) where less than this share of the smoothed neighbourhood is parenchyma.
MIN_SHARE = 0.05


def local_parenchyma_map(ct_cells: np.ndarray, liver_frac: np.ndarray, vessel_cells: np.ndarray,
                         cell_mm: tuple[float, ...], parenchyma: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The parenchyma's level around each place: mean HU of whole-liver cells without vessels, in
    blocks of about :data:`LOCAL_CELL_MM`, then a normalised Gaussian convolution of
    :data:`LOCAL_SMOOTH_MM` (NaN where no such cell is near). Returns the map and the block size
    in coarse cells."""
    factor = tuple(max(1, int(round(LOCAL_CELL_MM / c))) for c in cell_mm)
    # whole-liver cells one cell in from the border (partial volume with fat), without vessels
    valid = ndimage.binary_erosion(liver_frac >= 0.99, border_value=0) & ~vessel_cells
    vals = ct_cells[valid]
    if vals.size:
        spread = 1.4826 * float(np.median(np.abs(vals - parenchyma)))
        valid &= np.abs(ct_cells - parenchyma) <= max(LOCAL_OUTLIER_HU, 4.0 * spread)
    weight = block_mean(valid, factor)  # share of parenchyma cells per block
    weighted = block_mean(np.where(valid, ct_cells, 0.0), factor)
    sigma = [LOCAL_SMOOTH_MM / (c * f) for c, f in zip(cell_mm, factor, strict=True)]
    num = ndimage.gaussian_filter(weighted, sigma=sigma, mode="constant", truncate=2.5)
    den = ndimage.gaussian_filter(weight, sigma=sigma, mode="constant", truncate=2.5)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where under 5 % of the neighbourhood is parenchyma
        local = np.where(den > MIN_SHARE, num / den, np.nan).astype(np.float32)
    return local, factor  # type: ignore[return-value]


#: Where the liver around a tumor is read: this far outside its ellipsoid (mm), the middle of the
#: 3-10 mm rim the realism report compares a lesion with.
RIM_MM = 6.5
_RIM_DIRECTIONS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
                            if (i, j, k) != (0, 0, 0)], dtype=np.float64)
_RIM_DIRECTIONS /= np.linalg.norm(_RIM_DIRECTIONS, axis=1, keepdims=True)


def local_parenchyma_hu(prep: Any, centre_vox: Sequence[float], semi_axes_mm: Sequence[float],
                        rotation: np.ndarray) -> float:
    """The parenchyma's level around a tumor: the median of ``prep.local_parenchyma`` (``prep``: a
    :class:`~tumorsynth.generator.step1_prepare.Prepared`) at 26 points :data:`RIM_MM` outside the ellipsoid (``rotation``: its axes as columns); the global
    ``parenchyma_hu`` where fewer than 4 of them lie in known liver."""
    local = prep.local_parenchyma  # None: built by hand, or a 0.4 cache (the class default)
    if local is None:
        return float(prep.parenchyma_hu)
    a = np.asarray(semi_axes_mm, dtype=np.float64)
    surface = (_RIM_DIRECTIONS * a) @ np.asarray(rotation, dtype=np.float64).T  # (26, 3) mm
    r = np.linalg.norm(surface, axis=1, keepdims=True)
    points_mm = surface * (1.0 + RIM_MM / np.maximum(r, 1e-6))
    vox = np.asarray(centre_vox, dtype=np.float64) + points_mm / np.asarray(prep.spacing_mm)
    origin = np.array([b[0] for b in prep.bbox], dtype=np.float64)
    cell = np.floor((vox - origin) / np.asarray(prep.local_step, dtype=np.float64)).astype(np.int64)
    inside = np.all((cell >= 0) & (cell < np.array(local.shape)), axis=1)
    vals = local[tuple(cell[inside].T)]
    vals = vals[np.isfinite(vals)]
    return float(np.median(vals)) if vals.size >= 4 else float(prep.parenchyma_hu)
