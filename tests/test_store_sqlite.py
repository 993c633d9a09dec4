"""SQLite specifics: the database file, WAL, locking, schema refusal, and kill -9 mid-write."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ConfigError, SchemaVersionError, StorageError
from monitor.model import Entry, FeedState
from monitor.store import SCHEMA_VERSION, open_storage
from monitor.store.sqlite import SQLiteStorage
from tests.fixtures.resources import REPO

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with SQLiteStorage.from_url("sqlite:///rel.db") as rel:
        assert rel.path == "rel.db" and rel.url == "sqlite:///rel.db"
    assert (tmp_path / "rel.db").is_file()
    absolute = tmp_path / "abs.db"
    with SQLiteStorage.from_url(f"sqlite:///{absolute}") as abs_:
        assert abs_.path == str(absolute)
    assert absolute.is_file()
    with SQLiteStorage.from_url("sqlite:///:memory:") as mem:
        assert mem.journal_mode == "memory"
        assert not Path(":memory:").exists()
    for bad in ("sqlite://rel.db", "sqlite:///", "sqlite:rel.db"):
        with pytest.raises(ConfigError, match="not an SQLite database URL"):
            SQLiteStorage.from_url(bad)


def test_the_file_is_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "data" / "monitor.db"
    path.parent.mkdir()
    assert not path.exists()
    with SQLiteStorage(path) as store:
        store.sync_feeds(["https://example.org/feed"])
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (
            SCHEMA_VERSION,
        )


def test_a_missing_directory_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(StorageError) as caught:
        open_storage(f"sqlite:///{missing / 'monitor.db'}")
    assert str(caught.value) == (
        f"database sqlite:///{missing / 'monitor.db'}: cannot create the database file: "
        f"directory {missing} does not exist; create it or change the database URL"
    )
    assert not missing.exists()


def test_wal_and_pragmas(tmp_path: Path) -> None:
    with SQLiteStorage(tmp_path / "m.db") as store:
        assert store.journal_mode == "wal"
        with store._transaction("test", write=False) as tx:
            assert tx.value("PRAGMA foreign_keys") == 1
            assert tx.value("PRAGMA synchronous") == 1  # NORMAL
            assert tx.value("PRAGMA busy_timeout") == 10_000
    with SQLiteStorage(tmp_path / "d.db", journal_mode="delete") as store:
        assert store.journal_mode == "delete"
        with store._transaction("test", write=False) as tx:
            assert tx.value("PRAGMA synchronous") == 2  # FULL


def test_timestamps_are_stored_as_sortable_iso_text(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with SQLiteStorage(path) as store:
        store.save_feed_state(FeedState("f", next_poll=datetime(5, 1, 2, tzinfo=UTC)))
        store.save_feed_state(FeedState("g", next_poll=T0))
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT next_poll FROM feeds ORDER BY next_poll").fetchall()
    assert rows == [("0005-01-02T00:00:00.000000Z",), ("2024-05-06T07:08:09.123456Z",)]


def test_a_newer_database_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    from monitor.store.base import SCHEMA_VERSION

    newer = SCHEMA_VERSION + 1
    path = tmp_path / "m.db"
    SQLiteStorage(path).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (newer,))
        conn.commit()
    with pytest.raises(SchemaVersionError, match=f"at schema version {newer}, this monitor"):
        SQLiteStorage(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (newer,)


def test_a_locked_database_waits_then_fails_with_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = SQLiteStorage(path, timeout=0.2)
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StorageError, match=r"record_poll failed: database is locked"):
            store.record_poll(FeedState("f"), [], {}, T0)
        assert store.feed_states() == {}  # readers are not blocked in WAL mode
        other.execute("ROLLBACK")
    store.record_poll(FeedState("f"), [], {}, T0)
    assert list(store.feed_states()) == ["f"]
    store.close()


def test_a_connection_opened_in_one_thread_works_in_another(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "m.db")
    worker = threading.Thread(target=store.sync_feeds, args=(["f"],))
    worker.start()
    worker.join()
    assert list(store.feed_states()) == ["f"]
    store.close()


# --- kill -9 in the middle of a big record_poll -------------------------------------------------

N = 20_000  # about 20 MB of entries: more than SQLite's page cache, so pages spill to the WAL

CHILD = """
import os, sys, time
from datetime import UTC, datetime
from monitor.model import Entry, FeedState
from monitor.store.sqlite import SQLiteStorage

path, n = sys.argv[1], int(sys.argv[2])
now = datetime(2024, 1, 1, tzinfo=UTC)
def entries(feed):
    return [Entry(feed, f"e{i}", f"t{i}", None, "s" * 300, "c" * 700, now) for i in range(n)]
store = SQLiteStorage(path)
store.record_poll(FeedState("done", last_success=now), entries("done"), {}, now)
# Empty the WAL, so that whatever it holds next is the second poll's uncommitted pages.
store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
wal = path + "-wal"
print("committed", os.path.getsize(wal), flush=True)
def stall():
    # Uncommitted pages of the second poll are on disk: tell the parent, then wait to be killed.
    if os.path.getsize(wal) > 8_000_000:
        print("mid", flush=True)
        time.sleep(60)
    return 0
store._conn.set_progress_handler(stall, 10_000)
store.record_poll(FeedState("killed", last_success=now), entries("killed"), {}, now)
print("finished", flush=True)
"""


def _child(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_during_record_poll_leaves_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    child = _child(path, str(N))
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline().strip(), child.stdout.readline().strip()]
        assert lines == ["committed 0", "mid"], child.stderr.read() if child.stderr else ""
        # Half of the second poll really is in the files: what recovery has to throw away.
        assert os.path.getsize(f"{path}-wal") > 8_000_000
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    with SQLiteStorage(path) as store:
        assert store.entry_counts() == {"done": N}
        assert store.feed_state("killed") is None  # the state was in the same transaction
        assert store.feed_state("done") == FeedState(
            "done", last_success=datetime(2024, 1, 1, tzinfo=UTC)
        )
        with store._transaction("test", write=False) as tx:
            assert tx.value("PRAGMA integrity_check") == "ok"
        # And the store goes on working after recovery.
        entry = Entry("killed", "x", "t", None, "", "", T0)
        assert store.record_poll(FeedState("killed"), [entry], {}, T0).new == ("x",)


LOOP_CHILD = """
import sys
from datetime import UTC, datetime
from monitor.model import Entry, FeedState
from monitor.store.sqlite import SQLiteStorage

path, n = sys.argv[1], int(sys.argv[2])
now = datetime(2024, 1, 1, tzinfo=UTC)
store = SQLiteStorage(path)
for k in range(10_000):
    feed = f"f{k}"
    batch = [Entry(feed, f"e{i}", f"t{i}", None, "s" * 300, "c" * 700, now) for i in range(n)]
    store.record_poll(FeedState(feed, last_success=now), batch, {}, now)
    print(k, flush=True)
"""


def test_kill_9_at_an_arbitrary_moment_leaves_whole_polls_only(tmp_path: Path) -> None:
    """No hook this time: the kill lands wherever the child is, most likely inside a poll."""
    path, n = tmp_path / "m.db", 3000
    stamps: list[float] = []
    child = subprocess.Popen(
        [sys.executable, "-c", LOOP_CHILD, str(path), str(n)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        seen = []
        for _ in range(3):
            seen.append(child.stdout.readline().strip())
            stamps.append(time.monotonic())
        assert seen == ["0", "1", "2"]
        # Somewhere inside the next poll, which should take about as long as the last one did.
        time.sleep(random.uniform(0.1, 0.9) * (stamps[2] - stamps[1]))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    with SQLiteStorage(path) as store:
        counts = store.entry_counts()
        assert len(counts) >= 3
        assert set(counts.values()) == {n}
        assert all(store.feed_state(f"f{k}") is not None for k in range(len(counts)))
