"""Soak: does `monitor run` keep its memory flat over time with news arriving all the while?

    .venv/bin/python bench/bench_soak.py [--feeds 200] [--minutes 85] [--every 180]
        [--novel K] [--span-minutes M] [--trim-every S] [--json PATH]

A real daemon process (`monitor run`, the default settings: parse workers on) polls ``--feeds``
feeds on 127.0.0.1 every minute. Each feed gains one item every ``--every`` seconds (so two
polls in three are 304s at the defaults; 4,000 new entries an hour at 200 feeds) (real news
text from ``$MONITOR_SHARED/corpus/news`` when it is there, else generated words), published
now, and lists its 20 newest; the server answers 304 while a feed is unchanged. The story window
is set to its shortest span (1 h), so after ~1 h every bounded structure of the daemon (the
story window, the known ids, the connection pools, the scheduler's jobs) is at its steady size
and the memory should stop growing; entries keep accumulating in the database (on disk).

Every 15 s it samples the daemon's RSS and the memory unique to its child processes (the
parse workers: USS from /proc/PID/smaps_rollup, their shared pages being the daemon's); at the
end it prints the samples per 10 minutes, the growth per hour over the last stretch (from
``span + 10 min`` on), the database's size and its entries, and the daemon's CPU. A daemon that
leaks shows a growth per hour that does not fall to ~0. Linux only (/proc).

Accelerated runs (issue 14): ``--novel K`` adds K made-up words, distinct for every item, to
each item (two capitalized in the title, the rest in the summary), so that the vocabulary is
open as a real stream's is and the daemon's memos fill to their caps (the corpus alone repeats
after ~21.5k texts); ``--span-minutes M`` runs the daemon through ``bench/soak_daemon.py`` with
the story span set to M minutes (below the configurable 1 h) so the window is full early;
``--trim-every S`` (same wrapper) calls glibc ``malloc_trim(0)`` every S seconds and logs the
RSS before and after. The growth is then measured from ``--steady-from`` minutes (default: the
span + 10 min). ``--json`` writes the samples. ``--trace-every S`` (same wrapper) runs the daemon
under ``tracemalloc`` and writes what grew most every S seconds to ``--trace-log``. The product
code run is whatever ``monitor`` imports: set ``PYTHONPATH`` to a checkout to soak another commit
with the same harness.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("MONITOR_SHARED", ROOT.parent / "shared"))
LISTED = 20
"""Items a feed lists (its newest)."""


def news_texts(limit: int = 20_000) -> list[tuple[str, str]]:
    """(title, summary) pairs from the shared news corpus, or generated ones without it."""
    folder = SHARED / "corpus" / "news"
    out: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if d.get("title"):
                out.append((d["title"], (d.get("summary") or "")[:600]))
            if len(out) >= limit:
                return out
    if out:
        return out
    words = [
        "Lithium", "Kobalt", "Seltene", "Erden", "China", "Export", "Mine", "Preis",
        "Lieferkette", "Gallium", "Germanium", "Graphit", "Handel", "Abkommen", "rare",
        "earths", "supply", "chain", "prices", "mine", "export", "controls", "deal",
    ]  # fmt: skip
    for n in range(limit):
        title = " ".join(words[(n * k + k) % len(words)] for k in range(1, 9))
        out.append((f"{title} {n}", " ".join(words[(n + k * 7) % len(words)] for k in range(40))))
    return out


_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def novel_word(n: int) -> str:
    """A made-up word, distinct for each ``n`` and in its first 7 letters (the story layer's
    stem) for n < 4.8 million: four or more syllables, the low digits first."""
    out = []
    for _ in range(4):
        n, d = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[d])
    while n:
        n, d = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[d])
    return "".join(out)


def with_novel(title: str, summary: str, first: int, k: int) -> tuple[str, str]:
    """``title`` and ``summary`` with ``k`` new words numbered from ``first``: two names
    (capitalized) in the title, the rest in the summary."""
    if k <= 0:
        return title, summary
    words = [novel_word(first + j) for j in range(k)]
    names = [w.capitalize() for w in words[:2]]
    return f"{title} {' '.join(names)}", f"{summary} {' '.join(words[2:])}".strip()


class LiveFeeds:
    """Feeds that gain an item every ``every`` seconds; ETag per state, 304 while unchanged."""

    def __init__(
        self, feeds: int, every: float, texts: list[tuple[str, str]], novel: int = 0
    ) -> None:
        self.feeds, self.every, self.texts, self.novel = feeds, every, texts, novel
        self.start = time.time()
        self.bodies = self.not_modified = 0
        self._lock = threading.Lock()
        live = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name = self.path.lstrip("/").split("?")[0]
                if not (name.startswith("f") and name.endswith(".xml")):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                feed = int(name[1:-4])
                slot = live.slot(feed)
                etag = f'"{feed}-{slot}"'
                if self.headers.get("If-None-Match") == etag:
                    with live._lock:
                        live.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                body = live.body(feed, slot)
                with live._lock:
                    live.bodies += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def slot(self, feed: int) -> int:
        # Feeds' items fall due at staggered times, so news arrives all through a minute.
        return int((time.time() - self.start + feed * self.every / self.feeds) // self.every)

    def url(self, feed: int) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/f{feed}.xml"

    def body(self, feed: int, slot: int) -> bytes:
        items = []
        for s in range(slot, max(-1, slot - LISTED), -1):
            n = (feed * 7919 + s * 104_729) % len(self.texts)
            title, summary = self.texts[n]
            if self.novel and s >= 0:
                title, summary = with_novel(
                    title, summary, (s * self.feeds + feed) * self.novel, self.novel
                )
            when = datetime.fromtimestamp(self.start + s * self.every, UTC)
            guid = hashlib.sha1(f"{feed}/{s}".encode()).hexdigest()[:16]
            items.append(
                f"<item><title>{escape(title)}</title>"
                f"<link>https://news{feed % 37}.example/{guid}</link>"
                f"<guid isPermaLink='false'>{guid}</guid>"
                f"<pubDate>{format_datetime(when)}</pubDate>"
                f"<description>{escape(summary)}</description></item>"
            )
        return (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Feed {feed}</title><link>https://news{feed % 37}.example/</link>"
            f"<description>soak</description>{''.join(items)}</channel></rss>"
        ).encode()


def write_config(folder: Path, urls: list[str]) -> Path:
    lines = [
        "database: sqlite:///monitor.db",
        "rules: [shipped]",
        "defaults:",
        "  interval: 1m",
        "  min_interval: 1m",
        "stories:",
        "  span: 1h",
        "log:",
        "  level: warning",
        "channels:",
        "  outbox:",
        "    type: file",
        "    path: outbox",
        "subscriptions:",
        "  - name: digest",
        "    channel: outbox",
        "    mode: digest",
        '    schedule: "*/10 * * * *"',
        "  - name: alerts",
        "    channel: outbox",
        "    mode: alert",
        '    rules: "*"',
        "    min_score: 60",
        "feeds:",
        *(f"  - {u}" for u in urls),
    ]
    path = folder / "monitor.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def kib(path: str, key: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def sample(pid: int) -> tuple[float, float]:
    """(the daemon's RSS, the sum of its children's private memory), in MB."""
    rss = kib(f"/proc/{pid}/status", "VmRSS") / 1024
    unique = 0.0
    for kid in children(pid):
        try:
            rollup = f"/proc/{kid}/smaps_rollup"
            unique += (kib(rollup, "Private_Clean") + kib(rollup, "Private_Dirty")) / 1024
        except (FileNotFoundError, ProcessLookupError):
            pass
    return rss, unique


def cpu(pid: int) -> float:
    """CPU seconds of the process and its waited-for children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system, cuser, csystem = (int(fields[i]) for i in (11, 12, 13, 14))
    own = (user + system + cuser + csystem) / os.sysconf("SC_CLK_TCK")
    for kid in children(pid):
        try:
            with_kid = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a worker that ended between the listing and the read
        own += (int(with_kid[11]) + int(with_kid[12])) / os.sysconf("SC_CLK_TCK")
    return own


def growth_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mt) * (v - mv) for t, v in points) / var * 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--minutes", type=float, default=85.0)
    ap.add_argument("--every", type=float, default=180.0, help="seconds between a feed's items")
    ap.add_argument("--monitor", default=str(Path(sys.executable).with_name("monitor")))
    ap.add_argument("--novel", type=int, default=0, help="made-up words added to each item")
    ap.add_argument("--span-minutes", type=float, default=0.0, help="story span below 1 h")
    ap.add_argument("--trim-every", type=float, default=0.0, help="malloc_trim(0) every S s")
    ap.add_argument("--known", type=int, default=0, help="story members remembered (bench)")
    ap.add_argument("--trace-every", type=float, default=0.0, help="tracemalloc every S s")
    ap.add_argument("--trace-log", default="soak-trace.log", help="where --trace-every writes")
    ap.add_argument("--steady-from", type=float, default=0.0, help="minutes; default span + 10")
    ap.add_argument("--json", default="", help="write the samples here")
    args = ap.parse_args()
    texts = news_texts()
    live = LiveFeeds(args.feeds, args.every, texts, args.novel)
    span = args.span_minutes or 60.0
    steady_from = args.steady_from or span + 10
    loud = sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        config = write_config(folder, [live.url(i) for i in range(args.feeds)])
        log = (folder / "daemon.log").open("w")
        command = [args.monitor, "-c", str(config), "run"]
        if args.span_minutes or args.trim_every or args.known or args.trace_every:
            command = [
                sys.executable, str(HERE / "soak_daemon.py"),
                "--span-minutes", str(args.span_minutes), "--trim-every", str(args.trim_every),
                "--known", str(args.known), "--trim-log", str(folder / "trim.log"),
                "--trace-every", str(args.trace_every),
                "--trace-log", str(Path(args.trace_log).resolve()),
                "--", *command[1:],
            ]  # fmt: skip
        proc = subprocess.Popen(command, cwd=folder, stdout=log, stderr=log)
        print(f"daemon pid {proc.pid}, folder {folder}", file=sys.stderr, flush=True)
        began = time.time()
        samples: list[tuple[float, float, float]] = []
        costs: list[tuple[float, float, int]] = []  # (elapsed, CPU s, bodies served)
        try:
            while (elapsed := time.time() - began) < args.minutes * 60:
                if proc.poll() is not None:
                    log.flush()
                    text = (folder / "daemon.log").read_text(errors="replace")
                    raise SystemExit(f"the daemon stopped ({proc.returncode}):\n{text[-3000:]}")
                rss, unique = sample(proc.pid)
                samples.append((elapsed, rss, unique))
                costs.append((elapsed, cpu(proc.pid), live.bodies))
                if loud:
                    print(
                        f"\r{elapsed / 60:5.1f} min  daemon {rss:6.1f} MB  workers "
                        f"{unique:6.1f} MB  bodies {live.bodies}  304s {live.not_modified}",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )
                time.sleep(15)
            used = cpu(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if loud:
            print(file=sys.stderr)
        db = folder / "monitor.db"
        with sqlite3.connect(db) as conn:
            entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
        size = sum(p.stat().st_size for p in folder.glob("monitor.db*")) / 2**20
        tail = (folder / "daemon.log").read_text(encoding="utf-8", errors="replace")
        trims = (folder / "trim.log").read_text() if (folder / "trim.log").exists() else ""
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "samples": samples, "trims": trims.split("\n")})
        )
    print(
        f"soak: {args.feeds} feeds, an item per feed every {args.every:.0f} s, {args.minutes:g} min"
        f", novel words {args.novel}, story span {span:g} min"
    )
    print(f"texts: {'news corpus' if SHARED.joinpath('corpus', 'news').is_dir() else 'generated'}")
    print(f"{'min':>5} {'daemon RSS MB':>14} {'workers unique MB':>18} {'total':>7}")
    for t, rss, unique in samples:
        if int(t) % 600 < 15:
            print(f"{t / 60:5.1f} {rss:14.1f} {unique:18.1f} {rss + unique:7.1f}")
    t, rss, unique = samples[-1]
    print(f"{t / 60:5.1f} {rss:14.1f} {unique:18.1f} {rss + unique:7.1f}  (last)")
    print("CPU of the daemon and its workers per 10 minutes, per body served (a new item):")
    marks = [c for c in costs if int(c[0]) % 600 < 15]
    for (t0, c0, b0), (t1, c1, b1) in itertools.pairwise(marks):
        per = (c1 - c0) / max(b1 - b0, 1) * 1000
        print(
            f"  {t0 / 60:4.0f}-{t1 / 60:3.0f} min  {c1 - c0:7.1f} s  {b1 - b0:6d} bodies  "
            f"{per:7.1f} ms"
        )
    steady = [(t, r + u) for t, r, u in samples if t >= steady_from * 60]
    if len(steady) >= 8:
        print(
            f"growth after {steady_from:g} min (story span + 10 min): "
            f"{growth_per_hour(steady):+.1f} MB/h over {len(steady)} samples "
            f"({steady[0][0] / 60:.0f}-{steady[-1][0] / 60:.0f} min)"
        )
    else:
        print(f"growth after {steady_from:g} min: not measured (run longer)")
    if trims:
        freed = [int(b) - int(a) for _, b, a in (line.split() for line in trims.splitlines())]
        print(
            f"malloc_trim: {len(freed)} calls, RSS freed per call (MB): "
            + " ".join(f"{f / 1024:.1f}" for f in freed)
        )
    first = [(t, r + u) for t, r, u in samples if 10 * 60 <= t < 60 * 60]
    if len(first) >= 8:
        print(
            f"growth from 10 to 60 min (the story window filling): "
            f"{growth_per_hour(first):+.1f} MB/h"
        )
    print(
        f"database: {entries} entries, {stories} stories, {size:.1f} MB on disk; "
        f"daemon CPU {used:.1f} s ({used / max(entries, 1) * 1000:.2f} ms per entry); "
        f"served {live.bodies} bodies, {live.not_modified} 304s"
    )
    errors = [line for line in tail.splitlines() if "ERROR" in line or "Traceback" in line]
    print(f"daemon log: {len(tail.splitlines())} lines, {len(errors)} errors")
    for line in errors[:5]:
        print(f"  {line[:200]}")


if __name__ == "__main__":
    main()
