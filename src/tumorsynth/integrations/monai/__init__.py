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

Labels: any label map works. The liver is the label values ``liver_values`` (default: every
non-zero value of a 0/1 or 0/1/2 map; a multi-label map such as TotalSegmentator's must name
them, e.g. ``liver_values=[5]``), tumors are only ever placed inside those values, and their
voxels are written with ``tumor_value`` (default 2, the LiTS convention). A case whose liver
already holds ``tumor_value`` (a real tumor) is left untouched. Images are channel-first
(``C, i, j, k``); channel 0 is used. The voxel spacing is read from the image's affine, never
assumed.

Per-sample cost: ``RandTumord`` copies the image and label once (the cache is never modified)
and works only inside the boxes of the tumors it draws; nothing else scans the volume.
:class:`RandTumorCropByLabelClassesd` fuses it with MONAI's ``RandCropByLabelClassesd`` and
copies only the crops: per sample it costs the generator's work plus the crops, whatever the
size of the CT (what ``tumorsynth train`` uses).
Random crops belong **after** ``RandTumord``; a crop between ``PrepareLiverd`` and
``RandTumord`` is refused with a message naming the fix (:func:`check_pipeline` checks a
``Compose`` up front).

This module needs MONAI (``pip install 'tumorsynth[train]'``).
"""

from tumorsynth.integrations.monai.crop import RandTumorCropByLabelClassesd
from tumorsynth.integrations.monai.pipeline import check_pipeline
from tumorsynth.integrations.monai.prepare import LiverCase, LiverLabelsd, PrepareLiverd
from tumorsynth.integrations.monai.transforms import (
    DEFAULT_PRESET_WEIGHTS,
    STATUS_KEY_SUFFIX,
    RandTumord,
)

__all__ = [
    "DEFAULT_PRESET_WEIGHTS",
    "STATUS_KEY_SUFFIX",
    "LiverCase",
    "LiverLabelsd",
    "PrepareLiverd",
    "RandTumorCropByLabelClassesd",
    "RandTumord",
    "check_pipeline",
]
