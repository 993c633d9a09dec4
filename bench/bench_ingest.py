"""Ingest benchmark: the whole path (fetch over HTTP, parse, normalize, match, store) against
baselines measured in the same run on the same bytes.

    .venv/bin/python bench/bench_ingest.py            # 500 generated feeds (~25k entries)
    .venv/bin/python bench/bench_ingest.py --no-reader  # skip lemon24/reader
    .venv/bin/python bench/bench_ingest.py --parser feedparser-rs  # the optional fast engine

Every ratio is CPU for CPU: entries per CPU-second of all our processes (parse workers
included) against entries per CPU-second of the baseline; wall time is printed beside it (a
wall-time rate on two cores against a one-core CPU rate is not a like-for-like ratio).

Prints:
1. first poll: ours (parse workers = cores, and inline on one core) vs bare feedparser.parse
   (defaults) vs reader's update_feeds();
2. second poll with nothing changed: our CPU time as a share of the first poll's, connections
   opened per request (HTTP and HTTPS with a certificate from a CA made for the run); bodies
   re-sent by a server with validators; re-parses against a server without validators;
3. peak RSS of a process with 1,000 feeds configured, after its first poll;
4. the targets, met or not.
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
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from feedserver import FeedServer  # noqa: E402


def serve(root: str, validators: bool, conn: Any, tls: tuple[str, str] | None = None) -> None:
    """Child process: serve ``root``; answer 'stats', 'reset' and 'stop' on the pipe."""
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    with FeedServer(Path(root), validators=validators, tls=context) as server:
        conn.send(server.url(""))
        while True:
            cmd = conn.recv()
            if cmd == "stats":
                conn.send((server.bodies, server.not_modified, server.connections))
            elif cmd == "reset":
                server.reset_counts()
                conn.send(True)
            else:
                break


SERVER_PIDS: set[int] = set()
"""The feed servers' processes: children of this one, but not counted by ``cpu_seconds``."""


class ServerProcess:
    def __init__(self, root: Path, *, validators: bool, tls: tuple[str, str] | None = None) -> None:
        self.parent, child = mp.Pipe()
        self.proc = mp.Process(target=serve, args=(str(root), validators, child, tls), daemon=True)

    def __enter__(self) -> ServerProcess:
        self.proc.start()
        assert self.proc.pid is not None
        SERVER_PIDS.add(self.proc.pid)
        self.base: str = self.parent.recv()
        return self

    def cpu_seconds(self) -> float:
        """The server process's own CPU (its threads included)."""
        import psutil

        return float(sum(psutil.Process(self.proc.pid).cpu_times()[:2]))

    def stats(self) -> tuple[int, int, int]:
        """Bodies sent, 304s sent, connections accepted."""
        self.parent.send("stats")
        bodies, not_modified, connections = self.parent.recv()
        return int(bodies), int(not_modified), int(connections)

    def reset(self) -> None:
        self.parent.send("reset")
        self.parent.recv()

    def __exit__(self, *exc: object) -> None:
        self.parent.send("stop")
        self.proc.join(5)
        SERVER_PIDS.discard(self.proc.pid or 0)


class Tls:
    """A CA made for this run, a certificate for localhost, and SSL_CERT_FILE pointing at the
    CA while a run uses it (the fetcher verifies certificates; it is told whom to trust)."""

    def __init__(self, work: Path) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("localhost")
        self.ca_file = work / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.cert_file, self.key_file = work / "server.pem", work / "server.key"
        cert.cert_chain_pems[0].write_to_path(str(self.cert_file))
        cert.private_key_pem.write_to_path(str(self.key_file))

    @property
    def server_files(self) -> tuple[str, str]:
        return str(self.cert_file), str(self.key_file)

    @contextlib.contextmanager
    def trusted(self) -> Iterator[None]:
        before = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(self.ca_file)
        try:
            yield
        finally:
            if before is None:
                del os.environ["SSL_CERT_FILE"]
            else:
                os.environ["SSL_CERT_FILE"] = before


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
    """CPU time of this process and its live descendants (the parse workers), the feed
    servers' (``ServerProcess``) not included: before 2026-12-03 they were (see RESULTS)."""
    import psutil

    me = psutil.Process()
    total: float = sum(me.cpu_times()[:2])  # psutil is untyped here (no types-psutil)
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.pid in SERVER_PIDS or child.ppid() in SERVER_PIDS:
                continue
            total += sum(child.cpu_times()[:2])
    return total


async def two_polls(config: Path, between: Callable[[], Any]) -> dict[str, Any]:
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    settings = load_settings(config)
    async with Service(settings) as svc:
        w0, c0 = time.perf_counter(), cpu_seconds()
        first = await svc.cycle(svc.feeds)
        w1, c1 = time.perf_counter(), cpu_seconds()
        mid = between()
        w1b, c1b = time.perf_counter(), cpu_seconds()
        second = await svc.cycle(svc.feeds)
        w2, c2 = time.perf_counter(), cpu_seconds()
    return {
        "first": first,
        "wall1": w1 - w0,
        "cpu1": c1 - c0,
        "mid": mid,
        "second": second,
        "wall2": w2 - w1b,
        "cpu2": c2 - c1b,
    }


def ours(
    files: list[Path],
    work: Path,
    *,
    validators: bool,
    workers: int | None = None,
    parser: str | None = None,
    tls: Tls | None = None,
) -> dict[str, Any]:
    with ServerProcess(
        files[0].parent, validators=validators, tls=tls.server_files if tls else None
    ) as server:
        urls = [server.base + f.name for f in files]
        name = f"ours-{validators}-{workers}-{'https' if tls else 'http'}"
        db, cfg = work / f"{name}.db", work / f"{name}.yaml"
        write_config(cfg, urls, db, workers, parser)
        with tls.trusted() if tls else contextlib.nullcontext():
            run = asyncio.run(two_polls(cfg, server.stats))
        bodies, not_modified, connections = server.stats()
    _, _, conn1 = run["mid"]
    first, second = run["first"], run["second"]
    return {
        "entries": first.new,
        "wall1": run["wall1"],
        "cpu1": run["cpu1"],
        "wall2": run["wall2"],
        "cpu2": run["cpu2"],
        "errors1": first.count("error"),
        "errors2": second.count("error"),
        "reparsed2": second.count("ok"),
        "bodies_total": bodies,
        "not_modified": not_modified,
        "feeds": len(files),
        "conn1": conn1,
        "conn2": connections - conn1,
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
from monitor.app.service import Service
from monitor.config.settings import load_settings
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


def rates(entries: int, wall: float, cpu: float, base_cpu_rate: float) -> str:
    """Wall and CPU rates, and the CPU-for-CPU ratio against a baseline's CPU rate."""
    return (
        f"{wall:.2f}s wall / {cpu:.2f}s CPU = {entries / wall:,.0f}/s wall, "
        f"{entries / cpu:,.0f}/CPU-s: {entries / cpu / base_cpu_rate:.2f}x CPU for CPU"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--no-reader", action="store_true")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs")
    ap.add_argument("--rss-feeds", type=int, default=1000)
    ap.add_argument("--parser", choices=["feedparser", "feedparser-rs"], default=None)
    args = ap.parse_args()
    if not args.feeds_dir.exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_feeds.py"), str(args.feeds_dir)], check=True
        )
    files = feed_files(args.feeds_dir)
    size = sum(f.stat().st_size for f in files) / 1e6
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"# ingest benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {load}"
    )
    print(f"corpus: {len(files)} feeds, {size:.1f} MB in {args.feeds_dir.name}/")
    print(f"parser: {args.parser or 'the default (feedparser)'}")
    print("ratios are CPU for CPU (all our processes, parse workers included); wall beside")

    n_fp, t_fp = bare_feedparser(files)
    fp_rate = n_fp / t_fp
    print(
        f"bare feedparser.parse (defaults, one process): {n_fp} entries in {t_fp:.2f}s CPU "
        f"= {fp_rate:,.0f}/CPU-s (1.00x)"
    )
    targets: list[tuple[str, str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        o = ours(files, work, validators=True, parser=args.parser)
        print(
            f"ours, first poll, parse workers = cores: {o['entries']} entries, "
            f"{rates(o['entries'], o['wall1'], o['cpu1'], fp_rate)} bare feedparser "
            f"(wall rate vs feedparser's CPU rate: {o['entries'] / o['wall1'] / fp_rate:.2f}x), "
            f"errors {o['errors1']}"
        )
        one = ours(files, work, validators=True, workers=0, parser=args.parser)
        print(
            f"ours, first poll, parsing inline on one core: "
            f"{rates(one['entries'], one['wall1'], one['cpu1'], fp_rate)} bare feedparser"
        )
        cpu_share = one["cpu1"] / t_fp
        if args.parser == "feedparser-rs":
            targets.append(
                (
                    "feedparser-rs first poll >= 6x bare feedparser, CPU for CPU (one core)",
                    f"{1 / cpu_share:.2f}x",
                    1 / cpu_share >= 6,
                )
            )
        else:
            targets.append(
                (
                    "first poll CPU <= 0.9x bare feedparser.parse (one core)",
                    f"{cpu_share:.2f}x",
                    cpu_share <= 0.9,
                )
            )
        for label, run in (("workers", o), ("inline", one)):
            print(
                f"ours, second poll ({label}), validators: {run['wall2']:.2f}s wall, CPU "
                f"{run['cpu2']:.3f}s = {100 * run['cpu2'] / run['cpu1']:.1f}% of its first "
                f"poll; connections per request {run['conn1'] / run['feeds']:.3f} (first poll), "
                f"{run['conn2'] / run['feeds']:.3f} (second); bodies sent in total "
                f"{run['bodies_total']} for {run['feeds']} feeds (re-downloaded: "
                f"{run['bodies_total'] - run['feeds']}), 304s {run['not_modified']}, "
                f"re-parsed {run['reparsed2']}"
            )
        share = one["cpu2"] / one["cpu1"]
        targets.append(
            (
                "second poll CPU <= 3% of the first poll's (inline)",
                f"{100 * share:.1f}%",
                share <= 0.03,
            )
        )
        tls = Tls(work)
        https = ours(files, work, validators=True, workers=0, parser=args.parser, tls=tls)
        print(
            f"ours over HTTPS, inline: first poll {https['entries']} entries, "
            f"{rates(https['entries'], https['wall1'], https['cpu1'], fp_rate)}; second poll "
            f"CPU {https['cpu2']:.3f}s = {100 * https['cpu2'] / https['cpu1']:.1f}%, "
            f"connections per request {https['conn1'] / https['feeds']:.3f} (first), "
            f"{https['conn2'] / https['feeds']:.3f} (second), errors "
            f"{https['errors1']}/{https['errors2']}"
        )
        worst = max(one["conn2"], https["conn2"]) / one["feeds"]
        targets.append(
            (
                "re-poll connections per request <= 0.1 (HTTP and HTTPS)",
                f"{worst:.3f}",
                worst <= 0.1,
            )
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
                r_rate = r["entries"] / r["cpu1"]
                print(
                    f"reader update_feeds(workers=16): {r['entries']} entries, "
                    f"{rates(r['entries'], r['wall1'], r['cpu1'], fp_rate)} bare feedparser; "
                    f"its second poll {r['wall2']:.2f}s wall / {r['cpu2']:.2f}s CPU"
                )
                inline_vs = one["entries"] / one["cpu1"] / r_rate
                print(
                    f"ours vs reader, CPU for CPU: {inline_vs:.2f}x inline, "
                    f"{o['entries'] / o['cpu1'] / r_rate:.2f}x with workers (wall: "
                    f"{r['wall1'] / one['wall1']:.2f}x inline, "
                    f"{r['wall1'] / o['wall1']:.2f}x with workers); second poll CPU: ours "
                    f"{one['cpu2']:.2f}s (inline), reader {r['cpu2']:.2f}s"
                )
                if args.parser != "feedparser-rs":
                    targets.append(
                        (
                            "first poll >= 1.5x reader, CPU for CPU (one core)",
                            f"{inline_vs:.2f}x",
                            inline_vs >= 1.5,
                        )
                    )
        if not args.no_rss:
            for workers, how in ((None, "parse workers = cores"), (0, "parsing inline")):
                rss = peak_rss(files, work, args.rss_feeds, workers, args.parser)
                print(
                    f"peak RSS with {args.rss_feeds} feeds configured, after the first poll, "
                    f"{how}: {rss['maxrss_mb']:.0f} MB main process, plus "
                    f"{rss['workers_mb']:.0f} MB unique to worker processes ({rss['new']} "
                    f"entries, {rss['errors']} errors)"
                )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peak RSS {own:.0f} MB)")
    print("targets:")
    for what, got, met in targets:
        print(f"  {what}: {got} -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
