"""Report figures against hand-computed numbers."""

from __future__ import annotations

import csv
import importlib.util
import json
import math

import pytest

from tumorsynth.apps.reader_study import store
from tumorsynth.apps.reader_study.layout import StudyPaths, load_key
from tumorsynth.apps.reader_study.report import (
    cohen_kappa,
    compute_report,
    rating_auc,
    rating_score,
    reader_metrics,
    wilson_interval,
    write_report,
)
from tumorsynth.errors import OutputExistsError


def test_wilson_interval_hand_values() -> None:
    # p = 1/2, n = 8: centre 0.5, half-width z*sqrt(1/32 + z^2/256)/(1 + z^2/8)
    lo, hi = wilson_interval(4, 8)
    assert lo == pytest.approx(0.2152, abs=1e-4) and hi == pytest.approx(0.7848, abs=1e-4)
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    lo, hi = wilson_interval(0, 5)  # never below 0, upper bound z^2/(n+z^2)
    assert lo == 0.0 and hi == pytest.approx(3.8415 / (5 + 3.8415), abs=1e-4)
    assert wilson_interval(5, 5)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_cohen_kappa_hand_values() -> None:
    a = ["real", "real", "synthetic", "synthetic", "unsure", "real"]
    b = ["real", "synthetic", "synthetic", "synthetic", "real", "real"]
    # po = 4/6; pe = 3/6*3/6 + 2/6*3/6 + 1/6*0 = 5/12; kappa = (2/3 - 5/12)/(7/12) = 3/7
    assert cohen_kappa(a, b, store.ANSWERS) == pytest.approx(3 / 7)
    # without the unsure item: po = 4/5, pe = 0.48, kappa = 0.32/0.52 = 8/13
    keep = [i for i in range(6) if i != 4]
    assert cohen_kappa([a[i] for i in keep], [b[i] for i in keep]) == pytest.approx(8 / 13)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa(["real", "synthetic"], ["synthetic", "real"]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([], []))
    assert math.isnan(cohen_kappa(["real"] * 3, ["real"] * 3))  # chance agreement 1: undefined
    with pytest.raises(ValueError):
        cohen_kappa(["real"], [])


def test_reader_metrics_hand_values() -> None:
    truth = {f"s{i}": "synthetic" for i in range(1, 6)} | {f"r{i}": "real" for i in range(1, 6)}
    answers = {"s1": "synthetic", "s2": "synthetic", "s3": "real", "s4": "unsure",
               "r1": "real", "r2": "synthetic", "r3": "real", "r4": "unsure"}  # s5, r5 missing
    m = reader_metrics(truth, answers)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (2, 1, 2, 1)
    assert (m["answered"], m["missing"], m["unsure"]) == (8, 2, 2)
    assert (m["unsure_synthetic"], m["unsure_real"]) == (1, 1)
    w, e = m["unsure_wrong"], m["unsure_excluded"]
    assert (w["accuracy"]["k"], w["accuracy"]["n"], w["accuracy"]["value"]) == (4, 8, 0.5)
    assert (w["sensitivity"]["k"], w["sensitivity"]["n"]) == (2, 4)
    assert (w["specificity"]["k"], w["specificity"]["n"]) == (2, 4)
    assert e["accuracy"]["value"] == pytest.approx(4 / 6)
    assert (e["sensitivity"]["k"], e["sensitivity"]["n"]) == (2, 3)
    assert (e["specificity"]["k"], e["specificity"]["n"]) == (2, 3)
    assert w["accuracy"]["ci_low"] == pytest.approx(0.2152, abs=1e-4)


def test_rating_auc_hand_values() -> None:
    # synthetic: conf-5 synthetic (+5), unsure (0); real: conf-4 real (-4), conf-2 synthetic (+2)
    syn = [rating_score("synthetic", 5), rating_score("unsure", None)]
    real = [rating_score("real", 4), rating_score("synthetic", 2)]
    assert syn == [5.0, 0.0] and real == [-4.0, 2.0]
    auc = rating_auc(syn, real)
    # pairs won: (5,-4) (5,2) (0,-4); lost: (0,2) -> 3/4
    assert auc["value"] == 0.75
    # Hanley-McNeil: Q1 = 0.6, Q2 = 9/14; var = (0.1875 + 0.0375 + 0.0803571) / 4
    se = math.sqrt((0.1875 + (0.6 - 0.5625) + (9 / 14 - 0.5625)) / 4)
    assert auc["ci_low"] == pytest.approx(0.75 - 1.959964 * se, abs=1e-5)
    assert auc["ci_high"] == 1.0
    assert rating_auc([1.0, 1.0], [1.0])["value"] == 0.5  # ties: chance
    assert rating_score("real", None) == -3.0
    assert math.isnan(rating_auc([], [1.0])["value"])


def _answer_all(study) -> dict[str, list[str]]:
    """alice: all right except one real case 'unsure'; bob: everything 'synthetic', one missing."""
    key = load_key(study.study_dir)
    syn = [c for c in study.case_ids if key[c]["truth"] == "synthetic"]
    real = [c for c in study.case_ids if key[c]["truth"] == "real"]
    assert len(syn) == 3 and len(real) == 3
    db = StudyPaths(study.study_dir).db
    with store.connect(db) as conn:
        alice = store.get_reader(conn, "alice")
        bob = store.get_reader(conn, "bob")
        for c, secs in zip(syn, (10.0, 40.0, 20.0), strict=True):
            store.save_answer(conn, alice, c, "synthetic", confidence=4, seconds=secs)
            store.save_answer(conn, bob, c, "synthetic")
        store.save_answer(conn, alice, real[0], "real")
        store.save_answer(conn, alice, real[1], "real")
        store.save_answer(conn, alice, real[2], "unsure", comment="hard")
        store.save_answer(conn, bob, real[0], "synthetic", confidence=2)
        store.save_answer(conn, bob, real[1], "synthetic")
    return {"syn": syn, "real": real}


def test_report_of_a_study(fresh_study, tmp_path) -> None:
    groups = _answer_all(fresh_study)
    rep = compute_report(fresh_study.study_dir)
    assert (rep["n_cases"], rep["n_real"], rep["n_synthetic"]) == (6, 3, 3)
    a, b = rep["readers"]["alice"], rep["readers"]["bob"]
    assert (a["tp"], a["fn"], a["tn"], a["fp"], a["unsure"], a["missing"]) == (3, 0, 2, 0, 1, 0)
    assert a["unsure_wrong"]["accuracy"]["value"] == pytest.approx(5 / 6)
    assert a["unsure_wrong"]["specificity"]["value"] == pytest.approx(2 / 3)
    assert a["unsure_excluded"]["accuracy"]["value"] == 1.0
    assert a["unsure_excluded"]["specificity"]["n"] == 2
    assert (b["tp"], b["fp"], b["tn"], b["answered"], b["missing"]) == (3, 2, 0, 5, 1)
    assert b["unsure_wrong"]["accuracy"]["value"] == pytest.approx(0.6)
    assert b["unsure_wrong"]["sensitivity"]["value"] == 1.0
    assert b["unsure_wrong"]["specificity"]["value"] == 0.0
    assert a["median_seconds"] == 20.0 and math.isnan(b["median_seconds"])
    assert a["mean_confidence_correct"] == 4.0 and math.isnan(a["mean_confidence_wrong"])
    assert b["mean_confidence_wrong"] == 2.0
    # alice: synthetic +4 +4 +4 vs real -3 -3 0: every pair won;
    # bob: synthetic +3 +3 +3 vs real +2 +3: 3 pairs won, 3 tied, of 6
    assert a["auc"]["value"] == 1.0
    assert b["auc"]["value"] == pytest.approx((3 * 1 + 3 * 0.5) / 6)
    pooled = rep["pooled"]
    assert pooled["unsure_wrong"]["accuracy"]["k"] == 8 and pooled["unsure_wrong"]["accuracy"]["n"] == 11
    (pair,) = rep["pairs"]
    # common: 3 synthetic (both 'synthetic') + 2 real (alice real, bob synthetic):
    # po = 3/5, pe = (3/5)(5/5) = 3/5 -> kappa 0
    assert (pair["n_common"], pair["n_decided"]) == (5, 5)
    assert pair["agreement"] == pytest.approx(0.6)
    assert pair["kappa"] == pytest.approx(0.0) and pair["kappa_decided"] == pytest.approx(0.0)
    by_id = {c["case_id"]: c for c in rep["cases"]}
    assert by_id[groups["real"][2]]["said_unsure"] == 1 and by_id[groups["real"][2]]["n_answers"] == 1
    assert by_id[groups["syn"][0]]["fraction_correct"] == 1.0

    out = tmp_path / "report"
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    written = write_report(fresh_study.study_dir, out, chart=has_mpl)
    assert set(written) == {"markdown", "readers_csv", "pairs_csv", "cases_csv", "json"} | (
        {"chart"} if has_mpl else set())
    md = written["markdown"].read_text()
    assert "83.3% (5/6;" in md and "60.0% (3/5;" in md and "| alice | 20 s | 4.0 | n/a | 1.000 (" in md
    rows = list(csv.DictReader(written["readers_csv"].open()))
    alice_wrong = next(r for r in rows if r["reader"] == "alice" and r["mode"] == "unsure_wrong")
    assert float(alice_wrong["accuracy"]) == pytest.approx(5 / 6, abs=1e-6)
    lo, hi = wilson_interval(5, 6)
    assert float(alice_wrong["accuracy_ci_low"]) == pytest.approx(lo, abs=1e-6)
    assert float(alice_wrong["accuracy_ci_high"]) == pytest.approx(hi, abs=1e-6)
    pairs = list(csv.DictReader(written["pairs_csv"].open()))
    assert float(pairs[0]["kappa"]) == pytest.approx(0.0)
    data = json.loads(written["json"].read_text())
    assert data["readers"]["bob"]["unsure_wrong"]["specificity"]["value"] == 0.0
    if has_mpl:
        png = written["chart"].read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    with pytest.raises(OutputExistsError):
        write_report(fresh_study.study_dir, out)
    write_report(fresh_study.study_dir, out, overwrite=True, chart=False)


def test_report_without_answers(fresh_study, tmp_path) -> None:
    rep = compute_report(fresh_study.study_dir)
    assert rep["readers"]["alice"]["answered"] == 0
    assert math.isnan(rep["readers"]["alice"]["unsure_wrong"]["accuracy"]["value"])
    assert math.isnan(rep["pairs"][0]["kappa"])
    written = write_report(fresh_study.study_dir, tmp_path / "r", chart=False)
    assert "n/a" in written["markdown"].read_text()
    assert json.loads(written["json"].read_text())["pairs"][0]["kappa"] is None
