"""PostgreSQL against SQLite on an all-304 re-poll, in one process (``Service.cycle`` as
``monitor once`` runs it, without the process start-up).

    .venv/bin/python bench/bench_pg_repoll.py [--feeds 300] [--postgres URL]

bench/gen_feeds.py's feeds served with validators from 127.0.0.1 (bench/feedserver.py in a
child process); ``parser: feedparser-rs`` so that the first cycle, which only fills the store,
is short. Then three all-304 cycles per backend; the best wall time and the best CPU (this
process plus every ``postgres`` process, other clients of the server included) are compared.
Run it with another checkout first on ``PYTHONPATH`` for a baseline. Target (issue 14): within
1.2x of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import ServerProcess, cpu_seconds, feed_files  # noqa: E402
from bench_once import postgres_cpu  # noqa: E402


def write_config(path: Path, urls: list[str], database: str) -> None:
    lines = [f"database: {database}", "parser: feedparser-rs", "parse_workers: 0"]
    lines += ["fetch:", "  concurrency: 16", "  per_host: 16", "feeds:"]
    lines += [f"  - {u}" for u in urls]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def cycles(cfg: Path, postgres: bool) -> list[tuple[float, float, float]]:
    from monitor.app.service import Service
    from monitor.config.settings import load_settings

    async with Service(load_settings(cfg)) as svc:
        await svc.cycle(svc.feeds)
        out = []
        for _ in range(3):
            s0 = postgres_cpu() if postgres else 0.0
            c0, w0 = cpu_seconds(), time.perf_counter()
            await svc.cycle(svc.feeds)
            wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
            out.append((wall, cpu, postgres_cpu() - s0 if postgres else 0.0))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=300)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--feeds-dir", type=Path, default=HERE / "_work" / "feeds")
    args = ap.parse_args()
    import psycopg

    import monitor

    files = feed_files(args.feeds_dir)
    print(f"code {Path(monitor.__file__).parent}, {args.feeds} feeds, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(files[0].parent, validators=True) as server,
    ):
        urls = [f"{server.base}{files[i % len(files)].name}?copy={i}" for i in range(args.feeds)]
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        results = {}
        try:
            sep = "&" if "?" in args.postgres else "?"
            for backend, db in (
                ("sqlite", f"sqlite:///{tmp}/m.db"),
                ("postgresql", f"{args.postgres}{sep}options=-csearch_path%3D{schema}"),
            ):
                cfg = Path(tmp) / f"{backend}.yaml"
                write_config(cfg, urls, db)
                results[backend] = asyncio.run(cycles(cfg, backend == "postgresql"))
                for wall, cpu, server_cpu in results[backend]:
                    print(f"{backend:<11} re-poll wall {wall:6.2f} s, CPU {cpu:5.2f} s, "
                          f"server CPU {server_cpu:5.2f} s")  # fmt: skip
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    sw, pw = (min(r[0] for r in results[b]) for b in ("sqlite", "postgresql"))
    sc, pc = (min(r[1] + r[2] for r in results[b]) for b in ("sqlite", "postgresql"))
    print(f"best wall: sqlite {sw:.2f} s, postgresql {pw:.2f} s = {pw / sw:.2f}x")
    print(f"best CPU (with the server): sqlite {sc:.2f} s, postgres {pc:.2f} s = {pc / sc:.2f}x")


if __name__ == "__main__":
    main()
