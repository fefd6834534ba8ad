"""Fixtures of the batch tests (helpers in batch_cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_cases import CASES, write_dataset


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five small phantom cases; tests only read it."""
    return write_dataset(tmp_path_factory.mktemp("batchdata") / "data")


@pytest.fixture(scope="session")
def reference(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plain serial run of the dataset (preset small, seed 3); tests only read it."""
    from tumorsynth.jobs.batch import run_batch

    out = tmp_path_factory.mktemp("batchref") / "out"
    summary = run_batch(dataset, out, preset="small", seed=3, preview=False)
    assert sorted(summary.done) == CASES
    return out
