"""Fixtures of the reader-study tests (helpers in reader_study_cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reader_study_cases import build, write_healthy_case, write_real_case


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Input folders: 3 real tumor cases and 3 healthy cases (NAME + NAME_label / NAME_liver)."""
    root = tmp_path_factory.mktemp("inputs")
    real = root / "real"
    healthy = root / "healthy"
    real.mkdir()
    healthy.mkdir()
    for i in range(3):
        write_real_case(real, f"volume-real{i}", 100 + i)
        write_healthy_case(healthy, f"healthy{i}", 200 + i)
    return {"root": root, "real": real, "healthy": healthy}


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]):
    """A built study (6 cases, readers alice and bob); tests must not store answers in it."""
    return build(tmp_path_factory.mktemp("study") / "study", inputs)


@pytest.fixture
def fresh_study(tmp_path: Path, inputs: dict[str, Path]):
    """A built study of its own, for tests that store answers."""
    return build(tmp_path / "study", inputs)
