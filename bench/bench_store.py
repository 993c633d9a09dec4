"""Storage write speed: one transaction per feed (record_poll) against one commit per entry.

25k entries over 500 feeds, a match on every tenth entry, written through the real backends:
SQLite with WAL (the default), SQLite with the rollback journal, and PostgreSQL. The per-entry
runs take a subset (``--per-entry-feeds``) so that the slow ones end in seconds; rows/s compare
fairly. Also times an unchanged re-poll (every entry passed again: the idempotent path).

    .venv/bin/python bench/bench_store.py [--dir DIR] [--postgres URL | --no-postgres]

The SQLite files go to ``--dir`` (default: a temporary directory beside this script, on the same
disk as the checkout: tmpfs would hide the cost of fsync).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from monitor.model import Entry, FeedState, Hit, Match, Priority
from monitor.store.postgres import PostgresStorage
from monitor.store.sql import SQLStorage
from monitor.store.sqlite import SQLiteStorage

NOW = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
WORDS = [
    "Lithium",
    "Kobalt",
    "Seltene",
    "Erden",
    "Graphit",
    "supply",
    "chain",
    "export",
    "controls",
    "prices",
    "mine",
]

Corpus = list[tuple[FeedState, list[Entry], dict[str, list[Match]]]]


def corpus(feeds: int, per_feed: int) -> Corpus:
    polls: Corpus = []
    for f in range(feeds):
        url = f"https://feeds.example/{f:03d}.xml"
        entries, matches = [], {}
        for i in range(per_feed):
            text = " ".join(WORDS[(f + i + k) % len(WORDS)] for k in range(12))
            e = Entry(
                feed_url=url,
                id=f"urn:feed{f}:entry{i}",
                title=f"{text[:70]} {i}",
                link=f"https://news.example/{f}/{i}",
                summary=(text + ". ") * 3,
                content=(text + ". ") * 12,
                published=NOW - timedelta(minutes=i),
                author="Desk",
                language="de" if f % 2 else "en",
            )
            entries.append(e)
            if i % 10 == 0:
                hit = Hit("lithium", "Lithium", "title", 0, 7, "Lithium", 100.0)
                matches[e.id] = [Match("battery-metals", 80, Priority.DIGEST, (hit, hit))]
        polls.append((FeedState(url, title=f"Feed {f}", last_poll=NOW, last_success=NOW),
                      entries, matches))  # fmt: skip
    return polls


def per_poll(store: SQLStorage, polls: Corpus) -> int:
    rows = 0
    for state, entries, matches in polls:
        rows += len(store.record_poll(state, entries, matches, NOW).new)
    return rows


def per_entry(store: SQLStorage, polls: Corpus) -> int:
    rows = 0
    for state, entries, matches in polls:
        for e in entries:
            one = {e.id: matches[e.id]} if e.id in matches else {}
            rows += len(store.record_poll(state, [e], one, NOW).new)
    return rows


def timed(run: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    rows = run()
    return rows, time.perf_counter() - start


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--per-feed", type=int, default=50)
    ap.add_argument("--per-entry-feeds", type=int, default=50, help="subset for 1 commit/entry")
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()

    polls = corpus(args.feeds, args.per_feed)
    subset = polls[: args.per_entry_feeds]
    total = sum(len(e) for _, e, _ in polls)
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir or Path(__file__).parent))
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"psycopg {psycopg.__version__}")  # fmt: skip
    print(f"corpus: {total} entries over {len(polls)} feeds; 1 commit/entry on "
          f"{sum(len(e) for _, e, _ in subset)} entries ({len(subset)} feeds)\n")  # fmt: skip
    print(f"{'backend':<22}{'mode':<22}{'rows':>7}{'seconds':>10}{'rows/s':>11}{'ratio':>8}")

    def report(backend: str, opener: Callable[[str], SQLStorage]) -> None:
        with opener("batch") as store:
            rows, batch_s = timed(lambda: per_poll(store, polls))
            assert rows == total, rows
            again, repoll_s = timed(lambda: per_poll(store, polls))
            assert again == 0
        with opener("single") as store:
            single_rows, single_s = timed(lambda: per_entry(store, subset))
        fast, slow, repoll = rows / batch_s, single_rows / single_s, total / repoll_s
        print(f"{backend:<22}{'1 tx per feed':<22}{rows:>7}{batch_s:>10.2f}{fast:>11,.0f}{1:>8}")
        print(f"{'':<22}{'1 commit per entry':<22}{single_rows:>7}{single_s:>10.2f}"
              f"{slow:>11,.0f}{fast / slow:>7.1f}x")  # fmt: skip
        print(f"{'':<22}{'unchanged re-poll':<22}{total:>7}{repoll_s:>10.2f}{repoll:>11,.0f}")

    try:
        report("sqlite WAL+NORMAL", lambda n: SQLiteStorage(workdir / f"wal-{n}.db"))
        report(
            "sqlite DELETE+FULL",
            lambda n: SQLiteStorage(workdir / f"del-{n}.db", journal_mode="delete"),
        )
        if not args.no_postgres:
            with pg_schema(args.postgres) as url_a, pg_schema(args.postgres) as url_b:
                urls = {"batch": url_a, "single": url_b}
                report("postgresql", lambda n: PostgresStorage(urls[n]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
