"""nnU-Net v2 with synthetic tumors on the fly (``pip install 'tumorsynth[nnunet]'``).

Three pieces (docs/nnunet.md has the exact commands):

* :func:`export_dataset` (``tumorsynth nnunet export``) writes an nnU-Net raw dataset
  (``imagesTr/NAME_0000.nii.gz``, ``labelsTr/NAME.nii.gz`` with 0 background, 1 liver, 2 tumor,
  ``dataset.json``) from healthy livers and, optionally, real tumor cases, with the tumor
  settings and the splits of a regime (real, synthetic, real+synthetic) in ``dataset.json``
  (nnU-Net copies it to the preprocessed folder) and in ``splits_final.json``.
* :class:`~tumorsynth.integrations.nnunet.trainer.nnUNetTrainerTumorSynth`, the trainer to pick
  with ``nnUNetv2_train ... -tr nnUNetTrainerTumorSynth``: in nnU-Net's own data pipeline it
  pastes tumors (the paper's type mix) into the healthy training cases, in HU (it undoes and
  redoes nnU-Net's CT normalisation from the dataset fingerprint), each data worker with its
  own random stream, and logs every parameter record.
* :func:`install_trainers` (``tumorsynth nnunet install``) writes a one-line module into
  nnU-Net's trainer package so that nnU-Net's trainer discovery (``-tr NAME``, also used by
  ``nnUNetv2_predict``) finds the trainer classes.

Only :mod:`~tumorsynth.integrations.nnunet.trainer` imports nnU-Net; export and install work
without importing it at module level.
"""

from __future__ import annotations

from tumorsynth.integrations.nnunet.export import export_dataset
from tumorsynth.integrations.nnunet.install import (
    TRAINER_NAMES,
    install_trainers,
    installed_trainer_path,
    uninstall_trainers,
)

__all__ = [
    "TRAINER_NAMES",
    "export_dataset",
    "install_trainers",
    "installed_trainer_path",
    "uninstall_trainers",
]
