"""The deterministic part of the MONAI tumor pipeline: label maps and the prepared case.

:class:`LiverLabelsd` maps a case's own label values to 0 / 1 / 2; :class:`PrepareLiverd` runs
:func:`tumorsynth.prepare` once per case (a ``CacheDataset`` keeps it) and stores a
:class:`LiverCase` for :class:`tumorsynth.integrations.monai.RandTumord`. Import them from
:mod:`tumorsynth.integrations.monai`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tumorsynth.errors import InputError, OptionError
from tumorsynth.generator.step1_prepare import Prepared

try:
    import torch
    from monai.config import KeysCollection
    from monai.transforms import MapTransform
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised only without the extra
    raise OptionError(
        f"tumorsynth.integrations.monai needs MONAI and PyTorch ({_exc.name} is missing): "
        "pip install 'tumorsynth[train]'"
    ) from None

from tumorsynth.integrations.monai.dicts import _case_name, _channel0, _check_hu, _like, _spacing_of

__all__ = ["LiverCase", "LiverLabelsd", "PrepareLiverd"]


# --------------------------------------------------------------------------------------------
# the prepared case


@dataclass(frozen=True, eq=False)
class LiverCase:
    """What :class:`PrepareLiverd` caches for one case and :class:`RandTumord` reads.

    Attributes:
        prepared: the generator's preparation (:func:`tumorsynth.prepare`) on the case's grid.
        liver_values: label values that make the liver (``None``: every non-zero value).
        tumor_value: label value the synthetic tumors are written with.
        liver_box: the liver mask inside ``prepared.bbox`` (bool), so that a sample needs no
            pass over the whole label map.
    """

    prepared: Prepared
    liver_values: tuple[int, ...] | None
    tumor_value: int
    liver_box: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.prepared.shape)  # type: ignore[return-value]

    @property
    def box(self) -> tuple[slice, slice, slice]:
        (a0, b0), (a1, b1), (a2, b2) = self.prepared.bbox
        return slice(a0, b0), slice(a1, b1), slice(a2, b2)


def _liver_mask(label: np.ndarray, liver_values: tuple[int, ...] | None) -> np.ndarray:
    """Boolean liver mask of a spatial label array."""
    if liver_values is None:
        return label > 0 if label.dtype.kind in "iub" else label > 0.5
    lab = label if label.dtype.kind in "iub" else np.rint(label)
    return np.isin(lab, liver_values)


def _label_values(label: np.ndarray) -> np.ndarray:
    """The values a label array holds (sorted; floats rounded)."""
    arr = label if label.dtype.kind in "iub" else np.rint(label)
    flat = arr.ravel()
    if flat.dtype.kind in "ub" and flat.dtype.itemsize <= 2:
        return np.flatnonzero(np.bincount(flat.astype(np.intp, copy=False)))
    return np.unique(flat).astype(np.int64)


def _shown(values: np.ndarray) -> str:
    vals = [str(int(v)) for v in values[:12]]
    return ", ".join(vals) + (" ..." if values.size > 12 else "")


def _check_tumor_value(tumor_value: int, where: str) -> int:
    v = int(tumor_value)
    if v <= 0:
        raise OptionError(f"{where} tumor_value: {tumor_value}, expected a positive label value")
    return v


def _as_values(values: Sequence[int] | int | None, where: str) -> tuple[int, ...] | None:
    if values is None:
        return None
    vals = (int(values),) if isinstance(values, (int, np.integer)) else tuple(int(v) for v in values)
    if not vals or any(v <= 0 for v in vals):
        raise OptionError(f"{where} liver_values: {values!r}, expected positive label values "
                          "(e.g. [5] for TotalSegmentator, [6] for BTCV, [1, 2] for LiTS)")
    return vals


class PrepareLiverd(MapTransform):
    """Prepare a healthy case for tumor synthesis (deterministic, cacheable).

    Computes :func:`tumorsynth.prepare` on channel 0 of ``keys[0]`` (the CT, in HU) with the
    liver taken from ``keys[1]`` (the values ``liver_values``) and the spacing read from the
    image's affine, and stores a :class:`LiverCase` under ``prep_key``. Stores ``None``
    instead (and computes nothing) when the liver already holds a real tumor (value
    ``tumor_value`` among the liver values) or when ``enable_key`` names an entry that is false
    for this case.

    Refused, with one line naming the fix: a label map with values other than 0, 1 and
    ``tumor_value`` when ``liver_values`` is not given (a multi-label map: name its liver
    values); a ``tumor_value`` that occurs in the map outside the liver values (another organ
    there: TotalSegmentator's 2 is the right kidney), since the synthetic tumors could not be
    told apart from it; a liver value that does not occur.

    Args:
        keys: ``(image_key, label_key)``.
        prep_key: where to store the preparation.
        liver_values: label values that make the liver; ``None``: every non-zero value of a 0/1
            or 0/1/``tumor_value`` map.
        tumor_value: label value of a tumor: real tumors carry it, synthetic ones get it.
        enable_key: optional boolean entry; a case with a false value is not prepared.
        check_hu: refuse images whose liver is not in Hounsfield units.
        allow_missing_keys: as in MONAI.

    Example:
        >>> prep = PrepareLiverd(("image", "label"), liver_values=[5], tumor_value=200)  # doctest: +SKIP
        >>> d = prep({"image": ct, "label": totalseg_map})  # doctest: +SKIP
        >>> d["tumor_prep"].prepared.liver_volume_ml  # doctest: +SKIP
    """

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        *,
        prep_key: str = "tumor_prep",
        liver_values: Sequence[int] | int | None = None,
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
        self.liver_values = _as_values(liver_values, "PrepareLiverd")
        self.tumor_value = _check_tumor_value(tumor_value, "PrepareLiverd")
        self.enable_key = enable_key
        self.check_hu = bool(check_hu)

    def liver_mask(self, label: np.ndarray) -> np.ndarray:
        """Boolean liver mask of a label array (spatial)."""
        return _liver_mask(label, self.liver_values)

    def _has_real_tumor(self, label: np.ndarray, case: str) -> bool:
        """Whether the case holds a real tumor; refuse label maps the options do not fit."""
        values = _label_values(label)
        tv = self.tumor_value
        if self.liver_values is None:
            extra = [int(v) for v in values if v not in (0, 1, tv)]
            if extra:
                raise InputError(
                    f"{case}: the label map holds values {_shown(values)}, not a 0/1 liver mask or "
                    f"a 0/1/{tv} map; it looks like a multi-label map: pass liver_values (e.g. [5] "
                    "for TotalSegmentator, [6] for BTCV) and an unused tumor_value"
                )
            return tv in values
        if not np.isin(self.liver_values, values).any():
            raise InputError(
                f"{case}: liver label {','.join(map(str, self.liver_values))} does not occur "
                f"(values present: {_shown(values)}); fix liver_values or the label file"
            )
        if tv in values and tv not in self.liver_values:
            raise InputError(
                f"{case}: tumor_value {tv} already labels something outside the liver values "
                f"{list(self.liver_values)} (values present: {_shown(values)}); if it is a real "
                f"tumor (LiTS, MSD) add it to liver_values (e.g. [1, {tv}]); if it is another "
                "structure (TotalSegmentator's 2 is the right kidney) pass an unused tumor_value "
                "(e.g. 200), or map the labels to 0/1/2 with LiverLabelsd first"
            )
        return tv in values

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
        if self._has_real_tumor(label, case):
            d[self.prep_key] = None  # a real tumor: RandTumord will leave it alone
            return d
        ct = _channel0(d[image_key], key=image_key, case=case)
        if ct.shape != label.shape:
            raise InputError(f"{case}: image shape {ct.shape} differs from label shape {label.shape}")
        liver = self.liver_mask(label)
        if not liver.any():
            raise InputError(
                f"{case}: the liver mask is empty after loading and resampling; check the "
                "label file and its liver label value"
            )
        if self.check_hu:
            _check_hu(ct, liver, case=case)
        spacing = _spacing_of(d, image_key, case=case)
        # the HU check above is the transform's own (with its fix); prepare need not repeat it
        prepared = prepare(np.ascontiguousarray(ct), liver, spacing_mm=spacing, check_hu=False)
        box = tuple(slice(a, b) for a, b in prepared.bbox)
        d[self.prep_key] = LiverCase(prepared=prepared, liver_values=self.liver_values,
                                     tumor_value=self.tumor_value,
                                     liver_box=np.ascontiguousarray(liver[box]))
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
