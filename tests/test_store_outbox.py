"""The outbox part of the Storage contract, on SQLite and PostgreSQL alike: idempotent creation,
conditional transitions, optimistic digests, items, sent parts, and one sender at a time."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from monitor.delivery.outbox import claim, mark_sent
from monitor.model import Delivery, DeliveryKind, DeliveryState, Entry, FeedState, Match
from monitor.store import SCHEMA_VERSION, open_storage
from monitor.store.schema import MIGRATIONS
from monitor.store.sql import SQLStorage
from monitor.store.sqlite import SQLiteStorage
from tests.fixtures.storage import raw_execute

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
FEED = "https://example.org/feed.xml"


def alert(key: str = "alert-a-1", **kw: object) -> Delivery:
    base = Delivery(
        id=None,
        kind=DeliveryKind.ALERT,
        subscription="eil",
        channel="mail",
        key=key,
        created=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def digest(key: str = "digest-morgen-20260302T0600Z", **kw: object) -> Delivery:
    base = Delivery(
        id=None,
        kind=DeliveryKind.DIGEST,
        subscription="morgen",
        channel="mail",
        key=key,
        created=T0,
        since=T0 - timedelta(days=1),
        due=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_schema_version_2_has_the_outbox_tables(storage: SQLStorage, storage_url: str) -> None:
    assert SCHEMA_VERSION >= 2 and MIGRATIONS[1].version == 2
    for table in ("deliveries", "delivery_items", "sent_parts", "subscriptions"):
        assert raw_execute(storage_url, f"SELECT count(*) FROM {table}") == [(0,)]


def test_a_version_1_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    db = tmp_path / "old.db"

    class Old(SQLiteStorage):
        migrations = MIGRATIONS[:1]

    with Old(db):
        pass
    # Rows as version 1 wrote them (today's record_poll writes columns of later steps).
    url = f"sqlite:///{db}"
    stamp = "2024-05-06T07:08:09.000000Z"
    raw_execute(url, "INSERT INTO feeds (url) VALUES (?)", (FEED,))
    raw_execute(
        url,
        "INSERT INTO entries (feed_url, entry_id, title, summary, content, published, "
        "fingerprint, first_seen, last_changed) "
        "VALUES (?, 'a', 'Lithium a', 's', 'c', ?, 'f', ?, ?)",
        (FEED, stamp, stamp, stamp),
    )
    raw_execute(
        url,
        "INSERT INTO matches VALUES (?, 'a', 'lithium', 80, 'digest', '[]', ?)",
        (FEED, stamp),
    )
    raw_execute(url, "INSERT INTO tombstones VALUES (?, 'gone', ?)", (FEED, stamp))
    with open_storage(f"sqlite:///{db}") as new:
        assert isinstance(new, SQLiteStorage)  # narrows to the class that has schema_version
        assert new.schema_version == SCHEMA_VERSION
        assert [m.rule_id for m in new.matches_for(FEED, "a")] == ["lithium"]
        assert new.add_delivery(alert(), "{}", [(FEED, "a", "lithium")]) is not None
        assert [(e.id, m.rule_id) for e, m in new.iter_matches()] == [("a", "lithium")]
        # Step 5: an old tombstone counts as last seen when it was made.
        assert new.known_entries(FEED, ["gone", "a"]) == {"gone": "", "a": "f"}
    listed = raw_execute(f"sqlite:///{db}", "SELECT name FROM sqlite_master WHERE type = 'index'")
    indexes = {r[0] for r in listed}
    # Step 3: scans page by their full key (with the time alone, each page sorted a whole poll).
    assert {"matches_scan", "entries_scan"} <= indexes
    assert not {"matches_matched_at", "entries_first_seen"} & indexes


def _entry(entry_id: str) -> Entry:
    return Entry(FEED, entry_id, f"Lithium {entry_id}", None, "s", "c", T0)


def test_add_delivery_is_idempotent_by_key_and_keeps_message_and_items(storage: SQLStorage) -> None:
    items = [(FEED, "a", "lithium"), (FEED, "a", "lithium")]  # a repeat is stored once
    first = storage.add_delivery(alert(), '{"subject": "Lithium ü"}', items)
    assert first is not None and first.id is not None and first.state is DeliveryState.PENDING
    assert storage.add_delivery(alert(), '{"other": 1}', [(FEED, "b", "x")]) is None
    assert storage.delivery_message(first.id) == '{"subject": "Lithium ü"}'
    assert storage.delivery_items(first.id) == [(FEED, "a", "lithium")]
    assert storage.delivery_keys(["alert-a-1", "nope"]) == {"alert-a-1"}
    assert storage.delivery(first.id) == first
    with pytest.raises(KeyError):
        storage.delivery_message(first.id + 100)


def test_transitions_are_conditional_on_the_expected_state(storage: SQLStorage) -> None:
    d = storage.add_delivery(alert(), "{}", [])
    assert d is not None
    claimed = claim(d, T0)
    assert storage.update_delivery(claimed, expect=DeliveryState.PENDING)
    # A second claimer (another process) loses: the row is no longer pending.
    assert not storage.update_delivery(claimed, expect=DeliveryState.PENDING)
    storage.add_sent_part(d.key, "0:abc", T0)
    storage.add_sent_part(d.key, "0:abc", T0)  # idempotent
    assert storage.sent_parts(d.key) == {"0:abc"}
    assert storage.update_delivery(mark_sent(claimed, T0), expect=DeliveryState.SENDING)
    got = storage.delivery(d.id or 0)
    assert got is not None and got.state is DeliveryState.SENT and got.sent_at == T0
    assert got.attempts == 1
    assert storage.sent_parts(d.key) == set()  # cleared with the sent state, same transaction


def test_recover_puts_sending_back_to_pending_due_now(storage: SQLStorage) -> None:
    a = storage.add_delivery(alert("k1"), "{}", [])
    b = storage.add_delivery(alert("k2"), "{}", [])
    assert a and b
    storage.update_delivery(claim(a, T0), expect=DeliveryState.PENDING)
    later = T0 + timedelta(minutes=5)
    assert storage.recover_deliveries(later) == 1
    assert [d.key for d in storage.due_deliveries(later)] == ["k1", "k2"]
    recovered = storage.delivery(a.id or 0)
    assert recovered and recovered.state is DeliveryState.PENDING and recovered.attempts == 1
    assert recovered.next_attempt == later


def test_due_deliveries_alerts_first_then_oldest_and_not_before_next_attempt(
    storage: SQLStorage,
) -> None:
    storage.add_delivery(digest(created=T0), "{}", [])
    storage.add_delivery(alert("late", created=T0 + timedelta(seconds=2)), "{}", [])
    storage.add_delivery(alert("early", created=T0 + timedelta(seconds=1)), "{}", [])
    storage.add_delivery(alert("waiting", next_attempt=T0 + timedelta(minutes=10)), "{}", [])
    now = T0 + timedelta(minutes=1)
    assert [d.key for d in storage.due_deliveries(now)] == [
        "early",
        "late",
        "digest-morgen-20260302T0600Z",
    ]
    assert "waiting" in [d.key for d in storage.due_deliveries(T0 + timedelta(minutes=10))]
    counts = storage.delivery_counts()
    assert counts[DeliveryState.PENDING] == 4 and counts[DeliveryState.FAILED] == 0


def test_add_digest_is_optimistic_and_supersedes_only_what_is_still_unsent(
    storage: SQLStorage,
) -> None:
    mark = storage.register_subscriptions(["morgen"], T0)["morgen"]
    assert mark.first_seen == T0 and mark.digest_seq == 0 and mark.digest_until is None
    first = storage.add_digest(
        digest(), "{}", [(FEED, "a", "r")], subscription="morgen", seq=0, until=T0
    )
    assert isinstance(first, Delivery)
    # Someone planning with the old seq lost the race: nothing is written.
    late = storage.add_digest(digest("other"), "{}", [], subscription="morgen", seq=0, until=T0)
    assert late is False and storage.delivery_keys(["other"]) == set()
    mark = storage.subscription_marks()["morgen"]
    assert (mark.digest_seq, mark.digest_until, mark.digest_since) == (1, T0, T0)

    # The next digest takes the pending one's items.
    t1 = T0 + timedelta(days=1)
    second = storage.add_digest(
        digest("d2", due=t1),
        "{}",
        [(FEED, "a", "r"), (FEED, "b", "r")],
        subscription="morgen",
        seq=1,
        until=t1,
        supersede=[first.id or 0],
    )
    assert isinstance(second, Delivery)
    old = storage.delivery(first.id or 0)
    assert old and old.state is DeliveryState.SUPERSEDED

    # A digest being sent cannot be superseded: the whole write is refused.
    storage.update_delivery(claim(second, t1), expect=DeliveryState.PENDING)
    t2 = t1 + timedelta(days=1)
    refused = storage.add_digest(
        digest("d3", due=t2), "{}", [], subscription="morgen", seq=2, until=t2,
        supersede=[second.id or 0],
    )  # fmt: skip
    assert refused is False and storage.subscription_marks()["morgen"].digest_seq == 2

    # An empty slot moves the mark on and stores no delivery.
    assert storage.add_digest(None, None, [], subscription="morgen", seq=2, until=t2) is True
    assert storage.subscription_marks()["morgen"].digest_until == t2
    assert len(storage.deliveries(kind=DeliveryKind.DIGEST)) == 2


def test_held_items_count_pending_sending_and_sent_but_not_superseded_or_failed(
    storage: SQLStorage,
) -> None:
    a = storage.add_delivery(digest("d1"), "{}", [(FEED, "a", "r")])
    b = storage.add_delivery(digest("d2"), "{}", [(FEED, "b", "r")])
    c = storage.add_delivery(digest("d3"), "{}", [(FEED, "c", "r")])
    assert a and b and c
    storage.update_delivery(
        replace(b, state=DeliveryState.FAILED, last_error="x"), expect=DeliveryState.PENDING
    )
    candidates = [(FEED, x, "r") for x in "abcd"]
    held = storage.held_items("morgen", DeliveryKind.DIGEST, candidates)
    assert held == {(FEED, "a", "r"), (FEED, "c", "r")}
    assert storage.held_items("morgen", DeliveryKind.DIGEST, candidates, ignore=[c.id or 0]) == {
        (FEED, "a", "r")
    }
    assert storage.held_items("other", DeliveryKind.DIGEST, candidates) == set()
    many = [(FEED, f"e{i}", "r") for i in range(700)]  # more than one chunk
    assert storage.held_items("morgen", DeliveryKind.DIGEST, many) == set()


def test_alerted_entries_are_those_of_sent_alerts(storage: SQLStorage) -> None:
    sent = storage.add_delivery(alert("k1"), "{}", [(FEED, "a", "r")])
    storage.add_delivery(alert("k2"), "{}", [(FEED, "b", "r")])
    assert sent
    claimed = claim(sent, T0)
    storage.update_delivery(claimed, expect=DeliveryState.PENDING)
    storage.update_delivery(mark_sent(claimed, T0), expect=DeliveryState.SENDING)
    assert storage.alerted_entries([(FEED, "a"), (FEED, "b"), (FEED, "c")]) == {(FEED, "a")}


def test_retry_puts_a_failed_delivery_back_with_a_fresh_retry_period(
    storage: SQLStorage,
) -> None:
    d = storage.add_delivery(alert(), "{}", [])
    assert d
    storage.update_delivery(
        replace(d, state=DeliveryState.FAILED, last_error="550"), expect=DeliveryState.PENDING
    )
    later = T0 + timedelta(days=3)
    assert storage.retry_delivery(d.id or 0, later)
    assert not storage.retry_delivery(d.id or 0, later)  # pending now: unchanged
    again = storage.delivery(d.id or 0)
    assert again and again.state is DeliveryState.PENDING and again.created == later


def test_prune_and_changed_entries_leave_deliveries_alone(storage: SQLStorage) -> None:
    storage.record_poll(FeedState(FEED), [_entry("a")], {"a": [Match("lithium", 80)]}, T0)
    d = storage.add_delivery(alert(), "{}", [(FEED, "a", "lithium")])
    assert d
    changed = replace(_entry("a"), title="Lithium, updated")
    storage.record_poll(FeedState(FEED), [changed], {"a": [Match("lithium", 90)]}, T0)
    assert storage.prune(T0 + timedelta(days=1), T0 + timedelta(days=1)) == 1
    assert storage.delivery_items(d.id or 0) == [(FEED, "a", "lithium")]
    assert storage.due_deliveries(T0)[0].key == d.key


_HOLDER = """
import sys, time
from monitor.store import open_storage
with open_storage(sys.argv[1]) as store, store.sender_lock() as held:
    print("held" if held else "not held", flush=True)
    time.sleep(60)
"""


def test_sender_lock_admits_one_process_and_dies_with_it(
    storage: SQLStorage, storage_url: str
) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, storage_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with storage.sender_lock(wait=0.2) as held:
            assert held is False
        other.kill()  # like kill -9: the kernel / the server drops the lock
        other.wait(10)
        with storage.sender_lock(wait=5) as held:
            assert held is True
    finally:
        if other.poll() is None:
            other.kill()
            other.wait(10)


def test_sender_lock_is_free_the_moment_a_run_ends(storage: SQLStorage, storage_url: str) -> None:
    """The next run may take it at once: one process's back-to-back sends never skip each
    other (on PostgreSQL, closing the lock's session released it only when the server got to
    it, so a run right after another could find it still held and send nothing)."""
    if not storage_url.startswith("postgresql"):
        for _ in range(50):
            with storage.sender_lock() as held:
                assert held
            with storage.sender_lock() as again:
                assert again
        return
    key = "hashtext('raw-materials-monitor-send:' || current_schema())"
    with psycopg.connect(storage_url, autocommit=True) as observer:
        busy = 0
        for _ in range(200):
            with storage.sender_lock() as held:
                assert held
            row = observer.execute(f"SELECT pg_try_advisory_lock({key})").fetchone()
            if row and row[0]:
                observer.execute(f"SELECT pg_advisory_unlock({key})")
            else:
                busy += 1
        assert busy == 0, f"{busy} of 200 runs left the lock held after they ended"


def test_sqlite_sender_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with SQLiteStorage(db) as store, store.sender_lock() as held:
        assert held and (tmp_path / "m.db-sender.lock").exists()
    with sqlite3.connect(db) as conn:  # the database itself is a normal SQLite file
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)


def test_prune_deliveries_drops_old_finished_ones_and_keeps_what_waits(
    storage: SQLStorage,
) -> None:
    old_sent = storage.add_delivery(alert("sent"), "{}", [(FEED, "a", "r")])
    old_pending = storage.add_delivery(alert("pending"), "{}", [(FEED, "b", "r")])
    new_sent = storage.add_delivery(alert("new", created=T0 + timedelta(days=30)), "{}", [])
    assert old_sent and old_pending and new_sent
    for d in (old_sent, new_sent):
        storage.update_delivery(claim(d, T0), expect=DeliveryState.PENDING)
        storage.update_delivery(mark_sent(claim(d, T0), T0), expect=DeliveryState.SENDING)
    storage.add_sent_part("pending", "url0", T0)
    storage.add_sent_part("gone", "url0", T0)
    assert storage.prune_deliveries(T0 + timedelta(days=1)) == 1
    assert {d.key for d in storage.deliveries()} == {"pending", "new"}
    assert storage.delivery_items(old_sent.id or 0) == []
    assert storage.sent_parts("pending") == {"url0"} and storage.sent_parts("gone") == set()


def test_delivery_subjects_read_the_subject_of_each_stored_message(storage: SQLStorage) -> None:
    """The archive's list, on both engines: subjects without whole messages; an id not stored
    is left out, a message without a subject gives ""."""
    a = storage.add_delivery(alert("alert-a-1"), '{"subject": "Gallium: Exportstopp 🚫"}', [])
    b = storage.add_delivery(alert("alert-a-2"), '{"text": "no subject"}', [])
    assert a is not None and b is not None and a.id is not None and b.id is not None
    assert storage.delivery_subjects([a.id, b.id, 999]) == {
        a.id: "Gallium: Exportstopp 🚫",
        b.id: "",
    }
    assert storage.delivery_subjects([]) == {}
