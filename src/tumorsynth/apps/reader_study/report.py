"""Report of a reader study: how well readers tell synthetic tumors from real ones.

:func:`compute_report` gathers a study's answers into per-reader, pooled, per-pair and
per-case numbers; :func:`write_report` writes them as Markdown, CSV, JSON and a chart. The
statistics themselves (metrics, Wilson intervals, Cohen's kappa, AUC) live in
:mod:`tumorsynth.apps.reader_study.stats` (with examples) and are re-exported here.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tumorsynth.apps.reader_study import store
from tumorsynth.apps.reader_study.layout import StudyPaths, load_key, load_manifest
from tumorsynth.apps.reader_study.stats import (
    MODES,
    NAN,
    cohen_kappa,
    rating_auc,
    rating_score,
    reader_metrics,
    wilson_interval,
)
from tumorsynth.apps.reader_study.stats import Z95 as Z95  # re-exported
from tumorsynth.errors import OptionError, OutputExistsError

__all__ = [
    "MODES",
    "cohen_kappa",
    "compute_report",
    "rating_auc",
    "rating_score",
    "reader_metrics",
    "wilson_interval",
    "write_report",
]


def _habits(answers: Sequence[store.Answer], truth: Mapping[str, str]) -> dict[str, Any]:
    """Reading time and confidence of one reader (``nan`` when not recorded)."""
    secs = sorted(a.seconds for a in answers if a.seconds is not None)
    conf_right = [a.confidence for a in answers if a.confidence is not None and a.answer == truth[a.case_id]]
    conf_wrong = [a.confidence for a in answers
                  if a.confidence is not None and a.answer != "unsure" and a.answer != truth[a.case_id]]
    median = NAN
    if secs:
        mid = len(secs) // 2
        median = float(secs[mid]) if len(secs) % 2 else (secs[mid - 1] + secs[mid]) / 2
    auc = rating_auc([rating_score(a.answer, a.confidence) for a in answers if truth[a.case_id] == "synthetic"],
                     [rating_score(a.answer, a.confidence) for a in answers if truth[a.case_id] == "real"])
    return {
        "auc": auc,
        "median_seconds": median,
        "mean_confidence_correct": (sum(conf_right) / len(conf_right)) if conf_right else NAN,
        "mean_confidence_wrong": (sum(conf_wrong) / len(conf_wrong)) if conf_wrong else NAN,
    }


def compute_report(study_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """All numbers of the report of a study, as plain data (JSON-able except NaN)."""
    paths = StudyPaths(Path(study_dir))
    manifest = load_manifest(paths.root)
    key = load_key(paths.root)
    order = [c["id"] for c in manifest["cases"]]
    truth = {cid: key[cid]["truth"] for cid in order}
    answers_by_reader: dict[str, dict[str, str]] = {name: {} for name in store.reader_names(paths.db)}
    details: dict[str, list[store.Answer]] = {name: [] for name in answers_by_reader}
    for a in store.all_answers(paths.db):
        answers_by_reader.setdefault(a.reader, {})[a.case_id] = a.answer
        details.setdefault(a.reader, []).append(a)
    readers = {name: reader_metrics(truth, ans, len(order)) for name, ans in sorted(answers_by_reader.items())}
    for name, m in readers.items():
        m.update(_habits(details[name], truth))
    pooled_answers = {f"{r}/{cid}": a for r, ans in answers_by_reader.items() for cid, a in ans.items()}
    pooled_truth = {f"{r}/{cid}": truth[cid] for r, ans in answers_by_reader.items() for cid in ans}
    pooled = reader_metrics(pooled_truth, pooled_answers, len(pooled_answers))
    pairs = []
    for r1, r2 in itertools.combinations(sorted(answers_by_reader), 2):
        a1, a2 = answers_by_reader[r1], answers_by_reader[r2]
        common = [cid for cid in order if cid in a1 and cid in a2]
        decided = [cid for cid in common if a1[cid] != "unsure" and a2[cid] != "unsure"]
        pairs.append({
            "reader_a": r1, "reader_b": r2,
            "n_common": len(common),
            "agreement": (sum(a1[c] == a2[c] for c in common) / len(common)) if common else NAN,
            "kappa": cohen_kappa([a1[c] for c in common], [a2[c] for c in common], store.ANSWERS),
            "n_decided": len(decided),
            "kappa_decided": cohen_kappa([a1[c] for c in decided], [a2[c] for c in decided],
                                         ("real", "synthetic")),
        })
    cases = []
    for number, cid in enumerate(order, start=1):
        given = [ans[cid] for ans in answers_by_reader.values() if cid in ans]
        n_correct = sum(g == truth[cid] for g in given)
        cases.append({
            "number": number, "case_id": cid, "truth": truth[cid],
            "origin": key[cid].get("origin", ""),
            "n_answers": len(given),
            "said_real": given.count("real"), "said_synthetic": given.count("synthetic"),
            "said_unsure": given.count("unsure"),
            "fraction_correct": (n_correct / len(given)) if given else NAN,
        })
    n_real = sum(t == "real" for t in truth.values())
    return {
        "title": manifest.get("title", "Reader study"),
        "n_cases": len(order), "n_real": n_real, "n_synthetic": len(order) - n_real,
        "positive_class": "synthetic",
        "readers": readers, "pooled": pooled, "pairs": pairs, "cases": cases,
    }


# ------------------------------------------------------------------------------------------
# Writing


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _prop_md(p: Mapping[str, Any]) -> str:
    if not p["n"]:
        return "n/a (0 cases)"
    return f"{_pct(p['value'])} ({p['k']}/{p['n']}; {_pct(p['ci_low'])}–{_pct(p['ci_high'])})"


def _markdown(rep: Mapping[str, Any]) -> str:
    lines = [
        f"# {rep['title']}: Visual Turing Test report",
        "",
        f"{rep['n_cases']} cases ({rep['n_real']} real tumors, {rep['n_synthetic']} synthetic), "
        f"{len(rep['readers'])} readers. Positive class: synthetic. Values: percentage "
        "(cases; Wilson 95% confidence interval). Chance level is about 50%; the lower a "
        "reader's accuracy, the harder the synthetic tumors were to tell from real ones.",
        "",
        "## Answers",
        "",
        "| reader | answered | missing | unsure | TP | FN | TN | FP | unsure on synthetic | unsure on real |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in rep["readers"].items():
        lines.append(
            f"| {name} | {m['answered']} | {m['missing']} | {m['unsure']} | {m['tp']} | {m['fn']} | "
            f"{m['tn']} | {m['fp']} | {m['unsure_synthetic']} | {m['unsure_real']} |"
        )
    lines += ["", "## Confidence and reading time", "",
              "AUC: area under the ROC curve of each reader's rating, where 'synthetic' with "
              "confidence c scores +c, 'real' -c, 'unsure' 0 (no confidence given: 3); 0.5 is "
              "chance. 95% interval after Hanley and McNeil.", "",
              "| reader | median time per case | mean confidence when right | when wrong | AUC (95% CI) |",
              "| --- | --- | --- | --- | --- |"]
    for name, m in rep["readers"].items():
        secs = "n/a" if math.isnan(m["median_seconds"]) else f"{m['median_seconds']:.0f} s"
        auc = m["auc"]
        auc_text = ("n/a" if math.isnan(auc["value"]) else
                    f"{auc['value']:.3f} ({auc['ci_low']:.3f}–{auc['ci_high']:.3f})")
        lines.append(f"| {name} | {secs} | {_num(m['mean_confidence_correct'], 1)} | "
                     f"{_num(m['mean_confidence_wrong'], 1)} | {auc_text} |")
    titles = {"unsure_wrong": "Unsure counted as wrong", "unsure_excluded": "Unsure answers excluded"}
    for mode in MODES:
        lines += ["", f"## {titles[mode]}", "",
                  "| reader | accuracy | sensitivity (synthetic found) | specificity (real kept) |",
                  "| --- | --- | --- | --- |"]
        rows = [*list(rep["readers"].items()), ("all readers (pooled)", rep["pooled"])]
        for name, m in rows:
            d = m[mode]
            lines.append(f"| {name} | {_prop_md(d['accuracy'])} | {_prop_md(d['sensitivity'])} | "
                         f"{_prop_md(d['specificity'])} |")
    lines += ["", "The pooled row treats every answer as independent, so its interval is too narrow "
              "when readers differ; read it as a summary, and the per-reader rows as the result."]
    lines += ["", "## Agreement between readers (Cohen's kappa)", ""]
    if rep["pairs"]:
        lines += ["| reader A | reader B | cases both answered | raw agreement | kappa (3 answers) | "
                  "cases both decided | kappa (real/synthetic only) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for p in rep["pairs"]:
            lines.append(f"| {p['reader_a']} | {p['reader_b']} | {p['n_common']} | {_pct(p['agreement'])} | "
                         f"{_num(p['kappa'])} | {p['n_decided']} | {_num(p['kappa_decided'])} |")
    else:
        lines.append("Fewer than two readers: no agreement to compute.")
    lines += ["", "## Cases", "",
              "| # | case | truth | answers | said real | said synthetic | unsure | correct |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in rep["cases"]:
        lines.append(f"| {c['number']} | {c['case_id']} | {c['truth']} | {c['n_answers']} | {c['said_real']} | "
                     f"{c['said_synthetic']} | {c['said_unsure']} | {_pct(c['fraction_correct'])} |")
    lines += ["", "For comparison, the paper (Hu et al., CVPR 2023) reports 26.5% accuracy for a senior "
              "and 71.0% for a junior professional on 50 CTs.", ""]
    return "\n".join(lines)


def _csv(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                        (round(v, 6) if isinstance(v, float) else v)) for k, v in r.items()})
    return buf.getvalue()


def _reader_rows(rep: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, m in [*list(rep["readers"].items()), ("ALL (pooled)", rep["pooled"])]:
        for mode in MODES:
            row: dict[str, Any] = {"reader": name, "mode": mode}
            for k in ("answered", "missing", "unsure", "tp", "fn", "tn", "fp", "unsure_synthetic", "unsure_real",
                      "median_seconds", "mean_confidence_correct", "mean_confidence_wrong"):
                row[k] = m.get(k, NAN)
            row["auc"] = m.get("auc", {}).get("value", NAN)
            row["auc_ci_low"] = m.get("auc", {}).get("ci_low", NAN)
            row["auc_ci_high"] = m.get("auc", {}).get("ci_high", NAN)
            for metric in ("accuracy", "sensitivity", "specificity"):
                d = m[mode][metric]
                row.update({f"{metric}": d["value"], f"{metric}_k": d["k"], f"{metric}_n": d["n"],
                            f"{metric}_ci_low": d["ci_low"], f"{metric}_ci_high": d["ci_high"]})
            rows.append(row)
    return rows


def _chart(rep: Mapping[str, Any], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise OptionError(
            "the report chart needs matplotlib: pip install 'tumorsynth[reader]', or add --no-chart"
        ) from None

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from tumorsynth.io import atomic_path

    names = [*list(rep["readers"]), "pooled"]
    ms = [*list(rep["readers"].values()), rep["pooled"]]
    metrics = ("accuracy", "sensitivity", "specificity")
    colors = ("#4c72b0", "#8172b2", "#55a868")
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.6 * len(names) * 2), 4.2), sharey=True)
    titles = {"unsure_wrong": "unsure counted as wrong", "unsure_excluded": "unsure excluded"}
    width = 0.8 / len(metrics)
    for ax, mode in zip(axes, MODES, strict=True):
        for j, (metric, color) in enumerate(zip(metrics, colors, strict=True)):
            xs, ys, lo, hi = [], [], [], []
            for i, m in enumerate(ms):
                d = m[mode][metric]
                if not d["n"]:
                    continue
                xs.append(i + (j - 1) * width)
                ys.append(100 * d["value"])
                lo.append(100 * (d["value"] - d["ci_low"]))
                hi.append(100 * (d["ci_high"] - d["value"]))
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=color,
                   label=metric if mode == MODES[0] else None)
        ax.axhline(50, color="grey", lw=1, ls="--")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20 if len(names) > 4 else 0)
        ax.set_ylim(0, 105)
        ax.set_title(titles[mode])
    axes[0].set_ylabel("% (95% Wilson CI); positive = synthetic")
    fig.legend(loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"{rep['title']}: {rep['n_real']} real, {rep['n_synthetic']} synthetic cases")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


def write_report(
    study_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    chart: bool = True,
) -> dict[str, Path]:
    """Compute the report and write ``report.md``, ``readers.csv``, ``pairs.csv``,
    ``cases.csv``, ``report.json`` and (with matplotlib) ``chart.png`` into ``out_dir``.

    Returns the written files by kind.
    """
    from tumorsynth.io import write_text_atomic

    out = Path(out_dir)
    written = {"markdown": out / "report.md", "readers_csv": out / "readers.csv",
               "pairs_csv": out / "pairs.csv", "cases_csv": out / "cases.csv",
               "json": out / "report.json"}
    if chart:
        written["chart"] = out / "chart.png"
    if not overwrite:
        clash = [p for p in written.values() if p.exists()]
        if clash:
            raise OutputExistsError(f"{clash[0]}: exists; choose another folder or add --overwrite")
    if chart:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise OptionError(
                "the report chart needs matplotlib: pip install 'tumorsynth[reader]', or add --no-chart"
            )
    rep = compute_report(study_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(written["markdown"], _markdown(rep))
    reader_fields = list(_reader_rows(rep)[0]) if rep["readers"] or rep["pooled"] else ["reader"]
    write_text_atomic(written["readers_csv"], _csv(_reader_rows(rep), reader_fields))
    write_text_atomic(written["pairs_csv"], _csv(rep["pairs"], ["reader_a", "reader_b", "n_common", "agreement",
                                                                 "kappa", "n_decided", "kappa_decided"]))
    write_text_atomic(written["cases_csv"], _csv(rep["cases"], ["number", "case_id", "truth", "origin",
                                                                 "n_answers", "said_real", "said_synthetic",
                                                                 "said_unsure", "fraction_correct"]))
    write_text_atomic(written["json"], json.dumps(_json_safe(rep), indent=2) + "\n")
    if chart:
        _chart(rep, written["chart"])
    return written
