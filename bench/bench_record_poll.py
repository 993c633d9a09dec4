"""The SQLite store's write of a first poll alone: ``record_poll`` replayed from a capture.

    .venv/bin/python bench/bench_record_poll.py capture bench/_work/polls.pickle [--feeds-dir DIR]
    .venv/bin/python bench/bench_record_poll.py replay bench/_work/polls.pickle [--code CHECKOUT]
        [--rounds 5] [--statements]

``capture`` runs bench_first_poll's first poll (semantic off) and pickles every ``record_poll``
call's arguments in call order. ``replay`` writes them into a fresh SQLite database (WAL, on the
disk of ``--dir``) ``--rounds`` times and prints the CPU time (``process_time``) of the
``record_poll`` calls per entry stored: the store's part of bench_first_poll without the
parse, match and story work around it, so that a few per cent are visible beyond noise. The
titles' and summaries' ``folded_tokens`` are asked for (untimed) before each call, as the story
layer leaves them in a real poll.
``--code`` runs another checkout's ``monitor`` package (before/after in one session);
``--statements`` adds the CPU time per SQL statement (and the commit), summed over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def capture(out: Path, feeds_dir: Path) -> None:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    os.environ.setdefault("MONITOR_SEMANTIC", "off")
    from bench_ingest import ServerProcess, feed_files, write_config

    from monitor.app.service import Service
    from monitor.config.settings import load_settings
    from monitor.store.sql import SQLStorage

    calls: list[bytes] = []
    original = SQLStorage.record_poll

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(pickle.dumps((args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        return original(self, *args, **kwargs)

    setattr(SQLStorage, "record_poll", recording)  # noqa: B010
    files = feed_files(feeds_dir)
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(files[0].parent, validators=True) as s:
        db, cfg = Path(tmp) / "first.db", Path(tmp) / "first.yaml"
        urls = [s.base + f.name for f in files]
        write_config(cfg, urls, db, 0, None)

        async def run() -> None:
            async with Service(load_settings(cfg)) as svc:
                await svc.cycle(svc.feeds)

        asyncio.run(run())
    out.write_bytes(pickle.dumps({"feeds": urls, "calls": calls}))
    print(f"{len(calls)} record_poll calls captured to {out}")


class _TimedCursor:
    """A cursor whose execute/executemany add their CPU time to ``STATS`` by statement."""

    def __init__(self, cursor: Any, stats: dict[str, float]) -> None:
        self._c = cursor
        self._stats = stats

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)

    def _key(self, query: str) -> str:
        text = " ".join(query.split())
        return text[:90]

    def execute(self, query: Any, params: Any = ()) -> Any:
        t0 = time.process_time()
        try:
            return self._c.execute(query, params)
        finally:
            self._stats[self._key(query)] += time.process_time() - t0

    def executemany(self, query: Any, rows: Any) -> Any:
        t0 = time.process_time()
        try:
            return self._c.executemany(query, rows)
        finally:
            self._stats[self._key(query)] += time.process_time() - t0


def replay(path: Path, rounds: int, statements: bool, work: Path, polls: int | None = None) -> None:

    from monitor.store.sqlite import SQLiteStorage

    data = pickle.loads(path.read_bytes())
    calls = [pickle.loads(c) for c in data["calls"][:polls]]
    stats: dict[str, float] = defaultdict(float)
    if statements:

        class _Conn:
            def __init__(self, conn: Any) -> None:
                self._conn = conn

            def __getattr__(self, name: str) -> Any:
                return getattr(self._conn, name)

            def cursor(self) -> Any:
                return _TimedCursor(self._conn.cursor(), stats)

            def commit(self) -> None:
                t0 = time.process_time()
                try:
                    self._conn.commit()
                finally:
                    stats["(commit)"] += time.process_time() - t0

        connect = SQLiteStorage._connect

        def timed_connect(self: Any) -> Any:
            return _Conn(connect(self))

        setattr(SQLiteStorage, "_connect", timed_connect)  # noqa: B010
    import monitor
    from monitor.matching.text import folded_tokens

    per_round = []
    for r in range(rounds):
        db = work / f"replay-{r}.db"
        store = SQLiteStorage(db)
        store.sync_feeds(data["feeds"])
        stats_before = dict(stats)
        new = 0
        spent = 0.0
        for args, kwargs in calls:
            for e in args[1]:  # as the story layer leaves them, just before (not timed)
                folded_tokens(e.title)
                folded_tokens(e.summary)
            t0 = time.process_time()
            result = store.record_poll(*args, **kwargs)
            spent += time.process_time() - t0
            new += len(result.new)
        store.close()
        size = sum(p.stat().st_size for p in work.glob(f"replay-{r}.db*"))
        for p in work.glob(f"replay-{r}.db*"):
            p.unlink()
        per_round.append(1e6 * spent / max(1, new))
        print(
            f"round {r}: {new} entries, record_poll {spent:.3f} s CPU, "
            f"{per_round[-1]:.1f} us/entry, db {size / 1e6:.1f} MB",
            flush=True,
        )
        del stats_before
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{Path(monitor.__file__).parent.parent}: load {load}; us/entry min "
        f"{min(per_round):.1f} median {sorted(per_round)[len(per_round) // 2]:.1f}"
    )
    if statements:
        total = sum(stats.values())
        for key, value in sorted(stats.items(), key=lambda kv: -kv[1]):
            print(f"  {1e6 * value / rounds / max(1, new):7.1f} us/entry  {key}")
        print(f"  {1e6 * total / rounds / max(1, new):7.1f} us/entry  (all statements + commit)")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("out", type=Path)
    c.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds-200")
    r = sub.add_parser("replay")
    r.add_argument("capture", type=Path)
    r.add_argument("--code", type=Path, default=None)
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--statements", action="store_true")
    r.add_argument("--polls", type=int, default=None, help="replay only the first N calls")
    r.add_argument("--dir", type=Path, default=HERE / "_work")
    args = ap.parse_args()
    if args.cmd == "capture":
        capture(args.out, args.feeds_dir)
        return
    sys.path.insert(0, str(args.code if args.code is not None else HERE.parent))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        replay(args.capture, args.rounds, args.statements, Path(tmp), args.polls)


if __name__ == "__main__":
    main()
