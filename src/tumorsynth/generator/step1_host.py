"""What the scanner did to the host CT: its noise and its resolution, measured on the host itself.

A synthetic tumor must look as if the same scanner had imaged it. Two properties of a scan are
the same in every tissue of similar density and are set by the scanner and the reconstruction,
not by the anatomy (SPEC 2b):

* **Noise**: its level and its spatial correlation (the reconstruction kernel and any
  resampling make neighbouring voxels correlated). Inside a tumor, which replaced the tissue it
  occupies, this is what the finest scale shows. :func:`estimate_noise` measures it in small
  blocks of homogeneous parenchyma deep inside the liver and away from vessels, from the
  variogram at lags 1 and 2 along each axis: ``V(j) = E[(x[i + j] - x[i])**2] = 2 s**2 (1 - rho(j))``.
  Smooth anatomy adds only ``j**2`` times its squared gradient, negligible in parenchyma, and
  the robust spread (MAD) of the differences ignores the few pairs across a vessel wall. The
  noise model is white noise filtered by a separable Gaussian of ``corr_vox[k]`` voxels per
  axis, whose discrete correlations reproduce ``V(2) / V(1)``.
* **Resolution**: every edge is blurred by the point-spread function and, on thick slices, by
  partial volume. :func:`estimate_resolution` fits error functions to 1-D profiles across the
  liver boundary along each axis (where the boundary is locally perpendicular to that axis and
  the contrast is strong, e.g. liver against fat) and takes the median width per axis.

Both run once per case in :func:`tumorsynth.prepare` on a few thousand voxels (milliseconds); the
results go into the parameter record, so a replay never measures again.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

__all__ = ["HostModel", "corr_from_ratio", "estimate_noise", "estimate_resolution", "gauss_kernel",
           "noise_lag1", "variogram_ratio"]

log = logging.getLogger(__name__)

PSF_SIGMA_MM = 0.5  # in-plane point spread of a standard soft-tissue kernel (fallback only)
MAX_CORR_VOX = 3.0  # noise correlation beyond this many voxels is taken as anatomy, not noise


@dataclass(frozen=True)
class HostModel:
    """The scanner's noise and resolution in one host CT (see the module docstring).

    Attributes:
        noise_sd_hu: standard deviation of the scanner noise (HU).
        corr_vox: Gaussian correlation width of the noise along each array axis (voxels; 0 = white).
        resolution_mm: standard deviation of the edge spread along each array axis (mm).
        measured: which of the two were measured on the host (the others are fallbacks).
    """

    noise_sd_hu: float
    corr_vox: tuple[float, float, float]
    resolution_mm: tuple[float, float, float]
    measured: tuple[str, ...] = ()


def gauss_kernel(sigma_vox: float) -> np.ndarray:
    """The discrete, unit-sum Gaussian kernel of ``sigma_vox`` voxels (radius 4 sigma; [1] when ~0)."""
    if sigma_vox < 0.05:
        return np.ones(1)
    r = max(1, int(math.ceil(4.0 * sigma_vox)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma_vox) ** 2)
    return k / k.sum()


def _corr(kernel: np.ndarray, lag: int) -> float:
    """Correlation at ``lag`` of white noise filtered by ``kernel``."""
    if lag >= kernel.size:
        return 0.0
    return float(np.dot(kernel[:-lag], kernel[lag:]) / np.dot(kernel, kernel))


@functools.lru_cache(maxsize=256)
def noise_lag1(sigma_vox: float) -> float:
    """Correlation of neighbouring voxels of the noise model of width ``sigma_vox``."""
    return _corr(gauss_kernel(sigma_vox), 1)


def variogram_ratio(sigma_vox: float) -> float:
    """``V(2) / V(1)`` of white noise filtered by :func:`gauss_kernel` (1 for white noise)."""
    k = gauss_kernel(sigma_vox)
    return (1.0 - _corr(k, 2)) / max(1.0 - _corr(k, 1), 1e-12)


@functools.cache
def _ratio_table() -> tuple[np.ndarray, np.ndarray]:
    sig = np.arange(0.0, MAX_CORR_VOX + 1e-9, 0.025)
    rat = np.array([variogram_ratio(float(s)) for s in sig])
    keep = np.concatenate([[True], np.diff(np.maximum.accumulate(rat)) > 1e-9])  # strictly rising
    return sig[keep], rat[keep]


def corr_from_ratio(ratio: float) -> float:
    """The correlation width (voxels) whose variogram ratio ``V(2) / V(1)`` is ``ratio``."""
    sig, rat = _ratio_table()
    if not np.isfinite(ratio) or ratio <= rat[0]:
        return 0.0
    return float(np.interp(ratio, rat, sig))  # the ratio rises with the width


def _robust_sq(d: np.ndarray) -> float:
    """Mean square of differences, from their MAD (robust to the few pairs across a vessel wall)."""
    if d.size < 50:
        return float("nan")
    med = float(np.median(d))
    return float((1.4826 * np.median(np.abs(d - med))) ** 2 + med**2)


def estimate_noise(ct: np.ndarray, centres: np.ndarray, spacing_mm: tuple[float, float, float],
                   *, max_blocks: int = 48, block_mm: float = 6.0) -> tuple[float, tuple[float, float, float]] | None:
    """Scanner noise SD (HU) and correlation widths (voxels per axis) from blocks of parenchyma.

    ``centres`` are voxel indices (N, 3) deep inside the liver and away from vessels (the caller
    picks them); blocks of ``2 block_mm`` around up to ``max_blocks`` of them are used. Returns
    None when there are too few (a thin liver, a tiny field of view).
    """
    if len(centres) == 0:
        return None
    pick = centres[np.unique(np.linspace(0, len(centres) - 1, min(max_blocks, len(centres))).astype(np.intp))]
    half = [max(2, int(round(block_mm / s))) for s in spacing_mm]
    blocks = []
    for c in pick:
        sl = []
        for k in range(3):
            lo = int(round(float(c[k]))) - half[k]
            hi = lo + 2 * half[k] + 1
            if lo < 0 or hi > ct.shape[k]:
                break
            sl.append(slice(lo, hi))
        else:
            blocks.append(np.asarray(ct[tuple(sl)], dtype=np.float32))
    if len(blocks) < 4:
        return None
    stack = np.stack(blocks)  # (B, n0, n1, n2); differences cancel each block's own level
    sd2, widths = [], []
    for k in range(3):
        ax = k + 1
        n = stack.shape[ax]
        d1 = np.diff(stack, axis=ax).ravel()
        d2 = (np.take(stack, np.arange(2, n), axis=ax) - np.take(stack, np.arange(0, n - 2), axis=ax)).ravel()
        v1, v2 = _robust_sq(d1), _robust_sq(d2)
        if not (np.isfinite(v1) and np.isfinite(v2)) or v1 <= 0:
            return None
        w = corr_from_ratio(v2 / v1)
        widths.append(min(w, MAX_CORR_VOX))
        sd2.append(v1 / (2.0 * max(1.0 - _corr(gauss_kernel(w), 1), 1e-6)))
    sd = float(math.sqrt(float(np.median(sd2))))
    return sd, (widths[0], widths[1], widths[2])


def _fit_edges(profiles: np.ndarray, t_mm: np.ndarray, step_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares fits of ``a + b Phi((t - c) / sigma)`` to each row of ``profiles``.

    A grid search over the centre ``c`` and width ``sigma`` with ``a`` and ``b`` solved in
    closed form for every candidate at once; returns (sigma_mm, contrast b, r2) per profile.
    """
    sig = np.geomspace(0.15, 5.0, 40)
    cen = np.arange(-1.0, 1.0001, 0.125) * step_mm
    cc, ss = np.meshgrid(cen, sig, indexing="ij")
    basis = ndtr((t_mm[None, :] - cc.reshape(-1, 1)) / ss.reshape(-1, 1))  # (M, L)
    bc = basis - basis.mean(axis=1, keepdims=True)
    bvar = np.maximum((bc * bc).sum(axis=1), 1e-12)
    pc = profiles - profiles.mean(axis=1, keepdims=True)
    ptot = np.maximum((pc * pc).sum(axis=1), 1e-12)
    cov = pc @ bc.T  # (N, M)
    explained = cov * cov / bvar[None, :]
    best = np.argmax(explained, axis=1)
    rows = np.arange(len(profiles))
    b = cov[rows, best] / bvar[best]
    r2 = explained[rows, best] / ptot
    return ss.reshape(-1)[best], b, r2


def estimate_resolution(ct: np.ndarray, liver: np.ndarray, spacing_mm: tuple[float, float, float],
                        *, max_profiles: int = 800, min_contrast_hu: float = 60.0,
                        min_profiles: int = 12) -> tuple[tuple[float, float, float], tuple[bool, bool, bool]]:
    """Edge spread (SD, mm) along each array axis, from profiles across the liver boundary.

    Along axis ``k``, a profile of +-6 mm (at least 3 voxels) is taken at each place where the
    liver mask changes between two voxels and the four neighbouring columns change at the same
    place at a distance of one step of the axis (the boundary is locally perpendicular to the axis,
within about 45 degrees); an error
    function is fitted to each, and the median width of the good fits (contrast of at least
    ``min_contrast_hu``, r2 >= 0.9) is the axis's resolution, never below the voxel's own extent
    ``s / sqrt(12)`` (a profile sampled at ``s`` cannot tell sharper edges apart). Axes with too few good fits get a
    fallback: a ``PSF_SIGMA_MM`` point spread combined with the voxel's own extent. The second
    value says which axes were measured.
    """
    out: list[float] = []
    measured: list[bool] = []
    ct = np.asarray(ct)
    for k in range(3):
        s = float(spacing_mm[k])
        fallback = math.sqrt(PSF_SIGMA_MM**2 + s * s / 12.0)
        half = max(3, int(math.ceil(6.0 / s)))
        m = np.moveaxis(liver, k, 0)
        v = np.moveaxis(ct, k, 0)
        n0 = m.shape[0]
        if n0 < 2 * half + 2 or min(m.shape[1:]) < 3:
            out.append(fallback)
            measured.append(False)
            continue
        others = [j for j in range(3) if j != k]
        # neighbour columns at least one step of this axis away (in mm): the boundary crosses them at
        # the same place only where it is within 45 degrees of perpendicular to the axis
        o1, o2 = (max(1, int(round(s / float(spacing_mm[j])))) for j in others)
        if min(m.shape[1] - 2 * o1, m.shape[2] - 2 * o2) < 1:
            out.append(fallback)
            measured.append(False)
            continue
        n1, n2 = m.shape[1], m.shape[2]
        # a sparse set of planes along the first other axis is plenty (hundreds of profiles)
        js = np.arange(o1, n1 - o1, max(1, (n1 - 2 * o1) // 48))

        def _change(cols: np.ndarray, m: np.ndarray = m) -> np.ndarray:
            sub = m[:, cols]
            return sub[1:] != sub[:-1]  # boundary between i and i + 1

        mid = _change(js)
        core = mid[:, :, o2:n2 - o2].copy()
        core &= _change(js - o1)[:, :, o2:n2 - o2]
        core &= _change(js + o1)[:, :, o2:n2 - o2]
        core &= mid[:, :, :n2 - 2 * o2]
        core &= mid[:, :, 2 * o2:]
        core[: half - 1] = False
        core[n0 - half:] = False
        idx = np.flatnonzero(core)
        if idx.size < min_profiles:
            out.append(fallback)
            measured.append(False)
            continue
        idx = idx[np.unique(np.linspace(0, idx.size - 1, min(max_profiles, idx.size)).astype(np.intp))]
        i, j, q = np.unravel_index(idx, core.shape)
        j = js[j]
        q = q + o2
        offs = np.arange(-half + 1, half + 1)  # voxels i - half + 1 .. i + half; the edge sits at i + 0.5
        rows = i[:, None] + offs[None, :]
        prof = v[rows, j[:, None], q[:, None]].astype(np.float64)
        inside_first = m[i, j, q]
        prof[~inside_first] = prof[~inside_first][:, ::-1]  # liver on the left of every profile
        t_mm = (offs - 0.5) * s
        sig, contrast, r2 = _fit_edges(prof, t_mm, s)
        good = (np.abs(contrast) >= min_contrast_hu) & (r2 >= 0.9)
        if int(good.sum()) < min_profiles:
            out.append(fallback)
            measured.append(False)
            continue
        est = float(np.median(sig[good]))
        out.append(float(np.clip(est, s / math.sqrt(12.0), 3.0 * s + 2.0)))  # never sharper than a voxel
        measured.append(True)
    return (out[0], out[1], out[2]), (measured[0], measured[1], measured[2])


def fallback_noise(noise_hu: float) -> tuple[float, tuple[float, float, float]]:
    """Noise model when the liver has no room for blocks: the parenchyma's spread, white."""
    return float(noise_hu), (0.0, 0.0, 0.0)
