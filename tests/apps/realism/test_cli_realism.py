"""`tumorsynth realism` end to end on small NIfTI folders, and its one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from realism_cases import small_case, write_case

from tumorsynth.cli import main
from tumorsynth.errors import (
    OutputError,
)


def _lits(folder, seeds, **kw):
    folder.mkdir(parents=True)
    for n, s in enumerate(seeds):
        ct, lab = small_case(s, **kw)
        write_case(folder / f"volume-{n}.nii.gz", folder / f"segmentation-{n}.nii.gz", ct, lab)
    return folder


def _synth(folder, seeds, **kw):
    for s in seeds:
        (folder / f"case{s}").mkdir(parents=True)
        ct, lab = small_case(s, **kw)
        write_case(folder / f"case{s}" / "ct.nii.gz", folder / f"case{s}" / "label.nii.gz", ct, lab)
    return folder


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("realism")
    return {"real": _lits(root / "real", range(4)),
            "synth": _synth(root / "synth", range(10, 14), sigma_mm=0.0, lesion_hu=20.0)}


def test_realism_end_to_end(sets, tmp_path, capsys):
    before = _snapshot(sets["real"]) | _snapshot(sets["synth"])
    out = tmp_path / "report"
    assert main(["realism", "--real", str(sets["real"]), "--synthetic", str(sets["synth"]), "-o", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| feature |" in printed and "edge_width_mm" in printed and "gap" in printed
    for name in ("realism.json", "realism.md", "features.csv", "histograms.png"):
        assert (out / name).is_file(), name
    assert (out / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "realism.json").read_text())
    assert len(doc["lesions"]["real"]) == 4 and len(doc["lesions"]["synthetic"]) == 4
    assert doc["settings"]["min_volume_mm3"] == 50 and "scikit-image" in doc["versions"]
    cmp = doc["comparison"]
    # sharper, darker synthetic lesions: the edge and contrast rows say so
    assert cmp["features"]["contrast_hu"]["synthetic"]["median"] < cmp["features"]["contrast_hu"]["real"]["median"] - 20
    assert cmp["features"]["edge_width_mm"]["w_over_iqr"] > 1
    rows = (out / "features.csv").read_text().splitlines()
    assert rows[0].startswith("set,case,lesion") and len(rows) == 9
    assert (out / "realism.md").read_text().count("\n|") >= 10
    assert _snapshot(sets["real"]) | _snapshot(sets["synth"]) == before
    # again without --overwrite: refused; with it: replaced
    assert main(["realism", "--real", str(sets["real"]), "-o", str(out), "--no-progress"]) == OutputError.exit_code
    assert "--overwrite" in capsys.readouterr().err
    assert main(["realism", "--real", str(sets["real"]), "-o", str(out), "--overwrite", "--no-progress"]) == 0
    assert "synthetic" not in json.loads((out / "realism.json").read_text())["comparison"]["n_lesions"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def _error(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_realism_errors(sets, tmp_path, capsys):
    out = str(tmp_path / "out")
    (tmp_path / "empty").mkdir()
    assert "empty" in _error(["realism", "--real", str(tmp_path / "empty"), "-o", out], capsys)
    # no lesion: a label map without the tumor value
    healthy = tmp_path / "healthy"
    healthy.mkdir()
    ct, lab = small_case(1)
    write_case(healthy / "volume-0.nii.gz", healthy / "segmentation-0.nii.gz", ct, np.minimum(lab, 1))
    assert "no lesion" in _error(["realism", "--real", str(healthy), "-o", out, "--no-progress"], capsys)
    # grids differ
    bad = tmp_path / "bad"
    bad.mkdir()
    write_case(bad / "volume-0.nii.gz", bad / "segmentation-0.nii.gz", ct, lab)
    write_case(tmp_path / "x.nii.gz", bad / "segmentation-0.nii.gz", ct[:-1], lab[:-1])
    assert "shape" in _error(["realism", "--real", str(bad), "-o", out, "--no-progress"], capsys)
    write_case(tmp_path / "y.nii.gz", bad / "segmentation-0.nii.gz", ct, lab)
    write_case(bad / "volume-0.nii.gz", tmp_path / "y.nii.gz", ct, lab, spacing=(1.5, 1.5, 2.5))
    assert "affine" in _error(["realism", "--real", str(bad), "-o", out, "--no-progress"], capsys)
    # no liver label
    noliver = tmp_path / "noliver"
    noliver.mkdir()
    write_case(noliver / "volume-0.nii.gz", noliver / "segmentation-0.nii.gz", ct, np.where(lab == 2, 2, 0))
    assert "liver" in _error(["realism", "--real", str(noliver), "-o", out, "--no-progress"], capsys)
    assert "--liver-label" in _error(["realism", "--real", str(noliver), "-o", out, "--no-progress"], capsys)
    assert not (tmp_path / "out").exists()


def test_realism_help_is_fast_and_explains():
    res = subprocess.run([sys.executable, "-m", "tumorsynth", "realism", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0
    assert "--synthetic" in res.stdout and "W/IQR" in res.stdout and "tumorsynth batch" in res.stdout


def test_case_layouts_synth_output_top_level_and_csv(sets, tmp_path):
    from tumorsynth.apps.realism import find_realism_cases

    found = find_realism_cases(sets["synth"])
    assert [c.name for c in found] == ["case10", "case11", "case12", "case13"]
    assert all(c.liver_labels == (1,) and c.tumor_label == 2 for c in found)
    one = sets["synth"] / "case10"
    (top,) = find_realism_cases(one)
    assert top.name == "case10" and top.image.name == "ct.nii.gz"
    lits = find_realism_cases(sets["real"])
    assert len(lits) == 4 and lits[0].liver_labels == (1, 2) and lits[0].tumor_label == 2
    rows = "image,mask,name\n" + "".join(f"{c.image},{c.label},c{i}\n" for i, c in enumerate(found))
    (tmp_path / "list.csv").write_text(rows)
    listed = find_realism_cases(tmp_path / "list.csv", tumor_label=2)
    assert [c.name for c in listed] == ["c0", "c1", "c2", "c3"] and listed[0].liver_labels == (1,)
