"""Where PostgreSQL's cost grows with the stored rows: one in-process `monitor once --all -q`
over N generated feeds into a fresh schema, every statement timed (wall, client side: the
server's work plus the round trip) and the backend's CPU read from /proc, both per slice of
``--slice`` polls recorded, so the per-entry cost of the first slice and of the last can be
set side by side.

    .venv/bin/python bench/bench_pg_growth.py --feeds 1000 [--postgres URL] [--slice 250]

The feeds are bench/gen_feeds.py's 500 files served under distinct URLs (``?copy=i``), as in
bench/bench_once.py.
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

SEEN: dict[str, int] = {}


def backends_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL processes whose title names ``database``, those seen at
    an earlier call and gone since counted with their last reading."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not title.startswith("postgres") or f" {database} " not in f"{title} ":
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        SEEN[f"{proc.name}:{fields[19]}"] = int(fields[11]) + int(fields[12])
    return sum(SEEN.values()) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--slice", type=int, default=250)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/pg2000")
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--keep", action="store_true", help="keep the schema (printed)")
    ap.add_argument("--top", type=int, default=14)
    args = ap.parse_args()

    import psycopg

    from monitor.cli import main as cli_main
    from monitor.store import dbapi, sql

    files = feed_files(args.feeds_dir)
    schema = f"growth_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{args.postgres}?options=-csearch_path%3D{schema}"

    polls = 0
    entries = 0
    timing: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    cpu_at: dict[int, float] = {}
    database = args.postgres.rsplit("/", 1)[1].split("?", 1)[0]

    def key_of(query: str) -> str:
        q = " ".join(query.split())
        q = re.sub(r"\((\?, )+\?\)", "(?...)", q)
        q = re.sub(r"(\(\?\.\.\.\), )+\(\?\.\.\.\)", "(?...)...", q)
        return q[:110]

    def timed(name: str, orig: Any) -> Any:
        def run(self: Any, query: str, params: Any = ()) -> Any:
            started = time.perf_counter()
            try:
                return orig(self, query, params)
            finally:
                slot = timing[(polls // args.slice, key_of(query))]
                slot[0] += time.perf_counter() - started
                slot[1] += len(params) if name == "executemany" else 1

        return run

    for name in ("execute", "executemany", "rows", "value"):
        setattr(dbapi.Tx, name, timed(name, getattr(dbapi.Tx, name)))

    record = sql.SQLStorage.record_poll

    def counted(self: Any, state: Any, batch: Any, *a: Any, **k: Any) -> Any:
        nonlocal polls, entries
        if polls % args.slice == 0 and polls // args.slice not in cpu_at:
            cpu_at[polls // args.slice] = backends_cpu(database)
        out = record(self, state, batch, *a, **k)
        polls += 1
        entries += len(out.new)
        if polls % args.slice == 0:
            per_slice_entries.append(entries)
        return out

    per_slice_entries: list[int] = []
    sql.SQLStorage.record_poll = counted  # type: ignore[method-assign,assignment]
    close = dbapi.Database.close

    def closing(self: Any) -> None:
        backends_cpu(database)
        close(self)

    dbapi.Database.close = closing  # type: ignore[method-assign]

    load = os.getloadavg()
    print(f"{args.feeds} feeds, schema {schema}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(files[0].parent, validators=True) as server,
    ):
        cfg = Path(tmp) / "monitor.yaml"
        lines = [f"database: {url}", "parser: feedparser-rs", "feeds:"]
        lines += [
            f"  - {server.base}{files[i % len(files)].name}?copy={i}" for i in range(args.feeds)
        ]
        cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
        started = time.perf_counter()
        os.environ["NO_PROXY"] = "*"
        try:
            cli_main(["-c", str(cfg), "once", "--all", "-q"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        wall = time.perf_counter() - started
    end_cpu = backends_cpu(database)
    load = os.getloadavg()
    print(f"wall {wall:.1f} s, {polls} polls, {entries} new entries, load {load[0]:.2f}")
    slices = sorted({s for s, _ in timing})
    bounds = [0, *per_slice_entries, entries]
    marks = sorted(cpu_at)
    print("backend CPU per new entry (us), per slice of polls:")
    for i, s in enumerate(marks):
        nxt = cpu_at[marks[i + 1]] if i + 1 < len(marks) else end_cpu
        n = bounds[i + 1] - bounds[i] if i + 1 < len(bounds) else 0
        if n:
            print(f"  slice {s}: {n} entries, {1e6 * (nxt - cpu_at[s]) / n:.0f} us")
    totals: dict[str, float] = defaultdict(float)
    for (_, k), (t, _) in timing.items():
        totals[k] += t
    print(f"statement wall per new entry (us) by slice {slices}:")
    for k in sorted(totals, key=totals.get, reverse=True)[: args.top]:  # type: ignore[arg-type]
        cells = []
        for i, s in enumerate(slices):
            n = bounds[i + 1] - bounds[i] if i + 1 < len(bounds) else 1
            t, _calls = timing.get((s, k), (0.0, 0.0))
            cells.append(f"{1e6 * t / max(n, 1):7.0f}")
        print(f"{''.join(cells)}  {totals[k]:6.1f}s  {k}")
    if not args.keep:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
