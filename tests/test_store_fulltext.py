"""Storage contract for the full-text cache (schema step 6), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.model import FullText, FullTextState
from monitor.store import open_storage
from monitor.store.sql import SQLStorage
from tests.fixtures.storage import raw_execute

T0 = datetime(2026, 11, 24, 8, 0, 0, 123456, tzinfo=UTC)
FEED = "https://example.org/feed.xml"
OTHER = "https://example.com/rss"


def ok(url: str, text: str = "Der Haupttext.", feed: str = FEED, at: datetime = T0) -> FullText:
    return FullText(url, FullTextState.OK, at, text=text, feed_url=feed, status=200, seconds=0.03)


def failed(
    url: str, error: str = "not found (HTTP 404)", feed: str = FEED, at: datetime = T0
) -> FullText:
    return FullText(url, FullTextState.FAILED, at, error=error, feed_url=feed, status=404)


def test_full_texts_round_trip_every_field(storage: SQLStorage) -> None:
    a = ok("https://e.org/a", "Zeile eins\nZeile zwei – Seltene Erden, 5 % mehr")
    b = failed("https://e.org/b")
    assert storage.save_fulltexts([a, b]) == 2
    got = storage.fulltexts(["https://e.org/a", "https://e.org/b", "https://e.org/unknown"])
    assert got == {a.url: a, b.url: b}
    assert got[a.url].ok and not got[b.url].ok
    assert storage.fulltexts([]) == {}


def test_a_second_fetch_replaces_the_row_and_keeps_the_first_feed(
    storage: SQLStorage, storage_url: str
) -> None:
    url = "https://e.org/a"
    storage.save_fulltexts([failed(url)])
    later = ok(url, "Jetzt da.", feed=OTHER, at=T0 + timedelta(hours=1))
    storage.save_fulltexts([later])
    [row] = storage.fulltexts([url]).values()
    assert row.ok and row.text == "Jetzt da." and row.error is None
    assert row.fetched_at == later.fetched_at and row.feed_url == FEED
    assert raw_execute(storage_url, "SELECT count(*) FROM fulltext") == [(1,)]


def test_counts_per_feed_and_latest_failures(storage: SQLStorage) -> None:
    storage.save_fulltexts(
        [
            ok("https://e.org/1"),
            ok("https://e.org/2"),
            failed("https://e.org/3", "first", at=T0),
            failed("https://e.org/4", "second", at=T0 + timedelta(minutes=1)),
            failed("https://e.com/5", "other feed", feed=OTHER),
        ]
    )
    counts = storage.fulltext_counts()
    assert counts[FEED] == {FullTextState.OK: 2, FullTextState.FAILED: 2}
    assert counts[OTHER] == {FullTextState.OK: 0, FullTextState.FAILED: 1}
    assert [f.error for f in storage.fulltext_failures(feed_url=FEED)] == ["second", "first"]
    assert [f.error for f in storage.fulltext_failures(feed_url=FEED, limit=1)] == ["second"]
    assert len(storage.fulltext_failures()) == 3


def test_prune_drops_pages_fetched_before_the_cutoff(storage: SQLStorage) -> None:
    storage.save_fulltexts(
        [ok("https://e.org/old", at=T0), ok("https://e.org/new", at=T0 + timedelta(days=2))]
    )
    assert storage.prune_fulltexts(T0 + timedelta(days=1)) == 1
    assert list(storage.fulltexts(["https://e.org/old", "https://e.org/new"])) == [
        "https://e.org/new"
    ]


def test_long_urls_and_many_at_once(storage: SQLStorage) -> None:
    """Keyed by a hash: a URL of 5,000 characters is fine on PostgreSQL's index too, and a
    lookup of more URLs than one statement's parameters is split."""
    long_url = "https://e.org/" + "x" * 5000
    many = [ok(f"https://e.org/{i}") for i in range(1200)]
    storage.save_fulltexts([ok(long_url), *many])
    got = storage.fulltexts([long_url, *(m.url for m in many)])
    assert len(got) == 1201 and got[long_url].text == "Der Haupttext."


def test_an_empty_url_is_refused_before_writing(storage: SQLStorage) -> None:
    with pytest.raises(ValueError, match="without a URL"):
        storage.save_fulltexts([ok("https://e.org/a"), ok("")])
    assert storage.fulltexts(["https://e.org/a"]) == {}


def test_the_cache_survives_reopening(storage: SQLStorage, storage_url: str) -> None:
    storage.save_fulltexts([ok("https://e.org/a")])
    storage.close()
    with open_storage(storage_url) as again:
        assert again.fulltexts(["https://e.org/a"])["https://e.org/a"].text == "Der Haupttext."
