"""Unchanged re-poll against the first poll, CPU for CPU, this checkout against a baseline
revision in the same run: HTTP and HTTPS, CPU per 304, connections per request.

    .venv/bin/python bench/bench_repoll.py [--feeds 200] [--baseline REV] [--parser NAME]

bench/gen_feeds.py's feeds served with validators from 127.0.0.1 by bench/feedserver.py in a
child process (its CPU not counted; over HTTPS with a certificate from a CA made for the run).
One ``Service`` per protocol, parsing inline: a first cycle, then three cycles where every feed
answers 304; the best of the three is compared with the first. The baseline is ``git archive
REV`` unpacked into a temporary folder; each code runs in its own child process. Target
(issue 14): re-poll <= 3% of the first poll's CPU, <= 0.1 connections per request.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(code: Path, feeds: int, parser: str | None, feeds_dir: Path) -> None:
    sys.path.insert(0, str(HERE))
    from bench_ingest import ServerProcess, Tls, cpu_seconds, feed_files

    sys.path.insert(0, str(code))
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    files = feed_files(feeds_dir)[:feeds]

    async def polls(cfg: Path, server: ServerProcess) -> dict[str, Any]:
        async with Service(load_settings(cfg)) as svc:
            c0 = cpu_seconds()
            first = await svc.cycle(svc.feeds)
            cpu1 = cpu_seconds() - c0
            _, _, conn1 = server.stats()
            again = []
            for _ in range(3):
                c0, w0 = cpu_seconds(), time.perf_counter()
                report = await svc.cycle(svc.feeds)
                again.append((cpu_seconds() - c0, time.perf_counter() - w0))
                assert report.count("not_modified") == len(files), "not all 304s"
            _, not_modified, conns = server.stats()
        return {
            "entries": first.new,
            "cpu1": cpu1,
            "cpu2": min(c for c, _ in again),
            "wall2": min(w for _, w in again),
            "conn_per_request": (conns - conn1) / (3 * len(files)),
            "not_modified": not_modified,
        }

    out: dict[str, Any] = {"code": str(code)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tls = Tls(work)
        for proto in ("http", "https"):
            context = tls.server_files if proto == "https" else None
            with ServerProcess(files[0].parent, validators=True, tls=context) as server:
                base = server.base.replace("127.0.0.1", "localhost") if context else server.base
                cfg = work / f"{proto}.yaml"
                lines = [f"database: sqlite:///{work / (proto + '.db')}", "parse_workers: 0"]
                lines += ["fetch:", "  concurrency: 16", "  per_host: 16"]
                if parser:
                    lines.append(f"parser: {parser}")
                lines += ["feeds:", *(f"  - {base}{f.name}" for f in files)]
                cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
                if context:
                    with tls.trusted():
                        out[proto] = asyncio.run(polls(cfg, server))
                else:
                    out[proto] = asyncio.run(polls(cfg, server))
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--baseline", default=None, help="git revision (default: merge base, main)")
    ap.add_argument("--parser", default=None)
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.feeds, args.parser, args.feeds_dir)
        return
    if not args.feeds_dir.exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_feeds.py"), str(args.feeds_dir)], check=True
        )
    rev = args.baseline or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"# re-poll benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {load}; {args.feeds} feeds, parser {args.parser or 'feedparser'}, "
        f"baseline {rev[:10]}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-repoll-") as tmp:
        tree = Path(tmp) / "baseline"
        tree.mkdir()
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tree, filter="data")
        rows = {}
        for label, code in (("before", tree), ("after", ROOT)):
            cmd = [sys.executable, __file__, "--child", str(code), "--feeds", str(args.feeds)]
            cmd += ["--feeds-dir", str(args.feeds_dir)]
            if args.parser:
                cmd += ["--parser", args.parser]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows[label] = json.loads(done.stdout.strip().splitlines()[-1])
    for proto in ("http", "https"):
        for label in ("before", "after"):
            r = rows[label][proto]
            n = r["not_modified"] // 3
            print(
                f"{label:<7}{proto:<6} first poll {r['entries']} entries {r['cpu1']:6.2f} s CPU; "
                f"re-poll {r['cpu2']:5.2f} s CPU ({r['wall2']:.2f} s wall) = "
                f"{100 * r['cpu2'] / r['cpu1']:4.1f}% of it, {1000 * r['cpu2'] / n:.2f} ms per "
                f"304; connections per request {r['conn_per_request']:.3f}"
            )
    after = rows["after"]
    share = max(after[p]["cpu2"] / after[p]["cpu1"] for p in ("http", "https"))
    conns = max(after[p]["conn_per_request"] for p in ("http", "https"))
    print(f"target re-poll <= 3% of the first poll: {100 * share:.1f}% (worst protocol) -> "
          f"{'met' if share <= 0.03 else 'NOT met'}")  # fmt: skip
    print(f"target <= 0.1 connections per request: {conns:.3f} -> "
          f"{'met' if conns <= 0.1 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
