"""The stories half of ``SQLStorage``: story rows and their members (schema step 4).

Same SQL for SQLite and PostgreSQL. A member row is written in the transaction that stores its
entry (``record_poll(..., stories=...)``), or later by ``record_stories`` (the backfill); either
way an entry gets at most one story (``ON CONFLICT DO NOTHING``: assigning again changes nothing).
A story row's first and last seen are recomputed from its members at each write, so the writes
are idempotent. Members go with their entries (prune); ``prune_stories`` drops stories left empty.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from monitor.model import Entry, StoryAssignment, StoryMember, StoryRecord
from monitor.store.codec import ENTRY_COLUMNS, decode_ts, entry_from_row
from monitor.store.dbapi import Database, Tx

__all__ = ["StoriesSQL", "check_assignments"]

_CHUNK = 400
_SEQ_MAX = 2**63 - 1
"""The largest ``seq`` (BIGINT)."""
_INSERT_MEMBER = """
    INSERT INTO story_members (feed_url, entry_id, story_id, seq, published, language, outlet,
        masthead, new, score, reason, assigned_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (feed_url, entry_id) DO NOTHING
"""
# PostgreSQL, members of entries this transaction inserted by COPY (``bulk``): none can exist.
_COPY_MEMBERS = (
    "COPY story_members (feed_url, entry_id, story_id, seq, published, language, outlet, "
    "masthead, new, score, reason, assigned_at) FROM STDIN (FORMAT BINARY)"
)
_COPY_MEMBER_TYPES = (
    "text", "text", "text", "int8", "timestamptz", "text", "text", "text", "int4", "float8",
    "text", "timestamptz",
)  # fmt: skip
_E_COLUMNS = ", ".join(f"e.{c.strip()}" for c in ENTRY_COLUMNS.split(","))


def _of_entry(column: str) -> str:
    return (
        f"(SELECT e.{column} FROM entries e "
        "WHERE e.feed_url = m.feed_url AND e.entry_id = m.entry_id)"
    )


# The entry's columns by primary-key lookups (correlated subqueries), not by a join: for a page
# of stories PostgreSQL's default costs choose a hash join over a scan of every entry (30-45 ms
# at 50,000 entries) where 600 index lookups take 5 ms; SQLite does lookups either way. A member
# always has its entry (foreign key, ON DELETE CASCADE), so the rows are those of the join.
_MEMBER_COLUMNS = (
    f"m.story_id, m.feed_url, m.entry_id, {_of_entry('title')}, {_of_entry('link')}, "
    f"m.published, m.language, m.outlet, m.masthead, {_of_entry('author')}, m.new, m.score, "
    "m.reason"
)


def check_assignments(assignments: Sequence[StoryAssignment]) -> None:
    """Caller mistakes, found before anything is written."""
    seen: set[tuple[str, str]] = set()
    for a in assignments:
        key = (a.feed_url, a.entry_id)
        if key in seen:
            raise ValueError(f"story assignment for {a.entry_id!r} of {a.feed_url} given twice")
        if not a.story_id:
            raise ValueError(f"story assignment for {a.entry_id!r} of {a.feed_url} has no story")
        seen.add(key)


def _member_of(row: Sequence[Any]) -> tuple[Entry, StoryAssignment]:
    """An entry's columns (``_E_COLUMNS``) followed by its member's story id, language, outlet,
    masthead, new, score and reason."""
    entry = entry_from_row(row[:12])
    sid, language, outlet, masthead, new, score, reason = row[12:19]
    return entry, StoryAssignment(
        entry.feed_url, entry.id, sid, entry.published, language, outlet, masthead, bool(new),
        float(score), reason,
    )  # fmt: skip


class StoriesSQL(Database):
    """Mixed into ``SQLStorage``; see ``monitor.store.base.Storage`` for the contract."""

    # --- writing -------------------------------------------------------------
    def _write_stories(
        self,
        tx: Tx,
        assignments: Sequence[StoryAssignment],
        stamp: object,
        *,
        inserted: bool = False,
        bulk: bool = False,
    ) -> int:
        """Insert the members not stored yet and refresh their stories. Returns how many.

        ``inserted``: the entries were inserted in this transaction, so none has a member row
        yet (a member cannot outlive its entry) and the look-up is skipped. ``bulk``
        (PostgreSQL, with ``inserted``): they were inserted by COPY, which no other writer's
        row of the same key survived, so the members go in by COPY too."""
        if not assignments:
            return 0
        enc = self.dialect.encode_ts
        seq = int(tx.value("SELECT coalesce(max(seq), 0) FROM story_members") or 0)
        written = 0
        for start in range(0, len(assignments), _CHUNK):
            chunk = assignments[start : start + _CHUNK]
            keys = [(a.feed_url, a.entry_id) for a in chunk]
            have = set() if inserted else self._members_among(tx, keys)
            rows = []
            for a in chunk:
                if (a.feed_url, a.entry_id) in have:
                    continue
                seq += 1
                rows.append(
                    (
                        a.feed_url, a.entry_id, a.story_id, seq, enc(a.published),
                        a.language, a.outlet, a.masthead, int(a.new), float(a.score),
                        a.reason, stamp,
                    )
                )  # fmt: skip
            if bulk and inserted:
                tx.copy_in(_COPY_MEMBERS, rows, types=_COPY_MEMBER_TYPES)
            else:
                tx.executemany(_INSERT_MEMBER, rows)
            written += len(rows)
        ids = sorted({a.story_id for a in assignments})
        for start in range(0, len(ids), _CHUNK):
            chunk_ids = ids[start : start + _CHUNK]
            if self.dialect.name == "postgresql":
                # Per story, its members' min and max by the story_members_story index: without
                # statistics (a fresh store, autovacuum off) the planner takes ``IN (...)`` of
                # 50 ids for a quarter of the table and scans all of it, at every poll. A story
                # without members (its entry already had another) gets no row, as with GROUP BY.
                values = ", ".join("(?)" for _ in chunk_ids)
                tx.execute(
                    "INSERT INTO stories (id, first_seen, last_seen, updated) "
                    "SELECT id, first_seen, last_seen, ? FROM (SELECT v.column1 AS id, "
                    "(SELECT min(m.published) FROM story_members m "
                    "WHERE m.story_id = v.column1) AS first_seen, "
                    "(SELECT max(m.published) FROM story_members m "
                    "WHERE m.story_id = v.column1) AS last_seen "
                    f"FROM (VALUES {values}) AS v) AS x WHERE first_seen IS NOT NULL "
                    "ON CONFLICT (id) DO UPDATE SET first_seen = excluded.first_seen, "
                    "last_seen = excluded.last_seen, updated = excluded.updated",
                    (stamp, *chunk_ids),
                    planned=True,
                )
                continue
            marks = ", ".join("?" * len(chunk_ids))
            tx.execute(
                "INSERT INTO stories (id, first_seen, last_seen, updated) "
                "SELECT story_id, min(published), max(published), ? FROM story_members "
                f"WHERE story_id IN ({marks}) GROUP BY story_id "
                "ON CONFLICT (id) DO UPDATE SET first_seen = excluded.first_seen, "
                "last_seen = excluded.last_seen, updated = excluded.updated",
                (stamp, *chunk_ids),
            )
        return written

    def _members_among(self, tx: Tx, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if not keys:
            return set()
        rows = ", ".join("(?, ?)" for _ in keys)
        found = tx.rows(
            "SELECT m.feed_url, m.entry_id FROM story_members m "
            f"JOIN (VALUES {rows}) AS v ON m.feed_url = v.column1 AND m.entry_id = v.column2",
            [v for k in keys for v in k],
        )
        return {(r[0], r[1]) for r in found}

    def record_stories(self, assignments: Sequence[StoryAssignment], now: datetime) -> int:
        check_assignments(assignments)
        stamp = self.dialect.encode_ts(now)
        with self._transaction("record_stories", write=True) as tx:
            # Only entries that are stored (and not pruned meanwhile) get a member row.
            keys = [(a.feed_url, a.entry_id) for a in assignments]
            live = self._entries_among(tx, keys)
            return self._write_stories(
                tx, [a for a in assignments if (a.feed_url, a.entry_id) in live], stamp
            )

    def _entries_among(self, tx: Tx, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            rows = ", ".join("(?, ?)" for _ in chunk)
            out.update(
                (r[0], r[1])
                for r in tx.rows(
                    "SELECT e.feed_url, e.entry_id FROM entries e "
                    f"JOIN (VALUES {rows}) AS v "
                    "ON e.feed_url = v.column1 AND e.entry_id = v.column2",
                    [v for k in chunk for v in k],
                )
            )
        return out

    def prune_stories(self) -> int:
        with self._transaction("prune_stories", write=True) as tx:
            return tx.execute(
                "DELETE FROM stories WHERE NOT EXISTS "
                "(SELECT 1 FROM story_members m WHERE m.story_id = stories.id)"
            )

    # --- reading -------------------------------------------------------------
    def story_of(self, feed_url: str, entry_id: str) -> str | None:
        with self._transaction("story_of", write=False) as tx:
            value = tx.value(
                "SELECT story_id FROM story_members WHERE feed_url = ? AND entry_id = ?",
                (feed_url, entry_id),
            )
        return None if value is None else str(value)

    def story_window(self, span: timedelta) -> list[tuple[Entry, StoryAssignment]]:
        with self._transaction("story_window", write=False) as tx:
            newest = tx.value("SELECT max(last_seen) FROM stories")
            if newest is None:
                return []
            since = self.dialect.encode_ts(decode_ts(newest) - span)
            rows = tx.rows(
                f"SELECT {_E_COLUMNS}, m.story_id, m.language, m.outlet, m.masthead, m.new, "
                "m.score, m.reason FROM stories s "
                "JOIN story_members m ON m.story_id = s.id "
                "JOIN entries e ON e.feed_url = m.feed_url AND e.entry_id = m.entry_id "
                "WHERE s.last_seen >= ? ORDER BY m.seq, m.feed_url, m.entry_id",
                (since,),
            )
        out = []
        for row in rows:
            out.append(_member_of(row))
        return out

    def story_seq(self) -> int:
        with self._transaction("story_seq", write=False) as tx:
            return int(tx.value("SELECT coalesce(max(seq), 0) FROM story_members") or 0)

    def story_members_after(
        self, seq: int, known: Container[tuple[str, str]] = ()
    ) -> tuple[int, list[tuple[int, Entry, StoryAssignment]]]:
        with self._transaction("story_members_after", write=False) as tx:
            # The upper bound changes no row: it makes the condition a range, which the
            # planner takes for a small part of the table without statistics (an open ``>``
            # it takes for a third, and scans the table); planned for its value at each call.
            listed = tx.rows(
                "SELECT seq, feed_url, entry_id FROM story_members "
                f"WHERE seq > ? AND seq <= {_SEQ_MAX} ORDER BY seq, feed_url, entry_id",
                (seq,),
                planned=True,
            )
            top = max((int(r[0]) for r in listed), default=seq)
            keys = [(int(r[0]), str(r[1]), str(r[2])) for r in listed if (r[1], r[2]) not in known]
            out = []
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                rows = ", ".join("(?, ?)" for _ in chunk)
                found = tx.rows(
                    f"SELECT m.seq, {_E_COLUMNS}, m.story_id, m.language, m.outlet, m.masthead, "
                    "m.new, m.score, m.reason FROM story_members m "
                    "JOIN entries e ON e.feed_url = m.feed_url AND e.entry_id = m.entry_id "
                    f"JOIN (VALUES {rows}) AS v ON m.feed_url = v.column1 "
                    "AND m.entry_id = v.column2",
                    [v for _, f, e in chunk for v in (f, e)],
                )
                out.extend(found)
        members = []
        for row in sorted(out, key=lambda r: (int(r[0]), r[1], r[2])):
            members.append((int(row[0]), *_member_of(row[1:])))
        return top, members

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
        where = "WHERE EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id)"
        params: list[Any] = []
        if since is not None:
            where += " AND s.last_seen >= ?"
            params.append(self.dialect.encode_ts(since))
        if until is not None:
            where += " AND s.last_seen < ?"
            params.append(self.dialect.encode_ts(until))
        if language:
            where += (
                " AND EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id"
                " AND m.language = ?)"
            )
            params.append(language)
        if outlet:
            where += (
                " AND EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id"
                " AND m.outlet = ?)"
            )
            params.append(outlet)
        if rule_id:
            where += (
                " AND EXISTS (SELECT 1 FROM story_members m JOIN matches mt"
                " ON mt.feed_url = m.feed_url AND mt.entry_id = m.entry_id"
                " WHERE m.story_id = s.id AND mt.rule_id = ?)"
            )
            params.append(rule_id)
        if min_outlets:
            where += (
                " AND (SELECT count(DISTINCT m.outlet) FROM story_members m"
                " WHERE m.story_id = s.id) >= ?"
            )
            params.append(int(min_outlets))
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        with self._transaction("recent_stories", write=False) as tx:
            ids = [
                str(r[0])
                for r in tx.rows(
                    f"SELECT s.id FROM stories s {where} ORDER BY s.last_seen DESC, s.id{tail}",
                    params,
                )
            ]
            return self._load_stories(tx, ids)

    def story_facets(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[list[str], list[str]]:
        where, params = "", []
        if since is not None:
            where += " AND s.last_seen >= ?"
            params.append(self.dialect.encode_ts(since))
        if until is not None:
            where += " AND s.last_seen < ?"
            params.append(self.dialect.encode_ts(until))
        with self._transaction("story_facets", write=False) as tx:
            rows = tx.rows(
                "SELECT DISTINCT m.language, m.outlet FROM story_members m "
                f"JOIN stories s ON s.id = m.story_id WHERE 1 = 1{where}",
                params,
            )
        languages = sorted({str(r[0]) for r in rows if r[0]})
        outlets = sorted({str(r[1]) for r in rows if r[1]})
        return languages, outlets

    def get_story(self, story_id: str) -> StoryRecord | None:
        with self._transaction("get_story", write=False) as tx:
            found = self._load_stories(tx, [story_id])
        return found[0] if found else None

    def stories_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoryRecord]:
        wanted = list(dict.fromkeys(keys))
        story_ids: dict[tuple[str, str], str] = {}
        with self._transaction("stories_of", write=False) as tx:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = ", ".join("(?, ?)" for _ in chunk)
                for r in tx.rows(
                    "SELECT m.feed_url, m.entry_id, m.story_id FROM story_members m "
                    f"JOIN (VALUES {rows}) AS v ON m.feed_url = v.column1 "
                    "AND m.entry_id = v.column2",
                    [v for k in chunk for v in k],
                ):
                    story_ids[(r[0], r[1])] = str(r[2])
            records = {s.id: s for s in self._load_stories(tx, sorted(set(story_ids.values())))}
        return {k: records[sid] for k, sid in story_ids.items() if sid in records}

    def _load_stories(self, tx: Tx, ids: list[str]) -> list[StoryRecord]:
        """The stories ``ids`` with their members, in the order given; empty ones left out."""
        members: dict[str, list[StoryMember]] = {sid: [] for sid in ids}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for r in tx.rows(
                f"SELECT {_MEMBER_COLUMNS} FROM story_members m "
                f"WHERE m.story_id IN ({marks}) "
                "ORDER BY m.published, m.feed_url, m.entry_id",
                chunk,
            ):
                members[str(r[0])].append(_member(r[1:]))
        out = []
        for sid in ids:
            got = members[sid]
            if got:
                out.append(
                    StoryRecord(sid, got[0].published, max(m.published for m in got), tuple(got))
                )
        return out

    def rule_story_outlets(
        self, rule_ids: Iterable[str], *, since: datetime
    ) -> dict[str, dict[str, int]]:
        wanted = list(dict.fromkeys(rule_ids))
        out: dict[str, dict[str, int]] = {r: {} for r in wanted}
        if not wanted:
            return out
        stamp = self.dialect.encode_ts(since)
        with self._transaction("rule_story_outlets", write=False) as tx:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                for rule_id, story_id, outlets in tx.rows(
                    "SELECT x.rule_id, x.story_id, count(DISTINCT o.outlet) FROM "
                    "(SELECT DISTINCT mt.rule_id, m.story_id FROM matches mt "
                    "JOIN story_members m ON m.feed_url = mt.feed_url "
                    "AND m.entry_id = mt.entry_id "
                    "JOIN stories s ON s.id = m.story_id "
                    f"WHERE mt.rule_id IN ({marks}) AND s.first_seen >= ?) x "
                    "JOIN story_members o ON o.story_id = x.story_id "
                    "GROUP BY x.rule_id, x.story_id",
                    (*chunk, stamp),
                ):
                    out[str(rule_id)][str(story_id)] = int(outlets)
        return out

    def rule_day_counts(
        self, *, since: datetime, until: datetime | None = None
    ) -> list[tuple[str, date, int, int]]:
        where, params = "e.published >= ?", [self.dialect.encode_ts(since)]
        if until is not None:
            where += " AND e.published < ?"
            params.append(self.dialect.encode_ts(until))
        day = self.dialect.utc_day.format("x.first")
        # Per (story, rule): its first matched member in the window and its matched members;
        # then per (day, rule). A story-less entry is keyed by its feed and id (a story id has
        # no space). CROSS JOIN makes SQLite scan the window's entries and look their matches
        # up by key (it otherwise walks matches_rule for the GROUP BY: 3-5x slower at 50,000
        # matches); PostgreSQL plans it as the inner join it is.
        query = (
            f"SELECT x.rule_id, {day}, count(*), sum(x.n) FROM ("
            "SELECT mt.rule_id AS rule_id, min(e.published) AS first, count(*) AS n "
            "FROM entries e CROSS JOIN matches mt "
            "LEFT JOIN story_members m ON m.feed_url = mt.feed_url AND m.entry_id = mt.entry_id "
            f"WHERE mt.feed_url = e.feed_url AND mt.entry_id = e.entry_id AND {where} "
            "GROUP BY coalesce(m.story_id, mt.feed_url || ' ' || mt.entry_id), mt.rule_id"
            f") x GROUP BY {day}, x.rule_id"
        )
        with self._transaction("rule_day_counts", write=False) as tx:
            rows = tx.rows(query, params)
        return sorted(
            (str(rule_id), date.fromisoformat(str(on)), int(n_stories), int(n_entries))
            for rule_id, on, n_stories, n_entries in rows
        )

    def entries_without_story(self, *, since: datetime | None = None) -> list[Entry]:
        where = "WHERE m.entry_id IS NULL"
        params: list[Any] = []
        if since is not None:
            where += " AND e.published >= ?"
            params.append(self.dialect.encode_ts(since))
        with self._transaction("entries_without_story", write=False) as tx:
            rows = tx.rows(
                f"SELECT {_E_COLUMNS} FROM entries e LEFT JOIN story_members m "
                f"ON m.feed_url = e.feed_url AND m.entry_id = e.entry_id {where} "
                "ORDER BY e.published, e.feed_url, e.entry_id",
                params,
            )
        return [entry_from_row(r) for r in rows]


def _member(r: Sequence[Any]) -> StoryMember:
    return StoryMember(
        feed_url=r[0],
        entry_id=r[1],
        title=r[2],
        link=r[3],
        published=decode_ts(r[4]),
        language=r[5],
        outlet=r[6],
        masthead=r[7],
        author=r[8],
        new=bool(r[9]),
        score=float(r[10]),
        reason=r[11],
    )
