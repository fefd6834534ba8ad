"""Claims on cases and clean-up of temporary folders, safe for many jobs on one output folder.

A job that builds case ``NAME`` first claims it: it creates ``OUTDIR/.NAME.lock`` with
``O_CREAT | O_EXCL`` (atomic on local file systems and on NFSv3 or later) and writes its owner
record into it (host, pid, process start, boot id, time, job). Whoever fails to create the file
leaves the case to its owner, unless that owner is provably dead (:func:`owner_alive`): then
the lock is moved aside under a unique name, checked to be the very lock judged dead (not a
fresh one created meanwhile, which is put back), removed, and the claim is tried again.

A case folder is built as ``OUTDIR/.NAME.partial-XXXX`` holding an owner file
(:data:`~tumorsynth.jobs.owners.OWNER_FILE`) and renamed to ``OUTDIR/NAME`` once every file is
written. :func:`sweep` removes only temporary folders and locks whose owner is provably dead;
after claiming a case a job also removes that case's temporary folders that have no live owner
(their builder would hold the lock, which is now ours).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tumorsynth.jobs.owners import OWNER_FILE, owner_alive, read_owner

__all__ = ["Claim", "claim_case", "lock_path", "release", "sweep"]

log = logging.getLogger(__name__)

#: A lock or temporary folder without a readable owner record is taken for abandoned only after
#: this many seconds (its creator writes the record right after creating it).
NO_OWNER_GRACE_S = 3600.0


@dataclass(frozen=True)
class Claim:
    """A case claimed by this process: the lock file and the exact bytes written into it."""

    path: Path
    payload: bytes


def lock_path(out_dir: Path, name: str) -> Path:
    return out_dir / f".{name}.lock"


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _dead(path: Path, record: dict[str, Any] | None, stale_after_s: float | None) -> bool:
    if record is None:
        return _age_s(path) > (NO_OWNER_GRACE_S if stale_after_s is None else min(stale_after_s, NO_OWNER_GRACE_S))
    return not owner_alive(record, stale_after_s=stale_after_s)


def _remove_lock_if(lock: Path, seen: bytes) -> bool:
    """Remove ``lock`` if it still holds exactly ``seen``; True when removed (or already gone)."""
    aside = lock.with_name(f"{lock.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return True
    try:
        if aside.read_bytes() != seen:  # a fresh lock was created after we judged the old one
            with contextlib.suppress(FileExistsError):
                os.link(aside, lock)
            return False
        return True
    finally:
        aside.unlink(missing_ok=True)


def claim_case(out_dir: Path, name: str, owner: dict[str, Any], *,
               stale_after_s: float | None = None) -> Claim | dict[str, Any]:
    """Claim case ``name``: a :class:`Claim`, or the owner record of whoever holds it now."""
    lock = lock_path(out_dir, name)
    payload = json.dumps(owner | {"case": name}).encode("utf-8")
    holder: dict[str, Any] = {}
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                seen = lock.read_bytes()
            except FileNotFoundError:
                continue  # released meanwhile
            record = read_owner(lock)
            holder = record or {"host": "?", "pid": "?", "note": "lock being written"}
            if not _dead(lock, record, stale_after_s):
                return holder
            if _remove_lock_if(lock, seen):
                log.info("%s: took over the claim of a job that is gone (%s pid %s)", name,
                         holder.get("host"), holder.get("pid"))
            continue
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        _remove_partials(out_dir, name, stale_after_s=stale_after_s, claimed=True)
        return Claim(lock, payload)
    return holder


def release(claim: Claim) -> None:
    """Remove the lock of a claim, if it is still this claim's."""
    try:
        if claim.path.read_bytes() == claim.payload:
            claim.path.unlink()
    except FileNotFoundError:
        pass


def _remove_partials(out_dir: Path, name: str | None, *, stale_after_s: float | None, claimed: bool) -> list[Path]:
    pattern = f".{glob.escape(name)}.partial-*" if name is not None else ".*.partial-*"
    removed = []
    for tmp in out_dir.glob(pattern):
        if not tmp.is_dir():
            continue
        record = read_owner(tmp / OWNER_FILE)
        if record is not None:
            gone = not owner_alive(record, stale_after_s=stale_after_s)
        else:  # no owner record: abandoned when old, or when we hold the case's claim
            gone = claimed or _dead(tmp, None, stale_after_s)
        if gone:
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def sweep(out_dir: Path, *, stale_after_s: float | None = None) -> list[Path]:
    """Remove the temporary case folders and locks of ``out_dir`` whose owner is provably dead."""
    removed = _remove_partials(out_dir, None, stale_after_s=stale_after_s, claimed=False)
    for lock in out_dir.glob(".*.lock"):
        try:
            seen = lock.read_bytes()
        except OSError:
            continue
        if _dead(lock, read_owner(lock), stale_after_s) and _remove_lock_if(lock, seen):
            removed.append(lock)
    for aside in out_dir.glob(".*.lock.stale-*"):  # left by a takeover killed half-way
        if _age_s(aside) > NO_OWNER_GRACE_S:
            aside.unlink(missing_ok=True)
    if removed:
        log.info("removed %d temporary folder(s) and lock(s) of jobs that are gone", len(removed))
    return removed
