"""The generator: pure numpy/scipy, in pipeline order (the module names carry the order).

=====================  ===========================================================================
``params``             the parameter record: plain, frozen data that fully determines a case
``presets``            the tumor presets and every knob's default (data only)
``step1_prepare``      once per scan, deterministic: liver box, parenchyma statistics, vessels,
                       distance maps (cacheable)
``step1_host``         once per scan: the host scanner's noise and resolution
``step1_local``        once per scan: the liver's own level from place to place (contrasts are
                       drawn against the liver around each tumor)
``step2_location``     paper step 1: tumor centres inside the liver, away from vessels and each other
``step2_sampling``     the only random step: draw a parameter record (:func:`sample_params`)
``step3_shape``        paper step 3: the lobulated, rotated ellipsoid and its soft edge
``step3_distance``     the signed distance to that surface at the nodes of each tumor's coarse grid
``step3_plan``         tumor boxes on the scan's grid and each voxel's distance to the surface
``step4_texture``      paper step 2: the tumor's texture
``step5_postprocess``  paper step 4: mass effect and capsule
``step6_synthesize``   the pure step that applies a record to a CT (:func:`synthesize`)
``kernels/``           noise, stacked tumor grids, resampling
=====================  ===========================================================================
"""

from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.presets import GENERATOR_DEFAULTS, PRESETS, TUMOR_TYPES, get_preset
from tumorsynth.generator.step1_prepare import Prepared, prepare
from tumorsynth.generator.step2_sampling import sample_params
from tumorsynth.generator.step6_synthesize import (
    Synthesizer,
    apply_tumors,
    synthesize,
    synthesize_case,
)

__all__ = [
    "GENERATOR_DEFAULTS",
    "PRESETS",
    "TUMOR_TYPES",
    "CaseParams",
    "Prepared",
    "Synthesizer",
    "TumorParams",
    "apply_tumors",
    "get_preset",
    "prepare",
    "sample_params",
    "synthesize",
    "synthesize_case",
]
