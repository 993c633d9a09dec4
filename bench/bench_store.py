"""Storage write speed: one transaction per feed (record_poll) against one commit per entry.

25k entries over 500 feeds, a match on every tenth entry, written through the real backends:
SQLite with WAL (the default), SQLite with the rollback journal, and PostgreSQL. The per-entry
runs take a subset (``--per-entry-feeds``) so that the slow ones end in seconds; rows/s compare
fairly. Also times an unchanged re-poll (every entry passed again: the idempotent path).

    .venv/bin/python bench/bench_store.py [--dir DIR] [--postgres URL | --no-postgres]

First a pipeline-like cycle (per feed ``feed_state``, ``known_entries`` of the document's ids,
``record_poll``) over 2,000 feeds on SQLite and PostgreSQL, with client and server CPU beside
wall (``--cycle-only`` stops there). ``--tombstones`` instead simulates ``--days`` of daily polls
of ``--sim-feeds`` feeds with a fake clock and prints the database and tombstone sizes, with and
without the tombstone horizon.

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
from dataclasses import replace
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


def lookup(store: SQLStorage, url: str, ids: list[str]) -> dict[str, str]:
    """``known_entries`` as the pipeline calls it: the document's ids only (the whole feed's
    before that parameter existed)."""
    try:
        return store.known_entries(url, ids)
    except TypeError:
        return store.known_entries(url)


def cycle(store: SQLStorage, polls: Corpus, now: datetime) -> int:
    """What the pipeline does for each changed feed: read the state, look up the document's ids,
    write the poll (only new or changed entries, as ``select_candidates`` passes them)."""
    rows = 0
    for state, entries, matches in polls:
        store.feed_state(state.url)
        known = lookup(store, state.url, [e.id for e in entries])
        todo = [e for e in entries if known.get(e.id) is None]
        ms = {e.id: matches[e.id] for e in todo if e.id in matches}
        rows += len(store.record_poll(state, todo, ms, now).new)
    return rows


def pg_backend_cpu(store: SQLStorage) -> float:
    """CPU seconds of the PostgreSQL server process serving ``store``'s connection."""
    with store._transaction("bench", write=False) as tx:
        pid = int(tx.value("SELECT pg_backend_pid()"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def simulate_days(
    path: Path,
    feeds: int,
    days: int,
    per_day: int,
    window: int,
    retention: int,
    horizon: int | None,
) -> dict[str, float]:
    """``days`` of daily polls with a fake clock: each feed's document lists its ``window`` newest
    items, ``per_day`` of them new; the cycle's prune runs after each day. ``horizon`` None: the
    store as it was (every known id of the feed read on each poll, tombstones kept forever)."""
    c0, t0 = cpu(), time.perf_counter()
    lookup_s = 0.0
    with SQLiteStorage(path) as store:
        for day in range(days):
            now = NOW + timedelta(days=day)
            for f in range(feeds):
                url = f"https://feeds.example/{f:04d}.xml"
                top = (day + 1) * per_day
                ids = [f"urn:{f}:{n}" for n in range(top - 1, max(top - window, 0) - 1, -1)]
                l0 = time.perf_counter()
                known = (
                    store.known_entries(url, ids)
                    if horizon is not None
                    else (store.known_entries(url))
                )
                lookup_s += time.perf_counter() - l0
                new = [
                    Entry(url, i, f"Lithium {i}", f"https://n.example/{i}", "Short summary.",
                          "", now - timedelta(hours=1))
                    for i in ids if i not in known
                ]  # fmt: skip
                listed = [i for i in ids if known.get(i) == ""]
                store.record_poll(FeedState(url, last_success=now), new, {}, now, listed=listed)
            store.prune(now - timedelta(days=retention), now)
            if horizon is not None:
                store.forget_tombstones(now - timedelta(days=horizon))
        tombstones = store.tombstone_count()
        entries = sum(store.entry_counts().values())
    with sqlite3.connect(path) as conn:  # what the file would shrink to: live pages only
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))  # fmt: skip
        tomb_bytes = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE '%tombstones%'"
        ).fetchone()[0]
    return {
        "wall": time.perf_counter() - t0, "cpu": cpu() - c0, "lookup": lookup_s,
        "tombstones": tombstones, "entries": entries, "file_mb": path.stat().st_size / 1e6,
        "used_mb": (pages - free) * size / 1e6, "tomb_mb": (tomb_bytes or 0) / 1e6,
    }  # fmt: skip


def tombstone_report(workdir: Path, args: argparse.Namespace) -> None:
    print(f"{args.days} simulated days, {args.sim_feeds} feeds, {args.per_day} new entries a day "
          f"each (documents list the {args.window} newest), retention {args.retention} days, "
          f"tombstone horizon {args.horizon} days; SQLite")  # fmt: skip
    print(f"{'store':<40}{'entries':>9}{'tombstones':>12}{'tomb MB':>9}{'used MB':>9}"
          f"{'lookups s':>11}{'wall s':>8}{'CPU s':>7}")  # fmt: skip
    runs = (("before: tombstones kept, all ids read", None),
            ("after: horizon, document ids only", args.horizon))  # fmt: skip
    for name, horizon in runs:
        r = simulate_days(
            workdir / f"days-{horizon}.db", args.sim_feeds, args.days, args.per_day,
            args.window, args.retention, horizon,
        )  # fmt: skip
        print(f"{name:<40}{r['entries']:>9,.0f}{r['tombstones']:>12,.0f}{r['tomb_mb']:>9.1f}"
              f"{r['used_mb']:>9.1f}{r['lookup']:>11.2f}{r['wall']:>8.1f}"
              f"{r['cpu']:>7.1f}")  # fmt: skip


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
    ap.add_argument("--cycle-feeds", type=int, default=2000)
    ap.add_argument("--cycle-per-feed", type=int, default=20)
    ap.add_argument("--cycle-only", action="store_true", help="only the pipeline-like cycle")
    ap.add_argument("--tombstones", action="store_true", help="only the simulated days")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--sim-feeds", type=int, default=1000)
    ap.add_argument("--per-day", type=int, default=20)
    ap.add_argument("--window", type=int, default=40)
    ap.add_argument("--retention", type=int, default=30)
    ap.add_argument("--horizon", type=int, default=30)
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

    if args.tombstones:
        try:
            tombstone_report(workdir, args)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    cycle_polls = corpus(args.cycle_feeds, args.cycle_per_feed)
    cycle_total = sum(len(e) for _, e, _ in cycle_polls)

    def cycle_report(backend: str, store: SQLStorage, base: dict[str, float]) -> None:
        server = backend == "postgresql"
        for mode, now in (("first poll", NOW), ("re-poll, 1 new each", NOW + timedelta(hours=1))):
            polls = cycle_polls
            if mode.startswith("re-poll"):  # one new entry at the top of each feed
                polls = [
                    (st, [replace(es[0], id=es[0].id + "-next"), *es[1:]], {})
                    for st, es, _ in cycle_polls
                ]
            srv0 = pg_backend_cpu(store) if server else 0.0
            c0, t0 = cpu(), time.perf_counter()
            rows = cycle(store, polls, now)
            wall, client = time.perf_counter() - t0, cpu() - c0
            srv = pg_backend_cpu(store) - srv0 if server else float("nan")
            ratio = wall / base[mode] if mode in base else 1.0
            base.setdefault(mode, wall)
            print(f"{backend:<20}{mode:<22}{rows:>7}{wall:>9.2f}{client:>9.2f}"
                  f"{srv:>9.2f}{ratio:>8.2f}x")  # fmt: skip

    print(f"cycle: {cycle_total} entries over {len(cycle_polls)} feeds, per feed: feed_state, "
          "known_entries, record_poll; ratio: wall against SQLite WAL in this run")  # fmt: skip
    print(f"{'backend':<20}{'mode':<22}{'rows':>7}{'wall s':>9}{'client':>9}"
          f"{'server':>9}{'ratio':>9}")  # fmt: skip
    base: dict[str, float] = {}
    try:
        with SQLiteStorage(workdir / "cycle.db") as store:
            cycle_report("sqlite WAL+NORMAL", store, base)
        if not args.no_postgres:
            with pg_schema(args.postgres) as url, PostgresStorage(url) as pg_store:
                cycle_report("postgresql", pg_store, base)
        print()
        if args.cycle_only:
            return
        print(f"{'backend':<22}{'mode':<22}{'rows':>7}{'seconds':>10}{'rows/s':>11}{'ratio':>8}")
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
