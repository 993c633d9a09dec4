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

from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, Self

from monitor.matching.embedder import StoredEmbedding
from monitor.model import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Entry,
    FeedState,
    FullText,
    FullTextState,
    IngestResult,
    InstanceRecord,
    ItemKey,
    Match,
    StoryAssignment,
    StoryRecord,
    SubscriptionMark,
)
from monitor.store.schema import MIGRATIONS

if TYPE_CHECKING:
    from monitor.store.host_slots import PgHostSlots
    from monitor.store.wakeups import DueListener

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

    def save_feed_state(self, state: FeedState, *, lease: str | None = None) -> None:
        """Write a feed's state alone (a 304, an unchanged body, an error); creates the row.

        ``lease``: the instance polling under the feed's lease; the same transaction completes
        it (``complete_lease`` with ``state.next_poll``), if that instance still holds it."""
        ...

    def save_feed_states(self, states: Sequence[FeedState]) -> None:
        """``save_feed_state`` for many feeds in one transaction (a cycle's 304s): one write
        instead of a round trip per feed. All or none of them are written."""
        ...

    # --- entries -------------------------------------------------------------
    def known_entries(self, feed_url: str, ids: Iterable[str] | None = None) -> dict[str, str]:
        """Entry id -> fingerprint for the feed, tombstones included (fingerprint "").

        With ``ids`` (the ids of the document just fetched) only those of them that are known:
        the cost follows the document, not everything the feed ever had."""
        ...

    def record_poll(
        self,
        state: FeedState,
        entries: Sequence[Entry],
        matches: Mapping[str, Sequence[Match]],
        now: datetime,
        *,
        skipped: Sequence[str] = (),
        stories: Sequence[StoryAssignment] = (),
        listed: Sequence[str] = (),
        lease: str | None = None,
    ) -> IngestResult:
        """Write a successful poll in one transaction (with ``lease``: completing the feed's
        lease too, as ``save_feed_state`` does).

        Writes ``state``, then each entry: an unknown id is inserted (``new``, first seen and
        matched at ``now``); a stored id with another fingerprint is updated (``changed``, its
        first-seen time kept); a stored id with the same fingerprint and a tombstoned id are
        left alone (neither), so a re-run of the same poll changes nothing. ``Entry.first_seen``
        passed in is ignored. If an id repeats, its last entry counts.

        ``matches`` maps entry id to that entry's matches. For new and changed entries they
        replace the earlier ones (an empty or missing list clears them); for entries left alone
        they are ignored. ``IngestResult.matches`` counts the match rows written.

        ``skipped`` are ids seen in the feed but not stored (over the feed's cap of new entries
        per poll): they are kept as tombstones, so that a later poll does not take them as new.
        An id among ``entries`` or already stored is not tombstoned.

        ``stories`` are the story assignments of entries of this poll: those of the entries
        inserted (``new``) are written in the same transaction (see ``record_stories``); those
        of changed or left-alone entries are ignored (an entry keeps its first story).
        ``listed`` are tombstoned ids the document still lists: their tombstones are marked
        seen at ``now`` (so ``forget_tombstones`` keeps them). The poll also records ``now`` as
        the time of the feed's last document.

        Raises ``ValueError`` before writing if an entry belongs to another feed, a key of
        ``matches`` is not among ``entries``, one entry has two matches for one rule, or a story
        assignment names an entry not among ``entries`` (or one twice).
        """
        ...

    def get_entry(self, feed_url: str, entry_id: str) -> Entry | None: ...

    def find_entries(self, entry_id: str) -> list[Entry]:
        """Entries with this id in any feed, by feed URL (for ``monitor explain --entry``)."""
        ...

    def entry_counts_since(self, since: datetime) -> dict[str, int]:
        """Per feed URL, how many stored entries were first seen at or after ``since`` (feeds
        without any are left out): the web view's entries per day."""
        ...

    def search_entries(self, query: str, *, limit: int = 50) -> list[Entry]:
        """Stored entries whose title, summary or content hold every word of ``query``.

        Words are compared folded as the matcher folds them (``monitor.matching.text.fold``:
        case, umlauts spelt out, marks dropped), whole words only; newest publication first, at
        most ``limit``. A query without words finds nothing.
        """
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

    def forget_tombstones(self, listed_before: datetime) -> int:
        """Delete the tombstones of ids last listed (or pruned) before ``listed_before`` that the
        feed's last document did not list. Returns how many. Such an id, if a feed sends it
        again, is new again: the horizon should exceed how long a feed keeps an old item."""
        ...

    def tombstone_count(self) -> int:
        """How many tombstones are stored (for benchmarks and ``monitor status``)."""
        ...

    # --- matches -------------------------------------------------------------
    def matches_for(self, feed_url: str, entry_id: str) -> list[Match]:
        """The entry's matches, best score first (ties by rule id)."""
        ...

    def iter_matches(
        self,
        *,
        since: datetime | None = None,
        rule_id: str | None = None,
        until: datetime | None = None,
    ) -> Iterator[tuple[Entry, Match]]:
        """Stored matches made at or after ``since`` and before ``until`` with their entries,
        oldest match first (ties by feed URL, entry id, rule id). Paged like ``iter_entries``."""
        ...

    # --- outbox: subscriptions -----------------------------------------------
    # Deliveries have no foreign key to matches or entries: they outlive a changed entry's
    # re-matching and prune. Each state change is conditional on the state it expects.

    def register_subscriptions(
        self, names: Iterable[str], now: datetime
    ) -> dict[str, SubscriptionMark]:
        """Remember each name (first seen ``now`` if new) and return the marks of ``names``."""
        ...

    def subscription_marks(self) -> dict[str, SubscriptionMark]:
        """Every subscription ever registered, by name."""
        ...

    def set_alerts_until(self, name: str, when: datetime) -> None:
        """Matches recorded before ``when`` were considered for the subscription's alerts."""
        ...

    # --- outbox: creating deliveries -----------------------------------------
    def delivery_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` that already have a delivery (in any state)."""
        ...

    def add_delivery(
        self, delivery: Delivery, message: str, items: Sequence[ItemKey]
    ) -> Delivery | None:
        """Insert a delivery (its ``id`` is ignored) with its message and items, in one
        transaction. Returns it with its id, or None if its key exists (nothing written)."""
        ...

    def add_digest(
        self,
        delivery: Delivery | None,
        message: str | None,
        items: Sequence[ItemKey],
        *,
        subscription: str,
        seq: int,
        until: datetime,
        supersede: Sequence[int] = (),
    ) -> Delivery | bool:
        """Record a digest slot of ``subscription`` ending at ``until``, in one transaction.

        Only if the subscription's ``digest_seq`` still is ``seq`` and every delivery in
        ``supersede`` still is pending or failed; then those become superseded, the mark moves
        on (seq + 1, digest_since = digest_until = ``until``) and ``delivery`` (None: an empty
        slot, nothing to send) is inserted. Returns the stored delivery, True for an empty slot,
        False when another process got there first (nothing written: plan again).
        """
        ...

    # --- outbox: reading -----------------------------------------------------
    def deliveries(
        self,
        *,
        states: Iterable[DeliveryState] | None = None,
        kind: DeliveryKind | None = None,
        subscription: str | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        """Deliveries, newest first."""
        ...

    def due_deliveries(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is not after ``now``: alerts first, then
        digests, each oldest first."""
        ...

    def delivery(self, delivery_id: int) -> Delivery | None: ...

    def delivery_message(self, delivery_id: int) -> str:
        """The message stored at creation (JSON text). ``KeyError`` if there is no such id."""
        ...

    def delivery_subjects(self, delivery_ids: Iterable[int]) -> dict[int, str]:
        """The subject of each stored message of ``delivery_ids`` (unknown ids left out; a
        message that is not JSON with a subject gives ""): the archive's list, without reading
        whole messages."""
        ...

    def delivery_items(self, delivery_id: int) -> list[ItemKey]: ...

    def delivery_counts(self) -> dict[DeliveryState, int]:
        """How many deliveries are in each state (every state present, 0 if none)."""
        ...

    def held_items(
        self,
        subscription: str,
        kind: DeliveryKind,
        candidates: Iterable[ItemKey],
        *,
        ignore: Iterable[int] = (),
    ) -> set[ItemKey]:
        """Those of ``candidates`` already in a pending, sending or sent delivery of that
        subscription and kind, not counting the deliveries with an id in ``ignore``."""
        ...

    def alerted_entries(self, entries: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those (feed_url, entry_id) that were sent as an alert (by any subscription)."""
        ...

    def deliveries_with_prefix(self, subscription: str, prefixes: Iterable[str]) -> list[Delivery]:
        """Deliveries of ``subscription`` (any kind and state) whose key starts with one of
        ``prefixes``, oldest first (ties by id): what a story already had (its alert, its
        updates) when the alert keys of a story share a prefix."""
        ...

    # --- outbox: transitions -------------------------------------------------
    def update_delivery(self, delivery: Delivery, *, expect: DeliveryState) -> bool:
        """Write state, attempts, last error, next attempt and sent time, only if the stored
        state is ``expect``; False (nothing written) otherwise. A delivery that becomes sent
        loses its sent parts in the same transaction."""
        ...

    def recover_deliveries(self, now: datetime) -> int:
        """Every ``sending`` delivery back to pending, due at ``now`` (a crash's orphans: call
        only while holding ``sender_lock``). Returns how many."""
        ...

    def retry_delivery(self, delivery_id: int, now: datetime) -> bool:
        """A failed delivery back to pending, due at ``now``, its retry period restarting."""
        ...

    def prune_deliveries(self, older_than: datetime) -> int:
        """Delete sent, superseded and failed deliveries made before ``older_than`` with their
        items, and sent parts of deliveries no longer pending or sending. Returns how many
        deliveries. (Their matches are pruned by then: nothing needs the record any more.)"""
        ...

    def sent_parts(self, key: str) -> set[str]: ...

    def add_sent_part(self, key: str, part: str, now: datetime) -> None: ...

    def host_slots(self, per_host: int) -> PgHostSlots | None:
        """Per-host fetch slots shared by every process on this database (``fetch.per_host``
        across instances), or None where the process's own limit is the limit (SQLite: one
        monitor per file). The caller closes them (``await slots.aclose()``)."""
        ...

    def due_listener(self) -> DueListener | None:
        """Wakes an idle instance when another makes feeds due now (PostgreSQL LISTEN/NOTIFY:
        ``sync_leases`` adding feeds, ``release_leases``/``retire_instance``, ``make_due``);
        None on SQLite. The caller closes it (``await listener.aclose()``)."""
        ...

    def sender_lock(self, wait: float = 0.0) -> AbstractContextManager[bool]:
        """Only one process sends at a time: yields True while this one may (waiting up to
        ``wait`` seconds), False if another holds it. Released when its process dies."""
        ...

    # --- stories (schema step 4) ---------------------------------------------
    def record_stories(self, assignments: Sequence[StoryAssignment], now: datetime) -> int:
        """Write story assignments of stored entries in one transaction (the backfill). An
        entry that has a story already, or is not stored, is left alone. Returns how many
        were written. ``ValueError`` before writing if an entry is assigned twice."""
        ...

    def story_of(self, feed_url: str, entry_id: str) -> str | None:
        """The id of the entry's story, None if it has none."""
        ...

    def get_story(self, story_id: str) -> StoryRecord | None:
        """The stored story ``story_id`` with its members; None if it has none (or no such id)."""
        ...

    def stories_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoryRecord]:
        """The story of each (feed URL, entry id) that has one, with all its members (as in
        ``recent_stories``); entries without a story are left out. One story record is shared
        by all of its entries asked for. What delivery groups matches by."""
        ...

    def story_window(self, span: timedelta) -> list[tuple[Entry, StoryAssignment]]:
        """The members of the stories whose last entry was published at most ``span`` before
        the newest story's, with their entries, in assignment order: replayed into a fresh
        ``stories.Window`` they rebuild the one that assigned them (a restart forgets nothing
        the window still holds)."""
        ...

    def story_seq(self) -> int:
        """The highest member sequence number written so far (0 for none)."""
        ...

    def story_members_after(
        self, seq: int, known: Container[tuple[str, str]] = ()
    ) -> tuple[int, list[tuple[int, Entry, StoryAssignment]]]:
        """(the highest sequence number above ``seq``, else ``seq``; the members above ``seq``
        whose (feed URL, entry id) is not in ``known``, with their entries, in assignment
        order): what other processes assigned since this one last looked
        (``app.stories.StoryTracker`` follows them)."""
        ...

    def recent_stories(
        self,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        until: datetime | None = None,
        rule_id: str | None = None,
        language: str | None = None,
        outlet: str | None = None,
        min_outlets: int | None = None,
    ) -> list[StoryRecord]:
        """Stories whose last member was published at or after ``since`` (and before
        ``until``), latest first (ties by id), at most ``limit``; members by publication time
        (ties by feed URL, entry id). The filters keep the stories with a member in
        ``language``, one from ``outlet``, one that ``rule_id`` matched (on record), and with
        at least ``min_outlets`` distinct outlets (the web view's story stream)."""
        ...

    def story_facets(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[list[str], list[str]]:
        """(languages, outlets) of the members of the stories whose last member was published
        at or after ``since`` (and before ``until``), each sorted: the stream's filter choices."""
        ...

    def entries_without_story(self, *, since: datetime | None = None) -> list[Entry]:
        """Stored entries published at or after ``since`` that have no story, by publication
        time (ties by feed URL, entry id): what the backfill assigns."""
        ...

    def prune_stories(self) -> int:
        """Delete stories whose members were all pruned. Returns how many."""
        ...

    # --- full text (schema step 6) -------------------------------------------
    def fulltexts(self, urls: Iterable[str]) -> dict[str, FullText]:
        """The cached full texts (ok or failed) of those of ``urls`` that have one, by URL."""
        ...

    def save_fulltexts(self, items: Sequence[FullText]) -> int:
        """Write full texts in one transaction; a URL already cached is replaced (its first
        ``feed_url`` kept). Returns how many. ``ValueError`` before writing for an empty URL."""
        ...

    def fulltext_counts(self) -> dict[str, dict[FullTextState, int]]:
        """Per feed URL (the feed that asked for the page first): how many cached pages are in
        each state (every state present, 0 if none). Feeds without any are absent."""
        ...

    def fulltext_failures(self, *, feed_url: str | None = None, limit: int = 10) -> list[FullText]:
        """The most recent failed full texts (of one feed, or of all), newest first."""
        ...

    def prune_fulltexts(self, older_than: datetime) -> int:
        """Delete cached full texts fetched before ``older_than``. Returns how many."""
        ...

    def rule_story_outlets(
        self, rule_ids: Iterable[str], *, since: datetime
    ) -> dict[str, dict[str, int]]:
        """For each of ``rule_ids``: the stories first seen at or after ``since`` that have a
        member the rule matched, each with its number of distinct outlets (the baseline of the
        spike signal, ``monitor.delivery.spike``). A rule without such stories maps to {}."""
        ...

    def rule_day_counts(
        self, *, since: datetime, until: datetime | None = None
    ) -> list[tuple[str, date, int, int]]:
        """(rule id, UTC day, new stories, their entries) over the matches whose entry was
        published at or after ``since`` (and before ``until``), by rule and day, days without a
        new story left out: the web view's volume per rule (``monitor.web.volume``). A story
        counts once, on the day of its first member the rule matched in the window, with the
        number of its members the rule matched there; an entry without a story (stored before
        stories existed) is a story of its own."""
        ...

    # --- instances and feed leases (several instances on one database) -------
    def sync_leases(self, urls: Iterable[str], now: datetime) -> None:
        """One lease row per configured feed: new ones due at ``now``; others dropped."""
        ...

    def claim_feeds(self, owner: str, now: datetime, *, lease: timedelta, limit: int) -> list[str]:
        """Up to ``limit`` feeds due at ``now`` whose lease is free or expired, now leased to
        ``owner`` until ``now + lease``. Concurrent claimers never get the same feed."""
        ...

    def complete_lease(self, owner: str, feed_url: str, next_due: datetime) -> bool:
        """Free the lease and set the feed's next due time, only if ``owner`` still holds it
        (False: the lease expired and another instance took it over; nothing changed)."""
        ...

    def release_leases(self, owner: str) -> int:
        """Free every lease ``owner`` holds (due times kept): the number freed."""
        ...

    def make_due(self, feed_urls: Iterable[str], now: datetime) -> int:
        """Make these feeds due at ``now`` (a wake-up): the number of rows changed."""
        ...

    def heartbeat(self, record: InstanceRecord, *, renew_until: datetime | None = None) -> int:
        """Insert or refresh the instance's row (heartbeat and role); with ``renew_until``,
        extend every lease the instance holds to then (polls still queued keep their feeds).
        Returns the number of leases renewed."""
        ...

    def retire_instance(self, owner: str) -> int:
        """Release the instance's leases and drop its row (a clean stop): leases freed."""
        ...

    def instances(self, now: datetime) -> list[InstanceRecord]:
        """Known instances by id, each with the number of leases it holds unexpired at ``now``."""
        ...

    def lease_of(self, feed_url: str) -> tuple[datetime, str | None, datetime | None] | None:
        """(due, owner, lease_until) of a feed's lease row, or None without one."""
        ...

    # --- entry embeddings (semantic layer; schema step 9 assigned by lead) ----------------------
    def embeddings(
        self, model: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredEmbedding]:
        """The stored vectors under ``model`` of those (feed_url, entry_id) keys that have one."""
        ...

    def save_embeddings(self, items: Sequence[StoredEmbedding], now: datetime) -> int:
        """Write vectors in one transaction, replacing an entry's earlier vector under the same
        model. Every entry must exist (its vectors are deleted with it). Returns how many."""
        ...
