"""The database schema as an ordered list of versioned migration steps, one text for both dialects.

A step's statements may use ``{key}``, ``{ts}``, ``{json}`` and ``{float}``; each dialect fills them
in (``monitor.store.sql.Dialect.types``). At open, the storage applies every step above the version
recorded in ``schema_version`` in one transaction and refuses a database newer than the last step.

To change the schema, append a step; never edit one that has shipped. ``{serial}`` is an
auto-numbered integer primary key (``dbapi.Dialect.schema_types``).

The outbox (step 2) has no foreign key to ``matches`` or ``entries``: a changed entry's matches are
deleted and re-inserted, and prune deletes entries with their matches, while a delivery must
outlive both (a cascade would silently drop pending deliveries). Deliveries name what they contain
by plain key columns (feed_url, entry_id, rule_id) and by their stable ``key``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from monitor.store.search_index import FTS_TOKENS_STATEMENTS, SEARCH_STATEMENTS, SearchTx
from monitor.store.search_index import backfill as search_backfill
from monitor.store.search_index import refill as search_refill
from monitor.store.search_index import reindex as search_reindex

__all__ = ["MIGRATIONS", "Migration"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    dialect_statements: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Statements for one dialect only (by ``Dialect.name``), run after ``statements``."""
    backfill: Callable[[SearchTx, str], None] | None = None
    """Fills the new structures from existing rows (gets the transaction and dialect name)."""


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
    Migration(
        2,
        "outbox: deliveries, their items, sent parts, subscription bookkeeping",
        (
            # One row per (alert match or digest, channel); ``message`` is the rendered message as
            # JSON text (not jsonb: the bytes sent on a retry are the bytes stored at creation).
            """CREATE TABLE deliveries (
                id {serial},
                key {key} NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                subscription {key} NOT NULL,
                channel {key} NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                next_attempt {ts},
                created {ts} NOT NULL,
                sent_at {ts},
                since {ts},
                due {ts},
                message TEXT NOT NULL
            )""",
            "CREATE INDEX deliveries_state ON deliveries (state, next_attempt)",
            "CREATE INDEX deliveries_subscription ON deliveries (subscription, kind, state)",
            # What an alert or a digest contained: digests leave out what an earlier one of the
            # subscription holds, and mark (or omit) what was alerted.
            """CREATE TABLE delivery_items (
                delivery_id BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
                feed_url {key} NOT NULL,
                entry_id {key} NOT NULL,
                rule_id {key} NOT NULL,
                PRIMARY KEY (delivery_id, feed_url, entry_id, rule_id)
            )""",
            "CREATE INDEX delivery_items_entry ON delivery_items (feed_url, entry_id)",
            # Parts of a delivery a channel accepted (Slack messages, mail recipients): a restarted
            # process resumes a split message at the next part. Cleared when the delivery is sent.
            """CREATE TABLE sent_parts (
                key {key} NOT NULL,
                part {key} NOT NULL,
                sent_at {ts} NOT NULL,
                PRIMARY KEY (key, part)
            )""",
            # Per subscription: when it was first seen (alerts start there), where the next digest
            # scan starts, a version for optimistic concurrency, and how far alerts were scanned.
            """CREATE TABLE subscriptions (
                name {key} PRIMARY KEY,
                first_seen {ts} NOT NULL,
                digest_since {ts},
                digest_until {ts},
                digest_seq INTEGER NOT NULL DEFAULT 0,
                alerts_until {ts}
            )""",
        ),
    ),
    Migration(
        3,
        "indexes on the full keys that scans page by",
        (
            # iter_matches and iter_entries page by (time, feed_url, entry_id[, rule_id]); with an
            # index on the time alone, every page sorted all rows of one poll (they share one
            # time), so reading a poll of n matches cost n^2 / page size: 40 s for 100,000.
            "CREATE INDEX matches_scan ON matches (matched_at, feed_url, entry_id, rule_id)",
            "DROP INDEX matches_matched_at",
            "CREATE INDEX entries_scan ON entries (first_seen, feed_url, entry_id)",
            "DROP INDEX entries_first_seen",
        ),
    ),
    Migration(
        4,
        "stories: one row per story, one per member entry",
        (
            # first_seen/last_seen: publication times of the earliest and latest member, recomputed
            # from the members at each write (idempotent). The window is rebuilt from the stories
            # whose last_seen is within its span of the newest one (story_window).
            """CREATE TABLE stories (
                id {key} PRIMARY KEY,
                first_seen {ts} NOT NULL,
                last_seen {ts} NOT NULL,
                updated {ts} NOT NULL
            )""",
            "CREATE INDEX stories_last_seen ON stories (last_seen, id)",
            # One row per entry that has a story, written in the entry's poll transaction; it
            # goes with its entry (prune). seq is the assignment order: a replay of the members in
            # that order rebuilds the window exactly. outlet: link domain (one outlet counts once
            # however many of its feeds carry a piece); masthead: the feed's name or title.
            """CREATE TABLE story_members (
                feed_url {key} NOT NULL,
                entry_id {key} NOT NULL,
                story_id {key} NOT NULL,
                seq BIGINT NOT NULL,
                published {ts} NOT NULL,
                language TEXT NOT NULL,
                outlet TEXT NOT NULL,
                masthead TEXT NOT NULL,
                new INTEGER NOT NULL,
                score {float} NOT NULL,
                reason TEXT NOT NULL,
                assigned_at {ts} NOT NULL,
                PRIMARY KEY (feed_url, entry_id),
                FOREIGN KEY (feed_url, entry_id) REFERENCES entries (feed_url, entry_id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX story_members_story ON story_members (story_id, seq)",
            "CREATE INDEX story_members_seq ON story_members (seq)",
        ),
    ),
    # --- step 5: bounded tombstones (perf_store) ------------------------------------------------
    # A tombstone remembers when its id was last listed in the feed's document (``last_seen``), and
    # a feed when its last document was parsed (``last_document``). ``prune`` drops a tombstone once
    # its id has been missing from the feed's documents for the tombstone horizon: a tombstone
    # whose id is still listed is never dropped. Lookups touch only the ids of the document.
    Migration(
        5,
        "tombstones: last seen in the feed's document; feeds: last document parsed",
        (
            "ALTER TABLE tombstones ADD COLUMN last_seen {ts}",
            "UPDATE tombstones SET last_seen = pruned_at",
            "ALTER TABLE feeds ADD COLUMN last_document {ts}",
            "CREATE INDEX tombstones_last_seen ON tombstones (last_seen)",
        ),
    ),
    # --- step 6: full text of article pages (fulltext) --------------------------------------------
    # One row per article URL: the page's extracted main text, or why there is none (state
    # 'failed', error). Keyed by a hash of the URL (url_key), so that a long URL never meets an
    # index's size limit; feed_url is the feed whose entry asked for the page first (what
    # ``monitor status`` counts per feed). Rows do not depend on entries: the same page linked
    # from two feeds is fetched once; ``prune_fulltexts`` drops rows older than the retention.
    Migration(
        6,
        "fulltext: article main text cached by URL",
        (
            """CREATE TABLE fulltext (
                url_key {key} PRIMARY KEY,
                url TEXT NOT NULL,
                state TEXT NOT NULL,
                body TEXT NOT NULL,
                error TEXT,
                feed_url {key} NOT NULL,
                status INTEGER,
                seconds {float} NOT NULL,
                fetched_at {ts} NOT NULL
            )""",
            "CREATE INDEX fulltext_feed ON fulltext (feed_url, state, fetched_at)",
            "CREATE INDEX fulltext_fetched ON fulltext (fetched_at)",
        ),
    ),
    # --- step 7: feed leases across instances (pgleases) ------------------------------------------
    # step 7 (assigned by lead). One row per running (or lately running) ``monitor run``: its
    # heartbeat says whether it is alive. One lease row per feed: when it is next due, and which
    # instance holds it until when. An instance claims due rows whose lease is free or expired
    # (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), polls them, and completes the lease with the
    # feed's next due time; a dead instance's leases lapse at ``lease_until``.
    Migration(
        7,
        "instances and feed leases",
        (
            """CREATE TABLE instances (
                id {key} PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                role TEXT NOT NULL,
                started {ts} NOT NULL,
                heartbeat {ts} NOT NULL
            )""",
            """CREATE TABLE feed_leases (
                feed_url {key} PRIMARY KEY,
                due {ts} NOT NULL,
                owner {key},
                lease_until {ts}
            )""",
            "CREATE INDEX feed_leases_due ON feed_leases (due)",
            "CREATE INDEX feed_leases_owner ON feed_leases (owner)",
        ),
    ),
    # --- step 8 (assigned by lead): full-text search over entries (web) -----------------------
    # Dialect-specific: an FTS5 table on SQLite, a tsvector column with a GIN index on PostgreSQL
    # (monitor/store/search_index.py). The text is folded in Python like the matcher's, so the
    # step backfills the index from the entries already stored.
    Migration(
        8,
        "search: full-text index over entries' folded text",
        (),
        dialect_statements=SEARCH_STATEMENTS,
        backfill=search_backfill,
    ),
    # --- step 9: entry embeddings (semantic) ------------------------------------------------
    # One vector per entry and embedding model, computed once, for match, backtest and the story
    # layer to reuse (groundwork: nothing writes it yet). ``text_hash`` is a hash of the text that
    # was embedded, so a changed entry is re-embedded; ``vector`` is a JSON list of floats. Rows
    # go with their entry (cascade).
    Migration(
        9,
        "entry_embeddings: one vector per entry and embedding model",
        (
            """CREATE TABLE entry_embeddings (
                feed_url {key} NOT NULL,
                entry_id {key} NOT NULL,
                model {key} NOT NULL,
                text_hash TEXT NOT NULL,
                vector TEXT NOT NULL,
                computed_at {ts} NOT NULL,
                PRIMARY KEY (feed_url, entry_id, model),
                FOREIGN KEY (feed_url, entry_id) REFERENCES entries (feed_url, entry_id)
                    ON DELETE CASCADE
            )""",
        ),
    ),
    # --- step 10: matches' hits as JSON text on PostgreSQL too (issue 14, pg2000) -------------
    # The hits were ``jsonb``: the server parsed every match's JSON (~2.4 KB on the word-list
    # corpus, ~9 matches per entry) into its binary form and then compressed that with pglz,
    # ~40 % of the backend's CPU in a first poll (bench/RESULTS.md, "PostgreSQL first poll at
    # 2,000 feeds"). No query looks inside them: they are read back whole and decoded in Python,
    # as SQLite's TEXT always was. The rewrite keeps every value (``jsonb::text`` is valid JSON
    # of the same hits; new rows store the client's text as sent).
    Migration(
        10,
        "matches: hits stored as JSON text on PostgreSQL as on SQLite",
        (),
        dialect_statements={
            "postgresql": ("ALTER TABLE matches ALTER COLUMN hits TYPE TEXT USING hits::text",),
        },
    ),
    # --- step 11: the search index in entries, from the client's tokens; lz4 (issue 14, pg3) ----
    # PostgreSQL only. The index moves from its own table (a row, a key and a foreign-key check
    # per entry) into a ``search`` column of ``entries``, written by the entry's upsert. Its
    # tsvectors were built by the server (``to_tsvector('simple', ...)``, with positions no query
    # reads); now they are literals of the Python tokens that the query side uses too
    # (monitor/store/search_index.py), so every entry is indexed again (``reindex``, which also
    # builds the GIN index). The wide text columns compress with lz4 instead of pglz where the
    # server is built with it (pglz_compress was ~15 % of the backends' CPU in a first poll);
    # values already stored keep pglz, readable as before. A server without lz4 (or before
    # PostgreSQL 14) keeps the default: the block's error is caught and the step still applies.
    Migration(
        11,
        "search index in entries from the client's tokens; lz4 compression on PostgreSQL",
        (),
        dialect_statements={
            "postgresql": (
                "ALTER TABLE entries ADD COLUMN IF NOT EXISTS search tsvector",
                "DROP TABLE IF EXISTS entry_search",
                """DO $$ BEGIN
                    EXECUTE 'ALTER TABLE entries ALTER COLUMN title SET COMPRESSION lz4, '
                        'ALTER COLUMN summary SET COMPRESSION lz4, '
                        'ALTER COLUMN content SET COMPRESSION lz4, '
                        'ALTER COLUMN search SET COMPRESSION lz4';
                    EXECUTE 'ALTER TABLE matches ALTER COLUMN hits SET COMPRESSION lz4';
                    EXECUTE 'ALTER TABLE fulltext ALTER COLUMN body SET COMPRESSION lz4';
                    EXECUTE 'ALTER TABLE entry_embeddings ALTER COLUMN vector SET COMPRESSION lz4';
                    EXECUTE 'ALTER TABLE deliveries ALTER COLUMN message SET COMPRESSION lz4';
                EXCEPTION WHEN feature_not_supported OR syntax_error THEN
                    RAISE NOTICE 'lz4 compression not available: the columns keep the default';
                END $$""",
            ),
        },
        backfill=search_reindex,
    ),
    # --- step 12: SQLite's search index without positions, one FTS token per token (storecost) --
    # SQLite only. The FTS5 table is made again with the ``ascii`` tokenizer, ``detail = none``
    # and ``columnsize = 0`` (monitor/store/search_index.py, ``FTS_TOKENS_STATEMENTS``) and every
    # stored entry indexed into it under its docid (``entry_search_keys`` and its trigger stay).
    # No query reads positions or column sizes; a query word is now always one FTS token, as on
    # PostgreSQL, where a token is a lexeme. (PostgreSQL: nothing.)
    Migration(
        12,
        "SQLite search index: one FTS token per folded token, no positions",
        (),
        dialect_statements=FTS_TOKENS_STATEMENTS,
        backfill=search_refill,
    ),
)
