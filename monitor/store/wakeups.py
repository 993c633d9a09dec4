"""Wake-ups for idle instances on PostgreSQL: LISTEN/NOTIFY on a channel of the schema.

Work that becomes due *now* (feeds whose leases a stopping instance gave back, feeds a newly
started instance added, ``make_due``) is announced by ``pg_notify`` in the transaction that
made it due, so it is delivered exactly when that commits. ``DueListener`` holds a connection
of its own that LISTENs on the channel; the claim loop waits for a notice or its heartbeat,
whichever comes first, so new due work reaches an idle instance within a round trip instead of
up to ``instances.heartbeat`` later. Feeds that come due by the clock are found by the
heartbeat's claim (they need no notice). A lost connection is opened again at the next wait;
until then the heartbeat alone wakes the instance (nothing is missed: a claim looks at every
due feed).

The channel is ``monitor_due_`` plus the md5 of the schema name (channel names are at most 63
bytes), so instances of databases in separate schemas do not wake each other.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import psycopg

from monitor.logs import event

__all__ = ["DueListener"]

log = logging.getLogger("monitor.wakeups")


class DueListener:
    """``await listener.wait(timeout)``: True when due work was announced, False at timeout."""

    def __init__(self, conninfo: str, *, connect_timeout: int = 10) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()
        self.notices = 0

    async def start(self) -> None:
        """Connect and LISTEN; a failure is logged and retried at the next ``wait``."""
        if self._reader is not None and not self._reader.done():
            return
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
            )
            row = await (
                await conn.execute("SELECT 'monitor_due_' || md5(current_schema())")
            ).fetchone()
            assert row is not None
            await conn.execute(f'LISTEN "{row[0]}"')
        except psycopg.Error as exc:
            event(
                log,
                "wakeups.unavailable",
                level=logging.WARNING,
                error=str(exc).strip(),
                hint="idle instances find new due work at their heartbeat only",
            )
            return
        self._conn = conn
        self._reader = asyncio.get_running_loop().create_task(self._read(conn), name="listen")

    async def _read(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        try:
            async for _notice in conn.notifies():
                self.notices += 1
                self._woken.set()
        except psycopg.Error as exc:
            event(log, "wakeups.lost", level=logging.WARNING, error=str(exc).strip())
        finally:
            with suppress(psycopg.Error):
                await conn.close()

    async def wait(self, timeout: float) -> bool:
        if self._reader is None or self._reader.done():
            await self.start()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout)
        woken = self._woken.is_set()
        self._woken.clear()
        return woken

    def wake(self) -> None:
        """Wake a waiting ``wait`` from this process (a stop)."""
        self._woken.set()

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError, psycopg.Error):
                await self._reader
            self._reader = None
        if self._conn is not None:
            with suppress(psycopg.Error):
                await self._conn.close()
            self._conn = None
