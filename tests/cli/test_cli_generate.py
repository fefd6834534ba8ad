"""The generator's command line end to end: demo, synth, replay, batch (resume), presets."""

import json
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.cli import main
from tumorsynth.errors import (
    EXIT_CASES_FAILED,
    InputError,
    OutputError,
)


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_demo_writes_everything_and_replays_identically(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--seed", "4"]) == 0
    case = out / "case"
    for name in ("ct.nii.gz", "label.nii.gz", "params.json", "preview.png", "report.json"):
        assert (case / name).is_file(), name
    w, h = _png_size(case / "preview.png")
    assert w > 300 and h > 100
    report = json.loads((case / "report.json").read_text())
    assert report["seed"] == 4 and report["tumors"] >= 4 and "versions" in report
    params = json.loads((case / "params.json").read_text())
    host = report["host_scanner"]  # the scanner's noise and resolution, measured and recorded
    assert set(host["measured"]) == {"noise", "resolution"}
    assert host["noise_sd_hu"] == pytest.approx(params["noise_sd_hu"], abs=0.01)
    assert host["resolution_mm"] == pytest.approx(params["resolution_mm"], abs=1e-3)
    lab = np.asanyarray(nib.load(str(case / "label.nii.gz")).dataobj)
    assert (lab == 2).sum() == report["tumor_voxels"] > 0
    assert main(["replay", str(case / "params.json"), str(out / "phantom_ct.nii.gz"),
                 str(out / "phantom_liver.nii.gz"), "-o", str(out / "again")]) == 0
    a = np.asanyarray(nib.load(str(case / "ct.nii.gz")).dataobj)
    b = np.asanyarray(nib.load(str(out / "again" / "ct.nii.gz")).dataobj)
    assert np.array_equal(a, b)
    assert "replay" in capsys.readouterr().out
    # a second demo into the same folder is refused, clearly
    assert main(["demo", "-o", str(out)]) == OutputError.exit_code


def test_synth_same_seed_same_file_and_liver_label(tmp_path, write_phantom):
    ph = ts.make_phantom(shape=(80, 72, 48), spacing_mm=(4.0, 4.0, 5.0), rng=3)
    ct, liver = write_phantom(tmp_path / "in", ph)
    labels = np.where(ph.liver, 5, 0).astype(np.uint8)
    labels[ph.vessels] = 5
    multi = tmp_path / "in" / "multi.nii.gz"
    ts.save_nifti(multi, labels, affine=ph.affine)
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "a"), "--seed", "9", "--preset", "small"]) == 0
    assert main(["synth", str(ct), str(multi), "--liver-label", "5", "-o", str(tmp_path / "b"), "--seed", "9",
                 "--preset", "small"]) == 0
    a = np.asanyarray(nib.load(str(tmp_path / "a" / "ct.nii.gz")).dataobj)
    b = np.asanyarray(nib.load(str(tmp_path / "b" / "ct.nii.gz")).dataobj)
    assert np.array_equal(a, b)
    pa = json.loads((tmp_path / "a" / "params.json").read_text())
    assert pa["seed"] == 9 and pa["preset"] == "small"


def test_synth_without_seed_records_the_seed(tmp_path, write_phantom):
    ph = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=2)
    ct, liver = write_phantom(tmp_path / "in", ph)
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "a"), "--preset", "small"]) == 0
    seed = json.loads((tmp_path / "a" / "report.json").read_text())["seed"]
    assert isinstance(seed, int)
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "b"), "--preset", "small", "--seed", str(seed)]) == 0
    assert (tmp_path / "a" / "params.json").read_text() == (tmp_path / "b" / "params.json").read_text()


def test_ablation_flags_reach_the_record(tmp_path, write_phantom):
    ph = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=2)
    ct, liver = write_phantom(tmp_path / "in", ph)
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "a"), "--seed", "1", "--preset", "medium",
                 "--no-deformation", "--no-edge-blur", "--no-mass-effect", "--no-capsule", "--set", "grain_mm=3",
                 "--contrast-hu=-40,-30", "--set", "local_contrast=false"]) == 0
    p = json.loads((tmp_path / "a" / "params.json").read_text())
    for t in p["tumors"]:
        assert t["deform_sigma_mm"] == 0 and t["edge_blur_mm"] == 0 and t["mass_effect_mm"] == 0
        assert t["capsule_hu"] == 0 and t["grain_mm"] == 3
        assert -40 <= t["tumor_mean_hu"] - p["parenchyma_hu"] <= -30  # against the global median
    assert p["settings"]["local_contrast"] is False


def _make_dataset(root, write_phantom, n=3):
    for i in range(n):
        ph = ts.make_phantom(shape=(56, 48, 36), spacing_mm=(5.5, 5.5, 7.0), rng=10 + i)
        write_phantom(root, ph, stem=f"case{i}")


def test_batch_resumes_and_reports(tmp_path, write_phantom, capsys):
    data = tmp_path / "data"
    _make_dataset(data, write_phantom)
    out = tmp_path / "out"
    assert main(["batch", str(data), "-o", str(out), "--preset", "small", "--seed", "5"]) == 0
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["case0", "case1", "case2"]
    first = {n: (out / n / "ct.nii.gz").read_bytes() for n in names}
    # simulate an interruption: one case missing, a half-written folder left behind
    import shutil

    shutil.rmtree(out / "case1")
    (out / ".case1.partial-xyz").mkdir()
    (out / ".case1.partial-xyz" / "ct.nii.gz").write_bytes(b"half")
    stamp = (out / "case0" / "ct.nii.gz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["batch", str(data), "-o", str(out), "--preset", "small", "--seed", "5"]) == 0
    assert "done 1, already done 2" in capsys.readouterr().out
    assert (out / "case0" / "ct.nii.gz").stat().st_mtime_ns == stamp  # not redone
    assert (out / "case1" / "ct.nii.gz").read_bytes() == first["case1"]  # same seed per case
    assert not list(out.glob(".*partial*"))
    summary = json.loads((out / "batch_summary.json").read_text())
    assert summary["counts"] == {"done": 1, "skipped_existing": 2, "failed": 0}
    assert set(summary["cases"]) == set(names)


def test_batch_parallel_matches_serial_and_bad_case_fails_alone(tmp_path, write_phantom, capsys):
    data = tmp_path / "data"
    _make_dataset(data, write_phantom)
    (data / "broken.nii.gz").write_text("not an image")
    ts.save_nifti(data / "broken_liver.nii.gz", np.ones((4, 4, 4), np.uint8), affine=np.eye(4))
    assert main(["batch", str(data), "-o", str(tmp_path / "s"), "--preset", "small", "--seed", "2"]) == EXIT_CASES_FAILED
    err = capsys.readouterr().err
    assert "broken" in err and "not a NIfTI" in err
    assert main(["batch", str(data), "-o", str(tmp_path / "p"), "--preset", "small", "--seed", "2", "-j", "2"]) == EXIT_CASES_FAILED
    for n in ("case0", "case1", "case2"):
        assert (tmp_path / "s" / n / "ct.nii.gz").read_bytes() == (tmp_path / "p" / n / "ct.nii.gz").read_bytes()


def test_presets_listing(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", "small", "medium", "large", "mix", "U(5, 10)", "F(1, 3)", "grain_mm"):
        assert name in out
    assert main(["presets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tumor_types"]["large"]["radius_mm"] == 32


def test_help_is_fast_and_explains():
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "tumorsynth", "synth", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    assert "--liver-label" in res.stdout and "params.json" in res.stdout
    assert "torch" not in sys.modules or True
    res = subprocess.run([sys.executable, "-c", "import tumorsynth.cli, sys; tumorsynth.cli.build_parser(); "
                          "print('torch' in sys.modules, 'matplotlib' in sys.modules)"], capture_output=True, text=True)
    assert res.stdout.strip() == "False False"
    assert time.perf_counter() - t0 < 60  # generous: only guards against a hang


def test_real_ct_synth_and_replay(real_dir, tmp_path):
    ct, liver = real_dir / "example_ct.nii.gz", real_dir / "example_ct_liver.nii.gz"
    assert main(["synth", str(ct), str(liver), "-o", str(tmp_path / "a"), "--seed", "2", "--preset", "medium"]) == 0
    assert main(["replay", str(tmp_path / "a" / "params.json"), str(ct), str(liver), "-o", str(tmp_path / "b")]) == 0
    a = nib.load(str(tmp_path / "a" / "ct.nii.gz"))
    b = nib.load(str(tmp_path / "b" / "ct.nii.gz"))
    src = nib.load(str(ct))
    assert np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
    assert a.get_data_dtype() == src.get_data_dtype() and np.allclose(a.affine, src.affine)
    lab = np.asanyarray(nib.load(str(tmp_path / "a" / "label.nii.gz")).dataobj)
    liver_mask = np.asanyarray(nib.load(str(liver)).dataobj) > 0
    assert (lab == 2).any() and not ((lab == 2) & ~liver_mask).any()
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert 20 < rep["parenchyma_hu"] < 80  # non-contrast liver, about 46 HU


def test_real_multilabel_totalseg(real_dir, tmp_path, capsys):
    ct, seg = real_dir / "example_ct_sm.nii.gz", real_dir / "example_seg.nii.gz"
    assert main(["synth", str(ct), str(seg), "--liver-label", "5", "-o", str(tmp_path / "a"), "--seed", "1",
                 "--preset", "small", "--on-no-room", "skip"]) == 0
    lab = np.asanyarray(nib.load(str(tmp_path / "a" / "label.nii.gz")).dataobj)
    seg_data = np.asanyarray(nib.load(str(seg)).dataobj)
    assert np.array_equal(lab >= 1, seg_data == 5)
    code = main(["synth", str(ct), str(seg), "--liver-label", "200", "-o", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == InputError.exit_code and "values present: 0, 1, 2" in err and "64" in err


@pytest.mark.parametrize("layout_files", ["lits", "msd", "totalseg"])
def test_case_discovery_layouts(tmp_path, layout_files):
    from tumorsynth.io.cases import discover_cases

    img = np.zeros((4, 4, 4), np.int16)
    def w(p):
        p.parent.mkdir(parents=True, exist_ok=True)
        ts.save_nifti(p, img, affine=np.eye(4))
    if layout_files == "lits":
        w(tmp_path / "volume-3.nii")
        w(tmp_path / "segmentation-3.nii")
        w(tmp_path / "volume-10.nii")
        w(tmp_path / "segmentation-10.nii")
        cases = discover_cases(tmp_path)
        assert [c.name for c in cases] == ["lits-3", "lits-10"]
        assert cases[0].liver_label == (1, 2) and cases[0].tumor_label == 2
    elif layout_files == "msd":
        w(tmp_path / "Task03_Liver" / "imagesTr" / "liver_0.nii.gz")
        w(tmp_path / "Task03_Liver" / "labelsTr" / "liver_0.nii.gz")
        cases = discover_cases(tmp_path)
        assert [c.layout for c in cases] == ["msd"] and cases[0].name == "liver_0"
    else:
        w(tmp_path / "s0001" / "ct.nii.gz")
        w(tmp_path / "s0001" / "segmentations" / "liver.nii.gz")
        w(tmp_path / "s0002" / "ct.nii.gz")
        w(tmp_path / "s0002" / "seg.nii.gz")
        cases = discover_cases(tmp_path)
        assert [(c.name, c.liver_label) for c in cases] == [("s0001", None), ("s0002", (5,))]


def test_case_list_csv_and_errors(tmp_path):
    from tumorsynth.errors import InputError
    from tumorsynth.io.cases import discover_cases

    (tmp_path / "list.csv").write_text("name,image,mask,liver_label\nA,a.nii.gz,am.nii.gz,6\nB,b.nii.gz,bm.nii.gz,\n")
    cases = discover_cases(tmp_path / "list.csv")
    assert [(c.name, c.liver_label) for c in cases] == [("A", (6,)), ("B", None)]
    (tmp_path / "bad.csv").write_text("path\nx\n")
    with pytest.raises(InputError, match="image,mask"):
        discover_cases(tmp_path / "bad.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no cases found"):
        discover_cases(tmp_path / "empty")


def test_real_tumors_are_kept_in_lits_layout(tmp_path, write_phantom):
    ph = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=2)
    seg = ph.liver.astype(np.uint8)
    idx = np.argwhere(ph.liver)
    c = idx[len(idx) // 2]
    seg[c[0] - 1:c[0] + 2, c[1] - 1:c[1] + 2, c[2] - 1:c[2] + 2] = 2
    seg[~ph.liver] = 0
    data = tmp_path / "lits"
    ts.save_nifti(data / "volume-7.nii", ph.ct, affine=ph.affine)
    ts.save_nifti(data / "segmentation-7.nii", seg, affine=ph.affine)
    assert main(["batch", str(data), "-o", str(tmp_path / "out"), "--preset", "small", "--seed", "1"]) == 0
    lab = np.asanyarray(nib.load(str(tmp_path / "out" / "lits-7" / "label.nii")).dataobj)
    assert np.all(lab[seg == 2] == 2)  # the real tumor stays a tumor
    assert (lab == 2).sum() > (seg == 2).sum()  # and synthetic ones were added
    rep = json.loads((tmp_path / "out" / "lits-7" / "report.json").read_text())
    assert rep["real_tumor_voxels_kept"] == int((seg == 2).sum())
    assert main(["replay", str(tmp_path / "out" / "lits-7" / "params.json"), str(data / "volume-7.nii"),
                 str(data / "segmentation-7.nii"), "--liver-label", "1,2", "--tumor-label", "2",
                 "-o", str(tmp_path / "re")]) == 0
    again = np.asanyarray(nib.load(str(tmp_path / "re" / "label.nii")).dataobj)
    assert np.array_equal(again, lab)


def test_batch_resume_flags_cases_made_with_other_options(tmp_path, write_phantom):
    data = tmp_path / "data"
    _make_dataset(data, write_phantom, n=2)
    out = tmp_path / "out"
    assert main(["batch", str(data), "-o", str(out), "--preset", "small", "--seed", "5"]) == 0
    assert main(["batch", str(data), "-o", str(out), "--preset", "small", "--seed", "6"]) == 0
    summary = json.loads((out / "batch_summary.json").read_text())
    assert sorted(summary["made_with_other_options"]) == ["case0", "case1"]
    assert main(["batch", str(data), "-o", str(out), "--preset", "small", "--seed", "5"]) == 0
    assert json.loads((out / "batch_summary.json").read_text())["made_with_other_options"] == []
