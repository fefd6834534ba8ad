"""Step 4, post-processing: mass effect and capsule.

*Mass effect*: a growing tumor pushes the parenchyma and vessels around it outward. Tissue that
now lies at signed distance ``d`` outside the tumor surface came from ``delta(d)`` mm closer to
the tumor centre, with ``delta = D (1 - d / W)**2`` for ``0 <= d < W`` (``D`` the push at the
surface, ``W`` the decay range; ``W >= 2.5 D`` keeps the map one-to-one). Each liver voxel takes
the value of its nearest source voxel (:func:`tumorsynth.generator.step6_synthesize.apply_tumors`): unlike
interpolation, this keeps the scanner noise exactly as it was.

*Capsule*: a thin bright rim, a Gaussian profile of width ``w`` centred half a width inside the
tumor surface, for the larger tumors that have one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["capsule_profile"]


def capsule_profile(d: np.ndarray, width_mm: float) -> np.ndarray:
    """Weight of the capsule rim at signed distance d: peak 1 half a width inside the surface.

    A smooth bump ``(1 - (z / 1.1)**2)**3`` with ``z = (d + w / 2) / w``: full width at half
    maximum ``w``, zero beyond 1.1 widths from its peak. The blend applies it only where the
    tumor is (times the soft mask), so the rim is a thin line inside the tumor's edge.
    """
    z = d + np.float32(0.5 * width_mm)
    z *= np.float32(1.0 / (1.1 * width_mm))
    z *= z
    np.subtract(np.float32(1.0), z, out=z)
    np.maximum(z, np.float32(0.0), out=z)
    g = z * z
    g *= z
    return g
