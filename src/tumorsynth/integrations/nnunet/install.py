"""Make nnU-Net's trainer discovery find the tumorsynth trainers.

``nnUNetv2_train -tr NAME`` and ``nnUNetv2_predict -tr NAME`` look for the class ``NAME`` by
importing every module below the package ``nnunetv2.training.nnUNetTrainer`` (the folder of the
installed nnU-Net). A class defined elsewhere is invisible to them, which is why nnU-Net's own
documentation puts custom trainers into that folder. :func:`install_trainers` writes one small
module there, ``tumorsynth_trainers.py``, that only imports the classes from tumorsynth; the
code stays in tumorsynth (and updates with it). :func:`uninstall_trainers` removes it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from tumorsynth.errors import MissingDependencyError, OptionError

__all__ = ["MODULE_NAME", "TRAINER_NAMES", "install_trainers", "installed_trainer_path",
           "uninstall_trainers"]

log = logging.getLogger(__name__)

MODULE_NAME = "tumorsynth_trainers"
#: The trainer classes the installed module makes visible.
TRAINER_NAMES = ("nnUNetTrainerTumorSynth", "nnUNetTrainerTumorSynth_tiny")
_MARKER = "# written by `tumorsynth nnunet install`"


def _trainer_folder() -> Path:
    spec = importlib.util.find_spec("nnunetv2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("nnU-Net v2 is not installed: pip install 'tumorsynth[nnunet]'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "training" / "nnUNetTrainer"
    if not folder.is_dir():
        raise OptionError(f"{folder}: nnU-Net's trainer package is not where nnU-Net v2 keeps it; "
                          "is this nnU-Net v2 (pip install 'nnunetv2>=2.5')?")
    return folder


def installed_trainer_path() -> Path:
    """Where the discovery module goes (inside the installed nnU-Net)."""
    return _trainer_folder() / f"{MODULE_NAME}.py"


def install_trainers() -> Path:
    """Write the discovery module (idempotent); return its path."""
    path = installed_trainer_path()
    text = (f"{_MARKER}; remove with `tumorsynth nnunet install --uninstall`\n"
            f"from tumorsynth.integrations.nnunet.trainer import {', '.join(TRAINER_NAMES)}  # noqa: F401\n")
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    if path.is_file() and _MARKER not in path.read_text(encoding="utf-8"):
        raise OptionError(f"{path} exists and was not written by tumorsynth; move it away first")
    if not os.access(path.parent, os.W_OK):
        raise OptionError(f"{path.parent} is not writable: run the install in the environment "
                          "that owns nnU-Net (e.g. your virtual environment)")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    log.info("nnU-Net trainers %s installed: %s", ", ".join(TRAINER_NAMES), path)
    return path


def uninstall_trainers() -> bool:
    """Remove the discovery module; return whether there was one."""
    path = installed_trainer_path()
    if not path.is_file():
        return False
    if _MARKER not in path.read_text(encoding="utf-8"):
        raise OptionError(f"{path} was not written by tumorsynth; left in place")
    path.unlink()
    return True
