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

import importlib
from types import ModuleType

from tumorsynth import _aliases
from tumorsynth._version import __version__
from tumorsynth.errors import (
    InputError,
    NoRoomError,
    OptionError,
    OutputExistsError,
    TumorsynthError,
)
from tumorsynth.generator import (
    GENERATOR_DEFAULTS,
    PRESETS,
    TUMOR_TYPES,
    CaseParams,
    Prepared,
    Synthesizer,
    TumorParams,
    get_preset,
    prepare,
    sample_params,
    synthesize,
    synthesize_case,
)
from tumorsynth.io import Volume, load_case, load_nifti, save_nifti
from tumorsynth.jobs.allocator import tune_allocator, tune_if_asked
from tumorsynth.jobs.phantom import Phantom, make_phantom

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
    "tune_allocator",
]

_aliases.install()
tune_if_asked()  # TUMORSYNTH_TUNE_ALLOCATOR=1: the library user's opt-in (the CLI always tunes)


def __getattr__(name: str) -> ModuleType:
    """``tumorsynth.train``, ``tumorsynth.plan``, ...: the pre-0.4 module paths (:mod:`._aliases`)."""
    new = _aliases.ALIASES.get(f"tumorsynth.{name}")
    if new is None:
        raise AttributeError(f"module 'tumorsynth' has no attribute {name!r}")
    return importlib.import_module(new)
