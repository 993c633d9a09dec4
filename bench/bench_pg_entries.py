"""The entries write of a first poll alone, on PostgreSQL: upsert against plain INSERT and COPY.

Reads the entries of a schema that a first poll filled (``bench_pg_statements.py --keep``), then
writes them again, one transaction per feed as ``record_poll`` does, into fresh schemas (the
store's own migrations), once per method, alternating; the backend's CPU from
``/proc/<pid>/schedstat`` around each write and commit, the client's from ``process_time``.

    .venv/bin/python bench/bench_pg_entries.py --source SCHEMA [--postgres URL] [--rounds 2]
        [--methods upsert,insert,copy] [--variants noscan,nofk,nogin]

A variant drops one index or constraint before the writes, to show what it costs (not a change).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import psycopg  # noqa: E402
from psycopg.adapt import Dumper  # noqa: E402
from psycopg.pq import Format  # noqa: E402

from monitor.store import sql as store_sql  # noqa: E402
from monitor.store.codec import ENTRY_COLUMNS  # noqa: E402
from monitor.store.postgres import PostgresStorage  # noqa: E402
from monitor.store.search_index import indexed_text, tsvector_literal  # noqa: E402

_COLS = f"{ENTRY_COLUMNS}, last_changed, change_count, search"
_INSERT = (
    f"INSERT INTO entries ({_COLS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s::tsvector)"
)
_COPY_TYPES = [
    *["text"] * 6, "timestamptz", "timestamptz", "text", "text", "text",
    "timestamptz", "timestamptz", "int4", "tsvector",
]  # fmt: skip
_UPSERT = store_sql._UPSERT_ENTRY_SEARCH.replace("?", "%s")
_VARIANTS = {
    "noscan": ("DROP INDEX entries_scan",),
    "nofk": ("ALTER TABLE entries DROP CONSTRAINT entries_feed_url_fkey",),
    "nogin": ("DROP INDEX entries_search",),
    "fastoff": ("ALTER INDEX entries_search SET (fastupdate = off)",),
    "wm16": ("SET work_mem = '16MB'",),
    "wm64": ("SET work_mem = '64MB'",),
    "p16wm64": ("SET work_mem = '64MB'", "SET gin_pending_list_limit = '16MB'"),
    "p64wm256": ("SET work_mem = '256MB'", "SET gin_pending_list_limit = '64MB'"),
    "p16": ("SET gin_pending_list_limit = '16MB'",),
    "toast8k": ("ALTER TABLE entries SET (toast_tuple_target = 8160)",),
}


class _TsvBin(bytes):
    pass


class _TsvDumper(Dumper):
    format = Format.BINARY
    oid = 3614

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def tsv_binary(text: str) -> _TsvBin:
    toks = set(text.split(" "))
    toks.discard("")
    if not toks:
        return _TsvBin(b"\0\0\0\0")
    return _TsvBin(struct.pack("!i", len(toks)) + ("\0\0\0".join(toks) + "\0\0\0").encode())


def run_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


Row = tuple[Any, ...]


def load(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """The source's entries per feed, as record_poll's 13 values (the search literal apart)."""
    by_feed: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f'SELECT {ENTRY_COLUMNS} FROM "{schema}".entries '
            "ORDER BY first_seen, feed_url, entry_id"
        ).fetchall()
    for r in rows:
        by_feed[r[0]].append(tuple(r[:11]))
    return by_feed


class Run:
    """One method (and variant) writing into its own fresh schema over its own connection."""

    def __init__(self, base: str, method: str, variant: str, feeds: list[str]) -> None:
        self.method, self.variant = method, variant
        self.name = f"{method}{'-' + variant if variant else ''}"
        self.schema = f"ent_{uuid.uuid4().hex[:10]}"
        self.base = base
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{self.schema}"')
        url = f"{base}?options=-csearch_path%3D{self.schema}"
        PostgresStorage(url).sync_feeds(feeds)
        self.conn: psycopg.Connection[Any] = psycopg.connect(url)
        self.conn.adapters.register_dumper(_TsvBin, _TsvDumper)
        setup: Callable[[str], object] = self.conn.execute
        setup("SET synchronous_commit = off")
        setup("SET jit = off")
        for statement in _VARIANTS.get(variant, ()):
            setup(statement)
        self.conn.commit()
        self.pid = int(self.conn.info.backend_pid)
        self.backend = 0
        self.client = 0.0
        self.n = 0

    def write(self, feed_rows: list[Row], stamp: datetime) -> None:
        conn, method = self.conn, self.method
        c0 = time.process_time()
        if method.endswith("bin"):
            params = [
                (*r, stamp, stamp, tsv_binary(indexed_text(r[2], r[4], r[5]))) for r in feed_rows
            ]
        else:
            params = [
                (*r, stamp, stamp, tsvector_literal(indexed_text(r[2], r[4], r[5])))
                for r in feed_rows
            ]
        b0 = run_ns(self.pid)
        with conn.cursor() as cur:
            if method in ("upsert", "upsertbin"):
                cur.executemany(_UPSERT, params)
            elif method == "copybin":
                with cur.copy(f"COPY entries ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(_COPY_TYPES)
                    for p in params:
                        copy.write_row((*p[:13], 0, p[13]))
            elif method in ("insert", "insertbin"):
                cur.executemany(_INSERT, params)
            elif method == "copy":
                with cur.copy(f"COPY entries ({_COLS}) FROM STDIN") as copy:
                    for p in params:
                        copy.write_row((*p[:13], 0, p[13]))
            else:
                raise SystemExit(f"unknown method {method}")
        conn.commit()
        self.backend += run_ns(self.pid) - b0
        self.client += time.process_time() - c0
        self.n += len(feed_rows)

    def finish(self) -> tuple[float, float, int]:
        # What the pending list still holds is work deferred, not saved: cleaned and counted.
        b0 = run_ns(self.pid)
        self.conn.execute("SELECT gin_clean_pending_list('entries_search')")
        self.conn.commit()
        self.backend += run_ns(self.pid) - b0
        self.conn.close()
        with psycopg.connect(self.base, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        return self.backend / 1e9, self.client, self.n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/pg6")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--methods", default="upsert,insert,copy")
    ap.add_argument("--variants", default="")
    ap.add_argument("--variant-method", default="upsert")
    args = ap.parse_args()
    by_feed = load(args.postgres, args.source)
    feeds = list(by_feed)
    specs: list[tuple[str, str]] = [(m, "") for m in args.methods.split(",")]
    specs += [(args.variant_method, v) for v in args.variants.split(",") if v]
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for rnd in range(args.rounds):
        runs = [Run(args.postgres, m, v, feeds) for m, v in specs]
        stamp = datetime.now(UTC)
        load0 = os.getloadavg()[0]
        for k, feed_rows in enumerate(by_feed.values()):
            for run in runs if k % 2 == 0 else runs[::-1]:
                run.write(feed_rows, stamp)
        load1 = os.getloadavg()[0]
        for run in runs:
            b, c, n = run.finish()
            results[run.name].append((b, c))
            print(
                f"round {rnd + 1} {run.name:14} {n} entries: backend {1e6 * b / n:6.1f} us, "
                f"client {1e6 * c / n:6.1f} us per entry (load {load0:.2f}-{load1:.2f})",
                flush=True,
            )
    n = sum(len(v) for v in by_feed.values())
    for name, vals in results.items():
        bs = ", ".join(f"{1e6 * b / n:.0f}" for b, _ in vals)
        cs = ", ".join(f"{1e6 * c / n:.0f}" for _, c in vals)
        print(f"{name:14} backend us/entry {bs}; client {cs}")


if __name__ == "__main__":
    main()
