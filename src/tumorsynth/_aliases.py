"""The import paths of tumorsynth 0.3 and earlier, kept working after the move to subpackages.

Up to 0.3 every module sat flat in ``tumorsynth/`` (``tumorsynth.synthesize``,
``tumorsynth.monai``, ``tumorsynth.train``, ...). They now live in ``generator/``, ``io/``,
``jobs/``, ``integrations/`` and ``apps/``. Each old path is an alias of its new module: the
same module object, so ``from tumorsynth.monai import RandTumord``, ``mock.patch`` targets and
old pickles (a MONAI ``PersistentDataset`` cache of prepared cases) keep working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__all__ = ["ALIASES", "install", "resolve"]

#: old module path -> new module path (an old package covers its submodules too).
ALIASES: dict[str, str] = {
    "tumorsynth.params": "tumorsynth.generator.params",
    "tumorsynth.presets": "tumorsynth.generator.presets",
    "tumorsynth.prepare": "tumorsynth.generator.step1_prepare",
    "tumorsynth.host": "tumorsynth.generator.step1_host",
    "tumorsynth.location": "tumorsynth.generator.step2_location",
    "tumorsynth.sampling": "tumorsynth.generator.step2_sampling",
    "tumorsynth.plan": "tumorsynth.generator.step3_plan",
    "tumorsynth.shape": "tumorsynth.generator.step3_shape",
    "tumorsynth.texture": "tumorsynth.generator.step4_texture",
    "tumorsynth.postprocess": "tumorsynth.generator.step5_postprocess",
    "tumorsynth.synthesize": "tumorsynth.generator.step6_synthesize",
    "tumorsynth.noise": "tumorsynth.generator.kernels.noise",
    "tumorsynth.grids": "tumorsynth.generator.kernels.grids",
    "tumorsynth.interp": "tumorsynth.generator.kernels.interp",
    "tumorsynth.cases": "tumorsynth.io.cases",
    "tumorsynth.pipeline": "tumorsynth.jobs.pipeline",
    "tumorsynth.preview": "tumorsynth.jobs.preview",
    "tumorsynth.phantom": "tumorsynth.jobs.phantom",
    "tumorsynth.batch": "tumorsynth.jobs.batch",
    "tumorsynth._process": "tumorsynth.jobs.owners",
    "tumorsynth._alloc": "tumorsynth.jobs.allocator",
    "tumorsynth.monai": "tumorsynth.integrations.monai",
    "tumorsynth.monai_dicts": "tumorsynth.integrations.monai.dicts",
    "tumorsynth.monai_prepare": "tumorsynth.integrations.monai.prepare",
    "tumorsynth.monai_pipeline": "tumorsynth.integrations.monai.pipeline",
    "tumorsynth.train": "tumorsynth.apps.train",
    "tumorsynth.evaluate": "tumorsynth.apps.evaluate",
    "tumorsynth.metrics": "tumorsynth.apps.metrics",
    "tumorsynth.realism": "tumorsynth.apps.realism",
    "tumorsynth.reader_study": "tumorsynth.apps.reader_study",
    "tumorsynth.figures": "tumorsynth.apps.figures",
}


def resolve(name: str) -> str | None:
    """The new module path of an old one (``tumorsynth.train.config`` too), or None."""
    head = name
    while "." in head:
        if head in ALIASES:
            return ALIASES[head] + name[len(head):]
        head = head.rpartition(".")[0]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the module; give it back its own.
        module.__spec__ = self._spec
        if self._spec is not None:
            module.__loader__ = self._spec.loader


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = resolve(fullname) if fullname.startswith("tumorsynth.") else None
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Put the alias finder first on ``sys.meta_path``, and register the aliases of new modules
    that are already imported (so that ``tumorsynth.synthesize`` stays the function)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
    for old, new in ALIASES.items():
        if new in sys.modules:
            sys.modules.setdefault(old, sys.modules[new])
