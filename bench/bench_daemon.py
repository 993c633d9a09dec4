"""Daemon per-poll overhead against the batch cycle's, CPU for CPU, in one process and run.

    .venv/bin/python bench/bench_daemon.py [--feeds 200] [--seconds 15] [--profile | --spy]
    .venv/bin/python bench/bench_daemon.py --baseline REV [--rounds 2]   # before/after

bench/gen_feeds.py's feeds served from 127.0.0.1 (bench/feedserver.py in a child process, its
CPU not counted: it is printed apart) with validators, so every poll after the first is a 304.
One ``Service``: a first cycle stores the entries; then four all-304 cycles
(``Service.cycle``, as ``monitor once`` runs them) give the batch cost per poll (their mean);
then ``Daemon.run`` (``monitor run``) polls the same feeds at an interval of a few seconds
for ``--seconds``, and CPU per poll is this process's CPU over the window divided by the 304s
the server sent in it. Target (issue 14): daemon <= 1.5x the batch cycle's.

``--baseline REV`` runs this script on ``git archive REV`` (first on ``sys.path``) and on this
checkout, alternating, ``--rounds`` times each, and prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_ingest import ServerProcess, cpu_seconds, feed_files  # noqa: E402

if "--src" in sys.argv:  # a baseline checkout first, before anything imports ``monitor``
    sys.path.insert(0, sys.argv[sys.argv.index("--src") + 1])


CYCLES = 4
"""All-304 batch cycles measured (a cycle of 200 polls is ~0.15 s of CPU, read in 10 ms ticks)."""


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


def user_sys() -> tuple[float, float]:
    t = os.times()
    return t.user, t.system


async def measure(
    cfg: Path, server: ServerProcess, seconds: float, profile: bool, spy: bool = False
) -> None:
    import monitor
    from monitor.app.daemon import Daemon
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    print(f"code: {Path(monitor.__file__).parent}")
    settings = load_settings(cfg)
    async with Service(settings) as svc:
        n = len(svc.feeds)
        await svc.cycle(svc.feeds)
        batch = []
        batch_server = []
        for _ in range(CYCLES):
            _, m0, _ = server.stats()
            c0, s0 = cpu_seconds(), server.cpu_seconds()
            await svc.cycle(svc.feeds)
            c, s = cpu_seconds() - c0, server.cpu_seconds() - s0
            _, m1, _ = server.stats()
            assert m1 - m0 == n, (m0, m1, n)
            batch.append(c / n)
            batch_server.append(s / n)
        per_batch = sum(batch) / len(batch)
        daemon = Daemon(svc)
        task = asyncio.create_task(daemon.run())
        await asyncio.sleep(3.0)  # the first round of polls, all due at once, settles
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        spying = None
        if spy:
            # py-spy samples this process from outside (no profiler inside the loop).
            out = HERE / "_work" / "daemon_spy.txt"
            spying = await asyncio.create_subprocess_exec(
                shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy",
                "record", "--pid", str(os.getpid()), "--duration", str(int(seconds)),
                "--rate", "250", "--format", "raw", "--gil", "--output", str(out), "--nonblocking",
            )  # fmt: skip
        _, m0, _ = server.stats()
        c0, w0, s0, (u0, k0) = cpu_seconds(), time.perf_counter(), server.cpu_seconds(), user_sys()
        await asyncio.sleep(seconds)
        c, w, s = cpu_seconds() - c0, time.perf_counter() - w0, server.cpu_seconds() - s0
        u1, k1 = user_sys()
        _, m1, _ = server.stats()
        if profiler is not None:
            profiler.stop()
            out = HERE / "_work" / "daemon_profile.txt"
            out.write_text(profiler.output_text(unicode=False), encoding="utf-8")
            print(f"profile written to {out}")
        if spying is not None:
            await spying.wait()
            print(f"py-spy samples written to {HERE / '_work' / 'daemon_spy.txt'}")
        daemon.stop()
        await task
    polls = m1 - m0
    per_daemon = c / polls
    print(
        f"batch cycle: {1000 * per_batch:.2f} ms CPU per 304 poll (mean of {CYCLES} cycles of {n}: "
        + ", ".join(f"{1000 * b:.2f}" for b in batch)
        + "); server "
        + ", ".join(f"{1000 * b:.2f}" for b in batch_server)
        + " ms per 304, not counted"
    )
    print(
        f"daemon: {polls} polls in {w:.1f} s wall, {c:.2f} s CPU = {1000 * per_daemon:.2f} ms "
        f"CPU per 304 poll (user {1000 * (u1 - u0) / polls:.2f}, system "
        f"{1000 * (k1 - k0) / polls:.2f}); server {1000 * s / polls:.2f} ms per 304, not counted"
    )
    ratio = per_daemon / per_batch
    print(f"daemon / batch, CPU per poll: {ratio:.2f}x -> {'met' if ratio <= 1.5 else 'NOT met'}")


def compare(args: argparse.Namespace) -> None:
    """This script on ``git archive REV`` and on this checkout, alternating."""
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "monitor", "templates", "rules"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tmp, filter="data")
        common = [
            sys.executable, __file__, "--feeds", str(args.feeds), "--seconds", str(args.seconds),
            "--interval", str(args.interval), "--feeds-dir", str(args.feeds_dir),
        ]  # fmt: skip
        rows: list[tuple[str, str]] = []
        for r in range(args.rounds):
            for label, extra in (("before", ["--src", tmp]), ("after", [])):
                load = os.getloadavg()[0]
                out = subprocess.run(
                    [*common, *extra], check=True, capture_output=True, text=True
                ).stdout
                print(f"--- {label}, round {r + 1}, load {load:.1f}\n{out}", flush=True)
                batch = re.search(r"batch cycle: ([\d.]+) ms", out)
                daemon = re.search(r"= ([\d.]+) ms CPU per 304", out)
                assert batch and daemon, out
                b, d = float(batch[1]), float(daemon[1])
                rows.append((f"{label}, round {r + 1} (load {load:.1f})",
                             f"{b:.2f} | {d:.2f} | {d / b:.2f}x"))  # fmt: skip
        print("| | batch cycle, ms per 304 | daemon, ms per 304 | daemon / batch |")
        print("|---|---:|---:|---:|")
        for label, row in rows:
            print(f"| {label} | {row} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--interval", type=int, default=4, help="poll interval, seconds")
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--profile", action="store_true", help="pyinstrument over the daemon window")
    ap.add_argument("--spy", action="store_true", help="py-spy (raw stacks) over the window")
    ap.add_argument("--src", type=Path, help="run this checkout's `monitor` (a baseline)")
    ap.add_argument("--baseline", help="git revision: compare it with this checkout")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if args.baseline:
        compare(args)
        return
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
        asyncio.run(measure(cfg, server, args.seconds, args.profile, args.spy))


if __name__ == "__main__":
    main()
