"""DB-API plumbing shared by both backends: one connection, transactions, errors, migrations.

``Database`` owns the connection and runs every unit of work as ``with self._transaction(op)``:
commit at the end, rollback on any exception, driver errors wrapped once into ``StorageError``
naming the database and the operation. At open it applies the schema migrations. A backend
supplies the connection, how to begin a transaction, and a ``Dialect``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self

from monitor.errors import SchemaVersionError, StorageError
from monitor.store.schema import MIGRATIONS, Migration

__all__ = ["DBConnection", "DBCursor", "Database", "Dialect", "Tx"]


class DBCursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def execute(self, query: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, query: Any, params_seq: Any, /) -> Any: ...
    def fetchall(self) -> Sequence[Any]: ...
    def fetchone(self) -> Any: ...
    def close(self) -> Any: ...


class DBConnection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases, and nothing else."""

    name: str
    placeholder: str
    """``?`` (sqlite3) or ``%s`` (psycopg); queries here are written with ``?``."""
    types: Mapping[str, str]
    """Fills ``{key}``, ``{ts}``, ``{json}`` in the migration statements."""
    encode_ts: Callable[[datetime], object]
    _cache: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def sql(self, query: str) -> str:
        converted = self._cache.get(query)
        if converted is None:
            if self.placeholder == "?":
                converted = query
            else:
                converted = query.replace("%", "%%").replace("?", self.placeholder)
            self._cache[query] = converted
        return converted


class Tx:
    """One open transaction: runs ``?``-style queries in the backend's dialect."""

    __slots__ = ("_cursor", "_dialect")

    def __init__(self, cursor: DBCursor, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(self._dialect.sql(query), tuple(params))
        return self._cursor.rowcount

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(self._dialect.sql(query), rows)

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._dialect.sql(query), tuple(params))
        return [tuple(r) for r in self._cursor.fetchall()]

    def value(self, query: str, params: Sequence[Any] = ()) -> Any:
        self._cursor.execute(self._dialect.sql(query), tuple(params))
        row = self._cursor.fetchone()
        return None if row is None else row[0]


class Database:
    """One connection, guarded by a lock so that only one thread uses it at a time (the daemon's
    scheduler may call from a worker thread other than the one that opened the store)."""

    dialect: ClassVar[Dialect]
    migrations: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    _driver_errors: ClassVar[tuple[type[Exception], ...]]

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._conn: DBConnection | None = None
        self._closed = False
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # --- backend hooks -------------------------------------------------------
    def _connect(self) -> DBConnection:
        raise NotImplementedError

    def _usable(self, conn: DBConnection) -> bool:
        """False when the connection is broken and should be replaced (server restarted)."""
        return True

    def _begin(self, tx: Tx, write: bool) -> None:
        """Start a transaction (drivers that begin implicitly do nothing)."""

    def _lock_schema(self, tx: Tx) -> None:
        """Serialize concurrent migrations where ``_begin`` does not already."""

    # --- lifecycle -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL, password removed: for messages and ``monitor status``."""
        return self._url

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_connection()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r})"

    @property
    def schema_version(self) -> int:
        with self._transaction("schema_version", write=False) as tx:
            return int(tx.value("SELECT max(version) FROM schema_version") or 0)

    @contextmanager
    def _transaction(self, op: str, *, write: bool) -> Iterator[Tx]:
        with self._lock:
            if self._closed:
                raise StorageError(f"database {self._url}: {op}: the storage is closed")
            try:
                if self._conn is None or not self._usable(self._conn):
                    self._replace_connection()
                assert self._conn is not None
                cursor: DBCursor = self._conn.cursor()
                with closing(cursor):
                    tx = Tx(cursor, self.dialect)
                    self._begin(tx, write)
                    yield tx
                self._conn.commit()
            except self._driver_errors as exc:
                self._rollback_quietly()
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                detail = first_line or type(exc).__name__
                raise StorageError(f"database {self._url}: {op} failed: {detail}") from exc
            except BaseException:
                self._rollback_quietly()
                raise

    def _replace_connection(self) -> None:
        self._drop_connection()
        self._conn = self._connect()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with suppress(*self._driver_errors):  # a broken connection: nothing left to save
                conn.close()

    def _rollback_quietly(self) -> None:
        if self._conn is None:
            return
        # If this fails the connection is gone, and the server has dropped the transaction.
        with suppress(*self._driver_errors):
            self._conn.rollback()

    def _migrate(self) -> None:
        target = self.migrations[-1].version
        with self._transaction("open", write=True) as tx:
            self._lock_schema(tx)
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
            current = int(tx.value("SELECT max(version) FROM schema_version") or 0)
            if current > target:
                raise SchemaVersionError(
                    f"database {self._url} is at schema version {current}, "
                    f"this monitor knows up to {target}; upgrade the monitor"
                )
            for step in self.migrations:
                if step.version <= current:
                    continue
                for statement in step.statements:
                    tx.execute(statement.format_map(self.dialect.types))
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", (step.version,))
