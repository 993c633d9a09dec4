"""Schema step 10: the matches' hits are JSON text on PostgreSQL as on SQLite (they were jsonb,
whose parse and compression were ~40 % of the server's CPU in a first poll). An upgraded
database reads back every hit it stored as jsonb, and new rows keep the client's text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.model import Entry, FeedState, Hit, Match, Priority
from monitor.store import SCHEMA_VERSION, open_storage
from monitor.store.codec import encode_hits
from monitor.store.sql import SQLStorage
from tests.fixtures.storage import raw_execute

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FEED = "https://example.org/feed.xml"
HITS = (
    Hit("lithium", "Lithium", "title", 0, 7, "Lithium", 100.0),
    Hit("seltene-erden", "Seltene Erden", "content", 120, 134, "Seltenen Erden", 0.1 + 0.2),
    Hit("kobalt", "Kobalt", "summary", 3, 9, 'Kobalt—„Preis“ 😀 \\ "q"', 87.5, "semantic", 0.61),
)
MATCHES = [Match("critical", 97, Priority.ALERT, HITS), Match("weekly", 40, Priority.DIGEST, ())]


def entry(entry_id: str) -> Entry:
    return Entry(
        feed_url=FEED,
        id=entry_id,
        title=f"Lithium {entry_id}",
        link=f"https://example.org/{entry_id}",
        summary="Lithium prices.",
        content="",
        published=T0 - timedelta(days=1),
    )


def test_hits_are_stored_as_the_text_sent(storage_url: str) -> None:
    with open_storage(storage_url) as store:
        assert isinstance(store, SQLStorage)
        store.record_poll(FeedState(FEED), [entry("a")], {"a": MATCHES}, T0)
    rows = raw_execute(storage_url, "SELECT hits FROM matches WHERE rule_id = 'critical'")
    assert rows == [(encode_hits(HITS),)]


def test_an_upgraded_database_reads_back_the_hits_it_stored_as_jsonb(storage_url: str) -> None:
    with open_storage(storage_url) as store:
        assert isinstance(store, SQLStorage)
        store.record_poll(FeedState(FEED), [entry("a")], {"a": MATCHES}, T0)
    # Rewound to step 9: on PostgreSQL the column was jsonb (SQLite's was always text).
    if not storage_url.startswith("sqlite"):
        raw_execute(
            storage_url, "ALTER TABLE matches ALTER COLUMN hits TYPE JSONB USING hits::jsonb"
        )
    raw_execute(storage_url, "DELETE FROM schema_version WHERE version >= 10")
    with open_storage(storage_url) as store:
        assert isinstance(store, SQLStorage)
        assert store.schema_version == SCHEMA_VERSION
        assert store.matches_for(FEED, "a") == MATCHES
        store.record_poll(FeedState(FEED), [entry("b")], {"b": MATCHES}, T0)
        assert store.matches_for(FEED, "b") == MATCHES
    if not storage_url.startswith("sqlite"):
        kind = raw_execute(
            storage_url,
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'matches' "
            "AND column_name = 'hits'",
        )
        assert kind == [("text",)]
