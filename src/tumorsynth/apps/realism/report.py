"""The realism report: find the cases of two sets, measure their lesions, compare, write it down.

Cases are found with :func:`tumorsynth.io.cases.discover_cases` (LiTS, MSD, BTCV, TotalSegmentator,
pairs, CSV lists) and in the output layout of ``tumorsynth synth`` / ``batch``: folders holding
``ct.nii.gz`` and ``label.nii.gz`` (0 background, 1 liver, 2 tumor), tried first.

Outputs (written into a temporary folder, renamed to ``out_dir`` when complete):
``realism.json`` (settings, versions, every lesion's features, the comparison), ``realism.md``
(the table), ``features.csv`` (one row per lesion) and ``histograms.png`` (one panel per feature,
real and synthetic overlaid).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.apps.realism.appearance import describe_definitions
from tumorsynth.apps.realism.compare import COMPARED, compare_features
from tumorsynth.apps.realism.features import (
    DEFAULT_MIN_VOLUME_MM3,
    FEATURE_KEYS,
    RealismCase,
    collect_features,
)
from tumorsynth.apps.realism.geometry import require_skimage
from tumorsynth.errors import InputError, OptionError, OutputError, OutputExistsError
from tumorsynth.io.cases import _find as find_nifti

__all__ = ["find_realism_cases", "format_table", "realism_report"]

log = logging.getLogger(__name__)

def _synth_layout(root: Path, tumor_label: int) -> list[RealismCase]:
    out = []
    for lab in sorted(root.rglob("label.nii*")):
        if not re.fullmatch(r"label\.nii(\.gz)?", lab.name) or lab.parent.name.startswith("."):
            continue
        ct = find_nifti(lab.parent, "ct")
        if ct is not None:
            name = lab.parent.name if lab.parent != root else root.name
            out.append(RealismCase(name, ct, lab, (1,), tumor_label))
    return out


def find_realism_cases(source: str | os.PathLike[str], *, tumor_label: int = 2,
                       liver_labels: Sequence[int] | None = None) -> list[RealismCase]:
    """The labelled cases of a folder or CSV list (see the module docstring for the layouts).

    ``liver_labels`` overrides the layout's liver values (LiTS/MSD/synth: 1). Raises
    :class:`InputError` for a missing or empty folder.
    """
    from tumorsynth.io.cases import discover_cases

    path = Path(source)
    if path.is_dir():
        found = _synth_layout(path, tumor_label)
        if found:
            if liver_labels is not None:
                found = [RealismCase(c.name, c.image, c.label, tuple(liver_labels), tumor_label) for c in found]
            return found
        if not any(path.iterdir()):
            raise InputError(f"{path}: the folder is empty; give a folder of labelled CTs "
                             "(e.g. LiTS volume-N/segmentation-N, or tumorsynth batch output)")
    cases = discover_cases(path)
    out = []
    for c in cases:
        liver = tuple(liver_labels) if liver_labels is not None else c.liver_label or (1,)
        out.append(RealismCase(c.name, c.image, c.mask, liver, c.tumor_label or tumor_label))
    return out


def _fmt(v: float, key: str) -> str:
    if not math.isfinite(v):
        return "-"
    if key == "volume_mm3":
        return f"{v:.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def format_table(comparison: Mapping[str, Any]) -> str:
    """The comparison as a Markdown table: feature, real median [IQR], synthetic median [IQR], W/IQR, KS."""
    feats = comparison["features"]
    both = "synthetic" in comparison["n_lesions"]
    head = "| feature | real median [25-75 %] | n |"
    rule = "| --- | --- | --- |"
    if both:
        head += " synthetic median [25-75 %] | n | W/IQR | KS |"
        rule += " --- | --- | --- | --- |"
    lines = [head, rule]
    for key in COMPARED:
        e = feats[key]
        name = key + (" *" if e.get("in_gap") else "")
        r = e["real"]
        row = f"| {name} | {_fmt(r['median'], key)} [{_fmt(r['q25'], key)}, {_fmt(r['q75'], key)}] | {r['n']} |"
        if both:
            s = e["synthetic"]
            row += (f" {_fmt(s['median'], key)} [{_fmt(s['q25'], key)}, {_fmt(s['q75'], key)}] | {s['n']} |"
                    f" {_fmt(e['w_over_iqr'], '')} | {_fmt(e['ks'], '')} |")
        lines.append(row)
    n = comparison["n_lesions"]
    text = "\n".join(lines) + "\n"
    if both:
        text += (f"\ngap (mean W/IQR over the features marked *): {_fmt(comparison['gap'], '')} "
                 f"(shape {_fmt(comparison['gap_shape'], '')}, appearance "
                 f"{_fmt(comparison['gap_appearance'], '')}); lesions: {n['real']} real, {n['synthetic']} synthetic\n")
    else:
        text += f"\nlesions: {n['real']}\n"
    return text


def _csv_text(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["set", "case", "lesion", "centroid_i", "centroid_j", "centroid_k", "voxels", *FEATURE_KEYS])
    for which, f in rows:
        c = f.get("centroid_vox", [math.nan] * 3)
        w.writerow([which, f.get("case", ""), f.get("lesion", ""), *c, f.get("voxels", ""),
                    *(f"{float(f.get(k, math.nan)):.6g}" for k in FEATURE_KEYS)])
    return buf.getvalue()


def _histograms(path: Path, real: Sequence[Mapping[str, Any]],
                synthetic: Sequence[Mapping[str, Any]] | None) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = list(COMPARED)
    cols = 3
    rows = int(math.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys, strict=False):
        sets = [("real", real, "tab:blue")] + ([("synthetic", synthetic, "tab:orange")] if synthetic else [])
        vals = [np.array([float(f.get(key, math.nan)) for f in s]) for _, s, _ in sets]
        vals = [v[np.isfinite(v)] for v in vals]
        allv = np.concatenate(vals) if vals else np.array([])
        if key == "volume_mm3":
            vals = [np.log10(v[v > 0]) for v in vals]
            allv = np.log10(allv[allv > 0])
            key = "log10 volume (mm^3)"
        if allv.size:
            lo, hi = np.percentile(allv, [1, 99]) if allv.size > 10 else (allv.min(), allv.max())
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 25)
            for (label, _, color), v in zip(sets, vals, strict=True):
                if v.size:
                    ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, density=True, alpha=0.5,
                            color=color, label=f"{label} (n={v.size})")
            ax.legend(fontsize=7)
        ax.set_title(key, fontsize=9)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _versions() -> dict[str, str]:
    import scipy
    import skimage

    from tumorsynth._version import __version__

    return {"tumorsynth": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-image": str(getattr(skimage, "__version__", "unknown")), "python": platform.python_version()}


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    return x


def _measure(source: str | os.PathLike[str], which: str, *, tumor_label: int,
             liver_labels: Sequence[int] | None, min_volume_mm3: float, iso_mm: float,
             progress: bool) -> list[dict[str, Any]]:
    cases = find_realism_cases(source, tumor_label=tumor_label, liver_labels=liver_labels)
    found = collect_features(cases, min_volume_mm3=min_volume_mm3, iso_mm=iso_mm, progress=progress,
                             desc=which)
    if not found:
        raise InputError(f"{source}: no lesion found in the {which} set ({len(cases)} case(s), label "
                         f"{tumor_label}, at least {min_volume_mm3:g} mm^3); check --tumor-label "
                         "or lower --min-volume-mm3")
    return found


def realism_report(
    real: str | os.PathLike[str],
    synthetic: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    min_volume_mm3: float = DEFAULT_MIN_VOLUME_MM3,
    tumor_label: int = 2,
    liver_labels: Sequence[int] | None = None,
    iso_mm: float = 1.0,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure the lesions of a real and a synthetic set, compare them and write the report.

    Args:
        real: folder or CSV list of labelled CTs with real lesions (e.g. LiTS).
        synthetic: the same for synthetic lesions (e.g. ``tumorsynth batch`` output); None only
            describes ``real``.
        out_dir: folder to write (``realism.json``, ``realism.md``, ``features.csv``,
            ``histograms.png``); None writes nothing.
        min_volume_mm3: smaller lesions are ignored.
        tumor_label: label value of lesions.
        liver_labels: override the layouts' liver label values.
        iso_mm: grid step of the appearance features.
        overwrite: replace an existing ``out_dir``.
        progress: show a progress bar (tqdm).

    Returns:
        The comparison (:func:`~tumorsynth.apps.realism.compare_features`), with ``table`` (the
        Markdown table) added.
    """
    require_skimage()
    if not (min_volume_mm3 >= 0 and math.isfinite(min_volume_mm3)):
        raise OptionError(f"min_volume_mm3 must be a number >= 0, got {min_volume_mm3!r}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: output folder exists; choose another -o or pass --overwrite")
    opts = {"tumor_label": tumor_label, "liver_labels": liver_labels, "min_volume_mm3": min_volume_mm3,
            "iso_mm": iso_mm, "progress": progress}
    real_f = _measure(real, "real", **opts)  # type: ignore[arg-type]
    syn_f = _measure(synthetic, "synthetic", **opts) if synthetic is not None else None  # type: ignore[arg-type]
    comparison = compare_features(real_f, syn_f)
    comparison["table"] = format_table(comparison)
    if out is not None:
        settings = {"real": str(real), "synthetic": None if synthetic is None else str(synthetic),
                    "tumor_label": tumor_label, "liver_labels": None if liver_labels is None else list(liver_labels),
                    "min_volume_mm3": min_volume_mm3, "iso_mm": iso_mm, "definitions": describe_definitions()}
        _write(out, overwrite, settings, real_f, syn_f, comparison)
    return comparison


def _write(out: Path, overwrite: bool, settings: dict[str, Any], real_f: list[dict[str, Any]],
           syn_f: list[dict[str, Any]] | None, comparison: dict[str, Any]) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror or exc}); choose a writable -o") from None
    try:
        doc = {"settings": settings, "versions": _versions(),
               "comparison": {k: v for k, v in comparison.items() if k != "table"},
               "lesions": {"real": real_f, "synthetic": syn_f or []}}
        (tmp / "realism.json").write_text(json.dumps(_jsonable(doc), indent=1), encoding="utf-8")
        (tmp / "realism.md").write_text("# Realism report\n\n" + comparison["table"], encoding="utf-8")
        rows = [("real", f) for f in real_f] + [("synthetic", f) for f in syn_f or []]
        (tmp / "features.csv").write_text(_csv_text(rows), encoding="utf-8")
        try:
            _histograms(tmp / "histograms.png", real_f, syn_f)
        except ModuleNotFoundError:
            log.warning("matplotlib is not installed; histograms.png skipped (pip install 'tumorsynth[realism]')")
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
