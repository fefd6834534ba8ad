"""Export to plain files, import of answer sheets, and the `tumorsynth study` command line."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from reader_study_cases import write_healthy_case, write_real_case

from tumorsynth.apps.reader_study import export_study, import_sheet, store
from tumorsynth.apps.reader_study.layout import StudyPaths, load_key
from tumorsynth.cli import main
from tumorsynth.errors import (
    EXIT_USAGE,
    InputError,
    OptionError,
    OutputError,
    OutputExistsError,
)


def test_export_then_import(fresh_study, tmp_path: Path) -> None:
    out = tmp_path / "export"
    sheet = export_study(fresh_study.study_dir, out)
    names = sorted(p.name for p in out.iterdir())
    assert "answer_sheet.csv" in names and "README.txt" in names
    vols = [n for n in names if n.endswith(".nii.gz")]
    assert len(vols) == 6 and all(re.fullmatch(r"\d{3}_[0-9a-f]{10}\.nii\.gz", n) for n in vols)
    assert not any("label" in n or "key" in n for n in names)
    for n in vols:  # the same blinded bytes as in the study
        cid = n[4:14]
        assert (out / n).read_bytes() == StudyPaths(fresh_study.study_dir).case_file(cid).read_bytes()
    rows = list(csv.DictReader(sheet.open()))
    assert [r["case_id"] for r in rows] == fresh_study.case_ids
    assert all(r["answer"] == "" for r in rows)
    with pytest.raises(OutputExistsError):
        export_study(fresh_study.study_dir, out)

    # a reader fills in the sheet (spreadsheet style: abbreviations, blank rows skipped)
    key = load_key(fresh_study.study_dir)
    rows[0].update(answer="S" if key[rows[0]["case_id"]]["truth"] == "synthetic" else "r", confidence="5")
    rows[1].update(answer="unsure", comment="can't tell; dense, \"odd\" rim")
    filled = tmp_path / "filled.csv"
    with filled.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert import_sheet(fresh_study.study_dir, filled, reader="carol") == 2
    answers = {a.case_id: a for a in store.all_answers(StudyPaths(fresh_study.study_dir).db)}
    assert answers[rows[0]["case_id"]].answer == key[rows[0]["case_id"]]["truth"]
    assert answers[rows[0]["case_id"]].confidence == 5
    assert answers[rows[1]["case_id"]].comment == "can't tell; dense, \"odd\" rim"
    with pytest.raises(OptionError, match="--replace"):
        import_sheet(fresh_study.study_dir, filled, reader="carol")
    assert import_sheet(fresh_study.study_dir, filled, reader="carol", replace=True) == 2


@pytest.mark.parametrize("bad, message", [
    ({"case_id": "../../etc/passwd"}, "not in this study"),
    ({"answer": "probably"}, "invalid"),
    ({"confidence": "9"}, "confidence"),
    ({"comment": "x" * 2001}, "comment"),
])
def test_import_refuses_bad_rows_and_stores_nothing(fresh_study, tmp_path: Path, bad, message) -> None:
    sheet = export_study(fresh_study.study_dir, tmp_path / "e")
    rows = list(csv.DictReader(sheet.open()))
    for r in rows:
        r["answer"] = "real"
    rows[-1].update(bad)
    filled = tmp_path / "bad.csv"
    with filled.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(InputError, match=message):
        import_sheet(fresh_study.study_dir, filled, reader="dave")
    assert store.all_answers(StudyPaths(fresh_study.study_dir).db) == []


def test_cli_build_add_reader_report_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, syn = tmp_path / "real", tmp_path / "syn"
    real.mkdir()
    syn.mkdir()
    for i in range(2):
        write_real_case(real, f"r{i}", 300 + i)
        write_real_case(syn, f"s{i}", 400 + i)  # given as already synthesized (label optional)
    study = tmp_path / "study"
    rc = main(["study", "build", "--real", str(real), "--synthetic", str(syn), "--seed", "5",
               "--readers", "alice,bob", "-o", str(study), "--base-url", "http://10.0.0.5:9000"])
    out = capsys.readouterr().out
    assert rc == 0
    links = dict(re.findall(r"^\s+(\w+): (http\S+)$", out, flags=re.M))
    assert set(links) == {"owner", "alice", "bob"}
    assert links["alice"].startswith("http://10.0.0.5:9000/#token=")
    assert links["owner"].startswith("http://10.0.0.5:9000/owner#token=")
    token = links["alice"].split("token=")[1]
    with store.connect(StudyPaths(study).db) as conn:
        assert store.find_reader(conn, token).name == "alice"

    assert main(["study", "add-reader", str(study), "carol"]) == 0
    carol = capsys.readouterr().out.split("token=")[1].strip()
    assert main(["study", "add-reader", str(study), "carol", "--reissue"]) == 0
    with store.connect(StudyPaths(study).db) as conn:
        assert store.find_reader(conn, carol) is None  # the old token no longer works
    capsys.readouterr()

    # user errors: one line, the exit code of their kind, no traceback
    assert main(["study", "add-reader", str(study), "alice"]) == OptionError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--reissue" in err and "Traceback" not in err
    assert main(["study", "build", "--real", str(real), "--synthetic", str(syn), "-o", str(study)]) == OutputError.exit_code
    assert "--overwrite" in capsys.readouterr().err
    assert main(["study", "report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r")]) == InputError.exit_code
    assert "study folder not found" in capsys.readouterr().err
    assert main(["study", "build", "--real", str(real), "-o", str(tmp_path / "x")]) == OptionError.exit_code
    assert "real and synthetic" in capsys.readouterr().err

    assert main(["study", "readers", str(study)]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^alice\s+reader\s+0/4", listing, flags=re.M)
    assert main(["study", "report", str(study), "-o", str(tmp_path / "rep"), "--no-chart"]) == 0
    assert (tmp_path / "rep" / "report.md").is_file()
    assert main(["study", "export", str(study), "-o", str(tmp_path / "exp")]) == 0
    assert (tmp_path / "exp" / "answer_sheet.csv").is_file()
    capsys.readouterr()
    assert main(["study"]) == EXIT_USAGE  # no subcommand: help


def test_cli_serve_refuses_busy_port(study, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["study", "serve", str(study.study_dir), "--port", str(port)]) == OptionError.exit_code
    assert "another --port" in capsys.readouterr().err


def test_healthy_folder_needs_masks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, healthy = tmp_path / "real", tmp_path / "healthy"
    real.mkdir()
    healthy.mkdir()
    write_real_case(real, "r0", 1)
    ct, _ = write_healthy_case(healthy, "h0", 2)
    (healthy / "h0_liver.nii.gz").unlink()
    rc = main(["study", "build", "--real", str(real), "--healthy", str(healthy), "-o", str(tmp_path / "s")])
    assert rc == InputError.exit_code
    err = capsys.readouterr().err
    assert "no cases found" in err and str(healthy) in err
    # a list file naming a CT without its mask
    lst = tmp_path / "healthy.txt"
    lst.write_text(f"{ct}\n")
    rc = main(["study", "build", "--real", str(real), "--healthy", str(lst), "-o", str(tmp_path / "s")])
    assert rc == InputError.exit_code
    err = capsys.readouterr().err
    assert "no liver mask" in err and str(ct) in err


def test_cli_serve_runs_the_app(study) -> None:
    """`tumorsynth study serve` in its own process answers on the chosen port."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tumorsynth", "study", "serve", str(study.study_dir),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.2)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/me",
                                     headers={"Authorization": f"Bearer {study.tokens['bob']}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert b'"reader":"bob"' in r.read()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/" in out
