"""The Storage implementation: every query, written once for SQLite and PostgreSQL.

Both databases speak the same ``INSERT ... ON CONFLICT ... DO UPDATE`` and row-value comparisons,
so the SQL does not differ; ``Dialect`` (``dbapi.py``) covers placeholders, column types and how a
timestamp is sent. Each public method is one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.errors import StorageError
from monitor.logs import event
from monitor.model import Entry, FeedState, IngestResult, Match, StoryAssignment
from monitor.store.codec import (
    ENTRY_COLUMNS,
    FEED_COLUMNS,
    MATCH_COLUMNS,
    encode_hits,
    entry_from_row,
    match_from_row,
    state_from_row,
)
from monitor.store.dbapi import Tx
from monitor.store.search_index import (
    indexed_text,
    match_expression,
    query_tokens,
    search_sql,
    tsvector_binary,
    write_index,
)
from monitor.store.sql_embeddings import EmbeddingsSQL
from monitor.store.sql_fulltext import FullTextSQL
from monitor.store.sql_leases import LeasesSQL
from monitor.store.sql_outbox import OutboxSQL
from monitor.store.sql_stories import StoriesSQL, check_assignments

log = logging.getLogger("monitor.store")

__all__ = ["SQLStorage"]

# SQLite allows 32766 host parameters per statement since 3.32 (999 before); stay well below.
_CHUNK = 500

_UPSERT_FEED = f"""
    INSERT INTO feeds ({FEED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (url) DO UPDATE SET
        fetch_url = excluded.fetch_url, title = excluded.title, etag = excluded.etag,
        last_modified = excluded.last_modified, body_hash = excluded.body_hash,
        last_poll = excluded.last_poll, last_success = excluded.last_success,
        last_error = excluded.last_error, error_count = excluded.error_count,
        next_poll = excluded.next_poll
"""


def _upsert_entry(*, search: bool) -> str:
    """The entries upsert; first_seen is kept on update, change_count counts the updates.
    ``search``: with PostgreSQL's search index column too (schema step 11)."""
    column, value, update = (
        (", search", ", ?::tsvector", ", search = excluded.search") if search else ("", "", "")
    )
    return f"""
    INSERT INTO entries ({ENTRY_COLUMNS}, last_changed, change_count{column})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0{value})
    ON CONFLICT (feed_url, entry_id) DO UPDATE SET
        title = excluded.title, link = excluded.link, summary = excluded.summary,
        content = excluded.content, published = excluded.published, updated = excluded.updated,
        author = excluded.author, language = excluded.language,
        fingerprint = excluded.fingerprint, last_changed = excluded.last_changed,
        change_count = entries.change_count + 1{update}
"""


_UPSERT_ENTRY = _upsert_entry(search=False)
_UPSERT_ENTRY_SEARCH = _upsert_entry(search=True)
# record_poll's: the state plus when the feed's last document was parsed (tombstone horizon).
_UPSERT_POLLED_FEED = f"""
    INSERT INTO feeds ({FEED_COLUMNS}, last_document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (url) DO UPDATE SET
        fetch_url = excluded.fetch_url, title = excluded.title, etag = excluded.etag,
        last_modified = excluded.last_modified, body_hash = excluded.body_hash,
        last_poll = excluded.last_poll, last_success = excluded.last_success,
        last_error = excluded.last_error, error_count = excluded.error_count,
        next_poll = excluded.next_poll, last_document = excluded.last_document
"""
_INSERT_MATCH = """
    INSERT INTO matches (feed_url, entry_id, rule_id, score, priority, hits, matched_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_E_COLUMNS = ", ".join(f"e.{c.strip()}" for c in ENTRY_COLUMNS.split(","))
# PostgreSQL, entries new to the store: a binary COPY; the types are the columns' own.
_COPY_ENTRIES = (
    f"COPY entries ({ENTRY_COLUMNS}, last_changed, change_count, search) FROM STDIN (FORMAT BINARY)"
)
_COPY_ENTRY_TYPES = (
    "text", "text", "text", "text", "text", "text", "timestamptz", "timestamptz", "text",
    "text", "text", "timestamptz", "timestamptz", "int4", "tsvector",
)  # fmt: skip
_COPY_MATCHES = (
    "COPY matches (feed_url, entry_id, rule_id, score, priority, hits, matched_at) "
    "FROM STDIN (FORMAT BINARY)"
)
_COPY_MATCH_TYPES = ("text", "text", "text", "int4", "text", "text", "timestamptz")
_REDO = frozenset({"23505", "22P03"})
"""SQLSTATEs after which ``record_poll`` writes the poll again by the upsert: unique_violation
(another writer stored one of the entries meanwhile) and invalid_binary_representation (a
column's type changed by hand, which the COPY's binary values no longer fit)."""


@dataclass(frozen=True, slots=True)
class _Poll:
    """``record_poll``'s checked arguments, for a second attempt."""

    state: FeedState
    by_id: dict[str, Entry]
    matches: Mapping[str, Sequence[Match]]
    stamp: object
    state_row: tuple[Any, ...]
    skip: list[str]
    stories: Sequence[StoryAssignment]
    listed: Sequence[str]
    lease: str | None


class SQLStorage(OutboxSQL, StoriesSQL, FullTextSQL, LeasesSQL, EmbeddingsSQL):
    """Implements ``monitor.store.base.Storage``; subclasses supply the connection.

    Iterators read page by page (keyset pagination), each page its own short transaction, so no
    transaction stays open while the caller works on the rows.
    """

    page_size: int = 500

    # --- feeds ---------------------------------------------------------------
    def sync_feeds(self, urls: Iterable[str]) -> None:
        rows = [(u,) for u in dict.fromkeys(urls)]
        with self._transaction("sync_feeds", write=True) as tx:
            tx.executemany("INSERT INTO feeds (url) VALUES (?) ON CONFLICT (url) DO NOTHING", rows)

    def feed_states(self) -> dict[str, FeedState]:
        with self._transaction("feed_states", write=False) as tx:
            rows = tx.rows(f"SELECT {FEED_COLUMNS} FROM feeds ORDER BY url")
        return {row[0]: state_from_row(row) for row in rows}

    def feed_state(self, url: str) -> FeedState | None:
        with self._transaction("feed_state", write=False) as tx:
            rows = tx.rows(f"SELECT {FEED_COLUMNS} FROM feeds WHERE url = ?", (url,))
        return state_from_row(rows[0]) if rows else None

    def save_feed_state(self, state: FeedState, *, lease: str | None = None) -> None:
        row = self._state_row(state)
        if lease is None:
            with self._transaction("save_feed_state", write=True) as tx:
                tx.execute(_UPSERT_FEED, row)
            return
        with self._transaction("save_feed_state_leased", write=True) as tx:
            tx.execute(_UPSERT_FEED, row)
            self._complete_lease_in(tx, state, lease)

    def _complete_lease_in(self, tx: Tx, state: FeedState, owner: str) -> None:
        """The feed's lease freed and due at ``state.next_poll``, if ``owner`` still holds it:
        in the poll's own transaction, so a crash leaves both or neither."""
        if state.next_poll is None:
            return
        done = tx.execute(
            "UPDATE feed_leases SET due = ?, owner = NULL, lease_until = NULL "
            "WHERE feed_url = ? AND owner = ?",
            (self.dialect.encode_ts(state.next_poll), state.url, owner),
        )
        if not done:  # expired and taken over (or released): another instance polls it too
            event(
                log,
                "lease.lost",
                level=logging.WARNING,
                feed=state.url,
                id=owner,
                hint="the poll outlasted instances.lease; raise it if this recurs",
            )

    def save_feed_states(self, states: Sequence[FeedState]) -> None:
        if not states:
            return
        rows = [self._state_row(s) for s in states]
        with self._transaction("save_feed_states", write=True) as tx:
            tx.executemany(_UPSERT_FEED, rows)

    def _state_row(self, s: FeedState) -> tuple[Any, ...]:
        ts = self._opt_ts
        return (
            s.url, s.fetch_url, s.title, s.etag, s.last_modified, s.body_hash,
            ts(s.last_poll), ts(s.last_success), s.last_error, s.error_count, ts(s.next_poll),
        )  # fmt: skip

    def _opt_ts(self, value: datetime | None) -> object:
        return None if value is None else self.dialect.encode_ts(value)

    # --- entries -------------------------------------------------------------
    def known_entries(self, feed_url: str, ids: Iterable[str] | None = None) -> dict[str, str]:
        with self._transaction("known_entries", write=False) as tx:
            if ids is not None:
                stored, tombstoned = self._stored(tx, feed_url, list(dict.fromkeys(ids)))
                known = dict.fromkeys(tombstoned, "")
                known.update(stored)
                return known
            tomb = tx.rows("SELECT entry_id FROM tombstones WHERE feed_url = ?", (feed_url,))
            live = tx.rows(
                "SELECT entry_id, fingerprint FROM entries WHERE feed_url = ?", (feed_url,)
            )
        known = {r[0]: "" for r in tomb}
        known.update({r[0]: r[1] for r in live})
        return known

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
        by_id = _check_poll(state, entries, matches)
        _check_stories(state, by_id, stories)
        skip = [i for i in dict.fromkeys(skipped) if i not in by_id]
        stamp = self.dialect.encode_ts(now)
        state_row = (*self._state_row(state), stamp)
        poll = _Poll(state, by_id, matches, stamp, state_row, skip, stories, listed, lease)
        if self.dialect.name != "postgresql":
            return self._record_poll(poll, bulk=False)
        try:
            return self._record_poll(poll, bulk=True)
        except StorageError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in _REDO:
                raise
            # An entry this poll took for new was stored by another writer after the look-up
            # (an instance that took over an expired lease, a `once` beside the daemon): its
            # COPY failed, the transaction is rolled back, and the poll is written again as
            # before, by the upsert; the look-up now sees the other writer's entry.
            event(
                log,
                "store.record_poll.retry",
                level=logging.DEBUG,
                feed=state.url,
                error=getattr(exc.__cause__, "sqlstate", ""),
            )
        return self._record_poll(poll, bulk=False)

    def _record_poll(self, poll: _Poll, *, bulk: bool) -> IngestResult:
        """``bulk`` (PostgreSQL): the entries found new by the look-up in this transaction, their
        story members and the matches are written by binary COPYs, not row by row (the entries
        by the upsert's speculative insertion). A concurrent writer of one of the same entries
        makes the entries' COPY fail with a unique violation, and ``record_poll`` then writes the
        poll again with ``bulk=False``: the statements as before, the look-up fresh."""
        state, by_id, matches, stamp = poll.state, poll.by_id, poll.matches, poll.stamp
        with self._transaction("record_poll", write=True) as tx:
            tx.execute(_UPSERT_POLLED_FEED, poll.state_row)
            stored, tombstoned = self._stored(tx, state.url, list(by_id))
            new = [i for i in by_id if i not in stored and i not in tombstoned]
            changed = [i for i in by_id if i in stored and stored[i] != by_id[i].fingerprint]
            if self.dialect.name == "postgresql":
                # The search tsvector in binary (tsvector_recv, not tsvectorin's parse).
                def row(i: str) -> tuple[Any, ...]:
                    e = by_id[i]
                    search = tsvector_binary(indexed_text(e.title, e.summary, e.content))
                    return (*self._entry_row(e, stamp), search)

                if bulk:
                    tx.copy_in(
                        _COPY_ENTRIES,
                        [(*r[:13], 0, r[13]) for r in map(row, new)],
                        types=_COPY_ENTRY_TYPES,
                    )
                    tx.executemany(_UPSERT_ENTRY_SEARCH, [row(i) for i in changed])
                else:
                    tx.executemany(_UPSERT_ENTRY_SEARCH, [row(i) for i in new + changed])
            else:
                tx.executemany(
                    _UPSERT_ENTRY, [self._entry_row(by_id[i], stamp) for i in new + changed]
                )
                write_index(
                    tx,
                    self.dialect.name,
                    [
                        (state.url, i, indexed_text(e.title, e.summary, e.content))
                        for i in new + changed
                        for e in (by_id[i],)
                    ],
                )
            tx.executemany(
                "DELETE FROM matches WHERE feed_url = ? AND entry_id = ?",
                [(state.url, i) for i in changed],
            )
            # The rules an entry matches share most of their hits: each is encoded once.
            memo: dict[int, str] = {}
            match_rows = [
                (
                    state.url,
                    i,
                    m.rule_id,
                    m.score,
                    m.priority.value,
                    encode_hits(m.hits, memo),
                    stamp,
                )
                for i in new + changed
                for m in matches.get(i, ())
            ]
            if bulk:  # the changed entries' matches are deleted above, the new ones have none
                tx.copy_in(_COPY_MATCHES, match_rows, types=_COPY_MATCH_TYPES)
            else:
                tx.executemany(_INSERT_MATCH, match_rows)
            self._tombstone(tx, state.url, poll.skip, stamp)
            # Stories of the entries this poll inserted: in the same transaction, so that no
            # stored entry is ever without its story (a changed entry keeps the one it has).
            inserted = set(new)
            todo = [a for a in poll.stories if a.entry_id in inserted]
            self._write_stories(tx, todo, stamp, inserted=True, bulk=bulk)
            self._touch_tombstones(tx, state.url, list(dict.fromkeys(poll.listed)), stamp)
            if poll.lease is not None:
                self._complete_lease_in(tx, state, poll.lease)
        return IngestResult(new=tuple(new), changed=tuple(changed), matches=len(match_rows))

    def _tombstone(self, tx: Tx, feed_url: str, ids: list[str], stamp: object) -> None:
        """``ids`` remembered as seen; one that has a stored entry is left alone."""
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            # One multi-row statement per chunk: a flood of 100,000 ids is 200 statements,
            # not 100,000 round trips. (VALUES columns are column1.. in both databases.)
            rows = ", ".join("(?, ?, ?)" for _ in chunk)
            tx.execute(
                "INSERT INTO tombstones (feed_url, entry_id, pruned_at, last_seen) "
                f"SELECT column1, column2, column3, column3 FROM (VALUES {rows}) AS v "
                "WHERE NOT EXISTS (SELECT 1 FROM entries e "
                "WHERE e.feed_url = v.column1 AND e.entry_id = v.column2) "
                "ON CONFLICT (feed_url, entry_id) DO NOTHING",
                [v for i in chunk for v in (feed_url, i, stamp)],
            )

    def _touch_tombstones(self, tx: Tx, feed_url: str, ids: list[str], stamp: object) -> None:
        """Tombstoned ``ids`` the feed's document still lists: kept past the horizon."""
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            tx.execute(
                "UPDATE tombstones SET last_seen = ? "
                f"WHERE feed_url = ? AND entry_id IN ({', '.join('?' * len(chunk))})",
                (stamp, feed_url, *chunk),
            )

    def _stored(self, tx: Tx, feed_url: str, ids: list[str]) -> tuple[dict[str, str], set[str]]:
        """Fingerprints of the stored ones among ``ids``, and the tombstoned ones: one query
        (one round trip) per chunk of ids, whatever the feed has stored besides them."""
        stored: dict[str, str] = {}
        tombstoned: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for entry_id, fingerprint, dead in tx.rows(
                "SELECT entry_id, fingerprint, 0 FROM entries "
                f"WHERE feed_url = ? AND entry_id IN ({marks}) "
                "UNION ALL SELECT entry_id, '', 1 FROM tombstones "
                f"WHERE feed_url = ? AND entry_id IN ({marks})",
                (feed_url, *chunk, feed_url, *chunk),
            ):
                if dead:
                    tombstoned.add(entry_id)
                else:
                    stored[entry_id] = fingerprint
        return stored, tombstoned

    def _entry_row(self, e: Entry, stamp: object) -> tuple[Any, ...]:
        enc = self.dialect.encode_ts
        return (
            e.feed_url, e.id, e.title, e.link, e.summary, e.content,
            enc(e.published), self._opt_ts(e.updated), e.author, e.language, e.fingerprint,
            stamp, stamp,
        )  # fmt: skip

    def get_entry(self, feed_url: str, entry_id: str) -> Entry | None:
        with self._transaction("get_entry", write=False) as tx:
            rows = tx.rows(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE feed_url = ? AND entry_id = ?",
                (feed_url, entry_id),
            )
        return entry_from_row(rows[0]) if rows else None

    def find_entries(self, entry_id: str) -> list[Entry]:
        # No index on entry_id alone: an occasional CLI lookup does not justify the write cost.
        with self._transaction("find_entries", write=False) as tx:
            rows = tx.rows(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_id = ? ORDER BY feed_url",
                (entry_id,),
            )
        return [entry_from_row(r) for r in rows]

    def entry_counts_since(self, since: datetime) -> dict[str, int]:
        with self._transaction("entry_counts_since", write=False) as tx:
            rows = tx.rows(
                "SELECT feed_url, count(*) FROM entries WHERE first_seen >= ? GROUP BY feed_url",
                (self.dialect.encode_ts(since),),
            )
        return {url: int(n) for url, n in rows}

    def search_entries(self, query: str, *, limit: int = 50) -> list[Entry]:
        words = query_tokens(query)
        if not words or limit <= 0:
            return []
        name = self.dialect.name
        expression = match_expression(name, words)
        if expression is None:
            return []
        with self._transaction("search_entries", write=False) as tx:
            rows = tx.rows(search_sql(name, _E_COLUMNS), (expression, limit))
        return [entry_from_row(r) for r in rows]

    def iter_entries(
        self, *, feed_url: str | None = None, since: datetime | None = None
    ) -> Iterator[Entry]:
        where: list[str] = []
        params: list[Any] = []
        if feed_url is not None:
            where.append("feed_url = ?")
            params.append(feed_url)
        if since is not None:
            where.append("first_seen >= ?")
            params.append(self.dialect.encode_ts(since))
        # first_seen is column 11 of ENTRY_COLUMNS; the key continues after the last row seen.
        for row in self._pages(
            "iter_entries", f"SELECT {ENTRY_COLUMNS} FROM entries", where, params,
            ("first_seen", "feed_url", "entry_id"), lambda r: (r[11], r[0], r[1]),
        ):  # fmt: skip
            yield entry_from_row(row)

    def _pages(
        self,
        op: str,
        select: str,
        where: list[str],
        params: list[Any],
        key: tuple[str, ...],
        key_of: Callable[[tuple[Any, ...]], tuple[Any, ...]],
    ) -> Iterator[tuple[Any, ...]]:
        """Keyset pagination: each page is one short read; the raw key values go back as-is."""
        after: tuple[Any, ...] | None = None
        order = ", ".join(key)
        while True:
            conditions, values = list(where), list(params)
            if after is not None:
                conditions.append(f"({order}) > ({', '.join('?' * len(key))})")
                values.extend(after)
            clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            query = f"{select}{clause} ORDER BY {order} LIMIT {int(self.page_size)}"
            with self._transaction(op, write=False) as tx:
                rows = tx.rows(query, values)
            yield from rows
            if len(rows) < self.page_size:
                return
            after = key_of(rows[-1])

    def entry_counts(self) -> dict[str, int]:
        with self._transaction("entry_counts", write=False) as tx:
            rows = tx.rows(
                "SELECT f.url, count(e.entry_id) FROM feeds f "
                "LEFT JOIN entries e ON e.feed_url = f.url GROUP BY f.url ORDER BY f.url"
            )
        return {url: int(n) for url, n in rows}

    def prune(self, older_than: datetime, now: datetime) -> int:
        cutoff = self.dialect.encode_ts(older_than)
        stamp = self.dialect.encode_ts(now)
        with self._transaction("prune", write=True) as tx:
            tx.execute(
                "INSERT INTO tombstones (feed_url, entry_id, pruned_at, last_seen) "
                "SELECT feed_url, entry_id, ?, ? FROM entries WHERE first_seen < ? "
                "ON CONFLICT (feed_url, entry_id) DO NOTHING",
                (stamp, stamp, cutoff),
            )
            # Their matches go with them (ON DELETE CASCADE).
            return tx.execute("DELETE FROM entries WHERE first_seen < ?", (cutoff,))

    def forget_tombstones(self, listed_before: datetime) -> int:
        # last_seen < last_document: the feed's latest document did not list the id.
        with self._transaction("forget_tombstones", write=True) as tx:
            return tx.execute(
                "DELETE FROM tombstones WHERE last_seen < ? AND last_seen < "
                "(SELECT f.last_document FROM feeds f WHERE f.url = tombstones.feed_url)",
                (self.dialect.encode_ts(listed_before),),
            )

    def tombstone_count(self) -> int:
        with self._transaction("tombstone_count", write=False) as tx:
            return int(tx.value("SELECT count(*) FROM tombstones"))

    # --- matches -------------------------------------------------------------
    def matches_for(self, feed_url: str, entry_id: str) -> list[Match]:
        with self._transaction("matches_for", write=False) as tx:
            rows = tx.rows(
                f"SELECT {MATCH_COLUMNS} FROM matches WHERE feed_url = ? AND entry_id = ? "
                "ORDER BY score DESC, rule_id",
                (feed_url, entry_id),
            )
        return [match_from_row(r) for r in rows]

    def iter_matches(
        self,
        *,
        since: datetime | None = None,
        rule_id: str | None = None,
        until: datetime | None = None,
    ) -> Iterator[tuple[Entry, Match]]:
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("m.matched_at >= ?")
            params.append(self.dialect.encode_ts(since))
        if until is not None:
            where.append("m.matched_at < ?")
            params.append(self.dialect.encode_ts(until))
        if rule_id is not None:
            where.append("m.rule_id = ?")
            params.append(rule_id)
        select = (
            f"SELECT m.rule_id, m.score, m.priority, m.hits, m.matched_at, {_E_COLUMNS} "
            "FROM matches m JOIN entries e "
            "ON e.feed_url = m.feed_url AND e.entry_id = m.entry_id"
        )
        key = ("m.matched_at", "m.feed_url", "m.entry_id", "m.rule_id")
        for row in self._pages(
            "iter_matches", select, where, params, key, lambda r: (r[4], r[5], r[6], r[0])
        ):
            yield entry_from_row(row[5:]), match_from_row(row[:4])


def _check_poll(
    state: FeedState, entries: Sequence[Entry], matches: Mapping[str, Sequence[Match]]
) -> dict[str, Entry]:
    """Caller mistakes, found before anything is written. A repeated id: the last one wins."""
    by_id: dict[str, Entry] = {}
    for entry in entries:
        if entry.feed_url != state.url:
            raise ValueError(
                f"record_poll for feed {state.url}: entry {entry.id!r} belongs to {entry.feed_url}"
            )
        by_id[entry.id] = entry
    for entry_id, entry_matches in matches.items():
        if entry_id not in by_id:
            raise ValueError(
                f"record_poll for feed {state.url}: matches for {entry_id!r}, "
                "which is not among the entries passed"
            )
        rule_ids = [m.rule_id for m in entry_matches]
        if len(set(rule_ids)) != len(rule_ids):
            raise ValueError(
                f"record_poll for feed {state.url}: entry {entry_id!r} has two matches for one rule"
            )
    return by_id


def _check_stories(
    state: FeedState, by_id: Mapping[str, Entry], stories: Sequence[StoryAssignment]
) -> None:
    check_assignments(stories)
    for a in stories:
        if a.feed_url != state.url or a.entry_id not in by_id:
            raise ValueError(
                f"record_poll for feed {state.url}: a story for {a.entry_id!r} of {a.feed_url}, "
                "which is not among the entries passed"
            )
