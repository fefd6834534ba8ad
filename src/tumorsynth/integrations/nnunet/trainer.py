"""nnU-Net v2 trainers that paste synthetic tumors into the healthy training cases on the fly.

Pick one with ``nnUNetv2_train DATASET 3d_fullres FOLD -tr nnUNetTrainerTumorSynth`` after
``tumorsynth nnunet install`` (nnU-Net finds trainers only inside its own package; the install
writes a one-line module there). The dataset must come from ``tumorsynth nnunet export``: its
``dataset.json`` names the healthy cases and the tumor settings, and holds the regime's splits.

What the trainer changes, and nothing else:

* ``do_split``: writes the export's ``splits_final.json`` next to the preprocessed data when
  there is none (nnU-Net would otherwise make a random 5-fold split that validates on healthy
  cases), then splits as nnU-Net does;
* ``get_tr_and_val_datasets``: wraps the training dataset in
  :class:`~tumorsynth.integrations.nnunet.synth.TumorSynthDataset` (synthesis in HU, the paper's
  type mix, per-worker random streams, records under ``fold_K/tumorsynth_records/``);
  validation cases are real and untouched.

``nnUNetTrainerTumorSynth_tiny`` is the same with 2 epochs of 2 iterations (and 1 validation
iteration) and no mirroring: a smoke test for a new installation.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from tumorsynth.errors import OptionError
from tumorsynth.integrations.nnunet.synth import CTNorm, SynthSettings, TumorSynthDataset

__all__ = ["nnUNetTrainerTumorSynth", "nnUNetTrainerTumorSynth_tiny"]


class nnUNetTrainerTumorSynth(nnUNetTrainer):
    """nnU-Net's default trainer with synthetic tumors in the healthy training cases."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")) -> None:
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.tumorsynth = SynthSettings.from_dataset_json(dataset_json)

    def _tumorsynth_norm(self) -> CTNorm:
        schemes = list(self.configuration_manager.normalization_schemes)
        if not schemes or schemes[0] != "CTNormalization":
            raise OptionError(
                f"channel 0 uses {schemes[0] if schemes else 'no'} normalisation, not nnU-Net's "
                "CTNormalization: set channel_names {'0': 'CT'} in dataset.json (tumorsynth "
                "nnunet export does) and preprocess again")
        props = self.plans_manager.foreground_intensity_properties_per_channel
        return CTNorm.from_properties(props["0"] if "0" in props else props[0])

    def do_split(self) -> Any:
        if self.fold != "all" and self.preprocessed_dataset_folder_base and self.tumorsynth.splits:
            path = os.path.join(self.preprocessed_dataset_folder_base, "splits_final.json")
            if not os.path.isfile(path):
                with open(path, "w", encoding="utf-8") as fh:
                    json.dump(list(self.tumorsynth.splits), fh, indent=1)
                self.print_to_log_file(f"tumorsynth: wrote the export's splits ({self.tumorsynth.regime}) "
                                       f"to {path}")
        return super().do_split()

    def get_tr_and_val_datasets(self) -> Any:
        dataset_tr, dataset_val = super().get_tr_and_val_datasets()
        settings = self.tumorsynth
        healthy = [i for i in dataset_tr.identifiers if i in set(settings.healthy)]
        records = os.path.join(self.output_folder, "tumorsynth_records") if self.output_folder else None
        self.print_to_log_file(
            f"tumorsynth: regime {settings.regime}; synthetic tumors in {len(healthy)} of "
            f"{len(dataset_tr.identifiers)} training cases with probability {settings.prob}, "
            f"types {settings.presets}; records in {records}")
        wrapped = TumorSynthDataset(dataset_tr, settings, self._tumorsynth_norm(),
                                    self.configuration_manager.spacing, records_dir=records)
        return wrapped, dataset_val


class nnUNetTrainerTumorSynth_tiny(nnUNetTrainerTumorSynth):
    """A smoke test: 2 epochs of 2 training iterations and 1 validation iteration."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")) -> None:
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 2
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self) -> Any:
        # no mirroring: neither as augmentation nor as test-time augmentation of the final
        # validation (8 passes per window on a CPU)
        rot, dummy_2d, initial, _ = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        self.inference_allowed_mirroring_axes = None
        return rot, dummy_2d, initial, None
