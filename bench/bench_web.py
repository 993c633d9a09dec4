"""Web view: server time of the story stream and search pages over a store of 50,000 entries.

Fills a SQLite store (100 feeds x 500 entries over 30 days, stories of 1-3 members, German and
English titles), serves the real app with uvicorn on 127.0.0.1 and requests each page N times
over HTTP. Server time is measured inside the process around the ASGI app (median, p95); the
baseline in the same run is the app's static JS file (framework, middleware and headers, no
store). CPU is this process's (server and client share it). Run: python bench/bench_web.py
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.model import Entry, FeedState, StoryAssignment
from monitor.store import open_storage
from monitor.web.app import create_app

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FEEDS, PER_FEED, REPEAT = 100, 500, 40
WORDS_DE = ["Ausfuhrbeschränkungen", "Lithium", "Seltene Erden", "Kupferpreis", "Gallium", "Zoll"]
WORDS_EN = ["export controls", "lithium", "rare earths", "copper price", "gallium", "tariffs"]


def fill(url: str) -> None:
    with open_storage(url) as store:
        n = 0
        for f in range(FEEDS):
            feed = f"https://outlet{f}.example/feed"
            de = f % 2 == 0
            words = WORDS_DE if de else WORDS_EN
            entries, stories = [], []
            for i in range(PER_FEED):
                n += 1
                published = NOW - timedelta(minutes=(n * 53) % (30 * 24 * 60))
                title = f"{words[n % 6]} {words[(n // 6) % 6]} Meldung {n}"
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
            store.record_poll(FeedState(feed), entries, {}, NOW, stories=stories)


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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.db'}"
        t0 = time.perf_counter()
        fill(url)
        print(f"filled {FEEDS * PER_FEED} entries in {time.perf_counter() - t0:.1f} s")
        with open_storage(url) as store:
            timed = Timed(create_app(store, now=lambda: NOW))
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
            base = f"http://127.0.0.1:{port}"
            pages = {
                "static js (baseline)": "/static/web.js",
                "stream (14 days, 200 stories)": "/",
                "stream, language=de": "/?language=de",
                "search 'Ausfuhrbeschränkungen'": "/search?q=Ausfuhrbeschränkungen",
                "search 'rare earths'": "/search?q=rare+earths",
                "feeds (100)": "/feeds",
            }
            results: dict[str, tuple[float, float, float]] = {}
            with httpx.Client(base_url=base) as client:
                for name, path in pages.items():
                    client.get(path).raise_for_status()  # warm up
                    timed.times.clear()
                    cpu0 = sum(os.times()[:2])
                    for _ in range(REPEAT):
                        client.get(path).raise_for_status()
                    cpu = (sum(os.times()[:2]) - cpu0) / REPEAT
                    times = sorted(timed.times)
                    p95 = times[int(0.95 * (len(times) - 1))]
                    results[name] = (statistics.median(times), p95, cpu)
            server.should_exit = True
            thread.join(10)
    base_median = results["static js (baseline)"][0]
    print(f"{'page':34} {'median ms':>10} {'p95 ms':>8} {'CPU ms/req':>11} {'x baseline':>11}")
    for name, (median, p95, cpu) in results.items():
        print(
            f"{name:34} {median * 1e3:10.1f} {p95 * 1e3:8.1f} {cpu * 1e3:11.1f} "
            f"{median / base_median:11.1f}"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
