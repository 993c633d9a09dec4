"""Per-host fetch slots shared by every instance on one PostgreSQL database.

``fetch.per_host`` limits the fetches in flight to one host name. In one process the fetcher's
semaphores do that; several instances on one database each hold their own, so N instances would
open N x ``per_host`` connections to one host. ``PgHostSlots`` makes the limit the database's: a
fetch to ``host`` first takes one of the process's own ``per_host`` slots, then one of the
``per_host`` PostgreSQL session advisory locks ``(hash(schema, host), slot)`` on a connection of
its own (autocommit: no transaction, no commit, one round trip to take and one to give back).
A process that dies, ``kill -9`` included, loses its connection and with it its locks at once:
there is nothing to expire. Two-key advisory locks live apart from the one-key locks of the
sender and the schema, and the schema in the key keeps databases in separate schemas apart.

A fetch that ends while another fetch of this process waits for the same host hands its slot
to that one instead of giving it back and the next taking it again (two round trips fewer: a
cycle of many feeds on one host paid two per feed), at most ``HANDOFF_LIMIT`` times in a row;
then the slot is given back, so that a waiting instance gets its turn. A slot nobody waits for
is given back at once: an idle process holds none.

When no slot is free the fetch waits, looking again every few milliseconds (at most
``MAX_WAIT_STEP``). When the database cannot be reached the fetch goes on under the process's
own limit only (logged once per outage): politeness never stops polling.

SQLite has no such thing and needs none: one monitor per SQLite file (``monitor.app.instance``),
so the process's own limit is the limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import psycopg

from monitor.logs import event

__all__ = ["HANDOFF_LIMIT", "MAX_WAIT_STEP", "PgHostSlots"]

log = logging.getLogger("monitor.host_slots")

MAX_WAIT_STEP = 0.05
"""Seconds between two looks for a free slot, at most (it starts at 5 ms)."""
HANDOFF_LIMIT = 16
"""Fetches in a row one slot may serve, handed on within this process, before it goes back."""

_TAKE = (
    "SELECT s FROM unnest(%s::int[]) AS s "
    "WHERE pg_try_advisory_lock(hashtext('raw-materials-monitor-host:' || current_schema() "
    "|| ':' || %s), s) LIMIT 1"
)
_GIVE = (
    "SELECT pg_advisory_unlock(hashtext('raw-materials-monitor-host:' || current_schema() "
    "|| ':' || %s), %s)"
)


class PgHostSlots:
    """``async with slots.hold("example.org"): ...`` holds one of the host's shared slots."""

    def __init__(self, conninfo: str, per_host: int, *, connect_timeout: int = 10) -> None:
        if per_host < 1:
            raise ValueError(f"per_host must be at least 1, got {per_host}")
        self.per_host = per_host
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._local: dict[str, asyncio.Semaphore] = {}
        # Advisory locks are re-entrant within a session: the slots this process holds are
        # left out of its next try, and one try per host at a time keeps that list true.
        self._held: dict[str, set[int]] = {}
        self._trying: dict[str, asyncio.Lock] = {}
        self._spare: dict[str, list[tuple[int, int]]] = {}
        """Host -> (slot, fetches it served) handed on to a fetch waiting for the host."""
        self._waiting: dict[str, int] = {}
        """Host -> this process's fetches waiting for a slot of it (not yet holding one)."""
        self.takes = 0
        """Round trips that took a slot (for tests and benchmarks)."""
        self._down = False
        self.waits = 0
        """How many times a fetch found every shared slot of its host taken (for tests)."""

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        local = self._local.get(host)
        if local is None:
            local = self._local[host] = asyncio.Semaphore(self.per_host)
        self._waiting[host] = self._waiting.get(host, 0) + 1
        waiting = True
        try:
            async with local:
                self._waiting[host] -= 1
                waiting = False
                spare = self._spare.get(host)
                slot: int | None
                if spare:
                    slot, served = spare.pop()
                else:
                    slot, served = await self._take(host), 0
                try:
                    yield
                finally:
                    if slot is not None:
                        if served + 1 < HANDOFF_LIMIT and self._waiting[host] > len(
                            self._spare.get(host, ())
                        ):
                            self._spare.setdefault(host, []).append((slot, served + 1))
                        else:
                            await self._give(host, slot)
        finally:
            if waiting:  # cancelled while waiting: a slot handed on for it is not wanted
                self._waiting[host] -= 1
            spare = self._spare.get(host)
            while spare and len(spare) > self._waiting[host]:
                await self._give(host, spare.pop()[0])

    async def aclose(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                await self._conn.close()
            self._conn = None
        self._held.clear()
        self._spare.clear()

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            for host, spare in self._spare.items():  # a new session holds none of them
                self._held.get(host, set()).difference_update(slot for slot, _ in spare)
            self._spare.clear()
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
            )
        return self._conn

    async def _take(self, host: str) -> int | None:
        """The slot taken, or None when the database is out of reach (local limit only)."""
        trying = self._trying.get(host)
        if trying is None:
            trying = self._trying[host] = asyncio.Lock()
        held = self._held.setdefault(host, set())
        async with trying:
            slot = await self._try(host, held)
            if slot is not None:
                held.add(slot)
            return slot

    async def _try(self, host: str, held: set[int]) -> int | None:
        step = 0.005
        waited = False
        while True:
            free = [s for s in range(self.per_host) if s not in held]
            try:
                conn = await self._connection()
                self.takes += 1
                row = await (await conn.execute(_TAKE, (free, host))).fetchone()
            except asyncio.CancelledError:
                # A stop: the lock may have been taken as the query was cut short. Closing the
                # session gives back every lock it holds; the stop closes it anyway.
                await self.aclose()
                raise
            except psycopg.Error as exc:
                self._outage(exc)
                return None
            if self._down:
                self._down = False
                event(log, "host_slots.back")
            if row is not None:
                return int(str(row[0]))
            if not waited:
                waited = True
                self.waits += 1
            await asyncio.sleep(step)
            step = min(step * 2, MAX_WAIT_STEP)

    async def _give(self, host: str, slot: int) -> None:
        self._held.get(host, set()).discard(slot)
        try:
            conn = await self._connection()
            await conn.execute(_GIVE, (host, slot))
        except psycopg.Error as exc:  # the session is gone, and its locks with it
            self._outage(exc)

    def _outage(self, exc: psycopg.Error) -> None:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._conn = None
        if not self._down:
            self._down = True
            event(
                log,
                "host_slots.unavailable",
                level=logging.WARNING,
                error=str(exc).strip(),
                hint="fetches go on under this process's own per_host limit until the "
                "database answers again",
            )
