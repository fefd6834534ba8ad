"""One-off, deterministic preparation of a healthy case (cacheable).

:func:`prepare` does all the whole-liver work once per case, on a coarse grid of about 2 mm:
the liver's bounding box, the parenchyma statistics that tumor contrasts are relative to, the
vessel mask (voxels whose smoothed HU exceed the parenchyma by a margin, or a supplied mask),
the depth of every liver point below the liver surface and its distance to the nearest vessel.
Sampling tumor locations then only reads these small arrays; synthesis never touches the whole
CT. A training cache (MONAI ``CacheDataset``) can keep the result; it is picklable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tumorsynth.errors import InputError, OptionError
from tumorsynth.generator.kernels.grids import bbox, block_mean
from tumorsynth.generator.step1_host import (
    HostModel,
    estimate_noise,
    estimate_resolution,
    fallback_noise,
)
from tumorsynth.generator.step1_local import local_parenchyma_map

__all__ = ["LIVER_HU_RANGE", "SPACING_RANGE_MM", "Prepared", "check_ct_hu", "check_spacing", "liver_bbox",
           "prepare"]

MAX_CANDIDATES = 60_000
DEFAULT_HOST = HostModel(10.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # for Prepared built by hand

#: Liver median outside this range (HU) means the CT is not in Hounsfield units or the mask is wrong.
LIVER_HU_RANGE = (-150.0, 400.0)
#: Liver intensities all within +-this many units: an intensity-scaled image (0..1, z-scores).
SCALED_LIMIT = 4.0
_SCALED_FIX = "use the CT in Hounsfield units, before any intensity scaling or normalisation"


#: Voxel spacings a CT can have, in mm per axis (photon-counting in-plane 0.2 mm to 10 mm slices,
#: with margin). Outside it the header is wrong (spacing in metres or micrometres, a dummy pixdim)
#: and every size in mm would be wrong by orders of magnitude.
SPACING_RANGE_MM = (0.1, 20.0)


def check_spacing(spacing_mm: object, *, source: object = "spacing_mm",
                  fix: str = "pass the voxel spacing in mm, e.g. (0.8, 0.8, 5.0)") -> tuple[float, float, float]:
    """Return ``spacing_mm`` as three floats, or raise if it is not a CT's spacing in mm.

    Not three finite positive numbers: :class:`OptionError`. Outside :data:`SPACING_RANGE_MM`:
    :class:`InputError`, whose one line names ``source``, the spacing and ``fix``.

    Example:
        >>> check_spacing([0.8, 0.8, 5])
        (0.8, 0.8, 5.0)
    """
    try:
        values = tuple(float(s) for s in np.asarray(spacing_mm, dtype=float).ravel())
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(np.isfinite(s) and s > 0 for s in values):
        raise OptionError(f"{source}: spacing_mm must be 3 positive numbers, got {spacing_mm!r}")
    lo, hi = SPACING_RANGE_MM
    if min(values) < lo or max(values) > hi:
        shown = " x ".join(f"{s:.4g}" for s in values)
        raise InputError(f"{source}: voxel spacing {shown} mm is not that of a CT "
                         f"(expected {lo:g} to {hi:g} mm per axis); {fix}")
    return (values[0], values[1], values[2])


def check_ct_hu(ct: np.ndarray, liver: np.ndarray, *, source: object = "CT",
                scaled_fix: str = _SCALED_FIX) -> float:
    """Check that a CT is in Hounsfield units, judged by its liver; return the liver's median HU.

    The one HU sanity check of tumorsynth (files, arrays and MONAI dictionaries all use it).
    Judging the liver, not the whole image, also works on tightly cropped scans without air. A
    refusal is an :class:`~tumorsynth.errors.InputError` of one line: ``source`` (the file or
    case), the problem, the fix:

    - liver intensities all within -4..4: an intensity-scaled image; ``scaled_fix`` says what to
      do (the MONAI transforms say where to put them in the pipeline);
    - liver median above 400: raw scanner values (for example 0..4095 with air at 0); apply the
      rescale intercept;
    - liver median below -150: a mask that does not belong to this CT, or a CT not in HU.

    At most about 200,000 liver voxels are read (a regular subsample).

    Example:
        >>> ct = np.full((8, 8, 8), 60.0); ct[::2] += 20.0
        >>> check_ct_hu(ct, np.ones(ct.shape, bool))
        70.0
    """
    liver = np.asarray(liver, dtype=bool)
    n = int(np.count_nonzero(liver))
    step = max(1, int(round((n / 200_000) ** (1 / 3)))) if n > 200_000 else 1
    vals = np.asarray(ct[::step, ::step, ::step][liver[::step, ::step, ::step]], dtype=np.float32)
    if vals.size == 0:
        vals = np.asarray(ct[liver], dtype=np.float32)
    if vals.size == 0:
        raise InputError(f"{source}: the liver mask is empty; check the mask and its label value")
    med = float(np.median(vals))
    lo, hi = LIVER_HU_RANGE
    if float(np.abs(vals).max()) <= SCALED_LIMIT:
        raise InputError(
            f"{source}: liver intensities lie within {-SCALED_LIMIT:g}..{SCALED_LIMIT:g} "
            f"(median {med:.3g}), not Hounsfield units; it looks intensity-scaled; {scaled_fix}"
        )
    if not lo <= med <= hi:
        hint = (
            "it looks like raw scanner values, not Hounsfield units; apply the rescale slope and "
            "intercept (often: subtract 1024)"
            if med > hi
            else "check that the mask belongs to this CT and the CT is in Hounsfield units"
        )
        raise InputError(
            f"{source}: liver median is {med:.0f}, outside the {lo:.0f}..{hi:.0f} HU expected of "
            f"liver; {hint}"
        )
    return med


@dataclass(frozen=True, eq=False)
class Prepared:
    """The per-case preparation (see :func:`prepare`).

    Attributes:
        shape, spacing_mm: the CT grid.
        bbox: liver bounding box as ``((lo0, hi0), (lo1, hi1), (lo2, hi2))``, hi exclusive.
        parenchyma_hu: median HU of the liver without vessels.
        noise_hu: robust standard deviation (1.4826 MAD) of the parenchyma.
        vessel_threshold_hu: smoothed HU above which liver voxels count as vessel.
        coarse_step: integer stride of the coarse grid along each axis.
        coarse_origin: fine index of the coarse grid's first cell corner (= bbox lows).
        liver_coarse, vessel_coarse: coarse boolean maps (liver box only).
        candidates_vox: fine-index centres of candidate coarse cells, float32 (N, 3).
        depth_mm: depth of each candidate below the liver surface (N,).
        vessel_dist_mm: distance of each candidate to the nearest vessel (N,) (inf: no vessel).
        liver_volume_ml: liver volume.
        host: the scanner's noise and resolution measured on this CT (:mod:`tumorsynth.generator.step1_host`).
        local_parenchyma: the parenchyma's own level around each place (HU, float32, NaN where
            unknown): the mean of the liver cells without vessels, smoothed over about 8 mm, on
            cells of ``local_step`` fine voxels from the liver box's low corner. Contrasts are
            drawn against it (:mod:`tumorsynth.generator.step1_local`), as a reader compares a lesion with the
            liver around it. ``None`` (built by hand): the global ``parenchyma_hu``.
        local_step: the fine-voxel stride of ``local_parenchyma``'s cells.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    bbox: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    parenchyma_hu: float
    noise_hu: float
    vessel_threshold_hu: float
    coarse_step: tuple[int, int, int]
    liver_coarse: np.ndarray
    vessel_coarse: np.ndarray
    candidates_vox: np.ndarray
    depth_mm: np.ndarray
    vessel_dist_mm: np.ndarray
    liver_volume_ml: float
    host: HostModel = DEFAULT_HOST
    local_parenchyma: np.ndarray | None = None
    local_step: tuple[int, int, int] = (1, 1, 1)

    @property
    def max_depth_mm(self) -> float:
        return float(self.depth_mm.max()) if self.depth_mm.size else 0.0

    def vessel_fraction(self) -> float:
        n = int(self.liver_coarse.sum())
        return float((self.vessel_coarse & self.liver_coarse).sum() / n) if n else 0.0


def liver_bbox(liver: np.ndarray) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Bounding box of the non-zero voxels, hi exclusive; cost: three projections."""
    box = bbox(liver)
    if box is None:
        raise InputError("liver mask is empty; check the mask file or --liver-label")
    return (box[0], box[1], box[2])


def prepare(
    ct: np.ndarray,
    liver: np.ndarray,
    spacing_mm: tuple[float, float, float] | np.ndarray,
    *,
    vessel_mask: np.ndarray | None = None,
    vessel_margin_hu: float = 30.0,
    vessel_smooth_mm: float = 1.5,
    coarse_mm: float = 2.0,
    check_hu: bool = True,
) -> Prepared:
    """Prepare a healthy case for tumor synthesis (deterministic; done once per case).

    Args:
        ct: CT in Hounsfield units, 3-D, any integer or float type (not modified).
        liver: liver mask on the same grid (bool, or non-zero = liver).
        spacing_mm: voxel spacing of each array axis in mm (see :mod:`tumorsynth.io`).
        vessel_mask: optional vessel mask on the same grid; replaces the HU threshold.
        vessel_margin_hu: liver voxels whose smoothed HU exceed the parenchyma median by more
            than this (or by 2.5 robust standard deviations of the smoothed liver, whichever is
            larger) are vessels.
        vessel_smooth_mm: Gaussian smoothing before thresholding.
        coarse_mm: step of the coarse grid for the maps (about; integer strides per axis).
        check_hu: refuse a CT whose liver is not at liver HU (raw scanner values, an
            intensity-scaled image, a wrong mask): :func:`check_ct_hu`.

    Example:
        >>> from tumorsynth import make_phantom
        >>> ph = make_phantom(shape=(96, 96, 64), spacing_mm=(3.0, 3.0, 3.0))
        >>> prep = prepare(ph.ct, ph.liver, ph.spacing_mm)
        >>> 80 < prep.parenchyma_hu < 140
        True
    """
    ct = np.asarray(ct)
    liver = np.asarray(liver)
    if ct.ndim != 3:
        raise InputError(f"CT must be 3-D, got shape {ct.shape}")
    if liver.shape != ct.shape:
        raise InputError(f"liver mask shape {liver.shape} differs from CT shape {ct.shape}")
    spacing = check_spacing(spacing_mm)
    if liver.dtype != bool:
        liver = liver != 0
    bbox = liver_bbox(liver)
    sl = tuple(slice(lo, hi) for lo, hi in bbox)
    ct_box = ct[sl]
    liver_box = liver[sl]
    n_liver = int(np.count_nonzero(liver_box))
    if ct.dtype.kind == "f" and not np.isfinite(ct).all():
        bad = int(ct.size - np.count_nonzero(np.isfinite(ct)))
        raise InputError(f"CT has {bad} NaN or infinite voxels; fill them (e.g. with -1024 HU) before use")

    # coarse grid
    step = tuple(max(1, int(round(coarse_mm / s))) for s in spacing)
    liver_frac = block_mean(liver_box, step)  # type: ignore[arg-type]
    liver_coarse = liver_frac >= 0.5
    if not liver_coarse.any():
        liver_coarse = liver_frac > 0
    ct_coarse = block_mean(np.where(liver_box, ct_box, 0), step)  # type: ignore[arg-type]
    with np.errstate(invalid="ignore", divide="ignore"):
        ct_liver_coarse = np.where(liver_frac > 0, ct_coarse / np.maximum(liver_frac, 1e-6), 0.0)

    # parenchyma statistics on a subsample of fine liver voxels
    sub = max(1, int(round((n_liver / 400_000) ** (1 / 3)))) if n_liver > 400_000 else 1
    vals = np.asarray(ct_box[::sub, ::sub, ::sub][liver_box[::sub, ::sub, ::sub]], dtype=np.float32)
    if vals.size < 10:
        vals = np.asarray(ct_box[liver_box], dtype=np.float32)
    if check_hu:
        check_ct_hu(ct_box, liver_box, source="CT")
    # parenchyma: drop the bright tail (vessels) and the dark tail before the robust statistics
    q_lo, q_hi = np.percentile(vals, [5, 85])
    core = vals[(vals >= q_lo) & (vals <= q_hi)] if vals.size > 100 else vals
    parenchyma = float(np.median(core))
    mad = float(np.median(np.abs(vals - np.median(vals))))
    noise = max(1.0, 1.4826 * mad)

    # vessels
    coarse_spacing = tuple(s * k for s, k in zip(spacing, step, strict=True))
    if vessel_mask is not None:
        vm = np.asarray(vessel_mask)
        if vm.shape != ct.shape:
            raise InputError(f"vessel mask shape {vm.shape} differs from CT shape {ct.shape}")
        vessel_coarse = (block_mean(vm[sl] != 0, step) >= 0.25) & liver_coarse  # type: ignore[arg-type]
        threshold = float("nan")
    else:
        sig = [vessel_smooth_mm / cs for cs in coarse_spacing]
        smooth = ndimage.gaussian_filter(ct_liver_coarse.astype(np.float32), sigma=sig, mode="nearest")
        wsum = ndimage.gaussian_filter(liver_frac.astype(np.float32), sigma=sig, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = np.where(wsum > 1e-3, smooth / np.maximum(wsum, 1e-3), parenchyma)
        inner = smooth[liver_coarse]
        spread = 1.4826 * float(np.median(np.abs(inner - np.median(inner)))) if inner.size else 0.0
        threshold = parenchyma + max(vessel_margin_hu, 2.5 * spread)
        vessel_coarse = (smooth > threshold) & liver_coarse

    local, local_factor = local_parenchyma_map(ct_liver_coarse, liver_frac, vessel_coarse, coarse_spacing, parenchyma)

    # distance maps on the coarse grid; outside the field of view counts as outside the liver
    padded = np.pad(liver_coarse, 1, constant_values=False)
    depth = ndimage.distance_transform_edt(padded, sampling=coarse_spacing)[1:-1, 1:-1, 1:-1]
    if vessel_coarse.any():
        vdist = ndimage.distance_transform_edt(~vessel_coarse, sampling=coarse_spacing)
    else:
        vdist = np.full(liver_coarse.shape, np.inf)

    cand_mask = liver_coarse & ~vessel_coarse
    idx = np.flatnonzero(cand_mask)
    if idx.size > MAX_CANDIDATES:  # deterministic thinning
        idx = idx[np.linspace(0, idx.size - 1, MAX_CANDIDATES).astype(np.int64)]
    ijk = np.stack(np.unravel_index(idx, cand_mask.shape), axis=1).astype(np.float32)
    origin = np.array([b[0] for b in bbox], dtype=np.float32)
    stepv = np.array(step, dtype=np.float32)
    fine_dims = np.array([b[1] for b in bbox], dtype=np.float32) - 1
    centres = np.minimum(origin + ijk * stepv + (stepv - 1) / 2, fine_dims)
    depth_c = depth.ravel()[idx].astype(np.float32)
    vdist_c = vdist.ravel()[idx].astype(np.float32)
    host = _host_model(ct, liver, bbox, spacing, centres, depth_c, vdist_c, noise)
    return Prepared(
        shape=tuple(int(s) for s in ct.shape),  # type: ignore[arg-type]
        spacing_mm=spacing,  # type: ignore[arg-type]
        bbox=bbox,
        parenchyma_hu=parenchyma,
        noise_hu=noise,
        vessel_threshold_hu=threshold,
        coarse_step=step,  # type: ignore[arg-type]
        liver_coarse=liver_coarse,
        vessel_coarse=vessel_coarse,
        candidates_vox=centres.astype(np.float32),
        depth_mm=depth_c,
        vessel_dist_mm=vdist_c,
        liver_volume_ml=float(n_liver * np.prod(spacing) / 1000.0),
        host=host,
        local_parenchyma=local,
        local_step=tuple(int(a * b) for a, b in zip(step, local_factor, strict=True)),  # type: ignore[arg-type]
    )


def _host_model(ct: np.ndarray, liver: np.ndarray, box: tuple[tuple[int, int], ...], spacing: tuple[float, ...],
                centres: np.ndarray, depth: np.ndarray, vdist: np.ndarray, noise_hu: float) -> HostModel:
    """The scanner's noise (blocks of parenchyma deep in the liver, away from vessels) and resolution
    (profiles across the liver boundary) of this CT; fallbacks where the liver gives too little."""
    sp = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    measured = []
    est = None
    for block_mm, deep_mm in ((6.0, 12.0), (3.5, 7.0)):
        clear = (depth >= max(deep_mm, 2.5 * max(sp))) & (vdist >= block_mm + 2 * max(sp))
        est = estimate_noise(ct, centres[clear], sp, block_mm=block_mm)
        if est is not None:
            measured.append("noise")
            break
    if est is None:
        est = fallback_noise(noise_hu)
    margin = [int(np.ceil(8.0 / s)) + 1 for s in sp]
    ext = tuple(slice(max(lo - m, 0), min(hi + m, n)) for (lo, hi), m, n in zip(box, margin, ct.shape, strict=True))
    res, ok = estimate_resolution(ct[ext], liver[ext], sp)
    if all(ok):
        measured.append("resolution")
    elif any(ok):
        measured.append("resolution (some axes)")
    return HostModel(noise_sd_hu=est[0], corr_vox=est[1], resolution_mm=res, measured=tuple(measured))
