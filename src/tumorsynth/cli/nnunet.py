"""``tumorsynth nnunet export|install``: thin shells over :mod:`tumorsynth.integrations.nnunet`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tumorsynth.errors import EXIT_USAGE

NNUNET_HELP = """\
nnU-Net v2 with synthetic tumors on the fly (docs/nnunet.md):

  tumorsynth nnunet export --healthy btcv.csv --real LiTS -o $nnUNet_raw --dataset-id 501
  tumorsynth nnunet install          # once per environment: nnU-Net finds our trainers
  nnUNetv2_plan_and_preprocess -d 501 -c 3d_fullres
  nnUNetv2_train 501 3d_fullres 0 -tr nnUNetTrainerTumorSynth
"""

EXPORT_HELP = """\
Write an nnU-Net v2 raw dataset (imagesTr/NAME_0000.nii.gz, labelsTr/NAME.nii.gz with 0
background, 1 liver, 2 tumor, dataset.json, splits_final.json) from healthy livers (any layout
`tumorsynth batch` reads: LiTS, MSD, BTCV, TotalSegmentator, pairs, CSV) and optionally real
tumor cases. The regime decides what each fold trains on: real, synthetic (healthy cases with
tumors synthesized on the fly by nnUNetTrainerTumorSynth) or real+synthetic; folds validate on
real cases only.

example: tumorsynth nnunet export --healthy btcv.csv --real LiTS -o nnUNet_raw \\
             --dataset-id 501 --regime real+synthetic --splits splits.json
"""

INSTALL_HELP = """\
Make nnU-Net find the trainers nnUNetTrainerTumorSynth and nnUNetTrainerTumorSynth_tiny:
nnU-Net looks for -tr NAME only inside its own package, so this writes one small module there
(nnunetv2/training/nnUNetTrainer/tumorsynth_trainers.py) that imports them from tumorsynth.
--uninstall removes it.
"""


def _parse_json(text: str | None, what: str) -> Any:
    from tumorsynth.errors import OptionError

    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise OptionError(f"{what}: not valid JSON ({exc.msg}): {text!r}") from None


def _overrides(items: list[str] | None) -> dict[str, Any] | None:
    """Generator knobs of ``--set KEY=VALUE`` (repeatable); the old ``--set JSON`` still works."""
    from tumorsynth.cli.options import parse_set, warn_deprecated
    from tumorsynth.errors import OptionError

    if not items:
        return None
    knobs: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            warn_deprecated("--set JSON", "--set KEY=VALUE (repeatable), e.g. --set contrast_hu=-60,-20")
            table = _parse_json(item, "--set")
            if not isinstance(table, dict):
                raise OptionError(f"--set {item!r}: expected a JSON table of knobs")
            knobs.update(table)
        else:
            knobs.update(parse_set([item], example="contrast_hu=-60,-20"))
    return knobs


def _export(args: argparse.Namespace) -> int:
    from tumorsynth.integrations.nnunet import export_dataset

    presets = _parse_json(args.presets, "--presets")
    overrides = _overrides(args.set)
    rec = export_dataset(
        args.output, healthy=args.healthy or [], real=args.real or [], dataset_id=args.dataset_id,
        name=args.name, regime=args.regime, splits=args.splits, n_folds=args.folds,
        split_seed=args.split_seed, presets=presets, prob=args.prob, overrides=overrides,
        seed=args.seed, layout=args.layout, overwrite=args.overwrite,
    )
    cases = rec["cases"]
    n_h = sum(1 for c in cases.values() if c["kind"] == "healthy")
    print(f"{rec['folder']}: {n_h} healthy and {len(cases) - n_h} real cases, regime {rec['regime']}")
    print(f"next: nnUNetv2_plan_and_preprocess -d {args.dataset_id} -c 3d_fullres, then "
          f"nnUNetv2_train {args.dataset_id} 3d_fullres FOLD -tr nnUNetTrainerTumorSynth")
    return 0


def _install(args: argparse.Namespace) -> int:
    from tumorsynth.integrations.nnunet import TRAINER_NAMES, install_trainers, uninstall_trainers

    if args.uninstall:
        print("removed" if uninstall_trainers() else "nothing to remove")
        return 0
    path = install_trainers()
    print(f"{path}: nnU-Net now finds {', '.join(TRAINER_NAMES)} (-tr NAME)")
    return 0


def register(subparsers: Any) -> None:
    """Add ``nnunet export`` and ``nnunet install`` to the main parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("nnunet", help="nnU-Net v2: export a dataset, install the trainer",
                              description=NNUNET_HELP, formatter_class=fmt)
    sub = p.add_subparsers(dest="nnunet_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: (p.print_help(sys.stderr), EXIT_USAGE)[1])

    e = sub.add_parser("export", help="write an nnU-Net raw dataset", description=EXPORT_HELP,
                       formatter_class=fmt)
    e.add_argument("-o", "--output", required=True, metavar="DIR", help="the nnUNet_raw folder")
    e.add_argument("--healthy", nargs="+", metavar="DIR", help="healthy CTs with liver masks (folders or CSVs)")
    e.add_argument("--real", nargs="+", metavar="DIR", help="real tumor datasets (LiTS, MSD Task03, CSV)")
    e.add_argument("--dataset-id", type=int, default=501, help="nnU-Net dataset number (default 501)")
    e.add_argument("--name", default="TumorSynth", help="dataset name (default TumorSynth)")
    e.add_argument("--regime", default="synthetic", help="real, synthetic (default) or real+synthetic")
    e.add_argument("--splits", metavar="JSON", help="split file over the real cases (tumorsynth splits)")
    e.add_argument("--folds", type=int, default=5, help="folds when no split file is given (default 5)")
    e.add_argument("--split-seed", type=int, default=12345, help="seed of those folds (default 12345)")
    e.add_argument("--presets", metavar="JSON", help='tumor types and weights, e.g. \'{"small": 0.5, "large": 0.5}\' '
                                                    "(default: the paper's five at 0.2)")
    e.add_argument("--prob", type=float, default=1.0, help="probability of tumors per healthy sample (default 1)")
    e.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any generator knob (repeatable), as for synth: a number fixes it, lo,hi draws it "
                        "uniformly, e.g. --set contrast_hu=-60,-20")
    e.add_argument("--seed", type=int, default=0, help="base seed of the data workers (default 0)")
    e.add_argument("--layout", default="auto", help="dataset layout (default auto)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    e.set_defaults(func=_export)

    i = sub.add_parser("install", help="make nnU-Net find the tumorsynth trainers",
                       description=INSTALL_HELP, formatter_class=fmt)
    i.add_argument("--uninstall", action="store_true", help="remove the module again")
    i.set_defaults(func=_install)
