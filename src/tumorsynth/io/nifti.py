"""NIfTI in and out (nibabel), with the checks a user's file needs.

Axis order
----------
Arrays are kept in the file's own voxel order ``(i, j, k)``, exactly as nibabel returns them;
nothing is reoriented or resampled. ``spacing_mm[d]`` is the physical length of one step along
array axis ``d`` (the norm of the affine's column ``d``), so any orientation and any anisotropic
grid works without resampling. Outputs reuse the input's affine and header, hence keep its
orientation, spacing and data type.

Writes are atomic: data go to a temporary file in the target folder, which is then renamed
over the target, so an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.errors import InputError
from tumorsynth.generator.step1_prepare import (
    LIVER_HU_RANGE,
    SPACING_RANGE_MM,
    check_ct_hu,
    check_spacing,
)

__all__ = [
    "LIVER_HU_RANGE",
    "NIFTI_SUFFIXES",
    "SPACING_RANGE_MM",
    "Volume",
    "atomic_path",
    "check_ct_hu",
    "check_same_grid",
    "check_spacing",
    "liver_mask_from_labels",
    "load_case",
    "load_nifti",
    "save_nifti",
    "spacing_from_affine",
    "write_bytes_atomic",
    "write_text_atomic",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class Volume:
    """A 3-D image with its geometry.

    Attributes:
        data: the voxel array, shape ``(i, j, k)``, in the file's data type (scaled to float
            only when the file stores a non-trivial slope or intercept).
        affine: 4x4 voxel-to-world (RAS+ mm) matrix.
        spacing_mm: physical step along each array axis, in mm.
        header: the nibabel header, reused when writing outputs "like" this volume.
        path: the file it was read from, if any.
    """

    data: np.ndarray
    affine: np.ndarray
    spacing_mm: tuple[float, float, float]
    header: Any = field(default=None, repr=False, compare=False)
    path: Path | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]


def spacing_from_affine(affine: Any) -> tuple[float, float, float]:
    """Voxel spacing in mm of each array axis: the norms of the affine's first three columns.

    The one place tumorsynth turns an affine into a spacing. ``affine`` is a 4x4 (or 3x3) array:
    numpy, a nested sequence, or a torch tensor (a MONAI ``MetaTensor.affine``, on any device;
    it is detached and copied to the CPU, torch is not imported here).

    Example:
        >>> spacing_from_affine(np.diag([-0.8, 0.8, 5.0, 1.0]))
        (0.8, 0.8, 5.0)
    """
    if hasattr(affine, "detach"):  # torch tensor, without importing torch
        affine = affine.detach().cpu().numpy()
    a = np.asarray(affine, dtype=float)
    sp = np.sqrt((a[:3, :3] ** 2).sum(axis=0))
    return (float(sp[0]), float(sp[1]), float(sp[2]))


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    name = str(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def load_nifti(path: str | os.PathLike[str], *, what: str = "image") -> Volume:
    """Read a 3-D NIfTI file (``.nii`` or ``.nii.gz``).

    A 4-D file whose extra axes have length 1 is squeezed to 3-D. Raises
    :class:`~tumorsynth.errors.InputError` with a one-line message naming the file, the problem
    and the fix for a missing, unreadable, truncated, non-NIfTI, 2-D or 4-D file, or a file with
    NaN or infinite voxels.

    Example:
        >>> vol = load_nifti("ct.nii.gz", what="CT")  # doctest: +SKIP
        >>> vol.spacing_mm  # doctest: +SKIP
        (0.78, 0.78, 5.0)
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {what} file not found; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, expected a {what} NIfTI file (.nii or .nii.gz)")
    try:
        with _nibabel_log() as logged:
            img = nib.load(str(p))
    except ImageFileError:
        raise InputError(
            f"{p}: not a NIfTI image; convert it to .nii or .nii.gz "
            "(for DICOM series, e.g. with dcm2niix)"
        ) from None
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, HeaderDataError) as exc:
        raise InputError(f"{p}: cannot read {what} ({_short(exc)}); the file or its header is damaged") from None
    except Exception as exc:  # any other reader failure is still a bad file, not a crash
        raise InputError(f"{p}: cannot read {what} ({type(exc).__name__}: {_short(exc)}); the file may be damaged") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(
            f"{p}: {type(img).__name__} is not NIfTI; convert the {what} to .nii or .nii.gz"
        )
    shape = tuple(int(s) for s in img.shape)
    if len(shape) > 3 and all(s == 1 for s in shape[3:]):
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(
            f"{p}: {what} has {len(img.shape)} dimensions {tuple(img.shape)}, expected a 3-D "
            "volume; extract one 3-D volume first"
        )
    if min(shape) < 1:
        raise InputError(f"{p}: {what} is empty (shape {shape})")
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise InputError(
            f"{p}: {what} data cannot be read ({_short(exc)}); the file is truncated or damaged"
        ) from None
    data = np.asarray(data).reshape(shape)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        fill = "with -1024 HU (air)" if what == "CT" else "with 0"
        raise InputError(f"{p}: {what} has {bad} NaN or infinite voxels; fill them {fill} before use")
    if data.dtype.kind not in "biuf":
        raise InputError(f"{p}: {what} has unsupported data type {data.dtype}")
    affine = np.asarray(img.affine, dtype=float)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputError(f"{p}: {what} has an invalid affine (singular or not finite); fix the header")
    header = img.header
    if any("pixdim[1,2,3] should be non-zero" in m for m in logged) and int(header.get("sform_code", 0)) == 0:
        raise InputError(f"{p}: {what} header has a zero voxel size (pixdim) and no sform, so its spacing "
                         "is unknown; write the voxel size in mm into the header (e.g. re-export with dcm2niix)")
    unit = header.get_xyzt_units()[0] if hasattr(header, "get_xyzt_units") else "unknown"
    spacing = check_spacing(
        spacing_from_affine(affine), source=p,
        fix=(f"the header says the unit is {unit}; " if unit in ("meter", "micron") else "")
        + "fix the voxel size in the header (pixdim, sform/qform) to millimetres",
    )
    return Volume(data=data, affine=affine, spacing_mm=spacing, header=header, path=p)


@contextlib.contextmanager
def _nibabel_log() -> Iterator[list[str]]:
    """Collect what nibabel logs while reading a header (it fixes some faults with a warning on
    stderr); our own one-line error then says what is wrong instead."""
    import logging

    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("nibabel.global")
    handler = _Collect()
    old_propagate, old_handlers = logger.propagate, list(logger.handlers)
    logger.handlers = [handler]
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.handlers = old_handlers
        logger.propagate = old_propagate


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def liver_mask_from_labels(
    labels: np.ndarray,
    liver_label: int | Sequence[int] | None = None,
    *,
    source: str | os.PathLike[str] = "liver mask",
) -> np.ndarray:
    """Boolean liver mask from a 0/1 mask or a label map.

    ``liver_label=None`` takes every non-zero voxel; an int or a list of ints selects those
    label values (TotalSegmentator: 5, BTCV: 6, LiTS/MSD liver plus tumor: ``(1, 2)``).
    Raises :class:`InputError` when the mask is empty or a requested value does not occur, and
    names the values that do occur.
    """
    arr = np.asarray(labels)
    if liver_label is None:
        mask = arr != 0
        if not mask.any():
            raise InputError(f"{source}: liver mask is empty (no non-zero voxel); check the file")
        values = np.unique(arr[mask][:: max(1, int(mask.sum()) // 200_000)])
        if arr.dtype.kind == "f" and values.size > 1 and not np.all(values == np.rint(values)):
            frac = values[values != np.rint(values)]
            raise InputError(
                f"{source}: the mask holds non-integer values such as {float(frac[len(frac) // 2]):.3g} "
                "(a probability map, or a mask resampled with linear "
                "interpolation); threshold it at 0.5, or resample it with nearest neighbour"
            )
        if values.size > 1:
            raise InputError(
                f"{source}: the mask holds several labels ({_present_values(arr)}); say which are liver "
                "with --liver-label (TotalSegmentator: 5, BTCV: 6, LiTS/MSD: 1,2 with --tumor-label 2)"
            )
        return mask
    wanted = [int(liver_label)] if isinstance(liver_label, (int, np.integer)) else [int(v) for v in liver_label]
    if 0 in wanted:
        raise InputError(f"{source}: liver label 0 is the background; give the liver's own value(s)")
    if arr.dtype.kind == "f":
        arr = np.rint(arr)
    mask = np.isin(arr, wanted)
    if not mask.any():
        present = _present_values(arr)
        raise InputError(
            f"{source}: liver label {','.join(map(str, wanted))} does not occur; values present: "
            f"{present}; pick one with --liver-label"
        )
    return mask


def _present_values(arr: np.ndarray, limit: int = 64) -> str:
    if arr.dtype.kind in "biu" and arr.size and int(arr.min()) >= 0 and int(arr.max()) < 65536:
        counts = np.bincount(arr.ravel().astype(np.int64, copy=False))
        vals = np.flatnonzero(counts)
    else:
        vals = np.unique(arr)
    shown = ", ".join(str(int(v)) if float(v).is_integer() else f"{float(v):g}" for v in vals[:limit])
    return shown + (", ..." if len(vals) > limit else "")


def load_case(
    ct_path: str | os.PathLike[str],
    liver_path: str | os.PathLike[str],
    *,
    liver_label: int | Sequence[int] | None = None,
    check_hu: bool = True,
) -> tuple[Volume, np.ndarray]:
    """Read a CT and its liver mask and check that they belong together.

    Returns the CT volume and a boolean liver mask on the same grid. Raises
    :class:`InputError` for different shapes or affines, an empty mask, a label value that does
    not occur, or a CT not in Hounsfield units.
    """
    ct = load_nifti(ct_path, what="CT")
    if ct.data.dtype in (np.uint8, np.int8, np.bool_):
        raise InputError(
            f"{ct_path}: CT stored as {ct.data.dtype} cannot hold Hounsfield units (-1024..3071); "
            "export it as int16 or float"
        )
    lab = load_nifti(liver_path, what="liver mask")
    check_same_grid(lab, ct, what="liver mask", fix="use the mask made for this CT or resample it to the CT grid")
    liver = liver_mask_from_labels(lab.data, liver_label, source=liver_path)
    if check_hu:
        check_ct_hu(ct.data, liver, source=ct_path)
    return ct, liver


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_same_grid(vol: Volume, ref: Volume, *, what: str, fix: str) -> None:
    """Raise :class:`InputError` unless ``vol`` has the shape and affine (to 1e-3 mm) of ``ref``."""
    if vol.shape != ref.shape:
        raise InputError(f"{vol.path}: {what} shape {vol.shape} differs from {ref.path} shape {ref.shape}; {fix}")
    if not np.allclose(vol.affine, ref.affine, atol=1e-3, rtol=1e-4):
        diff = float(np.abs(vol.affine - ref.affine).max())
        raise InputError(f"{vol.path}: {what} affine differs from that of {ref.path} by up to {diff:.3g} mm; "
                         f"the two are not on the same grid; {fix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it over ``path`` on success.

    On error the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    name = target.name
    suffix = ".nii.gz" if name.endswith(".nii.gz") else target.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".part{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def save_nifti(
    path: str | os.PathLike[str],
    data: np.ndarray,
    like: Volume | None = None,
    *,
    affine: np.ndarray | None = None,
    dtype: np.dtype | type | str | None = None,
    compression_level: int | None = None,
) -> Path:
    """Write ``data`` as NIfTI at ``path`` atomically, with the geometry of ``like``.

    The output keeps ``like``'s affine and header (orientation, spacing, qform/sform codes) and,
    unless ``dtype`` is given, its data type; floating data written to an integer type are
    rounded and clipped to that type's range. ``compression_level`` (1-9) sets the gzip level of
    a ``.nii.gz`` file (None: nibabel's default, 1).
    """
    import nibabel as nib

    arr = np.asarray(data)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    header = like.header.copy() if like is not None and like.header is not None else None
    aff = (like.affine if like is not None else np.eye(4)) if affine is None else affine
    if dtype is not None:
        target = np.dtype(dtype)
    elif header is not None:
        target = np.dtype(header.get_data_dtype())  # the input's on-disk type
    elif like is not None:
        target = like.data.dtype
    else:
        target = arr.dtype
    # an input stored as scaled integers (scl_slope/scl_inter) was read as float: let nibabel
    # choose the scaling again for the same on-disk type
    rescale = like is not None and like.data.dtype.kind == "f" and target.kind in "iu" and dtype is None
    if target.kind in "iu" and not rescale:
        if arr.dtype != target:
            info = np.iinfo(target)  # type: ignore[type-var]
            arr = np.clip(np.rint(arr), info.min, info.max).astype(target)
    elif not rescale and arr.dtype != target:
        arr = arr.astype(target)
    img = nib.Nifti1Image(arr, aff, header=header)
    img.set_data_dtype(target)
    if header is not None:
        if not rescale:
            img.header.set_slope_inter(1.0, 0.0) if target.kind in "iu" else None
        # keep the input's qform/sform codes
        img.set_qform(aff, code=int(header["qform_code"]) or 1)
        img.set_sform(aff, code=int(header["sform_code"]) or 1)
    with atomic_path(path) as tmp:
        if compression_level is None or not str(tmp).endswith(".gz"):
            nib.save(img, str(tmp))
        else:
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                       compresslevel=int(compression_level)) as gz:
                holder = nib.FileHolder(fileobj=gz)
                img.to_file_map({"image": holder, "header": holder})
    return Path(path)
