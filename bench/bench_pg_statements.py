"""Where the PostgreSQL backend's CPU goes, per statement, in one in-process first poll:
`monitor once --all -q` over N generated feeds into a fresh schema, the backend's CPU time read
from ``/proc/<pid>/schedstat`` (nanoseconds, not clock ticks) before and after every statement
the store runs, and around every commit and rollback; plus the statement counts (round trips).

    .venv/bin/python bench/bench_pg_statements.py --feeds 500 [--postgres URL] [--parser '']
        [--keep] [--src TREE]

Each statement's share is exact for that statement's own work on the server (parse, plan,
execute, its triggers); what the backend does between statements (a BEGIN psycopg sends on its
own, reading the next message) falls into "between". The feeds are bench/gen_feeds.py's 500
files served under distinct URLs (``?copy=i``), as in bench/bench_once.py.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import ServerProcess, feed_files  # noqa: E402
from bench_once import BackendCPU  # noqa: E402


def run_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


def key_of(query: str) -> str:
    q = " ".join(query.split())
    q = re.sub(r"\((\?, )+\?\)", "(?...)", q)
    q = re.sub(r"(\(\?\.\.\.\), )+\(\?\.\.\.\)", "(?...)...", q)
    q = re.sub(r"(\?, )+\?", "?...", q)
    return q[:100]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/pg5")
    ap.add_argument("--parser", default="", help="'' for the default engine")
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--keep", action="store_true", help="keep the schema (printed)")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--src", type=Path, help="run this tree's monitor package (a baseline)")
    args = ap.parse_args()
    if args.src is not None:
        sys.path.insert(0, str(args.src))

    import psycopg

    from monitor.cli import main as cli_main
    from monitor.store import dbapi, sql

    files = feed_files(args.feeds_dir)
    schema = f"stmts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{args.postgres}?options=-csearch_path%3D{schema}"

    # key -> [backend ns, client wall ns, statements, rows]
    stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    pids: set[int] = set()
    late: dict[str, float] = defaultdict(float)
    """Backend ns per statement in the second half of the polls (does its cost grow?)."""
    half = args.feeds // 2

    def pid_of(cursor: Any) -> int:
        pid = int(cursor.connection.info.backend_pid)
        pids.add(pid)
        return pid

    def timed(name: str, orig: Any) -> Any:
        def run(self: Any, query: str, params: Any = (), **kw: Any) -> Any:
            pid = pid_of(self._cursor)
            before, started = run_ns(pid), time.perf_counter_ns()
            try:
                return orig(self, query, params, **kw)
            finally:
                late[key_of(query)] += (run_ns(pid) - before) if polls >= half else 0
                slot = stats[key_of(query)]
                slot[0] += run_ns(pid) - before
                slot[1] += time.perf_counter_ns() - started
                slot[2] += 1
                slot[3] += len(params) if name in ("executemany", "copy_in") else 1

        return run

    for name in ("execute", "executemany", "rows", "value", "copy_in"):
        if not hasattr(dbapi.Tx, name):  # copy_in: not in a baseline before helper pg6
            continue
        setattr(dbapi.Tx, name, timed(name, getattr(dbapi.Tx, name)))

    for name in ("commit", "rollback"):
        orig = getattr(psycopg.Connection, name)

        def ended(self: Any, _orig: Any = orig, _name: str = name) -> Any:
            pid = int(self.info.backend_pid)
            before, started = run_ns(pid), time.perf_counter_ns()
            try:
                return _orig(self)
            finally:
                slot = stats[f"({_name})"]
                slot[0] += run_ns(pid) - before
                slot[1] += time.perf_counter_ns() - started
                slot[2] += 1

        setattr(psycopg.Connection, name, ended)

    polls = entries = 0
    late_entries = 0
    record = sql.SQLStorage.record_poll

    def counted(self: Any, *a: Any, **k: Any) -> Any:
        nonlocal polls, entries, late_entries
        out = record(self, *a, **k)
        polls += 1
        entries += len(out.new)
        late_entries += len(out.new) if polls > half else 0
        return out

    sql.SQLStorage.record_poll = counted  # type: ignore[method-assign]
    totals: dict[int, int] = {}
    close = dbapi.Database.close

    def closing(self: Any) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            totals[int(conn.info.backend_pid)] = run_ns(int(conn.info.backend_pid))
        close(self)

    dbapi.Database.close = closing  # type: ignore[method-assign]

    load = os.getloadavg()
    import monitor

    print(f"monitor from {Path(monitor.__file__).parent}")
    print(f"{args.feeds} feeds, schema {schema}, parser {args.parser or 'feedparser'}, "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(files[0].parent, validators=True) as server,
    ):
        cfg = Path(tmp) / "monitor.yaml"
        lines = [f"database: {url}"]
        if args.parser:
            lines.append(f"parser: {args.parser}")
        lines.append("feeds:")
        lines += [
            f"  - {server.base}{files[i % len(files)].name}?copy={i}" for i in range(args.feeds)
        ]
        cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
        started = time.perf_counter()
        os.environ["NO_PROXY"] = "*"
        database = args.postgres.rsplit("/", 1)[1].split("?", 1)[0]
        with BackendCPU(database) as every:
            try:
                cli_main(["-c", str(cfg), "once", "--all", "-q"])
            except SystemExit as exc:
                assert not exc.code, exc.code
        wall = time.perf_counter() - started
    load = os.getloadavg()
    whole = sum(totals.values()) / 1e9
    counted_s = sum(s[0] for s in stats.values()) / 1e9
    n = max(entries, 1)
    print(f"wall {wall:.1f} s, {polls} polls, {entries} new entries, load {load[0]:.2f}; "
          f"backends {whole:.2f} s ({1e9 * whole / n / 1e3:.0f} us per new entry), "
          f"of which in statements and commits {counted_s:.2f} s; connections {len(pids)}; "
          f"every backend of the database (ticks) {every.seconds:.2f} s")  # fmt: skip
    print("us/entry: backend per new entry, all polls / first half / second half")
    print(f"{'backend s':>10}{'us/entry':>9}{'1st':>6}{'2nd':>6}{'share':>7}{'client s':>9}"
          f"{'calls':>8}{'rows':>9}  statement")  # fmt: skip
    early_entries = max(entries - late_entries, 1)
    for k in sorted(stats, key=lambda k: stats[k][0], reverse=True)[: args.top]:
        b, c, calls, rows = stats[k]
        first = (b - late[k]) / 1e3 / early_entries
        second = late[k] / 1e3 / max(late_entries, 1)
        print(f"{b / 1e9:>10.2f}{b / 1e3 / n:>9.0f}{first:>6.0f}{second:>6.0f}"
              f"{b / 1e9 / max(whole, 1e-9):>7.1%}"
              f"{c / 1e9:>9.2f}{calls:>8.0f}{rows:>9.0f}  {k}")  # fmt: skip
    if args.keep:
        print(f"kept schema {schema}")
    else:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
