"""SQLite storage of a reader study: readers (by token hash) and their answers.

One database file per study (``owner/study.db``), in WAL mode so that the web server's reads
never block a write. Every answer is one transaction: when the call returns, the answer is on
disk. The ``answers`` table holds each reader's current answer per case; ``answer_log`` keeps
every version ever saved (an audit trail; reports use the current answer).

Tokens are never stored: only their SHA-256 digests. A lost token is replaced with
:func:`add_reader` and ``reissue=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tumorsynth.errors import InputError, OptionError

__all__ = [
    "ANSWERS",
    "COMMENT_MAX_CHARS",
    "READER_NAME_RE",
    "Answer",
    "Reader",
    "add_reader",
    "all_answers",
    "connect",
    "find_reader",
    "hash_token",
    "init_db",
    "list_readers",
    "reader_answers",
    "save_answer",
]

#: The answers a reader can give.
ANSWERS = ("real", "synthetic", "unsure")
#: Longest comment kept, in characters.
COMMENT_MAX_CHARS = 2000
#: Reader names: letters, digits, dot, dash, underscore; 1 to 40 characters.
READER_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS readers (
    reader_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('reader', 'owner')),
    token_hash TEXT NOT NULL UNIQUE,
    case_order TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    reader_id INTEGER NOT NULL REFERENCES readers(reader_id),
    case_id TEXT NOT NULL REFERENCES cases(case_id),
    answer TEXT NOT NULL CHECK (answer IN ('real', 'synthetic', 'unsure')),
    confidence INTEGER CHECK (confidence IS NULL OR confidence BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    seconds REAL CHECK (seconds IS NULL OR seconds >= 0),
    updated_at REAL NOT NULL,
    revisions INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (reader_id, case_id)
);
CREATE TABLE IF NOT EXISTS answer_log (
    log_id INTEGER PRIMARY KEY,
    reader_id INTEGER NOT NULL REFERENCES readers(reader_id),
    case_id TEXT NOT NULL REFERENCES cases(case_id),
    answer TEXT NOT NULL,
    confidence INTEGER,
    comment TEXT NOT NULL,
    seconds REAL,
    saved_at REAL NOT NULL,
    source TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Reader:
    """A person with a token: a reader, or the study owner."""

    reader_id: int
    name: str
    role: str
    case_order: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """One reader's current answer to one case."""

    reader: str
    case_id: str
    answer: str
    confidence: int | None
    comment: str
    seconds: float | None
    updated_at: float
    revisions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "reader": self.reader,
            "case_id": self.case_id,
            "answer": self.answer,
            "confidence": self.confidence,
            "comment": self.comment,
            "seconds": self.seconds,
            "updated_at": self.updated_at,
            "revisions": self.revisions,
        }


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (what the database keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random access token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


@contextlib.contextmanager
def connect(db_path: str | Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """Open the study database (WAL, foreign keys on); close it afterwards.

    Use the connection as a context manager (``with conn:``) for one transaction.
    """
    path = Path(db_path)
    if not create and not path.is_file():
        raise InputError(f"{path}: study database not found; is this a study folder made by `tumorsynth study build`?")
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level="DEFERRED", check_same_thread=False)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        yield conn
    finally:
        conn.close()


def init_db(db_path: str | Path, case_ids: Sequence[str], meta: dict[str, Any] | None = None) -> None:
    """Create the database of a new study with its cases in study order."""
    with connect(db_path, create=True) as conn, conn:
        conn.executescript(SCHEMA)
        conn.executemany(
            "INSERT INTO cases (case_id, position) VALUES (?, ?)",
            [(cid, i) for i, cid in enumerate(case_ids)],
        )
        for k, v in (meta or {}).items():
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (k, json.dumps(v)))


def _case_ids(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT case_id FROM cases ORDER BY position")]


def _validate_name(name: str) -> str:
    import re

    if not isinstance(name, str) or not re.match(READER_NAME_RE, name):
        raise OptionError(
            f"reader name {name!r} is invalid; use 1 to 40 letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def add_reader(
    db_path: str | Path,
    name: str,
    *,
    role: str = "reader",
    order: str = "same",
    reissue: bool = False,
    seed: int | None = None,
) -> str:
    """Create a reader (or the owner) and return the new personal token.

    Args:
        db_path: the study database.
        name: the reader's name (shown in reports; not secret).
        role: ``"reader"`` or ``"owner"``.
        order: ``"same"`` (study order for everyone) or ``"shuffled"`` (a personal order drawn
            from ``seed`` and the reader name, or at random when ``seed`` is None).
        reissue: replace the token of an existing reader (the old token stops working; the
            answers are kept).
        seed: see ``order``.

    Returns:
        The token, shown once: only its hash is stored.
    """
    import numpy as np

    _validate_name(name)
    if role not in ("reader", "owner"):
        raise OptionError(f"role {role!r} is invalid; use 'reader' or 'owner'")
    if order not in ("same", "shuffled"):
        raise OptionError(f"reader order {order!r} is invalid; use 'same' or 'shuffled'")
    token = new_token()
    with connect(db_path) as conn, conn:
        existing = conn.execute("SELECT reader_id, role FROM readers WHERE name = ?", (name,)).fetchone()
        if existing is not None:
            if not reissue:
                raise OptionError(
                    f"reader {name!r} already exists; pick another name, or add --reissue to "
                    "replace a lost token"
                )
            if existing[1] != role:
                raise OptionError(f"{name!r} is the study's {existing[1]}, not a {role}")
            conn.execute(
                "UPDATE readers SET token_hash = ? WHERE reader_id = ?", (hash_token(token), existing[0])
            )
            return token
        ids = _case_ids(conn)
        if order == "shuffled":
            entropy = [seed, int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")] \
                if seed is not None else None
            rng = np.random.default_rng(entropy)
            ids = [ids[i] for i in rng.permutation(len(ids))]
        conn.execute(
            "INSERT INTO readers (name, role, token_hash, case_order, created_at) VALUES (?, ?, ?, ?, ?)",
            (name, role, hash_token(token), json.dumps(ids), time.time()),
        )
    return token


def _reader_from_row(row: Sequence[Any]) -> Reader:
    return Reader(reader_id=int(row[0]), name=str(row[1]), role=str(row[2]),
                  case_order=tuple(json.loads(row[3])))


def find_reader(conn: sqlite3.Connection, token: str) -> Reader | None:
    """The reader whose token this is, or None."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        "SELECT reader_id, name, role, case_order FROM readers WHERE token_hash = ?",
        (hash_token(token),),
    ).fetchone()
    return _reader_from_row(row) if row else None


def get_reader(conn: sqlite3.Connection, name: str) -> Reader | None:
    """The reader of this name, or None."""
    row = conn.execute(
        "SELECT reader_id, name, role, case_order FROM readers WHERE name = ?", (name,)
    ).fetchone()
    return _reader_from_row(row) if row else None


def list_readers(db_path: str | Path) -> list[dict[str, Any]]:
    """Every reader with progress: name, role, answered, unsure, n_cases, last_answer_at."""
    with connect(db_path) as conn:
        n_cases = conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        rows = conn.execute(
            """SELECT r.name, r.role, COUNT(a.case_id), SUM(a.answer = 'unsure'), MAX(a.updated_at)
               FROM readers r LEFT JOIN answers a ON a.reader_id = r.reader_id
               GROUP BY r.reader_id ORDER BY r.role DESC, r.name"""
        ).fetchall()
    return [
        {"name": r[0], "role": r[1], "answered": int(r[2]), "unsure": int(r[3] or 0),
         "n_cases": int(n_cases), "last_answer_at": r[4]}
        for r in rows
    ]


def save_answer(
    conn: sqlite3.Connection,
    reader: Reader,
    case_id: str,
    answer: str,
    *,
    confidence: int | None = None,
    comment: str = "",
    seconds: float | None = None,
    source: str = "web",
) -> Answer:
    """Store (or replace) a reader's answer to a case in one transaction; return it.

    Values are checked again here (the database also enforces them): ``answer`` one of
    :data:`ANSWERS`, ``confidence`` 1..5 or None, ``comment`` at most
    :data:`COMMENT_MAX_CHARS` characters, ``case_id`` one of the reader's cases.
    """
    if reader.role != "reader":
        raise OptionError(f"{reader.name!r} is the study owner and cannot answer; add a reader")
    if answer not in ANSWERS:
        raise OptionError(f"answer {answer!r} is invalid; use one of {', '.join(ANSWERS)}")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, int)
                                   or not 1 <= confidence <= 5):
        raise OptionError(f"confidence {confidence!r} is invalid; use an integer 1 to 5 or leave it empty")
    if not isinstance(comment, str) or len(comment) > COMMENT_MAX_CHARS:
        raise OptionError(f"comment is longer than {COMMENT_MAX_CHARS} characters; shorten it")
    if seconds is not None and not (0 <= float(seconds) <= 7 * 86400):
        raise OptionError(f"seconds {seconds!r} is out of range")
    if case_id not in reader.case_order:
        raise OptionError(f"case {case_id!r} is not part of this study")
    now = time.time()
    with conn:
        conn.execute(
            """INSERT INTO answers (reader_id, case_id, answer, confidence, comment, seconds, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (reader_id, case_id) DO UPDATE SET
                 answer = excluded.answer, confidence = excluded.confidence,
                 comment = excluded.comment, seconds = excluded.seconds,
                 updated_at = excluded.updated_at, revisions = answers.revisions + 1""",
            (reader.reader_id, case_id, answer, confidence, comment, seconds, now),
        )
        conn.execute(
            """INSERT INTO answer_log (reader_id, case_id, answer, confidence, comment, seconds, saved_at, source)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (reader.reader_id, case_id, answer, confidence, comment, seconds, now, source),
        )
        revisions = conn.execute(
            "SELECT revisions FROM answers WHERE reader_id = ? AND case_id = ?", (reader.reader_id, case_id)
        ).fetchone()[0]
    return Answer(reader.name, case_id, answer, confidence, comment, seconds, now, int(revisions))


_ANSWER_SQL = """SELECT r.name, a.case_id, a.answer, a.confidence, a.comment, a.seconds, a.updated_at, a.revisions
                 FROM answers a JOIN readers r ON r.reader_id = a.reader_id"""


def reader_answers(conn: sqlite3.Connection, reader: Reader) -> dict[str, Answer]:
    """This reader's current answers, by case id (never anybody else's)."""
    rows = conn.execute(_ANSWER_SQL + " WHERE a.reader_id = ?", (reader.reader_id,)).fetchall()
    return {r[1]: Answer(*r) for r in rows}


def all_answers(db_path: str | Path) -> list[Answer]:
    """Every reader's current answers, ordered by reader name then study order."""
    with connect(db_path) as conn:
        rows = conn.execute(
            _ANSWER_SQL + " JOIN cases c ON c.case_id = a.case_id WHERE r.role = 'reader' "
            "ORDER BY r.name, c.position"
        ).fetchall()
    return [Answer(*r) for r in rows]


def reader_names(db_path: str | Path) -> list[str]:
    """Names of all readers (not the owner), sorted."""
    with connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM readers WHERE role = 'reader' ORDER BY name")]
