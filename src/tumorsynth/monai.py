"""MONAI dictionary transforms: the tumor generator inside a training pipeline.

Two transforms, split the MONAI way so that a cache keeps the expensive, deterministic part:

* :class:`PrepareLiverd` (deterministic, cacheable) runs :func:`tumorsynth.prepare` once per
  case (liver box, parenchyma statistics, vessel and distance maps) and stores the result in
  the dictionary under ``"tumor_prep"``.
* :class:`RandTumord` (random) draws a tumor type and a parameter record with
  :func:`tumorsynth.sample_params`, and applies it with :func:`tumorsynth.synthesize`. Its only
  source of randomness is its own ``self.R``, so ``set_random_state`` and the worker seeding of
  :class:`monai.data.DataLoader` make a run reproducible. The sampled record is written to the
  dictionary as JSON (``"tumor_params"``), so every synthetic training sample can be replayed.

Where they go in a pipeline
---------------------------
Both work in Hounsfield units on the resampled grid: put them **after** ``Spacingd`` (1 mm in
the paper) and **before** ``ScaleIntensityRanged``. Keep the whole pipeline in **one flat**
``Compose``: :class:`monai.data.CacheDataset` caches the prefix up to the first random
transform of that one ``Compose``; a nested ``Compose`` silently caches nothing::

    Compose([
        LoadImaged(("image", "label")), EnsureChannelFirstd(("image", "label")),
        Orientationd(("image", "label"), "RAS"),
        Spacingd(("image", "label"), (1.0, 1.0, 1.0), mode=("bilinear", "nearest")),
        PrepareLiverd(("image", "label")),             # cached
        RandTumord(("image", "label"), prob=1.0),       # first random transform
        ScaleIntensityRanged("image", -21, 189, 0.0, 1.0, clip=True),
        RandCropByPosNegLabeld(...),
    ])

Label convention: 0 background, 1 liver, 2 tumor (LiTS). A case whose label already holds a
2 (a real tumor) is left untouched. Images are channel-first (``C, i, j, k``); channel 0 is
used. The voxel spacing is read from the image's affine, never assumed.

This module needs MONAI (``pip install 'tumorsynth[train]'``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, NoRoomError, OptionError

try:
    import torch
    from monai.config import KeysCollection
    from monai.transforms import MapTransform, RandomizableTransform
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised only without the extra
    raise OptionError(
        f"tumorsynth.monai needs MONAI and PyTorch ({_exc.name} is missing): "
        "pip install 'tumorsynth[train]'"
    ) from None

from tumorsynth.monai_dicts import (
    _case_name,
    _channel0,
    _check_hu,
    _has_value,
    _like,
    _normalize_weights,
    _spacing_of,
)

__all__ = [
    "DEFAULT_PRESET_WEIGHTS",
    "STATUS_KEY_SUFFIX",
    "LiverLabelsd",
    "PrepareLiverd",
    "RandTumord",
]

log = logging.getLogger(__name__)

#: The paper's training mixture: each tumor type with probability 0.2.
DEFAULT_PRESET_WEIGHTS: dict[str, float] = {
    "tiny": 0.2,
    "small": 0.2,
    "medium": 0.2,
    "large": 0.2,
    "mix": 0.2,
}

#: ``RandTumord`` writes what it did to ``params_key + STATUS_KEY_SUFFIX``.
STATUS_KEY_SUFFIX = "_status"

# Values of the status entry.
SYNTHESIZED = "synthesized"
REAL_TUMOR = "real_tumor"
NOT_DRAWN = "not_drawn"
DISABLED = "disabled"
NO_ROOM = "no_room"

_INT63 = np.iinfo(np.int64).max


# --------------------------------------------------------------------------------------------
# helpers


class PrepareLiverd(MapTransform):
    """Prepare a healthy case for tumor synthesis (deterministic, cacheable).

    Computes :func:`tumorsynth.prepare` on channel 0 of ``keys[0]`` (the CT, in HU) with the
    liver taken from ``keys[1]`` (label > 0, or the values ``liver_values``) and the spacing
    read from the image's affine, and stores the result under ``prep_key``. Stores ``None``
    instead (and computes nothing) when the label already holds a real tumor (value
    ``tumor_value``) or when ``enable_key`` names an entry that is false for this case.

    Args:
        keys: ``(image_key, label_key)``.
        prep_key: where to store the preparation.
        liver_values: label values that make the liver; ``None``: every non-zero value.
        tumor_value: label value of a real tumor (such cases are not prepared).
        enable_key: optional boolean entry; a case with a false value is not prepared.
        check_hu: refuse images whose liver is not in Hounsfield units.
        allow_missing_keys: as in MONAI.

    Example:
        >>> prep = PrepareLiverd(("image", "label"))  # doctest: +SKIP
        >>> d = prep({"image": ct, "label": lab})  # doctest: +SKIP
        >>> d["tumor_prep"]  # doctest: +SKIP
    """

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        *,
        prep_key: str = "tumor_prep",
        liver_values: Sequence[int] | None = None,
        tumor_value: int = 2,
        enable_key: str | None = None,
        check_hu: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 2:
            raise OptionError(
                f"PrepareLiverd keys: got {list(self.keys)}, expected two keys (image, label)"
            )
        self.prep_key = prep_key
        self.liver_values = None if liver_values is None else tuple(int(v) for v in liver_values)
        self.tumor_value = int(tumor_value)
        self.enable_key = enable_key
        self.check_hu = bool(check_hu)

    def liver_mask(self, label: np.ndarray) -> np.ndarray:
        """Boolean liver mask of a label array (spatial)."""
        if self.liver_values is None:
            return label > 0 if label.dtype.kind in "iub" else label > 0.5
        return np.isin(np.rint(label).astype(np.int64, copy=False), self.liver_values)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from tumorsynth import prepare

        d = dict(data)
        image_key, label_key = self.keys
        if image_key not in d or label_key not in d:
            if self.allow_missing_keys:
                d[self.prep_key] = None
                return d
            missing = image_key if image_key not in d else label_key
            raise InputError(f"{_case_name(d, image_key)}: no '{missing}' entry for PrepareLiverd")
        if self.enable_key is not None and not bool(d.get(self.enable_key, True)):
            d[self.prep_key] = None
            return d
        case = _case_name(d, image_key)
        label = _channel0(d[label_key], key=label_key, case=case)
        if _has_value(label, self.tumor_value):
            d[self.prep_key] = None  # a real tumor: RandTumord will leave it alone
            return d
        ct = _channel0(d[image_key], key=image_key, case=case)
        liver = self.liver_mask(label)
        if not liver.any():
            raise InputError(
                f"{case}: the liver mask is empty after loading and resampling; check the "
                "label file and its liver label value"
            )
        if self.check_hu:
            _check_hu(ct, liver, case=case)
        spacing = _spacing_of(d, image_key, case=case)
        d[self.prep_key] = prepare(np.ascontiguousarray(ct), liver, spacing_mm=spacing)
        return d


class RandTumord(RandomizableTransform, MapTransform):
    """Synthesize liver tumors on the fly (random dictionary transform).

    With probability ``prob`` it draws a tumor type from ``presets`` (weights), samples a
    parameter record with :func:`tumorsynth.sample_params` and applies it with
    :func:`tumorsynth.synthesize` to channel 0 of the image and the label (0/1/2). All
    randomness comes from ``self.R``: one draw decides whether to apply, one picks the type, one
    gives the 63-bit seed of the core's generator, always in that order, whatever the case.

    Written to the dictionary:

    * ``params_key`` (default ``"tumor_params"``): the parameter record as JSON, or ``""``;
    * ``params_key + "_status"``: ``"synthesized"``, ``"not_drawn"``, ``"real_tumor"``,
      ``"disabled"`` or ``"no_room"`` (the liver had no room for the drawn tumors after
      ``max_tries`` seeds; the case then passes through unchanged and the count is logged).

    A case passes through untouched when its label holds a real tumor, when the preparation
    under ``prep_key`` is ``None``, or when ``enable_key`` names a false entry. The
    preparation is removed from the output (``drop_prep=True``) so that it is neither copied
    by later crops nor collated.

    Args:
        keys: ``(image_key, label_key)``.
        prob: probability of synthesizing tumors in a case.
        presets: tumor types and their weights: a mapping ``{"tiny": 0.2, ...}``, a list of
            names (equal weights) or one name. Default: the paper's five types, 0.2 each.
        prep_key: where :class:`PrepareLiverd` put the preparation. When the entry is missing
            the preparation is computed on the spot (slower, but correct).
        params_key: where to write the parameter record (JSON).
        enable_key: optional boolean entry; a false value disables synthesis for that case.
        tumor_value: label value of a (real or synthetic) tumor.
        max_tries: seeds tried when the liver has no room before giving up on the sample.
        drop_prep: remove ``prep_key`` from the output.
        indices_key: per-class crop centres (``ClassesToIndicesd``) to update: after synthesis
            the entry of class ``tumor_value`` lists the new tumor voxels, so a following
            ``RandCropByLabelClassesd(indices_key=...)`` centres crops on them without
            rescanning the volume.
        max_indices: keep at most this many tumor centres (evenly spaced), as in MONAI.
        **overrides: any generator knob, a number (fixed) or ``(lo, hi)`` (uniform), passed
            to :func:`tumorsynth.sample_params`, e.g. ``contrast_hu=(-60, -20)``.

    Example:
        >>> t = RandTumord(("image", "label"), prob=1.0, presets={"small": 1.0})  # doctest: +SKIP
        >>> t.set_random_state(seed=0)  # doctest: +SKIP
        >>> out = t(PrepareLiverd(("image", "label"))(case))  # doctest: +SKIP
        >>> out["tumor_params"]  # doctest: +SKIP
    """

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        prob: float = 1.0,
        presets: str | Sequence[str] | Mapping[str, float] | None = None,
        *,
        prep_key: str = "tumor_prep",
        params_key: str = "tumor_params",
        enable_key: str | None = None,
        tumor_value: int = 2,
        max_tries: int = 3,
        drop_prep: bool = True,
        indices_key: str | None = None,
        max_indices: int | None = None,
        allow_missing_keys: bool = False,
        **overrides: Any,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not 0.0 <= float(prob) <= 1.0:
            raise OptionError(f"RandTumord prob: {prob} is not a probability; expected 0..1")
        RandomizableTransform.__init__(self, float(prob))
        if len(self.keys) != 2:
            raise OptionError(f"RandTumord keys: got {list(self.keys)}, expected (image, label)")
        if int(max_tries) < 1:
            raise OptionError(f"RandTumord max_tries: {max_tries}, expected >= 1")
        self.weights = _normalize_weights(DEFAULT_PRESET_WEIGHTS if presets is None else presets)
        self._names = list(self.weights)
        self._p = np.array([self.weights[n] for n in self._names], dtype=float)
        self.prep_key = prep_key
        self.params_key = params_key
        self.status_key = params_key + STATUS_KEY_SUFFIX
        self.enable_key = enable_key
        self.tumor_value = int(tumor_value)
        self.max_tries = int(max_tries)
        self.drop_prep = bool(drop_prep)
        self.indices_key = indices_key
        self.max_indices = None if max_indices is None else int(max_indices)
        self.overrides: dict[str, Any] = dict(overrides)
        self.n_synthesized = 0
        self.n_no_room = 0
        self._preset = self._names[0]
        self._seed = 0

    def _update_indices(self, indices: Sequence[Any], tumor: np.ndarray) -> list[Any]:
        """Crop centres with the tumor class replaced by the synthesized tumor voxels."""
        out = list(indices)
        if len(out) <= self.tumor_value:
            return out
        idx = np.flatnonzero(tumor)
        if self.max_indices and idx.size > self.max_indices:
            idx = idx[np.round(np.linspace(0, idx.size - 1, self.max_indices)).astype(np.int64)]
        like = out[self.tumor_value]
        out[self.tumor_value] = torch.as_tensor(idx) if isinstance(like, torch.Tensor) else idx
        return out

    # The random part: every call consumes the same three draws from self.R.
    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._preset = self._names[int(self.R.choice(len(self._names), p=self._p))]
        self._seed = int(self.R.randint(0, _INT63, dtype=np.int64))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from tumorsynth import prepare, sample_params, synthesize

        d = dict(data)
        self.randomize()
        image_key, label_key = self.keys
        prep = d.pop(self.prep_key, None) if self.drop_prep else d.get(self.prep_key)
        has_prep_entry = self.prep_key in data
        d[self.params_key] = ""
        if image_key not in d or label_key not in d:
            if self.allow_missing_keys:
                d[self.status_key] = DISABLED
                return d
            missing = image_key if image_key not in d else label_key
            raise InputError(f"{_case_name(d, image_key)}: no '{missing}' entry for RandTumord")
        if self.enable_key is not None and not bool(d.get(self.enable_key, True)):
            d[self.status_key] = DISABLED
            return d
        case = _case_name(d, image_key)
        label = _channel0(d[label_key], key=label_key, case=case)
        # PrepareLiverd has already looked for real tumors when it left a preparation
        if prep is None and _has_value(label, self.tumor_value):
            d[self.status_key] = REAL_TUMOR
            return d
        if has_prep_entry and prep is None:  # PrepareLiverd decided to skip this case
            d[self.status_key] = DISABLED
            return d
        if not self._do_transform:
            d[self.status_key] = NOT_DRAWN
            return d
        ct = _channel0(d[image_key], key=image_key, case=case)
        liver = label > 0 if label.dtype.kind in "iub" else label > 0.5
        if not liver.any():
            raise InputError(f"{case}: the liver mask is empty; RandTumord needs a liver (label 1)")
        if prep is None:  # no PrepareLiverd in the pipeline: prepare on the spot
            _check_hu(ct, liver, case=case)
            prep = prepare(np.ascontiguousarray(ct), liver, spacing_mm=_spacing_of(d, image_key, case=case))
        seeds = np.random.default_rng(self._seed)
        params = None
        last_error: NoRoomError | None = None
        for _ in range(self.max_tries):
            try:
                params = sample_params(prep, self._preset, rng=seeds, **self.overrides)
                break
            except NoRoomError as exc:
                last_error = exc
        if params is None:
            self.n_no_room += 1
            log.info("RandTumord: %s: no room for '%s' tumors (%s); case left unchanged "
                     "(%d such samples in this process)", case, self._preset, last_error,
                     self.n_no_room)
            d[self.status_key] = NO_ROOM
            return d
        ct_out, lab_out = synthesize(ct, liver, params)
        tumor = np.asarray(lab_out) == self.tumor_value
        new_label = label.copy()
        new_label[tumor] = self.tumor_value
        d[image_key] = _like(d[image_key], np.asarray(ct_out))
        d[label_key] = _like(d[label_key], new_label)
        if self.indices_key is not None and self.indices_key in d:
            d[self.indices_key] = self._update_indices(d[self.indices_key], tumor)
        record = params.to_json() if hasattr(params, "to_json") else params
        d[self.params_key] = record if isinstance(record, str) else json.dumps(record)
        d[self.status_key] = SYNTHESIZED
        self.n_synthesized += 1
        return d


class LiverLabelsd(MapTransform):
    """Map a case's own label values to 0 background, 1 liver, 2 tumor (deterministic).

    Reads the case's ``liver_values`` (a list; empty: every non-zero value is liver) and
    ``tumor_value`` (-1: none) from the data dictionary, so BTCV (liver 6), TotalSegmentator
    (liver 5), plain 0/1 masks and LiTS (1 liver, 2 tumor) train side by side. Put it right
    after loading. Raises :class:`InputError` naming the case when no liver is left.
    """

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        liver = [int(v) for v in d.get("liver_values") or []]
        tumor = int(d.get("tumor_value", -1))
        for key in self.key_iterator(d):
            lab = d[key]
            t = torch.round(torch.as_tensor(lab)).to(torch.int64)
            out = torch.zeros(t.shape, dtype=torch.float32)
            if liver:
                out[torch.isin(t, torch.tensor(liver))] = 1
            else:
                out[t != 0] = 1
            if tumor >= 0:
                out[t == tumor] = 2
            if not bool((out > 0).any()):
                raise InputError(
                    f"{_case_name(d, key)}: the mask has no liver (label "
                    f"{','.join(map(str, liver)) or 'non-zero'}); fix the mask or its liver label"
                )
            d[key] = _like(lab, out[0].numpy()) if out.shape[0] == 1 else out
        return d
