"""Security of the reader web app: tokens, roles, case ids, body validation, nothing leaked."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from tumorsynth.apps.reader_study.layout import StudyPaths


def counts(study_dir: Path) -> tuple[int, int]:
    """(current answers, logged answers) in the study database."""
    with sqlite3.connect(StudyPaths(study_dir).db) as conn:
        return (conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM answer_log").fetchone()[0])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def _module_app(tmp_path_factory: pytest.TempPathFactory, inputs):
    from reader_study_cases import build

    from tumorsynth.apps.reader_study.server import create_app

    st = build(tmp_path_factory.mktemp("security") / "study", inputs)
    return TestClient(create_app(st.study_dir)), st


@pytest.fixture
def app_study(_module_app):
    """The app of a study shared by this module's tests, with no answers at the start of each."""
    client, st = _module_app
    with sqlite3.connect(StudyPaths(st.study_dir).db) as conn:
        conn.execute("DELETE FROM answer_log")
        conn.execute("DELETE FROM answers")
    return client, st


def test_reader_flow_saves_one_answer(app_study) -> None:
    client, st = app_study
    me = client.get("/api/me", headers=auth(st.tokens["alice"]))
    assert me.status_code == 200
    body = me.json()
    assert body["reader"] == "alice" and body["answered"] == 0
    assert [c["id"] for c in body["cases"]] == st.case_ids
    assert "truth" not in me.text and "synthetic\"" not in json.dumps(body["cases"])
    cid = st.case_ids[0]
    vol = client.get(f"/api/cases/{cid}/volume", headers=auth(st.tokens["alice"]))
    assert vol.status_code == 200
    nx, ny, nz = body["cases"][0]["shape"]
    offset = int(vol.headers["x-data-offset"])
    assert len(vol.content) == offset + 2 * nx * ny * nz
    voxels = np.frombuffer(vol.content, dtype="<i2", offset=offset).reshape(nz, ny, nx)
    expected = np.asarray(nib.load(str(StudyPaths(st.study_dir).case_file(cid))).dataobj)
    np.testing.assert_array_equal(voxels, expected.transpose(2, 1, 0))
    r = client.put(f"/api/answers/{cid}", headers=auth(st.tokens["alice"]),
                   json={"answer": "synthetic", "confidence": 4, "comment": "edge too smooth"})
    assert r.status_code == 200, r.text
    assert r.json()["answered"] == 1
    assert counts(st.study_dir) == (1, 1)
    r = client.put(f"/api/answers/{cid}", headers=auth(st.tokens["alice"]), json={"answer": "real"})
    assert r.status_code == 200
    assert counts(st.study_dir) == (1, 2)  # replaced, and both versions logged
    mine = client.get("/api/me", headers=auth(st.tokens["alice"])).json()
    assert mine["cases"][0]["answer"]["answer"] == "real"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Basic YWxpY2U6cGFzcw=="},
    {"Authorization": "Bearer " + "x" * 5000},
])
def test_no_or_wrong_token_refused(app_study, headers: dict[str, str]) -> None:
    client, st = app_study
    cid = st.case_ids[0]
    for method, url, kw in [
        ("GET", "/api/me", {}),
        ("GET", f"/api/cases/{cid}/volume", {}),
        ("PUT", f"/api/answers/{cid}", {"json": {"answer": "real"}}),
        ("GET", "/api/owner/results", {}),
        ("GET", "/api/owner/progress", {}),
    ]:
        r = client.request(method, url, headers=headers, **kw)
        assert r.status_code == 401, (url, r.status_code)
        assert cid not in r.text and "alice" not in r.text
    assert counts(st.study_dir) == (0, 0)


def test_token_in_query_string_is_not_accepted(app_study) -> None:
    client, st = app_study
    assert client.get(f"/api/me?token={st.tokens['alice']}").status_code == 401


def test_reader_cannot_see_other_readers_answers_or_export(app_study) -> None:
    client, st = app_study
    cid = st.case_ids[1]
    secret = "alice-private-comment-42"
    assert client.put(f"/api/answers/{cid}", headers=auth(st.tokens["alice"]),
                      json={"answer": "unsure", "comment": secret}).status_code == 200
    bob = client.get("/api/me", headers=auth(st.tokens["bob"]))
    assert bob.status_code == 200
    assert secret not in bob.text and bob.json()["answered"] == 0
    assert all(c["answer"] is None for c in bob.json()["cases"])
    for url in ("/api/owner/results", "/api/owner/results?format=csv", "/api/owner/progress"):
        r = client.get(url, headers=auth(st.tokens["bob"]))
        assert r.status_code == 403
        assert secret not in r.text and "truth" not in r.text
    # the owner sees everything, with the truth
    r = client.get("/api/owner/results", headers=auth(st.owner_token))
    assert r.status_code == 200
    rows = r.json()["answers"]
    assert len(rows) == 1 and rows[0]["comment"] == secret and rows[0]["reader"] == "alice"
    assert rows[0]["truth"] in ("real", "synthetic")
    csv_text = client.get("/api/owner/results?format=csv", headers=auth(st.owner_token)).text
    assert csv_text.splitlines()[0].startswith("reader,number,case_id,truth")
    assert secret in csv_text
    prog = client.get("/api/owner/progress", headers=auth(st.owner_token)).json()
    assert {r["name"]: r["answered"] for r in prog["readers"]} == {"alice": 1, "bob": 0}


def test_owner_cannot_answer(app_study) -> None:
    client, st = app_study
    r = client.put(f"/api/answers/{st.case_ids[0]}", headers=auth(st.owner_token), json={"answer": "real"})
    assert r.status_code == 403
    assert counts(st.study_dir) == (0, 0)


ODD_IDS = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..",
    "ABCDEF0123",  # uppercase
    "0123456789a",  # too long
    "012345678",  # too short
    "0000000000",  # well formed but not in the study
    "study.json",
    "%00",
    "x" * 300,
]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_case_ids_refused(app_study, odd: str) -> None:
    client, st = app_study
    tok = auth(st.tokens["alice"])
    r = client.get(f"/api/cases/{odd}/volume", headers=tok)
    assert 400 <= r.status_code < 500
    assert "root:" not in r.text and odd not in r.text
    r = client.put(f"/api/answers/{odd}", headers=tok, json={"answer": "real"})
    assert 400 <= r.status_code < 500
    assert "root:" not in r.text
    assert counts(st.study_dir) == (0, 0)


@pytest.mark.parametrize("payload", [
    {"answer": "maybe"},
    {"answer": "REAL"},
    {"answer": None},
    {},
    {"answer": "real", "confidence": 0},
    {"answer": "real", "confidence": 6},
    {"answer": "real", "confidence": 3.5},
    {"answer": "real", "confidence": "3"},
    {"answer": "real", "confidence": True},
    {"answer": "real", "comment": "x" * 2001},
    {"answer": "real", "comment": 5},
    {"answer": "real", "comment": "nul\u0000byte"},
    {"answer": "real", "seconds": -1},
    {"answer": "real", "truth": "real"},
    {"answer": "real", "reader": "bob"},
    ["real"],
    "real",
])
def test_malformed_answers_refused(app_study, payload: object) -> None:
    client, st = app_study
    r = client.put(f"/api/answers/{st.case_ids[0]}", headers=auth(st.tokens["alice"]), json=payload)
    assert r.status_code == 422, (payload, r.status_code, r.text)
    assert counts(st.study_dir) == (0, 0)


def test_bad_bodies_refused(app_study) -> None:
    client, st = app_study
    url = f"/api/answers/{st.case_ids[0]}"
    tok = auth(st.tokens["alice"])
    # not JSON
    r = client.put(url, headers={**tok, "Content-Type": "application/json"}, content=b"{answer: real")
    assert r.status_code == 422
    # wrong content type
    r = client.put(url, headers={**tok, "Content-Type": "text/plain"}, content=b'{"answer": "real"}')
    assert r.status_code == 415
    # oversized, announced
    big = json.dumps({"answer": "real", "comment": "y" * 100_000}).encode()
    r = client.put(url, headers={**tok, "Content-Type": "application/json"}, content=big)
    assert r.status_code == 413
    # oversized, streamed without a length
    def chunks():
        yield b'{"answer": "real", "comment": "'
        for _ in range(40):
            yield b"z" * 1024
        yield b'"}'
    r = client.put(url, headers={**tok, "Content-Type": "application/json"}, content=chunks())
    assert r.status_code == 413
    # a comment at the limit in 4-byte characters is accepted
    r = client.put(url, headers=tok, json={"answer": "real", "comment": "\U0001F600" * 2000})
    assert r.status_code == 200
    assert counts(st.study_dir) == (1, 1)


def test_no_files_reachable_and_headers_set(app_study) -> None:
    client, st = app_study
    tok = auth(st.tokens["alice"])
    cid = st.case_ids[0]
    for url in ["/study.json", "/owner/key.json", "/static/../study.json", "/static/..%2Fstudy.json",
                "/static/key.json", f"/cases/{cid}.nii.gz", "/docs", "/openapi.json", "/redoc",
                "/static/index.html%00.js"]:
        r = client.get(url, headers=tok)
        assert r.status_code == 404, url
        assert '"truth"' not in r.text
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/api/me", headers=tok).headers["cache-control"] == "no-store"
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("application/javascript")


def test_volume_of_a_foreign_file_is_converted(fresh_study) -> None:
    """A case file not written by build (float32, big endian) is converted, same voxels."""
    from tumorsynth.apps.reader_study.server import create_app

    st = fresh_study
    client = TestClient(create_app(st.study_dir))
    cid = st.case_ids[2]
    path = StudyPaths(st.study_dir).case_file(cid)
    img = nib.load(str(path))
    data = np.asarray(img.dataobj).astype(">f4")
    nib.save(nib.Nifti1Image(data, img.affine), str(path))
    vol = client.get(f"/api/cases/{cid}/volume", headers=auth(st.tokens["bob"]))
    assert vol.status_code == 200 and vol.headers["x-data-offset"] == "0"
    voxels = np.frombuffer(vol.content, dtype="<i2").reshape(data.shape[::-1])
    np.testing.assert_array_equal(voxels, data.transpose(2, 1, 0).astype(np.int16))


def test_results_csv_defuses_spreadsheet_formulas(app_study) -> None:
    client, st = app_study
    evil = '=HYPERLINK("http://example.invalid","x")'
    assert client.put(f"/api/answers/{st.case_ids[0]}", headers=auth(st.tokens["alice"]),
                      json={"answer": "real", "comment": evil}).status_code == 200
    text = client.get("/api/owner/results?format=csv", headers=auth(st.owner_token)).text
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["comment"] == "'" + evil
    # the JSON keeps the comment as typed
    rows = client.get("/api/owner/results", headers=auth(st.owner_token)).json()["answers"]
    assert rows[0]["comment"] == evil
