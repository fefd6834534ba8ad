"""Exit codes (one per kind of failure, the README's table) and the shared option syntax.

Every code of :data:`tumorsynth.errors.EXIT_CODES` is produced here by a real command line; the
README's table is the same table; ``--set KEY=VALUE`` reads the same for every command; the old
spellings (``--workers``, ``--set JSON`` of ``nnunet export``) still work with a deprecation line.
"""

from __future__ import annotations

import errno
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.cli import generate, main
from tumorsynth.cli.options import parse_set, parse_value
from tumorsynth.errors import (
    EXIT_CASES_FAILED,
    EXIT_CODES,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    MissingDependencyError,
    NoRoomError,
    OptionError,
    OutputError,
    OutputExistsError,
    TumorsynthError,
)

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("case")
    ph = ts.make_phantom(shape=(64, 56, 40), spacing_mm=(5.0, 5.0, 6.0), rng=2)
    ts.save_nifti(root / "ct.nii.gz", ph.ct, affine=ph.affine)
    ts.save_nifti(root / "liver.nii.gz", ph.liver.astype(np.uint8), affine=ph.affine)
    return root / "ct.nii.gz", root / "liver.nii.gz"


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


def test_the_readme_table_is_the_table_of_the_code() -> None:
    text = README.read_text()
    section = text[text.index("### Exit codes"):]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section.split("\n\n## ")[0], flags=re.M)
    assert {int(c): m for c, m in rows} == {c: m.replace("|", "/") for c, m in EXIT_CODES.items()}


def test_each_kind_of_error_has_its_own_code() -> None:
    kinds = (InputError, NoRoomError, OutputError, OptionError, MissingDependencyError)
    codes = [k.exit_code for k in kinds]
    assert len(set(codes)) == len(codes)
    assert set(codes) | {EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_CASES_FAILED, EXIT_INTERRUPTED} == set(EXIT_CODES)
    assert EXIT_USAGE not in codes  # a user error is no longer argparse's usage code
    assert OutputExistsError.exit_code == OutputError.exit_code
    assert issubclass(MissingDependencyError, OptionError)  # `except OptionError` still catches it
    assert TumorsynthError.exit_code == EXIT_INTERNAL  # an unclassified error is a bug


def test_success_usage_and_missing_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, ["presets"])[0] == EXIT_OK
    code, err = _run(capsys, ["synth", "a.nii.gz", "b.nii.gz", "-o", "o", "--no-such-option"])
    assert code == EXIT_USAGE and "unrecognized arguments" in err
    code, err = _run(capsys, ["synth", "a.nii.gz"])
    assert code == EXIT_USAGE and "required" in err
    assert _run(capsys, [])[0] == EXIT_USAGE  # no command: the help, on stderr
    code, err = _run(capsys, ["synth", "a.nii.gz", "b.nii.gz", "-o", "o", "--on-no-room", "maybe"])
    assert code == EXIT_USAGE and "invalid choice" in err


def test_bad_input_no_room_and_output(case: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ct, liver = case
    code, err = _run(capsys, ["synth", str(tmp_path / "absent.nii.gz"), str(liver), "-o", str(tmp_path / "a")])
    assert code == InputError.exit_code == 3 and "absent.nii.gz" in err
    sliver = np.zeros((64, 56, 40), np.uint8)
    sliver[30:32, 30:32, 20:22] = 1
    ts.save_nifti(tmp_path / "sliver.nii.gz", sliver, affine=ts.load_nifti(liver).affine)
    code, err = _run(capsys, ["synth", str(ct), str(tmp_path / "sliver.nii.gz"), "-o", str(tmp_path / "b"),
                              "--preset", "large", "--seed", "0"])
    assert code == NoRoomError.exit_code == 4 and "--on-no-room" in err
    (tmp_path / "taken").mkdir()
    code, err = _run(capsys, ["synth", str(ct), str(liver), "-o", str(tmp_path / "taken"), "--no-preview"])
    assert code == OutputError.exit_code == 5 and "--overwrite" in err


def test_an_operating_system_error_is_an_output_error(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def full(args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out/ct.nii.gz")

    monkeypatch.setattr(generate, "cmd_synth", full)
    code, err = _run(capsys, ["synth", "a.nii.gz", "b.nii.gz", "-o", "o"])
    assert code == OutputError.exit_code
    assert err.startswith("error: /data/out/ct.nii.gz: No space left on device") and len(err.splitlines()) == 1


def test_bad_option_values(case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ct, liver = case
    out = ["-o", str(tmp_path / "o")]
    for item in ("radius_mm=big", "radius_mn=3", "noequals"):
        code, err = _run(capsys, ["synth", str(ct), str(liver), *out, "--set", item])
        assert code == OptionError.exit_code == 6, (item, err)
        assert err.startswith("error: ") and item.split("=")[0] in err and len(err.splitlines()) == 1, err
    code, err = _run(capsys, ["batch", str(tmp_path), *out, "-j", "0"])
    assert code == OptionError.exit_code and "-j/--jobs 0" in err
    assert not (tmp_path / "o").exists()


def test_a_batch_with_failed_cases(case: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    ct, liver = case
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.nii.gz").write_bytes(ct.read_bytes())
    (data / "good_liver.nii.gz").write_bytes(liver.read_bytes())
    (data / "bad.nii.gz").write_bytes(b"not a nifti")
    (data / "bad_liver.nii.gz").write_bytes(liver.read_bytes())
    code, err = _run(capsys, ["batch", str(data), "-o", str(tmp_path / "out"), "--layout", "pairs",
                              "--preset", "small", "--seed", "1", "--no-preview"])
    assert code == EXIT_CASES_FAILED == 7
    assert [ln.split(":")[1].strip() for ln in err.splitlines() if ln.startswith("failed:")] == ["bad"]
    assert (tmp_path / "out" / "good" / "report.json").is_file()


def test_missing_dependency_internal_error_and_interrupt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, err = _run(capsys, ["figures", "steps", "-o", str(tmp_path / "f")])
    assert code == MissingDependencyError.exit_code == 8 and "pip install 'tumorsynth[figures]'" in err

    def bug(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(generate, "cmd_presets", bug)
    code, err = _run(capsys, ["presets"])
    assert code == EXIT_INTERNAL == 1 and "internal error (ZeroDivisionError" in err and "Traceback" not in err

    def stop(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "cmd_presets", stop)
    code, err = _run(capsys, ["presets"])
    assert code == EXIT_INTERRUPTED == 130 and "interrupted" in err


# ------------------------------------------------------------------------ one --set syntax
def test_one_value_grammar() -> None:
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("2e-4") == pytest.approx(2e-4) and parse_value("-0.5") == -0.5
    assert parse_value("-60,-20") == (-60, -20) and parse_value("64,64,64") == (64, 64, 64)
    assert parse_value("[64, 64, 64]") == [64, 64, 64] and parse_value('{"small": 1}') == {"small": 1}
    assert parse_value("on") is True and parse_value("False") is False
    assert parse_value("default") is None and parse_value("null") is None
    assert parse_value("disk") == "disk" and parse_value('"3"') == "3"
    with pytest.raises(OptionError, match="not valid JSON"):
        parse_value("[1, 2")
    assert parse_set(["mass-effect=0.05,0.1", "grain_mm=3"]) == {"mass_effect": (0.05, 0.1), "grain_mm": 3}


def test_synth_and_train_read_set_the_same_way(case: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ct, liver = case
    out = tmp_path / "s"
    assert main(["synth", str(ct), str(liver), "-o", str(out), "--seed", "4", "--preset", "small",
                 "--no-preview", "--set", "grain_mm=3", "--set", "contrast_hu=-60,-40",
                 "--set", "local_contrast=false"]) == 0
    rec = json.loads((out / "params.json").read_text())
    contrast = [t["tumor_mean_hu"] - rec["parenchyma_hu"] for t in rec["tumors"]]
    assert all(t["grain_mm"] == 3 for t in rec["tumors"]) and all(-60 <= c <= -40 for c in contrast), contrast
    pytest.importorskip("torch")
    capsys.readouterr()
    assert main(["train", "--healthy", "x.csv", "--print-config", "--set", "patch_size=64,64,64",
                 "--set", "lr=2e-4", "--set", "amp=off"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["patch_size"] == [64, 64, 64] and cfg["lr"] == 2e-4
    assert main(["train", "--healthy", "x.csv", "--print-config", "--set", "patch_size=[32,32,32]"]) == 0
    assert json.loads(capsys.readouterr().out)["patch_size"] == [32, 32, 32]  # the JSON form still reads


# ------------------------------------------------------------------------ unambiguous names, old spellings
def test_jobs_and_loader_workers_with_the_old_spelling(case: tuple[Path, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ct, liver = case
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.nii.gz").write_bytes(ct.read_bytes())
    (data / "a_liver.nii.gz").write_bytes(liver.read_bytes())
    code, err = _run(capsys, ["batch", str(data), "-o", str(tmp_path / "out"), "--layout", "pairs",
                              "--preset", "small", "--no-preview", "--workers", "1"])
    assert code == 0 and "--workers is deprecated; use -j/--jobs" in err
    help_text = generate_help(capsys, ["batch", "--help"])
    assert "-j N, --jobs N" in help_text and "--workers" not in help_text
    pytest.importorskip("torch")
    capsys.readouterr()
    assert main(["train", "--healthy", "x.csv", "--print-config", "--workers", "3"]) == 0
    io = capsys.readouterr()
    assert json.loads(io.out)["num_workers"] == 3 and "--workers is deprecated; use --loader-workers" in io.err
    assert main(["train", "--healthy", "x.csv", "--print-config", "--loader-workers", "2"]) == 0
    io = capsys.readouterr()
    assert json.loads(io.out)["num_workers"] == 2 and "deprecated" not in io.err


def generate_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_nnunet_export_set_accepts_the_old_json(capsys: pytest.CaptureFixture[str]) -> None:
    from tumorsynth.cli.nnunet import _overrides

    assert _overrides(["contrast_hu=-60,-20", "grain_mm=2"]) == {"contrast_hu": (-60, -20), "grain_mm": 2}
    capsys.readouterr()
    assert _overrides(['{"contrast_hu": [-60, -20]}']) == {"contrast_hu": [-60, -20]}
    assert "--set JSON is deprecated" in capsys.readouterr().err
    with pytest.raises(OptionError, match="KEY=VALUE"):
        _overrides(["contrast_hu"])
