"""Build a blinded reader study (Visual Turing Test) from real and synthetic tumor cases.

The study mixes CTs with real liver tumors and CTs with synthetic ones, shuffles them with a
seed, gives each an opaque id and writes volumes that carry nothing but voxels and spacing:
no file name, no header description, no label, no orientation quirk of the source dataset, no
timestamp order. The truth of every case is kept apart, under ``owner/`` (see
:mod:`tumorsynth.apps.reader_study.layout`).

Example:
    >>> from tumorsynth.apps.reader_study import build_study
    >>> result = build_study("study", real="lits_cases.csv", healthy="btcv_cases.csv",
    ...                      preset="mix", seed=7, readers=["alice", "bob"])  # doctest: +SKIP
    >>> result.tokens["alice"]  # doctest: +SKIP
    'q2b...'
"""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tumorsynth.apps.reader_study import store
from tumorsynth.apps.reader_study.blinding import FIXED_MTIME as FIXED_MTIME  # re-exported
from tumorsynth.apps.reader_study.blinding import _crop_box, to_ras, write_blinded_nifti
from tumorsynth.apps.reader_study.blinding import blinded_affine as blinded_affine  # re-exported
from tumorsynth.apps.reader_study.inputs import _NIFTI_RE as _NIFTI_RE  # re-exported
from tumorsynth.apps.reader_study.inputs import (
    CaseInput,
    _Entry,
    _load_given,
    _load_real,
    _load_synthesized,
    _select,
    find_cases,
)
from tumorsynth.apps.reader_study.inputs import _read_case_list as _read_case_list  # re-exported
from tumorsynth.apps.reader_study.layout import FORMAT_NAME, FORMAT_VERSION, StudyPaths
from tumorsynth.errors import InputError, OptionError, OutputExistsError

__all__ = [
    "DEFAULT_WINDOWS",
    "BuildResult",
    "CaseInput",
    "build_study",
    "find_cases",
    "write_blinded_nifti",
]

log = logging.getLogger(__name__)

#: Window/level presets offered by the viewer; the first is the default.
DEFAULT_WINDOWS: tuple[dict[str, Any], ...] = (
    {"name": "Abdomen", "width": 400, "level": 50},
    {"name": "Liver", "width": 150, "level": 30},
    {"name": "Wide", "width": 1000, "level": 0},
    {"name": "Bone", "width": 1800, "level": 400},
)


@dataclass
class BuildResult:
    """What :func:`build_study` made."""

    study_dir: Path
    case_ids: list[str]
    n_real: int
    n_synthetic: int
    seed: int
    owner_token: str
    tokens: dict[str, str] = field(default_factory=dict)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("tumorsynth", "numpy", "nibabel", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _prepare_output(out: Path, overwrite: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise OutputExistsError(f"{out}: exists; choose another folder or add --overwrite")
        db = StudyPaths(out).db
        if db.is_file():
            with store.connect(db) as conn:
                n = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            if n:
                raise OutputExistsError(
                    f"{out}: holds a study with {n} saved answers; --overwrite will not destroy "
                    "them; move or delete the folder yourself"
                )


def build_study(
    out_dir: str | os.PathLike[str],
    *,
    real: str | os.PathLike[str] | Sequence[CaseInput],
    healthy: str | os.PathLike[str] | Sequence[CaseInput] | None = None,
    synthetic: str | os.PathLike[str] | Sequence[CaseInput] | None = None,
    preset: str = "mix",
    seed: int | None = None,
    readers: Sequence[str] = (),
    reader_order: str = "same",
    n_real: int | None = None,
    n_synthetic: int | None = None,
    real_tumor_label: int | None = None,
    healthy_liver_label: int | None = None,
    crop_margin_mm: float | None = None,
    title: str = "Liver CT reader study",
    overwrite: bool = False,
    synthesize: Callable[..., Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildResult:
    """Build a blinded reader study in ``out_dir``.

    Args:
        out_dir: the study folder to create (refused if it exists, unless ``overwrite``; a
            study that already holds answers is never overwritten).
        real: cases with real tumors (CT and label, tumor = ``real_tumor_label``); a folder,
            a list file or a list of :class:`CaseInput` (see :func:`find_cases`).
        healthy: healthy CTs with liver masks; each gets synthetic tumors drawn on the spot
            with ``preset`` and a seed derived from ``seed``.
        synthetic: CTs that already have synthetic tumors (label optional).
        preset: tumor preset for ``healthy`` cases.
        seed: makes the selection, the shuffle, the case ids and the synthesis reproducible;
            drawn at random (and recorded) when None.
        readers: names of readers to create now (tokens returned, shown once).
        reader_order: ``"same"`` study order for all readers, or ``"shuffled"`` per reader.
        n_real, n_synthetic: use only this many real / synthetic cases, chosen with the seed.
        real_tumor_label: tumor value in the real cases' labels (None: the dataset layout's,
            else 2 as in LiTS and MSD).
        healthy_liver_label: liver value in the healthy cases' masks (None: the dataset
            layout's, e.g. 6 for BTCV, else any non-zero voxel).
        crop_margin_mm: crop every case to its liver plus this margin (all cases then need a
            liver mask or label); None keeps the whole field of view.
        title: shown on the reader page.
        overwrite: replace an existing folder that holds no answers.
        synthesize: the generator (default :func:`tumorsynth.synthesize_case`).
        progress: called as ``progress(done, total)`` after each case (for a progress line).

    Returns:
        A :class:`BuildResult` with the case ids in study order, counts and the tokens.
    """
    out = Path(out_dir)
    _prepare_output(out, overwrite)
    if reader_order not in ("same", "shuffled"):
        raise OptionError(f"reader order {reader_order!r} is invalid; use 'same' or 'shuffled'")
    if crop_margin_mm is not None and not (crop_margin_mm >= 0):
        raise OptionError(f"crop margin {crop_margin_mm} mm is invalid; use a number >= 0")
    for name in readers:
        store._validate_name(name)
    if len(set(readers)) != len(readers) or "owner" in readers:
        raise OptionError("reader names must be unique and not 'owner'")
    if seed is None:
        seed = secrets.randbits(32)
        log.info("no seed given; using seed %d (recorded in owner/build.json)", seed)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError(f"seed {seed!r} is invalid; use an integer >= 0")
    seed = int(seed)

    def cases_of(spec: Any, kind: str) -> list[CaseInput]:
        if spec is None:
            return []
        if isinstance(spec, (str, os.PathLike)):
            return find_cases(spec, kind=kind)
        return list(spec)

    real_cases = cases_of(real, "real")
    healthy_cases = cases_of(healthy, "healthy")
    given_cases = cases_of(synthetic, "synthetic")
    if healthy_cases and synthesize is None:
        from tumorsynth import synthesize_case as synthesize

        if preset != "any":
            from tumorsynth.generator.presets import get_preset

            get_preset(preset)  # a bad name fails now, not after minutes of work
    seen: dict[Path, str] = {}
    for kind, group in (("real", real_cases), ("healthy", healthy_cases), ("synthetic", given_cases)):
        for c in group:
            resolved = Path(c.ct).resolve()
            where = seen.get(resolved)
            seen[resolved] = kind
            if where is not None:
                raise InputError(
                    f"{c.ct}: given twice (as {where} and as {kind}); a reader would see the same "
                    "scan twice; remove one"
                )

    rng = np.random.default_rng(seed)
    entries_real = _select([_Entry("real", "real", c) for c in real_cases], n_real, rng, "real")
    pool = [_Entry("synthetic", "synthesized", c) for c in healthy_cases] + [
        _Entry("synthetic", "given", c) for c in given_cases
    ]
    entries_syn = _select(pool, n_synthetic, rng, "synthetic")
    if not entries_real or not entries_syn:
        raise OptionError(
            f"a study needs real and synthetic cases; got {len(entries_real)} real and "
            f"{len(entries_syn)} synthetic; give --real and --healthy (or --synthetic)"
        )
    synth_seeds = np.random.SeedSequence(seed).generate_state(len(entries_syn), dtype=np.uint32)
    for e, s in zip(entries_syn, synth_seeds, strict=True):
        if e.origin == "synthesized":
            e.synth_seed = int(s)
    entries = entries_real + entries_syn
    perm = rng.permutation(len(entries))
    ordered = [entries[int(i)] for i in perm]
    ids: list[str] = []
    while len(ids) < len(ordered):
        cid = f"{int(rng.integers(0, 16**10)):010x}"
        if cid not in ids:
            ids.append(cid)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        paths = StudyPaths(tmp)
        paths.cases.mkdir()
        paths.labels.mkdir(parents=True)
        key: dict[str, dict[str, Any]] = {}
        manifest_cases = []
        t0 = time.perf_counter()
        for pos, (cid, entry) in enumerate(zip(ids, ordered, strict=True)):
            log.info("case %d/%d (%s)", pos + 1, len(ordered), cid)
            record: dict[str, Any] = {
                "truth": entry.truth,
                "origin": entry.origin,
                "position": pos,
                "source_ct": str(entry.case.ct),
                "source_label": str(entry.case.label) if entry.case.label else None,
            }
            if entry.origin == "real":
                ct, label, affine, liver = _load_real(entry, real_tumor_label)
            elif entry.origin == "synthesized":
                ct, label, affine, liver, params_json = _load_synthesized(
                    entry, preset, healthy_liver_label, synthesize  # type: ignore[arg-type]
                )
                record.update(preset=preset, synth_seed=entry.synth_seed, params=json.loads(params_json))
            else:
                ct, label_opt, affine, liver_opt = _load_given(entry)
                if crop_margin_mm is not None and liver_opt is None:
                    raise InputError(
                        f"{entry.case.ct}: --crop-margin needs a label or liver mask for every case; "
                        "add one or drop --crop-margin"
                    )
                label, liver = label_opt, liver_opt  # type: ignore[assignment]
            if ct.shape != (label.shape if label is not None else ct.shape):
                raise InputError(f"{entry.case.ct}: CT and label grids differ")
            from tumorsynth.io import spacing_from_affine

            if crop_margin_mm is not None:
                box = _crop_box(liver, spacing_from_affine(affine), crop_margin_mm)
                ct = ct[box]
                label = label[box] if label is not None else None
                record["crop_box"] = [[s.start, s.stop] for s in box]
            ct_ras, spacing = to_ras(ct, affine)
            write_blinded_nifti(paths.case_file(cid), ct_ras, spacing, "int16")
            if label is not None:
                lab_ras, _ = to_ras(label, affine)
                write_blinded_nifti(paths.labels / f"{cid}.nii.gz", lab_ras, spacing, "uint8")
                record["label"] = f"owner/labels/{cid}.nii.gz"
            key[cid] = record
            if progress is not None:
                progress(pos + 1, len(ordered))
            manifest_cases.append({
                "id": cid,
                "file": f"cases/{cid}.nii.gz",
                "shape": [int(s) for s in ct_ras.shape],
                "spacing_mm": [round(float(s), 6) for s in spacing],
            })
        elapsed = time.perf_counter() - t0
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "title": title,
            "n_cases": len(ids),
            "cases": manifest_cases,
            "windows": list(DEFAULT_WINDOWS),
            "answers": list(store.ANSWERS),
            "orientation": "RAS",
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": _versions(),
            "note": "The answer key and the build record are under owner/ (never served, never exported).",
        }
        n_real_out = sum(e.truth == "real" for e in ordered)
        build = {
            "seed": seed,
            "preset": preset,
            "n_real": n_real_out,
            "n_synthetic": len(ordered) - n_real_out,
            "n_synthesized_here": sum(e.origin == "synthesized" for e in ordered),
            "reader_order": reader_order,
            "real_tumor_label": real_tumor_label,
            "healthy_liver_label": healthy_liver_label,
            "crop_margin_mm": crop_margin_mm,
            "inputs": {k: str(Path(v).resolve()) if isinstance(v, (str, os.PathLike)) else None
                       for k, v in (("real", real), ("healthy", healthy), ("synthetic", synthetic))},
            "versions": _versions(),
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(elapsed, 2),
            "command": " ".join(sys.argv) if sys.argv and "tumorsynth" in sys.argv[0] else None,
        }
        from tumorsynth.io import write_text_atomic

        write_text_atomic(paths.manifest, json.dumps(manifest, indent=2) + "\n")
        os.chmod(paths.manifest, 0o644)
        write_text_atomic(paths.key, json.dumps({"seed": seed, "cases": key}, indent=2) + "\n")
        write_text_atomic(paths.build_record, json.dumps(build, indent=2) + "\n")
        store.init_db(paths.db, ids, {"title": title, "seed": seed})
        owner_token = store.add_reader(paths.db, "owner", role="owner")
        tokens = {name: store.add_reader(paths.db, name, order=reader_order, seed=seed) for name in readers}
        os.chmod(paths.owner, 0o700)
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("study of %d cases written to %s in %.1f s", len(ids), out, elapsed)
    return BuildResult(out, ids, n_real_out, len(ordered) - n_real_out, seed, owner_token, tokens)
