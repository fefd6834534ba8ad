"""The host case of a figure: the phantom, or a user's CT and liver mask, prepared once.

A :class:`Host` holds a CT cropped to its liver (plus a margin, so a big scan costs what its
liver costs), the liver mask, the grid geometry, the per-case preparation
(:func:`tumorsynth.prepare`) and a :class:`tumorsynth.Synthesizer` that pastes tumors without
copying the whole CT for every panel. Every gallery takes one, so ``tumorsynth figures all``
loads and prepares the case once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tumorsynth.errors import OptionError
from tumorsynth.generator.params import CaseParams
from tumorsynth.generator.step1_prepare import Prepared, liver_bbox, prepare
from tumorsynth.generator.step6_synthesize import Synthesizer

__all__ = ["PHANTOM_SHAPE", "PHANTOM_SPACING_MM", "Host", "load_host", "phantom_host"]

logger = logging.getLogger(__name__)

# A moderate phantom: the abdomen at 1.5 mm in-plane (fine enough for 4 mm tumors), built in
# about a second.
PHANTOM_SHAPE = (208, 184, 96)
PHANTOM_SPACING_MM = (1.5, 1.5, 2.5)
LIVER_MARGIN_MM = 100.0  # kept around the liver when a CT is cropped (wider than any crop)


@dataclass(eq=False)
class Host:
    """A prepared host case (see the module docstring).

    Attributes:
        ct: CT in HU, cropped around the liver.
        liver: boolean liver mask on the same grid.
        spacing_mm: voxel spacing of each array axis.
        affine: voxel-to-world (RAS mm) matrix of the cropped grid.
        prepared: :func:`tumorsynth.prepare` of the case.
        source: what the case is, for captions and the run record ("phantom", a file name).
    """

    ct: np.ndarray
    liver: np.ndarray
    spacing_mm: tuple[float, float, float]
    affine: np.ndarray
    prepared: Prepared
    source: str
    _synth: Synthesizer | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.ct.shape)  # type: ignore[return-value]

    def synthesize(self, params: CaseParams) -> tuple[np.ndarray, np.ndarray]:
        """CT with tumors and label of ``params`` (buffers valid until the next call)."""
        if self._synth is None:
            self._synth = Synthesizer(self.ct, self.liver)
        return self._synth(params)

    def vessel_mask(self) -> np.ndarray:
        """The vessel map the generator uses (coarse cells spread back to the full grid)."""
        prep = self.prepared
        out = np.zeros(self.shape, dtype=bool)
        step = prep.coarse_step
        coarse = prep.vessel_coarse
        for axis, k in enumerate(step):
            if k > 1:
                coarse = np.repeat(coarse, k, axis=axis)
        (lo0, hi0), (lo1, hi1), (lo2, hi2) = prep.bbox
        out[lo0:hi0, lo1:hi1, lo2:hi2] = coarse[: hi0 - lo0, : hi1 - lo1, : hi2 - lo2]
        return out & self.liver

    def describe(self) -> dict[str, Any]:
        """Plain data about the host, for the run record."""
        return {
            "source": self.source,
            "shape": list(self.shape),
            "spacing_mm": list(self.spacing_mm),
            "parenchyma_hu": round(self.prepared.parenchyma_hu, 2),
            "noise_hu": round(self.prepared.noise_hu, 2),
            "liver_volume_ml": round(self.prepared.liver_volume_ml, 1),
        }


def _host_from_arrays(ct: np.ndarray, liver: np.ndarray, spacing_mm: tuple[float, float, float],
                      affine: np.ndarray, source: str) -> Host:
    """Crop to the liver plus a margin, then prepare."""
    spacing = tuple(float(s) for s in spacing_mm)
    bbox = liver_bbox(liver)
    lo = [max(0, b0 - int(np.ceil(LIVER_MARGIN_MM / s))) for (b0, _), s in zip(bbox, spacing, strict=True)]
    hi = [min(n, b1 + int(np.ceil(LIVER_MARGIN_MM / s)))
          for (_, b1), s, n in zip(bbox, spacing, ct.shape, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    ct_c = np.ascontiguousarray(ct[box])
    liver_c = np.ascontiguousarray(liver[box])
    shift = np.eye(4)
    shift[:3, 3] = lo
    aff = np.asarray(affine, dtype=float) @ shift
    prep = prepare(ct_c, liver_c, spacing)  # type: ignore[arg-type]
    return Host(ct=ct_c, liver=liver_c, spacing_mm=spacing, affine=aff,  # type: ignore[arg-type]
                prepared=prep, source=source)


def phantom_host(*, shape: tuple[int, int, int] = PHANTOM_SHAPE,
                 spacing_mm: tuple[float, float, float] = PHANTOM_SPACING_MM, rng: int = 0) -> Host:
    """The procedural phantom (:func:`tumorsynth.make_phantom`) as a figure host.

    The anatomy is fixed by ``rng`` (0 by default); the figures' own ``seed`` only changes
    the tumors.
    """
    from tumorsynth.jobs.phantom import make_phantom

    ph = make_phantom(shape=shape, spacing_mm=spacing_mm, rng=rng)
    return _host_from_arrays(ph.ct, ph.liver, ph.spacing_mm, ph.affine, "phantom")


def load_host(ct_path: str | os.PathLike[str] | None = None,
              liver_path: str | os.PathLike[str] | None = None, *,
              liver_label: int | None = None) -> Host:
    """A user's CT and liver mask as a figure host, or the phantom when both paths are None.

    Raises:
        OptionError: only one of the two paths is given.
        InputError: the files are unusable (see :func:`tumorsynth.load_case`).
    """
    if ct_path is None and liver_path is None:
        return phantom_host()
    if ct_path is None or liver_path is None:
        raise OptionError("give both --ct CT and --liver MASK (or neither, for the phantom)")
    from tumorsynth.io import load_case

    vol, liver = load_case(ct_path, liver_path, liver_label=liver_label)
    logger.info("figures: host %s, shape %s, spacing %s mm", ct_path, vol.shape, vol.spacing_mm)
    return _host_from_arrays(np.asarray(vol.data), liver, vol.spacing_mm, vol.affine,
                             os.path.basename(os.fspath(ct_path)))
