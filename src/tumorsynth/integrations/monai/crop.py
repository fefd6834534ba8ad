"""RandTumorCropByLabelClassesd: tumors and class-balanced crops in one step that copies only the crops.

``RandTumord`` followed by ``RandCropByLabelClassesd`` copies the whole CT and label once per
sample (the cached case must not change), then keeps only a few 96^3 crops of them. This
transform does the same two things without that copy: it writes the tumors into uninitialised
full-size buffers, touching only the tumors' boxes (:func:`tumorsynth.generator.apply_tumors`
with ``host=``), picks the crop centres with MONAI's own ``RandCropByLabelClasses`` (the tumor
class being the new tumor voxels), crops the *cached* image and label (MONAI's crops, with
their metadata), and copies each crop once, pasting the part of each tumor box that falls
inside it. Per sample it costs the generator's work on the boxes plus the crops, whatever the
size of the CT.

The crops equal, voxel for voxel, those ``RandCropByLabelClassesd`` cuts at the same centres
from the output of ``RandTumord`` with the same record (tested).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from copy import deepcopy
from typing import Any

import numpy as np

from tumorsynth.errors import OptionError

try:
    import torch
    from monai.config import KeysCollection
    from monai.transforms import (
        MapTransform,
        MultiSampleTrait,
        RandCropByLabelClasses,
        Randomizable,
        SpatialCrop,
    )
    from monai.utils import MAX_SEED, fall_back_tuple
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised only without the extra
    raise OptionError(
        f"tumorsynth.integrations.monai needs MONAI and PyTorch ({_exc.name} is missing): "
        "pip install 'tumorsynth[train]'"
    ) from None

from tumorsynth.generator.step6_synthesize import apply_tumors
from tumorsynth.integrations.monai.prepare import LiverCase
from tumorsynth.integrations.monai.transforms import RandTumord

__all__ = ["RandTumorCropByLabelClassesd"]

Box = tuple[slice, slice, slice]


class _Arena:
    """Full-size scratch arrays reused from sample to sample (one set per DataLoader worker).

    A case's arrays are views of byte buffers that only grow, so the pages a sample touches are
    already mapped by the samples before it: no page faults, no zeroing of a whole volume. The
    liver buffer is all False between samples (each sample clears what it set).
    """

    def __init__(self) -> None:
        self._bytes: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) * dt.itemsize
        buf = self._bytes.get(name)
        if buf is None or buf.size < n:
            buf = np.zeros(n, dtype=np.uint8)  # lazily mapped: only touched pages cost memory
            self._bytes[name] = buf
        return buf[:n].view(dt).reshape(shape)

    def __getstate__(self) -> dict[str, Any]:  # a copy for another process starts empty
        return {"_bytes": {}}


class _Overlay:
    """The tumors of one record on scratch arrays that hold valid voxels only inside ``boxes``."""

    def __init__(self, ct: np.ndarray, case: LiverCase, params: Any, arena: _Arena) -> None:
        shape = ct.shape
        liver = arena.get("liver", shape, bool)
        self.image = arena.get("image", shape, ct.dtype)
        self.label = arena.get("label", shape, np.uint8)
        liver[case.box] = case.liver_box
        try:
            self.boxes: list[Box] = apply_tumors(self.image, self.label, liver, params, host=ct)
        finally:
            liver[case.box] = False
        self.tumor_value = case.tumor_value
        parts = []
        for b in self.boxes:  # boxes may overlap: a voxel found once is marked 3
            view = self.label[b]
            m = view == 2
            coords = np.nonzero(m)
            if coords[0].size:
                view[m] = 3
                parts.append(np.ravel_multi_index(
                    tuple(c + s.start for c, s in zip(coords, b, strict=True)), shape))
        if not parts:
            self.flat = np.empty(0, dtype=np.int64)
        else:  # each part is sorted already: a merge of sorted runs
            self.flat = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts), kind="stable")

    def paste(self, image: np.ndarray, label: np.ndarray, window: Box) -> None:
        """Write the tumors into a crop (channel 0 arrays) cut at ``window`` of the full grid."""
        for b in self.boxes:
            inter = tuple(slice(max(s.start, w.start), min(s.stop, w.stop)) for s, w in zip(b, window, strict=True))
            if any(s.start >= s.stop for s in inter):
                continue
            local = tuple(slice(s.start - w.start, s.stop - w.start) for s, w in zip(inter, window, strict=True))
            image[local] = self.image[inter]
            m = self.label[inter] >= 2
            label[local][m] = self.tumor_value


def _window(center: Sequence[int], roi: Sequence[int], shape: Sequence[int]) -> Box:
    """The voxels MONAI's ``SpatialCrop(roi_center, roi_size)`` keeps, as slices of the full grid."""
    sl = SpatialCrop(roi_center=tuple(int(c) for c in center), roi_size=tuple(int(r) for r in roi)).slices
    out = [slice(int(s.start or 0), min(int(s.stop if s.stop is not None else n), int(n)))
           for s, n in zip(sl[-3:], shape, strict=True)]
    return out[0], out[1], out[2]


def _copy(x: Any) -> Any:
    return x.clone() if isinstance(x, torch.Tensor) else np.array(x, copy=True)


def _channel0_view(t: Any) -> np.ndarray:
    arr = t.as_tensor() if hasattr(t, "as_tensor") else t
    arr = arr.numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    return arr[0]


class RandTumorCropByLabelClassesd(Randomizable, MapTransform, MultiSampleTrait):
    """``RandTumord`` then ``RandCropByLabelClassesd``, without copying the whole case.

    Takes the arguments of both: the tumor ones of :class:`RandTumord` (``prob``, ``presets``,
    ``prep_key``, ``params_key``, ``enable_key``, ``tumor_value``, ``max_tries``,
    ``max_indices``, knob overrides) and the crop ones of MONAI's ``RandCropByLabelClassesd``
    (``spatial_size``, ``ratios``, ``num_classes``, ``num_samples``, ``allow_smaller``,
    ``warn``). Crop centres come from ``indices_key`` (MONAI ``ClassesToIndicesd``, cached):
    its tumor class is replaced by the synthesized tumor voxels. Returns a list of
    ``num_samples`` dictionaries, as MONAI's crop does, each with the record and status of
    the sample. The input dictionary and its arrays are never modified.
    """

    backend = RandCropByLabelClasses.backend

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        spatial_size: Sequence[int] | int = 96,
        ratios: Sequence[float | int] | None = None,
        num_classes: int | None = None,
        num_samples: int = 1,
        *,
        indices_key: str,
        prob: float = 1.0,
        presets: str | Sequence[str] | Mapping[str, float] | None = None,
        allow_smaller: bool = False,
        warn: bool = True,
        allow_missing_keys: bool = False,
        **tumor_kwargs: Any,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not indices_key:
            raise OptionError("RandTumorCropByLabelClassesd needs indices_key: put "
                              "ClassesToIndicesd(label_key, num_classes=...) in the cached part")
        self.indices_key = indices_key
        self.tumors = RandTumord(keys, prob, presets, indices_key=None, allow_missing_keys=allow_missing_keys,
                                 **tumor_kwargs)
        self.cropper = RandCropByLabelClasses(spatial_size, None if ratios is None else list(ratios), num_classes=num_classes,
                                              num_samples=num_samples, allow_smaller=allow_smaller,
                                              warn=warn, lazy=False)
        self._arena = _Arena()

    @property
    def num_samples(self) -> int:
        return int(self.cropper.num_samples)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None
                         ) -> RandTumorCropByLabelClassesd:
        super().set_random_state(seed, state)
        self.tumors.set_random_state(seed=int(self.R.randint(MAX_SEED)))
        self.cropper.set_random_state(seed=int(self.R.randint(MAX_SEED)))
        return self

    def randomize(self, data: Any = None) -> None:  # the parts draw their own numbers
        return None

    def __call__(self, data: Mapping[Hashable, Any]) -> list[dict[Hashable, Any]]:
        d, draw = self.tumors._draw(data)
        image_key, label_key = self.keys
        if self.indices_key not in d:
            raise OptionError(f"RandTumorCropByLabelClassesd: no '{self.indices_key}' entry; put "
                              "ClassesToIndicesd(label_key, num_classes=...) in the cached part")
        indices = d[self.indices_key]
        overlay = None
        if draw is not None:
            overlay = _Overlay(draw.ct, draw.case, draw.params, self._arena)
            indices = self.tumors._update_indices(indices, overlay.flat, draw.case.tumor_value)
            d[self.indices_key] = indices
        self.cropper.randomize(label=d[label_key], indices=indices)
        images = self.cropper(d[image_key], randomize=False)
        labels = self.cropper(d[label_key], randomize=False)
        shape = tuple(int(s) for s in d[label_key].shape[1:])
        roi = fall_back_tuple(self.cropper.spatial_size, default=shape)
        out = []
        for i, center in enumerate(self.cropper.centers or []):
            sample = {k: deepcopy(v) for k, v in d.items() if k not in (image_key, label_key)}
            img, lab = _copy(images[i]), _copy(labels[i])  # the crops are views of the cache
            if overlay is not None:
                overlay.paste(_channel0_view(img), _channel0_view(lab), _window(center, roi, shape))
            sample[image_key], sample[label_key] = img, lab
            out.append(sample)
        return out
