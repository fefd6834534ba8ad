"""Fixtures: small phantom datasets on disk (LiTS layout with tumors, healthy CSV list)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

SHAPE = (64, 64, 48)
SPACING = (2.0, 2.0, 2.5)


def _save(path: Path, arr: np.ndarray, affine: np.ndarray) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(arr, affine), str(path))


def write_lits(root: Path, n: int, *, seed: int = 100) -> Path:
    """``n`` phantom CTs with real (pre-synthesized) tumors in the LiTS layout."""
    import tumorsynth as ts

    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ph = ts.make_phantom(shape=SHAPE, spacing_mm=SPACING, rng=seed + i)
        prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)
        params = ts.sample_params(prep, "small", rng=seed + i, on_no_room="skip")
        ct, lab = ts.synthesize(ph.ct, ph.liver, params)
        _save(root / f"volume-{i}.nii.gz", ct.astype(np.int16), ph.affine)
        _save(root / f"segmentation-{i}.nii.gz", lab.astype(np.uint8), ph.affine)
    return root


def write_healthy(root: Path, n: int, *, seed: int = 500) -> Path:
    """``n`` healthy phantom CTs: plain 0/1 masks, and every third one a BTCV-like label map
    (liver = 6, other organs other values). Returns the CSV listing them."""
    import tumorsynth as ts

    root.mkdir(parents=True, exist_ok=True)
    rows = ["name,image,mask,liver_label"]
    for i in range(n):
        ph = ts.make_phantom(shape=SHAPE, spacing_mm=SPACING, rng=seed + i)
        _save(root / f"h{i}_ct.nii.gz", ph.ct.astype(np.int16), ph.affine)
        if i % 3 == 2:
            lab = np.zeros(SHAPE, np.uint8)
            lab[ph.liver] = 6
            lab[:5, :5, :5] = 3  # another organ
            _save(root / f"h{i}_mask.nii.gz", lab, ph.affine)
            rows.append(f"healthy{i},h{i}_ct.nii.gz,h{i}_mask.nii.gz,6")
        else:
            _save(root / f"h{i}_mask.nii.gz", ph.liver.astype(np.uint8), ph.affine)
            rows.append(f"healthy{i},h{i}_ct.nii.gz,h{i}_mask.nii.gz,")
    csv = root / "healthy.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("data")
    return {"lits": write_lits(base / "lits", 5), "healthy": write_healthy(base / "healthy", 4)}


@pytest.fixture(scope="session")
def tiny_config():
    """Factory of small TrainConfigs: ``tiny_config(datasets, out, **overrides)``."""
    return _tiny_config


def _tiny_config(datasets: dict[str, Path], out: Path, **kw: object):
    """A TrainConfig small enough for 2 CPU cores (U-Net 4-8-16, 32^3 patches, 2 mm grid)."""
    from tumorsynth.apps.train import TrainConfig

    base = dict(
        real=[str(datasets["lits"])], healthy=[str(datasets["healthy"])], regime="synthetic",
        model="unet", unet_channels=(4, 8, 16), unet_strides=(2, 2), unet_res_units=1,
        spacing_mm=(2.0, 2.0, 2.0), patch_size=(32, 32, 32), crops_per_case=2, batch_size=2,
        max_epochs=100, max_steps=6, warmup_epochs=0, lr=3e-3, num_workers=0, cache_workers=1,
        progress=False, device="cpu", val_every=100, out=str(out), sw_batch_size=2,
        presets={"medium": 1.0},
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]
