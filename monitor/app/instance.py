"""One monitor at a time on an SQLite database: the instance lock ``<db>-daemon.lock``.

``monitor run`` (and ``monitor once``, see below) hold an exclusive ``flock`` on a file beside
the database for as long as they run, and write their pid, host, command and start time into it.
A second one on the same file is refused at once (``AlreadyRunningError``, exit 2) with a message
naming the first. The kernel releases the lock when its process dies, ``kill -9`` included, so a
lock file left behind never blocks a restart (its content is only read while the lock is held).

``monitor once`` takes the same lock for its cycle. Deliveries would be safe without it (the
sender lock serialises them), but polling would not: the daemon owns each feed's schedule
(interval, ``Retry-After``, back-off), and a second poller on the same feeds fetches them twice
and races the daemon's schedule. The same goes for two cron runs that overlap.

PostgreSQL is not locked here: several instances on one PostgreSQL database are another matter.
``sqlite:///:memory:`` needs no lock (nobody else can open it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from monitor.errors import AlreadyRunningError
from monitor.model import UTC
from monitor.store.filelock import file_lock

__all__ = ["LOCK_SUFFIX", "instance_lock", "lock_path"]

LOCK_SUFFIX = "-daemon.lock"
_PREFIX = "sqlite:///"
_READ_TRIES = 20
_READ_PAUSE = 0.05


def lock_path(database_url: str) -> str | None:
    """The instance lock file of an SQLite database URL; ``None`` when there is nothing to lock
    (PostgreSQL, ``:memory:``)."""
    if not database_url.startswith(_PREFIX):
        return None
    path = database_url[len(_PREFIX) :]
    if not path or path == ":memory:":
        return None
    # The real file: a symlink or another relative spelling of the same database locks alike.
    return os.path.realpath(path) + LOCK_SUFFIX


@contextlib.contextmanager
def instance_lock(database_url: str, command: str = "run") -> Iterator[None]:
    """Hold the instance lock of ``database_url`` for the block, or raise
    ``AlreadyRunningError`` naming the process that holds it."""
    path = lock_path(database_url)
    if path is None or not Path(path).parent.is_dir():
        # A missing folder is the store's error to report (it names what to create).
        yield
        return
    with file_lock(path, 0.0, database_url, what="daemon lock") as fd:
        if fd is None:
            raise AlreadyRunningError(_refusal(database_url, _holder(path)))
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": f"monitor {command}",
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        data = (json.dumps(info) + "\n").encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # still held: nobody reads a finished run as running


def _holder(path: str) -> dict[str, object]:
    """What the holder wrote; it writes right after taking the lock, so an empty or stale file
    (a pid that no longer lives on this host) is read again for a moment."""
    here = socket.gethostname()
    info: dict[str, object] = {}
    for _ in range(_READ_TRIES):
        try:
            with open(path, encoding="utf-8") as f:
                loaded = json.loads(f.readline() or "{}")
            info = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            info = {}
        pid = info.get("pid")
        if isinstance(pid, int) and (info.get("host") != here or _alive(pid)):
            return info
        time.sleep(_READ_PAUSE)
    return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refusal(database_url: str, info: dict[str, object]) -> str:
    name = database_url[len(_PREFIX) :]
    if info:
        who = (
            f"{info.get('command', 'monitor')}, pid {info.get('pid')} on host "
            f"{info.get('host', '?')}, since {info.get('since', '?')}"
        )
    else:
        who = "its pid could not be read"
    return (
        f"another monitor is already running on {name} ({who}); stop it first, "
        "or use PostgreSQL to run several instances"
    )
