"""Per-host fetch slots shared across processes (monitor/store/host_slots.py), in the store
contract: on PostgreSQL two holders (two instances) share ``per_host`` slots per host; a closed
session gives its slots back; SQLite has none (one monitor per file: its own limit is it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg

from monitor.ingest.fetch import HostSlots
from monitor.store import open_storage


def test_slots_are_shared_between_instances_per_host(storage_url: str) -> None:
    with open_storage(storage_url) as store:
        a, b = store.host_slots(2), store.host_slots(2)
    if storage_url.startswith("sqlite"):
        assert a is None and b is None
        return
    assert a is not None and b is not None

    async def scenario() -> None:
        events: list[str] = []
        try:
            async with a.hold("example.org"), a.hold("example.org"):
                # Both of the host's slots are a's: b waits, for this host only.
                waiting = asyncio.create_task(hold(b, "example.org", events))
                async with b.hold("other.example"):
                    events.append("other")
                await asyncio.sleep(0.3)
                assert events == ["other"]
                assert b.waits == 1
            await asyncio.wait_for(waiting, 5)
            assert events == ["other", "example.org"]
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(scenario())


async def hold(slots: HostSlots, host: str, events: list[str]) -> None:
    async with slots.hold(host):
        events.append(host)


def test_a_dead_session_gives_its_slots_back_at_once(storage_url: str) -> None:
    with open_storage(storage_url) as store:
        a, b = store.host_slots(1), store.host_slots(1)
    if a is None or b is None:
        assert storage_url.startswith("sqlite")
        return

    async def scenario() -> None:
        try:
            entered = asyncio.Event()
            never = asyncio.Event()

            async def holder() -> None:
                async with a.hold("h.example"):
                    entered.set()
                    await never.wait()

            task = asyncio.create_task(holder())
            await entered.wait()
            # The session ends as with kill -9 (the server ends the backend): no expiry needed.
            conn = a._conn
            assert conn is not None
            pid = conn.info.backend_pid
            async with await psycopg.AsyncConnection.connect(storage_url, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await asyncio.wait_for(hold(b, "h.example", []), 5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(scenario())


def test_schemas_do_not_share_slots(postgres_url: str) -> None:
    from tests.fixtures.storage import postgres_schema_url

    with postgres_schema_url(postgres_url) as one, postgres_schema_url(postgres_url) as two:
        with open_storage(one) as s1, open_storage(two) as s2:
            a, b = s1.host_slots(1), s2.host_slots(1)
        assert a is not None and b is not None

        async def scenario() -> None:
            try:
                async with a.hold("h.example"):
                    await asyncio.wait_for(hold(b, "h.example", []), 2)
                assert b.waits == 0
            finally:
                await a.aclose()
                await b.aclose()

        asyncio.run(scenario())


def test_a_listener_wakes_when_another_process_makes_feeds_due(storage_url: str) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    feeds = ["http://127.0.0.1/w1.xml", "http://127.0.0.1/w2.xml"]
    with open_storage(storage_url) as store:
        store.sync_leases(feeds, t0)
        listener = store.due_listener()
        if listener is None:
            assert storage_url.startswith("sqlite")
            return

        async def scenario() -> tuple[bool, bool, bool, float]:
            try:
                await listener.start()
                quiet = await listener.wait(0.2)  # nothing announced: the timeout
                loop = asyncio.get_running_loop()
                started = loop.time()
                # Another connection (as another instance) releases a lease and commits.
                await asyncio.to_thread(_release_elsewhere, storage_url, feeds[0], t0)
                woken = await listener.wait(5)
                latency = loop.time() - started
                # A claim that frees nothing announces nothing.
                await asyncio.to_thread(_release_elsewhere, storage_url, None, t0)
                again = await listener.wait(0.3)
                return quiet, woken, again, latency
            finally:
                await listener.aclose()

        quiet, woken, again, latency = asyncio.run(scenario())
        assert (quiet, woken, again) == (False, True, False)
        assert latency < 2


def _release_elsewhere(url: str, feed: str | None, t0: datetime) -> None:
    with open_storage(url) as other:
        if feed is not None:
            other.claim_feeds("x", t0, lease=timedelta(minutes=1), limit=1)
        other.release_leases("x" if feed is not None else "nobody")


def test_a_slot_is_handed_to_the_next_fetch_of_the_host_and_given_back_when_idle(
    storage_url: str,
) -> None:
    """Many fetches of one host in one process: far fewer round trips than two per fetch, at
    most ``per_host`` at once, another instance waiting meanwhile gets its slot, and an idle
    process holds no slot."""
    from monitor.store.host_slots import HANDOFF_LIMIT

    with open_storage(storage_url) as store:
        a, b = store.host_slots(2), store.host_slots(2)
    if a is None or b is None:
        assert storage_url.startswith("sqlite")
        return

    async def scenario() -> None:
        inside = 0
        most = 0
        order: list[str] = []

        async def fetch(slots: HostSlots, who: str) -> None:
            nonlocal inside, most
            async with slots.hold("one.example"):
                inside += 1
                most = max(most, inside)
                order.append(who)
                await asyncio.sleep(0.005)
                inside -= 1

        try:
            n = 4 * HANDOFF_LIMIT
            many = [asyncio.create_task(fetch(a, "a")) for _ in range(n)]
            await asyncio.sleep(0.05)
            other = asyncio.create_task(fetch(b, "b"))
            await asyncio.wait_for(asyncio.gather(*many, other), 20)
            assert most <= 2
            assert a.takes < n // 4  # two slots, each handed on up to HANDOFF_LIMIT times
            assert order.count("b") == 1
            # Nothing waits any more: a gave both slots back, b takes both at once.
            before = b.waits
            async with b.hold("one.example"), b.hold("one.example"):
                pass
            assert b.waits == before
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(scenario())
