"""Whole instances on one PostgreSQL: N feeds (mostly 304) polled once by 1, 2 and 3 `monitor run`.

Each run: a fresh schema whose feeds already carry an ETag (as after a first poll) and are due
now; a loopback HTTP server (its own process, on ``--hosts`` addresses 127.0.0.x, so that the
per-host limit does not serialise everything) answers 304 to the ETag, and a new body with a
new ETag to every 100th feed ("mostly 304"); then 1, 2 or 3 `monitor run --role poll` with
`fetch.concurrency` 16 each. Measured from the first request to the last feed's: wall time,
CPU of the monitor processes (with their children), of the PostgreSQL server processes and of
the HTTP server; per feed; ratios against one instance. PostgreSQL CPU is that of the
monitors' sessions (their backends, found by application_name). The instances start with
nothing due; once all are up (start-up is not measured) every feed is made due at once, a
millisecond apart with the hosts in turn (as jittered schedules are, so that a claimed batch
spans hosts), and a NOTIFY wakes them. Every feed must be fetched exactly once.

    .venv/bin/python bench/bench_instances_full.py [--feeds 20000] [--hosts 50]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from monitor.store import open_storage

BASE = os.environ.get("MONITOR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TICK = os.sysconf("SC_CLK_TCK")
PORT = 18_731
BODY = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>Hafen %d</title><guid>g%d</guid></item></channel></rss>"
)


def cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            kids.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(p))
    out: list[int] = []
    todo = [pid]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(kids.get(node, []))
    return out


def backends_cpu(app: str) -> float:
    """CPU of the server processes serving the monitors' sessions (by application_name): read
    while they live, before the monitors stop. The server's shared processes (WAL writer,
    checkpointer) serve everyone on this machine and are left out."""
    with psycopg.connect(BASE, autocommit=True) as c:
        pids = [
            r[0]
            for r in c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
            )
        ]
    return sum(cpu_of(p) for p in pids)


def serve(hosts: int, feeds: int, conn: object) -> None:
    """The HTTP server process: counts requests per path, reports when all feeds were seen."""
    seen: dict[int, int] = {}
    first: list[float] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].split()
                n = int(line[1].rsplit(b"/", 1)[1].split(b".")[0])
                seen[n] = seen.get(n, 0) + 1
                if not first:
                    first.append(time.monotonic())
                if n % 100 == 0 and seen[n] == 1:
                    body = BODY % (n, n)
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                        b'ETag: "v2"\r\nContent-Length: %d\r\n\r\n%s' % (len(body), body)
                    )
                else:
                    writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')
                await writer.drain()
                if len(seen) == feeds:
                    conn.send((first[0], time.monotonic(), max(seen.values())))  # type: ignore[attr-defined]
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        addrs = [f"127.0.0.{h + 1}" for h in range(hosts)]
        server = await asyncio.start_server(handle, addrs, PORT, backlog=1024)
        conn.send("ready")  # type: ignore[attr-defined]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def prepare(url: str, schema: str, feeds: int, hosts: int, folder: Path) -> Path:
    urls = [f"http://127.0.0.{i % hosts + 1}:{PORT}/f/{i}.xml" for i in range(feeds)]
    with open_storage(url):
        pass  # creates the tables
    with psycopg.connect(BASE, autocommit=True) as c:
        c.execute(f'SET search_path = "{schema}"')
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO feeds (url, etag, last_success, next_poll) VALUES (%s, '\"v1\"', "
                "now() - interval '1 hour', now())",
                [(u,) for u in urls],
            )
            cur.executemany(  # not due yet: the instances start idle
                "INSERT INTO feed_leases (feed_url, due) VALUES (%s, now() + interval '1 day')",
                [(u,) for u in urls],
            )
    cfg = folder / "monitor.yaml"
    cfg.write_text(
        f'database: "{url}"\n'
        "defaults: {interval: 1h}\n"
        "fetch: {concurrency: 16, per_host: 2}\n"
        "instances: {lease: 300s, batch: 50, heartbeat: 1s}\n"
        "log: {level: warning}\n"
        "feeds:\n" + "".join(f"  - {u}\n" for u in urls),
        encoding="utf-8",
    )
    return cfg


def run(instances: int, feeds: int, hosts: int, timeout: float = 600) -> dict[str, float]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{BASE}?options=-csearch_path%3D{schema}&application_name={schema}"
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(hosts, feeds, child), daemon=True)
    server.start()
    assert parent.recv() == "ready"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = prepare(url, schema, feeds, hosts, Path(tmp))
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "monitor", "-c", str(cfg), "run", "--role", "poll"],
                    cwd=tmp,
                    stdout=subprocess.DEVNULL,
                    stderr=open(Path(tmp) / f"i{n}.log", "w"),  # noqa: SIM115
                    env={**os.environ, "NO_PROXY": "*"},
                )
                for n in range(instances)
            ]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with psycopg.connect(url, autocommit=True) as c:
                    row = c.execute("SELECT count(*) FROM instances").fetchone()
                if row and row[0] == instances:
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # past their first claim (nothing was due)
            cpu0 = sum(cpu_of(p) for proc in procs for p in tree(proc.pid))
            pg0, srv0 = backends_cpu(schema), cpu_of(server.pid or 0)
            with psycopg.connect(url, autocommit=True) as c:
                # All due now, a millisecond apart with the hosts in turn; a notice wakes them.
                c.execute(
                    "UPDATE feed_leases SET due = now() - "
                    "substring(feed_url from '/f/([0-9]+)[.]xml')::int * interval '1 millisecond'"
                )
                c.execute("SELECT pg_notify('monitor_due_' || md5(current_schema()), 'bench')")
            if not parent.poll(timeout):
                errors = [
                    line
                    for n in range(instances)
                    for line in (Path(tmp) / f"i{n}.log").read_text().splitlines()
                    if "error" in line
                ]
                print("\n".join(errors[:10]), f"\n({len(errors)} lines with errors)")
                raise SystemExit(f"not every feed was fetched within {timeout:g} s")
            first, last, most = parent.recv()
            cpu = sum(cpu_of(p) for proc in procs for p in tree(proc.pid)) - cpu0
            pg, srv = backends_cpu(schema) - pg0, cpu_of(server.pid or 0) - srv0
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(60)
            logs = [(Path(tmp) / f"i{n}.log").read_text() for n in range(instances)]
            tracebacks = sum(text.count("Traceback") for text in logs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.kill()
        with psycopg.connect(BASE, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    assert most == 1, f"a feed was fetched {most} times"
    assert tracebacks == 0
    return {"wall": last - first, "monitor_cpu": cpu, "pg_cpu": pg, "server_cpu": srv}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=20_000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--instances", default="1,2,3")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    print(f"{args.feeds} feeds on {args.hosts} hosts, 1 in 100 a new body, the rest 304")
    print(f"load avg {os.getloadavg()[0]:.2f}")
    print(
        "instances  wall s  feeds/s  monitor CPU s  postgres CPU s  server CPU s  "
        "monitor ms/feed  pg ms/feed  wall ratio"
    )
    base: dict[str, float] | None = None
    for n in (int(x) for x in args.instances.split(",")):
        r = run(n, args.feeds, args.hosts, args.timeout)
        base = base or r
        print(
            f"{n:9d}  {r['wall']:6.1f}  {args.feeds / r['wall']:7.0f}  {r['monitor_cpu']:13.1f}  "
            f"{r['pg_cpu']:14.1f}  {r['server_cpu']:12.1f}  "
            f"{r['monitor_cpu'] / args.feeds * 1e3:15.2f}  {r['pg_cpu'] / args.feeds * 1e3:10.2f}  "
            f"{r['wall'] / base['wall']:10.2f}",
            flush=True,
        )
    print(f"load avg {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
