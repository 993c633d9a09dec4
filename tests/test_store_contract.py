"""The Storage contract (monitor/store/base.py), run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from monitor.errors import SchemaVersionError, StorageError
from monitor.model import Entry, FeedState, Hit, IngestResult, Match, Priority
from monitor.store import SCHEMA_VERSION, open_storage
from monitor.store.schema import MIGRATIONS, Migration
from monitor.store.sql import SQLStorage
from tests.fixtures.storage import raw_execute

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
FEED = "https://example.org/feed.xml"
OTHER = "https://example.com/rss"


def entry(entry_id: str, feed: str = FEED, title: str | None = None, **kw: object) -> Entry:
    fields: dict[str, object] = {
        "feed_url": feed,
        "id": entry_id,
        "title": title if title is not None else f"Lithium price {entry_id}",
        "link": f"https://example.org/{entry_id}",
        "summary": "Lithium carbonate prices fell.",
        "content": "Long text about Lithium.",
        "published": T0 - timedelta(days=1),
    }
    fields.update(kw)
    return Entry(**fields)  # type: ignore[arg-type]


def match(rule_id: str = "lithium", score: int = 80, **kw: object) -> Match:
    hit = Hit("lithium", "Lithium", "title", 0, 7, "Lithium", 100.0)
    return Match(rule_id, score, kw.get("priority", Priority.DIGEST), kw.get("hits", (hit,)))  # type: ignore[arg-type]


def stored(e: Entry, first_seen: datetime) -> Entry:
    return replace(e, first_seen=first_seen)


# --- schema ------------------------------------------------------------------


def test_migrations_are_numbered_one_by_one_and_end_at_the_schema_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION


def test_a_new_database_is_empty_at_the_current_schema_version(storage: SQLStorage) -> None:
    assert storage.schema_version == SCHEMA_VERSION
    assert storage.feed_states() == {}
    assert storage.entry_counts() == {}
    assert list(storage.iter_entries()) == []


def test_reopening_keeps_the_data(storage: SQLStorage, storage_url: str) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {}, T0)
    with open_storage(storage_url) as again:
        assert again.entry_counts() == {FEED: 1}
    assert raw_execute(storage_url, "SELECT max(version) FROM schema_version") == [
        (SCHEMA_VERSION,)
    ]


def test_a_newer_database_is_refused(storage: SQLStorage, storage_url: str) -> None:
    raw_execute(storage_url, "INSERT INTO schema_version (version) VALUES (?)", (99,))
    with pytest.raises(SchemaVersionError) as caught:
        open_storage(storage_url)
    assert str(caught.value) == (
        f"database {storage.url} is at schema version 99, "
        f"this monitor knows up to {SCHEMA_VERSION}; upgrade the monitor"
    )


def test_a_new_migration_step_is_applied_once_at_open(
    storage: SQLStorage, storage_url: str
) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {}, T0)
    step = Migration(
        SCHEMA_VERSION + 1, "outbox", ("CREATE TABLE outbox (id {key} PRIMARY KEY, at {ts})",)
    )

    class Newer(type(storage)):  # type: ignore[misc]
        migrations = (*MIGRATIONS, step)

    with Newer.from_url(storage_url) as newer:
        assert newer.schema_version == SCHEMA_VERSION + 1
        assert newer.entry_counts() == {FEED: 1}
    with Newer.from_url(storage_url) as newer:  # a second open applies nothing
        assert newer.schema_version == SCHEMA_VERSION + 1
    assert raw_execute(storage_url, "SELECT count(*) FROM outbox") == [(0,)]
    with pytest.raises(SchemaVersionError):  # and the older code now refuses the database
        open_storage(storage_url)


# --- feeds -------------------------------------------------------------------


def test_sync_feeds_adds_missing_feeds_and_never_deletes(storage: SQLStorage) -> None:
    storage.sync_feeds([FEED, OTHER, FEED])
    assert storage.feed_states() == {FEED: FeedState(FEED), OTHER: FeedState(OTHER)}
    storage.save_feed_state(FeedState(FEED, title="Kept", error_count=2))
    storage.sync_feeds([FEED])
    states = storage.feed_states()
    assert set(states) == {FEED, OTHER}
    assert states[FEED].title == "Kept"
    assert states[FEED].error_count == 2


def test_feed_state_round_trips_every_field(storage: SQLStorage) -> None:
    state = FeedState(
        url=FEED,
        fetch_url="https://new.example.org/feed",
        title="Rohstoffe – Nachrichten",
        etag='W/"abc"',
        last_modified="Mon, 06 May 2024 07:08:09 GMT",
        body_hash="0f1e2d",
        last_poll=T0,
        last_success=T0 - timedelta(minutes=30),
        last_error="HTTP 503",
        error_count=3,
        next_poll=T0 + timedelta(seconds=90, microseconds=1),
    )
    assert storage.feed_state(FEED) is None
    storage.save_feed_state(state)
    assert storage.feed_state(FEED) == state
    cleared = FeedState(FEED, title="again")
    storage.save_feed_state(cleared)
    assert storage.feed_state(FEED) == cleared


# --- record_poll -------------------------------------------------------------


def test_record_poll_stores_new_entries_state_and_matches(storage: SQLStorage) -> None:
    a, b = entry("a"), entry("b", author="Reuters", language="en", updated=T0)
    state = FeedState(FEED, title="Example", last_poll=T0, last_success=T0)
    result = storage.record_poll(state, [a, b], {"a": [match()]}, T0)
    assert result == IngestResult(new=("a", "b"), changed=(), matches=1)
    assert storage.feed_state(FEED) == state
    assert storage.get_entry(FEED, "a") == stored(a, T0)
    assert storage.get_entry(FEED, "b") == stored(b, T0)
    assert storage.get_entry(FEED, "b").fingerprint == b.fingerprint  # type: ignore[union-attr]
    assert storage.get_entry(FEED, "zzz") is None
    assert storage.matches_for(FEED, "a") == [match()]
    assert storage.matches_for(FEED, "b") == []
    assert storage.known_entries(FEED) == {"a": a.fingerprint, "b": b.fingerprint}


def test_the_same_poll_again_changes_nothing(storage: SQLStorage) -> None:
    entries, matches = [entry("a"), entry("b")], {"a": [match()]}
    storage.record_poll(FeedState(FEED), entries, matches, T0)
    later = T0 + timedelta(hours=1)
    result = storage.record_poll(FeedState(FEED), entries, matches, later)
    assert result == IngestResult()
    assert storage.entry_counts() == {FEED: 2}
    assert storage.get_entry(FEED, "a").first_seen == T0  # type: ignore[union-attr]
    assert list(storage.iter_matches(since=later)) == []  # matches were not rewritten


def test_a_changed_entry_is_updated_not_duplicated(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {"a": [match("old")]}, T0)
    later = T0 + timedelta(hours=2)
    edited = entry("a", title="Lithium price revised", link=None)
    result = storage.record_poll(FeedState(FEED), [edited], {"a": [match("new", 95)]}, later)
    assert result == IngestResult(new=(), changed=("a",), matches=1)
    assert storage.entry_counts() == {FEED: 1}
    assert storage.get_entry(FEED, "a") == stored(edited, T0)  # first seen is kept
    assert storage.matches_for(FEED, "a") == [match("new", 95)]
    assert storage.known_entries(FEED) == {"a": edited.fingerprint}
    assert raw_change_count(storage, "a") == 1


def raw_change_count(storage: SQLStorage, entry_id: str) -> int:
    with storage._transaction("test", write=False) as tx:
        return int(
            tx.value(
                "SELECT change_count FROM entries WHERE feed_url = ? AND entry_id = ?",
                (FEED, entry_id),
            )
        )


def test_a_changed_entry_without_matches_loses_its_old_ones(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {"a": [match()]}, T0)
    result = storage.record_poll(FeedState(FEED), [entry("a", title="Other")], {}, T0)
    assert result.changed == ("a",)
    assert storage.matches_for(FEED, "a") == []


def test_matches_of_an_unchanged_entry_are_ignored(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {"a": [match("one")]}, T0)
    result = storage.record_poll(FeedState(FEED), [entry("a")], {"a": [match("two")]}, T0)
    assert result == IngestResult()
    assert storage.matches_for(FEED, "a") == [match("one")]


def test_a_repeated_id_in_one_poll_counts_once_last_wins(storage: SQLStorage) -> None:
    first, last = entry("a", title="first"), entry("a", title="last")
    result = storage.record_poll(FeedState(FEED), [first, last], {}, T0)
    assert result.new == ("a",)
    assert storage.get_entry(FEED, "a") == stored(last, T0)


def test_skipped_ids_are_remembered_as_seen_but_not_stored(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("kept")], {}, T0)
    many = [f"old-{n}" for n in range(1_200)]  # more than one statement's worth
    result = storage.record_poll(
        FeedState(FEED), [entry("new")], {}, T0, skipped=[*many, "kept", "new", many[0]]
    )
    assert result.new == ("new",)
    known = storage.known_entries(FEED)
    assert known["kept"] and known["new"]  # a stored or stored-now id is no tombstone
    assert all(known[i] == "" for i in many) and storage.get_entry(FEED, "old-1") is None
    later = storage.record_poll(FeedState(FEED), [entry("old-1"), entry("newer")], {}, T0)
    assert later.new == ("newer",)
    assert storage.entry_counts()[FEED] == 3


def test_entries_are_unique_per_feed_not_globally(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("same")], {}, T0)
    storage.record_poll(FeedState(OTHER), [entry("same", feed=OTHER)], {}, T0)
    assert [e.feed_url for e in storage.find_entries("same")] == [OTHER, FEED]  # by URL
    assert storage.find_entries("nothing") == []


@pytest.mark.parametrize(
    ("entries", "matches", "message"),
    [
        ([entry("a", feed=OTHER)], {}, "belongs to"),
        ([entry("a")], {"b": [match()]}, "not among the entries"),
        ([entry("a")], {"a": [match("r"), match("r", 10)]}, "two matches for one rule"),
    ],
)
def test_caller_mistakes_are_refused_before_writing(
    storage: SQLStorage, entries: list[Entry], matches: dict[str, list[Match]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        storage.record_poll(FeedState(FEED), entries, matches, T0)
    assert storage.feed_states() == {}


def test_a_failing_poll_writes_nothing(storage: SQLStorage) -> None:
    """The bad entry comes last, after the state and the first entries went to the database."""
    storage.record_poll(FeedState(FEED, title="before"), [entry("old")], {}, T0)
    naive = entry("bad", published=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        storage.record_poll(
            FeedState(FEED, title="after"), [entry("a"), entry("b"), naive], {"a": [match()]}, T0
        )
    assert storage.feed_state(FEED) == FeedState(FEED, title="before")
    assert storage.known_entries(FEED).keys() == {"old"}
    assert list(storage.iter_matches()) == []


def test_naive_now_is_refused(storage: SQLStorage) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        storage.record_poll(FeedState(FEED), [entry("a")], {}, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        storage.prune(datetime(2024, 1, 1), T0)


# --- values round-trip exactly -----------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        T0,
        datetime(2024, 5, 6, 9, 8, 9, 999999, tzinfo=timezone(timedelta(hours=2))),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_datetimes_round_trip_to_the_microsecond_as_utc(
    storage: SQLStorage, moment: datetime
) -> None:
    e = entry("a", published=moment, updated=moment)
    storage.record_poll(FeedState(FEED, next_poll=moment), [e], {}, moment)
    back = storage.get_entry(FEED, "a")
    assert back is not None
    for value in (back.published, back.updated, back.first_seen):
        assert value == moment
        assert value.tzinfo == UTC
        assert value.microsecond == moment.astimezone(UTC).microsecond
    state = storage.feed_state(FEED)
    assert state is not None and state.next_poll == moment and state.next_poll.tzinfo == UTC


def test_matches_and_hits_round_trip_exactly(storage: SQLStorage) -> None:
    hits = (
        Hit("lithium", "Lithium", "title", 0, 7, "Lithium", 100.0),
        Hit("seltene-erden", "Seltene Erden", "content", 120, 134, "Seltenen Erden", 0.1 + 0.2),
        Hit("kobalt", "Kobalt", "summary", 3, 9, "Kobalt—„Preis“ 😀", 87.5),
    )
    matches = [
        Match("critical", 97, Priority.ALERT, hits),
        Match("weekly", 40, Priority.DIGEST, ()),
    ]
    storage.record_poll(FeedState(FEED), [entry("a")], {"a": matches}, T0)
    assert storage.matches_for(FEED, "a") == matches  # best score first
    assert [m for _, m in storage.iter_matches()] == sorted(matches, key=lambda m: m.rule_id)


# --- prune and tombstones ----------------------------------------------------


def test_prune_deletes_old_entries_and_their_matches_and_keeps_tombstones(
    storage: SQLStorage,
) -> None:
    storage.record_poll(FeedState(FEED), [entry("old")], {"old": [match()]}, T0)
    cutoff = T0 + timedelta(days=1)
    storage.record_poll(FeedState(FEED), [entry("edge")], {"edge": [match()]}, cutoff)
    assert storage.prune(cutoff, now=cutoff + timedelta(days=1)) == 1
    assert storage.get_entry(FEED, "old") is None
    assert storage.matches_for(FEED, "old") == []
    assert storage.get_entry(FEED, "edge") is not None  # first seen at the cutoff: kept
    assert storage.known_entries(FEED) == {"old": "", "edge": entry("edge").fingerprint}
    assert storage.entry_counts() == {FEED: 1}
    assert storage.prune(cutoff, now=cutoff) == 0


def test_a_pruned_entry_that_reappears_is_not_new(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {}, T0)
    storage.prune(T0 + timedelta(seconds=1), now=T0)
    later = T0 + timedelta(days=40)
    again = storage.record_poll(FeedState(FEED), [entry("a", title="edited")], {}, later)
    assert again == IngestResult()
    assert storage.get_entry(FEED, "a") is None


def test_known_entries_of_given_ids_reads_only_those(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [entry("live"), entry("other")], {}, T0)
    storage.record_poll(FeedState(FEED), [], {}, T0, skipped=["dead", "dead-too"])
    storage.record_poll(FeedState(OTHER), [entry("x", feed=OTHER)], {}, T0)
    ids = ["live", "dead", "x", "never", "live"]
    assert storage.known_entries(FEED, ids) == {"live": entry("live").fingerprint, "dead": ""}
    assert storage.known_entries(FEED, []) == {}
    many = [f"n{i}" for i in range(1_100)] + ["dead"]  # more than one statement's worth
    assert storage.known_entries(FEED, many) == {"dead": ""}


HORIZON = timedelta(days=90)


def _pruned_at_t0(storage: SQLStorage) -> None:
    """Entry "a" stored at T0 and pruned at once: a tombstone made at T0."""
    storage.record_poll(FeedState(FEED), [entry("a")], {}, T0)
    assert storage.prune(T0 + timedelta(seconds=1), now=T0) == 1


def test_a_tombstone_re_sent_within_the_horizon_is_not_new(storage: SQLStorage) -> None:
    _pruned_at_t0(storage)
    # A later document without "a"; then, within the horizon, "a" is listed again.
    storage.record_poll(FeedState(FEED), [entry("b")], {}, T0 + timedelta(days=10))
    now = T0 + timedelta(days=80)
    assert storage.forget_tombstones(now - HORIZON) == 0
    again = storage.record_poll(FeedState(FEED), [entry("a", title="edited")], {}, now)
    assert again == IngestResult()
    assert storage.known_entries(FEED, ["a"]) == {"a": ""}


def test_a_tombstone_is_forgotten_after_the_horizon_and_the_id_is_new_again(
    storage: SQLStorage,
) -> None:
    """Documented (base.Storage.forget_tombstones): after the horizon an id that was neither
    listed by the feed nor stored is forgotten; a feed that sends it again gets it as new."""
    _pruned_at_t0(storage)
    storage.record_poll(FeedState(FEED), [entry("b")], {}, T0 + timedelta(days=1))  # "a" gone
    now = T0 + timedelta(days=91)
    assert storage.tombstone_count() == 1
    assert storage.forget_tombstones(now - HORIZON) == 1
    assert storage.tombstone_count() == 0 and storage.known_entries(FEED, ["a"]) == {}
    again = storage.record_poll(FeedState(FEED), [entry("a")], {}, now)
    assert again.new == ("a",)
    assert storage.get_entry(FEED, "a") == stored(entry("a"), now)


def test_a_tombstone_the_feed_still_lists_outlives_the_horizon(storage: SQLStorage) -> None:
    _pruned_at_t0(storage)
    storage.record_poll(FeedState(FEED), [], {}, T0 + timedelta(days=200), skipped=["capped"])
    # Listed in every document until day 300 (the pipeline passes the tombstoned ids it saw).
    for day in (100, 200, 300):
        storage.record_poll(FeedState(FEED), [], {}, T0 + timedelta(days=day), listed=["a"])
    day_300 = T0 + timedelta(days=300)
    assert storage.forget_tombstones(day_300 - HORIZON) == 1  # "capped": last listed at day 200
    assert storage.known_entries(FEED, ["a", "capped"]) == {"a": ""}
    # The document of day 301 no longer lists "a": 90 days after its last listing, it goes.
    storage.record_poll(FeedState(FEED), [entry("c")], {}, day_300 + timedelta(days=1))
    assert storage.forget_tombstones(day_300 + timedelta(days=89) - HORIZON) == 0
    assert storage.forget_tombstones(day_300 + timedelta(days=91) - HORIZON) == 1
    assert storage.known_entries(FEED, ["a", "c"]) == {"c": entry("c").fingerprint}


def test_a_feed_never_parsed_again_keeps_the_tombstones_of_its_last_document(
    storage: SQLStorage,
) -> None:
    storage.record_poll(FeedState(FEED), [], {}, T0, skipped=["old"])
    # Only 304s from here on: no document, so nothing says "old" left the feed.
    assert storage.forget_tombstones(T0 + timedelta(days=5_000)) == 0
    assert storage.known_entries(FEED, ["old"]) == {"old": ""}


# --- reading -----------------------------------------------------------------


def test_iter_entries_pages_in_first_seen_order_with_filters(storage: SQLStorage) -> None:
    storage.page_size = 3  # so that 10 entries take several pages with ties across them
    for hour in range(5):
        now = T0 + timedelta(hours=hour)
        storage.record_poll(FeedState(FEED), [entry(f"f{hour}")], {}, now)
        storage.record_poll(FeedState(OTHER), [entry(f"o{hour}", feed=OTHER)], {}, now)
    everything = [(e.feed_url, e.id) for e in storage.iter_entries()]
    expected = [(url, f"{p}{h}") for h in range(5) for url, p in ((OTHER, "o"), (FEED, "f"))]
    assert everything == expected
    assert [e.id for e in storage.iter_entries(feed_url=FEED)] == [f"f{h}" for h in range(5)]
    since = T0 + timedelta(hours=3)
    assert [e.id for e in storage.iter_entries(since=since)] == ["o3", "f3", "o4", "f4"]
    assert [e.id for e in storage.iter_entries(feed_url=OTHER, since=since)] == ["o3", "o4"]


def test_iter_matches_pages_oldest_first_with_filters(storage: SQLStorage) -> None:
    storage.page_size = 2
    for hour in range(3):
        now = T0 + timedelta(hours=hour)
        ms = {f"e{hour}": [match("b-rule"), match("a-rule")]}
        storage.record_poll(FeedState(FEED), [entry(f"e{hour}")], ms, now)
    got = [(e.id, m.rule_id) for e, m in storage.iter_matches()]
    assert got == [(f"e{h}", r) for h in range(3) for r in ("a-rule", "b-rule")]
    since = T0 + timedelta(hours=1)
    assert [e.id for e, _ in storage.iter_matches(since=since, rule_id="b-rule")] == ["e1", "e2"]
    first_entry, _ = next(storage.iter_matches())
    assert first_entry == stored(entry("e0"), T0)


def test_entry_counts_include_feeds_without_entries(storage: SQLStorage) -> None:
    storage.sync_feeds([FEED, OTHER])
    storage.record_poll(FeedState(FEED), [entry("a"), entry("b")], {}, T0)
    assert storage.entry_counts() == {FEED: 2, OTHER: 0}


# --- errors and lifecycle ----------------------------------------------------


def test_driver_errors_become_one_storage_error_naming_database_and_operation(
    storage: SQLStorage, storage_url: str
) -> None:
    storage.record_poll(FeedState(FEED), [entry("a")], {}, T0)
    raw_execute(storage_url, "DROP TABLE matches")
    with pytest.raises(StorageError) as caught:
        storage.matches_for(FEED, "a")
    message = str(caught.value)
    assert message.startswith(f"database {storage.url}: matches_for failed: ")
    assert "matches" in message.removeprefix(f"database {storage.url}: matches_for")
    assert not isinstance(caught.value.__cause__, StorageError)  # wrapped once
    assert storage.entry_counts() == {FEED: 1}  # the connection is still usable


def test_a_closed_storage_refuses_calls(storage: SQLStorage) -> None:
    storage.close()
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.feed_states()


def test_two_storages_on_one_database_see_each_others_commits(
    storage: SQLStorage, storage_url: str
) -> None:
    with open_storage(storage_url) as second:
        storage.record_poll(FeedState(FEED), [entry("a")], {}, T0)
        assert second.known_entries(FEED) == {"a": entry("a").fingerprint}
        assert second.record_poll(FeedState(FEED), [entry("a")], {}, T0) == IngestResult()


def test_one_storage_can_be_used_from_several_threads(storage: SQLStorage) -> None:
    errors: list[BaseException] = []

    def poll(feed: str) -> None:
        try:
            for i in range(20):
                storage.record_poll(FeedState(feed), [entry(f"e{i}", feed=feed)], {}, T0)
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(f"{FEED}?{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(storage.entry_counts().values()) == [20, 20, 20, 20]


# --- PostgreSQL only ---------------------------------------------------------


@pytest.mark.postgres
def test_postgres_url_in_messages_has_no_password(postgres_url: str) -> None:
    from monitor.store.postgres import redact
    from tests.fixtures.storage import postgres_schema_url

    with_password = postgres_url.replace("postgres@", "postgres:s3cret@", 1)
    assert "s3cret" in with_password
    with postgres_schema_url(with_password) as url, open_storage(url) as store:
        assert "s3cret" not in store.url and "postgres@127.0.0.1" in store.url
        raw_execute(url, "DROP TABLE feeds CASCADE")
        with pytest.raises(StorageError) as caught:
            store.feed_states()
        assert "s3cret" not in str(caught.value)
    from psycopg.conninfo import conninfo_to_dict

    redacted = redact("host=db user=m password=x dbname=d")
    assert conninfo_to_dict(redacted) == {"host": "db", "user": "m", "dbname": "d"}
    assert redact("postgresql://m@db/d?password=x&sslmode=require") == (
        "postgresql://m@db/d?sslmode=require"
    )


@pytest.mark.postgres
def test_postgres_connection_lost_fails_one_call_then_reconnects(postgres_url: str) -> None:
    import psycopg

    from monitor.store.postgres import PostgresStorage
    from tests.fixtures.storage import postgres_schema_url

    with postgres_schema_url(postgres_url) as url, PostgresStorage.from_url(url) as store:
        store.record_poll(FeedState(FEED), [entry("a")], {}, T0)
        assert isinstance(store._conn, psycopg.Connection)
        pid = store._conn.info.backend_pid
        assert raw_execute(url, "SELECT pg_terminate_backend(?)", (pid,)) == [(True,)]
        with pytest.raises(StorageError, match="entry_counts failed"):
            store.entry_counts()
        assert store.entry_counts() == {FEED: 1}
        assert isinstance(store._conn, psycopg.Connection)
        assert store._conn.info.backend_pid != pid


@pytest.mark.postgres
def test_postgres_concurrent_first_opens_create_the_schema_once(postgres_url: str) -> None:
    from tests.fixtures.storage import postgres_schema_url

    with postgres_schema_url(postgres_url) as url:
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def open_one() -> None:
            barrier.wait()
            try:
                open_storage(url).close()
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        rows = raw_execute(url, "SELECT count(*), max(version) FROM schema_version")
        assert rows == [(SCHEMA_VERSION, SCHEMA_VERSION)]


@pytest.mark.postgres
def test_postgres_an_entry_stored_meanwhile_by_another_writer_is_not_new(
    postgres_url: str,
) -> None:
    """Another writer (an instance that took over an expired lease) inserts entry ``a`` after
    this poll's look-up found it missing and commits while the poll writes: the poll's bulk
    insert of its new entries waits for it and fails on the key, and the poll is written again
    from a fresh look-up. It succeeds, ``a`` is not new but the other writer's, unchanged, and
    ``b`` is stored once with its story and match (the upsert alone took ``a`` for new and
    updated it)."""
    import time

    import psycopg

    from monitor.model import StoryAssignment
    from tests.fixtures.storage import postgres_schema_url

    with postgres_schema_url(postgres_url) as url, open_storage(url) as store:
        assert isinstance(store, SQLStorage)
        store.sync_feeds([FEED])
        assert store._conn is not None
        pid = store._conn.info.backend_pid  # type: ignore[attr-defined]
        a, b = entry("a"), entry("b")
        other = psycopg.connect(url)
        try:
            other.execute(
                "INSERT INTO entries (feed_url, entry_id, title, summary, content, published, "
                "fingerprint, first_seen, last_changed) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (FEED, "a", a.title, a.summary, a.content, a.published, a.fingerprint, T0, T0),
            )
            results: list[IngestResult] = []
            stories = [
                StoryAssignment(FEED, e.id, f"s-{e.id}", e.published, "en", "example.org")
                for e in (a, b)
            ]
            poll = threading.Thread(
                target=lambda: results.append(
                    store.record_poll(
                        FeedState(FEED),
                        [a, b],
                        {"a": [match()], "b": [match()]},
                        T0,
                        stories=stories,
                    )
                )
            )
            poll.start()
            deadline = time.monotonic() + 20
            while not raw_execute(
                postgres_url,
                "SELECT 1 FROM pg_stat_activity WHERE pid = ? AND wait_event_type = 'Lock'",
                (pid,),
            ):
                assert time.monotonic() < deadline, "the poll never waited for the other writer"
                time.sleep(0.02)
            other.commit()
            poll.join(20)
        finally:
            other.close()
        assert [(r.new, r.changed) for r in results] == [(("b",), ())]
        rows = raw_execute(url, "SELECT entry_id, change_count FROM entries ORDER BY entry_id")
        assert rows == [("a", 0), ("b", 0)]
        members = raw_execute(url, "SELECT entry_id FROM story_members ORDER BY entry_id")
        assert members == [("b",)]
        assert raw_execute(url, "SELECT entry_id, rule_id FROM matches") == [("b", "lithium")]


# --- entry embeddings (semantic layer, schema step 9 assigned by lead) -----------------------


def float32(e: Any) -> Any:
    from array import array
    from dataclasses import replace

    return replace(e, vector=tuple(array("f", e.vector)))


def test_embeddings_are_stored_per_entry_and_model_replaced_and_go_with_their_entry(
    storage: SQLStorage,
) -> None:
    from datetime import timedelta

    from monitor.matching.embedder import StoredEmbedding
    from monitor.store.sql_embeddings import text_hash

    storage.record_poll(FeedState(FEED), [entry("a"), entry("b")], {}, T0)
    a = StoredEmbedding(FEED, "a", "use-v3", text_hash("A"), (0.6, -0.8))
    b = StoredEmbedding(FEED, "b", "use-v3", text_hash("B"), (1.0, 0.0))
    other_model = StoredEmbedding(FEED, "a", "st:x", text_hash("A"), (0.0, 1.0, 0.0))
    assert storage.save_embeddings([a, b, other_model], T0) == 3
    got = storage.embeddings("use-v3", [(FEED, "a"), (FEED, "b"), (FEED, "missing")])
    # Stored as float32: equal to ~7 digits.
    assert got == {(FEED, "a"): float32(a), (FEED, "b"): b}
    assert got[(FEED, "a")].vector == pytest.approx(a.vector, rel=1e-6)
    assert storage.embeddings("st:x", [(FEED, "a")]) == {(FEED, "a"): other_model}
    changed = StoredEmbedding(FEED, "a", "use-v3", text_hash("A2"), (0.0, 1.0))
    storage.save_embeddings([changed], T0)
    assert storage.embeddings("use-v3", [(FEED, "a")])[(FEED, "a")] == changed
    # A vector written as a JSON list (the first format) is still read.
    with storage._transaction("t", write=True) as tx:
        tx.execute(
            "UPDATE entry_embeddings SET vector = ? WHERE entry_id = ? AND model = ?",
            ["[0.25, -0.5]", "b", "use-v3"],
        )
    assert storage.embeddings("use-v3", [(FEED, "b")])[(FEED, "b")].vector == (0.25, -0.5)
    assert storage.prune(T0 + timedelta(days=1), T0 + timedelta(days=1)) >= 2
    assert storage.embeddings("use-v3", [(FEED, "a"), (FEED, "b")]) == {}
