"""PostgreSQL backend (psycopg 3): for a team that already runs a server.

Autocommit off: psycopg begins a transaction at the first statement and ``SQLStorage`` ends it
with commit or rollback in every method, so a session never sits idle in a transaction. A
connection that broke (server restart) is replaced at the next call; the call that saw it break
fails with ``StorageError`` and the caller retries on its next cycle. Timestamps are
``timestamptz`` (microseconds); text keys use the "C" collation, so ordering is by code point,
exactly as in SQLite.

Round trips and commits (bench/RESULTS.md, Storage): a read, and a write of one statement
(``save_feed_state``), runs in autocommit, without BEGIN/COMMIT round trips (under READ COMMITTED
each statement of a read saw its own snapshot anyway). The writes of
a poll (``record_poll``, ``save_feed_state``, ``sync_feeds``, ``prune``, ``forget_tombstones``)
commit with ``synchronous_commit = off``, as SQLite's WAL with ``synchronous=NORMAL``: a server
crash may lose the last fraction of a second of them, never consistency, and what is lost is
fetched and stored again at the next poll. Every other write (the outbox: what was sent, what is
due) waits for its commit to reach the disk, and so makes every earlier commit durable too.

JIT compilation is off for the store's sessions (``SET jit = off``, the session's own setting;
the server's is left alone). Its statements are short index look-ups and writes; the planner
estimates their cost without statistics on a fresh store (no ANALYZE has run yet, or autovacuum
is off), and above ``jit_above_cost`` each call compiled its expressions for ~15-20 ms: a poll's
story refresh of 50 stories, ~3 ms of work, took 20 ms (bench/RESULTS.md, issue 14, helper pg5).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import Format

from monitor.errors import DatabaseUnavailableError, StorageError
from monitor.store.codec import require_utc
from monitor.store.dbapi import DBConnection, Dialect, Tx
from monitor.store.host_slots import PgHostSlots
from monitor.store.search_index import TsVectorBinary
from monitor.store.sql import SQLStorage
from monitor.store.wakeups import DueListener

__all__ = ["POSTGRES", "PostgresStorage", "redact"]

# Writes that a crash may lose without harm: the next poll writes them again.
_REDERIVABLE = frozenset(
    {
        "record_poll",
        "save_feed_state",
        "save_feed_state_leased",
        "save_feed_states",
        "sync_feeds",
        "prune",
        "forget_tombstones",
    }
)
# Of those, the ones that are one statement: atomic alone, so no BEGIN/COMMIT round trips.
_ONE_STATEMENT = frozenset({"save_feed_state", "forget_tombstones"})


def _encode_ts(value: datetime) -> object:
    return require_utc(value)


POSTGRES = Dialect(
    name="postgresql",
    placeholder="%s",
    types={"key": 'TEXT COLLATE "C"', "ts": "TIMESTAMPTZ", "json": "JSONB", "float": "FLOAT8"},
    encode_ts=_encode_ts,
    utc_day="to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
)


class _TsVectorDumper(Dumper):
    """``TsVectorBinary`` as a binary parameter of type tsvector (read by ``tsvector_recv``)."""

    format = Format.BINARY
    oid = 3614  # tsvector: a built-in type, its oid fixed (pg_type.dat)

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def redact(conninfo: str) -> str:
    """The connection string or URL without its password, for messages."""
    if "://" in conninfo:
        parts = urlsplit(conninfo)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = f"{userinfo.split(':', 1)[0]}@{host}"
        query = "&".join(
            p for p in parts.query.split("&") if p and not p.lower().startswith("password=")
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "postgresql (connection string not shown)"
    params.pop("password", None)
    return make_conninfo("", **params)


def unavailable(conninfo: str, exc: psycopg.OperationalError) -> DatabaseUnavailableError:
    """Why the first connection failed, in words a user can act on (password not shown)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        params = {}
    dbname = str(params.get("dbname") or params.get("user") or "(default)")
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or "5432")
    user = str(params.get("user") or "")
    where = f"{host}:{port}"
    text = " ".join(str(exc).split())
    detail = text.rsplit("failed: ", 1)[-1].removeprefix("FATAL: ").strip() or type(exc).__name__
    if "role" in text and "does not exist" in text:
        message = f"the PostgreSQL server at {where} has no user {user or '(default)'!r}"
        hint = "check the user in `database:`, or create the role (psql: CREATE ROLE ... LOGIN)"
    elif "does not exist" in text and "database" in text:
        message = f"database {dbname!r} does not exist on the PostgreSQL server at {where}"
        hint = (
            f"create it: createdb -h {host} -p {port}{' -U ' + user if user else ''} {dbname} "
            f'(or in psql: CREATE DATABASE "{dbname}";), or fix `database:` in monitor.yaml'
        )
    elif "authentication failed" in text or "password" in text:
        message = f"the PostgreSQL server at {where} refused user {user or '(default)'!r}"
        hint = "check the user and password in `database:` (write the password as ${PGPASSWORD})"
    else:
        message = f"cannot reach the PostgreSQL server at {where} (database {dbname!r})"
        hint = "is the server running and reachable? check host and port in `database:`"
    return DatabaseUnavailableError(
        f"database {redact(conninfo)}: {message} ({detail})\n  hint: {hint}"
    )


class PostgresStorage(SQLStorage):
    """``PostgresStorage("postgresql://monitor@db:5432/monitor")`` or a key=value conninfo.

    ``?options=-csearch_path%3Dmyschema`` in the URL puts the tables in another schema.
    """

    dialect: ClassVar[Dialect] = POSTGRES
    _driver_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, conninfo: str, *, connect_timeout: int = 10) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        try:
            super().__init__(redact(conninfo))
        except StorageError as exc:
            if isinstance(exc.__cause__, psycopg.OperationalError) and not isinstance(
                exc, DatabaseUnavailableError
            ):
                raise unavailable(conninfo, exc.__cause__) from None
            raise

    @classmethod
    def from_url(cls, url: str, *, connect_timeout: int = 10) -> Self:
        return cls(url, connect_timeout=connect_timeout)

    def _connect(self) -> DBConnection:
        conn = psycopg.connect(
            self._conninfo, autocommit=False, connect_timeout=self._connect_timeout
        )
        conn.adapters.register_dumper(TsVectorBinary, _TsVectorDumper)
        try:
            # Only for people reading with psql: values are converted to UTC on the way out anyway.
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute("SET synchronous_commit = off")  # see the module's docstring
            conn.execute("SET jit = off")  # see the module's docstring
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    def host_slots(self, per_host: int) -> PgHostSlots:
        return PgHostSlots(self._conninfo, per_host, connect_timeout=self._connect_timeout)

    def due_listener(self) -> DueListener:
        return DueListener(self._conninfo, connect_timeout=self._connect_timeout)

    def _usable(self, conn: DBConnection) -> bool:
        assert isinstance(conn, psycopg.Connection)
        return not (conn.closed or conn.broken)

    def _begin(self, tx: Tx, write: bool, op: str) -> None:
        assert isinstance(self._conn, psycopg.Connection)
        # The connection is idle here: setting autocommit costs no round trip.
        self._conn.autocommit = not write or op in _ONE_STATEMENT
        if write and op not in _REDERIVABLE:
            tx.execute("SET LOCAL synchronous_commit = on")

    def _lock_schema(self, tx: Tx) -> None:
        # Two processes opening a fresh database at once must not both create the tables.
        # Keyed by schema, so that databases in separate schemas do not wait for each other.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('raw-materials-monitor:' || current_schema()))"
        )
