"""The training configuration: one flat record, the paper's recipe as defaults.

A configuration file is JSON (``.json``) or TOML (``.toml``, Python 3.11+) whose keys are the
fields of :class:`TrainConfig`; anything not given keeps its default. Unknown keys are refused
with a "did you mean". The resolved configuration is written next to every run (``run.json``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tumorsynth.errors import InputError, OptionError

__all__ = ["MODEL_NAMES", "REGIMES", "TrainConfig", "load_config"]

#: Data regimes of the paper's Table 5.
REGIMES = ("real", "synthetic", "real+synthetic")
CACHE_MODES = ("memory", "disk", "none")
#: Model names (MONAI networks).
MODEL_NAMES = ("unet", "swin_unetr_tiny", "swin_unetr_small", "swin_unetr_base")


@dataclass
class TrainConfig:
    """Everything a training run needs. Defaults follow the paper (SPEC section 4).

    Data
        real: datasets with real tumors (LiTS, MSD Task03 folders or case CSVs).
        healthy: datasets of healthy CTs with liver masks (BTCV, TotalSegmentator, CSVs).
        real_layout / healthy_layout: layout for case discovery (``"auto"``).
        regime: ``"real"``, ``"synthetic"`` or ``"real+synthetic"``.
        splits: split file (nnU-Net style JSON list of ``{"train", "val"}``) over the real
            cases; ``fold`` selects the entry. Without one, ``real`` cases are all trained on
            and there is no validation.
        max_real_cases / max_healthy_cases: use only the first N cases (sorted by name) of
            the training part, e.g. the paper's 50 real + 52 synthetic.
        check_labels: read every mask before training to check its label values (files,
            shapes and grids are always checked).
    Data loading
        num_workers (per process), cache_rate, cache_workers; cache_shard: with several
        processes, each caches only its own fixed share of the training cases (memory / number
        of processes) instead of all of them, at the price of no reshuffling across processes.
        cache: ``"memory"`` (MONAI ``CacheDataset``: the deterministic part of every case in
        each process's memory), ``"disk"`` (``PersistentDataset``: computed once, kept as files
        in ``cache_dir``, default ``OUT/cache``; share one folder between runs and processes),
        or ``"none"`` (recomputed every time). persistent_workers: keep DataLoader workers
        alive between epochs (with ``num_workers`` > 0).
    Model
        model: ``unet`` or ``swin_unetr_tiny|small|base``; ``unet_*`` shape the U-Net.
    Preprocessing
        spacing_mm: resampling grid; hu_window: CT window mapped to [0, 1];
        patch_size: training patch (and sliding-window ROI), divisible by 32 for Swin UNETR.
    Synthesis
        synth_prob, presets (type -> weight), synth_overrides (generator knobs);
        log_params: write every sampled parameter record to ``params_rank<r>.jsonl``.
    Precision
        amp: ``"auto"`` (bf16 on GPUs that support it, fp16 with a gradient scaler on older
        ones, float32 on CPUs), ``"bf16"``, ``"fp16"`` or ``"off"``; the same setting is used
        by validation and recorded in the checkpoint for inference.
    Inference
        sw_overlap (0.75, Gaussian) for predictions; val_overlap (0.5) for the cheaper
        validation during training; tumor_margin_mm for the post-processing.
    Optimization
        AdamW(lr, weight_decay), linear warm-up for ``warmup_epochs`` then cosine to 0 at
        ``max_epochs``; ``max_steps`` caps the total number of steps (for short runs).
    """

    # data
    real: list[str] = field(default_factory=list)
    healthy: list[str] = field(default_factory=list)
    real_layout: str = "auto"
    healthy_layout: str = "auto"
    regime: str = "synthetic"
    splits: str | None = None
    fold: int = 0
    max_real_cases: int | None = None
    max_healthy_cases: int | None = None
    out: str = "runs/tumorsynth"
    # model
    model: str = "unet"
    unet_channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    unet_strides: tuple[int, ...] = (2, 2, 2, 2)
    unet_res_units: int = 2
    swin_checkpointing: bool = False
    # preprocessing
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    hu_window: tuple[float, float] = (-21.0, 189.0)
    patch_size: tuple[int, int, int] = (96, 96, 96)
    crops_per_case: int = 2
    crop_ratios: tuple[float, float, float] = (1.0, 1.0, 2.0)
    augment: bool = True
    # synthesis
    synth_prob: float = 1.0
    presets: dict[str, float] = field(
        default_factory=lambda: {"tiny": 0.2, "small": 0.2, "medium": 0.2, "large": 0.2, "mix": 0.2}
    )
    synth_overrides: dict[str, Any] = field(default_factory=dict)
    # optimization
    batch_size: int = 2
    max_epochs: int = 1000
    max_steps: int | None = None
    warmup_epochs: int = 20
    lr: float = 4e-4
    weight_decay: float = 1e-5
    amp: str = "auto"
    grad_clip: float | None = None
    # loop and data loading
    val_every: int = 10
    log_every: int = 1
    num_workers: int = 4
    cache_rate: float = 1.0
    cache_workers: int = 4
    cache_shard: bool = False
    cache: str = "memory"
    cache_dir: str | None = None
    persistent_workers: bool = True
    seed: int = 0
    device: str = "auto"
    resume: bool = True
    init_from: str | None = None
    progress: bool = True
    log_params: bool = False
    check_labels: bool = True
    # inference
    sw_overlap: float = 0.75
    val_overlap: float = 0.5
    sw_batch_size: int = 4
    tumor_margin_mm: float = 5.0

    # ------------------------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Check values; raise :class:`OptionError` naming the field. Returns ``self``."""
        if self.regime not in REGIMES:
            raise OptionError(_unknown("regime", self.regime, REGIMES))
        if self.model not in MODEL_NAMES:
            raise OptionError(_unknown("model", self.model, MODEL_NAMES))
        if self.regime in ("real", "real+synthetic") and not self.real:
            raise OptionError(
                f"regime '{self.regime}' needs real-tumor data: set 'real' (e.g. --real LITS_DIR)"
            )
        if self.regime in ("synthetic", "real+synthetic") and not self.healthy:
            raise OptionError(
                f"regime '{self.regime}' needs healthy CTs with liver masks: set 'healthy' "
                "(e.g. --healthy BTCV_DIR)"
            )
        if len(self.patch_size) != 3 or min(self.patch_size) < 8:
            raise OptionError(f"patch_size: {self.patch_size}, expected three sizes >= 8")
        if self.model.startswith("swin") and (
            any(int(s) % 32 for s in self.patch_size) or min(self.patch_size) < 64
        ):
            raise OptionError(
                f"patch_size: {tuple(self.patch_size)}: Swin UNETR needs sizes divisible by 32 "
                "and at least 64; use e.g. 96 96 96"
            )
        if self.model == "unet":
            f = 1
            for s in self.unet_strides:
                f *= int(s)
            if any(int(s) % f for s in self.patch_size):
                raise OptionError(
                    f"patch_size: {tuple(self.patch_size)} is not divisible by {f}, the U-Net's "
                    "total stride; pick a multiple"
                )
            if len(self.unet_channels) != len(self.unet_strides) + 1:
                raise OptionError(
                    f"unet_channels {tuple(self.unet_channels)} needs one entry more than "
                    f"unet_strides {tuple(self.unet_strides)}"
                )
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise OptionError(f"spacing_mm: {self.spacing_mm}, expected three positive numbers")
        if len(self.hu_window) != 2 or self.hu_window[0] >= self.hu_window[1]:
            raise OptionError(f"hu_window: {self.hu_window}, expected (low, high) with low < high")
        for name in ("batch_size", "crops_per_case", "max_epochs", "val_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise OptionError(f"{name}: {getattr(self, name)}, expected >= 1")
        if self.max_steps is not None and int(self.max_steps) < 1:
            raise OptionError(f"max_steps: {self.max_steps}, expected >= 1")
        if self.fold < 0:
            raise OptionError(f"fold: {self.fold}, expected >= 0")
        if not 0.0 <= self.synth_prob <= 1.0:
            raise OptionError(f"synth_prob: {self.synth_prob}, expected 0..1")
        for name in ("sw_overlap", "val_overlap"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise OptionError(f"{name}: {getattr(self, name)}, expected 0 <= overlap < 1")
        from tumorsynth.apps.train.precision import normalize_amp

        self.amp = normalize_amp(self.amp)
        if self.cache not in CACHE_MODES:
            raise OptionError(_unknown("cache", self.cache, CACHE_MODES))
        if not 0.0 <= self.cache_rate <= 1.0:
            raise OptionError(f"cache_rate: {self.cache_rate}, expected 0..1")
        if self.lr <= 0 or self.weight_decay < 0:
            raise OptionError(f"lr {self.lr} must be > 0 and weight_decay {self.weight_decay} >= 0")
        if len(self.crop_ratios) != 3 or min(self.crop_ratios) < 0 or sum(self.crop_ratios) <= 0:
            raise OptionError(
                f"crop_ratios: {self.crop_ratios}, expected 3 weights (background, liver, tumor)"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dictionary."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
        """Build from a mapping; unknown keys raise :class:`OptionError` with a suggestion."""
        cfg = cls()
        cfg.update(data, source=source)
        return cfg

    def update(self, data: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
        """Set fields from a mapping (values coerced to the field types)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in data.items():
            if key not in fields:
                raise OptionError(f"{source}: " + _unknown("setting", key, list(fields)))
            setattr(self, key, _coerce(key, value, getattr(type(self)(), key), source))
        return self


def _unknown(what: str, value: Any, choices: Any) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown {what} '{value}'{hint} (choose from {', '.join(choices)})"


def _coerce(key: str, value: Any, default: Any, source: str) -> Any:
    """Coerce a value read from JSON/TOML/the command line to the type of the default."""
    try:
        if value is None:
            return None
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, tuple):
            items = value if isinstance(value, (list, tuple)) else [value] * len(default)
            kind = type(default[0]) if default else float
            return tuple(kind(v) for v in items)
        if isinstance(default, list):
            if isinstance(value, (str, os.PathLike)):
                return [str(value)]
            return [str(v) for v in value]
        if isinstance(default, dict):
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, Mapping):
                raise ValueError(value)
            return dict(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if default is None:  # optional fields: keep what JSON gave (int/str)
            return value
        return type(default)(value)
    except (TypeError, ValueError, json.JSONDecodeError):
        raise OptionError(
            f"{source}: setting '{key}' = {value!r} has the wrong type; expected something like "
            f"{default!r}"
        ) from None


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read a JSON or TOML configuration file into a :class:`TrainConfig` (not yet validated)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: configuration file not found; check the path")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # pragma: no cover - Python 3.10
                raise OptionError(f"{p}: TOML needs Python 3.11+; use a .json file") from None
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not valid {'TOML' if p.suffix == '.toml' else 'JSON'} ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: expected a table of settings at the top level")
    # a run record (run.json) holds the configuration under "config"
    if "config" in data and isinstance(data["config"], dict) and "tumorsynth" in data:
        data = data["config"]
    return TrainConfig.from_dict(data, source=str(p))
