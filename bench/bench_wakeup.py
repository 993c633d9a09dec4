"""Wake-up latency: a feed made due now, to its poll by an idle instance, NOTIFY vs heartbeat.

Two idle `monitor run --role poll` on one PostgreSQL (20 feeds already polled, interval 1 h,
`instances.heartbeat` 1 s, the default); then, ``--rounds`` times at random moments, one feed is
made due (``make_due``, what a stopping instance's release or a new instance's feeds do) and the
time to its request at the loopback server is taken. Once with ``instances.wakeup: notify``
(LISTEN/NOTIFY), once with ``heartbeat`` (the short poll), in the same run.

    .venv/bin/python bench/bench_wakeup.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

from monitor.store import open_storage

BASE = os.environ.get("MONITOR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
FEEDS = 20
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
seen: dict[str, list[float]] = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with lock:
            seen.setdefault(self.path, []).append(time.monotonic())
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(RSS)))
        self.end_headers()
        self.wfile.write(RSS)

    def log_message(self, *args: object) -> None:
        pass


def measure(port: int, mode: str, rounds: int) -> list[float]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{BASE}?options=-csearch_path%3D{schema}"
    paths = [f"/{mode}/{i}.xml" for i in range(FEEDS)]
    urls = [f"http://127.0.0.1:{port}{p}" for p in paths]
    procs: list[subprocess.Popen[bytes]] = []
    out: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "monitor.yaml"
            cfg.write_text(
                f'database: "{url}"\ndefaults: {{interval: 1h}}\n'
                f"instances: {{lease: 60s, heartbeat: 1s, wakeup: {mode}}}\n"
                "feeds:\n" + "".join(f"  - {u}\n" for u in urls),
                encoding="utf-8",
            )
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "monitor", "-c", str(cfg), "run", "--role", "poll"],
                    cwd=tmp,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "NO_PROXY": "*"},
                )
                for _ in range(2)
            ]
            while sum(1 for p in paths if p in seen) < FEEDS:
                time.sleep(0.1)
            time.sleep(1.5)
            rng = random.Random(7)
            with open_storage(url) as store:
                for k in range(rounds):
                    path, feed = paths[k % FEEDS], urls[k % FEEDS]
                    time.sleep(rng.uniform(0.2, 1.2))  # a random phase against the heartbeat
                    with lock:
                        before = len(seen[path])
                    t = time.monotonic()
                    store.make_due([feed], datetime.now(UTC))
                    while True:
                        with lock:
                            if len(seen[path]) > before:
                                out.append(seen[path][before] - t)
                                break
                        time.sleep(0.002)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        with psycopg.connect(BASE, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(
        f"load avg {os.getloadavg()[0]:.2f}; 2 idle instances, heartbeat 1 s, {args.rounds} rounds"
    )
    print("wakeup     median ms  p90 ms  max ms")
    results = {}
    for mode in ("heartbeat", "notify"):
        lat = sorted(measure(port, mode, args.rounds))
        results[mode] = statistics.median(lat)
        p90 = lat[int(0.9 * (len(lat) - 1))]
        print(f"{mode:9s}  {results[mode] * 1e3:9.0f}  {p90 * 1e3:6.0f}  {lat[-1] * 1e3:6.0f}")
    print(f"median ratio notify / heartbeat: {results['notify'] / results['heartbeat']:.3f}")
    server.shutdown()


if __name__ == "__main__":
    main()
