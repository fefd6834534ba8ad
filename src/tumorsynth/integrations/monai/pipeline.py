"""A check of the order of a MONAI pipeline holding the tumor transforms (import it from
:mod:`tumorsynth.integrations.monai`)."""

from __future__ import annotations

from typing import Any

from tumorsynth.errors import OptionError

__all__ = ["check_pipeline"]


_SPATIAL_MODULES = ("monai.transforms.spatial", "monai.transforms.croppad")


def check_pipeline(pipeline: Any) -> Any:
    """Refuse a pipeline whose tumor transforms are misplaced; return it unchanged.

    ``pipeline`` is a ``Compose`` (or a list of transforms). Refused, with one line naming
    the fix: ``RandTumord`` before ``PrepareLiverd``; a spatial transform (crop, pad,
    resampling, flip, rotation) between them (the preparation belongs to the grid it saw);
    an intensity transform (windowing, scaling) before ``RandTumord`` (the generator works in
    HU); a nested ``Compose`` holding the tumor transforms (a cache would keep nothing).

    Example:
        >>> from monai.transforms import Compose, ScaleIntensityRanged
        >>> from tumorsynth.integrations.monai import PrepareLiverd, RandTumord
        >>> ok = check_pipeline(Compose([PrepareLiverd(), RandTumord(),
        ...                              ScaleIntensityRanged("image", -21, 189, 0.0, 1.0)]))
        >>> check_pipeline([RandTumord(), PrepareLiverd()])
        Traceback (most recent call last):
        ...
        tumorsynth.errors.OptionError: pipeline: RandTumord (step 0) comes before PrepareLiverd (step 1); put PrepareLiverd first
    """
    from monai.transforms import Compose

    from tumorsynth.integrations.monai import (
        PrepareLiverd,
        RandTumorCropByLabelClassesd,
        RandTumord,
    )

    tumor_types = (RandTumord, RandTumorCropByLabelClassesd)
    steps = list(pipeline.transforms if isinstance(pipeline, Compose) else pipeline)
    for i, t in enumerate(steps):
        if isinstance(t, Compose) and any(isinstance(u, (PrepareLiverd, *tumor_types))
                                          for u in t.flatten().transforms):
            raise OptionError(f"pipeline: step {i} is a nested Compose holding the tumor "
                              "transforms; use one flat Compose (CacheDataset caches nothing "
                              "of a nested one)")
    prep_at = [i for i, t in enumerate(steps) if isinstance(t, PrepareLiverd)]
    rand_at = [i for i, t in enumerate(steps) if isinstance(t, tumor_types)]
    for r in rand_at:
        tumors = type(steps[r]).__name__
        before = [p for p in prep_at if p < r]
        if prep_at and not before:
            raise OptionError(f"pipeline: {tumors} (step {r}) comes before PrepareLiverd "
                              f"(step {prep_at[0]}); put PrepareLiverd first")
        start = before[-1] if before else -1
        for i in range(start + 1, r):
            mod = type(steps[i]).__module__
            name = type(steps[i]).__name__
            if before and mod.startswith(_SPATIAL_MODULES):
                raise OptionError(
                    f"pipeline: {name} (step {i}) changes the grid between PrepareLiverd and "
                    f"{tumors} (step {r}); move it after {tumors} (random crops belong "
                    "after the tumors)")
        for i in range(r):
            mod = type(steps[i]).__module__
            if mod.startswith("monai.transforms.intensity"):
                raise OptionError(
                    f"pipeline: {type(steps[i]).__name__} (step {i}) changes intensities before "
                    f"{tumors} (step {r}), which works in HU; move it after {tumors}")
    return pipeline
