"""Helpers of the batch tests: a small dataset of phantoms, voxel comparisons, a paused job."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

import tumorsynth as ts

HERE = Path(__file__).resolve().parent
CASES = [f"case{i}" for i in range(5)]


def write_dataset(root: Path, names: list[str] = CASES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        ph = ts.make_phantom(shape=(56, 48, 36), spacing_mm=(5.5, 5.5, 7.0), rng=10 + i)
        ts.save_nifti(root / f"{name}.nii.gz", ph.ct, affine=ph.affine)
        ts.save_nifti(root / f"{name}_liver.nii.gz", ph.liver.astype(np.uint8), affine=ph.affine)
    return root


def voxels(path: Path) -> np.ndarray:
    return np.asanyarray(nib.load(str(path)).dataobj)


def assert_same_cases(a: Path, b: Path, names: list[str] = CASES) -> None:
    """The CT and label of every case are equal voxel for voxel in two output folders."""
    for name in names:
        for f in ("ct.nii.gz", "label.nii.gz"):
            assert np.array_equal(voxels(a / name / f), voxels(b / name / f)), f"{name}/{f}"


def start_paused_job(data: Path, out: Path, case: str, tmp: Path, job: str) -> tuple[subprocess.Popen, Path, Path]:
    """Start paused_job.py; return it once it is paused inside ``case`` (with its marker and go files)."""
    marker, go = tmp / f"{job}.paused", tmp / f"{job}.go"
    proc = subprocess.Popen([sys.executable, str(HERE / "paused_job.py"), str(data), str(out), case,
                             str(marker), str(go), job], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(1200):  # a guard against a hang, not a timing assertion
        if marker.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()[1].decode()[-2000:]
    return proc, marker, go
