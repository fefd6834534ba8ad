"""Shared panel rendering: a display-oriented, square crop of one axial slice, as RGB.

Every panel of every gallery goes through :class:`SliceCrop`: a cube of ``2 * half_mm`` around
a point (usually a tumor centre), cut through that point in the axial plane and oriented as
radiologists read it by :func:`tumorsynth.jobs.preview.radiological_slices` (patient's right on the
left, anterior up, whatever the file's orientation), then resampled to a fixed number of pixels
so that small tumors on coarse grids do not look like a handful of blocks. The window and the
label outline come from :func:`tumorsynth.jobs.preview.render_slice`, the renderer of the per-case
preview of ``tumorsynth synth``; a figure panel and a preview show a case the same way.

No matplotlib here: panels are plain arrays (tests check them directly); :mod:`.layout` places
them on a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from tumorsynth.generator.params import CaseParams

__all__ = [
    "PANEL_PX",
    "FigureResult",
    "Panel",
    "SliceCrop",
    "axial_axis",
    "draw_cross",
    "draw_ring",
    "render",
    "tint",
]

PANEL_PX = 192  # side of a rendered panel, in pixels
TUMOR = 2


@dataclass
class Panel:
    """One image of a figure.

    Attributes:
        image: RGB uint8 (PANEL_PX, PANEL_PX, 3), display-oriented.
        caption: the text under the panel (parameter values).
        row, col: position in the figure's grid.
        values: the parameters the panel varies or shows, as plain numbers / strings.
        params: the parameter record the panel was synthesized from (None for pure maps).
        mm_per_px: physical size of one pixel of ``image``.
        tumor: where the tumor label is in ``image`` (bool, same size), None for pure maps.
    """

    image: np.ndarray
    caption: str
    row: int
    col: int
    values: dict[str, Any] = field(default_factory=dict)
    params: CaseParams | None = None
    mm_per_px: float = 1.0
    tumor: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "col": self.col, "caption": self.caption,
                               "values": self.values, "mm_per_px": round(self.mm_per_px, 4)}
        if self.tumor is not None:
            out["tumor_area_mm2"] = round(float(self.tumor.sum()) * self.mm_per_px**2, 1)
        if self.params is not None:
            out["params"] = self.params.to_dict()
        return out


@dataclass
class FigureResult:
    """What a gallery function returns: the panels in a grid, with titles, ready to lay out.

    ``files`` is filled by :func:`tumorsynth.apps.figures.save_figure`.
    """

    name: str
    title: str
    nrows: int
    ncols: int
    panels: list[Panel]
    row_labels: list[str] = field(default_factory=list)
    col_labels: list[str] = field(default_factory=list)
    note: str = ""
    seed: int = 0
    host: dict[str, Any] = field(default_factory=dict)
    files: list[Any] = field(default_factory=list)

    def panel(self, row: int, col: int) -> Panel:
        for p in self.panels:
            if p.row == row and p.col == col:
                return p
        raise KeyError(f"figure {self.name!r} has no panel at row {row}, column {col}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.name, "title": self.title, "note": self.note, "seed": self.seed,
            "grid": [self.nrows, self.ncols], "row_labels": self.row_labels,
            "col_labels": self.col_labels, "host": self.host,
            "files": [str(f) for f in self.files],
            "panels": [p.to_dict() for p in self.panels],
        }


@dataclass(frozen=True)
class SliceCrop:
    """An axial, display-oriented square crop of ``2 * half_mm`` around ``point_vox``.

    The same crop applied to the CT, the label and any map of the same grid gives images that
    line up pixel for pixel; parts beyond the volume are filled (air for a CT, 0 for maps).
    """

    point_vox: tuple[float, float, float]
    half_mm: float
    spacing_mm: tuple[float, float, float]
    affine: np.ndarray
    px: int = PANEL_PX

    @property
    def mm_per_px(self) -> float:
        return 2.0 * self.half_mm / self.px

    def _box(self, shape: tuple[int, ...]) -> tuple[list[int], list[int], tuple[float, ...]]:
        """The sub-volume to cut: a square of the crop's size in the plane, one slice thick."""
        c = np.asarray(self.point_vox, dtype=float)
        n = np.ceil(self.half_mm / np.asarray(self.spacing_mm)).astype(int)
        n[axial_axis(self.affine)] = 0
        ci = np.rint(c).astype(int)
        lo = ci - n
        hi = ci + n + 1
        return [int(v) for v in lo], [int(v) for v in hi], tuple(float(v) for v in c - lo)

    def take(self, vol: np.ndarray, *, fill: float = 0.0) -> np.ndarray:
        """The oriented 2-D crop of ``vol`` at the volume's own resolution (square mm pixels)."""
        from tumorsynth.jobs.preview import radiological_slices

        lo, hi, p = self._box(vol.shape)
        src = tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, vol.shape, strict=True))
        sub = np.asarray(vol[src])
        pads = [(max(0, -a), max(0, b - n)) for a, b, n in zip(lo, hi, vol.shape, strict=True)]
        if any(x or y for x, y in pads):
            sub = np.pad(sub, pads, constant_values=fill)
        return radiological_slices(sub, self.affine, p)["axial"]

    def _zoom(self, img: np.ndarray, order: int) -> np.ndarray:
        f = (self.px / img.shape[0], self.px / img.shape[1])
        out = ndimage.zoom(img.astype(np.float32), f, order=order, mode="nearest", grid_mode=True)
        return out[: self.px, : self.px]

    def image(self, vol: np.ndarray, *, fill: float = -1000.0) -> np.ndarray:
        """The crop of an intensity volume, resampled (linear) to ``px`` x ``px``."""
        return self._zoom(self.take(vol, fill=fill), order=1)

    def mask(self, vol: np.ndarray) -> np.ndarray:
        """The crop of a mask, resampled to ``px`` x ``px`` (linear, then >= 0.5: smooth edges)."""
        return self._zoom(self.take(np.asarray(vol) != 0, fill=0), order=1) >= 0.5

    def label(self, label: np.ndarray) -> np.ndarray:
        """The crop of a label map (0, 1 liver, 2 tumor), resampled with smooth edges."""
        lab = np.asarray(label)
        out = self.mask(lab >= 1).astype(np.uint8)
        out[self.mask(lab == TUMOR)] = TUMOR
        return out

    def mm_to_px(self, mm: float) -> float:
        return mm / self.mm_per_px

    @property
    def centre_px(self) -> tuple[float, float]:
        """Where ``point_vox`` lies in the panel (row, column)."""
        return ((self.px - 1) / 2.0, (self.px - 1) / 2.0)


def axial_axis(affine: np.ndarray) -> int:
    """The array axis that runs (closest to) inferior-superior, as the preview orients it."""
    import nibabel as nib

    ornt = nib.orientations.io_orientation(np.asarray(affine))
    return int(np.flatnonzero(ornt[:, 0] == 2)[0])


def render(crop: SliceCrop, ct: np.ndarray, label: np.ndarray | None = None, *,
           window: tuple[float, float], outline: bool = True) -> np.ndarray:
    """RGB panel of a CT (and the tumor outline of ``label``) through ``crop``."""
    from tumorsynth.jobs.preview import render_slice

    lab = crop.label(label) if (label is not None and outline) else None
    return render_slice(crop.image(ct), lab, window=window, outline=outline)


def tint(rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], alpha: float = 0.45) -> np.ndarray:
    """Blend ``color`` into the pixels of ``mask`` (a new array)."""
    out = rgb.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(color, dtype=np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_ring(rgb: np.ndarray, centre: tuple[float, float], radius: float,
              color: tuple[int, int, int], width: float = 1.5) -> np.ndarray:
    """Draw a circle of ``radius`` pixels (a new array)."""
    rr, cc = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    dist = np.hypot(rr - centre[0], cc - centre[1])
    out = rgb.copy()
    out[np.abs(dist - radius) <= width / 2] = color
    return out


def draw_cross(rgb: np.ndarray, centre: tuple[float, float], size: int,
               color: tuple[int, int, int]) -> np.ndarray:
    """Draw a small + at ``centre`` (a new array)."""
    out = rgb.copy()
    r, c = round(centre[0]), round(centre[1])
    h, w = out.shape[:2]
    out[max(r - size, 0) : min(r + size + 1, h), max(c - 1, 0) : min(c + 2, w)] = color
    out[max(r - 1, 0) : min(r + 2, h), max(c - size, 0) : min(c + size + 1, w)] = color
    return out
