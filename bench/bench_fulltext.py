"""Full text (``fulltext: true``): extraction quality, its cost in a poll, and what it does to
matching. Run from the repository root::

    .venv/bin/python bench/bench_fulltext.py [--shared ../shared] [--pages 60] [--skip-quality]

1. Quality on the 350 real pages of ``shared/corpus/articles`` (215 de, 135 en; chosen by the
   corpus's README: every German/English page of trafilatura's evaluation set, then all English
   and a seeded random 215 German ones), scored per snippet and per word 3-gram against the gold
   (``tests/fulltext_eval.py``): trafilatura as the monitor calls it, trafilatura ``fast=True``,
   and readability-lxml (the baseline, if installed) and the two combined (readability only when
   trafilatura finds nothing). CPU per page in this process.
2. Cost in a real poll: one feed of ``--pages`` teaser items on 127.0.0.1 linking to those pages
   (served by a child process, whose CPU is not counted), polled into a fresh SQLite store with
   the shipped rules, without full text (the baseline, same run) and with it. CPU of this process
   (the extraction thread included) and wall time; the event loop's longest pause meanwhile.
3. Matching, teaser vs full text, over the 350 pages: the teaser is the page's title and meta
   description (what a feed carries), the full text that plus the extracted text as ``content``.
   Pages and rule hits per variant, and every page that only the full text matched, with the
   words that matched (to be judged by reading: the pages are general web pages, not a labelled
   raw-materials set).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from monitor.app.pipeline import Pipeline  # noqa: E402
from monitor.ingest.extract import extract_main_text  # noqa: E402
from monitor.ingest.fetch import Fetcher, FetchLimits  # noqa: E402
from monitor.ingest.fulltext import FullTextFetcher  # noqa: E402
from monitor.matching.loader import load_rules  # noqa: E402
from monitor.matching.match import Matcher, compile_rules  # noqa: E402
from monitor.model import Entry, Feed  # noqa: E402
from monitor.resources import shipped_rules_dir  # noqa: E402
from monitor.store import open_storage  # noqa: E402
from tests.fulltext_eval import GoldPage, Score, by_language, load_gold, score_page  # noqa: E402

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- 1. quality -------------------------------------------------------------------------------


def ours(raw: bytes, url: str) -> str | None:
    return extract_main_text(raw, url=url, content_type=HTML).text


def trafilatura_fast(raw: bytes, url: str) -> str | None:
    import trafilatura

    out: Any = trafilatura.extract(raw, url=url, include_comments=False, fast=True)
    return out if isinstance(out, str) else None


def readability(raw: bytes, url: str) -> str | None:
    import lxml.html
    from readability import Document
    from trafilatura.utils import decode_file

    summary = Document(decode_file(raw)).summary(html_partial=True)
    text: str = lxml.html.fromstring(summary).text_content()
    return text


def combined(raw: bytes, url: str) -> str | None:
    return ours(raw, url) or readability(raw, url)


def quality(pages: list[GoldPage]) -> None:
    variants: dict[str, Callable[[bytes, str], str | None]] = {
        "trafilatura (as the monitor calls it)": ours,
        "trafilatura fast=True": trafilatura_fast,
    }
    try:
        import readability as _  # noqa: F401

        variants["readability-lxml (baseline)"] = readability
        variants["trafilatura, else readability-lxml"] = combined
    except ImportError:
        print("(readability-lxml not installed: no baseline; pip install readability-lxml)")
    raws = [p.page.read_bytes() for p in pages]
    base_cpu: float | None = None
    print(
        f"\n1. Extraction quality, {len(pages)} pages "
        f"({sum(p.language == 'de' for p in pages)} de, "
        f"{sum(p.language == 'en' for p in pages)} en)"
    )
    print(
        f"{'variant':<38} {'lang':<4} {'snippet P/R/F1':<20} {'token P/R/F1':<20} "
        "empty  CPU ms/page  x baseline"
    )
    rows = []
    for name, fn in variants.items():
        started, wall = cpu(), time.perf_counter()
        scores: list[Score] = []
        empty = 0
        for raw, page in zip(raws, pages, strict=True):
            try:
                text = fn(raw, page.url)
            except Exception:
                text = None
            empty += not text
            scores.append(score_page(page, text))
        spent = cpu() - started
        rows.append((name, by_language(pages, scores), empty, spent, time.perf_counter() - wall))
        if "baseline" in name:
            base_cpu = spent
    for name, langs, empty, spent, wall in rows:
        ratio = f"{spent / base_cpu:.2f}x" if base_cpu else "-"
        for lang in ("de", "en", "all"):
            s = langs[lang]
            sp, sr, sf = s.snippet
            tp, tr, tf = s.token
            print(
                f"{name if lang == 'de' else '':<38} {lang:<4} {sp:.3f}/{sr:.3f}/{sf:.3f}    "
                f"{tp:.3f}/{tr:.3f}/{tf:.3f}    "
                + (
                    f"{empty:>5}  {1000 * spent / len(pages):>7.1f}      {ratio} "
                    f"(wall {wall:.1f} s)"
                    if lang == "all"
                    else ""
                )
            )


# --- 2. cost in a poll ------------------------------------------------------------------------


def teaser_feed(pages: list[GoldPage], base: str) -> bytes:
    items = "".join(
        f"<item><guid>{p.page.name}</guid><title>{escape(p.title or p.page.name)}</title>"
        f"<link>{base}/p/{p.page.name}</link><description>Teaser.</description>"
        "<pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate></item>"
        for p in pages
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Teasers'
        f"</title><link>{base}/</link>{items}</channel></rss>"
    ).encode()


class InlineExecutor(Executor):
    """Runs the extraction in the event loop's own thread: the comparison for the worker thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(fn(*args, **kwargs))
        return done


def poll_once(
    url: str, matcher: Matcher, fulltext: bool, work: Path, *, inline: bool = False
) -> dict[str, float]:
    name = ("inline" if inline else "ft") if fulltext else "plain"
    store = open_storage(f"sqlite:///{work / (name + '.db')}")
    gaps: list[float] = []

    async def go() -> Any:
        async with Fetcher(FetchLimits(), trust_env=False) as fetcher:
            ft = FullTextFetcher(fetcher) if fulltext else None
            if ft is not None and inline:
                ft._pool.shutdown()
                ft._pool = InlineExecutor()  # type: ignore[assignment]
            pipe = Pipeline(store, fetcher, matcher, clock=lambda: NOW, fulltext=ft)
            done = asyncio.Event()

            async def ticker() -> None:
                last = time.perf_counter()
                while not done.is_set():
                    await asyncio.sleep(0.005)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            tick = asyncio.create_task(ticker())
            try:
                return await pipe.poll(Feed(url=url, fulltext=fulltext)), ft
            finally:
                done.set()
                await tick
                if ft is not None:
                    ft.close()

    started, wall = cpu(), time.perf_counter()
    report, ft = asyncio.run(go())
    spent, took = cpu() - started, time.perf_counter() - wall
    store.close()
    return {
        "cpu": spent,
        "wall": took,
        "new": report.new,
        "ok": report.fulltext_ok,
        "failed": report.fulltext_failed,
        "extract_cpu": ft.cpu_seconds if ft else 0.0,
        "max_gap": max(gaps) if gaps else 0.0,
        "matches": report.matches,
    }


def cost(pages: list[GoldPage], n: int, articles: Path) -> None:
    chosen = random.Random(20261202).sample(pages, n)
    parent, child = mp.Pipe()
    # The feed names the server's own address: start it, then hand it the feed.
    probe_parent, probe_child = mp.Pipe()
    proc = mp.Process(target=_serve_two_step, args=(str(articles / "pages"), probe_child, child))
    proc.start()
    base = probe_parent.recv()
    probe_parent.send(teaser_feed(chosen, base))
    base = parent.recv()
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            plain = poll_once(f"{base}/feed.xml", matcher, False, work)
            full = poll_once(f"{base}/feed.xml", matcher, True, work)
            inline = poll_once(f"{base}/feed.xml", matcher, True, work, inline=True)
    finally:
        parent.send("stop")
        proc.join(5)
    print(
        f"\n2. One poll of a {n}-item teaser feed on 127.0.0.1, fresh SQLite store, shipped "
        "rules (CPU of this process; the page server is another process)"
    )
    print(
        f"{'':<26} {'CPU s':>7} {'wall s':>7} {'entries':>8} {'full text ok/failed':>20} "
        f"{'matches':>8} {'loop max pause ms':>18}"
    )
    for name, r in (
        ("teaser only (baseline)", plain),
        ("fulltext: true", full),
        ("same, extraction inline", inline),
    ):
        print(
            f"{name:<26} {r['cpu']:>7.2f} {r['wall']:>7.2f} {int(r['new']):>8} "
            f"{int(r['ok']):>12}/{int(r['failed']):<7} {int(r['matches']):>8} "
            f"{1000 * r['max_gap']:>18.1f}"
        )
    extra = full["cpu"] - plain["cpu"]
    print(
        f"full text costs {full['cpu'] / plain['cpu']:.1f}x the teaser poll's CPU "
        f"({full['wall'] / plain['wall']:.1f}x wall): {1000 * extra / n:.1f} ms CPU more per "
        f"entry, of which extraction {1000 * full['extract_cpu'] / n:.1f} ms (thread CPU)"
    )


def _serve_two_step(pages_dir: str, probe: Any, conn: Any) -> None:
    """Bind first (the feed must carry the port), then serve the feed the parent made."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        feed = b""

        def do_GET(self) -> None:
            if self.path == "/feed.xml":
                body, kind = Handler.feed, "application/rss+xml; charset=utf-8"
            else:
                path = Path(pages_dir) / Path(self.path).name
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, kind = path.read_bytes(), HTML
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 512
        daemon_threads = True

    import threading

    with Server(("127.0.0.1", 0), Handler) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        probe.send(base)
        Handler.feed = probe.recv()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        conn.send(base)
        conn.recv()
        server.shutdown()


# --- 3. matching: teaser vs full text ---------------------------------------------------------


def matching(pages: list[GoldPage]) -> None:
    import trafilatura

    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    counts = {"teaser": [0, 0], "full text": [0, 0]}
    only_full: list[str] = []
    for page in pages:
        raw = page.page.read_bytes()
        meta = trafilatura.extract_metadata(raw)
        title = (meta.title if meta and meta.title else page.title) or ""
        teaser = (meta.description if meta and meta.description else "") or ""
        text = ours(raw, page.url) or ""
        teaser_entry = Entry("f", page.page.name, title, page.url, teaser, "", NOW)
        full_entry = Entry("f", page.page.name, title, page.url, teaser, text, NOW)
        a = matcher.match(teaser_entry)
        b = matcher.match(full_entry)
        for key, found in (("teaser", a), ("full text", b)):
            counts[key][0] += bool(found)
            counts[key][1] += len(found)
        new = [m for m in b if m.rule_id not in {x.rule_id for x in a}]
        if new:
            words = "; ".join(
                f"{m.rule_id} {m.score}: " + ", ".join(repr(h.text) for h in m.hits[:2])
                for m in new
            )
            only_full.append(f"  {page.page.name} {page.language} {title[:50]!r}: {words}")
    print(
        f"\n3. Shipped rules on {len(pages)} pages: teaser (title + meta description) vs "
        "teaser + full text as content"
    )
    for key, (matched, hits) in counts.items():
        print(f"  {key:<10} {matched:>4} pages matched, {hits:>4} rule hits")
    print(f"  matched only with the full text ({len(only_full)} pages):")
    for line in only_full:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--pages", type=int, default=60, help="items in the poll of part 2")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-matching", action="store_true")
    args = parser.parse_args()
    articles = args.shared / "corpus" / "articles"
    pages = load_gold(articles)
    load = os.getloadavg()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    import trafilatura

    print(f"trafilatura {trafilatura.__version__}")
    if not args.skip_quality:
        quality(pages)
    cost(pages, args.pages, articles)
    if not args.skip_matching:
        matching(pages)
    load = os.getloadavg()
    print(f"\nload at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
