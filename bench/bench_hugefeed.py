"""A huge feed beside a normal one: does the normal feed's alert still go out within seconds?

`monitor once --all` runs as a real process on a fresh SQLite database with two feeds served from
127.0.0.1: a generated feed of ``--items`` entries (100,000 by default, ~4.5 MB; every one matches
an alert rule, the worst case) and a normal two-entry feed whose one alert must be delivered. The
alert subscription writes to a file channel; a watcher notes when the normal feed's alert file
appears. Reports wall time, CPU of the `monitor` process (user + system, its parse workers
included: they are its children), its peak RSS, when the normal alert arrived, how many alert
files were written, and the exit code. ``--code DIR`` runs another checkout of the package (e.g. a
``git archive`` of the commit before a change) for a baseline in the same run.

    .venv/bin/python bench/bench_hugefeed.py [--items 100000] [--timeout 300] [--code DIR]
        [--parser feedparser-rs]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TypedDict

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from feedserver import FeedServer  # noqa: E402


class Run(TypedDict):
    """One ``monitor once`` over the huge feed: what ``run`` measured."""

    wall: float
    cpu: float
    rss_mb: float
    normal_alert: float | None
    alerts: int
    exit: int
    killed: bool
    log_tail: str


def huge_feed(items: int) -> bytes:
    parts = [
        b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        b"<title>Flood</title><link>https://flood.example/</link>\n"
    ]
    for n in range(items, 0, -1):  # newest first, as feeds list them
        parts.append(b"<item><title>Germanium %d</title></item>\n" % n)
    parts.append(b"</channel></rss>\n")
    return b"".join(parts)


NORMAL = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Eilmeldungen</title><link>https://normal.example/</link>
<item><title>China verschärft Exportkontrollen für Gallium und Germanium</title>
<link>https://normal.example/eil/1</link><guid>eil-1</guid>
<description>Peking verlangt ab sofort Lizenzen für die Ausfuhr von Gallium.</description></item>
<item><title>Wochenmarkt öffnet wieder</title><link>https://normal.example/markt</link>
<guid>markt-1</guid><description>Obst und Gemüse.</description></item>
</channel></rss>
""".encode()


def run(code: Path, items: int, timeout: float, work: Path, parser: str) -> Run:
    feeds = work / "feeds"
    feeds.mkdir()
    (feeds / "huge.xml").write_bytes(huge_feed(items))
    (feeds / "normal.xml").write_bytes(NORMAL)
    out = work / "out"
    with FeedServer(feeds) as server:
        (work / "monitor.yaml").write_text(
            f"""
database: sqlite:///{work / "m.db"}
parser: {parser}
feeds: [{server.url("huge.xml")}, {server.url("normal.xml")}]
channels:
  files: {{type: file, path: {out}, formats: [data]}}
subscriptions:
  - {{name: eil, channel: files, mode: alert}}
""",
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONPATH": str(code), "NO_PROXY": "*"}
        arrived: list[float] = []
        done = threading.Event()
        started = time.perf_counter()

        def watch() -> None:
            while not done.is_set():
                if out.is_dir():
                    for p in out.glob("alert-*.json"):
                        if b"normal.example" in p.read_bytes():
                            arrived.append(time.perf_counter() - started)
                            return
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(work / "monitor.yaml"), "once", "--all",
             "-q"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=(work / "err.log").open("w"),
        )  # fmt: skip
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        wall = time.perf_counter() - started
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    alerts = len(list(out.glob("alert-*.json"))) if out.is_dir() else 0
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "normal_alert": arrived[0] if arrived else None,
        "alerts": alerts,
        "exit": proc.returncode,
        "killed": proc.returncode == -9,
        "log_tail": (work / "err.log").read_text("utf-8", "replace")[-600:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--parser", default="feedparser", choices=["feedparser", "feedparser-rs"])
    ap.add_argument("--code", type=Path, action="append", default=[],
                    help="another checkout to run as a baseline (repeatable)")  # fmt: skip
    args = ap.parse_args()
    load = os.getloadavg()
    size = len(huge_feed(args.items))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"huge feed: {args.items:,} items, {size / 1e6:.1f} MB; normal feed: 1 alert expected")
    print(f"parser: {args.parser}")
    results: dict[str, Run] = {}
    for label, code in [*((f"baseline {c}", c) for c in args.code), ("this checkout", REPO)]:
        with tempfile.TemporaryDirectory(prefix="bench-huge-") as tmp:
            r = run(code.resolve(), args.items, args.timeout, Path(tmp), args.parser)
        results[label] = r
        normal = f"{r['normal_alert']:.1f}s" if r["normal_alert"] is not None else "never"
        print(
            f"{label}: wall {r['wall']:.1f}s, CPU {r['cpu']:.1f}s (monitor and its workers), "
            f"peak RSS {r['rss_mb']:.0f} MB, normal feed's alert after {normal}, "
            f"{r['alerts']:,} alert files, exit {r['exit']}"
            + (f" (killed after {args.timeout:.0f}s)" if r["killed"] else "")
        )
        if r["exit"] not in (0, -9):
            print("  log tail:", r["log_tail"].replace("\n", "\n    "))
    if len(results) > 1:
        last = results["this checkout"]
        for label, r in results.items():
            if label == "this checkout":
                continue
            note = " (baseline killed: a lower bound)" if r["killed"] else ""
            print(
                f"this checkout vs {label}: wall {float(r['wall']) / float(last['wall']):.1f}x "
                f"faster, CPU {float(r['cpu']) / float(last['cpu']):.1f}x less, "
                f"peak RSS {float(r['rss_mb']) / float(last['rss_mb']):.1f}x less{note}"
            )


if __name__ == "__main__":
    main()
