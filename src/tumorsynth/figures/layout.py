"""Lay the panels of a :class:`~tumorsynth.figures.panels.FigureResult` out on a page and save it.

matplotlib is imported here only, and only its object API is used (``Figure``, drawn by the Agg
and PDF writers): no pyplot, no global figure state, no GUI backend.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tumorsynth.errors import OptionError
from tumorsynth.figures.panels import FigureResult

__all__ = ["FORMATS", "SCALE_BAR_MM", "draw_figure", "save_figure"]

logger = logging.getLogger(__name__)

FORMATS = ("png", "pdf", "svg")
SCALE_BAR_MM = 10.0
PANEL_IN = 1.55  # panel side on the page, inches
CAPTION_IN = 0.36  # room for a two-line caption under each panel


def _import_matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the installation
        raise OptionError("needs matplotlib: pip install 'tumorsynth[figures]'") from None
    return Figure


def draw_figure(result: FigureResult) -> Any:
    """A matplotlib ``Figure`` with the panels of ``result`` in their grid."""
    Figure = _import_matplotlib()
    left = 0.42 if result.row_labels else 0.08
    top = 0.62 if result.col_labels else 0.45
    width = left + result.ncols * (PANEL_IN + 0.06) + 0.08
    height = top + result.nrows * (PANEL_IN + CAPTION_IN) + 0.05
    fig = Figure(figsize=(width, height))
    fig.suptitle(result.title, x=0.5, y=1 - 0.1 / height, va="top", fontsize=10, fontweight="bold")
    if result.note:
        fig.text(0.5, 1 - 0.3 / height, result.note, ha="center", va="top", fontsize=6.5, color="0.25")
    for p in result.panels:
        x0 = left + p.col * (PANEL_IN + 0.06)
        y0 = height - top - (p.row + 1) * (PANEL_IN + CAPTION_IN) + CAPTION_IN
        ax = fig.add_axes((x0 / width, y0 / height, PANEL_IN / width, PANEL_IN / height))
        ax.imshow(p.image, interpolation="antialiased")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(p.caption, fontsize=6, labelpad=2, linespacing=1.1)
        # scale bar, bottom right
        bar = SCALE_BAR_MM / p.mm_per_px
        n = p.image.shape[0]
        ax.plot([n * 0.95 - bar, n * 0.95], [n * 0.94, n * 0.94], color="white", lw=1.5,
                solid_capstyle="butt")
        if p.col == 0 and p.row < len(result.row_labels):
            ax.set_ylabel(result.row_labels[p.row], fontsize=8)
        if p.row == 0 and p.col < len(result.col_labels):
            ax.set_title(result.col_labels[p.col], fontsize=8, pad=3)
    return fig


def parse_formats(formats: str | Sequence[str]) -> list[str]:
    """``"png,pdf"`` or a list -> validated, lower-case, unique formats."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for f in items:
        f = f.strip().lower().lstrip(".")
        if not f:
            continue
        if f not in FORMATS:
            raise OptionError(f"--format {f!r} is not supported; choose from {', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise OptionError(f"--format is empty; choose from {', '.join(FORMATS)}")
    return out


def save_figure(result: FigureResult, outdir: str | os.PathLike[str], *,
                formats: str | Sequence[str] = ("png", "pdf"), dpi: float = 100.0) -> list[Path]:
    """Write ``result`` as ``OUTDIR/NAME.<format>`` for each format, plus ``NAME.json``.

    The JSON records the seed, the host and every panel's parameter values and record, so any
    panel can be replayed with :func:`tumorsynth.synthesize`. Files are written atomically.
    Returns the paths written (also stored in ``result.files``).
    """
    from tumorsynth.io import atomic_path, write_bytes_atomic

    fmts = parse_formats(formats)
    if not (dpi > 0):
        raise OptionError(f"--dpi must be > 0, got {dpi}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw_figure(result)
    paths = []
    for fmt in fmts:
        path = out / f"{result.name}.{fmt}"
        with atomic_path(path) as tmp:
            meta = {"Title": result.title} if fmt == "pdf" else None
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
        paths.append(path)
        logger.info("figures: wrote %s", path)
    result.files = [*paths, out / f"{result.name}.json"]
    record = result.to_dict()
    from tumorsynth import __version__

    record["tumorsynth_version"] = __version__
    record["dpi"] = dpi
    record["size_px"] = [round(v * dpi) for v in fig.get_size_inches()]
    write_bytes_atomic(out / f"{result.name}.json", json.dumps(record, indent=1).encode())
    return result.files
