"""Table 5 layout, experiment collection and ``tumorsynth report``."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tumorsynth.apps.evaluate import collect_experiment, read_experiment, table5
from tumorsynth.cli import main
from tumorsynth.errors import InputError, OptionError

# unet/real folds 0..4: DSC 0.50 .. 0.58 (average 54.00), NSD 0.60 .. 0.68 (average 64.00)
# unet/synthetic: DSC 0.61 every fold except fold 3 = 0.56 (average 60.00)
# swin_unetr_tiny/real+synthetic: folds 0..2 only (average of three, starred)
ROWS = (
    [{"model": "unet", "regime": "real", "fold": k, "tumor_dsc": 0.50 + 0.02 * k, "tumor_nsd": 0.60 + 0.02 * k} for k in range(5)]
    + [{"model": "swin_unetr_tiny", "regime": "real+synthetic", "fold": k, "tumor_dsc": 0.40, "tumor_nsd": 0.41 + 0.01 * k} for k in range(3)]
    + [{"model": "unet", "regime": "synthetic", "fold": k, "tumor_dsc": 0.56 if k == 3 else 0.61, "tumor_nsd": 0.5} for k in range(5)]
)


def test_table5_layout_and_hand_averages():
    md, text = table5(ROWS)
    lines = md.splitlines()
    assert lines[0] == "### Tumor DSC (%)"
    assert lines[2] == "| model | regime | fold 0 | fold 1 | fold 2 | fold 3 | fold 4 | average |"
    # rows ordered model (U-Net first), then regime (real, synthetic, real+synthetic)
    assert lines[4] == "| unet | real | 50.00 | 52.00 | 54.00 | 56.00 | 58.00 | 54.00 |"
    assert lines[5] == "| unet | synthetic | 61.00 | 61.00 | 61.00 | 56.00 | 61.00 | 60.00 |"
    assert lines[6] == "| swin_unetr_tiny | real+synthetic | 40.00 | 40.00 | 40.00 | - | - | 40.00* |"
    nsd_start = lines.index("### Tumor NSD (%)")
    assert lines[nsd_start + 4] == "| unet | real | 60.00 | 62.00 | 64.00 | 66.00 | 68.00 | 64.00 |"
    assert lines[nsd_start + 6].endswith("| 42.00* |")
    assert "average over the folds available" in md

    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 6  # 3 rows x 2 metrics
    first = table[0]
    assert (first["metric"], first["model"], first["regime"]) == ("tumor_dsc", "unet", "real")
    assert [first[f"fold_{k}"] for k in range(5)] == ["50.00", "52.00", "54.00", "56.00", "58.00"]
    assert first["average"] == "54.00" and first["folds"] == "5"
    swin = next(r for r in table if r["model"] == "swin_unetr_tiny")
    assert swin["fold_3"] == "" and swin["folds"] == "3"


def test_table5_rejects_percentages_and_duplicates():
    with pytest.raises(OptionError, match="fraction"):
        table5([{"model": "unet", "regime": "real", "fold": 0, "tumor_dsc": 57.6, "tumor_nsd": 0.5}])
    with pytest.raises(OptionError, match="two results"):
        table5([ROWS[0], dict(ROWS[0])])
    with pytest.raises(OptionError, match="'fold'"):
        table5([{"model": "unet", "regime": "real", "tumor_dsc": 0.5, "tumor_nsd": 0.5}])


def write_summary(path, dsc, nsd, meta=None):
    path.mkdir(parents=True, exist_ok=True)
    data = {"metrics": {"tumor_dsc": {"mean": dsc}, "tumor_nsd": {"mean": nsd}}, "meta": meta or {}}
    (path / "summary.json").write_text(json.dumps(data))


def make_experiment(root):
    for row in ROWS:
        name = f"{row['model']}_{row['regime']}"
        write_summary(root / name / f"fold_{row['fold']}" / "eval", row["tumor_dsc"], row["tumor_nsd"])


def test_collect_experiment_writes_table_files(tmp_path):
    exp = tmp_path / "exp"
    make_experiment(exp)
    # a run whose folder name does not tell the regime, with meta in its summaries
    write_summary(exp / "run7" / "fold_0" / "eval", 0.3, 0.3, meta={"model": "swin_unetr_base", "regime": "synthetic", "fold": 0})
    rows = read_experiment(exp)
    assert len(rows) == len(ROWS) + 1
    assert {(r["model"], r["regime"]) for r in rows} >= {("swin_unetr_tiny", "real+synthetic"), ("swin_unetr_base", "synthetic")}
    res = collect_experiment(exp, tmp_path / "report")
    md = (tmp_path / "report" / "table5.md").read_text()
    assert "| unet | real | 50.00 | 52.00 | 54.00 | 56.00 | 58.00 | 54.00 |" in md
    assert "| swin_unetr_base | synthetic | 30.00 | - | - | - | - | 30.00* |" in md
    assert (tmp_path / "report" / "table5.csv").read_text() == res["csv"]
    png = (tmp_path / "report" / "table5.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_read_experiment_errors(tmp_path):
    with pytest.raises(InputError, match="no fold results"):
        read_experiment(tmp_path)
    write_summary(tmp_path / "mystery" / "fold_0" / "eval", 0.5, 0.5)
    with pytest.raises(InputError, match="cannot tell model and regime"):
        read_experiment(tmp_path)


def test_cli_report(tmp_path, capsys):
    exp = tmp_path / "exp"
    make_experiment(exp)
    assert main(["report", str(exp), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "| unet | synthetic | 61.00 | 61.00 | 61.00 | 56.00 | 61.00 | 60.00 |" in out
    assert (exp / "table5.md").is_file() and not (exp / "table5.png").exists()
    rc = main(["report", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert rc != 0 and err.startswith("error: ") and "missing" in err
