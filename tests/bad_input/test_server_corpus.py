"""The bad-input corpus of the reader study's server: every refused request stores nothing.

Each entry is one request: no, wrong or another role's token, path traversal, oversized or
malformed bodies, wrong content types and methods, replays of refused requests. Each must get
its documented status with a one-line JSON ``detail`` (no traceback), leave the answers and
the answer log empty and the study's files unchanged.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from tumorsynth.apps.reader_study.layout import StudyPaths

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "reader_study"))
from reader_study_cases import build, write_healthy_case, write_real_case

BIG = 16 * 1024 + 1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    from tumorsynth.apps.reader_study.server import create_app

    root = tmp_path_factory.mktemp("srv")
    (root / "real").mkdir()
    (root / "healthy").mkdir()
    for i in range(2):
        write_real_case(root / "real", f"volume-real{i}", 100 + i)
        write_healthy_case(root / "healthy", f"healthy{i}", 200 + i)
    st = build(root / "study", {"root": root, "real": root / "real", "healthy": root / "healthy"})
    return TestClient(create_app(st.study_dir), raise_server_exceptions=False), st


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _requests(st) -> dict[str, tuple]:
    alice, owner = st.tokens["alice"], st.owner_token
    cid = st.case_ids[0]
    ok = {"answer": "real"}
    json_h = {"Content-Type": "application/json"}
    return {
        # name: (method, url, headers, json body or raw bytes, expected status)
        "no-token": ("PUT", f"/api/answers/{cid}", {}, ok, 401),
        "empty-bearer": ("PUT", f"/api/answers/{cid}", {"Authorization": "Bearer "}, ok, 401),
        "basic-scheme": ("PUT", f"/api/answers/{cid}", {"Authorization": f"Basic {alice}"}, ok, 401),
        "wrong-token": ("PUT", f"/api/answers/{cid}", _bearer("x" * 40), ok, 401),
        "token-with-extra-char": ("PUT", f"/api/answers/{cid}", _bearer(alice + "x"), ok, 401),
        "token-in-query": ("PUT", f"/api/answers/{cid}?token={alice}", {}, ok, 401),
        "owner-token-answers": ("PUT", f"/api/answers/{cid}", _bearer(owner), ok, 403),
        "reader-token-on-owner-results": ("GET", "/api/owner/results", _bearer(alice), None, 403),
        "reader-token-on-owner-progress": ("GET", "/api/owner/progress", _bearer(alice), None, 403),
        "traversal-dotdot": ("PUT", "/api/answers/..%2F..%2Fkey.json", _bearer(alice), ok, 404),
        "traversal-volume": ("GET", "/api/cases/..%2Fkey/volume", _bearer(alice), None, 404),
        "traversal-static": ("GET", "/static/..%2F..%2Fkey.json", {}, None, 404),
        "unknown-case": ("PUT", "/api/answers/zzzzzzzzzzzz", _bearer(alice), ok, 404),
        "oversized-body": ("PUT", f"/api/answers/{cid}", _bearer(alice) | json_h,
                           b'{"answer": "real", "comment": "' + b"a" * BIG + b'"}', 413),
        "malformed-json": ("PUT", f"/api/answers/{cid}", _bearer(alice) | json_h, b'{"answer": ', 422),
        "not-an-object": ("PUT", f"/api/answers/{cid}", _bearer(alice) | json_h, b'["real"]', 422),
        "unknown-answer": ("PUT", f"/api/answers/{cid}", _bearer(alice), {"answer": "maybe"}, 422),
        "extra-field": ("PUT", f"/api/answers/{cid}", _bearer(alice), {"answer": "real", "truth": "real"}, 422),
        "confidence-out-of-range": ("PUT", f"/api/answers/{cid}", _bearer(alice),
                                    {"answer": "real", "confidence": 9}, 422),
        "nan-seconds": ("PUT", f"/api/answers/{cid}", _bearer(alice) | json_h,
                        b'{"answer": "real", "seconds": NaN}', 422),
        "nul-in-comment": ("PUT", f"/api/answers/{cid}", _bearer(alice), {"answer": "real", "comment": "a\x00b"},
                           422),
        "wrong-content-type": ("PUT", f"/api/answers/{cid}", _bearer(alice) | {"Content-Type": "text/plain"},
                               b'{"answer": "real"}', 415),
        "post-instead-of-put": ("POST", f"/api/answers/{cid}", _bearer(alice), ok, 405),
        "delete-answer": ("DELETE", f"/api/answers/{cid}", _bearer(alice), None, 405),
        "get-answer-route": ("GET", f"/api/answers/{cid}", _bearer(alice), None, 405),
    }


NAMES = ["no-token", "empty-bearer", "basic-scheme", "wrong-token", "token-with-extra-char", "token-in-query",
         "owner-token-answers", "reader-token-on-owner-results", "reader-token-on-owner-progress",
         "traversal-dotdot", "traversal-volume", "traversal-static", "unknown-case", "oversized-body",
         "malformed-json", "not-an-object", "unknown-answer", "extra-field", "confidence-out-of-range",
         "nan-seconds", "nul-in-comment", "wrong-content-type", "post-instead-of-put", "delete-answer",
         "get-answer-route"]


def _state(study_dir: Path) -> tuple[int, int, dict[str, str]]:
    with sqlite3.connect(StudyPaths(study_dir).db) as conn:
        n = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        log = conn.execute("SELECT COUNT(*) FROM answer_log").fetchone()[0]
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(study_dir.rglob("*"))
             if p.is_file() and not p.name.endswith((".db", ".db-wal", ".db-shm", ".sqlite", "-wal", "-shm"))}
    return n, log, files


@pytest.mark.parametrize("name", NAMES)
def test_refused_request_stores_nothing(name, served):
    client, st = served
    method, url, headers, body, status = _requests(st)[name]
    before = _state(st.study_dir)
    for _ in range(2):  # a refused request replayed is refused again
        kwargs = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
        r = client.request(method, url, headers=headers, **kwargs)
        assert r.status_code == status, (name, r.status_code, r.text[:300])
        assert "Traceback" not in r.text
        if r.headers.get("content-type", "").startswith("application/json"):
            detail = r.json().get("detail")
            assert isinstance(detail, str) and "\n" not in detail and detail, r.text[:300]
    assert _state(st.study_dir) == before
    assert before[:2] == (0, 0)


def test_the_corpus_covers_every_request(served):
    _, st = served
    assert sorted(NAMES) == sorted(_requests(st)) and len(NAMES) >= 20
