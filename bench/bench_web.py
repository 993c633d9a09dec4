"""Web view: server time of its pages over a store of 50,000 entries, on SQLite and PostgreSQL.

Fills a store (100 feeds x 500 entries over 30 days, stories of 1-3 members, German and English
titles, one match per entry of one of six rules, 500 deliveries with their stored messages),
serves the real app with uvicorn on 127.0.0.1 and requests each page N times over HTTP. Server
time is measured inside the process around the ASGI app (median, p95); the baseline in the same
run is the app's static JS file (framework, middleware and headers, no store). CPU is this
process's (server and client share it); on PostgreSQL the server's own CPU is not in it.

Run: python bench/bench_web.py [--engine sqlite|postgresql|both] [--repeat N]
PostgreSQL: $MONITOR_BENCH_POSTGRES or postgresql://postgres@127.0.0.1:5432/test, in a schema of
its own that is dropped afterwards; ANALYZE runs after the fill (see ``analyze``).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.delivery.stored_message import encode_message
from monitor.model import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Entry,
    FeedState,
    Hit,
    Match,
    Priority,
    RenderedMessage,
    StoryAssignment,
)
from monitor.store import open_storage
from monitor.web.app import create_app

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FEEDS, PER_FEED = 100, 500
WORDS_DE = ["Ausfuhrbeschränkungen", "Lithium", "Seltene Erden", "Kupferpreis", "Gallium", "Zoll"]
WORDS_EN = ["export controls", "lithium", "rare earths", "copper price", "gallium", "tariffs"]
RULES = ["exportkontrollen", "lithium", "seltene-erden", "kupfer", "gallium-germanium", "zoll"]
DELIVERIES = 500
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def fill(url: str) -> None:
    with open_storage(url) as store:
        n = 0
        for f in range(FEEDS):
            feed = f"https://outlet{f}.example/feed"
            de = f % 2 == 0
            words = WORDS_DE if de else WORDS_EN
            entries, stories, matches = [], [], {}
            for i in range(PER_FEED):
                n += 1
                published = NOW - timedelta(minutes=(n * 53) % (30 * 24 * 60))
                first = words[n % 6]
                title = f"{first} {words[(n // 6) % 6]} Meldung {n}"
                e = Entry(
                    feed_url=feed,
                    id=f"e{i}",
                    title=title,
                    link=f"https://outlet{f}.example/{i}",
                    summary=f"{title}. " * 5,
                    content="",
                    published=published,
                    language="de" if de else "en",
                )
                entries.append(e)
                hit = Hit(RULES[n % 6], first, "title", 0, len(first), first)
                matches[e.id] = [Match(RULES[n % 6], 60, Priority.DIGEST, (hit,))]
                stories.append(
                    StoryAssignment(
                        feed,
                        e.id,
                        f"s{n // 3}",
                        published,
                        e.language or "en",
                        f"outlet{f}.example",
                        f"Outlet {f}",
                    )
                )
            # Each day's entries as that day's poll: first seen when published, as in a store
            # that has been polling for 30 days (the playground's "last 7 days" is a quarter).
            days: dict[int, list[int]] = {}
            for i, e in enumerate(entries):
                days.setdefault((NOW - e.published).days, []).append(i)
            for back in sorted(days, reverse=True):
                picked = days[back]
                polled = NOW - timedelta(days=back)
                store.record_poll(
                    FeedState(feed),
                    [entries[i] for i in picked],
                    {entries[i].id: matches[entries[i].id] for i in picked},
                    polled,
                    stories=[stories[i] for i in picked],
                )
        for i in range(DELIVERIES):
            created = NOW - timedelta(hours=i)
            message = RenderedMessage(
                kind="alert",
                subject=f"Rohstoff-Alarm: Meldung {i}",
                text="Meldung\n" * 40,
                html="<p>Meldung</p>" * 200,
                slack_payloads=[],
                data={"item": i},
                created=created,
            )
            d = Delivery(
                None,
                DeliveryKind.ALERT,
                "eil",
                "hook",
                f"alert-eil-{i}",
                created,
                state=DeliveryState.FAILED if i % 10 == 0 else DeliveryState.SENT,
                sent_at=None if i % 10 == 0 else created,
            )
            store.add_delivery(d, encode_message(message), [(feed, "e1", RULES[0])])


class Timed:
    """ASGI wrapper recording the server time of each request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.times.append(time.perf_counter() - start)


PAGES = {
    "static js (baseline)": "/static/web.js",
    "stream (14 days, 200 stories)": "/",
    "stream, language=de": "/?language=de",
    "stream, rule=lithium": "/?rule=lithium",
    "stream, outlet + 3 days range": "/?outlet=outlet7.example&from=2026-02-26&to=2026-02-28",
    "stream, breaking=1": "/?breaking=1",
    "story page": "/story/s100",
    "search 'Ausfuhrbeschränkungen'": "/search?q=Ausfuhrbeschränkungen",
    "search 'rare earths'": "/search?q=rare+earths",
    "feeds (100)": "/feeds",
    "archive (100 of 500)": "/archive",
    "archive, one delivery": "/archive/10",
}


@contextmanager
def database(engine: str, tmp: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{tmp / 'web.db'}"
        return
    import psycopg

    base = os.environ.get("MONITOR_BENCH_POSTGRES", PG_DEFAULT)
    schema = f"bench_web_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    option = quote(f"-csearch_path={schema}", safe="")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options={option}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def analyze(url: str) -> None:
    """Table statistics, as autovacuum gathers them within a minute or so of a bulk load: the
    figures are those of a store in use, not of the first seconds after its fill."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


PLAYGROUND_RULE = """\
rules:
  - id: my-lithium
    title: Lithium (mine)
    description: bench
    any: [lithium]
"""
PLAYGROUND_REPEAT = 3


def measure(url: str, repeat: int, rules_dir: Path) -> dict[str, tuple[float, float, float]]:
    from monitor.resources import shipped_rules_dir

    (rules_dir / "mine.yaml").write_text(PLAYGROUND_RULE, encoding="utf-8")
    with open_storage(url) as store:
        app = create_app(store, now=lambda: NOW, rule_paths=[shipped_rules_dir(), rules_dir])
        timed = Timed(app)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(timed, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        results: dict[str, tuple[float, float, float]] = {}
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for name, path in PAGES.items():
                    client.get(path).raise_for_status()  # warm up
                    timed.times.clear()
                    cpu0 = sum(os.times()[:2])
                    for _ in range(repeat):
                        client.get(path).raise_for_status()
                    cpu = (sum(os.times()[:2]) - cpu0) / repeat
                    times = sorted(timed.times)
                    p95 = times[int(0.95 * (len(times) - 1))]
                    results[name] = (statistics.median(times), p95, cpu)
                # The playground: a draft tried over the entries first seen in the last 7 days
                # (about 11,700 of the 50,000), POST with the page's CSRF token.
                editor = client.get("/rules/0").text
                token = editor.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                draft = PLAYGROUND_RULE.replace("[lithium]", "[lithium, gallium-germanium]")
                form = {"csrf": token, "text": draft, "days": "7", "action": "try"}
                timed.times.clear()
                cpu0 = sum(os.times()[:2])
                for _ in range(PLAYGROUND_REPEAT):
                    r = client.post("/rules/0", data=form)
                    r.raise_for_status()
                    assert "rule-diff" in r.text
                cpu = (sum(os.times()[:2]) - cpu0) / PLAYGROUND_REPEAT
                times = sorted(timed.times)
                name = f"playground try, 7 days (n={PLAYGROUND_REPEAT})"
                results[name] = (statistics.median(times), times[-1], cpu)
        finally:
            server.should_exit = True
            thread.join(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    runs: dict[str, dict[str, tuple[float, float, float]]] = {}
    for engine in engines:
        with tempfile.TemporaryDirectory() as tmp, database(engine, Path(tmp)) as url:
            t0 = time.perf_counter()
            fill(url)
            print(
                f"{engine}: filled {FEEDS * PER_FEED} entries in {time.perf_counter() - t0:.1f} s"
            )
            rules_dir = Path(tmp) / "rules"
            rules_dir.mkdir()
            runs[engine] = measure(url, args.repeat, rules_dir)
    for engine, results in runs.items():
        base_median = results["static js (baseline)"][0]
        print(f"\n{engine}")
        print(f"{'page':34} {'median ms':>10} {'p95 ms':>8} {'CPU ms/req':>11} {'x baseline':>11}")
        for name, (median, p95, cpu) in results.items():
            print(
                f"{name:34} {median * 1e3:10.1f} {p95 * 1e3:8.1f} {cpu * 1e3:11.1f} "
                f"{median / base_median:11.1f}"
            )
    if len(runs) == 2:
        print("\npostgresql / sqlite, median server time")
        for name in runs["sqlite"]:
            ratio = runs["postgresql"][name][0] / runs["sqlite"][name][0]
            print(f"{name:34} {ratio:6.2f}x")
    print(f"\nload average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
