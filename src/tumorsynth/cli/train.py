"""``tumorsynth train``, ``predict``, ``experiment`` and ``splits``: thin shells over
:mod:`tumorsynth.apps.train`. Torch and MONAI are imported inside the commands only."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tumorsynth.cli.options import add_deprecated_alias, parse_set

TRAIN_HELP = """\
Train a tumor segmentation model (MONAI U-Net or Swin UNETR) with the paper's recipe:
1 mm grid, HU window [-21, 189] -> [0, 1], 96^3 patches, Dice + cross-entropy, AdamW (lr 4e-4,
weight decay 1e-5), warm-up then cosine. Regimes: real (real tumors), synthetic (healthy CTs
with tumors synthesized on the fly), real+synthetic. Settings come from --config FILE (JSON or
TOML, keys as in the docs), then the flags below, then --set KEY=VALUE. Rerunning the same
command resumes from OUT/checkpoints/last.pt. For several GPUs or nodes start it with torchrun.

examples:
  tumorsynth train --healthy btcv.csv --real LiTS --splits splits.json --fold 0 -o runs/syn_f0
  torchrun --nproc_per_node=4 -m tumorsynth train --config unet.json
"""

PREDICT_HELP = """\
Segment CTs (a file or a folder) with a checkpoint written by `tumorsynth train`:
sliding-window inference (overlap 0.75, Gaussian weighting), the largest liver component and
the tumors near it, labels 0/1/2 written as NIfTI on each input's own grid.

example: tumorsynth predict -m runs/syn_f0/checkpoints/best.pt LiTS/volume-3.nii -o pred/
"""

EXPERIMENT_HELP = """\
Run the 5-fold cross-validation protocol for the given models and regimes, fold by fold
(resumable: rerun to continue), writing EXP/<model>_<regime>/fold_<k>/ (checkpoints,
predictions, eval/summary.json) and the Table 5 report EXP/table5.md.

example: tumorsynth experiment --real LiTS --healthy healthy.csv -o EXP \\
             --models unet swin_unetr_tiny --regimes real synthetic
"""

SPLITS_HELP = """\
Make seeded k-fold splits (nnU-Net style JSON: [{"train": [...], "val": [...]}, ...]) of the
cases of a dataset folder or CSV. The same names and seed always give the same file.

example: tumorsynth splits LiTS -o splits.json --folds 5 --seed 12345
"""


def _need_torch() -> None:
    from tumorsynth.errors import MissingDependencyError

    for mod in ("torch", "monai"):
        try:
            __import__(mod)
        except ModuleNotFoundError:
            raise MissingDependencyError(f"this command needs {mod}: pip install 'tumorsynth[train]'") from None


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (see docs/training.md)")
    g.add_argument("--config", metavar="FILE", help="JSON or TOML file of settings")
    g.add_argument("--real", nargs="+", metavar="DIR", help="real-tumor datasets (LiTS, MSD Task03, CSV)")
    g.add_argument("--healthy", nargs="+", metavar="DIR", help="healthy CTs with liver masks (folder or CSV)")
    g.add_argument("--splits", metavar="JSON", help="split file (from `tumorsynth splits`)")
    g.add_argument("--regime", help="real, synthetic (default) or real+synthetic")
    g.add_argument("--model", help="unet (default), swin_unetr_tiny, swin_unetr_small, swin_unetr_base")
    g.add_argument("--max-epochs", type=int, metavar="N")
    g.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps (short runs)")
    g.add_argument("--batch-size", type=int, metavar="N")
    g.add_argument("--loader-workers", type=int, metavar="N",
                   help="DataLoader worker processes per training process (setting num_workers)")
    add_deprecated_alias(g, "--workers", dest="loader_workers", new="--loader-workers", type=int, metavar="N")
    g.add_argument("--device", help="auto (default), cpu, cuda")
    g.add_argument("--seed", type=int)
    g.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any setting (repeatable): a number, a list 64,64,64 or [64,64,64], true/false, "
                        "a JSON table {...}, or text; e.g. --set lr=2e-4 --set cache=disk")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add ``train``, ``predict``, ``experiment`` and ``splits`` to the main parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("train", help="train a segmentation model (MONAI), synthetic tumors on the fly",
                              description=TRAIN_HELP, formatter_class=fmt)
    _data_args(p)
    p.add_argument("--fold", type=int, help="fold of the split file (default 0)")
    p.add_argument("-o", "--output", metavar="OUT", help="run folder (default runs/tumorsynth)")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT has a checkpoint")
    p.add_argument("--init-from", metavar="CKPT", help="start from these weights (same model)")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    p.set_defaults(func=run_train)

    q = subparsers.add_parser("predict", help="segment CTs with a trained checkpoint",
                              description=PREDICT_HELP, formatter_class=fmt)
    q.add_argument("inputs", nargs="+", metavar="CT", help="CT NIfTI file(s) or a folder")
    q.add_argument("-m", "--checkpoint", metavar="CKPT", required=True, help="checkpoint (.pt) from `tumorsynth train`")
    q.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    q.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1 ...")
    q.add_argument("--overlap", type=float, default=None, help="sliding-window overlap (default 0.75)")
    q.add_argument("--sw-batch-size", type=int, default=None, metavar="N")
    q.add_argument("--mode", choices=("gaussian", "constant"), default="gaussian")
    q.add_argument("--no-postprocess", action="store_true", help="keep every component")
    q.add_argument("--no-overwrite", action="store_true", help="skip inputs whose output exists")
    q.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default=None,
                   help="mixed precision (default: the setting the checkpoint was trained with)")
    q.set_defaults(func=run_predict)

    e = subparsers.add_parser("experiment", help="5-fold protocol for models x regimes, then Table 5",
                              description=EXPERIMENT_HELP, formatter_class=fmt)
    _data_args(e)
    e.add_argument("-o", "--output", metavar="EXP", required=True, help="experiment folder")
    e.add_argument("--models", nargs="+", default=["unet"], metavar="MODEL")
    e.add_argument("--regimes", nargs="+", default=["real", "synthetic"], metavar="REGIME")
    e.add_argument("--folds", nargs="+", type=int, default=None, metavar="K", help="default: all")
    e.add_argument("--n-folds", type=int, default=5, help="folds of a new split (default 5)")
    e.add_argument("--split-seed", type=int, default=12345, help="seed of a new split (default 12345)")
    e.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="checkpoint that predicts each fold (default last: the fold is the test set)")
    e.set_defaults(func=run_experiment_cmd)

    s = subparsers.add_parser("splits", help="seeded k-fold splits of a dataset (JSON)",
                              description=SPLITS_HELP, formatter_class=fmt)
    s.add_argument("dataset", nargs="+", metavar="DIR", help="dataset folder(s) or CSV(s)")
    s.add_argument("-o", "--output", metavar="JSON", required=True, help="split file to write")
    s.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    s.add_argument("--seed", type=int, default=12345, help="seed (default 12345)")
    s.add_argument("--layout", default="auto", help="dataset layout (default auto)")
    s.set_defaults(func=run_splits)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`TrainConfig` of a command line: file, then flags, then ``--set``."""
    from tumorsynth.apps.train.config import TrainConfig, load_config

    cfg = load_config(args.config) if getattr(args, "config", None) else TrainConfig()
    flags = {
        "real": args.real, "healthy": args.healthy, "splits": args.splits, "regime": args.regime,
        "model": args.model, "max_epochs": args.max_epochs, "max_steps": args.max_steps,
        "batch_size": args.batch_size, "num_workers": args.loader_workers, "device": args.device,
        "seed": args.seed,
        "fold": getattr(args, "fold", None), "out": getattr(args, "output", None),
        "init_from": getattr(args, "init_from", None),
    }
    cfg.update({k: v for k, v in flags.items() if v is not None}, source="command line")
    if getattr(args, "no_resume", False):
        cfg.resume = False
    if args.no_progress:
        cfg.progress = False
    cfg.update(parse_set(args.set, example="max_epochs=50"), source="--set")
    return cfg


def run_train(args: argparse.Namespace) -> int:
    """``tumorsynth train``."""
    cfg = config_from_args(args)
    cfg.validate()
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    _need_torch()
    from tumorsynth.apps.train.engine import train

    rec = train(cfg)
    if int(rec.get("world_size", 1)) == 1 or str(rec.get("status")) == "finished":
        best = rec.get("best_val")
        best_s = f", best validation DSC {best:.4f}" if isinstance(best, float) else ""
        print(f"trained {rec.get('steps')} steps{best_s}; run folder {cfg.out}", file=sys.stderr)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``tumorsynth predict``."""
    _need_torch()
    from tumorsynth.apps.train.inference import predict

    inputs: Any = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    written = predict(args.checkpoint, inputs, args.output, device=args.device, overlap=args.overlap,
                      sw_batch_size=args.sw_batch_size, mode=args.mode,
                      postprocessing=not args.no_postprocess, overwrite=not args.no_overwrite,
                      progress=True, amp=args.amp)
    print(f"wrote {len(written)} label map(s) to {args.output}", file=sys.stderr)
    return 0


def run_experiment_cmd(args: argparse.Namespace) -> int:
    """``tumorsynth experiment``."""
    cfg = config_from_args(args)
    _need_torch()
    from tumorsynth.apps.train.experiment import run_experiment

    res = run_experiment(cfg, args.output, models=args.models, regimes=args.regimes,
                         folds=args.folds, n_folds=args.n_folds, split_seed=args.split_seed,
                         checkpoint=args.checkpoint)
    table = res.get("table")
    if table and table.get("markdown"):
        print(table["markdown"])
    return 0


def run_splits(args: argparse.Namespace) -> int:
    """``tumorsynth splits``."""
    from tumorsynth.apps.train.data import find_cases
    from tumorsynth.apps.train.splits import make_splits, save_splits

    names = [c.name for root in args.dataset for c in find_cases(root, layout=args.layout)]
    splits = make_splits(names, n_folds=args.folds, seed=args.seed)
    save_splits(Path(args.output), splits)
    print(f"wrote {args.output}: {len(names)} cases, {args.folds} folds, seed {args.seed}", file=sys.stderr)
    return 0
