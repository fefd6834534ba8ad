"""evaluate_case, evaluate_folder and the ``tumorsynth evaluate`` command on small NIfTI files."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from tumorsynth.apps.evaluate import case_key, evaluate_case, evaluate_folder
from tumorsynth.cli import main
from tumorsynth.errors import InputError
from tumorsynth.io import save_nifti

SPACING = (0.8, 0.8, 2.5)
AFFINE = np.diag([-0.8, -0.8, 2.5, 1.0])


def liver_case(tumors=((8, 8, 4, 2),), shape=(24, 24, 10)):
    lab = np.zeros(shape, np.uint8)
    lab[3:21, 3:21, 1:9] = 1
    for i, j, k, r in tumors:
        lab[i - r : i + r, j - r : j + r, k - 1 : k + 1] = 2
    return lab


def write(path, arr, affine=AFFINE):
    save_nifti(path, arr, affine=affine, dtype=np.uint8)
    return path


# ---------------------------------------------------------------- evaluate_case


def test_evaluate_case_perfect_and_liver_includes_tumor():
    gt = liver_case()
    r = evaluate_case(gt, gt, SPACING)
    assert (r["tumor_dsc"], r["tumor_nsd"], r["liver_dsc"], r["liver_nsd"]) == (1.0, 1.0, 1.0, 1.0)
    assert r["has_tumor"] and r["lesions_all"] == 1 and r["detected_all"] == 1 and r["false_positives"] == 0
    # labelling the whole liver as tumor: liver (label >= 1) still perfect, tumor DSC drops
    pred = np.where(gt >= 1, 2, 0).astype(np.uint8)
    r2 = evaluate_case(pred, gt, SPACING)
    assert r2["liver_dsc"] == 1.0 and r2["liver_nsd"] == 1.0
    n_t, n_l = int((gt == 2).sum()), int((gt >= 1).sum())
    assert r2["tumor_dsc"] == pytest.approx(2 * n_t / (n_t + n_l))
    assert r2["gt_tumor_ml"] == pytest.approx(n_t * 0.8 * 0.8 * 2.5 / 1000)


def test_evaluate_case_tumor_free_gt_gives_nan_scores_and_counts_false_positives():
    gt = liver_case(tumors=())
    pred = liver_case(tumors=((10, 10, 4, 1),))
    r = evaluate_case(pred, gt, SPACING)
    assert math.isnan(r["tumor_dsc"]) and math.isnan(r["tumor_nsd"])
    assert not r["has_tumor"] and r["false_positives"] == 1 and r["lesions_all"] == 0
    r0 = evaluate_case(gt, gt, SPACING)
    assert r0["false_positives"] == 0 and math.isnan(r0["tumor_dsc"])


def test_evaluate_case_rejects_bad_labels():
    gt = liver_case()
    bad = gt.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(InputError, match=r"label values 3 outside"):
        evaluate_case(bad, gt, SPACING)
    with pytest.raises(InputError, match="non-integer"):
        evaluate_case(gt.astype(float) * 0.5, gt, SPACING)


# ---------------------------------------------------------------- folders


def test_case_key_pairs_common_namings():
    assert case_key("volume-12.nii") == case_key("segmentation-12.nii.gz") == "lits-12"
    assert case_key("liver_4_0000.nii.gz") == case_key("liver_4.nii.gz") == "liver_4"
    assert case_key("case1_pred.nii.gz") == "case1"


def make_folders(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    gt_a = liver_case(tumors=((8, 8, 4, 2), (15, 15, 5, 2)))
    pred_a = liver_case(tumors=((8, 8, 4, 2),))  # finds one of two tumors
    gt_b = liver_case(tumors=((12, 12, 4, 3),))
    pred_b = gt_b.copy()
    gt_c = liver_case(tumors=())  # tumor-free
    pred_c = liver_case(tumors=((6, 16, 4, 1),))  # one false positive
    for name, g, p in (("liver_1", gt_a, pred_a), ("liver_2", gt_b, pred_b), ("liver_3", gt_c, pred_c)):
        write(gt_dir / f"{name}.nii.gz", g)
        write(pred_dir / f"{name}.nii.gz", p)
    return pred_dir, gt_dir, (gt_a, pred_a)


def test_evaluate_folder_writes_csv_and_summary(tmp_path):
    pred_dir, gt_dir, (gt_a, pred_a) = make_folders(tmp_path)
    out = tmp_path / "eval"
    s = evaluate_folder(pred_dir, gt_dir, out, n_bootstrap=200, seed=1, meta={"model": "unet", "fold": 0})
    dsc_a = evaluate_case(pred_a, gt_a, SPACING)["tumor_dsc"]
    assert 0 < dsc_a < 1
    m = s["metrics"]
    # tumor means over the two cases with tumors only (the tumor-free case is excluded)
    assert m["tumor_dsc"]["n"] == 2
    assert m["tumor_dsc"]["mean"] == pytest.approx((dsc_a + 1.0) / 2)
    assert m["liver_dsc"]["n"] == 3 and m["liver_dsc"]["mean"] == pytest.approx(1.0)
    lo, hi = m["tumor_dsc"]["ci"]
    assert lo <= m["tumor_dsc"]["mean"] <= hi
    det = s["detection"]
    assert det["all"] == {"lesions": 3, "detected": 2, "sensitivity": pytest.approx(2 / 3)}
    assert det["false_positives_per_scan"] == pytest.approx(1 / 3)
    assert det["false_positives_per_tumor_free_scan"] == pytest.approx(1.0)

    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["metrics"]["tumor_dsc"]["mean"] == pytest.approx(m["tumor_dsc"]["mean"])
    assert on_disk["meta"] == {"model": "unet", "fold": 0} and on_disk["n_cases"] == 3
    with open(out / "cases.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["case"] for r in rows] == ["liver_1", "liver_2", "liver_3"]
    assert rows[2]["tumor_dsc"] == "" and rows[2]["false_positives"] == "1"
    assert float(rows[0]["tumor_dsc"]) == pytest.approx(dsc_a, abs=1e-5)
    lesions = (out / "lesions.csv").read_text().splitlines()
    assert len(lesions) == 1 + 3
    # same seed, same intervals
    s2 = evaluate_folder(pred_dir, gt_dir, None, n_bootstrap=200, seed=1)
    assert s2["metrics"]["tumor_dsc"]["ci"] == m["tumor_dsc"]["ci"]


# ---------------------------------------------------------------- CLI


def test_cli_evaluate_folders_and_files(tmp_path, capsys):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    assert main(["evaluate", str(pred_dir), str(gt_dir), "-o", str(tmp_path / "e1"), "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    assert "tumor DSC" in out and "(n=2)" in out
    assert (tmp_path / "e1" / "summary.json").is_file()
    rc = main(["evaluate", str(pred_dir / "liver_2.nii.gz"), str(gt_dir / "liver_2.nii.gz"), "-o", str(tmp_path / "e2")])
    assert rc == 0
    s = json.loads((tmp_path / "e2" / "summary.json").read_text())
    assert s["n_cases"] == 1 and s["metrics"]["tumor_nsd"]["mean"] == 1.0


def run_error(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_cli_missing_prediction(tmp_path, capsys):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    (pred_dir / "liver_2.nii.gz").unlink()
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "liver_2.nii.gz" in err and "no prediction" in err
    assert not (tmp_path / "e" / "summary.json").exists()


def test_cli_shape_and_affine_mismatch(tmp_path, capsys):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    write(pred_dir / "liver_2.nii.gz", np.zeros((24, 24, 11), np.uint8))
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "liver_2.nii.gz" in err and "shape" in err
    write(pred_dir / "liver_2.nii.gz", liver_case(), affine=np.diag([1.0, 1.0, 1.0, 1.0]))
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "affine" in err and "liver_2.nii.gz" in err


def test_cli_bad_label_values(tmp_path, capsys):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    lab = liver_case()
    lab[5, 5, 5] = 4
    write(pred_dir / "liver_1.nii.gz", lab)
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "liver_1.nii.gz" in err and "4" in err and "outside 0" in err


def test_cli_bad_paths(tmp_path, capsys):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    err = run_error(["evaluate", str(tmp_path / "nope"), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "nope" in err and "not found" in err
    err = run_error(["evaluate", str(pred_dir / "liver_1.nii.gz"), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "two files or two folders" in err
    (tmp_path / "empty").mkdir()
    err = run_error(["evaluate", str(tmp_path / "empty"), str(gt_dir), "-o", str(tmp_path / "e")], capsys)
    assert "no prediction NIfTI files" in err


def test_select_cases_by_list_and_split(tmp_path, capsys):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    (pred_dir / "liver_1.nii.gz").unlink()  # fold's validation cases are liver_2 and liver_3
    split = tmp_path / "splits_final.json"
    split.write_text(json.dumps([{"train": ["liver_2", "liver_3"], "val": ["liver_1"]},
                                 {"train": ["liver_1"], "val": ["liver_2", "liver_3"]}]))
    s = evaluate_folder(pred_dir, gt_dir, None, cases=["liver_2", "liver_3.nii.gz"], n_bootstrap=10)
    assert s["n_cases"] == 2 and s["metrics"]["tumor_dsc"]["mean"] == 1.0
    out = tmp_path / "e"
    assert main(["evaluate", str(pred_dir), str(gt_dir), "-o", str(out), "--split", str(split), "--fold", "1"]) == 0
    assert json.loads((out / "summary.json").read_text())["n_cases"] == 2
    capsys.readouterr()
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(out), "--split", str(split), "--fold", "0"], capsys)
    assert "liver_1.nii.gz" in err and "no prediction" in err
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(out), "--cases", "liver_9"], capsys)
    assert "liver_9" in err and "no ground truth" in err
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(out), "--split", str(split)], capsys)
    assert "--fold" in err
    err = run_error(["evaluate", str(pred_dir), str(gt_dir), "-o", str(out), "--split", str(split), "--fold", "7"], capsys)
    assert "folds 0..1" in err


def test_parallel_workers_give_identical_results(tmp_path):
    pred_dir, gt_dir, _ = make_folders(tmp_path)
    one = evaluate_folder(pred_dir, gt_dir, tmp_path / "e1", n_bootstrap=50)
    two = evaluate_folder(pred_dir, gt_dir, tmp_path / "e2", n_bootstrap=50, workers=2)
    assert (tmp_path / "e1" / "cases.csv").read_text() == (tmp_path / "e2" / "cases.csv").read_text()
    assert one["metrics"] == two["metrics"] and one["detection"] == two["detection"]
    (pred_dir / "liver_3.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(InputError, match="liver_3"):
        evaluate_folder(pred_dir, gt_dir, None, workers=2)
