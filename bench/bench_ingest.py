"""Ingest benchmark: the whole path (fetch over HTTP, parse, normalize, match, store) against
baselines measured in the same run on the same bytes.

    .venv/bin/python bench/bench_ingest.py            # 500 generated feeds (~25k entries)
    .venv/bin/python bench/bench_ingest.py --no-reader  # skip lemon24/reader
    .venv/bin/python bench/bench_ingest.py --parser feedparser-rs  # the optional fast engine

Prints:
1. first poll, entries/s: ours vs bare feedparser.parse (defaults) vs reader's update_feeds();
2. second poll with nothing changed: our CPU time as a share of the first poll's; bodies re-sent
   by a server with validators; re-parses against a server without validators;
3. peak RSS of a process with 1,000 feeds configured, after its first poll.
The feed server runs in a separate process so that its CPU time is not counted as ours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from feedserver import FeedServer  # noqa: E402


def serve(root: str, validators: bool, conn: Any) -> None:
    """Child process: serve ``root``; answer 'stats' and 'stop' on the pipe."""
    with FeedServer(Path(root), validators=validators) as server:
        conn.send(server.url(""))
        while True:
            cmd = conn.recv()
            if cmd == "stats":
                conn.send((server.bodies, server.not_modified))
            elif cmd == "reset":
                server.reset_counts()
                conn.send(True)
            else:
                break


class ServerProcess:
    def __init__(self, root: Path, *, validators: bool) -> None:
        self.parent, child = mp.Pipe()
        self.proc = mp.Process(target=serve, args=(str(root), validators, child), daemon=True)

    def __enter__(self) -> ServerProcess:
        self.proc.start()
        self.base: str = self.parent.recv()
        return self

    def stats(self) -> tuple[int, int]:
        self.parent.send("stats")
        bodies, not_modified = self.parent.recv()
        return int(bodies), int(not_modified)

    def reset(self) -> None:
        self.parent.send("reset")
        self.parent.recv()

    def __exit__(self, *exc: object) -> None:
        self.parent.send("stop")
        self.proc.join(5)


def feed_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise SystemExit(f"no feeds in {folder}; run bench/gen_feeds.py first")
    return files


def bare_feedparser(files: list[Path]) -> tuple[int, float]:
    import feedparser

    blobs = [f.read_bytes() for f in files]
    t0 = time.process_time()
    n = sum(len(feedparser.parse(b).entries) for b in blobs)
    return n, time.process_time() - t0


def write_config(
    path: Path,
    urls: list[str],
    db: Path,
    workers: int | None = None,
    parser: str | None = None,
    concurrency: int | None = 16,
) -> None:
    """Throughput runs fetch 16 at a time from the one local host; ``concurrency=None`` keeps
    the shipped fetch defaults (8 at once, 2 per host)."""
    lines = [f"database: sqlite:///{db}"]
    if concurrency is not None:
        lines += ["fetch:", f"  concurrency: {concurrency}", f"  per_host: {concurrency}"]
    if workers is not None:
        lines.append(f"parse_workers: {workers}")
    if parser is not None:
        lines.append(f"parser: {parser}")
    lines.append("feeds:")
    lines += [f"  - {u}" for u in urls]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cpu_seconds() -> float:
    """CPU time of this process and its live descendants (the parse workers)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(child.cpu_times()[:2])
    return total


async def two_polls(config: Path) -> tuple[Any, float, float, Any, float, float]:
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    settings = load_settings(config)
    async with Service(settings) as svc:
        w0, c0 = time.perf_counter(), cpu_seconds()
        first = await svc.cycle(svc.feeds)
        w1, c1 = time.perf_counter(), cpu_seconds()
        second = await svc.cycle(svc.feeds)
        w2, c2 = time.perf_counter(), cpu_seconds()
    return first, w1 - w0, c1 - c0, second, w2 - w1, c2 - c1


def ours(
    files: list[Path],
    work: Path,
    *,
    validators: bool,
    workers: int | None = None,
    parser: str | None = None,
) -> dict[str, Any]:
    with ServerProcess(files[0].parent, validators=validators) as server:
        urls = [server.base + f.name for f in files]
        db = work / f"ours-{validators}-{workers}.db"
        cfg = work / f"ours-{validators}-{workers}.yaml"
        write_config(cfg, urls, db, workers, parser)
        first, wall1, cpu1, second, wall2, cpu2 = asyncio.run(two_polls(cfg))
        bodies, not_modified = server.stats()
    return {
        "entries": first.new,
        "wall1": wall1,
        "cpu1": cpu1,
        "wall2": wall2,
        "cpu2": cpu2,
        "errors1": first.count("error"),
        "reparsed2": second.count("ok"),
        "bodies_total": bodies,
        "not_modified": not_modified,
        "feeds": len(files),
    }


def reader_baseline(files: list[Path], work: Path) -> dict[str, Any] | None:
    try:
        from reader import make_reader
    except ImportError as exc:
        print(f"  reader not installed ({exc}); pip install -e '.[bench]'")
        return None
    with ServerProcess(files[0].parent, validators=True) as server:
        reader = make_reader(str(work / "reader.sqlite"))
        for f in files:
            reader.add_feed(server.base + f.name)
        w0, c0 = time.perf_counter(), time.process_time()
        reader.update_feeds(workers=16, scheduled=False)
        w1, c1 = time.perf_counter(), time.process_time()
        reader.update_feeds(workers=16, scheduled=False)
        w2, c2 = time.perf_counter(), time.process_time()
        entries = reader.get_entry_counts().total
        reader.close()
    return {
        "entries": entries,
        "wall1": w1 - w0,
        "cpu1": c1 - c0,
        "wall2": w2 - w1,
        "cpu2": c2 - c1,
    }


RSS_CHILD = r"""
import asyncio, json, resource, sys
from pathlib import Path
import psutil
sys.path.insert(0, sys.argv[2])
from monitor.config import load_settings
from monitor.service import Service
async def main():
    async with Service(load_settings(Path(sys.argv[1]))) as svc:
        r = await svc.cycle(svc.feeds)
        # The parse workers are still alive here. Their unique memory (USS) is what they add.
        procs = psutil.Process().children(recursive=True)
        workers = sum(p.memory_full_info().uss for p in procs)
        return r.new, r.count("error"), workers
new, errors, workers = asyncio.run(main())
print(json.dumps({"new": new, "errors": errors, "workers_mb": workers / 2**20,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def peak_rss(
    files: list[Path], work: Path, n_feeds: int, workers: int | None, parser: str | None
) -> dict[str, Any]:
    with ServerProcess(files[0].parent, validators=True) as server:
        urls = [f"{server.base}{files[i % len(files)].name}?copy={i}" for i in range(n_feeds)]
        cfg = work / f"rss-{workers}.yaml"
        # Default fetch settings: the memory a user's daemon would have.
        write_config(cfg, urls, work / f"rss-{workers}.db", workers, parser, concurrency=None)
        out = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, str(cfg), str(ROOT)],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--no-reader", action="store_true")
    ap.add_argument("--rss-feeds", type=int, default=1000)
    ap.add_argument("--parser", choices=["feedparser", "feedparser-rs"], default=None)
    args = ap.parse_args()
    if not args.feeds_dir.exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_feeds.py"), str(args.feeds_dir)], check=True
        )
    files = feed_files(args.feeds_dir)
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"# ingest benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    print(f"corpus: {len(files)} feeds, {size:.1f} MB in {args.feeds_dir}")
    print(f"parser: {args.parser or 'the default (feedparser)'}")

    n_fp, t_fp = bare_feedparser(files)
    fp_rate = n_fp / t_fp
    print(
        f"bare feedparser.parse (defaults, CPU): {n_fp} entries in {t_fp:.2f}s = {fp_rate:,.0f}/s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        o = ours(files, work, validators=True, parser=args.parser)
        rate = o["entries"] / o["wall1"]
        print(
            f"ours, first poll (fetch+parse+match+store over HTTP, parse workers = cores): "
            f"{o['entries']} entries in {o['wall1']:.2f}s wall / {o['cpu1']:.2f}s CPU (all "
            f"processes) = {rate:,.0f}/s ({rate / fp_rate:.2f}x bare feedparser), "
            f"errors {o['errors1']}"
        )
        one = ours(files, work, validators=True, workers=0, parser=args.parser)
        one_rate = one["entries"] / one["wall1"]
        print(
            f"ours, first poll, parsing inline on one core: {one['wall1']:.2f}s wall / "
            f"{one['cpu1']:.2f}s CPU = {one_rate:,.0f}/s "
            f"({one_rate / fp_rate:.2f}x bare feedparser)"
        )
        print(
            f"ours, second poll, validators: {o['wall2']:.2f}s wall, CPU {o['cpu2']:.3f}s = "
            f"{100 * o['cpu2'] / o['cpu1']:.1f}% of first poll; bodies sent in total "
            f"{o['bodies_total']} for {o['feeds']} feeds (re-downloaded: "
            f"{o['bodies_total'] - o['feeds']}), 304s {o['not_modified']}, "
            f"re-parsed {o['reparsed2']}"
        )
        nv = ours(files, work, validators=False, parser=args.parser)
        print(
            f"ours, second poll, no validators: CPU {nv['cpu2']:.3f}s = "
            f"{100 * nv['cpu2'] / nv['cpu1']:.1f}% of first poll; re-parsed {nv['reparsed2']} "
            f"of {nv['feeds']} feeds"
        )
        if not args.no_reader:
            r = reader_baseline(files, work)
            if r:
                r_rate = r["entries"] / r["wall1"]
                print(
                    f"reader update_feeds(workers=16): {r['entries']} entries in {r['wall1']:.2f}s "
                    f"= {r_rate:,.0f}/s; ours is {rate / r_rate:.2f}x; its second poll "
                    f"{r['wall2']:.2f}s wall / {r['cpu2']:.2f}s CPU (ours {o['wall2']:.2f}s / "
                    f"{o['cpu2']:.2f}s)"
                )
        for workers, how in ((None, "parse workers = cores"), (0, "parsing inline")):
            rss = peak_rss(files, work, args.rss_feeds, workers, args.parser)
            print(
                f"peak RSS with {args.rss_feeds} feeds configured, after the first poll, {how}: "
                f"{rss['maxrss_mb']:.0f} MB main process, plus {rss['workers_mb']:.0f} MB "
                f"unique to worker processes ({rss['new']} entries, {rss['errors']} errors)"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peak RSS {own:.0f} MB)")


if __name__ == "__main__":
    main()
