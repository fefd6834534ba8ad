"""Who owns a temporary folder or a lock: host, process id, process start, boot; and is it alive.

An owner record is plain JSON-able data written by the process that creates a temporary case
folder or claims a case. Another process may remove that folder or take over that claim only
when the owner is *provably* dead: same host and boot, and its process id is gone or now
belongs to a process that started at another time. An owner on another host is never judged
dead, unless the caller gives a maximum age (``stale_after_s``) and the record is older.
"""

from __future__ import annotations

import json
import os
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["OWNER_FILE", "owner_alive", "owner_record", "read_owner"]

#: Name of the owner file inside a temporary case folder.
OWNER_FILE = ".owner.json"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process from Linux ``/proc``, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    try:
        rest = text.rsplit(")", 1)[1].split()  # fields 3.. follow the command name
        return rest[0], int(rest[19])  # state (field 3), starttime (field 22)
    except (IndexError, ValueError):
        return None


def _proc_start_ticks(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


@lru_cache(maxsize=1)
def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def owner_record(**extra: Any) -> dict[str, Any]:
    """This process as an owner: host, pid, its start ticks, boot id, wall-clock time, ``extra``."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _proc_start_ticks(pid),
            "boot_id": _boot_id(), "time": time.time(), **extra}


def read_owner(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The owner record in ``path``; None when it is missing, empty or not a record."""
    try:
        data = json.loads(Path(path).read_bytes() or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def owner_alive(record: dict[str, Any], *, stale_after_s: float | None = None) -> bool:
    """False only when the owner is provably gone; True when it lives or cannot be judged.

    ``stale_after_s``: also take an owner on another host (or an unjudgeable one) for gone when
    its record is older than this many seconds.
    """
    too_old = (stale_after_s is not None and isinstance(record.get("time"), (int, float))
               and time.time() - float(record["time"]) > stale_after_s)
    if record.get("host") != socket.gethostname():
        return not too_old
    boot = _boot_id()
    if boot is not None and record.get("boot_id") not in (None, boot):
        return False  # this host rebooted since: every process of the record is gone
    pid = int(record["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a process of another user holds this id
    except OSError:
        return not too_old
    stat = _proc_stat(pid)
    if stat is None:
        return True
    if stat[0] in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    started = record.get("pid_start")
    if started is not None and int(started) != stat[1]:
        return False  # the id was reused by a newer process
    return True
