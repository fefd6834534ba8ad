"""Synthetic tumors inside nnU-Net's data pipeline (no nnU-Net import here).

:class:`TumorSynthDataset` wraps the training dataset nnU-Net's data loader reads: when the
loader asks for a healthy case (``load_case``), the wrapper returns it with tumors pasted in,
a label with the tumor label at their voxels, and the case's foreground locations for the
tumor class replaced by the new tumor voxels, so nnU-Net's foreground oversampling centres
patches on them. Everything else (cropping, augmentation, batching, workers) stays nnU-Net's.

HU: nnU-Net stores CT channels normalised as ``(clip(HU, p0.5, p99.5) - mean) / std`` with the
dataset fingerprint's foreground statistics. The wrapper maps channel 0 back to HU, runs
:func:`tumorsynth.prepare` (once per case and process, cached), :func:`tumorsynth.sample_params`
and the generator, and writes the changed boxes back normalised the same way (clip included);
voxels outside the tumors' boxes are returned exactly as stored.

Randomness: each process (nnU-Net's data workers are processes) draws from its own
``numpy.random.Generator``, seeded on first use from the dataset's seed and the process id
(workers never share a stream); every sample's preset and seed are drawn from it and the
parameter record is appended to ``records_dir/records_<pid>.jsonl`` (case, status, preset,
seed, the normalisation, the record), so any sample can be replayed voxel for voxel.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, NoRoomError, OptionError

__all__ = ["CTNorm", "SynthSettings", "TumorSynthDataset"]

log = logging.getLogger(__name__)

MAX_LOCATIONS = 10_000  # foreground locations kept per class, as nnU-Net's preprocessing does
_INT63 = np.iinfo(np.int64).max


@dataclass(frozen=True)
class CTNorm:
    """nnU-Net's CT normalisation of one channel (from the plans' intensity properties)."""

    mean: float
    std: float
    lower: float
    upper: float

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> CTNorm:
        return cls(mean=float(props["mean"]), std=max(float(props["std"]), 1e-8),
                   lower=float(props["percentile_00_5"]), upper=float(props["percentile_99_5"]))

    def to_hu(self, x: np.ndarray) -> np.ndarray:
        out = np.asarray(x, dtype=np.float32) * np.float32(self.std)
        out += np.float32(self.mean)
        return out

    def normalize(self, hu: np.ndarray) -> np.ndarray:
        out = np.clip(hu, self.lower, self.upper).astype(np.float32)
        out -= np.float32(self.mean)
        out /= np.float32(self.std)
        return out


@dataclass(frozen=True)
class SynthSettings:
    """The ``"tumorsynth"`` block of an exported ``dataset.json``."""

    healthy: tuple[str, ...]
    presets: dict[str, float] = field(default_factory=dict)
    prob: float = 1.0
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    liver_label: int = 1
    tumor_label: int = 2
    regime: str = "synthetic"
    splits: tuple[dict[str, list[str]], ...] = ()
    max_tries: int = 3

    @classmethod
    def from_dataset_json(cls, dataset_json: Mapping[str, Any]) -> SynthSettings:
        block = dataset_json.get("tumorsynth")
        if not isinstance(block, Mapping):
            raise OptionError(
                "dataset.json has no 'tumorsynth' block: export the dataset with `tumorsynth "
                "nnunet export` (or add the block by hand, see docs/nnunet.md)")
        from tumorsynth.integrations.nnunet.export import DEFAULT_PRESETS

        presets = {str(k): float(v) for k, v in (block.get("presets") or DEFAULT_PRESETS).items()}
        total = sum(presets.values())
        if not total > 0:
            raise OptionError("dataset.json tumorsynth.generator.presets: all weights are 0")
        return cls(healthy=tuple(str(h) for h in block.get("healthy", [])),
                   presets={k: v / total for k, v in presets.items()},
                   prob=float(block.get("prob", 1.0)), overrides=dict(block.get("overrides") or {}),
                   seed=int(block.get("seed", 0)), liver_label=int(block.get("liver_label", 1)),
                   tumor_label=int(block.get("tumor_label", 2)),
                   regime=str(block.get("regime", "synthetic")),
                   splits=tuple(block.get("splits") or ()))


def _writable(x: Any) -> np.ndarray:
    arr = x[...] if not isinstance(x, np.ndarray) else x
    arr = np.asarray(arr)
    if isinstance(arr, np.memmap) or not arr.flags.writeable or arr.base is not None:
        arr = np.array(arr, copy=True)
    return arr


class TumorSynthDataset:
    """nnU-Net training dataset with tumors synthesized into the healthy cases on each load.

    Args:
        inner: the nnU-Net dataset (``nnUNetDatasetBlosc2`` or ``nnUNetDatasetNumpy``).
        settings: tumor settings and the healthy case identifiers.
        norm: nnU-Net's CT normalisation of channel 0.
        spacing_mm: the preprocessed grid's spacing, per array axis.
        records_dir: folder for the per-process JSONL logs of parameter records (None: none).
    """

    def __init__(self, inner: Any, settings: SynthSettings, norm: CTNorm,
                 spacing_mm: Sequence[float], records_dir: str | os.PathLike[str] | None = None) -> None:
        from tumorsynth.integrations.monai.dicts import _normalize_weights

        self.inner = inner
        self.settings = settings
        self.norm = norm
        if len(spacing_mm) != 3:
            raise InputError(f"spacing {tuple(spacing_mm)}: tumorsynth works on 3-D configurations "
                             "(3d_fullres, 3d_lowres), not 2-D ones")
        self.spacing_mm = (float(spacing_mm[0]), float(spacing_mm[1]), float(spacing_mm[2]))
        self.records_dir = None if records_dir is None else str(records_dir)
        self.healthy = frozenset(settings.healthy)
        self.weights = _normalize_weights(settings.presets) if settings.presets else {"mix": 1.0}
        self._names = list(self.weights)
        self._p = np.array([self.weights[n] for n in self._names], dtype=float)
        self.identifiers = inner.identifiers
        self._pid: int | None = None
        self._rng: np.random.Generator | None = None
        self._prep: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    # -- the parts nnU-Net's loader uses ----------------------------------------------------
    def __getattr__(self, name: str) -> Any:  # everything else: the wrapped dataset
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __getitem__(self, identifier: str) -> Any:
        return self.load_case(identifier)

    def __len__(self) -> int:
        return len(self.identifiers)

    def __getstate__(self) -> dict[str, Any]:  # workers start with an empty cache, own stream
        state = dict(self.__dict__)
        state.update(_pid=None, _rng=None, _prep={})
        return state

    # -- randomness ---------------------------------------------------------------------------
    def _stream(self) -> np.random.Generator:
        pid = os.getpid()
        if self._rng is None or self._pid != pid:  # a new (forked) worker: its own stream
            if self._pid is not None:
                self._prep = {}
            self._pid = pid
            self._rng = np.random.default_rng(np.random.SeedSequence([self.settings.seed, pid]))
        return self._rng

    def _log(self, entry: dict[str, Any]) -> None:
        if self.records_dir is None:
            return
        Path(self.records_dir).mkdir(parents=True, exist_ok=True)
        path = Path(self.records_dir) / f"records_{os.getpid()}.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    # -- the work -----------------------------------------------------------------------------
    def load_case(self, identifier: str) -> tuple[Any, Any, Any, Any]:
        data, seg, seg_prev, properties = self.inner.load_case(identifier)
        if identifier not in self.healthy:
            return data, seg, seg_prev, properties
        rng = self._stream()
        draw = float(rng.random())
        preset = self._names[int(rng.choice(len(self._names), p=self._p))]
        seed = int(rng.integers(0, _INT63, dtype=np.int64))
        if draw >= self.settings.prob:
            self._count("not_drawn")
            return data, seg, seg_prev, properties
        data_arr = _writable(data)
        seg_arr = _writable(seg)
        status, record, coords = self._synthesize(identifier, data_arr, seg_arr, preset, seed)
        self._count(status)
        self._log({"case": identifier, "status": status, "preset": preset, "seed": seed,
                   "pid": os.getpid(), "ct_norm": vars(self.norm), "params": record})
        if status != "synthesized":
            return data, seg, seg_prev, properties
        props = dict(properties)
        locs = dict(props.get("class_locations") or {})
        if len(coords) > MAX_LOCATIONS:
            coords = coords[np.sort(rng.choice(len(coords), MAX_LOCATIONS, replace=False))]
        locs[self.settings.tumor_label] = coords
        props["class_locations"] = locs
        return data_arr, seg_arr, seg_prev, props

    def _count(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1

    def _synthesize(self, identifier: str, data: np.ndarray, seg: np.ndarray, preset: str,
                    seed: int) -> tuple[str, dict[str, Any] | None, np.ndarray]:
        from tumorsynth import prepare, sample_params
        from tumorsynth.generator.step6_synthesize import apply_tumors

        if data.ndim != 4 or seg.ndim != 4 or data.shape[1:] != seg.shape[1:]:
            raise InputError(f"{identifier}: nnU-Net case of shape {data.shape} / {seg.shape}; "
                             "expected 3-D channel-first data and segmentation")
        hu = self.norm.to_hu(data[0])
        liver = seg[0] == self.settings.liver_label
        if not liver.any():
            return "no_liver", None, np.empty((0, 4), np.int64)
        prep = self._prep.get(identifier)
        if prep is None:
            prep = prepare(hu, liver, self.spacing_mm)
            self._prep[identifier] = prep
        gen = np.random.default_rng(seed)
        params = None
        for _ in range(self.settings.max_tries):
            try:
                params = sample_params(prep, preset, rng=gen, **self.settings.overrides)
                break
            except NoRoomError:
                continue
        if params is None:
            return "no_room", None, np.empty((0, 4), np.int64)
        scratch = liver.astype(np.uint8)
        boxes = apply_tumors(hu, scratch, liver, params)
        parts = []
        for b in boxes:
            data[0][b] = self.norm.normalize(hu[b])
            view = scratch[b]
            m = view == 2
            if not m.any():
                continue
            seg[0][b][m] = self.settings.tumor_label
            view[m] = 3  # boxes may overlap: count each voxel once
            idx = np.argwhere(m)
            idx += np.array([s.start for s in b], dtype=idx.dtype)
            parts.append(idx)
        if not parts:
            return "no_tumor_voxel", params.to_dict(), np.empty((0, 4), np.int64)
        xyz = np.concatenate(parts).astype(np.int64)
        coords = np.concatenate([np.zeros((len(xyz), 1), np.int64), xyz], axis=1)
        return "synthesized", params.to_dict(), coords
