"""``tumorsynth evaluate`` and ``tumorsynth report``: thin shells over :mod:`tumorsynth.apps.evaluate`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from tumorsynth.cli.options import add_jobs_option, check_jobs

EVALUATE_HELP = """\
Score predicted label maps (0 background, 1 liver, 2 tumor) against ground truth: tumor and
liver DSC and NSD at 2 mm in each case's physical spacing, lesion-wise detection by tumor size
(tiny < 10 mm, small < 20, medium < 40, large), false positives per scan, and bootstrap
confidence intervals. PRED and GT are two files or two folders; folders pair files by case
name (liver_3.nii.gz, LiTS volume-3 with segmentation-3, nnU-Net _0000 suffixes).
Writes cases.csv, lesions.csv and summary.json to OUT.

example: tumorsynth evaluate runs/unet_synthetic/fold_0/pred Task03_Liver/labelsTr \\
             -o runs/unet_synthetic/fold_0/eval
"""

REPORT_HELP = """\
Build the paper's Table 5 (tumor DSC and NSD, one row per model x data regime, one column per
fold plus the average) from an experiment folder laid out as
EXP/<model>_<regime>/fold_<k>/eval/summary.json. Writes table5.md, table5.csv and table5.png
to OUT (default: EXP) and prints the Markdown table.

example: tumorsynth report runs/
"""


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` and ``report`` commands to the main parser."""
    p = subparsers.add_parser(
        "evaluate",
        help="DSC, NSD and lesion detection of predictions against ground truth",
        description=EVALUATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pred", metavar="PRED", help="predicted label map, or a folder of them")
    p.add_argument("gt", metavar="GT", help="ground-truth label map, or a folder of them")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="folder for cases.csv, lesions.csv, summary.json")
    p.add_argument("--tolerance-mm", type=float, default=2.0, help="NSD tolerance in mm (default 2)")
    p.add_argument("--connectivity", type=int, choices=(6, 18, 26), default=26, help="lesion connectivity (default 26)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap resamples for the CI (default 2000)")
    p.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level of the CI (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    add_jobs_option(p, "cases evaluated")
    sel = p.add_argument_group("select cases (folders only; default: every ground-truth case)")
    sel.add_argument("--cases", metavar="NAME,...", help="comma-separated case names to evaluate")
    sel.add_argument("--split", metavar="FILE", help="nnU-Net style split JSON; evaluate one fold's 'val' cases")
    sel.add_argument("--fold", type=int, metavar="K", help="the fold of --split")
    p.set_defaults(func=run_evaluate)

    r = subparsers.add_parser(
        "report",
        help="the Table 5 report (folds x models x regimes) of an experiment folder",
        description=REPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("exp_dir", metavar="EXP_DIR", help="experiment folder")
    r.add_argument("-o", "--output", metavar="OUT", default=None, help="output folder (default: EXP_DIR)")
    r.add_argument("--folds", type=int, default=5, help="number of fold columns (default 5)")
    r.add_argument("--no-plot", action="store_true", help="skip table5.png")
    r.set_defaults(func=run_report)


def _fmt(stats: dict[str, Any]) -> str:
    mean = stats.get("mean")
    if mean is None:
        return "n/a"
    lo, hi = stats.get("ci") or (None, None)
    ci = f" [{100 * lo:.2f}, {100 * hi:.2f}]" if lo is not None and hi is not None and stats.get("n", 0) > 1 else ""
    return f"{100 * mean:.2f}%{ci} (n={stats.get('n')})"


def _selected_cases(args: argparse.Namespace) -> list[str] | None:
    from tumorsynth.apps.evaluate import split_cases
    from tumorsynth.errors import OptionError

    if args.split is not None and args.cases is not None:
        raise OptionError("--cases and --split: give one of them")
    if (args.split is None) != (args.fold is None):
        raise OptionError("--split and --fold go together, e.g. --split splits_final.json --fold 0")
    if args.split is not None:
        return split_cases(args.split, args.fold)
    if args.cases is not None:
        names = [c.strip() for c in args.cases.split(",") if c.strip()]
        if not names:
            raise OptionError(f"--cases {args.cases!r}: expected comma-separated case names")
        return names
    return None


def run_evaluate(args: argparse.Namespace) -> int:
    """``tumorsynth evaluate PRED GT -o OUT``."""
    from tumorsynth.apps.evaluate import evaluate_files, evaluate_folder
    from tumorsynth.errors import InputError, OptionError

    pred, gt = Path(args.pred), Path(args.gt)
    for path, what in ((pred, "prediction"), (gt, "ground truth")):
        if not path.exists():
            raise InputError(f"{path}: {what} not found; check the path")
    if args.bootstrap < 1:
        raise OptionError(f"--bootstrap {args.bootstrap}: expected a positive number of resamples")
    if not 0.0 < args.alpha < 1.0:
        raise OptionError(f"--alpha {args.alpha}: expected a number between 0 and 1, e.g. 0.05")
    if not math.isfinite(args.tolerance_mm) or args.tolerance_mm < 0:
        raise OptionError(f"--tolerance-mm {args.tolerance_mm}: expected a number >= 0")
    check_jobs(args.jobs)
    common = {"tolerance_mm": args.tolerance_mm, "connectivity": args.connectivity}
    cases = _selected_cases(args)
    if pred.is_dir() and gt.is_dir():
        summary = evaluate_folder(
            pred, gt, args.output, n_bootstrap=args.bootstrap, alpha=args.alpha, seed=args.seed,
            cases=cases, workers=args.jobs, **common,
        )
    elif cases is not None:
        raise OptionError("--cases/--split select cases of folders; PRED and GT are files")
    elif pred.is_file() and gt.is_file():
        summary = evaluate_files(pred, gt, args.output, **common)
    else:
        raise OptionError(
            f"PRED {pred} and GT {gt}: give two files or two folders, not one of each"
        )
    m = summary["metrics"]
    det = summary["detection"]
    print(f"cases: {summary['n_cases']} ({summary['n_cases_with_tumor']} with tumor)")
    for key, name in (("tumor_dsc", "tumor DSC"), ("tumor_nsd", "tumor NSD"), ("liver_dsc", "liver DSC"), ("liver_nsd", "liver NSD")):
        print(f"{name}: {_fmt(m[key])}")
    sens = ", ".join(
        f"{c} {det[c]['detected']}/{det[c]['lesions']}" for c in ("tiny", "small", "medium", "large", "all")
    )
    print(f"lesions detected: {sens}; false positives per scan: {det['false_positives_per_scan']:.2f}")
    print(f"wrote {Path(args.output) / 'summary.json'}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``tumorsynth report EXP_DIR [-o OUT]``."""
    from tumorsynth.apps.evaluate import collect_experiment
    from tumorsynth.errors import OptionError

    if args.folds < 1:
        raise OptionError(f"--folds {args.folds}: expected a positive number of folds")
    result = collect_experiment(args.exp_dir, args.output, n_folds=args.folds, plot=not args.no_plot)
    print(result["markdown"])
    print("wrote " + ", ".join(result["files"]))
    return 0
