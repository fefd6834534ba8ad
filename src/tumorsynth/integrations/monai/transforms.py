"""RandTumord: the random transform that pastes tumors into a prepared case (see the package docs)."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, NoRoomError, OptionError
from tumorsynth.generator.params import CaseParams

try:
    import torch
    from monai.config import KeysCollection
    from monai.transforms import MapTransform, RandomizableTransform
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised only without the extra
    raise OptionError(
        f"tumorsynth.integrations.monai needs MONAI and PyTorch ({_exc.name} is missing): "
        "pip install 'tumorsynth[train]'"
    ) from None

from tumorsynth.integrations.monai.dicts import (
    _case_name,
    _channel0,
    _check_hu,
    _has_value,
    _like,
    _normalize_weights,
    _spacing_of,
)
from tumorsynth.integrations.monai.pipeline import check_pipeline
from tumorsynth.integrations.monai.prepare import (
    LiverCase,
    LiverLabelsd,
    PrepareLiverd,
    _as_values,
    _check_tumor_value,
)

__all__ = [
    "DEFAULT_PRESET_WEIGHTS",
    "STATUS_KEY_SUFFIX",
    "LiverCase",
    "LiverLabelsd",
    "PrepareLiverd",
    "RandTumord",
    "check_pipeline",
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


def _paste_tumors(
    ct: np.ndarray, label: np.ndarray, case: LiverCase, params: CaseParams
) -> tuple[np.ndarray, np.ndarray, list[tuple[slice, slice, slice]], np.ndarray]:
    """Apply ``params`` to copies of ``ct`` and ``label``; work only in the tumors' boxes.

    Returns the new image, the new label (tumor voxels set to ``case.tumor_value``, every other
    voxel as it was), the changed boxes and the sorted flat indices of the tumor voxels. The
    image equals :func:`tumorsynth.synthesize` on the same case and record, voxel for voxel.
    """
    from tumorsynth.generator.step6_synthesize import apply_tumors

    shape = ct.shape
    box = case.box
    # full-size arrays the generator reads in its boxes only; zeros are cheap (lazy pages)
    liver = np.zeros(shape, dtype=bool)
    liver[box] = case.liver_box
    scratch = np.zeros(shape, dtype=np.uint8)
    scratch[box] = case.liver_box.view(np.uint8)
    out = np.array(ct, copy=True)
    boxes = apply_tumors(out, scratch, liver, params)
    new_label = np.array(label, copy=True)
    parts = []
    for b in boxes:  # boxes may overlap: a voxel found once is marked 3 in the scratch label
        view = scratch[b]
        m = view == 2
        if not m.any():
            continue
        new_label[b][m] = case.tumor_value
        view[m] = 3
        coords = np.nonzero(m)
        parts.append(np.ravel_multi_index(
            tuple(c + s.start for c, s in zip(coords, b, strict=True)), shape))
    if not parts:
        flat = np.empty(0, dtype=np.int64)
    elif len(parts) == 1:
        flat = parts[0]
    else:
        flat = np.sort(np.concatenate(parts))
    return out, new_label, boxes, flat


@dataclass(frozen=True)
class _Draw:
    """What one sample pastes: channel 0 of the image and label (views), the case, the record."""

    ct: np.ndarray
    label: np.ndarray
    case: LiverCase
    params: CaseParams


class RandTumord(RandomizableTransform, MapTransform):
    """Synthesize liver tumors on the fly (random dictionary transform).

    With probability ``prob`` it draws a tumor type from ``presets`` (weights), samples a
    parameter record with :func:`tumorsynth.sample_params` and applies it to channel 0 of the
    image and the label: the image gets the tumors exactly as :func:`tumorsynth.synthesize`
    makes them, the label gets ``tumor_value`` at the tumor voxels (all inside the liver values)
    and keeps every other value. All randomness comes from ``self.R``: one draw decides whether
    to apply, one picks the type, one gives the 63-bit seed of the core's generator, always in
    that order, whatever the case.

    Written to the dictionary:

    * ``params_key`` (default ``"tumor_params"``): the parameter record as JSON, or ``""``;
    * ``params_key + "_status"``: ``"synthesized"``, ``"not_drawn"``, ``"real_tumor"``,
      ``"disabled"`` or ``"no_room"`` (the liver had no room for the drawn tumors after
      ``max_tries`` seeds; the case then passes through unchanged and the count is logged).

    A case passes through untouched when its label holds a real tumor, when the preparation
    under ``prep_key`` is ``None``, or when ``enable_key`` names a false entry. The
    preparation is removed from the output (``drop_prep=True``) so that it is neither copied
    by later crops nor collated. The input dictionary's arrays are never modified.

    The image must be on the grid :class:`PrepareLiverd` saw: a crop, resampling or flip in
    between is refused (one line naming the fix: crop after ``RandTumord``).

    Args:
        keys: ``(image_key, label_key)``.
        prob: probability of synthesizing tumors in a case.
        presets: tumor types and their weights: a mapping ``{"tiny": 0.2, ...}``, a list of
            names (equal weights) or one name. Default: the paper's five types, 0.2 each.
        prep_key: where :class:`PrepareLiverd` put the preparation. When the entry is missing
            the preparation is computed on the spot (slower, but correct; any grid).
        params_key: where to write the parameter record (JSON).
        enable_key: optional boolean entry; a false value disables synthesis for that case.
        liver_values: label values of the liver, used only without ``PrepareLiverd`` (which
            records its own); ``None``: every non-zero value.
        tumor_value: label value written at the tumor voxels; default: the one given to
            ``PrepareLiverd`` (2 without it).
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
        liver_values: Sequence[int] | int | None = None,
        tumor_value: int | None = None,
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
        self.liver_values = _as_values(liver_values, "RandTumord")
        self.tumor_value = None if tumor_value is None else _check_tumor_value(tumor_value, "RandTumord")
        self.max_tries = int(max_tries)
        self.drop_prep = bool(drop_prep)
        self.indices_key = indices_key
        self.max_indices = None if max_indices is None else int(max_indices)
        self.overrides: dict[str, Any] = dict(overrides)
        self.n_synthesized = 0
        self.n_no_room = 0
        self._preset = self._names[0]
        self._seed = 0

    def _update_indices(self, indices: Sequence[Any], flat: np.ndarray, tumor_value: int) -> list[Any]:
        """Crop centres with the tumor class replaced by the synthesized tumor voxels."""
        out = list(indices)
        if len(out) <= tumor_value:
            return out
        idx = flat
        if self.max_indices and idx.size > self.max_indices:
            idx = idx[np.round(np.linspace(0, idx.size - 1, self.max_indices)).astype(np.int64)]
        like = out[tumor_value]
        out[tumor_value] = torch.as_tensor(idx) if isinstance(like, torch.Tensor) else idx
        return out

    # The random part: every call consumes the same three draws from self.R.
    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._preset = self._names[int(self.R.choice(len(self._names), p=self._p))]
        self._seed = int(self.R.randint(0, _INT63, dtype=np.int64))

    def _case_on_the_spot(self, d: dict[Hashable, Any], ct: np.ndarray, label: np.ndarray,
                          case: str) -> LiverCase | None:
        """Without PrepareLiverd: the same checks and preparation, on this sample's grid."""
        helper = PrepareLiverd(self.keys, liver_values=self.liver_values,
                               tumor_value=2 if self.tumor_value is None else self.tumor_value)
        if helper._has_real_tumor(label, case):
            return None
        liver = helper.liver_mask(label)
        if not liver.any():
            raise InputError(f"{case}: the liver mask is empty; RandTumord needs a liver "
                             f"(label {list(self.liver_values) if self.liver_values else 'non-zero'})")
        from tumorsynth import prepare

        _check_hu(ct, liver, case=case)
        prepared = prepare(np.ascontiguousarray(ct), liver,
                           spacing_mm=_spacing_of(d, self.keys[0], case=case))
        box = tuple(slice(a, b) for a, b in prepared.bbox)
        return LiverCase(prepared, helper.liver_values, helper.tumor_value,
                         np.ascontiguousarray(liver[box]))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d, draw = self._draw(data)
        if draw is None:
            return d
        image_key, label_key = self.keys
        ct_out, lab_out, _, flat = _paste_tumors(draw.ct, draw.label, draw.case, draw.params)
        d[image_key] = _like(d[image_key], ct_out)
        d[label_key] = _like(d[label_key], lab_out)
        if self.indices_key is not None and self.indices_key in d:
            d[self.indices_key] = self._update_indices(d[self.indices_key], flat, draw.case.tumor_value)
        return d

    def _draw(self, data: Mapping[Hashable, Any]) -> tuple[dict[Hashable, Any], _Draw | None]:
        """The random decisions and the record of one sample, nothing pasted yet.

        Returns the output dictionary (record and status written, preparation dropped) and what
        to paste, or None when the sample passes through unchanged (the status says why).
        """
        from tumorsynth import sample_params

        d = dict(data)
        self.randomize()
        image_key, label_key = self.keys
        prep = d.pop(self.prep_key, None) if self.drop_prep else d.get(self.prep_key)
        has_prep_entry = self.prep_key in data
        d[self.params_key] = ""
        if image_key not in d or label_key not in d:
            if self.allow_missing_keys:
                d[self.status_key] = DISABLED
                return d, None
            missing = image_key if image_key not in d else label_key
            raise InputError(f"{_case_name(d, image_key)}: no '{missing}' entry for RandTumord")
        if self.enable_key is not None and not bool(d.get(self.enable_key, True)):
            d[self.status_key] = DISABLED
            return d, None
        case = _case_name(d, image_key)
        if has_prep_entry and prep is None:  # PrepareLiverd skipped it: real tumor or disabled
            label0 = _channel0(d[label_key], key=label_key, case=case)
            tv = 2 if self.tumor_value is None else self.tumor_value
            d[self.status_key] = REAL_TUMOR if _has_value(label0, tv) else DISABLED
            return d, None
        if prep is not None and not isinstance(prep, LiverCase):
            raise InputError(f"{case}: '{self.prep_key}' holds a {type(prep).__name__}, not the "
                             "LiverCase PrepareLiverd stores; prepare cases with PrepareLiverd")
        if not self._do_transform:
            d[self.status_key] = NOT_DRAWN
            return d, None
        ct = _channel0(d[image_key], key=image_key, case=case)
        label = _channel0(d[label_key], key=label_key, case=case)
        if prep is None:  # no PrepareLiverd in the pipeline: prepare on the spot
            prep = self._case_on_the_spot(d, ct, label, case)
            if prep is None:
                d[self.status_key] = REAL_TUMOR
                return d, None
        elif tuple(ct.shape) != prep.shape or tuple(label.shape) != prep.shape:
            raise InputError(
                f"{case}: RandTumord got an image of shape {tuple(ct.shape)}, but PrepareLiverd "
                f"prepared this case at {prep.shape}: a crop or resampling ran between them; put "
                "RandTumord right after PrepareLiverd and crop after it (or drop PrepareLiverd "
                "to prepare each crop on the spot, slowly)"
            )
        if self.tumor_value is not None and self.tumor_value != prep.tumor_value:
            raise OptionError(f"RandTumord tumor_value {self.tumor_value} differs from "
                              f"PrepareLiverd's {prep.tumor_value}; give the same value to both")
        seeds = np.random.default_rng(self._seed)
        params = None
        last_error: NoRoomError | None = None
        for _ in range(self.max_tries):
            try:
                params = sample_params(prep.prepared, self._preset, rng=seeds, **self.overrides)
                break
            except NoRoomError as exc:
                last_error = exc
        if params is None:
            self.n_no_room += 1
            log.info("RandTumord: %s: no room for '%s' tumors (%s); case left unchanged "
                     "(%d such samples in this process)", case, self._preset, last_error,
                     self.n_no_room)
            d[self.status_key] = NO_ROOM
            return d, None
        d[self.params_key] = params.to_json()
        d[self.status_key] = SYNTHESIZED
        self.n_synthesized += 1
        return d, _Draw(ct, label, prep, params)
