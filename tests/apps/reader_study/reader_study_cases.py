"""Tiny hand-made CT cases for the reader-study tests (fast, no generator needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (40, 36, 12)
SPACING = (2.0, 2.0, 4.0)
REVEALING = "REALTUMOR-LiTS-volume"  # written into headers of the inputs; must never reach a study


def _affine_lps() -> np.ndarray:
    # LPS-like orientation (as DICOM converters often write): flips x and y
    return np.array([[-SPACING[0], 0, 0, 80.0], [0, -SPACING[1], 0, 70.0], [0, 0, SPACING[2], -30.0],
                     [0, 0, 0, 1.0]])


def _ellipsoid(center: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
    grid = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    d = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii, strict=True))
    return d <= 1.0


def make_ct(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A small body with a liver: int16 HU and a bool liver mask."""
    rng = np.random.default_rng(seed)
    body = _ellipsoid((20, 18, 6), (18, 15, 20))
    liver = _ellipsoid((15 + rng.integers(-1, 2), 16, 6), (10, 9, 8))
    ct = np.full(SHAPE, -1000.0)
    ct[body] = 40
    ct[liver] = 60
    ct += rng.normal(0, 8, SHAPE)
    return np.rint(ct).astype(np.int16), liver


def _save(path: Path, arr: np.ndarray, descrip: str = REVEALING) -> Path:
    img = nib.Nifti1Image(arr, _affine_lps())
    img.header["descrip"] = descrip.encode()[:79]
    img.header["aux_file"] = b"tumor.lut"
    img.header.set_intent("estimate", name="real")
    nib.save(img, str(path))
    return path


def write_real_case(folder: Path, name: str, seed: int) -> tuple[Path, Path]:
    """A 'real tumor' case: CT with a dark blob and a label 0/1/2."""
    ct, liver = make_ct(seed)
    tumor = _ellipsoid((14, 15, 6), (3, 3, 1.5)) & liver
    ct[tumor] = 20
    label = np.where(tumor, 2, np.where(liver, 1, 0)).astype(np.uint8)
    return _save(folder / f"{name}.nii.gz", ct), _save(folder / f"{name}_label.nii.gz", label)


def write_healthy_case(folder: Path, name: str, seed: int) -> tuple[Path, Path]:
    ct, liver = make_ct(seed)
    return _save(folder / f"{name}.nii.gz", ct), _save(folder / f"{name}_liver.nii.gz",
                                                        liver.astype(np.uint8))


@dataclass
class FakeParams:
    center: list[int]

    def to_json(self) -> str:
        return json.dumps({"center": self.center})


def fake_synthesize(ct: np.ndarray, liver: np.ndarray, spacing_mm: object, *, preset: str = "mix",
                    rng: int | None = None) -> tuple[np.ndarray, np.ndarray, FakeParams]:
    """Stand-in generator: a dark sphere at a seeded place in the liver (same call shape as
    tumorsynth.synthesize_case)."""
    gen = np.random.default_rng(rng)
    idx = np.argwhere(liver)
    c = idx[gen.integers(len(idx))]
    grid = np.ogrid[: ct.shape[0], : ct.shape[1], : ct.shape[2]]
    sphere = (sum((g - int(ci)) ** 2 for g, ci in zip(grid, c, strict=True)) <= 4) & liver
    out = ct.copy()
    out[sphere] = 25
    label = np.where(sphere, 2, np.where(liver, 1, 0)).astype(np.uint8)
    return out, label, FakeParams([int(x) for x in c])


def build(out: Path, inputs: dict[str, Path], **kw: object):
    from tumorsynth.apps.reader_study import build_study

    kw.setdefault("seed", 7)
    kw.setdefault("readers", ["alice", "bob"])
    return build_study(out, real=inputs["real"], healthy=inputs["healthy"],
                       synthesize=fake_synthesize, **kw)  # type: ignore[arg-type]
