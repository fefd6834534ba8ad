"""File-level jobs behind the command line: one case, a replay, a batch, the demo.

Each job reads NIfTI files, runs the generator and writes a case folder::

    OUTDIR/ct.nii.gz        the CT with tumors (input's affine, header and data type)
    OUTDIR/label.nii.gz     0 background, 1 liver, 2 tumor (uint8)
    OUTDIR/params.json      the parameter record: replays the case voxel for voxel
    OUTDIR/preview.png      axial, coronal, sagittal through the largest tumor (liver window)
    OUTDIR/report.json      inputs, seed, resolved options, versions, timings

A case folder is built under a temporary name and renamed when complete, so a folder with the
final name is always whole; inputs are only read. Batches: :mod:`tumorsynth.jobs.batch`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth._version import __version__
from tumorsynth.errors import (
    InputError,
    NoRoomError,
    OutputError,
    OutputExistsError,
)
from tumorsynth.generator.params import CaseParams
from tumorsynth.generator.step1_prepare import prepare
from tumorsynth.generator.step2_sampling import sample_params
from tumorsynth.generator.step6_synthesize import synthesize
from tumorsynth.io import (
    Volume,
    check_same_grid,
    load_case,
    load_nifti,
    save_nifti,
    write_text_atomic,
)
from tumorsynth.jobs.owners import OWNER_FILE, owner_record
from tumorsynth.jobs.preview import write_preview

__all__ = ["replay_file", "run_demo", "synthesize_file"]

log = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    import nibabel
    import scipy

    return {"tumorsynth": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "nibabel": nibabel.__version__, "python": platform.python_version()}


def _suffix(path: Path) -> str:
    return ".nii.gz" if path.name.lower().endswith(".nii.gz") else ".nii"


class _CaseFolder:
    """Build a folder under a temporary name; rename it to its final name when complete."""

    def __init__(self, target: Path, overwrite: bool, inputs: Sequence[str | os.PathLike[str] | None] = ()) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        resolved = self.target.resolve()
        for src in inputs:
            if src is None:
                continue
            s = Path(src).resolve()
            if s == resolved or resolved in s.parents:
                raise OutputError(f"{self.target}: the output folder holds the input {src}; "
                                  "choose an output folder outside the inputs")
        if self.target.exists() and not overwrite:
            kind = "folder" if self.target.is_dir() else "file"
            raise OutputExistsError(f"{self.target}: output {kind} exists; choose another -o or pass --overwrite")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=self.target.parent))
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot create the output folder ({exc.strerror or exc}); "
                              "choose a writable -o") from None
        mask = os.umask(0)
        os.umask(mask)
        try:
            os.chmod(self.tmp, 0o777 & ~mask)
            # who builds this folder: another job removes it only when this process is provably gone
            (self.tmp / OWNER_FILE).write_text(json.dumps(owner_record(case=self.target.name)), encoding="utf-8")
        except OSError as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise OutputError(f"{self.target}: cannot write in the output folder ({exc.strerror or exc}); "
                              "choose a writable -o") from None

    def commit(self) -> None:
        """Rename the complete folder to its final name (the last step: a final name means whole)."""
        (self.tmp / OWNER_FILE).unlink(missing_ok=True)
        if self.target.exists():
            if not self.overwrite:  # another job finished it meanwhile: keep theirs
                raise OutputExistsError(f"{self.target}: output folder appeared while this case was built; "
                                        "it is kept, choose another -o or pass --overwrite")
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            os.replace(self.target, old)
            os.replace(self.tmp, self.target)
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
        else:
            os.replace(self.tmp, self.target)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _largest_centre(params: CaseParams, liver: np.ndarray) -> tuple[float, float, float]:
    if params.tumors:
        t = max(params.tumors, key=lambda t: float(np.prod(t.semi_axes_mm)))
        return t.centre_vox
    idx = [np.flatnonzero(liver.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)]
    return tuple(float((i[0] + i[-1]) / 2) for i in idx)  # type: ignore[return-value]


def _write_case(folder: _CaseFolder, ct: Volume, liver: np.ndarray, params: CaseParams,
                report: dict[str, Any], *, preview: bool, t0: float,
                real_tumor: np.ndarray | None = None, compression_level: int | None = None,
                seconds: dict[str, float] | None = None) -> dict[str, Any]:
    """Synthesize and write a complete case folder."""
    try:
        t1 = time.perf_counter()
        out_ct, label = synthesize(ct.data, liver, params)
        t_syn = time.perf_counter() - t1
        if real_tumor is not None:
            label[real_tumor] = 2
        suffix = _suffix(ct.path) if ct.path is not None else ".nii.gz"
        t2 = time.perf_counter()
        save_nifti(folder.tmp / f"ct{suffix}", out_ct, ct, compression_level=compression_level)
        save_nifti(folder.tmp / f"label{suffix}", label, ct, dtype=np.uint8, compression_level=compression_level)
        write_text_atomic(folder.tmp / "params.json", params.to_json())
        if preview:
            write_preview(folder.tmp / "preview.png", out_ct, label, ct.affine, _largest_centre(params, liver))
        t_write = time.perf_counter() - t2
        timings = {k: round(v, 4) for k, v in (seconds or {}).items()}
        report.update({
            "tumors": len(params.tumors),
            "skipped_tumors": params.skipped,
            "tumor_voxels": int(np.count_nonzero(label == 2)),
            "tumor_volume_ml": float(np.count_nonzero(label == 2) * np.prod(ct.spacing_mm) / 1000),
            "seconds": timings | {"synthesize": round(t_syn, 4), "write": round(t_write, 4),
                                  "total": round(time.perf_counter() - t0, 3)},
            "versions": _versions(),
        })
        write_text_atomic(folder.tmp / "report.json", json.dumps(report, indent=2))
        folder.commit()
    except BaseException:
        folder.abort()
        raise
    return report


def _split_real_tumors(liver: np.ndarray, mask_path: str | os.PathLike[str],
                       tumor_label: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Liver without its real tumors, and the real tumors (None when there are none)."""
    if tumor_label is None:
        return liver, None
    raw = load_nifti(mask_path, what="label map").data
    real = (np.rint(raw) if raw.dtype.kind == "f" else raw) == tumor_label
    if not real.any():
        return liver, None
    rest = liver & ~real
    if not rest.any():
        raise InputError(f"{mask_path}: no liver voxel is left without tumor label {tumor_label}; check --tumor-label")
    return rest, real


def synthesize_file(
    ct_path: str | os.PathLike[str],
    liver_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    preset: str = "mix",
    seed: int | None = None,
    liver_label: int | Sequence[int] | None = None,
    vessel_mask: str | os.PathLike[str] | None = None,
    tumor_label: int | None = None,
    overwrite: bool = False,
    preview: bool = True,
    compression_level: int | None = None,
    report_extra: dict[str, Any] | None = None,
    **knobs: Any,
) -> dict[str, Any]:
    """Synthesize tumors into one CT file and write a case folder (see the module docstring).

    ``seed=None`` draws a fresh seed, which is recorded in ``params.json`` and ``report.json``.
    ``tumor_label``: the mask value of real tumors (LiTS, MSD: 2); those voxels are kept as
    tumor (label 2) and excluded from the parenchyma the synthetic tumors are placed in.
    ``compression_level``: gzip level 1-9 of ``.nii.gz`` outputs (None: nibabel's default, 1).
    ``report_extra``: more entries for ``report.json`` (a batch records its job there).
    Returns the report (also written as ``report.json``); its ``seconds`` split the time into
    read, prepare, sample, synthesize and write.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    folder = _CaseFolder(out, overwrite, (ct_path, liver_path, vessel_mask))  # refuse before any work
    try:
        ct, liver = load_case(ct_path, liver_path, liver_label=liver_label)
        liver, real = _split_real_tumors(liver, liver_path, tumor_label)
        t_read = time.perf_counter() - t0
        vm = None
        if vessel_mask is not None:
            vm_vol = load_nifti(vessel_mask, what="vessel mask")
            check_same_grid(vm_vol, ct, what="vessel mask", fix="resample the vessel mask to the CT")
            vm = vm_vol.data
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
        t1 = time.perf_counter()
        prep = prepare(ct.data, liver, ct.spacing_mm, vessel_mask=vm, check_hu=False)
        t2 = time.perf_counter()
        try:
            params = sample_params(prep, preset, rng=int(seed), **knobs)
        except NoRoomError as exc:
            raise NoRoomError(f"{liver_path}: {exc}") from None
        seconds = {"read": t_read, "prepare": t2 - t1, "sample": time.perf_counter() - t2}
        params.settings.update({
            "liver_label": list(liver_label) if isinstance(liver_label, (list, tuple)) else liver_label,
            "tumor_label": tumor_label, "liver_voxels": int(np.count_nonzero(liver)),
        })
        report: dict[str, Any] = {
            "command": "synth", "ct": str(ct_path), "liver_mask": str(liver_path),
            "liver_label": list(liver_label) if isinstance(liver_label, (list, tuple)) else liver_label,
            "tumor_label": tumor_label,
            "vessel_mask": None if vessel_mask is None else str(vessel_mask),
            "preset": params.preset, "seed": int(seed), "options": knobs,
            "parenchyma_hu": round(prep.parenchyma_hu, 2), "noise_hu": round(prep.noise_hu, 2),
            "vessel_fraction": round(prep.vessel_fraction(), 4), "liver_volume_ml": round(prep.liver_volume_ml, 1),
            "host_scanner": {"noise_sd_hu": round(prep.host.noise_sd_hu, 2),
                             "noise_corr_vox": [round(v, 3) for v in prep.host.corr_vox],
                             "resolution_mm": [round(v, 3) for v in prep.host.resolution_mm],
                             "measured": list(prep.host.measured)},
            "spacing_mm": list(ct.spacing_mm), "shape": list(ct.shape),
            "real_tumor_voxels_kept": 0 if real is None else int(real.sum()),
        } | dict(report_extra or {})
    except BaseException:
        folder.abort()
        raise
    return _write_case(folder, ct, liver, params, report, preview=preview, t0=t0, real_tumor=real,
                       compression_level=compression_level, seconds=seconds)


_DAMAGED = "the record is damaged or was edited; replay the params.json the case was made with"


def _check_record(params: CaseParams, shape: tuple[int, ...], spacing_mm: Sequence[float], source: str) -> None:
    """Refuse a record whose numbers cannot come from the sampler for this CT (NaN, out of range)."""
    import dataclasses
    import math

    for name in ("parenchyma_hu", "noise_hu"):
        v = float(getattr(params, name))
        if not math.isfinite(v) or not -1024.0 <= v <= 3071.0 or (name == "noise_hu" and v < 0):
            raise InputError(f"{source}: {name} {v} is not a plausible HU value; {_DAMAGED}")
    extent = max(n * s for n, s in zip(shape, spacing_mm, strict=True))
    for i, t in enumerate(params.tumors):
        for f in dataclasses.fields(t):
            value = getattr(t, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise InputError(f"{source}: tumor {i}: {f.name} {value} is not finite; {_DAMAGED}")
        if not all(0.0 <= c <= n - 1 for c, n in zip(t.centre_vox, shape, strict=True)):
            raise InputError(f"{source}: tumor {i}: centre_vox {t.centre_vox} lies outside the CT of shape "
                             f"{tuple(shape)}; {_DAMAGED}")
        if max(t.semi_axes_mm) > extent:
            raise InputError(f"{source}: tumor {i}: semi_axes_mm {t.semi_axes_mm} exceed the CT's extent of "
                             f"{extent:.0f} mm; {_DAMAGED}")
        if not -1024.0 <= float(t.tumor_mean_hu) <= 3071.0:
            raise InputError(f"{source}: tumor {i}: tumor_mean_hu {t.tumor_mean_hu} is not a plausible HU value; "
                             f"{_DAMAGED}")


def replay_file(
    params_path: str | os.PathLike[str],
    ct_path: str | os.PathLike[str],
    liver_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    liver_label: int | Sequence[int] | None = None,
    tumor_label: int | None = None,
    overwrite: bool = False,
    preview: bool = True,
) -> dict[str, Any]:
    """Re-create a case from its ``params.json`` on the same CT and mask, voxel for voxel.

    Give the same ``liver_label`` and ``tumor_label`` as for the original case.
    """
    t0 = time.perf_counter()
    p = Path(params_path)
    if not p.is_file():
        raise InputError(f"{p}: parameter record not found; pass the params.json of a synthesized case")
    params = CaseParams.from_json(p.read_text(encoding="utf-8"), source=str(p))
    folder = _CaseFolder(Path(out_dir), overwrite, (params_path, ct_path, liver_path))
    try:
        if liver_label is None:
            liver_label = params.settings.get("liver_label")
        if tumor_label is None:
            tumor_label = params.settings.get("tumor_label")
        ct, liver = load_case(ct_path, liver_path, liver_label=liver_label)
        liver, real = _split_real_tumors(liver, liver_path, tumor_label)
        expected = params.settings.get("liver_voxels")
        if expected is not None and int(expected) != int(np.count_nonzero(liver)):
            raise InputError(
                f"{liver_path}: the liver has {int(np.count_nonzero(liver))} voxels, the record was made on one "
                f"of {int(expected)}; use the mask and --liver-label/--tumor-label of the original case"
            )
        if tuple(ct.shape) != tuple(params.shape) or not np.allclose(ct.spacing_mm, params.spacing_mm, rtol=1e-4):
            raise InputError(
                f"{ct_path}: CT grid {ct.shape} at {tuple(round(s, 4) for s in ct.spacing_mm)} mm is not the grid "
                f"{tuple(params.shape)} at {tuple(round(s, 4) for s in params.spacing_mm)} mm the record was made for; "
                "replay on the CT it was sampled from"
            )
        _check_record(params, ct.shape, ct.spacing_mm, str(p))
        report = {"command": "replay", "params": str(p), "ct": str(ct_path), "liver_mask": str(liver_path),
                  "tumor_label": tumor_label, "preset": params.preset, "seed": params.seed}
    except BaseException:
        folder.abort()
        raise
    return _write_case(folder, ct, liver, params, report, preview=preview, t0=t0, real_tumor=real)


def run_demo(out_dir: str | os.PathLike[str] = "tumorsynth_demo", *, preset: str = "mix", seed: int = 0,
             overwrite: bool = False, **knobs: Any) -> dict[str, Any]:
    """The main job on the built-in phantom: writes the phantom (CT and liver mask) and a case."""
    from tumorsynth.jobs.phantom import make_phantom

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: output folder exists; choose another -o or pass --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror or exc}); choose a writable -o") from None
    ph = make_phantom(rng=seed)
    save_nifti(out / "phantom_ct.nii.gz", ph.ct, affine=ph.affine)
    save_nifti(out / "phantom_liver.nii.gz", ph.liver.astype(np.uint8), affine=ph.affine)
    report = synthesize_file(out / "phantom_ct.nii.gz", out / "phantom_liver.nii.gz", out / "case",
                             preset=preset, seed=seed, overwrite=True, **knobs)
    return report
