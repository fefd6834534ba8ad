"""Building a blinded study: reproducible shuffle, opaque ids, nothing revealing, key apart."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from reader_study_cases import REVEALING, build, fake_synthesize, write_real_case

from tumorsynth.apps.reader_study import CaseInput, build_study, find_cases, store
from tumorsynth.apps.reader_study.build import FIXED_MTIME
from tumorsynth.apps.reader_study.layout import CASE_ID_RE, StudyPaths, load_key, load_manifest
from tumorsynth.errors import InputError, OptionError, OutputExistsError


def truths(study_dir: Path) -> list[str]:
    key = load_key(study_dir)
    return [key[c["id"]]["truth"] for c in load_manifest(study_dir)["cases"]]


def test_same_seed_same_study_other_seed_other_order(study, inputs, tmp_path: Path) -> None:
    again = build(tmp_path / "again", inputs)
    assert again.case_ids == study.case_ids
    assert truths(again.study_dir) == truths(study.study_dir)
    for cid in study.case_ids:
        a = StudyPaths(study.study_dir).case_file(cid).read_bytes()
        b = StudyPaths(again.study_dir).case_file(cid).read_bytes()
        assert a == b  # voxel for voxel, byte for byte
    orders = {tuple(truths(build(tmp_path / f"s{seed}", inputs, seed=seed).study_dir)) for seed in (1, 2, 3)}
    ids = build(tmp_path / "s9", inputs, seed=9).case_ids
    assert not set(ids) & set(study.case_ids)
    assert len(orders | {tuple(truths(study.study_dir))}) > 1  # the shuffle depends on the seed
    # tokens are secret and random even with the same seed
    assert again.tokens["alice"] != study.tokens["alice"]


def test_ids_opaque_and_folder_reveals_nothing(study, inputs) -> None:
    root = study.study_dir
    assert all(CASE_ID_RE.match(c) for c in study.case_ids)
    assert len(set(study.case_ids)) == len(study.case_ids)
    top = {p.name for p in root.iterdir()}
    assert top == {"study.json", "cases", "owner"}
    case_files = sorted(p.name for p in (root / "cases").iterdir())
    assert case_files == sorted(f"{c}.nii.gz" for c in study.case_ids)
    manifest_text = (root / "study.json").read_text()
    for word in ("truth", "seed", "volume-real", "healthy", "label", "origin", str(inputs["root"])):
        assert word not in manifest_text, word
    times = set()
    for name in case_files:
        path = root / "cases" / name
        raw = path.read_bytes()
        assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip header time stamp cleared
        assert raw[3] & 0x08 == 0  # no original file name in the gzip header
        data = gzip.decompress(raw)
        assert REVEALING.encode() not in data and b"tumor" not in data and b"real" not in data
        img = nib.load(str(path))
        hdr = img.header
        assert hdr["descrip"].tobytes().strip(b"\x00") == b""
        assert hdr["aux_file"].tobytes().strip(b"\x00") == b""
        assert hdr["intent_name"].tobytes().strip(b"\x00") == b""
        assert int(hdr["intent_code"]) == 0
        assert len(hdr.extensions) == 0
        assert img.get_data_dtype() == np.int16
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
        np.testing.assert_allclose(img.affine[:3, 3], -np.array([2.0, 2.0, 4.0]) * (np.array(img.shape) - 1) / 2)
        times.add(os.stat(path).st_mtime)
    assert times == {FIXED_MTIME}
    # the key and labels live only under owner/
    assert len(list((root / "owner" / "labels").iterdir())) == len(study.case_ids)
    assert not list(root.glob("cases/*label*"))
    assert sorted(truths(root)) == ["real"] * 3 + ["synthetic"] * 3
    assert json.loads((root / "owner" / "build.json").read_text())["seed"] == 7
    assert oct((root / "owner").stat().st_mode & 0o777) == "0o700"


def test_voxels_reoriented_not_changed(study) -> None:
    """Cases are written in RAS: the input (LPS, x and y flipped) comes back flipped."""
    key = load_key(study.study_dir)
    cid = next(c for c in study.case_ids if key[c]["truth"] == "real")
    src = nib.load(key[cid]["source_ct"])
    out = nib.load(str(StudyPaths(study.study_dir).case_file(cid)))
    np.testing.assert_array_equal(np.asarray(out.dataobj), np.asarray(src.dataobj)[::-1, ::-1, :])
    lab = nib.load(str(study.study_dir / key[cid]["label"]))
    assert set(np.unique(np.asarray(lab.dataobj)).tolist()) == {0, 1, 2}


def test_tokens_hashed_only(study) -> None:
    db = StudyPaths(study.study_dir).db.read_bytes()
    for tok in [study.owner_token, *study.tokens.values()]:
        assert tok.encode() not in db
        assert store.hash_token(tok).encode() in db
    for path in study.study_dir.rglob("*"):
        if path.is_file() and path.suffix == ".json":
            assert study.tokens["alice"] not in path.read_text()


def test_output_exists_and_overwrite(study, inputs, tmp_path: Path) -> None:
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build(study.study_dir, inputs)
    out = tmp_path / "s"
    first = build(out, inputs, seed=1)
    second = build(out, inputs, seed=2, overwrite=True)
    assert first.case_ids != second.case_ids
    assert not list(tmp_path.glob(".s.building-*"))  # no leftovers
    with store.connect(StudyPaths(out).db) as conn:
        alice = store.get_reader(conn, "alice")
        store.save_answer(conn, alice, second.case_ids[0], "real")
    with pytest.raises(OutputExistsError, match="saved answers"):
        build(out, inputs, seed=3, overwrite=True)
    assert load_manifest(out)["cases"][0]["id"] == second.case_ids[0]


def test_bad_inputs_refused(inputs, tmp_path: Path) -> None:
    healthy = find_cases(inputs["healthy"])
    real = find_cases(inputs["real"])
    assert len(real) == 3 and all(c.label is not None and "_label" in c.label.name for c in real)
    assert all(c.label is not None and "_liver" in c.label.name for c in healthy)
    with pytest.raises(InputError, match="no tumor voxel"):  # a 'real' case without a tumor
        build_study(tmp_path / "a", real=healthy[:1], healthy=healthy[1:], synthesize=fake_synthesize, seed=1)
    with pytest.raises(InputError, match="no label"):
        build_study(tmp_path / "b", real=[CaseInput(real[0].ct)], healthy=healthy,
                    synthesize=fake_synthesize, seed=1)
    with pytest.raises(OptionError, match="real and synthetic"):
        build_study(tmp_path / "c", real=real, synthesize=fake_synthesize, seed=1)
    with pytest.raises(OptionError, match="n-real"):
        build_study(tmp_path / "d", real=real, healthy=healthy, n_real=5, synthesize=fake_synthesize, seed=1)
    with pytest.raises(OptionError, match="reader name"):
        build_study(tmp_path / "e", real=real, healthy=healthy, readers=["../x"],
                    synthesize=fake_synthesize, seed=1)
    with pytest.raises(InputError, match="not found"):
        find_cases(tmp_path / "missing")
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".*building*"))


def test_list_file_selection_crop_and_given_synthetic(inputs, tmp_path: Path) -> None:
    lst = tmp_path / "real.csv"
    lines = ["ct,label", "# a comment"] + [
        f"{c.ct},{c.label}" for c in find_cases(inputs["real"])
    ]
    lst.write_text("\n".join(lines) + "\n")
    given = tmp_path / "given"
    given.mkdir()
    write_real_case(given, "synth_a", 5)  # stands for a case synthesized earlier, with its label
    res = build_study(tmp_path / "s", real=lst, healthy=inputs["healthy"], synthetic=given,
                      n_real=2, n_synthetic=3, crop_margin_mm=4.0, seed=3, synthesize=fake_synthesize)
    assert (res.n_real, res.n_synthetic) == (2, 3)
    key = load_key(res.study_dir)
    assert {v["origin"] for v in key.values()} <= {"real", "synthesized", "given"}
    shapes = [tuple(c["shape"]) for c in load_manifest(res.study_dir)["cases"]]
    assert all(s[0] < 40 for s in shapes)  # cropped to liver + 4 mm
    assert all("crop_box" in v for v in key.values())


def test_shuffled_reader_order(inputs, tmp_path: Path) -> None:
    res = build(tmp_path / "s", inputs, reader_order="shuffled", readers=["r1", "r2", "r3", "r4"])
    with store.connect(StudyPaths(res.study_dir).db) as conn:
        orders = [store.get_reader(conn, n).case_order for n in ("r1", "r2", "r3", "r4")]
    assert all(sorted(o) == sorted(res.case_ids) for o in orders)
    assert len(set(orders)) > 1
    res2 = build(tmp_path / "s2", inputs, reader_order="shuffled", readers=["r1", "r2", "r3", "r4"])
    with store.connect(StudyPaths(res2.study_dir).db) as conn:
        assert store.get_reader(conn, "r1").case_order == orders[0]  # reproducible from the seed


def test_with_the_real_generator(tmp_path: Path) -> None:
    """Synthesis on the spot with tumorsynth's own generator on a small phantom."""
    ts = pytest.importorskip("tumorsynth")
    if not hasattr(ts, "synthesize_case") or not hasattr(ts, "make_phantom"):
        pytest.skip("tumorsynth.synthesize_case / make_phantom not available yet")
    from tumorsynth.io import save_nifti

    folder = tmp_path / "in"
    folder.mkdir()
    cases = []
    for i, kind in enumerate(("real", "healthy")):
        ph = ts.make_phantom(shape=(64, 64, 32), spacing_mm=(2.0, 2.0, 3.0), rng=i)
        ct_path = save_nifti(folder / f"{kind}.nii.gz", ph.ct, affine=ph.affine)
        if kind == "real":
            ct2, label, _ = ts.synthesize_case(ph.ct, ph.liver, ph.spacing_mm, preset="medium", rng=99)
            ct_path = save_nifti(folder / f"{kind}.nii.gz", ct2, affine=ph.affine)
            lab_path = save_nifti(folder / f"{kind}_label.nii.gz", label, affine=ph.affine, dtype=np.uint8)
        else:
            lab_path = save_nifti(folder / f"{kind}_liver.nii.gz", ph.liver.astype(np.uint8), affine=ph.affine)
        cases.append(CaseInput(Path(ct_path), Path(lab_path)))
    res = build_study(tmp_path / "s", real=cases[:1], healthy=cases[1:], preset="small", seed=4)
    key = load_key(res.study_dir)
    syn = next(v for v in key.values() if v["truth"] == "synthetic")
    assert syn["origin"] == "synthesized" and syn["params"]
    lab = nib.load(str(res.study_dir / syn["label"]))
    assert (np.asarray(lab.dataobj) == 2).any()
    assert re.fullmatch(r"[0-9a-f]{10}", res.case_ids[0])


def test_find_cases_dataset_layouts(tmp_path: Path) -> None:
    lits = tmp_path / "lits"
    lits.mkdir()
    for n in (0, 1):
        (lits / f"volume-{n}.nii").write_bytes(b"")
        (lits / f"segmentation-{n}.nii").write_bytes(b"")
    found = find_cases(lits)
    assert [(c.ct.name, c.label.name) for c in found] == [
        ("volume-0.nii", "segmentation-0.nii"), ("volume-1.nii", "segmentation-1.nii")]
    msd = tmp_path / "Task03_Liver"
    (msd / "imagesTr").mkdir(parents=True)
    (msd / "labelsTr").mkdir()
    for n in (3, 4):
        (msd / "imagesTr" / f"liver_{n}.nii.gz").write_bytes(b"")
        (msd / "labelsTr" / f"liver_{n}.nii.gz").write_bytes(b"")
    (msd / "imagesTr" / "._liver_3.nii.gz").write_bytes(b"")  # macOS litter is ignored
    found = find_cases(msd)
    assert [c.ct.name for c in found] == ["liver_3.nii.gz", "liver_4.nii.gz"]
    assert all(c.label is not None and c.label.parent.name == "labelsTr" for c in found)
    btcv = tmp_path / "btcv"
    (btcv / "img").mkdir(parents=True)
    (btcv / "label").mkdir()
    (btcv / "img" / "img0001.nii.gz").write_bytes(b"")
    (btcv / "label" / "label0001.nii.gz").write_bytes(b"")
    (found_btcv,) = find_cases(btcv)
    assert found_btcv.liver_label == (6,) and found_btcv.tumor_label is None
    lits_case = find_cases(lits)[0]
    assert lits_case.tumor_label == 2
    csv_list = tmp_path / "batch.csv"
    csv_list.write_text("image,mask\nlits/volume-1.nii,lits/segmentation-1.nii\n")
    assert find_cases(csv_list)[0].ct.name == "volume-1.nii"
    lst = tmp_path / "cases.tsv"
    lst.write_text("ct\tlabel\nlits/volume-0.nii\tlits/segmentation-0.nii\n")
    assert find_cases(lst)[0].label == lits / "segmentation-0.nii"
    lst.write_text("lits/volume-0.nii,lits/missing.nii\n")
    with pytest.raises(InputError, match=r"cases.tsv:1: .*missing.nii not found"):
        find_cases(lst)


def test_real_case_not_in_hounsfield_units_refused(inputs, tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    ct_path, lab_path = write_real_case(folder, "raw0", 9)
    img = nib.load(str(ct_path))
    raw = (np.asarray(img.dataobj).astype(np.int32) + 1024).astype(np.int16)  # scanner values
    nib.save(nib.Nifti1Image(raw, img.affine), str(ct_path))
    with pytest.raises(InputError, match="Hounsfield"):
        build_study(tmp_path / "s", real=[CaseInput(ct_path, lab_path)], healthy=inputs["healthy"],
                    synthesize=fake_synthesize, seed=1)


def test_same_scan_twice_and_bad_preset_refused(inputs, tmp_path: Path) -> None:
    real = find_cases(inputs["real"])
    healthy = find_cases(inputs["healthy"])
    with pytest.raises(InputError, match="as healthy and as healthy"):
        build_study(tmp_path / "a", real=real, healthy=[*healthy, healthy[0]], synthesize=fake_synthesize, seed=1)
    with pytest.raises(InputError, match="as real and as synthetic"):
        build_study(tmp_path / "b", real=real, healthy=healthy, synthetic=[CaseInput(real[0].ct)],
                    synthesize=fake_synthesize, seed=1)
    with pytest.raises(OptionError, match="did you mean 'small'"):
        build_study(tmp_path / "c", real=real, healthy=healthy, preset="smal", seed=1)
