"""Storage: one interface (``Storage``), SQLite and PostgreSQL behind it."""

from __future__ import annotations

from monitor.store.base import SCHEMA_VERSION, Storage

__all__ = ["SCHEMA_VERSION", "Storage", "open_storage"]


def open_storage(url: str) -> Storage:
    """Open ``sqlite:///path.db`` (created on first use) or ``postgresql://...``."""
    from monitor.errors import ConfigError

    if url.startswith("sqlite:"):
        from monitor.store.sqlite import SQLiteStorage

        return SQLiteStorage.from_url(url)
    if url.startswith(("postgresql:", "postgres:")):
        from monitor.store.postgres import PostgresStorage

        return PostgresStorage.from_url(url)
    raise ConfigError(
        f"unknown database URL {url!r}",
        key="database",
        hint="use sqlite:///path/to/monitor.db or postgresql://user@host:5432/dbname",
    )
