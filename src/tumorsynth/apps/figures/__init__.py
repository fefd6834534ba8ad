"""Figures: galleries of synthetic tumors like the paper's Figures 8-12, and the pipeline.

``tumorsynth figures NAME`` (optional extra ``tumorsynth[figures]``, matplotlib) writes
``NAME.png``, ``NAME.pdf`` and ``NAME.json`` (the seed and every panel's parameter record) for:

=============  ==============================================================================
``examples``   a grid of tumors: size grows down the rows, intensity darkens to the right
``shape``      radius r (rows) against elastic deformation sigma_e (columns)
``texture``    mean intensity mu_t (rows) against grain ("sharpness") eta (columns)
``types``      tiny, small, medium, large and mix, as used for training
``ablation``   full, without edge blurring, without elastic deformation, without both
``steps``      location (with vessels), texture, shape, blend, mass effect, capsule
=============  ==============================================================================

Each panel is an axial slice through the tumor centre in a liver window (W 400, L 50), cropped
around the tumor, with the tumor label outlined; captions give the parameter values. The host
is the procedural phantom, or a user's CT and liver mask. In Python::

    from tumorsynth.apps.figures import load_host, make_figure, save_figure
    host = load_host()                      # the phantom; or load_host("ct.nii.gz", "liver.nii.gz")
    fig = make_figure("shape", host, seed=0)
    len(fig.panels), fig.panels[0].caption  # (12, 'r 10 mm, σe 0 mm')
    save_figure(fig, "out", formats="png,pdf")

Building the panels needs numpy and scipy only; laying them out and saving needs matplotlib.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from tumorsynth.apps.figures.galleries import (
    LIVER_WINDOW,
    ablation,
    examples,
    shape,
    texture,
    types,
)
from tumorsynth.apps.figures.host import Host, load_host, phantom_host
from tumorsynth.apps.figures.layout import FORMATS, draw_figure, save_figure
from tumorsynth.apps.figures.panels import FigureResult, Panel, SliceCrop
from tumorsynth.apps.figures.steps import steps
from tumorsynth.errors import OptionError

__all__ = [
    "FIGURES",
    "FORMATS",
    "LIVER_WINDOW",
    "FigureResult",
    "FigureSpec",
    "Host",
    "Panel",
    "SliceCrop",
    "draw_figure",
    "figure_names",
    "load_host",
    "make_figure",
    "phantom_host",
    "save_figure",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureSpec:
    """One entry of the registry: the gallery function, a one-line description, the paper's figure."""

    name: str
    build: Callable[..., FigureResult]
    description: str
    paper: str


FIGURES: dict[str, FigureSpec] = {
    s.name: s
    for s in (
        FigureSpec("examples", examples, "tumor grid: size grows down, darker to the right", "Fig. 8"),
        FigureSpec("shape", shape, "radius r against elastic deformation sigma_e", "Fig. 9"),
        FigureSpec("texture", texture, "mean intensity mu_t against grain eta", "Fig. 10"),
        FigureSpec("types", types, "tiny, small, medium, large and mix, as in training", "Fig. 11"),
        FigureSpec("ablation", ablation, "with and without edge blurring and deformation", "Fig. 12"),
        FigureSpec("steps", steps, "the pipeline for one tumor, step by step", "Fig. 3"),
    )
}


def figure_names(names: str) -> list[str]:
    """``"all"``, one name or ``"a,b"`` -> registry names; a bad name lists the choices."""
    out: list[str] = []
    for raw in str(names).split(","):
        key = raw.strip().lower()
        if not key:
            continue
        if key == "all":
            out += [n for n in FIGURES if n not in out]
            continue
        if key not in FIGURES:
            close = difflib.get_close_matches(key, [*FIGURES, "all"], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"unknown figure {raw.strip()!r}{hint}; choose one of "
                              f"{', '.join(FIGURES)}, or all")
        if key not in out:
            out.append(key)
    if not out:
        raise OptionError(f"no figure named; choose one of {', '.join(FIGURES)}, or all")
    return out


def make_figure(name: str, host: Host | None = None, *, seed: int = 0, outline: bool = True,
                window: tuple[float, float] = LIVER_WINDOW) -> FigureResult:
    """Build the panels of figure ``name`` on ``host`` (the phantom when None).

    Args:
        name: one of :data:`FIGURES`.
        host: from :func:`load_host` or :func:`phantom_host`.
        seed: seed of the tumors (the phantom's anatomy does not change with it).
        outline: outline the tumor label in red.
        window: display window (width, level) in HU.
    """
    names = figure_names(name)
    if len(names) != 1:
        raise OptionError(f"make_figure builds one figure, got {name!r}; loop over FIGURES for all")
    key = names[0]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise OptionError(f"seed must be a whole number >= 0, got {seed!r}")
    width, _level = window
    if not width > 0:
        raise OptionError(f"window width must be > 0 HU, got {width}")
    host = host if host is not None else phantom_host()
    logger.info("figures: building %s", key)
    return FIGURES[key].build(host, seed=seed, outline=outline, window=(float(window[0]), float(window[1])))
