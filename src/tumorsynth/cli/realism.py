"""The ``realism`` command: compare the lesions of real and synthetic labelled CTs."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
Each set is a folder or a .csv list (columns image,mask) in a layout `tumorsynth batch` reads
(LiTS volume-N/segmentation-N, MSD imagesTr/labelsTr, ...) or the output of `tumorsynth synth`
and `batch` (NAME/ct.nii.gz + NAME/label.nii.gz; 0 background, 1 liver, 2 tumor).
A lesion is a 26-connected component of the tumor label.

outputs (in OUTDIR): realism.json (settings, versions, every lesion's features, the comparison),
realism.md (the table below), features.csv (one row per lesion), histograms.png.

reading the table: W/IQR is the Wasserstein distance between the two distributions divided by
the real IQR (0: same distribution; 1: shifted by a typical real spread); KS the Kolmogorov-
Smirnov statistic; gap the mean W/IQR over the shape and appearance features (marked *).

examples:
  tumorsynth batch healthy/ -o synth/
  tumorsynth realism --real LiTS/ --synthetic synth/ -o realism/
  tumorsynth realism --real LiTS/ -o lits_lesions/          # describe one set
"""


def cmd_realism(args: argparse.Namespace) -> int:
    from tumorsynth.apps.realism import realism_report
    from tumorsynth.errors import OptionError

    if args.min_volume_mm3 < 0:
        raise OptionError(f"--min-volume-mm3 {args.min_volume_mm3:g}: give a volume >= 0")
    if args.iso_mm <= 0:
        raise OptionError(f"--iso-mm {args.iso_mm:g}: give a grid step > 0 (e.g. 1)")
    cmp = realism_report(args.real, args.synthetic, args.output, min_volume_mm3=args.min_volume_mm3,
                         tumor_label=args.tumor_label, liver_labels=args.liver_label, iso_mm=args.iso_mm,
                         overwrite=args.overwrite, progress=not args.no_progress)
    print(cmp["table"], end="")
    print(f"report: {args.output}/realism.md, realism.json, features.csv, histograms.png")
    return 0


def _labels(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--liver-label {text!r}: give an integer or a list like 1,3") from None
    if not vals:
        raise argparse.ArgumentTypeError("--liver-label needs at least one value")
    return vals


def register(sub: Any) -> None:
    from tumorsynth.apps.realism.features import DEFAULT_MIN_VOLUME_MM3

    p = sub.add_parser("realism", help="compare real and synthetic lesions (shape, contrast, texture, edge)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="Measure every lesion of a real and a synthetic set of labelled CTs "
                                   "(volume, diameter, sphericity, elongation, contrast to the liver rim, "
                                   "heterogeneity, fine-texture ratio, edge width and offset) and compare "
                                   "the two distributions.")
    p.add_argument("--real", required=True, metavar="DIR|CSV", help="labelled CTs with real lesions (e.g. LiTS/)")
    p.add_argument("--synthetic", default=None, metavar="DIR|CSV",
                   help="labelled CTs with synthetic lesions (e.g. tumorsynth batch output); "
                        "leave out to describe --real alone")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="report folder (must not exist, unless --overwrite)")
    p.add_argument("--min-volume-mm3", type=float, default=DEFAULT_MIN_VOLUME_MM3, metavar="V",
                   help=f"ignore lesions smaller than V mm^3 (default {DEFAULT_MIN_VOLUME_MM3:g})")
    p.add_argument("--tumor-label", type=int, default=2, metavar="N", help="label value of lesions (default 2)")
    p.add_argument("--liver-label", type=_labels, default=None, metavar="N[,M]",
                   help="label value(s) of liver (default: the layout's, 1 for LiTS, MSD and tumorsynth outputs)")
    p.add_argument("--iso-mm", type=float, default=1.0, metavar="MM",
                   help="isotropic grid of the appearance features (default 1 mm)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_realism)
