"""The reader web app (FastAPI): blinded case viewing and answering, one token per person.

Routes (all JSON unless stated; every ``/api`` route needs ``Authorization: Bearer TOKEN``):

``GET /``                         the reader page (HTML; the token comes in the URL fragment
                                  ``#token=...``, which browsers never send to the server)
``GET /owner``                    the owner's progress page
``GET /api/me``                   the reader's cases in their order, with their own answers
``GET /api/cases/{id}/volume``    a case as int16 little-endian voxels, (z, y, x) order, RAS,
                                  after ``X-Data-Offset`` bytes (gzip transfer encoding)
``PUT /api/answers/{id}``         save an answer: ``{"answer": "real"|"synthetic"|"unsure",
                                  "confidence": 1..5|null, "comment": str, "seconds": float}``
``GET /api/owner/progress``       owner only: each reader's progress
``GET /api/owner/results``        owner only: all answers with the truth (``?format=csv``)

What is refused: a missing or unknown token (401), a reader on an owner route (403), a case
id that is malformed or not in the study (404, the id is never echoed), a body over
:data:`MAX_BODY_BYTES` (413), anything but a valid answer object (422). Nothing refused is
stored. The answer key is read only by the owner routes.
"""

# No "from __future__ import annotations": FastAPI must see the real annotations of the
# route functions, which refer to dependencies defined inside create_app().

import csv
import gzip
import io
import logging
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from tumorsynth.apps.reader_study import store
from tumorsynth.apps.reader_study.layout import CASE_ID_RE, StudyPaths, load_key, load_manifest

try:
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, ValidationError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the reader study server needs FastAPI: pip install 'tumorsynth[reader]'"
    ) from exc

__all__ = ["MAX_BODY_BYTES", "create_app", "serve"]

log = logging.getLogger(__name__)

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 16 * 1024
#: Volumes kept in memory, already compressed.
VOLUME_CACHE_SIZE = 6

STATIC_FILES = {
    "app.js": "application/javascript",
    "app.css": "text/css",
    "owner.js": "application/javascript",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class AnswerIn(BaseModel):
    """The body of ``PUT /api/answers/{id}``; anything else is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    answer: Literal["real", "synthetic", "unsure"]
    confidence: int | None = Field(default=None, ge=1, le=5)
    comment: str = Field(default="", max_length=store.COMMENT_MAX_CHARS)
    seconds: float | None = Field(default=None, ge=0, le=7 * 86400)


def _static_text(name: str) -> str:
    return resources.files("tumorsynth.apps.reader_study").joinpath("static", name).read_text("utf-8")


class _VolumeCache:
    """A small thread-safe LRU of case volumes, ready to send: gzip bytes and data offset.

    A blinded case file (``build.write_blinded_nifti``: int16 little endian, no scaling, no
    extensions) is already what the viewer wants: gzip of a 352-byte header followed by the
    voxels with x fastest, i.e. (z, y, x) order. Such files are sent as they are, with
    ``Content-Encoding: gzip`` (no work on the server); anything else is converted once.
    """

    def __init__(self, paths: StudyPaths, size: int = VOLUME_CACHE_SIZE) -> None:
        self.paths = paths
        self.size = size
        self.items: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, case_id: str) -> tuple[bytes, int]:
        with self.lock:
            if case_id in self.items:
                self.items.move_to_end(case_id)
                return self.items[case_id]
        payload = self._load(case_id)
        with self.lock:
            self.items[case_id] = payload
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return payload

    def _load(self, case_id: str) -> tuple[bytes, int]:
        import nibabel as nib

        path = self.paths.case_file(case_id)
        img: Any = nib.load(str(path))
        hdr = img.header
        raw = path.read_bytes()
        slope, inter = hdr.get_slope_inter()
        offset = int(getattr(img.dataobj, "offset", -1))  # where the voxels start in the file
        if (
            isinstance(img, nib.Nifti1Image)
            and raw[:2] == b"\x1f\x8b"
            and hdr.endianness == "<"
            and hdr.get_data_dtype() == np.dtype("<i2")
            and slope in (None, 1.0)
            and inter in (None, 0.0)
            and offset >= 348
            and offset % 2 == 0
        ):
            return raw, offset
        from tumorsynth.io import load_nifti

        data = np.asarray(load_nifti(path, what="case").data)
        arr = np.clip(np.rint(data), -32768, 32767) if data.dtype != np.int16 else data
        zyx = np.ascontiguousarray(np.asarray(arr).transpose(2, 1, 0), dtype="<i2")
        return gzip.compress(zyx.tobytes(), compresslevel=1, mtime=0), 0


def create_app(study_dir: str | Path) -> FastAPI:
    """The FastAPI app of one study folder (checked on creation)."""
    paths = StudyPaths(Path(study_dir))
    manifest = load_manifest(paths.root)
    if not paths.db.is_file():
        from tumorsynth.errors import InputError

        raise InputError(f"{paths.db}: study database not found; the study folder is incomplete")
    cases_meta = {c["id"]: c for c in manifest["cases"]}
    volumes = _VolumeCache(paths)
    app = FastAPI(title="tumorsynth reader study", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response: Any = JSONResponse({"detail": "request body too large"}, status_code=413)
        else:
            response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def reader_of(request: Request) -> store.Reader:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        with store.connect(paths.db) as conn:
            reader = store.find_reader(conn, token.strip())
        if reader is None:
            raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        return reader

    def owner_of(reader: Annotated[store.Reader, Depends(reader_of)]) -> store.Reader:
        if reader.role != "owner":
            raise HTTPException(403, "this needs the study owner's token")
        return reader

    def check_case(case_id: str, reader: store.Reader) -> str:
        if not CASE_ID_RE.fullmatch(case_id) or case_id not in cases_meta:
            raise HTTPException(404, "unknown case")
        if reader.role == "reader" and case_id not in reader.case_order:
            raise HTTPException(404, "unknown case")
        return case_id

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(_static_text("index.html"))

    @app.get("/owner", response_class=HTMLResponse)
    def owner_page() -> HTMLResponse:
        return HTMLResponse(_static_text("owner.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "not found")
        return Response(_static_text(name), media_type=STATIC_FILES[name])

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/me")
    def me(reader: Annotated[store.Reader, Depends(reader_of)]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reader": reader.name,
            "role": reader.role,
            "title": manifest.get("title", "Reader study"),
            "windows": manifest.get("windows", []),
            "answers": list(store.ANSWERS),
            "comment_max": store.COMMENT_MAX_CHARS,
            "n_cases": len(cases_meta),
        }
        if reader.role != "reader":
            out["cases"] = []
            return out
        with store.connect(paths.db) as conn:
            mine = store.reader_answers(conn, reader)
        cases = []
        for number, cid in enumerate(reader.case_order, start=1):
            meta = cases_meta[cid]
            ans = mine.get(cid)
            cases.append({
                "id": cid,
                "number": number,
                "shape": meta["shape"],
                "spacing_mm": meta["spacing_mm"],
                "answer": None if ans is None else {
                    "answer": ans.answer, "confidence": ans.confidence, "comment": ans.comment,
                },
            })
        out["cases"] = cases
        out["answered"] = len(mine)
        return out

    @app.get("/api/cases/{case_id}/volume")
    def volume(case_id: str, reader: Annotated[store.Reader, Depends(reader_of)]) -> Response:
        cid = check_case(case_id, reader)
        payload, offset = volumes.get(cid)
        z, y, x = cases_meta[cid]["shape"][::-1]
        return Response(
            payload,
            media_type="application/octet-stream",
            headers={
                "Content-Encoding": "gzip",
                "Cache-Control": "private, max-age=86400",
                "X-Volume-Shape": f"{z},{y},{x}",
                "X-Data-Offset": str(offset),
            },
        )

    @app.put("/api/answers/{case_id}")
    async def put_answer(
        case_id: str, request: Request, reader: Annotated[store.Reader, Depends(reader_of)]
    ) -> dict[str, Any]:
        cid = check_case(case_id, reader)
        if reader.role != "reader":
            raise HTTPException(403, "the study owner cannot answer; use a reader token")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HTTPException(415, "send the answer as application/json")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, "request body too large")
        try:
            data = AnswerIn.model_validate_json(bytes(body))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise HTTPException(422, f"invalid answer ({problems})") from None
        if "\x00" in data.comment:
            raise HTTPException(422, "invalid answer (comment: contains a NUL character)")

        def write() -> tuple[store.Answer, int]:
            with store.connect(paths.db) as conn:
                saved = store.save_answer(
                    conn, reader, cid, data.answer, confidence=data.confidence,
                    comment=data.comment, seconds=data.seconds,
                )
                answered = conn.execute(
                    "SELECT COUNT(*) FROM answers WHERE reader_id = ?", (reader.reader_id,)
                ).fetchone()[0]
            return saved, int(answered)

        saved, answered = await run_in_threadpool(write)  # keep the event loop free while SQLite syncs
        log.info("reader %s answered case %s", reader.name, cid)
        return {"saved": True, "case_id": cid, "answer": saved.answer, "confidence": saved.confidence,
                "answered": int(answered), "n_cases": len(reader.case_order)}

    @app.get("/api/owner/progress")
    def progress(owner: Annotated[store.Reader, Depends(owner_of)]) -> dict[str, Any]:
        return {"title": manifest.get("title"), "n_cases": len(cases_meta),
                "readers": [r for r in store.list_readers(paths.db) if r["role"] == "reader"]}

    @app.get("/api/owner/results")
    def results(owner: Annotated[store.Reader, Depends(owner_of)], format: str = "json") -> Response:
        if format not in ("json", "csv"):
            raise HTTPException(422, "format must be json or csv")
        rows = results_table(paths)
        if format == "json":
            return JSONResponse({"n_cases": len(cases_meta), "answers": rows})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RESULT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: csv_safe(v) for k, v in row.items()} for row in rows)
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="results.csv"'})

    return app


def csv_safe(value: Any) -> Any:
    """Defuse text that a spreadsheet would run as a formula (a reader's comment such as
    ``=HYPERLINK(...)``): prefix it with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


RESULT_FIELDS = ["reader", "number", "case_id", "truth", "answer", "correct", "confidence",
                 "comment", "seconds", "revisions", "updated_at"]


def results_table(paths: StudyPaths) -> list[dict[str, Any]]:
    """All current answers joined with the truth (owner's view), in reader then study order."""
    manifest = load_manifest(paths.root)
    position = {c["id"]: i + 1 for i, c in enumerate(manifest["cases"])}
    key = load_key(paths.root)
    rows = []
    for a in store.all_answers(paths.db):
        truth = key[a.case_id]["truth"]
        rows.append({
            "reader": a.reader, "number": position.get(a.case_id), "case_id": a.case_id,
            "truth": truth, "answer": a.answer,
            "correct": "" if a.answer == "unsure" else int(a.answer == truth),
            "confidence": a.confidence, "comment": a.comment, "seconds": a.seconds,
            "revisions": a.revisions, "updated_at": a.updated_at,
        })
    return rows


def serve(study_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "warning") -> None:
    """Run the app with uvicorn until interrupted (answers are on disk after every save)."""
    import uvicorn

    app = create_app(study_dir)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
