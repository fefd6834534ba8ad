"""Plain-file form of a study: NIfTI volumes and a CSV answer sheet, for readers who use their
own viewer (as in the paper), and the way back: importing a filled-in sheet.

Example:
    >>> from tumorsynth.apps.reader_study import export_study, import_sheet
    >>> export_study("study", "study_export")  # doctest: +SKIP
    >>> import_sheet("study", "answers_alice.csv", reader="alice")  # doctest: +SKIP
    50
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

from tumorsynth.apps.reader_study import store
from tumorsynth.apps.reader_study.build import FIXED_MTIME
from tumorsynth.apps.reader_study.layout import StudyPaths, load_manifest
from tumorsynth.errors import InputError, OptionError, OutputExistsError

__all__ = ["SHEET_FIELDS", "export_study", "import_sheet"]

SHEET_FIELDS = ["number", "case_id", "file", "answer", "confidence", "comment"]

README = """\
{title}: Visual Turing Test
{rule}

This folder holds {n} CT scans of the liver (NIfTI, Hounsfield units, RAS orientation).
Each one shows liver tumors that are either real or synthetic (computer-generated).

For each scan, open the file in your viewer (ITK-SNAP, 3D Slicer, ...), and fill in its row of
answer_sheet.csv:

  answer      real, synthetic or unsure (required)
  confidence  1 (low) to 5 (high) (optional)
  comment     free text, up to {cmax} characters (optional)

A suggested window for the liver: width 400, level 50 (narrow: width 150, level 30).
Do not rename the files or change the case_id column. Return the filled sheet to the study
owner, who loads it with:

  tumorsynth study import STUDY_DIR answer_sheet.csv --reader YOUR_NAME
"""


def export_study(study_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                 overwrite: bool = False) -> Path:
    """Copy the blinded volumes to ``out_dir`` as ``NNN_<id>.nii.gz`` with ``answer_sheet.csv``
    and ``README.txt``; never the key or labels. Returns the answer sheet path."""
    from tumorsynth.io import write_text_atomic

    paths = StudyPaths(Path(study_dir))
    manifest = load_manifest(paths.root)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise OutputExistsError(f"{out}: exists; choose another folder or add --overwrite")
        if out.resolve() == paths.root.resolve() or paths.root.resolve() in out.resolve().parents:
            raise OptionError(f"{out}: is inside the study folder; export elsewhere")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    width = max(3, len(str(len(manifest["cases"]))))
    for number, case in enumerate(manifest["cases"], start=1):
        cid = case["id"]
        src = paths.case_file(cid)
        if not src.is_file():
            raise InputError(f"{src}: case volume missing; the study folder is incomplete")
        name = f"{number:0{width}d}_{cid}.nii.gz"
        tmp = out / f".{name}.part"
        shutil.copyfile(src, tmp)
        os.replace(tmp, out / name)
        os.utime(out / name, (FIXED_MTIME, FIXED_MTIME))
        rows.append({"number": number, "case_id": cid, "file": name, "answer": "", "confidence": "",
                     "comment": ""})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SHEET_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    sheet = write_text_atomic(out / "answer_sheet.csv", buf.getvalue())
    title = str(manifest.get("title", "Reader study"))
    write_text_atomic(out / "README.txt", README.format(
        title=title, rule="=" * (len(title) + 22), n=len(rows), cmax=store.COMMENT_MAX_CHARS))
    return sheet


_ANSWER_ALIASES = {"real": "real", "r": "real", "synthetic": "synthetic", "s": "synthetic",
                   "synth": "synthetic", "fake": "synthetic", "unsure": "unsure", "u": "unsure",
                   "?": "unsure", "unknown": "unsure"}


def import_sheet(study_dir: str | os.PathLike[str], sheet: str | os.PathLike[str], *, reader: str,
                 replace: bool = False) -> int:
    """Load a filled-in answer sheet as the answers of ``reader`` (created if new).

    Every row is checked before anything is stored (all or nothing). Rows without an answer are
    skipped. A reader who already has answers is refused unless ``replace``. Returns the number
    of answers stored.
    """
    paths = StudyPaths(Path(study_dir))
    manifest = load_manifest(paths.root)
    ids = {c["id"] for c in manifest["cases"]}
    p = Path(sheet)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read answer sheet ({exc})") from None
    header = text.splitlines()[0] if text else ""
    delimiter = max(",;\t", key=header.count)  # spreadsheets save with ',' ';' or tab
    reader_csv = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = [f.strip().lower() for f in (reader_csv.fieldnames or [])]
    if "case_id" not in fields or "answer" not in fields:
        raise InputError(f"{p}: answer sheet needs the columns case_id and answer; use the sheet made by `study export`")
    parsed = []
    seen: set[str] = set()
    for lineno, raw in enumerate(reader_csv, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        cid = row.get("case_id", "")
        ans = row.get("answer", "").lower()
        if not ans:
            continue
        if cid not in ids:
            raise InputError(f"{p}:{lineno}: case_id {cid[:40]!r} is not in this study; keep the ids of the exported sheet")
        if cid in seen:
            raise InputError(f"{p}:{lineno}: case {cid} is answered twice; keep one row per case")
        seen.add(cid)
        if ans not in _ANSWER_ALIASES:
            raise InputError(f"{p}:{lineno}: answer {ans[:40]!r} is invalid; write real, synthetic or unsure")
        conf_text = row.get("confidence", "")
        conf = None
        if conf_text:
            if not conf_text.isdigit() or not 1 <= int(conf_text) <= 5:
                raise InputError(f"{p}:{lineno}: confidence {conf_text[:20]!r} is invalid; write 1 to 5 or leave it empty")
            conf = int(conf_text)
        comment = row.get("comment", "")
        if len(comment) > store.COMMENT_MAX_CHARS:
            raise InputError(f"{p}:{lineno}: comment longer than {store.COMMENT_MAX_CHARS} characters; shorten it")
        parsed.append((cid, _ANSWER_ALIASES[ans], conf, comment))
    if not parsed:
        raise InputError(f"{p}: no answers found; fill in the answer column")
    with store.connect(paths.db) as conn:
        existing = store.get_reader(conn, reader)
    if existing is None:
        store.add_reader(paths.db, reader)
    elif existing.role != "reader":
        raise OptionError(f"{reader!r} is the study owner; import under a reader name")
    with store.connect(paths.db) as conn:
        r = store.get_reader(conn, reader)
        assert r is not None
        have = conn.execute("SELECT COUNT(*) FROM answers WHERE reader_id = ?", (r.reader_id,)).fetchone()[0]
        if have and not replace:
            raise OptionError(f"reader {reader!r} already has {have} answers; add --replace to overwrite them")
        for cid, ans, conf, comment in parsed:
            store.save_answer(conn, r, cid, ans, confidence=conf, comment=comment, source=f"sheet:{p.name}")
    return len(parsed)
