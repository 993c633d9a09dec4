"""Parse workers on the real corpus: start-up cost, throughput and failures, against inline.

    .venv/bin/python bench/bench_workers.py [--feeds 200]

1. Start-up: time from the first parse request to its result, with a cold pool (the shipped
   behaviour: parse inline until a worker is ready), with a cold pool waited for, with a warm
   worker, and inline.
2. The first ``--feeds`` corpus feeds (by name), parsed inline and by a cold pool of one worker
   per core: wall and CPU time of all processes (workers are reaped, so RUSAGE_CHILDREN holds
   theirs), feeds parsed, and failures (which must be the same).
3. Memory: unique set size (private pages, /proc/PID/smaps_rollup) of each worker afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.errors import MonitorError  # noqa: E402
from monitor.ingest.workers import InlineParser, ParseJob, ProcessParser, make_parser  # noqa: E402

CORPUS = Path(os.environ.get("MONITOR_SHARED", REPO.parent / "shared")) / "corpus" / "feeds"
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def measured(out: dict[str, float]) -> Iterator[None]:
    w, c = time.perf_counter(), cpu()
    yield
    out["wall"], out["cpu"] = time.perf_counter() - w, cpu() - c


def job(path: Path) -> ParseJob:
    return ParseJob(path.read_bytes(), f"https://bench.example/{path.name}", None, None, NOW, None)


async def parse_all(parser: InlineParser | ProcessParser, jobs: list[ParseJob]) -> dict[str, str]:
    """feed -> "ok" or the error message."""

    async def one(j: ParseJob) -> str:
        try:
            await parser.parse(j)
        except MonitorError as exc:
            return str(exc)
        return "ok"

    results = await asyncio.gather(*(one(j) for j in jobs))
    return {j.feed_url: r for j, r in zip(jobs, results, strict=True)}


def first_result(mode: str, workers: int, j: ParseJob) -> float:
    """Seconds from the first parse request to its result; ``mode`` as in ``main``."""
    parser: InlineParser | ProcessParser = (
        InlineParser() if mode == "inline" else ProcessParser(workers)
    )
    if isinstance(parser, ProcessParser) and mode == "warm":
        parser.start(wait=True)
    started = time.perf_counter()
    if isinstance(parser, ProcessParser) and mode == "cold_wait":
        parser.start(wait=True)
    asyncio.run(parser.parse(j))
    took = time.perf_counter() - started
    if isinstance(parser, ProcessParser):
        parser.close()
    return took


def uss_mb(pid: int) -> float:
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    files = sorted(CORPUS.glob("*.xml"))[: args.feeds]
    jobs = [job(p) for p in files]
    workers = make_parser(None)
    n = workers.workers if isinstance(workers, ProcessParser) else 0
    load = os.getloadavg()[0]
    print(
        f"# parse workers, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load {load:.2f}, default workers {n}"
    )
    print(f"corpus: {len(jobs)} feeds, {sum(len(j.content) for j in jobs) / 1e6:.1f} MB")

    mid = job(next(p for p in files if 20_000 < p.stat().st_size < 60_000))
    modes = ("inline", "warm", "cold", "cold_wait")
    rows: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.repeat):
        for mode in modes:
            rows[mode].append(first_result(mode, max(n, 1), mid))
    base = min(rows["inline"])
    print(
        f"first request -> first result ({len(mid.content) / 1e3:.0f} kB feed, "
        f"best of {args.repeat}):"
    )
    for name, label in (
        ("inline", "inline"),
        ("warm", "warm worker"),
        ("cold", "cold pool, inline until ready (shipped)"),
        ("cold_wait", "cold pool, waiting for a worker"),
    ):
        best = min(rows[name])
        print(f"  {label}: {best * 1000:.0f} ms ({best / base:.2f}x inline)")

    inline: dict[str, float] = {}
    with measured(inline):
        got_inline = asyncio.run(parse_all(InlineParser(), jobs))
    pool = ProcessParser(max(n, 1))
    pooled: dict[str, float] = {}
    with measured(pooled):
        got_pool = asyncio.run(parse_all(pool, jobs))
        pids = pool.pids()
        mem = [uss_mb(p) for p in pids]
        pool.close()
    ok_i = sum(r == "ok" for r in got_inline.values())
    ok_p = sum(r == "ok" for r in got_pool.values())
    same = got_inline == got_pool
    print(f"inline: {ok_i}/{len(jobs)} ok in {inline['wall']:.2f}s wall / {inline['cpu']:.2f}s CPU")
    print(
        f"cold pool of {len(pids)}: {ok_p}/{len(jobs)} ok in {pooled['wall']:.2f}s wall / "
        f"{pooled['cpu']:.2f}s CPU (all processes) = {inline['wall'] / pooled['wall']:.2f}x inline "
        f"wall, {pooled['cpu'] / inline['cpu']:.2f}x its CPU; {pool.stats.inline} parsed inline "
        f"while starting, {pool.stats.in_workers} in workers; same outcome per feed: {same}"
    )
    print(f"worker memory after the run (USS): {', '.join(f'{m:.1f} MB' for m in mem)}")

    html = [
        *jobs[:31],
        ParseJob(
            b"<!doctype html><html><body>x</body></html>",
            "https://html.example/",
            None,
            None,
            NOW,
            None,
        ),
    ]
    pool = ProcessParser(max(n, 1))
    got = asyncio.run(parse_all(pool, html))
    pool.close()
    bad = [u for u, r in got.items() if r != "ok"]
    expected = [u for u, r in got_inline.items() if r != "ok" and u in {j.feed_url for j in html}]
    print(f"32 feeds with one HTML page: {len(bad)} failed ({len(expected) + 1} expected)")


if __name__ == "__main__":
    main()
