"""The storage interface. The pipeline, CLI and daemon only talk to this Protocol.

Implementations: ``sqlite.SQLiteStorage`` (default) and ``postgres.PostgresStorage``.
The same contract tests (tests/test_store_contract.py) run against both.

Rules every implementation keeps:
- every method that writes does so in one transaction: a crash leaves either all or nothing;
- driver exceptions are wrapped once into ``StorageError`` with a message naming the database;
- datetimes go in and come out as aware UTC;
- the clock is never read here: callers pass ``now``;
- a naive datetime passed in is refused with ``ValueError`` (it is almost always a bug);
- a caller's mistake (``ValueError``) is found before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol, Self

from monitor.model import Entry, FeedState, IngestResult, Match
from monitor.store.schema import MIGRATIONS

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The newest schema this code knows: the last step in ``schema.MIGRATIONS``."""


class Storage(Protocol):
    # --- lifecycle -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL with any password removed (for messages and ``monitor status``)."""
        ...

    def close(self) -> None:
        """Idempotent. Any later call raises ``StorageError``."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None:
        """Closes the storage."""

    # --- feeds ---------------------------------------------------------------
    def sync_feeds(self, urls: Iterable[str]) -> None:
        """Make sure a state row exists for each configured feed (never deletes)."""
        ...

    def feed_states(self) -> dict[str, FeedState]:
        """Every known feed's state, keyed by configured URL."""
        ...

    def feed_state(self, url: str) -> FeedState | None: ...

    def save_feed_state(self, state: FeedState) -> None:
        """Write a feed's state alone (a 304, an unchanged body, an error); creates the row."""
        ...

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

        Writes ``state``, then each entry: an unknown id is inserted (``new``, first seen and
        matched at ``now``); a stored id with another fingerprint is updated (``changed``, its
        first-seen time kept); a stored id with the same fingerprint and a tombstoned id are
        left alone (neither), so a re-run of the same poll changes nothing. ``Entry.first_seen``
        passed in is ignored. If an id repeats, its last entry counts.

        ``matches`` maps entry id to that entry's matches. For new and changed entries they
        replace the earlier ones (an empty or missing list clears them); for entries left alone
        they are ignored. ``IngestResult.matches`` counts the match rows written.

        Raises ``ValueError`` before writing if an entry belongs to another feed, a key of
        ``matches`` is not among ``entries``, or one entry has two matches for one rule.
        """
        ...

    def get_entry(self, feed_url: str, entry_id: str) -> Entry | None: ...

    def find_entries(self, entry_id: str) -> list[Entry]:
        """Entries with this id in any feed, by feed URL (for ``monitor explain --entry``)."""
        ...

    def iter_entries(
        self, *, feed_url: str | None = None, since: datetime | None = None
    ) -> Iterator[Entry]:
        """Stored entries first seen at or after ``since``, oldest first (ties by feed URL, id).

        Read page by page: no transaction stays open between items, and writes made while
        iterating may or may not be seen.
        """
        ...

    def entry_counts(self) -> dict[str, int]:
        """Stored (not tombstoned) entries per known feed URL, 0 for a feed without any."""
        ...

    def prune(self, older_than: datetime, now: datetime) -> int:
        """Delete entries first seen before ``older_than``, and their matches, in one
        transaction; keep their ids as tombstones (pruned at ``now``). Returns how many."""
        ...

    # --- matches -------------------------------------------------------------
    def matches_for(self, feed_url: str, entry_id: str) -> list[Match]:
        """The entry's matches, best score first (ties by rule id)."""
        ...

    def iter_matches(
        self, *, since: datetime | None = None, rule_id: str | None = None
    ) -> Iterator[tuple[Entry, Match]]:
        """Stored matches made at or after ``since`` with their entries, oldest match first
        (ties by feed URL, entry id, rule id). Paged like ``iter_entries``."""
        ...
