"""``tumorsynth figures``: in-process through ``tumorsynth.cli.main``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tumorsynth.cli import main
from tumorsynth.errors import (
    MissingDependencyError,
    OptionError,
)


def test_one_figure_on_the_phantom(mpl, tmp_path, capsys) -> None:
    out = tmp_path / "figs"
    assert main(["figures", "steps", "-o", str(out), "--format", "png", "--dpi", "50"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["steps.json", "steps.png"]
    printed = capsys.readouterr().out
    assert "steps: 6 panels" in printed and "steps.png" in printed
    from matplotlib.image import imread

    record = json.loads((out / "steps.json").read_text())
    assert imread(out / "steps.png").shape[:2] == tuple(reversed(record["size_px"]))
    assert record["dpi"] == 50


def test_bad_name_lists_the_choices(tmp_path, capsys) -> None:
    assert main(["figures", "shap", "-o", str(tmp_path)]) == OptionError.exit_code
    err = capsys.readouterr().err
    assert "did you mean 'shape'" in err
    for name in ("examples", "shape", "texture", "types", "ablation", "steps", "all"):
        assert name in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("argv", "message"), [
    (["--ct", "ct.nii.gz"], "give both --ct CT and --liver MASK"),
    (["--liver-label", "5"], "--liver-label needs"),
    (["--format", "png,jpg"], "--format 'jpg' is not supported"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--png-colors", "999"], "--png-colors must be 2 to 256"),
])
def test_option_errors_are_one_line(tmp_path, capsys, argv, message) -> None:
    assert main(["figures", "steps", "-o", str(tmp_path / "o"), *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error:") and len(err.splitlines()) == 1


def test_missing_file_is_one_line(mpl, tmp_path, capsys) -> None:
    argv = ["figures", "steps", "--ct", str(tmp_path / "missing.nii.gz"), "--liver", str(tmp_path / "liver.nii.gz")]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "missing.nii.gz" in err and len(err.splitlines()) == 1


def test_missing_matplotlib_is_explained(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["figures", "steps", "-o", str(tmp_path)]) == MissingDependencyError.exit_code
    assert "needs matplotlib: pip install 'tumorsynth[figures]'" in capsys.readouterr().err


def test_user_ct_with_multilabel_mask(mpl, tmp_path, capsys) -> None:
    """A user's CT in LPS-like storage (axis 0 flipped) with a TotalSegmentator-style label map."""
    import nibabel as nib

    import tumorsynth as ts

    ph = ts.make_phantom(shape=(112, 96, 64), spacing_mm=(2.5, 2.5, 3.0), rng=3)
    labels = np.where(ph.liver, 5, 0).astype(np.uint8)
    labels[:10] = 2  # another organ
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = ph.ct.shape[0] - 1
    aff = ph.affine @ flip
    nib.save(nib.Nifti1Image(ph.ct[::-1].copy(), aff), str(tmp_path / "ct.nii.gz"))
    nib.save(nib.Nifti1Image(labels[::-1].copy(), aff), str(tmp_path / "seg.nii.gz"))
    out = tmp_path / "figs"
    rc = main(["figures", "ablation,shape", "--ct", str(tmp_path / "ct.nii.gz"), "--liver",
               str(tmp_path / "seg.nii.gz"), "--liver-label", "5", "-o", str(out), "--format", "png",
               "--no-outline", "--dpi", "40", "--seed", "3"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["ablation.json", "ablation.png", "shape.json", "shape.png"]
    record = json.loads((out / "ablation.json").read_text())
    assert record["host"]["source"] == "ct.nii.gz" and record["seed"] == 3
    assert len(record["panels"]) == 8
    # a label value that is not in the mask is a one-line input error
    assert main(["figures", "steps", "--ct", str(tmp_path / "ct.nii.gz"), "--liver",
                 str(tmp_path / "seg.nii.gz"), "--liver-label", "9", "-o", str(out)]) != 0
    assert capsys.readouterr().err.startswith("error:")


def test_help_does_not_import_matplotlib() -> None:
    code = ("import sys; from tumorsynth.cli import figures; import argparse; "
            "p = argparse.ArgumentParser(); figures.register(p.add_subparsers()); "
            "print('matplotlib' in sys.modules, 'tumorsynth.apps.figures' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
