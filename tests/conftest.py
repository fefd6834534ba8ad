"""Shared fixtures: a small phantom (session-wide) and the real CT fixtures of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tumorsynth as ts

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg_example"


@pytest.fixture(scope="session")
def phantom() -> ts.Phantom:
    """A coarse phantom (fast): 2.5 x 2.5 x 3 mm voxels."""
    return ts.make_phantom(shape=(128, 112, 80), spacing_mm=(2.5, 2.5, 3.0), rng=0)


@pytest.fixture(scope="session")
def prepared(phantom: ts.Phantom) -> ts.Prepared:
    return ts.prepare(phantom.ct, phantom.liver, phantom.spacing_mm)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not (REAL_DIR / "example_ct.nii.gz").is_file():
        pytest.skip(f"real CT fixtures not found at {REAL_DIR} (they live beside the project in ../shared/data)")
    return REAL_DIR


@pytest.fixture(scope="session")
def write_phantom():
    """Factory: write a phantom as NIfTI CT + liver mask into a folder."""
    return write_phantom_nifti


def write_phantom_nifti(folder: Path, ph: ts.Phantom, stem: str = "ct") -> tuple[Path, Path]:
    """Write a phantom as CT + liver mask NIfTI files; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ct = folder / f"{stem}.nii.gz"
    liver = folder / f"{stem}_liver.nii.gz"
    ts.save_nifti(ct, ph.ct, affine=ph.affine)
    ts.save_nifti(liver, ph.liver.astype(np.uint8), affine=ph.affine)
    return ct, liver
