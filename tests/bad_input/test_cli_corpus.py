"""The bad-input corpus of the command line: synth, replay, batch, evaluate.

Every entry builds one bad input and runs the command in-process. Each must end with a
documented non-zero exit (:data:`tumorsynth.errors.EXIT_CODES`: 3 bad input, 4 no room, 5 output,
6 bad option value, 7 a batch with failed cases), one
line on stderr per problem that names the file or option, no traceback, inputs unchanged (their
hashes) and nothing half-written (no temporary files or folders, no case folder of a bad case).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.cli import main
from tumorsynth.errors import EXIT_CASES_FAILED as CASES_FAILED
from tumorsynth.errors import InputError, NoRoomError, OptionError, OutputError

BAD_INPUT, NO_ROOM, OUTPUT, BAD_OPTION = (c.exit_code for c in (InputError, NoRoomError, OutputError, OptionError))


@dataclass(frozen=True)
class Base:
    """Good inputs shared by the corpus (never written to)."""

    root: Path
    ct: Path
    liver: Path
    params: Path
    other_ct: Path
    other_liver: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("good")
    ph = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=2)
    ts.save_nifti(root / "ct.nii.gz", ph.ct, affine=ph.affine)
    ts.save_nifti(root / "liver.nii.gz", ph.liver.astype(np.uint8), affine=ph.affine)
    other = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=5)
    ts.save_nifti(root / "other_ct.nii.gz", other.ct, affine=other.affine)
    ts.save_nifti(root / "other_liver.nii.gz", other.liver.astype(np.uint8), affine=other.affine)
    made = tmp_path_factory.mktemp("made") / "case"
    assert main(["synth", str(root / "ct.nii.gz"), str(root / "liver.nii.gz"), "-o", str(made), "--seed", "1",
                 "--preset", "small", "--no-preview"]) == 0
    for p in root.iterdir():
        p.chmod(0o444)
    return Base(root, root / "ct.nii.gz", root / "liver.nii.gz", made / "params.json",
                root / "other_ct.nii.gz", root / "other_liver.nii.gz")


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def _copy_img(base: Base, path: Path, fn: Callable[[np.ndarray], np.ndarray], src: Path | None = None) -> Path:
    img = nib.load(str(src or base.ct))
    data = fn(np.asanyarray(img.dataobj).copy())
    nib.save(nib.Nifti1Image(data, img.affine), str(path))
    return path


def _record(base: Base, tmp: Path, edit: Callable[[dict], object], *, whole: bool = False) -> Path:
    """The good record edited in place by ``edit`` (or replaced by what it returns, ``whole``)."""
    data = json.loads(base.params.read_text())
    out = edit(data)
    p = tmp / "params.json"
    p.write_text(json.dumps(out if whole else data))
    return p


def _synth(*inputs: Path | str, extra: tuple[str, ...] = ()) -> Callable[[Path], list[str]]:
    return lambda tmp: ["synth", *map(str, inputs), "-o", str(tmp / "out"), *extra]


# ---------------------------------------------------------------- corpus: (argv builder, exit, needles)
Entry = Callable[[Base, Path], tuple[list[str], int, tuple[str, ...]]]
CORPUS: dict[str, Entry] = {}


def entry(name: str) -> Callable[[Entry], Entry]:
    def deco(fn: Entry) -> Entry:
        CORPUS[name] = fn
        return fn
    return deco


# synth ------------------------------------------------------------------------------------------
@entry("synth-missing-ct")
def _(b, t):
    return _synth(t / "nope.nii.gz", b.liver)(t), BAD_INPUT, ("nope.nii.gz", "not found")


@entry("synth-missing-mask")
def _(b, t):
    return _synth(b.ct, t / "gone.nii.gz")(t), BAD_INPUT, ("gone.nii.gz", "not found")


@entry("synth-ct-is-folder")
def _(b, t):
    (t / "dir.nii.gz").mkdir()
    return _synth(t / "dir.nii.gz", b.liver)(t), BAD_INPUT, ("dir.nii.gz", "folder")


@entry("synth-text-as-nifti")
def _(b, t):
    (t / "notes.nii.gz").write_text("hello")
    return _synth(t / "notes.nii.gz", b.liver)(t), BAD_INPUT, ("notes.nii.gz",)


@entry("synth-empty-file")
def _(b, t):
    (t / "empty.nii").write_bytes(b"")
    return _synth(t / "empty.nii", b.liver)(t), BAD_INPUT, ("empty.nii",)


@entry("synth-truncated-gzip")
def _(b, t):
    raw = gzip.decompress(b.ct.read_bytes())
    (t / "cut.nii.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    return _synth(t / "cut.nii.gz", b.liver)(t), BAD_INPUT, ("cut.nii.gz", "truncated")


@entry("synth-truncated-gzip-stream")
def _(b, t):
    data = b.ct.read_bytes()
    (t / "cut2.nii.gz").write_bytes(data[: len(data) // 3])
    return _synth(t / "cut2.nii.gz", b.liver)(t), BAD_INPUT, ("cut2.nii.gz",)


@entry("synth-2d")
def _(b, t):
    return _synth(_nifti(t / "flat.nii.gz", np.zeros((20, 20), np.int16)), b.liver)(t), BAD_INPUT, ("flat.nii.gz", "3-D")


@entry("synth-4d")
def _(b, t):
    p = _nifti(t / "four.nii.gz", np.zeros((8, 8, 8, 3), np.int16))
    return _synth(p, b.liver)(t), BAD_INPUT, ("four.nii.gz", "4 dimensions")


@entry("synth-shape-mismatch")
def _(b, t):
    p = _nifti(t / "small_mask.nii.gz", np.ones((10, 10, 10), np.uint8))
    return _synth(b.ct, p)(t), BAD_INPUT, ("small_mask.nii.gz", "shape")


@entry("synth-affine-mismatch")
def _(b, t):
    img = nib.load(str(b.liver))
    aff = img.affine.copy()
    aff[0, 3] += 30
    p = _nifti(t / "moved.nii.gz", np.asanyarray(img.dataobj), aff)
    return _synth(b.ct, p)(t), BAD_INPUT, ("moved.nii.gz", "affine")


@entry("synth-empty-mask")
def _(b, t):
    p = _copy_img(b, t / "zero.nii.gz", lambda a: np.zeros_like(a), src=b.liver)
    return _synth(b.ct, p)(t), BAD_INPUT, ("zero.nii.gz", "empty")


@entry("synth-absent-label")
def _(b, t):
    return _synth(b.ct, b.liver, extra=("--liver-label", "7"))(t), BAD_INPUT, ("liver.nii.gz", "values present: 0, 1")


@entry("synth-label-zero")
def _(b, t):
    return _synth(b.ct, b.liver, extra=("--liver-label", "0"))(t), BAD_INPUT, ("background",)


@entry("synth-multilabel-needs-label")
def _(b, t):
    p = _copy_img(b, t / "multi.nii.gz", lambda a: (a * 5 + (a == 0) * 0).astype(np.uint8), src=b.liver)
    img = nib.load(str(p))
    d = np.asanyarray(img.dataobj).copy()
    d[:2] = 3
    _nifti(p, d, img.affine)
    return _synth(b.ct, p)(t), BAD_INPUT, ("multi.nii.gz", "--liver-label")


@entry("synth-nan-ct")
def _(b, t):
    def nan(a):
        a = a.astype(np.float32)
        a[5, 5, 5] = np.nan
        return a
    return _synth(_copy_img(b, t / "nan.nii.gz", nan), b.liver)(t), BAD_INPUT, ("nan.nii.gz", "NaN")


@entry("synth-inf-mask")
def _(b, t):
    def inf(a):
        a = a.astype(np.float32)
        a[0, 0, 0] = np.inf
        return a
    return _synth(b.ct, _copy_img(b, t / "inf.nii.gz", inf, src=b.liver))(t), BAD_INPUT, ("inf.nii.gz", "infinite")


@entry("synth-raw-scanner-values")
def _(b, t):
    p = _copy_img(b, t / "raw.nii.gz", lambda a: (a.astype(np.int32) + 1024).astype(np.int16))
    return _synth(p, b.liver)(t), BAD_INPUT, ("raw.nii.gz", "Hounsfield")


@entry("synth-uint8-ct")
def _(b, t):
    p = _copy_img(b, t / "u8.nii.gz", lambda a: np.clip(a, 0, 255).astype(np.uint8))
    return _synth(p, b.liver)(t), BAD_INPUT, ("u8.nii.gz", "uint8")


def _rescaled(b: Base, t: Path, name: str, spacing: tuple[float, float, float], unit: str = "mm") -> Path:
    """The good CT with the voxel size of its header replaced (data unchanged)."""
    img = nib.load(str(b.ct))
    out = nib.Nifti1Image(np.asanyarray(img.dataobj), np.diag([*spacing, 1.0]))
    out.header.set_xyzt_units(unit)
    nib.save(out, str(t / name))
    return t / name


@entry("synth-zero-pixdim")
def _(b, t):
    img = nib.Nifti1Image(np.asanyarray(nib.load(str(b.ct)).dataobj), None)
    img.header["pixdim"][1:4] = [5.0, 5.0, 0.0]
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    nib.save(img, str(t / "nopix.nii.gz"))
    return _synth(t / "nopix.nii.gz", b.liver)(t), BAD_INPUT, ("nopix.nii.gz", "zero voxel size", "spacing")


@entry("synth-spacing-in-metres")
def _(b, t):
    p = _rescaled(b, t, "metres.nii.gz", (0.005, 0.005, 0.006), unit="meter")
    return _synth(p, b.liver)(t), BAD_INPUT, ("metres.nii.gz", "not that of a CT", "unit is meter")


@entry("synth-absurd-spacing")
def _(b, t):
    p = _rescaled(b, t, "huge.nii.gz", (500.0, 500.0, 600.0))
    return _synth(p, b.liver)(t), BAD_INPUT, ("huge.nii.gz", "500 x 500 x 600 mm", "header")


@entry("synth-probability-mask")
def _(b, t):
    p = _copy_img(b, t / "prob.nii.gz", lambda a: (a * np.linspace(0.3, 0.9, a.size).reshape(a.shape)).astype(np.float32),
                  src=b.liver)
    return _synth(b.ct, p)(t), BAD_INPUT, ("prob.nii.gz", "non-integer", "threshold")


@entry("synth-liver-too-small")
def _(b, t):
    def tiny(a):
        z = np.zeros_like(a)
        idx = np.argwhere(a > 0)[len(np.argwhere(a > 0)) // 2]
        z[tuple(idx)] = 1
        return z
    p = _copy_img(b, t / "tiny.nii.gz", tiny, src=b.liver)
    return _synth(b.ct, p, extra=("--preset", "large"))(t), NO_ROOM, ("tiny.nii.gz",)


@entry("synth-output-exists")
def _(b, t):
    (t / "out").mkdir()
    (t / "out" / "keep.txt").write_text("mine")
    return _synth(b.ct, b.liver)(t), OUTPUT, ("out", "--overwrite")


@entry("synth-output-holds-inputs")
def _(b, t):
    ct = t / "in" / "ct.nii.gz"
    ct.parent.mkdir()
    ct.write_bytes(b.ct.read_bytes())
    return ["synth", str(ct), str(b.liver), "-o", str(t / "in"), "--overwrite"], OUTPUT, ("holds the input",)


@entry("synth-output-under-a-file")
def _(b, t):
    (t / "afile").write_text("x")
    return ["synth", str(b.ct), str(b.liver), "-o", str(t / "afile" / "out")], OUTPUT, ("afile", "-o")


@entry("synth-unknown-preset")
def _(b, t):
    return _synth(b.ct, b.liver, extra=("--preset", "huge"))(t), BAD_OPTION, ("huge",)


@entry("synth-bad-set")
def _(b, t):
    return _synth(b.ct, b.liver, extra=("--set", "radius_mm"))(t), BAD_OPTION, ("--set", "KEY=VALUE")


@entry("synth-unknown-knob")
def _(b, t):
    return _synth(b.ct, b.liver, extra=("--set", "radius_m=3"))(t), BAD_OPTION, ("radius_m",)


@entry("synth-vessel-mask-mismatch")
def _(b, t):
    p = _nifti(t / "vessels.nii.gz", np.ones((9, 9, 9), np.uint8))
    return _synth(b.ct, b.liver, extra=("--vessel-mask", str(p)))(t), BAD_INPUT, ("vessels.nii.gz", "shape")


# replay -----------------------------------------------------------------------------------------
def _replay(params: Path, b: Base, t: Path, ct: Path | None = None, liver: Path | None = None) -> list[str]:
    return ["replay", str(params), str(ct or b.ct), str(liver or b.liver), "-o", str(t / "out")]


@entry("replay-record-missing")
def _(b, t):
    return _replay(t / "params.json", b, t), BAD_INPUT, ("params.json", "not found")


@entry("replay-truncated-record")
def _(b, t):
    p = t / "params.json"
    text = b.params.read_text()
    p.write_text(text[: len(text) // 2])
    return _replay(p, b, t), BAD_INPUT, ("params.json", "not valid JSON")


@entry("replay-empty-record")
def _(b, t):
    (t / "params.json").write_text("")
    return _replay(t / "params.json", b, t), BAD_INPUT, ("params.json", "JSON")


@entry("replay-not-an-object")
def _(b, t):
    return _replay(_record(b, t, lambda d: [d], whole=True), b, t), BAD_INPUT, ("params.json", "JSON object")


@entry("replay-wrong-version")
def _(b, t):
    return _replay(_record(b, t, lambda d: d.update(version=1)), b, t), BAD_INPUT, ("params.json", "version 1")


@entry("replay-future-version")
def _(b, t):
    return _replay(_record(b, t, lambda d: d.update(version=99)), b, t), BAD_INPUT, ("params.json", "version 99")


@entry("replay-unknown-field")
def _(b, t):
    return _replay(_record(b, t, lambda d: d.update(hacked=True)), b, t), BAD_INPUT, ("params.json", "hacked")


@entry("replay-missing-field")
def _(b, t):
    return _replay(_record(b, t, lambda d: d.pop("shape")), b, t), BAD_INPUT, ("params.json", "shape")


@entry("replay-tampered-type")
def _(b, t):
    return _replay(_record(b, t, lambda d: d.update(noise_hu="loud")), b, t), BAD_INPUT, ("params.json",)


@entry("replay-tampered-tumor-type")
def _(b, t):
    return _replay(_record(b, t, lambda d: d["tumors"][0].update(centre_vox="middle")), b, t), BAD_INPUT, ("params.json",)


@entry("replay-tumors-not-a-list")
def _(b, t):
    return _replay(_record(b, t, lambda d: d.update(tumors=7)), b, t), BAD_INPUT, ("params.json",)


@entry("replay-nan-centre")
def _(b, t):
    p = t / "params.json"
    data = json.loads(b.params.read_text())
    data["tumors"][0]["centre_vox"] = [float("nan"), 1.0, 1.0]
    p.write_text(json.dumps(data))  # json writes NaN
    return _replay(p, b, t), BAD_INPUT, ("params.json", "centre_vox")


@entry("replay-nan-noise")
def _(b, t):
    p = t / "params.json"
    data = json.loads(b.params.read_text())
    data["parenchyma_hu"] = float("nan")
    p.write_text(json.dumps(data))
    return _replay(p, b, t), BAD_INPUT, ("params.json", "parenchyma_hu")


@entry("replay-centre-outside")
def _(b, t):
    return _replay(_record(b, t, lambda d: d["tumors"][0].update(centre_vox=[500.0, 1.0, 1.0])), b, t), BAD_INPUT, \
        ("params.json", "centre_vox")


@entry("replay-negative-axis")
def _(b, t):
    return _replay(_record(b, t, lambda d: d["tumors"][0].update(semi_axes_mm=[-3.0, 4.0, 4.0])), b, t), BAD_INPUT, \
        ("params.json",)


@entry("replay-huge-axis")
def _(b, t):
    return _replay(_record(b, t, lambda d: d["tumors"][0].update(semi_axes_mm=[1e9, 4.0, 4.0])), b, t), BAD_INPUT, \
        ("params.json", "semi_axes_mm")


@entry("replay-record-of-another-ct")
def _(b, t):
    return _replay(b.params, b, t, ct=b.other_ct, liver=b.other_liver), BAD_INPUT, ("other_liver.nii.gz", "record")


@entry("replay-record-for-another-grid")
def _(b, t):
    ph = ts.make_phantom(shape=(48, 40, 30), spacing_mm=(6.0, 6.0, 7.0), rng=4)
    ct, liver = t / "g.nii.gz", t / "g_liver.nii.gz"
    ts.save_nifti(ct, ph.ct, affine=ph.affine)
    ts.save_nifti(liver, ph.liver.astype(np.uint8), affine=ph.affine)
    return _replay(_record(b, t, lambda d: d["settings"].pop("liver_voxels")), b, t, ct=ct, liver=liver), BAD_INPUT, \
        ("g.nii.gz", "grid")


# batch ------------------------------------------------------------------------------------------
def _batch(src: Path, t: Path, *extra: str) -> list[str]:
    return ["batch", str(src), "-o", str(t / "out"), "--preset", "small", "--seed", "1", "--no-preview", *extra]


def _pair(b: Base, folder: Path, stem: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.nii.gz").write_bytes(b.ct.read_bytes())
    (folder / f"{stem}_liver.nii.gz").write_bytes(b.liver.read_bytes())


@entry("batch-empty-folder")
def _(b, t):
    (t / "data").mkdir()
    return _batch(t / "data", t), BAD_INPUT, ("data", "no cases found")


@entry("batch-missing-input")
def _(b, t):
    return _batch(t / "absent", t), BAD_INPUT, ("absent", "not found")


@entry("batch-not-a-csv")
def _(b, t):
    (t / "list.txt").write_text("a,b\n")
    return _batch(t / "list.txt", t), BAD_INPUT, ("list.txt", ".csv")


@entry("batch-csv-missing-columns")
def _(b, t):
    (t / "list.csv").write_text("ct,liver\na.nii.gz,b.nii.gz\n")
    return _batch(t / "list.csv", t), BAD_INPUT, ("list.csv", "image,mask")


@entry("batch-csv-header-only")
def _(b, t):
    (t / "list.csv").write_text("image,mask\n")
    return _batch(t / "list.csv", t), BAD_INPUT, ("list.csv",)


@entry("batch-csv-duplicate-names")
def _(b, t):
    (t / "list.csv").write_text(f"name,image,mask\nA,{b.ct},{b.liver}\nA,{b.ct},{b.liver}\n")
    return _batch(t / "list.csv", t), BAD_INPUT, ("list.csv", "twice")


@entry("batch-csv-bad-liver-label")
def _(b, t):
    (t / "list.csv").write_text(f"image,mask,liver_label\n{b.ct},{b.liver},liver\n")
    return _batch(t / "list.csv", t), BAD_INPUT, ("list.csv", "liver_label")


@entry("batch-csv-missing-files")
def _(b, t):
    (t / "list.csv").write_text(f"name,image,mask\ngood,{b.ct},{b.liver}\nlost,lost.nii.gz,lost_liver.nii.gz\n")
    return _batch(t / "list.csv", t), CASES_FAILED, ("lost", "not found")


@entry("batch-mixed-good-and-truncated")
def _(b, t):
    _pair(b, t / "data", "good")
    raw = gzip.decompress(b.ct.read_bytes())
    (t / "data" / "bad.nii.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    (t / "data" / "bad_liver.nii.gz").write_bytes(b.liver.read_bytes())
    return _batch(t / "data", t), CASES_FAILED, ("bad", "truncated")


@entry("batch-mixed-good-and-mismatched")
def _(b, t):
    _pair(b, t / "data", "good")
    (t / "data" / "odd.nii.gz").write_bytes(b.ct.read_bytes())
    _nifti(t / "data" / "odd_liver.nii.gz", np.ones((5, 5, 5), np.uint8))
    return _batch(t / "data", t), CASES_FAILED, ("odd", "shape")


@entry("batch-lits-without-segmentation")
def _(b, t):
    (t / "lits").mkdir()
    (t / "lits" / "volume-3.nii.gz").write_bytes(b.ct.read_bytes())
    return _batch(t / "lits", t, "--layout", "lits"), BAD_INPUT, ("volume-3.nii.gz", "segmentation-3")


@entry("batch-bad-workers")
def _(b, t):
    _pair(b, t / "data", "good")
    return _batch(t / "data", t, "-j", "0"), BAD_OPTION, ("-j/--jobs",)


@entry("batch-no-output")
def _(b, t):
    _pair(b, t / "data", "good")
    return ["batch", str(t / "data")], BAD_OPTION, ("-o OUTDIR",)


@entry("batch-summarize-not-a-batch")
def _(b, t):
    (t / "plain").mkdir()
    return ["batch", "--summarize", str(t / "plain")], BAD_INPUT, ("plain", "batch_summary")


@entry("batch-bad-job-name")
def _(b, t):
    _pair(b, t / "data", "good")
    return _batch(t / "data", t, "--job-name", "../evil"), BAD_OPTION, ("--job-name",)


# evaluate ---------------------------------------------------------------------------------------
def _labels(path: Path, shape: tuple[int, int, int] = (12, 12, 8), value: int = 2) -> Path:
    a = np.zeros(shape, np.uint8)
    a[3:9, 3:9, 2:6] = 1
    a[5:7, 5:7, 3:5] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    return _nifti(path, a)


@entry("evaluate-shape-mismatch")
def _(b, t):
    p, g = _labels(t / "p.nii.gz"), _labels(t / "g.nii.gz", (10, 12, 8))
    return ["evaluate", str(p), str(g), "-o", str(t / "out")], BAD_INPUT, ("p.nii.gz", "shape")


@entry("evaluate-unexpected-labels")
def _(b, t):
    p, g = _labels(t / "p.nii.gz", value=7), _labels(t / "g.nii.gz")
    return ["evaluate", str(p), str(g), "-o", str(t / "out")], BAD_INPUT, ("p.nii.gz", "7")


@entry("evaluate-empty-folders")
def _(b, t):
    (t / "pred").mkdir()
    (t / "gt").mkdir()
    return ["evaluate", str(t / "pred"), str(t / "gt"), "-o", str(t / "out")], BAD_INPUT, ("pred", "no prediction")


@entry("evaluate-no-matching-cases")
def _(b, t):
    _labels(t / "pred" / "liver_1.nii.gz")
    _labels(t / "gt" / "liver_2.nii.gz")
    return ["evaluate", str(t / "pred"), str(t / "gt"), "-o", str(t / "out")], BAD_INPUT, ("liver_2",)


@entry("evaluate-missing-pred")
def _(b, t):
    g = _labels(t / "g.nii.gz")
    return ["evaluate", str(t / "nothing.nii.gz"), str(g), "-o", str(t / "out")], BAD_INPUT, ("nothing.nii.gz", "not found")


@entry("evaluate-folder-shape-mismatch")
def _(b, t):
    _labels(t / "pred" / "liver_1.nii.gz", (10, 12, 8))
    _labels(t / "gt" / "liver_1.nii.gz")
    return ["evaluate", str(t / "pred"), str(t / "gt"), "-o", str(t / "out"), "--bootstrap", "10"], BAD_INPUT, \
        ("liver_1", "shape")


@entry("evaluate-text-as-label")
def _(b, t):
    (t / "p.nii.gz").write_text("nope")
    g = _labels(t / "g.nii.gz")
    return ["evaluate", str(t / "p.nii.gz"), str(g), "-o", str(t / "out")], BAD_INPUT, ("p.nii.gz",)


# ------------------------------------------------------------------------------------------------
def _hashes(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and "out" not in p.relative_to(root).parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input(name, base, tmp_path, capsys):
    argv, expected, needles = CORPUS[name](base, tmp_path)
    before = _hashes(base.root, base.params.parent, tmp_path)
    out_existed = (tmp_path / "out").exists()
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith(("error:", "failed:"))]
    assert code == expected, err
    assert "Traceback" not in err
    if expected == CASES_FAILED:  # a batch: the good case made, one "failed:" line per bad case
        assert len(lines) == 1 and lines[0].startswith("failed: "), err
        assert (tmp_path / "out" / "good" / "report.json").is_file()
    else:
        assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert _hashes(base.root, base.params.parent, tmp_path) == before  # inputs unchanged
    half = [p for p in tmp_path.rglob("*") if ".partial-" in p.name or ".part." in p.name or p.name.endswith(".lock")]
    assert half == []
    out = tmp_path / "out"
    if out.exists() and not out_existed:
        cases = [p for p in out.iterdir() if p.is_dir()]
        assert all((c / "report.json").is_file() for c in cases)  # only whole cases
        assert expected == CASES_FAILED or not cases


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 50
