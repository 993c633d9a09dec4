"""One poll end to end: real HTTP server on loopback -> fetch -> parse -> store (SQLite and
PostgreSQL). Nothing is ingested twice; a 304 or an identical body costs no parse; errors back
off and recover by themselves."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from monitor.app.pipeline import Pipeline, PollReport
from monitor.ingest.fetch import Fetcher, FetchLimits
from monitor.model import UTC, Feed
from monitor.store import Storage
from tests.fixtures.feed_server import ATOM, RSS, FeedServer
from tests.fixtures.storage import raw_execute

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Harness:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self.storage = storage
        self.clock = clock
        self.limits = FetchLimits(connect_timeout=1, read_timeout=1, total_timeout=2)

    def poll(self, *feeds: Feed) -> list[PollReport]:
        async def go() -> list[PollReport]:
            async with Fetcher(self.limits, trust_env=False) as fetcher:
                pipe = Pipeline(self.storage, fetcher, clock=self.clock, rng=random.Random(1))
                return await pipe.poll_many(feeds)

        return asyncio.run(go())


@pytest.fixture
def harness(storage: Storage, clock: Clock) -> Iterator[Harness]:
    yield Harness(storage, clock)


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://e.org/{guid}</link>"
        f"<description>About {title}.</description>"
        "<pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://e.org/</link>{body}</channel></rss>"
    ).encode()


def test_first_poll_stores_entries_then_304_costs_no_parse(
    harness: Harness, feed_server: FeedServer
) -> None:
    feed = Feed(url=feed_server.url("/feed.xml"))
    [first] = harness.poll(feed)
    assert (first.status, first.new, first.changed, first.entries) == ("ok", 2, 0, 2)
    state = harness.storage.feed_state(feed.url)
    assert state is not None and state.etag and state.last_success == T0
    assert state.next_poll is not None and state.next_poll > T0

    harness.clock.advance(hours=1)
    [second] = harness.poll(feed)
    assert second.status == "not_modified" and second.new == 0
    last = feed_server.requests_for("/feed.xml")[-1]
    assert last.headers["if-none-match"] == state.etag
    assert harness.storage.entry_counts()[feed.url] == 2


def test_identical_body_without_validators_is_not_parsed_again(
    harness: Harness, feed_server: FeedServer
) -> None:
    feed = Feed(url=feed_server.url("/atom.xml"))
    [first] = harness.poll(feed)
    assert first.status == "ok" and first.new >= 1
    [second] = harness.poll(feed)
    assert second.status == "unchanged" and second.entries == 0
    assert "if-none-match" not in feed_server.requests_for("/atom.xml")[-1].headers


def test_changed_entry_is_updated_not_duplicated(harness: Harness, feed_server: FeedServer) -> None:
    feed = Feed(url=feed_server.url("/news.xml"))
    feed_server.add("/news.xml", rss(("a", "Lithium price"), ("b", "Cobalt mine")))
    [r1] = harness.poll(feed)
    assert (r1.new, r1.changed) == (2, 0)
    feed_server.add(
        "/news.xml", rss(("a", "Lithium price falls"), ("b", "Cobalt mine"), ("c", "X"))
    )
    [r2] = harness.poll(feed)
    assert (r2.new, r2.changed) == (1, 1)
    assert r2.new_ids == ("c",) and r2.changed_ids == ("a",)
    entry = harness.storage.get_entry(feed.url, "a")
    assert entry is not None and entry.title == "Lithium price falls"
    assert harness.storage.entry_counts()[feed.url] == 3


def test_error_backs_off_and_recovers(harness: Harness, feed_server: FeedServer) -> None:
    feed = Feed(url=feed_server.url("/flaky.xml"), min_interval=timedelta(minutes=1))
    feed_server.add("/flaky.xml", b"oops", status=500)
    [r1] = harness.poll(feed)
    assert r1.status == "error" and "500" in (r1.error or "")
    [r2] = harness.poll(feed)
    state = harness.storage.feed_state(feed.url)
    assert state is not None and state.error_count == 2 and state.last_error
    assert r2.next_poll is not None and r2.next_poll > T0

    feed_server.add("/flaky.xml", rss(("a", "Gallium")))
    [r3] = harness.poll(feed)
    assert r3.status == "ok" and r3.new == 1
    state = harness.storage.feed_state(feed.url)
    assert state is not None and state.error_count == 0 and state.last_error is None


def test_retry_after_is_honoured(harness: Harness, feed_server: FeedServer) -> None:
    feed = Feed(url=feed_server.url("/status/429"), min_interval=timedelta(seconds=10))
    [report] = harness.poll(feed)
    assert report.status == "error"
    assert report.next_poll is not None and report.next_poll >= T0 + timedelta(seconds=120)


def test_permanent_redirect_updates_the_stored_url(
    harness: Harness, feed_server: FeedServer
) -> None:
    feed = Feed(url=feed_server.url("/redirect/301"))
    [r1] = harness.poll(feed)
    assert r1.status == "ok"
    state = harness.storage.feed_state(feed.url)
    assert state is not None and state.fetch_url == feed_server.url("/feed.xml")
    before = len(feed_server.requests_for("/redirect/301"))
    harness.poll(feed)
    assert len(feed_server.requests_for("/redirect/301")) == before  # went straight to the target


def test_temporary_redirect_keeps_the_configured_url(
    harness: Harness, feed_server: FeedServer
) -> None:
    feed = Feed(url=feed_server.url("/redirect/302"))
    harness.poll(feed)
    state = harness.storage.feed_state(feed.url)
    assert state is not None and state.fetch_url is None


def test_one_broken_feed_never_stops_the_others(harness: Harness, feed_server: FeedServer) -> None:
    good = Feed(url=feed_server.url("/feed.xml"))
    feeds = [
        Feed(url=feed_server.url("/status/404")),
        Feed(url=feed_server.url("/loop/a")),
        Feed(url=feed_server.url("/bomb")),
        Feed(url=feed_server.url("/hang")),
        good,
        Feed(url="/nonexistent/feed.xml"),
    ]
    reports = {r.feed: r for r in harness.poll(*feeds)}
    assert reports[good.url].status == "ok" and reports[good.url].new == 2
    assert [r.status for u, r in reports.items() if u != good.url] == ["error"] * 5
    assert all(r.error and u in r.error for u, r in reports.items() if u != good.url)


def test_not_a_feed_is_a_per_feed_error(harness: Harness, feed_server: FeedServer) -> None:
    feed_server.add(
        "/page.html", b"<html><body><h1>Hello</h1></body></html>", content_type="text/html"
    )
    [report] = harness.poll(Feed(url=feed_server.url("/page.html")))
    assert report.status == "error"
    state = harness.storage.feed_state(feed_server.url("/page.html"))
    assert state is not None and state.body_hash is None  # will be parsed again next time


def test_pruned_entries_do_not_come_back_as_new(harness: Harness, feed_server: FeedServer) -> None:
    feed = Feed(url=feed_server.url("/old.xml"))
    feed_server.add("/old.xml", rss(("a", "Old news")))
    harness.poll(feed)
    harness.clock.advance(days=100)
    assert harness.storage.prune(harness.clock() - timedelta(days=90), harness.clock()) == 1
    feed_server.add("/old.xml", rss(("a", "Old news, edited"), ("b", "Fresh")))
    [report] = harness.poll(feed)
    assert (report.new, report.changed) == (1, 0) and report.new_ids == ("b",)


def test_a_tombstone_lives_while_the_feed_lists_its_id_then_for_the_horizon(
    harness: Harness, feed_server: FeedServer
) -> None:
    horizon = timedelta(days=90)
    feed = Feed(url=feed_server.url("/kept.xml"))
    feed_server.add("/kept.xml", rss(("a", "Old news")))
    harness.poll(feed)
    harness.clock.advance(days=100)
    assert harness.storage.prune(harness.clock() - horizon, harness.clock()) == 1
    # The feed keeps listing "a" for 200 more days, in documents that change.
    for day, extra in enumerate("bcd"):
        feed_server.add("/kept.xml", rss(("a", "Old news"), (extra, f"News {day}")))
        [report] = harness.poll(feed)
        assert report.new_ids == (extra,)
        harness.clock.advance(days=100)
        assert harness.storage.forget_tombstones(harness.clock() - horizon) == 0
    # Then it drops "a": 90 days after its last listing the tombstone is forgotten, and a feed
    # that sends "a" again after that gets it as a new entry (documented).
    feed_server.add("/kept.xml", rss(("d", "News 2")))
    [report] = harness.poll(feed)
    assert report.status == "ok" and report.new == 0
    assert harness.storage.forget_tombstones(harness.clock() - horizon) == 1
    feed_server.add("/kept.xml", rss(("a", "Old news"), ("d", "News 2")))
    [report] = harness.poll(feed)
    assert report.new_ids == ("a",)


def test_restart_ingests_nothing_twice(
    storage_url: str, clock: Clock, feed_server: FeedServer
) -> None:
    from monitor.store import open_storage

    feeds = [Feed(url=feed_server.url("/feed.xml")), Feed(url=feed_server.url("/atom.xml"))]
    store = open_storage(storage_url)
    first = Harness(store, clock).poll(*feeds)
    store.close()
    assert sum(r.new for r in first) >= 3

    # A restarted process, and a server that lost its validators: bodies are re-parsed only
    # if they differ, and no entry is stored again.
    feed_server.add("/feed.xml", RSS)
    feed_server.add("/atom.xml", ATOM + b"\n")
    store = open_storage(storage_url)
    second = Harness(store, clock).poll(*feeds)
    assert [(r.status, r.new, r.changed) for r in second] == [("unchanged", 0, 0), ("ok", 0, 0)]
    assert sum(store.entry_counts().values()) == sum(r.new for r in first)
    store.close()


def test_big_cycles_parse_in_worker_processes(harness: Harness, feed_server: FeedServer) -> None:
    from monitor.app.pipeline import POOL_MIN_FEEDS
    from monitor.ingest.workers import ProcessParser

    feeds = []
    for i in range(POOL_MIN_FEEDS):
        feed_server.add(f"/w{i}.xml", rss((f"a{i}", f"Lithium {i}"), (f"b{i}", "Kobalt")))
        feeds.append(Feed(url=feed_server.url(f"/w{i}.xml")))
    parser = ProcessParser(2)

    async def go() -> list[PollReport]:
        async with Fetcher(harness.limits, trust_env=False) as fetcher:
            pipe = Pipeline(harness.storage, fetcher, clock=harness.clock, parser=parser)
            return await pipe.poll_many(feeds)

    try:
        reports = asyncio.run(go())
        assert parser._pool is not None  # the pool really ran
    finally:
        parser.close()
    assert [(r.status, r.new) for r in reports] == [("ok", 2)] * POOL_MIN_FEEDS
    entry = harness.storage.get_entry(feeds[3].url, "a3")
    assert entry is not None and entry.title == "Lithium 3" and entry.published.tzinfo is not None


def test_a_database_that_takes_nothing_fails_each_poll_without_raising(
    harness: Harness, feed_server: FeedServer, storage: Storage
) -> None:
    storage.close()  # every call now raises StorageError, recording the error too
    reports = harness.poll(Feed(feed_server.url("/feed.xml")), Feed(feed_server.url("/atom.xml")))
    assert [r.status for r in reports] == ["error", "error"]
    assert all(r.storage_failed and r.next_poll is not None for r in reports)
    assert all("storing this poll failed" in (r.error or "") for r in reports)
    assert "the storage is closed" in (reports[0].error or "")


def test_a_cycles_304_states_are_written_together(
    harness: Harness, feed_server: FeedServer
) -> None:
    feeds = [Feed(url=feed_server.url(p)) for p in ("/feed.xml", "/atom.xml")]
    assert [r.status for r in harness.poll(*feeds)] == ["ok", "ok"]
    before = {f.url: harness.storage.feed_state(f.url) for f in feeds}
    harness.clock.advance(hours=2)
    reports = harness.poll(*feeds)
    assert [r.status for r in reports] == ["not_modified", "unchanged"]  # atom.xml: no ETag
    for feed, report in zip(feeds, reports, strict=True):
        state = harness.storage.feed_state(feed.url)
        old = before[feed.url]
        assert state is not None and old is not None
        assert state.last_poll == state.last_success == T0 + timedelta(hours=2)
        assert state.next_poll == report.next_poll and state.next_poll != old.next_poll
        assert (state.etag, state.last_modified, state.body_hash) == (
            old.etag,
            old.last_modified,
            old.body_hash,
        )


def test_a_refused_304_state_fails_that_feed_alone(
    harness: Harness, feed_server: FeedServer, storage_url: str
) -> None:
    feeds = [Feed(url=feed_server.url(p)) for p in ("/feed.xml", "/atom.xml")]
    harness.poll(*feeds)
    refused = feeds[1].url
    if storage_url.startswith("sqlite:"):
        raw_execute(
            storage_url,
            "CREATE TRIGGER refuse BEFORE UPDATE ON feeds WHEN NEW.url = "
            f"'{refused}' AND NEW.error_count = 0 BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
    else:
        raw_execute(
            storage_url,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        )
        raw_execute(
            storage_url,
            "CREATE TRIGGER refuse BEFORE UPDATE ON feeds FOR EACH ROW WHEN "
            f"(NEW.url = '{refused}' AND NEW.error_count = 0) EXECUTE FUNCTION refuse()",
        )
    harness.clock.advance(hours=2)
    ok, failed = harness.poll(*feeds)
    # The batch was refused as a whole; written again one by one, only the refused row fails.
    assert ok.status == "not_modified" and not ok.storage_failed
    assert failed.status == "error" and failed.storage_failed and "refused" in (failed.error or "")
    state = harness.storage.feed_state(feeds[0].url)
    assert state is not None and state.last_success == T0 + timedelta(hours=2)
    state = harness.storage.feed_state(refused)
    assert state is not None and state.last_success == T0 and state.error_count == 1
