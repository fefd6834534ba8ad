"""Training and inference with MONAI (optional extra: ``pip install 'tumorsynth[train]'``).

* :class:`TrainConfig` / :func:`load_config`: one flat configuration, the paper's recipe as
  defaults.
* :func:`train`: one model, one regime, one fold (``torchrun`` for several GPUs or nodes).
* :func:`predict`: sliding-window inference and post-processing, NIfTI on the input's grid.
* :func:`make_splits`, :func:`save_splits`, :func:`load_splits`: seeded 5-fold splits (JSON).
* :func:`run_experiment`: the 5-fold protocol for models x regimes, then the Table 5 report.

This package imports without torch; the functions need it and say so when it is missing.
"""

from __future__ import annotations

from typing import Any

from tumorsynth.apps.train.config import MODEL_NAMES, REGIMES, TrainConfig, load_config
from tumorsynth.apps.train.splits import check_split, load_splits, make_splits, save_splits

__all__ = [
    "MODEL_NAMES",
    "REGIMES",
    "TrainConfig",
    "check_split",
    "load_config",
    "load_splits",
    "make_splits",
    "predict",
    "run_experiment",
    "save_splits",
    "train",
]


def train(cfg: TrainConfig, **kwargs: Any) -> dict[str, Any]:
    """Train one model; see :func:`tumorsynth.apps.train.engine.train`."""
    from tumorsynth.apps.train.engine import train as _train

    return _train(cfg, **kwargs)


def predict(checkpoint: Any, inputs: Any, out_dir: Any, **kwargs: Any) -> Any:
    """Segment CTs; see :func:`tumorsynth.apps.train.inference.predict`."""
    from tumorsynth.apps.train.inference import predict as _predict

    return _predict(checkpoint, inputs, out_dir, **kwargs)


def run_experiment(cfg: TrainConfig, exp_dir: Any, **kwargs: Any) -> Any:
    """The 5-fold protocol; see :func:`tumorsynth.apps.train.experiment.run_experiment`."""
    from tumorsynth.apps.train.experiment import run_experiment as _run

    return _run(cfg, exp_dir, **kwargs)
