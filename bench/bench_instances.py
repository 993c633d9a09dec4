"""Database cost of feed leases: 20,000 feeds claimed and completed by 1, 2 and 3 processes.

Each worker process opens its own PostgresStorage and loops claim_feeds(batch) ->
complete_lease(each) until no feed is due, i.e. the database half of one polling interval
(the HTTP half, mostly 304s, is left out: it is the same per feed whatever the instance count).
Prints wall time, CPU of the workers and of all ``postgres`` server processes (from /proc; other
users of the server on this machine count too), per claimed feed, and ratios against 1 worker.

    .venv/bin/python bench/bench_instances.py [--feeds 20000] [--batch 50]
        [--modes lease,304-separate,304-in-poll] [--instances 1,2,3]

Ratios are against the first row (the first mode, one worker).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from monitor.model import FeedState
from monitor.store import open_storage
from monitor.store.postgres import PostgresStorage

BASE = os.environ.get("MONITOR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2030, 1, 1, tzinfo=UTC)
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int | str) -> float:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu() -> float:
    """CPU of the long-lived server processes (checkpointer, WAL writer, ...)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().startswith("postgres"):
                        total += proc_cpu(pid)
            except OSError:
                continue
    return total


MODES = ("lease", "304-separate", "304-in-poll")
"""lease: claim and complete only (the lease's own cost). 304-separate: each feed's state
written as a 304 poll writes it, then the lease completed in a transaction of its own (as
before the lease went into the poll's transaction). 304-in-poll: the state write completes the
lease in the same transaction (``save_feed_state(lease=...)``, as the daemon does now)."""


def worker(url: str, name: str, batch: int, mode: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    started = time.process_time()
    n = 0
    nxt = T0 + timedelta(hours=1)
    with open_storage(url) as store:
        assert isinstance(store, PostgresStorage)  # a PostgreSQL URL; Storage has no _transaction
        with store._transaction("backend", write=False) as tx:  # bench only: its server process
            backend = int(tx.value("SELECT pg_backend_pid()"))
        while urls := store.claim_feeds(name, T0, lease=timedelta(minutes=5), limit=batch):
            for u in urls:
                state = FeedState(u, etag='"v1"', last_poll=T0, last_success=T0, next_poll=nxt)
                if mode == "lease":
                    store.complete_lease(name, u, nxt)
                elif mode == "304-separate":
                    store.save_feed_state(state)
                    store.complete_lease(name, u, nxt)
                else:
                    store.save_feed_state(state, lease=name)
            n += len(urls)
        backend_cpu = proc_cpu(backend)  # read before the connection (and its process) ends
    out.put((n, time.process_time() - started, backend_cpu))


def run(url: str, feeds: int, workers: int, batch: int, mode: str) -> dict[str, float]:
    with open_storage(url) as store:
        store.sync_leases((f"http://feeds.example/{i}.xml" for i in range(feeds)), T0)
        with psycopg.connect(BASE, autocommit=True) as c:
            c.execute(f"UPDATE {url_schema(url)}.feed_leases SET due = %s, owner = NULL", (T0,))
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    pg0, w0 = postgres_cpu(), time.perf_counter()
    procs = [
        mp.Process(target=worker, args=(url, f"w{i}", batch, mode, out)) for i in range(workers)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall, pg = time.perf_counter() - w0, postgres_cpu() - pg0
    claimed = sum(r[0] for r in results)
    assert claimed == feeds, (claimed, feeds)  # each feed once
    pg += sum(r[2] for r in results)
    return {"wall": wall, "client_cpu": sum(r[1] for r in results), "pg_cpu": pg}


def url_schema(url: str) -> str:
    return url.rsplit("search_path%3D", 1)[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--modes", default="lease", help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--instances", default="1,2,3")
    args = ap.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{BASE}?options=-csearch_path%3D{schema}"
    try:
        base: dict[str, float] | None = None
        print(f"{args.feeds} feeds, batch {args.batch}; load avg {os.getloadavg()[0]:.2f}")
        print(
            "mode          instances  wall s  client CPU s  postgres CPU s  pg µs/feed  "
            "wall ratio  CPU ratio"
        )
        for mode in args.modes.split(","):
            if mode not in MODES:
                raise SystemExit(f"--modes: {mode!r} is none of {', '.join(MODES)}")
        for mode in args.modes.split(","):
            for n in (int(x) for x in args.instances.split(",")):
                r = run(url, args.feeds, n, args.batch, mode)
                base = base or r
                per = r["pg_cpu"] / args.feeds * 1e6
                cpu = r["client_cpu"] + r["pg_cpu"]
                print(
                    f"{mode:12s}  {n:9d}  {r['wall']:6.2f}  {r['client_cpu']:12.2f}  "
                    f"{r['pg_cpu']:14.2f}  "
                    f"{per:10.0f}  {r['wall'] / base['wall']:10.2f}  "
                    f"{cpu / (base['client_cpu'] + base['pg_cpu']):9.2f}"
                )
    finally:
        with psycopg.connect(BASE, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
