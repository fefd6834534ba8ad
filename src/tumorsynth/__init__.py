"""tumorsynth: realistic synthetic liver tumors in healthy CT, fast enough for on-the-fly training.

The generator (pure numpy/scipy) in three calls::

    import tumorsynth as ts
    ph = ts.make_phantom()                                   # or ts.load_case(ct_path, liver_path)
    prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)        # once per case, cacheable
    params = ts.sample_params(prep, "mix", rng=42)           # the only random step
    ct_with_tumors, label = ts.synthesize(ph.ct, ph.liver, params)   # pure, deterministic

``params.to_json()`` records everything (seeds included); ``CaseParams.from_json`` replays it.
"""

from __future__ import annotations

__version__ = "0.3.0"

from tumorsynth.errors import (
    InputError,
    NoRoomError,
    OptionError,
    OutputExistsError,
    TumorsynthError,
)
from tumorsynth.io import Volume, load_case, load_nifti, save_nifti
from tumorsynth.params import CaseParams, TumorParams
from tumorsynth.phantom import Phantom, make_phantom
from tumorsynth.prepare import Prepared, prepare
from tumorsynth.presets import GENERATOR_DEFAULTS, PRESETS, TUMOR_TYPES, get_preset
from tumorsynth.sampling import sample_params
from tumorsynth.synthesize import Synthesizer, synthesize, synthesize_case

__all__ = [
    "GENERATOR_DEFAULTS",
    "PRESETS",
    "TUMOR_TYPES",
    "CaseParams",
    "InputError",
    "NoRoomError",
    "OptionError",
    "OutputExistsError",
    "Phantom",
    "Prepared",
    "Synthesizer",
    "TumorParams",
    "TumorsynthError",
    "Volume",
    "__version__",
    "get_preset",
    "load_case",
    "load_nifti",
    "make_phantom",
    "prepare",
    "sample_params",
    "save_nifti",
    "synthesize",
    "synthesize_case",
]
