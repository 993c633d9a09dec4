"""An operating-system file lock (``flock``) beside an SQLite database.

The kernel drops it when the holding process dies in any way, ``kill -9`` included, so a lock
file left behind never blocks anyone: only a live process holds the lock, never the file. Used by
the sender lock (``<db>-sender.lock``) and the daemon's instance lock (``<db>-daemon.lock``).
The descriptor is not inherited by child processes (Python opens it close-on-exec).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from monitor.errors import StorageError

__all__ = ["file_lock"]

_LOCK_POLL = 0.05


@contextlib.contextmanager
def file_lock(path: str, wait: float, url: str, what: str = "sender lock") -> Iterator[int | None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing), waiting up to ``wait``
    seconds for it. Yields the open descriptor while held, ``None`` when another process holds
    it; closing the descriptor on leaving releases the lock. ``what`` names it in errors."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"database {url}: cannot open the {what} {path}: {exc.strerror or exc}; "
            "hint: the database folder must be writable"
        ) from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held = False
                    break
                time.sleep(_LOCK_POLL)
        yield fd if held else None
    finally:
        os.close(fd)  # closing releases the lock
