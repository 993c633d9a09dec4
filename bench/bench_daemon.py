"""Daemon per-poll overhead against the batch cycle's, CPU for CPU, in one process and run.

    .venv/bin/python bench/bench_daemon.py [--feeds 200] [--seconds 15] [--profile]

bench/gen_feeds.py's feeds served from 127.0.0.1 (bench/feedserver.py in a child process, its
CPU not counted) with validators, so every poll after the first is a 304. One ``Service``:
a first cycle stores the entries; then two all-304 cycles (``Service.cycle``, as ``monitor
once`` runs them) give the batch cost per poll; then ``Daemon.run`` (``monitor run``: one
APScheduler job per feed, rescheduled after each poll) polls the same feeds at an interval of
a few seconds for ``--seconds``, and CPU per poll is this process's CPU over the window divided
by the 304s the server sent in it. Target (issue 14): daemon <= 1.5x the batch cycle's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_ingest import ServerProcess, cpu_seconds, feed_files  # noqa: E402


def write_config(path: Path, urls: list[str], db: Path, interval: int) -> None:
    lines = [
        f"database: sqlite:///{db}",
        "parser: feedparser-rs",
        "parse_workers: 0",
        "fetch:",
        "  concurrency: 16",
        "  per_host: 16",
        "defaults:",
        f"  interval: {interval}s",
        "  min_interval: 1s",
        "feeds:",
        *(f"  - {u}" for u in urls),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def measure(cfg: Path, server: ServerProcess, seconds: float, profile: bool) -> None:
    from monitor.app.daemon import Daemon
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    settings = load_settings(cfg)
    async with Service(settings) as svc:
        n = len(svc.feeds)
        await svc.cycle(svc.feeds)
        batch = []
        for _ in range(2):
            _, m0, _ = server.stats()
            c0 = cpu_seconds()
            await svc.cycle(svc.feeds)
            c = cpu_seconds() - c0
            _, m1, _ = server.stats()
            assert m1 - m0 == n, (m0, m1, n)
            batch.append(c / n)
        per_batch = min(batch)
        daemon = Daemon(svc)
        task = asyncio.create_task(daemon.run())
        await asyncio.sleep(3.0)  # the first round of jobs, fired at once, settles
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        _, m0, _ = server.stats()
        c0, w0 = cpu_seconds(), time.perf_counter()
        await asyncio.sleep(seconds)
        c, w = cpu_seconds() - c0, time.perf_counter() - w0
        _, m1, _ = server.stats()
        if profiler is not None:
            profiler.stop()
            out = HERE / "_work" / "daemon_profile.txt"
            out.write_text(profiler.output_text(unicode=False), encoding="utf-8")
            print(f"profile written to {out}")
        daemon.stop()
        await task
    polls = m1 - m0
    per_daemon = c / polls
    print(
        f"batch cycle: {1000 * per_batch:.2f} ms CPU per 304 poll (best of 2 cycles of {n}: "
        + ", ".join(f"{1000 * b:.2f}" for b in batch)
        + ")"
    )
    print(
        f"daemon: {polls} polls in {w:.1f} s wall, {c:.2f} s CPU = {1000 * per_daemon:.2f} ms "
        f"CPU per 304 poll"
    )
    ratio = per_daemon / per_batch
    print(f"daemon / batch, CPU per poll: {ratio:.2f}x -> {'met' if ratio <= 1.5 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--interval", type=int, default=4, help="poll interval, seconds")
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--profile", action="store_true", help="pyinstrument over the daemon window")
    args = ap.parse_args()
    files = feed_files(args.feeds_dir)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"# daemon benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {load}; {args.feeds} feeds, interval {args.interval} s"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(files[0].parent, validators=True) as server,
    ):
        urls = [f"{server.base}{files[i % len(files)].name}?copy={i}" for i in range(args.feeds)]
        cfg = Path(tmp) / "monitor.yaml"
        write_config(cfg, urls, Path(tmp) / "m.db", args.interval)
        asyncio.run(measure(cfg, server, args.seconds, args.profile))


if __name__ == "__main__":
    main()
