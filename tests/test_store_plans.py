"""How the PostgreSQL store has its statements planned (issue 14, bench/RESULTS.md, helper pg5):
a statement run with ``planned=True`` is planned for its values at every call, never kept as a
prepared statement with one generic plan made while a fresh store's tables were small; JIT
compilation is off in the store's sessions; and the stories' first and last seen, now read per
story on PostgreSQL, are still those of their members on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.model import Entry, FeedState, StoryAssignment
from monitor.store.codec import decode_ts
from monitor.store.sql import SQLStorage

T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
FEED = "https://wire.example/rss"


def entry(entry_id: str, minutes: int) -> Entry:
    return Entry(
        feed_url=FEED,
        id=entry_id,
        title=f"Cobalt {entry_id}",
        link=f"https://wire.example/{entry_id}",
        summary="Cobalt prices.",
        content="",
        published=T0 + timedelta(minutes=minutes),
    )


def member(e: Entry, story: str) -> StoryAssignment:
    return StoryAssignment(e.feed_url, e.id, story, e.published, "en", "wire.example")


@pytest.mark.postgres
@pytest.mark.parametrize("storage_url", ["postgres"], indirect=True)
def test_a_planned_statement_is_never_prepared(storage: SQLStorage) -> None:
    planned = "SELECT count(*) FROM story_members WHERE seq > ?"
    prepared = "SELECT count(*) FROM stories WHERE last_seen > ?"
    with storage._transaction("probe", write=False) as tx:
        for _ in range(8):  # psycopg prepares a statement at its fifth run
            tx.rows(planned, (0,), planned=True)
            tx.rows(prepared, (T0,))
        kept = [str(r[0]) for r in tx.rows("SELECT statement FROM pg_prepared_statements")]
    assert any("FROM stories WHERE last_seen" in s for s in kept), kept
    assert not any("FROM story_members WHERE seq" in s for s in kept), kept


@pytest.mark.postgres
@pytest.mark.parametrize("storage_url", ["postgres"], indirect=True)
def test_jit_is_off_in_the_store_sessions_only(storage: SQLStorage) -> None:
    with storage._transaction("probe", write=False) as tx:
        assert tx.value("SHOW jit") == "off"


def test_first_and_last_seen_follow_the_members_over_polls(storage: SQLStorage) -> None:
    first = [entry("a", 10), entry("b", 20)]
    storage.record_poll(
        FeedState(FEED), first, {}, T0, stories=[member(first[0], "s1"), member(first[1], "s2")]
    )
    # Later polls: s1 gains an earlier and a later member; "s3" is given for an entry that
    # already has a story, so it gets no member and no row.
    later = [entry("c", 5), entry("d", 40)]
    storage.record_poll(FeedState(FEED), later, {}, T0, stories=[member(e, "s1") for e in later])
    assert storage.record_stories([member(first[1], "s3")], T0) == 0
    with storage._transaction("probe", write=False) as tx:
        rows = tx.rows("SELECT id, first_seen, last_seen FROM stories ORDER BY id")
    got = {str(r[0]): (decode_ts(r[1]), decode_ts(r[2])) for r in rows}
    assert got == {
        "s1": (T0 + timedelta(minutes=5), T0 + timedelta(minutes=40)),
        "s2": (T0 + timedelta(minutes=20), T0 + timedelta(minutes=20)),
    }
    assert {s.id: len(s.members) for s in storage.recent_stories()} == {"s1": 3, "s2": 1}
