"""Where a study keeps its files, and how its manifest is read.

A study folder looks like this::

    STUDY_DIR/
      study.json          manifest: case ids in study order, grids; nothing that reveals a truth
      cases/<id>.nii.gz   the blinded volumes (int16 HU, RAS orientation, bare header)
      owner/              never served, never exported
        key.json          the answer key: truth and source of every case
        build.json        how the study was built: seed, preset, inputs, counts, versions
        labels/<id>.nii.gz  tumor labels (real ones reoriented, synthetic ones as drawn)
        study.db          SQLite: readers (token hashes only) and their answers

Only ``study.json`` and ``cases/`` describe what readers may see; everything under ``owner/``
belongs to the study owner.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tumorsynth.errors import InputError

__all__ = [
    "CASE_ID_RE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "TRUTHS",
    "StudyPaths",
    "load_key",
    "load_manifest",
]

FORMAT_NAME = "tumorsynth-reader-study"
FORMAT_VERSION = 1

#: Case ids are 10 lowercase hex digits; anything else is refused before any lookup.
CASE_ID_RE = re.compile(r"^[0-9a-f]{10}$")

#: The two possible truths of a case.
TRUTHS = ("real", "synthetic")


@dataclass(frozen=True)
class StudyPaths:
    """The files of one study folder."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def manifest(self) -> Path:
        return self.root / "study.json"

    @property
    def cases(self) -> Path:
        return self.root / "cases"

    @property
    def owner(self) -> Path:
        return self.root / "owner"

    @property
    def key(self) -> Path:
        return self.owner / "key.json"

    @property
    def build_record(self) -> Path:
        return self.owner / "build.json"

    @property
    def labels(self) -> Path:
        return self.owner / "labels"

    @property
    def db(self) -> Path:
        return self.owner / "study.db"

    def case_file(self, case_id: str) -> Path:
        """The volume of ``case_id``; the id must already be validated against the manifest."""
        if not CASE_ID_RE.match(case_id):
            raise ValueError(f"invalid case id {case_id!r}")
        return self.cases / f"{case_id}.nii.gz"


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; is this a study folder made by `tumorsynth study build`?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what} ({exc}); the file is damaged") from None


def load_manifest(study_dir: str | Path) -> dict[str, Any]:
    """Read and check ``study.json``; raise :class:`InputError` for a folder that is not a study."""
    paths = StudyPaths(Path(study_dir))
    if not paths.root.is_dir():
        raise InputError(f"{paths.root}: study folder not found; create it with `tumorsynth study build`")
    manifest = _read_json(paths.manifest, "study manifest study.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise InputError(f"{paths.manifest}: not a tumorsynth reader-study manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(
            f"{paths.manifest}: made by a newer tumorsynth (format {manifest.get('format_version')}); "
            "upgrade tumorsynth"
        )
    cases = manifest.get("cases")
    if not isinstance(cases, list) or not all(
        isinstance(c, dict) and CASE_ID_RE.match(str(c.get("id", ""))) for c in cases
    ):
        raise InputError(f"{paths.manifest}: case list is missing or has invalid ids; the file is damaged")
    return manifest


def load_key(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Read the answer key ``owner/key.json``: case id -> record with at least ``truth``."""
    paths = StudyPaths(Path(study_dir))
    key = _read_json(paths.key, "answer key owner/key.json")
    cases = key.get("cases") if isinstance(key, dict) else None
    if not isinstance(cases, dict) or not all(
        isinstance(v, dict) and v.get("truth") in TRUTHS for v in cases.values()
    ):
        raise InputError(f"{paths.key}: answer key is malformed; rebuild the study or restore the file")
    return cases
