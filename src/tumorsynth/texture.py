"""Step 2, texture: Gaussian noise upsampled by cubic interpolation (grain eta) and blurred.

The noise lives on an unbounded grid of step ``grain_mm`` (eta) centred on the tumor; the value
at each grid node is a counter-based hash of the tumor's seed and the node's index, so the same
tumor has the same texture in any box, at any voxel spacing, whatever else is switched on or
off. The grid is blurred with sigma_b and resampled to the voxels by one small matrix per axis
(:mod:`tumorsynth.interp`), each row scaled so that every voxel has unit variance; then
``texture = tumor_mean_hu + texture_std_hu * field``.
"""

from __future__ import annotations

import math

import numpy as np

from tumorsynth.interp import apply_separable_stack, cubic_matrix_stack
from tumorsynth.noise import hashed_normals_stack
from tumorsynth.params import TumorParams

__all__ = ["fine_fraction", "scaled_texture", "scaled_textures", "texture_corr_mm", "texture_field", "tumor_noise_sd"]

def texture_field(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray],
                  reach_mm: object = None) -> np.ndarray:
    """Unit-variance texture field of tumor ``t`` at the grid of 1-D mm offsets (n0, n1, n2).

    ``reach_mm`` is accepted for compatibility and ignored: the noise grid follows the offsets.
    """
    return scaled_texture(t, offsets, 1.0)


def scaled_texture(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float) -> np.ndarray:
    """``scale`` times :func:`texture_field` (the factor is folded into a resampling matrix)."""
    return scaled_textures([t], [offsets], [scale])[0]


def _blur_window(sigma: float) -> int:
    """Half width (nodes) of the Gaussian blur of the noise grid: 3 sigma, 0 when there is no blur."""
    return int(math.ceil(3 * sigma)) if sigma > 1e-3 else 0


def scaled_textures(tumors: list[TumorParams], offsets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                    scales: list[float]) -> list[np.ndarray]:
    """:func:`scaled_texture` of several tumors at once (one hash, one set of batched products).

    Per axis the resampling matrix is cubic interpolation of the noise grid followed by the
    Gaussian blur (truncated at 3 sigma), each row scaled to unit norm, so every voxel has unit
    variance. Each tumor's field depends on its own record and offsets only: the grids of the
    batch are padded with further nodes of the same unbounded noise lattice, which carry zero
    weight. Axes are padded by repeating their last offset; the results are cropped back.
    """
    n = len(tumors)
    if n == 0:
        return []
    grain = np.array([float(t.grain_mm) for t in tumors])
    sig = [float(t.texture_blur_mm) / g for t, g in zip(tumors, grain, strict=True)]
    win = np.array([_blur_window(sg) for sg in sig])
    sizes_out = [[len(o[k]) for o in offsets] for k in range(3)]
    rows = [max(sz) for sz in sizes_out]
    cuts = np.cumsum([0, *rows])
    pos = np.empty((n, int(cuts[-1])))
    for k in range(3):
        for i, o in enumerate(offsets):
            ok = np.asarray(o[k], dtype=np.float64)
            pos[i, cuts[k]:cuts[k] + ok.size] = ok
            pos[i, cuts[k] + ok.size:cuts[k + 1]] = ok[-1]
    pos /= grain[:, None]
    k_lo, widths = [], []
    for k in range(3):
        pk = pos[:, cuts[k]:cuts[k + 1]]
        # the nodes a voxel reads: cubic interpolation 1 below to 2 above, then the blur window
        lo = np.floor(pk.min(axis=1)) - 1 - win
        pk -= lo[:, None]  # >= 1 + win (rounding is monotone)
        widths.append(int(np.floor(pk.max())) + 3 + int(win.max()))
        k_lo.append(lo.astype(np.int64)[:, None] + np.arange(widths[-1]))
    cub = cubic_matrix_stack(pos, max(widths))  # one matrix build for the three axes
    blur = None
    if win.any():  # Gaussian weights of node j on node k: a function of j - k, one table for all axes
        x = np.arange(max(widths), dtype=np.float64)
        diff = x[:, None] - x[None, :]
        sg = np.array([max(v, 1e-3) for v in sig])[:, None, None]
        blur = np.exp(-0.5 * (diff / sg) ** 2)
        blur *= np.abs(diff) <= win[:, None, None]  # no blur (window 0): the identity
        blur = blur.astype(np.float32)
    mats = []
    for k in range(3):
        width = widths[k]
        m = cub[:, cuts[k]:cuts[k + 1], :width]
        m = np.matmul(m, blur[:, :width, :width]) if blur is not None else m.copy()
        m /= np.sqrt(np.einsum("sij,sij->si", m, m))[:, :, None]  # unit variance at every voxel
        if k == 0:
            m *= np.asarray(scales, dtype=np.float32)[:, None, None]
        mats.append(m)
    noise = hashed_normals_stack([t.texture_seed for t in tumors], k_lo[0], k_lo[1], k_lo[2])
    out = apply_separable_stack(noise, (mats[0], mats[1], mats[2]))
    return [out[i, :sizes_out[0][i], :sizes_out[1][i], :sizes_out[2][i]] for i in range(n)]


HIGH_PASS_MM = 1.0  # scale below which a scan shows only its noise (the realism report's high-pass)
NOISE_FLOOR = 0.5  # the tumor's own fine texture takes at most half of the noise variance


def fine_fraction(corr_mm: float, high_pass_mm: float = HIGH_PASS_MM) -> float:
    """Share of a smooth random field's variance finer than ``high_pass_mm``.

    For white noise filtered by a Gaussian of ``corr_mm`` (a Gaussian spectrum), the residual
    ``x - G_h * x`` of a Gaussian high-pass of width ``h`` keeps the share
    ``1 - 2 (l^2 / (l^2 + h^2 / 2))^(3/2) + (l^2 / (l^2 + h^2))^(3/2)`` (3-D): 1 for white noise,
    falling as the field gets coarser.
    """
    l2 = float(corr_mm) ** 2
    h2 = float(high_pass_mm) ** 2
    if l2 <= 1e-12:
        return 1.0
    return max(0.0, 1.0 - 2.0 * (l2 / (l2 + h2 / 2.0)) ** 1.5 + (l2 / (l2 + h2)) ** 1.5)


TEXTURE_CORR_PER_GRAIN = 0.45  # cubic upsampling of a grid of step eta correlates like a Gaussian of ~0.45 eta


def texture_corr_mm(t: TumorParams) -> float:
    """Equivalent Gaussian correlation width of a tumor's texture: grain eta and blur sigma_b combined."""
    return math.hypot(TEXTURE_CORR_PER_GRAIN * float(t.grain_mm), float(t.texture_blur_mm))


def tumor_noise_sd(t: TumorParams, noise_sd_hu: float, noise_corr_mm: float) -> float:
    """SD of the scanner-like noise inside a tumor.

    A tumor replaces the tissue it occupies; at the finest scale a scan then shows its own noise
    and whatever fine structure the tumor has. So the tumor's noise plus the fine part of its
    texture add up to the host's noise at that scale: the noise variance gives way by the
    texture's fine share (never more than ``NOISE_FLOOR`` of it).
    """
    fn = fine_fraction(noise_corr_mm)
    ft = fine_fraction(texture_corr_mm(t))
    var = noise_sd_hu**2 - float(t.texture_std_hu) ** 2 * ft / max(fn, 1e-3)
    return math.sqrt(max(var, NOISE_FLOOR * noise_sd_hu**2))
