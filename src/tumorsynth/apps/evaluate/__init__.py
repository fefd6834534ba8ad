"""Evaluation of liver and tumor segmentations: per case, per folder, and the Table 5 report.

The pieces, each usable on its own:

* :func:`evaluate_case`: tumor and liver DSC and NSD (2 mm, physical spacing) and lesion-wise
  detection for one predicted label map against its ground truth (labels 0 background,
  1 liver, 2 tumor; liver = label >= 1).
* :func:`evaluate_folder`: pairs prediction and ground-truth NIfTI files by case name, checks
  their grids, evaluates every case and writes ``cases.csv`` and ``summary.json`` (means,
  standard deviations, bootstrap confidence intervals, detection by tumor size).
* :func:`case_key`, :func:`pair_cases` and :func:`split_cases` (module ``pairing``): the case
  names that pair prediction and ground-truth files, and the cases of one fold of a split file.
* :func:`table5` and :func:`collect_experiment`: the paper's Table 5 layout (one row per model x
  data regime, one column per fold and the average) from the per-fold summaries of an
  experiment folder ``EXP/<model>_<regime>/fold_<k>/eval/summary.json``.

See ``docs/evaluation.md`` for the conventions.
"""

from __future__ import annotations

from tumorsynth.apps.evaluate.case import LABELS, evaluate_case
from tumorsynth.apps.evaluate.folder import evaluate_files, evaluate_folder
from tumorsynth.apps.evaluate.pairing import case_key, pair_cases, split_cases
from tumorsynth.apps.evaluate.report import collect_experiment, read_experiment, table5

__all__ = [
    "LABELS",
    "case_key",
    "collect_experiment",
    "evaluate_case",
    "evaluate_files",
    "evaluate_folder",
    "pair_cases",
    "read_experiment",
    "split_cases",
    "table5",
]
