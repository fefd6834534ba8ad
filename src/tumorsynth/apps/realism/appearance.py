"""Appearance features of one lesion on a common isotropic grid.

The lesion's crop (plus a margin) is resampled to ``iso_mm`` voxels (linear interpolation for
the CT, nearest neighbour for the labels), so that every scan, whatever its spacing, is measured
on the same grid. On that grid, with ``d`` the signed distance to the lesion's label surface
(mm, negative inside; half-voxel convention: a voxel centre one step from the surface is at
``+-iso_mm/2``):

``lesion``      lesion voxels with ``d <= -1`` mm (away from the partial-volume edge).
``rim``         liver-label voxels with ``3 <= d <= 10`` mm, at least 2 mm from any voxel that
                is neither liver nor this lesion (the liver border, other lesions: partial
                volume with fat or another lesion would bias the rim), vessels excluded.
                Vessels: rim voxels brighter than the rim median + 2.5 robust SD (robust SD =
                1.4826 x median absolute deviation): bright tubes of contrast-enhanced blood, not
                parenchyma.
``contrast_hu``         lesion mean - rim median.
``heterogeneity``       robust SD of the lesion / robust SD of the rim.
``fine_texture_ratio``  robust SD of the high-pass residual ``x - G_1mm * x`` (Gaussian of
                        sigma 1 mm) in the lesion core (``d <= -2.5`` mm) / the same in the rim;
                        scanner noise is the same in both and cancels: 1 when the lesion's fine
                        grain is that of the parenchyma. NaN under 30 voxels in either.
``edge_width_mm``       10-90 % width ``2.563 sigma`` of ``a + b Phi((d - c) / sigma)`` fitted to
                        the mean HU profile binned by ``d`` (0.5 mm bins, -8..+8 mm; lesion and
                        liver voxels, vessels excluded outside).
``edge_offset_mm``      ``c``: where the half-contrast point sits relative to the label surface
                        (0: the label boundary is at half contrast; > 0: the label is too tight).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage, optimize, special

__all__ = ["APPEARANCE_KEYS", "appearance_features", "robust_sd"]

APPEARANCE_KEYS = ("contrast_hu", "heterogeneity", "fine_texture_ratio", "edge_width_mm",
                   "edge_offset_mm", "lesion_mean_hu", "rim_median_hu", "rim_sd_hu")

# codes of the label crop handed to appearance_features
LESION, OTHER_TUMOR, LIVER = 1, 2, 3

RIM_MM = (3.0, 10.0)
RIM_BORDER_MM = 2.0
LESION_EDGE_MM = -1.0
CORE_MM = -2.5
HIGHPASS_SIGMA_MM = 1.0
VESSEL_RSD = 2.5
PROFILE_MM = 8.0
PROFILE_BIN_MM = 0.5
MIN_RIM = 20
MIN_TEXTURE = 30
SMOOTH_BAND_MM = 8.5
# the erf's 10-90 % width in units of its sigma: 2 * Phi^-1(0.9)
WIDTH_PER_SIGMA = 2.0 * math.sqrt(2.0) * float(special.erfinv(0.8))
# margin (mm) the crop needs around the lesion: the rim, then the border test and the filter
CROP_MARGIN_MM = RIM_MM[1] + RIM_BORDER_MM + 2.0


def robust_sd(x: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the SD of Gaussian data, blind to a few outliers."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _to_iso(ct: np.ndarray, codes: np.ndarray, spacing: Sequence[float],
            iso_mm: float) -> tuple[np.ndarray, np.ndarray]:
    step = np.array([iso_mm / float(s) for s in spacing])
    shape = tuple(int(math.floor((n - 1) / st + 1e-9)) + 1 for n, st in zip(ct.shape, step, strict=True))
    x = ndimage.affine_transform(ct.astype(np.float32, copy=False), step, output_shape=shape, order=1,
                                 mode="nearest")
    c = ndimage.affine_transform(codes, step, output_shape=shape, order=0, mode="nearest")
    return x, c


def signed_distance(lesion: np.ndarray, iso_mm: float) -> np.ndarray:
    """Signed distance (mm, negative inside) to the surface of a binary mask on an isotropic grid.

    The surface is the marching-cubes surface (level 0.5) of the mask smoothed by a Gaussian of
    one voxel: a smooth surface through the middle of the label's boundary voxels. Within
    :data:`SMOOTH_BAND_MM` of it the distance is taken along the surface normal at the nearest
    surface vertex (exact for a locally flat surface); beyond, it is the Euclidean distance to
    the nearest voxel holding a surface vertex. (Distances to voxel centres, the usual
    half-voxel convention, are biased short, since the nearest of many centres lies closer than
    the smooth surface; that would squeeze a measured edge by about 10 %.) A mask with no
    surface falls back to that half-voxel convention.
    """
    from skimage.measure import marching_cubes

    phi = ndimage.gaussian_filter(lesion.astype(np.float32), 1.0, mode="constant")
    try:
        verts, _, normals, _ = marching_cubes(phi, level=0.5)
    except (ValueError, RuntimeError):
        verts = np.zeros((0, 3))
    if len(verts) == 0:
        h = 0.5 * iso_mm
        return np.where(lesion, -(ndimage.distance_transform_edt(lesion, sampling=iso_mm) - h),
                        ndimage.distance_transform_edt(~lesion, sampling=iso_mm) - h)
    # the nearest surface vertex of every voxel, through the voxels the vertices fall in (the
    # feature transform is much faster than a tree search; the lateral error it leaves does not
    # matter once the distance is taken along the normal)
    vox = np.clip(np.rint(verts).astype(np.intp), 0, np.array(lesion.shape) - 1)
    owner = np.full(lesion.shape, -1, dtype=np.int64)
    owner[vox[:, 0], vox[:, 1], vox[:, 2]] = np.arange(len(verts))
    dist, ind = ndimage.distance_transform_edt(owner < 0, return_indices=True)
    inside = phi >= 0.5
    d = np.where(inside, -dist, dist) * iso_mm
    band = dist * iso_mm <= SMOOTH_BAND_MM + 1.0
    nearest = owner[tuple(i[band] for i in ind)]
    pts = np.argwhere(band).astype(np.float64)
    along = np.einsum("ij,ij->i", pts - verts[nearest], normals[nearest])
    if np.median(np.where(inside[band], -along, along)) < 0:  # orient: positive outside
        along = -along
    d[band] = along * iso_mm
    return d


def _phi(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + special.erf(z / math.sqrt(2.0)))


def _fit_edge(d: np.ndarray, x: np.ndarray, lesion_level: float, liver_level: float,
              noise_sd: float) -> tuple[float, float]:
    """Fit the erf edge to the binned profile; ``(width_mm, offset_mm)`` or NaNs."""
    nan = (float("nan"), float("nan"))
    edges = np.arange(-PROFILE_MM, PROFILE_MM + 1e-9, PROFILE_BIN_MM)
    idx = np.floor((d + PROFILE_MM) / PROFILE_BIN_MM).astype(np.int64)
    ok = (idx >= 0) & (idx < edges.size - 1)
    idx, xv = idx[ok], x[ok].astype(np.float64)
    nb = edges.size - 1
    n = np.bincount(idx, minlength=nb).astype(np.float64)
    s1 = np.bincount(idx, weights=xv, minlength=nb)
    s2 = np.bincount(idx, weights=xv * xv, minlength=nb)
    keep = n >= 3
    centres = 0.5 * (edges[:-1] + edges[1:])
    if keep.sum() < 8 or not (centres[keep] < -1.0).any() or not (centres[keep] > 1.0).any():
        return nan
    n, mean = n[keep], s1[keep] / n[keep]
    var = np.maximum(s2[keep] / n - mean * mean, 0.0)
    se = np.sqrt(var / n)
    t = centres[keep]
    b0 = liver_level - lesion_level
    if not np.isfinite(b0) or abs(b0) < max(5.0, 4.0 * float(np.median(se)), 0.25 * noise_sd):
        return nan
    w = np.sqrt(n) / max(float(np.sqrt(np.median(var))), 1e-6)

    def resid(p: np.ndarray) -> np.ndarray:
        return w * (p[0] + p[1] * _phi((t - p[2]) / p[3]) - mean)

    span = 4.0 * abs(b0) + 200.0
    lo = [min(lesion_level, liver_level) - span, -span, -5.0, 0.05]
    hi = [max(lesion_level, liver_level) + span, span, 5.0, 8.0]
    best = None
    for s0 in (0.7, 1.5, 3.0):
        p0 = np.clip([lesion_level, b0, 0.0, s0], np.add(lo, 1e-6), np.subtract(hi, 1e-6))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = optimize.least_squares(resid, p0, bounds=(lo, hi), method="trf", max_nfev=400)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if r.success and np.all(np.isfinite(r.x)) and (best is None or r.cost < best.cost):
            best = r
    if best is None:
        return nan
    a, b, c, sig = (float(v) for v in best.x)
    at_bound = sig <= 0.051 or sig >= 7.9 or abs(c) >= 4.95
    if at_bound or abs(b) < 0.5 * abs(b0) or np.sign(b) != np.sign(b0):
        return nan
    return WIDTH_PER_SIGMA * sig, c


def appearance_features(ct: np.ndarray, codes: np.ndarray, spacing_mm: Sequence[float],
                        *, iso_mm: float = 1.0) -> dict[str, float]:
    """Appearance features of one lesion (see the module docstring for the definitions).

    Args:
        ct: HU crop around the lesion (with a margin of at least :data:`CROP_MARGIN_MM`).
        codes: uint8 crop on the same grid: 1 this lesion, 2 another lesion, 3 liver, 0 other.
        spacing_mm: voxel spacing of the crop.
        iso_mm: the isotropic grid the features are measured on.

    Returns:
        A dict with the keys of :data:`APPEARANCE_KEYS`; NaN for what cannot be measured.
    """
    out: dict[str, float] = {k: float("nan") for k in APPEARANCE_KEYS}
    x, c = _to_iso(ct, codes.astype(np.uint8, copy=False), spacing_mm, iso_mm)
    lesion = c == LESION
    if not lesion.any() or lesion.all():
        return out
    liver = c == LIVER
    d = signed_distance(lesion, iso_mm)
    border = ndimage.distance_transform_edt(lesion | liver, sampling=iso_mm)
    rim_all = liver & (d >= RIM_MM[0]) & (d <= RIM_MM[1]) & (border >= RIM_BORDER_MM)
    inner = lesion & (d <= LESION_EDGE_MM)
    if rim_all.sum() < MIN_RIM:
        return out
    xr = x[rim_all]
    threshold = float(np.median(xr)) + VESSEL_RSD * robust_sd(xr)
    rim = rim_all & (x <= threshold)
    if rim.sum() < MIN_RIM:
        return out
    rim_med, rim_sd = float(np.median(x[rim])), robust_sd(x[rim])
    out["rim_median_hu"], out["rim_sd_hu"] = rim_med, rim_sd
    if inner.sum() >= 5:
        lesion_mean = float(x[inner].mean())
        out["lesion_mean_hu"] = lesion_mean
        out["contrast_hu"] = lesion_mean - rim_med
        if rim_sd > 0:
            out["heterogeneity"] = robust_sd(x[inner]) / rim_sd
    core = lesion & (d <= CORE_MM)
    if core.sum() >= MIN_TEXTURE and rim.sum() >= MIN_TEXTURE:
        hp = x - ndimage.gaussian_filter(x, HIGHPASS_SIGMA_MM / iso_mm, mode="nearest")
        den = robust_sd(hp[rim])
        if den > 0:
            out["fine_texture_ratio"] = robust_sd(hp[core]) / den
    band = (np.abs(d) <= PROFILE_MM) & (lesion | (liver & (x <= threshold)))
    if np.isfinite(out["lesion_mean_hu"]):
        width, offset = _fit_edge(d[band], x[band], out["lesion_mean_hu"], rim_med, rim_sd)
        out["edge_width_mm"], out["edge_offset_mm"] = width, offset
    return out


def describe_definitions() -> dict[str, Any]:
    """The constants of the definitions above, recorded in the report's settings."""
    return {"rim_mm": list(RIM_MM), "rim_border_mm": RIM_BORDER_MM, "lesion_edge_mm": LESION_EDGE_MM,
            "core_mm": CORE_MM, "highpass_sigma_mm": HIGHPASS_SIGMA_MM, "vessel_robust_sd": VESSEL_RSD,
            "profile_mm": [-PROFILE_MM, PROFILE_MM], "profile_bin_mm": PROFILE_BIN_MM,
            "min_rim_voxels": MIN_RIM, "min_texture_voxels": MIN_TEXTURE}
