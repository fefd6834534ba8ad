"""``tumorsynth figures NAME``: a thin shell over :mod:`tumorsynth.apps.figures`.

matplotlib and the generator are imported inside the command, so ``tumorsynth --help`` stays
fast and an installation without the ``figures`` extra still runs every other command.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from tumorsynth.errors import MissingDependencyError, OptionError

NAMES = ("examples", "shape", "texture", "types", "ablation", "steps")

FIGURES_HELP = """\
Draw the galleries of synthetic tumors of the paper (Figures 8 to 12) and the pipeline, each
as NAME.png and NAME.pdf plus NAME.json (seed and every panel's parameter record) in OUTDIR.

  examples   a grid of tumors: size grows down the rows, intensity darker to the right
  shape      radius r (rows) against elastic deformation sigma_e (columns)
  texture    mean intensity mu_t (rows) against grain ("sharpness") eta (columns)
  types      tiny, small, medium, large and mix, as used for training
  ablation   full / without edge blurring / without elastic deformation / without both
  steps      location (with vessels), texture, shape, blend, mass effect, capsule
  all        every figure above

Each panel is an axial slice through the tumor centre in a liver window (W 400, L 50),
cropped around the tumor, with the tumor outlined; captions give the parameter values.
Drawn on the built-in phantom, or on your CT with --ct and --liver.
Needs matplotlib: pip install 'tumorsynth[figures]'.

examples: tumorsynth figures all
          tumorsynth figures shape --ct ct.nii.gz --liver seg.nii.gz --liver-label 1 -o figs
"""


def _window(text: str) -> tuple[float, float]:
    try:
        w, lv = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTH,LEVEL in HU (e.g. 400,50), got {text!r}") from None
    if not w > 0:
        raise argparse.ArgumentTypeError(f"window width must be > 0 HU, got {w:g}")
    return w, lv


def register(subparsers: Any) -> None:
    """Add the ``figures`` command to the main parser."""
    p = subparsers.add_parser(
        "figures",
        help="galleries of synthetic tumors (the paper's Figures 8-12) and the pipeline",
        description=FIGURES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME",
                   help=f"{', '.join(NAMES)}, or all (several: comma-separated)")
    p.add_argument("--ct", metavar="CT", help="your CT (NIfTI, HU) instead of the phantom")
    p.add_argument("--liver", metavar="MASK", help="liver mask or label map of --ct")
    p.add_argument("--liver-label", type=int, metavar="N",
                   help="value of the liver in a multi-label MASK (e.g. 5 for TotalSegmentator)")
    p.add_argument("-o", "--output", metavar="OUTDIR", default="tumorsynth_figures",
                   help="output folder (default: tumorsynth_figures)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tumors (default 0)")
    p.add_argument("--no-outline", action="store_true", help="do not outline the tumor label")
    p.add_argument("--format", default="png,pdf", metavar="FMT[,FMT]",
                   help="output formats, comma-separated: png, pdf, svg (default png,pdf)")
    p.add_argument("--dpi", type=float, default=100.0, help="resolution of PNG output (default 100)")
    p.add_argument("--png-colors", type=int, metavar="N",
                   help="write PNGs with an N-colour palette (2-256): about half the size, "
                        "for web pages and docs")
    p.add_argument("--window", type=_window, default=(400.0, 50.0), metavar="W,L",
                   help="display window width,level in HU (default 400,50: liver)")
    p.set_defaults(func=run_figures)


def run_figures(args: argparse.Namespace) -> int:
    """Build and save the figures named in ``args.name``."""
    from tumorsynth.apps.figures import figure_names, load_host, make_figure, save_figure
    from tumorsynth.apps.figures.layout import parse_formats

    names = figure_names(args.name)
    formats = parse_formats(args.format)
    if args.seed < 0:
        raise OptionError(f"--seed must be >= 0, got {args.seed}")
    if not args.dpi > 0:
        raise OptionError(f"--dpi must be > 0, got {args.dpi:g}")
    if args.png_colors is not None and not 2 <= args.png_colors <= 256:
        raise OptionError(f"--png-colors must be 2 to 256, got {args.png_colors}")
    if (args.ct is None) != (args.liver is None):
        raise OptionError("give both --ct CT and --liver MASK (or neither, for the phantom)")
    if args.liver_label is not None and args.liver is None:
        raise OptionError("--liver-label needs --ct and --liver")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError("needs matplotlib: pip install 'tumorsynth[figures]'") from None
    host = load_host(args.ct, args.liver, liver_label=args.liver_label)
    for name in names:
        t0 = time.perf_counter()
        result = make_figure(name, host, seed=args.seed, outline=not args.no_outline,
                             window=args.window)
        files = save_figure(result, args.output, formats=formats, dpi=args.dpi,
                            png_colors=args.png_colors)
        shown = ", ".join(str(f) for f in files)
        print(f"{name}: {len(result.panels)} panels -> {shown} ({time.perf_counter() - t0:.1f} s)")
    return 0
