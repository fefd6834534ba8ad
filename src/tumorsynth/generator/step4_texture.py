"""Step 2, texture: Gaussian noise upsampled by cubic interpolation (grain eta) and blurred.

The noise lives on an unbounded grid of step ``grain_mm`` (eta) centred on the tumor; the value
at each grid node is a counter-based hash of the tumor's seed and the node's index, so the same
tumor has the same texture in any box, at any voxel spacing, whatever else is switched on or
off. The grid is blurred with sigma_b and resampled to the voxels by one small matrix per axis
(:mod:`tumorsynth.generator.kernels.interp`), each row scaled so that every voxel has unit variance; then
``texture = tumor_mean_hu + texture_std_hu * field``.
"""

from __future__ import annotations

import math

import numpy as np

from tumorsynth.generator.kernels.interp import apply_separable_stack, cubic_matrix_stack
from tumorsynth.generator.kernels.noise import hashed_normals_stack
from tumorsynth.generator.params import TumorParams

__all__ = [
    "imaged_texture_sd",
    "scaled_texture",
    "scaled_textures",
    "texture_corr_mm",
    "texture_field",
    "tumor_noise_sd",
]

def texture_field(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Unit-variance texture field of tumor ``t`` at the grid of 1-D mm offsets (n0, n1, n2)."""
    return scaled_texture(t, offsets, 1.0)


def scaled_texture(t: TumorParams, offsets: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float) -> np.ndarray:
    """``scale`` times :func:`texture_field` (the factor is folded into a resampling matrix)."""
    return scaled_textures([t], [offsets], [scale])[0]


def _blur_window(sigma: float) -> int:
    """Half width (nodes) of the Gaussian blur of the noise grid: 3 sigma, 0 when there is no blur."""
    return int(math.ceil(3 * sigma)) if sigma > 1e-3 else 0


def scaled_textures(tumors: list[TumorParams], offsets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                    scales: list[float], res_mm: tuple[float, float, float] | None = None) -> list[np.ndarray]:
    """:func:`scaled_texture` of several tumors at once (one hash, one set of batched products).

    Per axis the resampling matrix is cubic interpolation of the noise grid followed by the
    Gaussian blur (truncated at 3 sigma), each row scaled to unit norm, so every voxel has unit
    variance. Each tumor's field depends on its own record and offsets only: the grids of the
    batch are padded with further nodes of the same unbounded noise lattice, which carry zero
    weight. Axes are padded by repeating their last offset; the results are cropped back.

    ``res_mm``: the scanner's resolution per axis (SD, mm). The texture is then imaged as the
    scanner images tissue: blurred per axis by ``sqrt(sigma_b**2 + res_k**2)`` and its variance
    reduced as that blur averages it (:func:`imaged_texture_sd`), so a texture finer than a
    thick slice is averaged away, as partial volume does to real tissue.
    """
    n = len(tumors)
    if n == 0:
        return []
    grain = np.array([float(t.grain_mm) for t in tumors])
    res = (0.0, 0.0, 0.0) if res_mm is None else tuple(float(v) for v in res_mm)
    sigs = [[math.hypot(float(t.texture_blur_mm), res[k]) / g for t, g in zip(tumors, grain, strict=True)]
            for k in range(3)]
    wins = [np.array([_blur_window(sg) for sg in sigs[k]]) for k in range(3)]
    if res_mm is not None:
        scales = [sc * imaged_texture_sd(t, res) for sc, t in zip(scales, tumors, strict=True)]  # type: ignore[arg-type]
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
        lo = np.floor(pk.min(axis=1)) - 1 - wins[k]
        pk -= lo[:, None]  # >= 1 + win (rounding is monotone)
        widths.append(int(np.floor(pk.max())) + 3 + int(wins[k].max()))
        k_lo.append(lo.astype(np.int64)[:, None] + np.arange(widths[-1]))
    cub = cubic_matrix_stack(pos, max(widths))  # one matrix build for the three axes
    x = np.arange(max(widths), dtype=np.float64)
    diff = x[:, None] - x[None, :]
    tables: dict[tuple[float, ...], np.ndarray] = {}
    mats = []
    for k in range(3):
        width = widths[k]
        m = cub[:, cuts[k]:cuts[k + 1], :width]
        key = tuple(sigs[k])
        if wins[k].any():  # Gaussian weights of node j on node k: a function of j - k
            if key not in tables:
                sg = np.array([max(v, 1e-3) for v in sigs[k]])[:, None, None]
                blur = np.exp(-0.5 * (diff / sg) ** 2)
                blur *= np.abs(diff) <= wins[k][:, None, None]  # no blur (window 0): the identity
                tables[key] = blur.astype(np.float32)
            m = np.matmul(m, tables[key][:, :width, :width])
        else:
            m = m.copy()
        m /= np.sqrt(np.einsum("sij,sij->si", m, m))[:, :, None]  # unit variance at every voxel
        if k == 0:
            m *= np.asarray(scales, dtype=np.float32)[:, None, None]
        mats.append(m)
    noise = hashed_normals_stack([t.texture_seed for t in tumors], k_lo[0], k_lo[1], k_lo[2])
    out = apply_separable_stack(noise, (mats[0], mats[1], mats[2]))
    return [out[i, :sizes_out[0][i], :sizes_out[1][i], :sizes_out[2][i]] for i in range(n)]


def imaged_texture_sd(t: TumorParams, res_mm: tuple[float, float, float]) -> float:
    """Factor by which imaging with the resolution ``res_mm`` lowers a texture's SD.

    For a field of Gaussian correlation width ``l`` (:func:`texture_corr_mm`), a further Gaussian
    blur of ``r`` along an axis multiplies its variance by ``l / sqrt(l**2 + r**2)``.
    """
    ell = texture_corr_mm(t)
    if ell <= 0:
        return 1.0
    var = 1.0
    for r in res_mm:
        var *= ell / math.sqrt(ell * ell + float(r) ** 2)
    return math.sqrt(var)


NOISE_FLOOR = 0.5  # the tumor's own fine texture takes at most half of the noise variance
TEXTURE_CORR_PER_GRAIN = 0.45  # cubic upsampling of a grid of step eta correlates like a Gaussian of ~0.45 eta


def texture_corr_mm(t: TumorParams) -> float:
    """Equivalent Gaussian correlation width of a tumor's texture: grain eta and blur sigma_b combined."""
    return math.hypot(TEXTURE_CORR_PER_GRAIN * float(t.grain_mm), float(t.texture_blur_mm))


def tumor_noise_sd(t: TumorParams, noise_sd_hu: float, noise_corr_vox: tuple[float, float, float],
                   spacing_mm: tuple[float, float, float],
                   res_mm: tuple[float, float, float] | None = None) -> float:
    """SD of the scanner-like noise inside a tumor.

    A tumor replaces the tissue it occupies; at the finest scale a scan then shows its own noise
    and whatever fine structure the tumor has. The finest scale is the one the host's noise was
    measured at (:mod:`tumorsynth.generator.step1_host`): the difference of neighbouring voxels,
    ``V(1) = 2 var (1 - rho(1))`` per axis. So the noise variance gives way to the texture's
    share of ``V(1)``: ``var_n = s_n**2 - sigma_p**2 (1 - rho_t(1)) / (1 - rho_n(1))``, averaged
    over the axes, with ``rho_t(h) = exp(-h**2 / (4 l**2))`` for a texture of correlation width
    ``l`` and ``rho_n`` that of the host's noise model; the texture takes at most
    ``NOISE_FLOOR`` of the noise variance.
    """
    from tumorsynth.generator.step1_host import noise_lag1

    ell = texture_corr_mm(t)
    res = (0.0, 0.0, 0.0) if res_mm is None else res_mm
    share = 0.0
    for c, h, r in zip(noise_corr_vox, spacing_mm, res, strict=True):
        e2 = ell * ell + float(r) ** 2  # the texture as imaged along this axis
        rho_t = math.exp(-float(h) ** 2 / (4.0 * e2)) if e2 > 0 else 0.0
        share += (1.0 - rho_t) / max(1.0 - noise_lag1(float(c)), 1e-3) / 3.0
    sd_t = float(t.texture_std_hu) * (imaged_texture_sd(t, res) if res_mm is not None else 1.0)
    var = noise_sd_hu**2 - sd_t**2 * share
    return math.sqrt(max(var, NOISE_FLOOR * noise_sd_hu**2))
