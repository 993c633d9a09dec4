"""Full-text search over stored entries (Storage.search_entries), on SQLite and PostgreSQL alike.

Part of the Storage contract; its own file so the contract suite stays one topic per section.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.model import Entry, FeedState
from monitor.store import SCHEMA_VERSION, open_storage, search_index
from monitor.store.schema import MIGRATIONS
from monitor.store.sql import SQLStorage
from tests.fixtures.storage import raw_execute

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FEED = "https://example.org/feed.xml"
OTHER = "https://example.com/rss"


def entry(
    entry_id: str,
    title: str,
    *,
    feed: str = FEED,
    summary: str = "",
    content: str = "",
    days: int = 1,
) -> Entry:
    return Entry(
        feed_url=feed,
        id=entry_id,
        title=title,
        link=f"https://example.org/{entry_id}",
        summary=summary,
        content=content,
        published=T0 - timedelta(days=days),
    )


def ids(found: list[Entry]) -> list[str]:
    return [e.id for e in found]


def test_german_words_are_found_folded_like_the_matcher(storage: SQLStorage) -> None:
    storage.record_poll(
        FeedState(FEED),
        [
            entry("de", "China verhängt Ausfuhrbeschränkungen für Gallium"),
            entry("ascii", "AUSFUHRBESCHRAENKUNGEN bleiben", days=2),
            entry("other", "Lithiumpreise fallen", summary="Keine Beschränkung", days=3),
        ],
        {},
        T0,
    )
    assert ids(storage.search_entries("Ausfuhrbeschränkungen")) == ["de", "ascii"]
    assert ids(storage.search_entries("ausfuhrbeschraenkungen")) == ["de", "ascii"]
    assert ids(storage.search_entries("gallium AUSFUHRBESCHRÄNKUNGEN")) == ["de"]
    assert ids(storage.search_entries("beschränkung")) == ["other"]  # in the summary
    assert storage.search_entries("Ausfuhr") == []  # whole words only
    assert storage.search_entries("  ... ") == []
    assert ids(storage.search_entries("ausfuhrbeschränkungen", limit=1)) == ["de"]


def test_english_search_and_hostile_query_text(storage: SQLStorage) -> None:
    storage.record_poll(
        FeedState(FEED),
        [
            entry("a", "Rare-earth export controls tightened"),
            entry("b", "Export of copper rises", days=2),
        ],
        {},
        T0,
    )
    assert ids(storage.search_entries("export")) == ["a", "b"]
    assert ids(storage.search_entries("rare earth")) == ["a"]
    # FTS5 and tsquery syntax in a query are plain words, never an error.
    assert ids(storage.search_entries('export AND "NEAR(copper' + "' OR 1=1 --")) == []
    assert ids(storage.search_entries("export* & copper | !")) == ["b"]


def test_the_index_follows_changes_and_prune(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a", "Cobalt mine closes")], {}, T0)
    later = T0 + timedelta(hours=2)
    storage.record_poll(FeedState(OTHER), [entry("a", "Cobalt", feed=OTHER, days=5)], {}, later)
    assert [(e.feed_url, e.id) for e in storage.search_entries("cobalt")] == [
        (FEED, "a"),
        (OTHER, "a"),
    ]
    changed = entry("a", "Nickel mine closes")
    storage.record_poll(FeedState(FEED), [changed], {}, T0 + timedelta(hours=1))
    assert [e.feed_url for e in storage.search_entries("cobalt")] == [OTHER]
    assert [e.title for e in storage.search_entries("nickel")] == ["Nickel mine closes"]
    assert storage.prune(T0 + timedelta(minutes=30), T0 + timedelta(days=1)) == 1
    # FEED's entry (first seen at T0) is gone, with its index row; OTHER's stays.
    assert storage.search_entries("nickel") == []
    assert [e.feed_url for e in storage.search_entries("cobalt")] == [OTHER]


def rewind_to_before_the_index(storage_url: str) -> None:
    """Drop the search index's structures and the versions from its step on, keep the entries."""
    (step,) = [m for m in MIGRATIONS if m.description.startswith("search:")]
    assert step.backfill is not None
    # The steps after it go too (their tables dropped): the database is rewound to the one before.
    later = [m.version for m in MIGRATIONS if m.version > step.version]
    # 9: entry_embeddings; 10: hits as text on PostgreSQL; 11: the index a column of entries
    # on PostgreSQL, lz4; 12: SQLite's FTS table made again (dropped below with step 8's).
    # Update this rewind when a step is added.
    assert later == [9, 10, 11, 12]
    raw_execute(storage_url, "DROP TABLE entry_embeddings")
    if not storage_url.startswith("sqlite"):
        raw_execute(
            storage_url, "ALTER TABLE matches ALTER COLUMN hits TYPE JSONB USING hits::jsonb"
        )
    if storage_url.startswith("sqlite"):
        raw_execute(storage_url, "DROP TABLE entry_search")
        raw_execute(storage_url, "DROP TABLE entry_search_keys")
    else:  # step 11's column (its GIN index goes with it); step 8's table is gone already
        raw_execute(storage_url, "ALTER TABLE entries DROP COLUMN search")
    raw_execute(storage_url, "DELETE FROM schema_version WHERE version >= ?", (step.version,))


def test_upgrading_indexes_the_entries_already_stored(storage_url: str) -> None:
    first = open_storage(storage_url)
    first.close()
    with open_storage(storage_url) as store:
        store.record_poll(
            FeedState(FEED),
            [entry("old", "Ausfuhrbeschränkungen für Germanium"), entry("x", "Zinn", days=2)],
            {},
            T0,
        )
    rewind_to_before_the_index(storage_url)
    with open_storage(storage_url) as store:
        assert isinstance(store, SQLStorage)
        assert store.schema_version == SCHEMA_VERSION
        assert ids(store.search_entries("ausfuhrbeschraenkungen germanium")) == ["old"]
        assert ids(store.search_entries("zinn")) == ["x"]


def test_upgrading_a_large_store_reads_it_in_chunks_and_logs_progress(
    storage_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # 2 entries a chunk, 23 entries over two feeds: 12 chunks, the keys' order crossing feeds;
    # at ten chunks or more the upgrade logs its progress.
    monkeypatch.setattr(search_index, "_CHUNK", 2)
    with open_storage(storage_url) as store:
        for feed in (FEED, OTHER):
            count = 12 if feed == FEED else 11
            store.record_poll(
                FeedState(feed),
                [entry(f"e{n:02}", f"Gallium {feed[-8:]} {n}", feed=feed) for n in range(count)],
                {},
                T0,
            )
    rewind_to_before_the_index(storage_url)
    read: list[int] = []
    real = search_index.stored_entries

    def counted(tx: search_index.SearchTx) -> Iterator[list[tuple[str, str, str]]]:
        for chunk in real(tx):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(search_index, "stored_entries", counted)
    caplog.set_level(logging.INFO, logger="monitor.store")
    with open_storage(storage_url) as store:
        found = store.search_entries("gallium", limit=100)
        assert len(found) == 23
        assert len({(e.feed_url, e.id) for e in found}) == 23
        assert ids(store.search_entries("gallium 7")) == ["e07", "e07"]
    # Step 8 reads the entries (and on PostgreSQL step 11 once more), two at a time.
    assert read and max(read) == 2 and sum(read) % 23 == 0
    progress = [r for r in caplog.records if r.getMessage() == "store.upgrade.search_index"]
    assert progress, "no progress logged"
    assert {r.monitor_kv["of"] for r in progress} == {23}  # type: ignore[attr-defined]
    assert [r.monitor_kv["entries"] for r in progress][-1] == 23  # type: ignore[attr-defined]


def test_entry_counts_since_count_by_first_seen(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a", "A"), entry("b", "B")], {}, T0)
    storage.record_poll(FeedState(OTHER), [entry("c", "C", feed=OTHER)], {}, T0 + timedelta(days=2))
    assert storage.entry_counts_since(T0) == {FEED: 2, OTHER: 1}
    assert storage.entry_counts_since(T0 + timedelta(days=1)) == {OTHER: 1}
    assert storage.entry_counts_since(T0 + timedelta(days=3)) == {}


def test_get_story_by_id(storage: SQLStorage) -> None:
    from monitor.model import StoryAssignment

    a = entry("a", "Gallium curbs")
    b = entry("b", "Galliumexporte", feed=OTHER, days=2)
    storage.record_poll(
        FeedState(FEED),
        [a],
        {},
        T0,
        stories=[StoryAssignment(FEED, "a", "s1", a.published, "en", "x")],
    )
    storage.record_poll(
        FeedState(OTHER),
        [b],
        {},
        T0,
        stories=[StoryAssignment(OTHER, "b", "s1", b.published, "de", "y")],
    )
    story = storage.get_story("s1")
    assert story is not None and [m.entry_id for m in story.members] == ["b", "a"]
    assert story.outlets == ("y", "x")
    assert storage.get_story("nope") is None
