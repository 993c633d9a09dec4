"""The storage interface. The pipeline, CLI and daemon only talk to this Protocol.

Implementations: ``sqlite.SQLiteStorage`` (default) and ``postgres.PostgresStorage``.
The same contract tests (tests/test_store_contract.py) run against both.

Rules every implementation keeps:
- every method that writes does so in one transaction: a crash leaves either all or nothing;
- driver exceptions are wrapped once into ``StorageError`` with a message naming the database;
- datetimes go in and come out as aware UTC;
- the clock is never read here: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.model import Entry, FeedState, IngestResult, Match

SCHEMA_VERSION = 1


class Storage(Protocol):
    # --- lifecycle -----------------------------------------------------------
    def close(self) -> None: ...

    # --- feeds ---------------------------------------------------------------
    def sync_feeds(self, urls: Iterable[str]) -> None:
        """Make sure a state row exists for each configured feed (never deletes)."""

    def feed_states(self) -> dict[str, FeedState]:
        """Every known feed's state, keyed by configured URL."""
        ...

    def feed_state(self, url: str) -> FeedState | None: ...

    def save_feed_state(self, state: FeedState) -> None:
        """Write a feed's state alone (a 304, an unchanged body, an error)."""

    # --- entries -------------------------------------------------------------
    def known_entries(self, feed_url: str) -> dict[str, str]:
        """Entry id -> fingerprint for the feed, tombstones included (fingerprint "")."""
        ...

    def record_poll(
        self,
        state: FeedState,
        entries: Sequence[Entry],
        matches: Mapping[str, Sequence[Match]],
        now: datetime,
    ) -> IngestResult:
        """Write a successful poll in one transaction.

        ``entries`` are those the caller found new or changed; an id already stored is updated
        (and reported as changed), a tombstoned id is ignored. ``matches`` maps entry id to that
        entry's matches, which replace its earlier ones.
        """
        ...

    def get_entry(self, feed_url: str, entry_id: str) -> Entry | None: ...

    def find_entries(self, entry_id: str) -> list[Entry]:
        """Entries with this id in any feed (for ``monitor explain --entry``)."""
        ...

    def iter_entries(
        self, *, feed_url: str | None = None, since: datetime | None = None
    ) -> Iterator[Entry]:
        """Stored entries, oldest first by first-seen time."""
        ...

    def entry_counts(self) -> dict[str, int]:
        """Stored (not tombstoned) entries per feed URL."""
        ...

    def prune(self, older_than: datetime, now: datetime) -> int:
        """Delete entries first seen before ``older_than``; keep their ids as tombstones."""
        ...

    # --- matches -------------------------------------------------------------
    def matches_for(self, feed_url: str, entry_id: str) -> list[Match]: ...

    def iter_matches(
        self, *, since: datetime | None = None, rule_id: str | None = None
    ) -> Iterator[tuple[Entry, Match]]:
        """Stored matches with their entries, oldest match first."""
        ...
