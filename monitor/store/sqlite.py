"""SQLite backend (the default): one database file, created on first use.

Write-ahead log with ``synchronous=NORMAL``: a commit costs no fsync, and a crash (``kill -9``,
power loss) loses at most the last commits, never consistency. Writers take the write lock at
``BEGIN IMMEDIATE`` so that a read-then-write transaction cannot fail halfway on a lock upgrade;
``busy_timeout`` lets a second process (``monitor status`` beside the daemon) wait instead of fail.
Timestamps are fixed-width ISO-8601 UTC text with microseconds (``2024-05-06T07:08:09.123456Z``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import ClassVar, Literal, Self

from monitor.errors import ConfigError, StorageError
from monitor.store.codec import iso_utc
from monitor.store.dbapi import DBConnection, Dialect, Tx
from monitor.store.sql import SQLStorage

__all__ = ["SQLITE", "SQLiteStorage"]

SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    types={"key": "TEXT", "ts": "TEXT", "json": "TEXT", "float": "REAL"},
    encode_ts=iso_utc,
)

_PREFIX = "sqlite:///"


# Operations of one statement (a daemon's poll of an unchanged feed is one of each): run in
# autocommit, where SQLite makes the statement its own transaction.
_ONE_STATEMENT = frozenset({"feed_state", "save_feed_state"})


class SQLiteStorage(SQLStorage):
    """``SQLiteStorage("data/monitor.db")`` or ``SQLiteStorage.from_url("sqlite:///data/monitor.db")``.

    ``journal_mode="delete"`` is for file systems without shared memory (network mounts), where
    WAL does not work; it is much slower per commit (see bench/RESULTS.md, Storage).
    """

    dialect: ClassVar[Dialect] = SQLITE
    _driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 10.0,
        journal_mode: Literal["wal", "delete"] = "wal",
    ) -> None:
        self.path = os.fspath(path)
        self._timeout = timeout
        self._journal_mode = journal_mode
        super().__init__(_PREFIX + self.path)

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 10.0, journal_mode: Literal["wal", "delete"] = "wal"
    ) -> Self:
        """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``sqlite:///:memory:``."""
        if not url.startswith(_PREFIX) or len(url) == len(_PREFIX):
            raise ConfigError(
                f"not an SQLite database URL: {url!r}",
                key="database",
                hint="use sqlite:///relative/path.db or sqlite:////absolute/path.db",
            )
        return cls(url[len(_PREFIX) :], timeout=timeout, journal_mode=journal_mode)

    def _connect(self) -> DBConnection:
        if self.path != ":memory:":
            # sqlite3 would only say "unable to open database file"; name what is missing.
            parent = Path(self.path).absolute().parent
            if not parent.is_dir():
                raise StorageError(
                    f"database {self.url}: cannot create the database file: "
                    f"directory {parent} does not exist; create it or change the database URL"
                )
        # isolation_level=None: the module must not issue its own BEGINs; _begin does.
        # check_same_thread=False: the scheduler may call from a worker thread; SQLStorage's
        # lock makes sure only one thread uses the connection at a time.
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute(f"PRAGMA journal_mode = {self._journal_mode}")
            # NORMAL is durable enough in WAL mode; the rollback journal needs FULL for safety.
            sync = "NORMAL" if self._journal_mode == "wal" else "FULL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _begin(self, tx: Tx, write: bool, op: str) -> None:
        if op in _ONE_STATEMENT:
            return  # one statement is atomic alone (autocommit): no BEGIN and COMMIT to run
        tx.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    @property
    def journal_mode(self) -> str:
        """What SQLite actually uses (``wal``, ``delete``, or ``memory`` for ``:memory:``)."""
        with self._transaction("journal_mode", write=False) as tx:
            return str(tx.value("PRAGMA journal_mode"))
