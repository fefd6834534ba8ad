"""Files: NIfTI reading and writing (:mod:`.nifti`) and dataset layouts (:mod:`.cases`).

Everything here only reads inputs and writes outputs atomically; nothing is generator logic.
"""

from tumorsynth.io.nifti import (
    LIVER_HU_RANGE,
    NIFTI_SUFFIXES,
    SPACING_RANGE_MM,
    Volume,
    atomic_path,
    check_ct_hu,
    check_same_grid,
    check_spacing,
    liver_mask_from_labels,
    load_case,
    load_nifti,
    save_nifti,
    spacing_from_affine,
    write_bytes_atomic,
    write_text_atomic,
)

__all__ = [
    "LIVER_HU_RANGE",
    "NIFTI_SUFFIXES",
    "SPACING_RANGE_MM",
    "Volume",
    "atomic_path",
    "check_ct_hu",
    "check_same_grid",
    "check_spacing",
    "liver_mask_from_labels",
    "load_case",
    "load_nifti",
    "save_nifti",
    "spacing_from_affine",
    "write_bytes_atomic",
    "write_text_atomic",
]
