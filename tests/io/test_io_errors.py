"""Every bad input of issue 2 gives one clear line, a non-zero exit and no traceback."""

import gzip

import nibabel as nib
import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.cli import main
from tumorsynth.errors import (
    NoRoomError,
)


@pytest.fixture(scope="module")
def small_case(tmp_path_factory, write_phantom):
    ph = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=2)
    folder = tmp_path_factory.mktemp("case")
    ct, liver = write_phantom(folder, ph)
    return ph, ct, liver, folder


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def _assert_one_line(code, err, *needles):
    assert code != 0
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    for n in needles:
        assert n in err, err


def _nifti(path, data, affine=None):
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def test_missing_file(small_case, tmp_path, capsys):
    _, ct, liver, _ = small_case
    code, err = _run(capsys, ["synth", str(tmp_path / "nope.nii.gz"), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "nope.nii.gz", "not found")
    assert not (tmp_path / "o").exists()


def test_not_nifti_and_truncated(small_case, tmp_path, capsys):
    _, ct, liver, _ = small_case
    txt = tmp_path / "notes.nii.gz"
    txt.write_text("hello")
    code, err = _run(capsys, ["synth", str(txt), str(liver), "-o", str(tmp_path / "o1")])
    _assert_one_line(code, err, "notes.nii.gz")
    raw = gzip.decompress(ct.read_bytes())
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    code, err = _run(capsys, ["synth", str(cut), str(liver), "-o", str(tmp_path / "o2")])
    _assert_one_line(code, err, "cut.nii.gz", "truncated")
    other = tmp_path / "ct.mha"
    other.write_bytes(b"ObjectType = Image\n")
    code, err = _run(capsys, ["synth", str(other), str(liver), "-o", str(tmp_path / "o3")])
    _assert_one_line(code, err, "ct.mha")
    for o in ("o1", "o2", "o3"):
        assert not (tmp_path / o).exists()


def test_2d_and_4d_images(small_case, tmp_path, capsys):
    _, ct, liver, _ = small_case
    two = _nifti(tmp_path / "two.nii.gz", np.zeros((32, 32), np.int16))
    code, err = _run(capsys, ["synth", str(two), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "two.nii.gz", "2 dimensions", "3-D")
    four = _nifti(tmp_path / "four.nii.gz", np.zeros((8, 8, 8, 3), np.int16))
    code, err = _run(capsys, ["synth", str(four), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "four.nii.gz", "4 dimensions")


def test_shape_and_affine_mismatch(small_case, tmp_path, capsys):
    ph, ct, liver, _ = small_case
    bad_shape = _nifti(tmp_path / "m1.nii.gz", ph.liver[:-2].astype(np.uint8), ph.affine)
    code, err = _run(capsys, ["synth", str(ct), str(bad_shape), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "m1.nii.gz", "shape", "differs")
    aff = ph.affine.copy()
    aff[0, 3] += 12.0
    bad_aff = _nifti(tmp_path / "m2.nii.gz", ph.liver.astype(np.uint8), aff)
    code, err = _run(capsys, ["synth", str(ct), str(bad_aff), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "m2.nii.gz", "affine")


def test_empty_mask_and_absent_label(small_case, tmp_path, capsys):
    ph, ct, liver, _ = small_case
    empty = _nifti(tmp_path / "empty.nii.gz", np.zeros(ph.ct.shape, np.uint8), ph.affine)
    code, err = _run(capsys, ["synth", str(ct), str(empty), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "empty.nii.gz", "empty")
    labels = ph.liver.astype(np.uint8) * 5
    labels[:3] = 2
    lab = _nifti(tmp_path / "multi.nii.gz", labels, ph.affine)
    code, err = _run(capsys, ["synth", str(ct), str(lab), "--liver-label", "6", "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "multi.nii.gz", "label 6 does not occur", "0, 2, 5", "--liver-label")


def test_nan_and_raw_ct(small_case, tmp_path, capsys):
    ph, ct, liver, _ = small_case
    data = ph.ct.astype(np.float32)
    data[10, 10, 10] = np.nan
    nan = _nifti(tmp_path / "nan.nii.gz", data, ph.affine)
    code, err = _run(capsys, ["synth", str(nan), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "nan.nii.gz", "NaN")
    raw = _nifti(tmp_path / "raw.nii.gz", (ph.ct.astype(np.int32) + 1024).astype(np.uint16), ph.affine)
    code, err = _run(capsys, ["synth", str(raw), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "raw.nii.gz", "Hounsfield", "1024")


def test_liver_too_small(small_case, tmp_path, capsys):
    ph, ct, _, _ = small_case
    sliver = np.zeros(ph.ct.shape, np.uint8)
    sliver[30:32, 30:32, 20:22] = 1
    sliver_path = _nifti(tmp_path / "sliver.nii.gz", sliver, ph.affine)
    code, err = _run(capsys, ["synth", str(ct), str(sliver_path), "-o", str(tmp_path / "o"), "--preset", "large",
                              "--seed", "0"])
    _assert_one_line(code, err, "sliver.nii.gz", "no room", "--on-no-room")
    assert code == NoRoomError.exit_code
    assert not (tmp_path / "o").exists()
    code = main(["synth", str(ct), str(sliver_path), "-o", str(tmp_path / "o"), "--preset", "large",
                 "--seed", "0", "--on-no-room", "skip"])
    assert code == 0 and (tmp_path / "o" / "params.json").is_file()


def test_output_exists_needs_overwrite(small_case, tmp_path, capsys):
    _, ct, liver, _ = small_case
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, err = _run(capsys, ["synth", str(ct), str(liver), "-o", str(out), "--seed", "1"])
    _assert_one_line(code, err, str(out), "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["synth", str(ct), str(liver), "-o", str(out), "--seed", "1", "--overwrite"]) == 0
    assert (out / "params.json").is_file() and not (out / "keep.txt").exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_bad_options(small_case, tmp_path, capsys):
    _, ct, liver, _ = small_case
    code, err = _run(capsys, ["synth", str(ct), str(liver), "-o", str(tmp_path / "o"), "--set", "grain=3"])
    _assert_one_line(code, err, "grain", "did you mean")
    code, err = _run(capsys, ["synth", str(ct), str(liver), "-o", str(tmp_path / "o"), "--preset", "huge"])
    _assert_one_line(code, err, "huge", "choose one of")


def test_inputs_are_never_modified(small_case, tmp_path):
    _, ct, liver, _ = small_case
    before = (ct.read_bytes(), liver.read_bytes(), ct.stat().st_mtime_ns)
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "o"), "--seed", "3"]) == 0
    assert (ct.read_bytes(), liver.read_bytes(), ct.stat().st_mtime_ns) == before


def test_output_keeps_geometry_and_dtype(small_case, tmp_path):
    ph, ct, liver, _ = small_case
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "o"), "--seed", "3"]) == 0
    src = nib.load(str(ct))
    out = nib.load(str(tmp_path / "o" / "ct.nii.gz"))
    lab = nib.load(str(tmp_path / "o" / "label.nii.gz"))
    assert np.allclose(out.affine, src.affine) and np.allclose(lab.affine, src.affine)
    assert out.get_data_dtype() == np.int16 and lab.get_data_dtype() == np.uint8
    assert nib.aff2axcodes(out.affine) == nib.aff2axcodes(src.affine)
    data = np.asanyarray(out.dataobj)
    assert data.dtype == np.int16 and set(np.unique(np.asanyarray(lab.dataobj))) <= {0, 1, 2}


def test_scaled_integer_input_keeps_its_disk_type(small_case, tmp_path):
    ph, _, liver, _ = small_case
    img = nib.Nifti1Image(ph.ct.astype(np.float32), ph.affine)
    img.set_data_dtype(np.uint16)  # nibabel stores it with a slope and intercept
    src = tmp_path / "scaled.nii.gz"
    nib.save(img, str(src))
    assert main(["synth", str(src), str(liver), "-o", str(tmp_path / "o"), "--seed", "1", "--preset", "small"]) == 0
    out = nib.load(str(tmp_path / "o" / "ct.nii.gz"))
    assert out.get_data_dtype() == np.uint16
    data = np.asanyarray(out.dataobj)
    lab = np.asanyarray(nib.load(str(tmp_path / "o" / "label.nii.gz")).dataobj)
    same = lab == 0
    assert np.abs(data[same] - ph.ct[same]).max() < 1.0  # HU preserved outside the tumors
    assert data[lab == 2].mean() < ph.ct[lab == 2].mean() - 10


def test_overwrite_never_deletes_inputs(small_case, tmp_path, capsys):
    import shutil

    _, ct, liver, _ = small_case
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(ct, folder / "ct.nii.gz")
    shutil.copy(liver, folder / "liver.nii.gz")
    (folder / "notes.txt").write_text("keep")
    for target in (folder, tmp_path):
        code, err = _run(capsys, ["synth", str(folder / "ct.nii.gz"), str(folder / "liver.nii.gz"),
                                  "-o", str(target), "--overwrite"])
        _assert_one_line(code, err, "holds the input")
    assert sorted(p.name for p in folder.iterdir()) == ["ct.nii.gz", "liver.nii.gz", "notes.txt"]


def test_unwritable_output_is_one_line(small_case, tmp_path, capsys):
    _, ct, liver, _ = small_case
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, err = _run(capsys, ["synth", str(ct), str(liver), "-o", str(blocker / "sub")])
    _assert_one_line(code, err, "cannot create the output folder")


def test_damaged_header_is_one_line(small_case, tmp_path, capsys):
    ph, _, liver, _ = small_case
    path = tmp_path / "hdr.nii"
    nib.save(nib.Nifti1Image(ph.ct, ph.affine), str(path))
    raw = bytearray(path.read_bytes())
    raw[70:72] = (77).to_bytes(2, "little")  # an unknown datatype code
    path.write_bytes(bytes(raw))
    code, err = _run(capsys, ["synth", str(path), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "hdr.nii")


def test_multilabel_mask_needs_liver_label_and_zero_is_refused(small_case, tmp_path, capsys):
    ph, ct, _, _ = small_case
    labels = ph.liver.astype(np.uint8) * 5
    labels[:4] = 3
    lab = _nifti(tmp_path / "ml.nii.gz", labels, ph.affine)
    code, err = _run(capsys, ["synth", str(ct), str(lab), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "several labels", "3, 5", "--liver-label")
    code, err = _run(capsys, ["synth", str(ct), str(lab), "--liver-label", "0", "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "background")


def test_uint8_ct_is_refused(small_case, tmp_path, capsys):
    ph, _, liver, _ = small_case
    u8 = _nifti(tmp_path / "u8.nii.gz", np.clip(ph.ct, 0, 255).astype(np.uint8), ph.affine)
    code, err = _run(capsys, ["synth", str(u8), str(liver), "-o", str(tmp_path / "o")])
    _assert_one_line(code, err, "u8.nii.gz", "uint8", "Hounsfield")


def test_replay_uses_the_recorded_labels_and_checks_the_mask(small_case, tmp_path, capsys):
    ph, ct, _, _ = small_case
    labels = ph.liver.astype(np.uint8) * 5
    labels[:4] = 3
    lab = _nifti(tmp_path / "ml.nii.gz", labels, ph.affine)
    assert main(["synth", str(ct), str(lab), "--liver-label", "5", "-o", str(tmp_path / "a"), "--seed", "2",
                 "--preset", "small"]) == 0
    assert main(["replay", str(tmp_path / "a" / "params.json"), str(ct), str(lab), "-o", str(tmp_path / "b")]) == 0
    a = np.asanyarray(nib.load(str(tmp_path / "a" / "ct.nii.gz")).dataobj)
    b = np.asanyarray(nib.load(str(tmp_path / "b" / "ct.nii.gz")).dataobj)
    assert np.array_equal(a, b)
    other = labels.copy()
    other[30:34, 30:34, 20:22] = 0
    lab2 = _nifti(tmp_path / "ml2.nii.gz", other, ph.affine)
    code, err = _run(capsys, ["replay", str(tmp_path / "a" / "params.json"), str(ct), str(lab2), "-o",
                              str(tmp_path / "c")])
    _assert_one_line(code, err, "ml2.nii.gz", "voxels")
