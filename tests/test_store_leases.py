"""Feed leases and instances (monitor/store/sql_leases.py), run against SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import StorageError
from monitor.model import Entry, FeedState, Hit, InstanceRecord, Match, Priority
from monitor.store import open_storage
from monitor.store.sql import SQLStorage
from tests.fixtures.storage import raw_execute

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
LEASE = timedelta(seconds=30)
FEEDS = [f"http://127.0.0.1/feed{i:03d}.xml" for i in range(60)]


def test_claims_only_due_feeds_and_never_the_same_feed_twice(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS, T0)
    a = storage.claim_feeds("a", T0, lease=LEASE, limit=25)
    b = storage.claim_feeds("b", T0, lease=LEASE, limit=25)
    c = storage.claim_feeds("c", T0, lease=LEASE, limit=25)
    assert (len(a), len(b), len(c)) == (25, 25, 10)
    assert sorted(a + b + c) == FEEDS
    assert storage.claim_feeds("d", T0, lease=LEASE, limit=25) == []


def test_a_completed_lease_is_due_again_at_its_next_time_only(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:2], T0)
    got = storage.claim_feeds("a", T0, lease=LEASE, limit=10)
    assert storage.complete_lease("a", got[0], T0 + timedelta(minutes=5))
    assert storage.complete_lease("a", got[1], T0 + timedelta(minutes=10))
    assert storage.claim_feeds("b", T0 + timedelta(minutes=4), lease=LEASE, limit=10) == []
    assert storage.claim_feeds("b", T0 + timedelta(minutes=5), lease=LEASE, limit=10) == [got[0]]
    assert storage.lease_of(got[1]) == (T0 + timedelta(minutes=10), None, None)


def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_complete_it(
    storage: SQLStorage,
) -> None:
    storage.sync_leases(FEEDS[:1], T0)
    assert storage.claim_feeds("dead", T0, lease=LEASE, limit=1) == FEEDS[:1]
    # Before expiry nobody else gets it; at expiry another instance does.
    assert storage.claim_feeds("b", T0 + LEASE - timedelta(seconds=1), lease=LEASE, limit=1) == []
    assert storage.claim_feeds("b", T0 + LEASE, lease=LEASE, limit=1) == FEEDS[:1]
    assert not storage.complete_lease("dead", FEEDS[0], T0 + timedelta(hours=1))
    assert storage.lease_of(FEEDS[0]) == (T0, "b", T0 + 2 * LEASE)


def test_a_heartbeat_renews_the_instance_s_leases_only(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:2], T0)
    storage.claim_feeds("a", T0, lease=LEASE, limit=1)
    storage.claim_feeds("b", T0, lease=LEASE, limit=1)
    later = T0 + LEASE - timedelta(seconds=1)
    rec = InstanceRecord("a", "h", 1, "all", T0, later)
    assert storage.heartbeat(rec, renew_until=later + LEASE) == 1
    # At the first expiry only b's feed is free again; a's was renewed.
    assert storage.claim_feeds("c", T0 + LEASE, lease=LEASE, limit=5) == [FEEDS[1]]


def test_releasing_frees_leases_at_once_and_keeps_due_times(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:5], T0)
    assert len(storage.claim_feeds("a", T0, lease=LEASE, limit=10)) == 5
    assert storage.release_leases("a") == 5
    assert len(storage.claim_feeds("b", T0, lease=LEASE, limit=10)) == 5


def test_sync_drops_feeds_no_longer_configured_and_keeps_the_others(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:3], T0)
    got = storage.claim_feeds("a", T0, lease=LEASE, limit=1)
    storage.complete_lease("a", got[0], T0 + timedelta(hours=1))
    storage.sync_leases(FEEDS[:2], T0 + timedelta(minutes=1))
    assert storage.lease_of(FEEDS[2]) is None
    assert storage.lease_of(FEEDS[0]) == (T0 + timedelta(hours=1), None, None)


def test_make_due_wakes_a_feed_up(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:1], T0)
    storage.complete_lease("a", storage.claim_feeds("a", T0, lease=LEASE, limit=1)[0], T0 + LEASE)
    assert storage.make_due(FEEDS[:1], T0) == 1
    assert storage.claim_feeds("b", T0, lease=LEASE, limit=1) == FEEDS[:1]


def test_instances_show_heartbeat_and_unexpired_leases(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:4], T0)
    rec = InstanceRecord("a", "host1", 123, "all", T0, T0)
    storage.heartbeat(rec)
    storage.heartbeat(InstanceRecord("a", "host1", 123, "poll", T0, T0 + timedelta(seconds=5)))
    storage.heartbeat(InstanceRecord("b", "host2", 7, "send", T0, T0))
    storage.claim_feeds("a", T0, lease=LEASE, limit=3)
    now = T0 + timedelta(seconds=5)
    assert storage.instances(now) == [
        InstanceRecord("a", "host1", 123, "poll", T0, T0 + timedelta(seconds=5), 3),
        InstanceRecord("b", "host2", 7, "send", T0, T0, 0),
    ]
    assert [i.leases for i in storage.instances(T0 + LEASE)] == [0, 0]
    assert storage.retire_instance("a") == 3
    assert [i.id for i in storage.instances(now)] == ["b"]


def test_bad_claim_arguments_are_refused(storage: SQLStorage) -> None:
    with pytest.raises(ValueError, match="limit"):
        storage.claim_feeds("a", T0, lease=LEASE, limit=0)
    with pytest.raises(ValueError, match="lease"):
        storage.claim_feeds("a", T0, lease=timedelta(0), limit=1)


def test_concurrent_claimers_on_separate_connections_split_the_feeds(storage_url: str) -> None:
    urls = [f"http://127.0.0.1/c{i:04d}.xml" for i in range(600)]
    with open_storage(storage_url) as setup:
        setup.sync_leases(urls, T0)
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def claim(name: str) -> None:
        try:
            with open_storage(storage_url) as store:
                mine: list[str] = []
                while batch := store.claim_feeds(name, T0, lease=LEASE, limit=7):
                    mine.extend(batch)
                got[name] = mine
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"i{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    claimed = [u for mine in got.values() for u in mine]
    assert sorted(claimed) == urls  # each feed once, none lost


def _entry(feed: str, entry_id: str) -> Entry:
    return Entry(feed, entry_id, "Lithium", f"https://example.org/{entry_id}", "", "", T0)


def test_a_poll_s_write_completes_its_lease_in_the_same_transaction(storage: SQLStorage) -> None:
    storage.sync_leases(FEEDS[:3], T0)
    assert storage.claim_feeds("a", T0, lease=LEASE, limit=3) == FEEDS[:3]
    nxt = T0 + timedelta(minutes=15)
    e = _entry(FEEDS[0], "e1")
    storage.record_poll(FeedState(FEEDS[0], next_poll=nxt), [e], {}, T0, lease="a")
    storage.save_feed_state(FeedState(FEEDS[1], next_poll=nxt), lease="a")
    # Another owner's lease is left alone (the poll's own write still goes in).
    storage.save_feed_state(FeedState(FEEDS[2], next_poll=nxt), lease="b")
    assert storage.lease_of(FEEDS[0]) == (nxt, None, None)
    assert storage.lease_of(FEEDS[1]) == (nxt, None, None)
    assert storage.lease_of(FEEDS[2]) == (T0, "a", T0 + LEASE)
    assert storage.feed_state(FEEDS[2]) is not None
    assert storage.entry_counts()[FEEDS[0]] == 1
    # Without a lease nothing changes in feed_leases.
    storage.save_feed_state(FeedState(FEEDS[0], next_poll=T0))
    assert storage.lease_of(FEEDS[0]) == (nxt, None, None)


def test_a_poll_that_outlasted_its_lease_says_so(
    storage: SQLStorage, caplog: pytest.LogCaptureFixture
) -> None:
    """An instance whose poll took longer than the lease finds another instance holding it:
    its write goes in, the other's lease is left alone, and a warning names the feed."""
    storage.sync_leases(FEEDS[:1], T0)
    assert storage.claim_feeds("a", T0, lease=LEASE, limit=1) == FEEDS[:1]
    later = T0 + LEASE + timedelta(seconds=1)
    assert storage.claim_feeds("b", later, lease=LEASE, limit=1) == FEEDS[:1]
    with caplog.at_level("WARNING", logger="monitor.store"):
        storage.record_poll(
            FeedState(FEEDS[0], next_poll=later + timedelta(minutes=15)),
            [_entry(FEEDS[0], "e1")],
            {},
            later,
            lease="a",
        )
    assert storage.lease_of(FEEDS[0]) == (T0, "b", later + LEASE)
    [warning] = [r for r in caplog.records if r.getMessage() == "lease.lost"]
    said = warning.__dict__["monitor_kv"]
    assert said["feed"] == FEEDS[0] and said["id"] == "a" and "instances.lease" in said["hint"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="monitor.store"):  # b's own write: no warning
        storage.save_feed_state(FeedState(FEEDS[0], next_poll=later), lease="b")
    assert not [r for r in caplog.records if "lease.lost" in r.getMessage()]


def test_a_poll_write_that_fails_midway_leaves_the_lease_held(storage_url: str) -> None:
    """The matches table is gone: the poll's transaction fails after writing the feed and its
    entry, and rolls back the lease's completion with them (the feed stays claimed)."""
    with open_storage(storage_url) as store:
        store.sync_leases(FEEDS[:1], T0)
        store.claim_feeds("a", T0, lease=LEASE, limit=1)
        raw_execute(storage_url, "ALTER TABLE matches RENAME TO matches_gone")
        hit = Hit("lithium", "Lithium", "title", 0, 7, "Lithium", 100.0)
        found = {"e1": [Match("lithium", 80, Priority.DIGEST, (hit,))]}
        state = FeedState(FEEDS[0], next_poll=T0 + timedelta(hours=1))
        with pytest.raises(StorageError):
            store.record_poll(state, [_entry(FEEDS[0], "e1")], found, T0, lease="a")
        assert store.lease_of(FEEDS[0]) == (T0, "a", T0 + LEASE)
        assert store.entry_counts() == {}
