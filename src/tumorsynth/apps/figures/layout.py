"""Lay the panels of a :class:`~tumorsynth.apps.figures.panels.FigureResult` out on a page and save it.

matplotlib is imported here only, and only its object API is used (``Figure``, drawn by the Agg
and PDF writers): no pyplot, no global figure state, no GUI backend.
"""

from __future__ import annotations

import io
import json
import logging
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tumorsynth.apps.figures.panels import FigureResult
from tumorsynth.errors import MissingDependencyError, OptionError

__all__ = ["FORMATS", "SCALE_BAR_MM", "draw_figure", "parse_formats", "png_size", "save_figure"]

logger = logging.getLogger(__name__)

FORMATS = ("png", "pdf", "svg")
SCALE_BAR_MM = 10.0
PANEL_IN = 1.35  # panel side on the page, inches
CAPTION_IN = 0.34  # room for a two-line caption under each panel
GAP_IN = 0.12  # between panels of a row


def _import_matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the installation
        raise MissingDependencyError("needs matplotlib: pip install 'tumorsynth[figures]'") from None
    return Figure


def draw_figure(result: FigureResult) -> Any:
    """A matplotlib ``Figure`` with the panels of ``result`` in their grid."""
    Figure = _import_matplotlib()
    left = 0.42 if result.row_labels else 0.08
    width = left + result.ncols * (PANEL_IN + GAP_IN) + 0.08
    note = textwrap.fill(result.note, width=max(40, int(width * 18))) if result.note else ""
    extra = 0.11 * note.count("\n")
    top = (0.62 if result.col_labels else 0.45) + extra
    height = top + result.nrows * (PANEL_IN + CAPTION_IN) + 0.05
    fig = Figure(figsize=(width, height))
    fig.suptitle(result.title, x=0.5, y=1 - 0.1 / height, va="top", fontsize=10, fontweight="bold")
    if note:
        fig.text(0.5, 1 - 0.3 / height, note, ha="center", va="top", fontsize=6.5, color="0.25",
                 linespacing=1.2)
    for p in result.panels:
        x0 = left + p.col * (PANEL_IN + GAP_IN)
        y0 = height - top - (p.row + 1) * (PANEL_IN + CAPTION_IN) + CAPTION_IN
        ax = fig.add_axes((x0 / width, y0 / height, PANEL_IN / width, PANEL_IN / height))
        ax.imshow(p.image, interpolation="antialiased")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(p.caption, fontsize=6.5, labelpad=2, linespacing=1.05)
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


def png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of a PNG file, read from its header."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


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


def _save_png_palette(fig: Any, path: Path, dpi: float, colors: int) -> None:
    """Save a PNG with an adaptive palette of ``colors`` entries (about half the bytes)."""
    from PIL import Image  # a dependency of matplotlib

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as im:
        q = im.convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE)
    q.save(path, format="PNG", optimize=True)


def save_figure(result: FigureResult, outdir: str | os.PathLike[str], *,
                formats: str | Sequence[str] = ("png", "pdf"), dpi: float = 100.0,
                png_colors: int | None = None) -> list[Path]:
    """Write ``result`` as ``OUTDIR/NAME.<format>`` for each format, plus ``NAME.json``.

    The JSON records the seed, the host and every panel's parameter values and record, so any
    panel can be replayed with :func:`tumorsynth.synthesize`. Files are written atomically.
    ``png_colors`` (2-256) writes PNGs with a palette of that many colours: smaller files for
    web pages and documentation, at a slight loss of grey levels.
    Returns the paths written (also stored in ``result.files``).
    """
    from tumorsynth.io import atomic_path, write_bytes_atomic

    fmts = parse_formats(formats)
    if not (dpi > 0):
        raise OptionError(f"--dpi must be > 0, got {dpi}")
    if png_colors is not None and not 2 <= int(png_colors) <= 256:
        raise OptionError(f"--png-colors must be 2 to 256, got {png_colors}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw_figure(result)
    paths = []
    for fmt in fmts:
        path = out / f"{result.name}.{fmt}"
        with atomic_path(path) as tmp:
            if fmt == "png" and png_colors is not None:
                _save_png_palette(fig, tmp, dpi, int(png_colors))
            else:
                meta = {"Title": result.title} if fmt == "pdf" else None
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
        paths.append(path)
        logger.info("figures: wrote %s", path)
    result.files = [*paths, out / f"{result.name}.json"]
    record = result.to_dict()
    from tumorsynth._version import __version__

    record["tumorsynth_version"] = __version__
    record["dpi"] = dpi
    record["size_in"] = [round(float(v), 3) for v in fig.get_size_inches()]
    if "png" in fmts:
        record["size_px"] = list(png_size(out / f"{result.name}.png"))
    write_bytes_atomic(out / f"{result.name}.json", json.dumps(record, indent=1).encode())
    return result.files
