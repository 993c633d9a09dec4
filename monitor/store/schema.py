"""The database schema as an ordered list of versioned migration steps, one text for both dialects.

A step's statements may use ``{key}``, ``{ts}``, ``{json}`` and ``{float}``; each dialect fills them
in (``monitor.store.sql.Dialect.types``). At open, the storage applies every step above the version
recorded in ``schema_version`` in one transaction and refuses a database newer than the last step.

To change the schema, append a step; never edit one that has shipped. The outbox, for example, will
be one more entry::

    Migration(2, "outbox: one delivery record per (match or digest, channel)", (
        '''CREATE TABLE deliveries (
            id {key} PRIMARY KEY, channel {key} NOT NULL, ..., state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_attempt {ts})''',
        "CREATE INDEX deliveries_due ON deliveries (state, next_attempt)",
    )),
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "feeds, entries, tombstones, matches",
        (
            """CREATE TABLE feeds (
                url {key} PRIMARY KEY,
                fetch_url TEXT,
                title TEXT,
                etag TEXT,
                last_modified TEXT,
                body_hash TEXT,
                last_poll {ts},
                last_success {ts},
                last_error TEXT,
                error_count INTEGER NOT NULL DEFAULT 0,
                next_poll {ts}
            )""",
            """CREATE TABLE entries (
                feed_url {key} NOT NULL REFERENCES feeds (url),
                entry_id {key} NOT NULL,
                title TEXT NOT NULL,
                link TEXT,
                summary TEXT NOT NULL,
                content TEXT NOT NULL,
                published {ts} NOT NULL,
                updated {ts},
                author TEXT,
                language TEXT,
                fingerprint TEXT NOT NULL,
                first_seen {ts} NOT NULL,
                last_changed {ts} NOT NULL,
                change_count INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (feed_url, entry_id)
            )""",
            # iter_entries(since=...) and prune(older_than) both range over first_seen.
            "CREATE INDEX entries_first_seen ON entries (first_seen)",
            """CREATE TABLE tombstones (
                feed_url {key} NOT NULL REFERENCES feeds (url),
                entry_id {key} NOT NULL,
                pruned_at {ts} NOT NULL,
                PRIMARY KEY (feed_url, entry_id)
            )""",
            # Matches live and die with their entry: prune deletes them through the cascade.
            """CREATE TABLE matches (
                feed_url {key} NOT NULL,
                entry_id {key} NOT NULL,
                rule_id {key} NOT NULL,
                score INTEGER NOT NULL,
                priority TEXT NOT NULL,
                hits {json} NOT NULL,
                matched_at {ts} NOT NULL,
                PRIMARY KEY (feed_url, entry_id, rule_id),
                FOREIGN KEY (feed_url, entry_id) REFERENCES entries (feed_url, entry_id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX matches_matched_at ON matches (matched_at)",
            "CREATE INDEX matches_rule ON matches (rule_id, matched_at)",
        ),
    ),
)
