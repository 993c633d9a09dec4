"""Full text for ``fulltext: true`` feeds: real article pages (``../shared/corpus/articles``)
served from 127.0.0.1 through a feed on 127.0.0.1, fetched within the fetch limits, extracted,
cached by URL and matched as ``content``; failed pages stay a per-entry state.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from html import escape
from pathlib import Path

import pytest

from monitor.app.pipeline import EntryMatcher, Pipeline, PollReport
from monitor.app.stories import story_entry
from monitor.ingest.extract import extract_main_text, looks_like_html
from monitor.ingest.fetch import Fetcher, FetchLimits
from monitor.ingest.fulltext import FullTextFetcher, article_url
from monitor.matching.loader import load_rules
from monitor.matching.match import compile_rules
from monitor.model import UTC, Entry, Feed, FullTextState
from monitor.resources import shipped_rules_dir
from monitor.store import Storage
from tests.fixtures.feed_server import FeedServer, RequestHandler
from tests.fulltext_eval import GoldPage, by_language, load_gold, norm, score_page
from tests.support import run_monitor, wait_for

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
# Real pages of the shared set (see ../shared/corpus/articles/README.md), chosen because the
# extractor finds every gold snippet of them: a German report that names rare earths only in
# its body, and an English one.
MADAGASKAR = "p0505.html"
TELESCOPE = "p0571.html"
CORONA = "p0356.html"


@pytest.fixture(scope="module")
def gold(corpus_dir: Path) -> dict[str, GoldPage]:
    return {p.page.name: p for p in load_gold(corpus_dir / "articles")}


def rss(items: Sequence[tuple[str, str, str | None, str]]) -> bytes:
    """(guid, title, link or None, teaser) -> an RSS document."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{escape(title)}</title>"
        + (f"<link>{escape(link)}</link>" if link else "")
        + f"<description>{escape(teaser)}</description>"
        "<pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item>"
        for guid, title, link, teaser in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Teaser</title>'
        f"<link>https://e.org/</link>{body}</channel></rss>"
    ).encode()


def serve(server: FeedServer, path: str, page: GoldPage) -> str:
    server.add(path, page.page.read_bytes(), content_type=HTML)
    return server.url(path)


class Harness:
    def __init__(self, storage: Storage, limits: FetchLimits | None = None) -> None:
        self.storage = storage
        self.limits = limits or FetchLimits(
            connect_timeout=1, read_timeout=1, total_timeout=2, max_body_bytes=500_000
        )
        self.fetched = 0

    def poll(self, *feeds: Feed, matcher: EntryMatcher | None = None) -> list[PollReport]:
        async def go() -> list[PollReport]:
            async with Fetcher(self.limits, trust_env=False) as fetcher:
                fulltext = FullTextFetcher(fetcher)
                try:
                    pipe = Pipeline(
                        self.storage,
                        fetcher,
                        matcher,
                        clock=lambda: T0,
                        rng=random.Random(1),
                        fulltext=fulltext,
                    )
                    return await pipe.poll_many(feeds)
                finally:
                    self.fetched += fulltext.fetched
                    fulltext.close()

        return asyncio.run(go())


@pytest.fixture
def harness(storage: Storage) -> Iterator[Harness]:
    yield Harness(storage)


def stored(storage: Storage, feed: Feed) -> dict[str, Entry]:
    return {e.id: e for e in storage.iter_entries(feed_url=feed.url)}


# --- extraction (pure) ------------------------------------------------------------------------


@pytest.mark.shared
def test_the_main_text_of_real_pages_holds_the_gold_and_leaves_boilerplate_out(
    gold: dict[str, GoldPage],
) -> None:
    for name in (MADAGASKAR, TELESCOPE):
        page = gold[name]
        got = extract_main_text(page.page.read_bytes(), url=page.url, content_type=HTML)
        assert got.error is None and got.text
        text = norm(got.text)
        assert all(norm(s) in text for s in page.with_), name
        assert not any(norm(s) in text for s in page.without), name


def test_what_is_not_an_html_page_fails_with_a_reason() -> None:
    pdf = extract_main_text(b"%PDF-1.7\n...", url="http://x/a.pdf", content_type="application/pdf")
    assert pdf.text is None and pdf.error and "not an HTML page" in pdf.error
    assert "application/pdf" in pdf.error
    sniffed = extract_main_text(b"%PDF-1.7\n<p>x</p>", url="u", content_type=None)
    assert sniffed.text is None and "not an HTML page" in (sniffed.error or "")
    js = extract_main_text(b'{"a": 1}', url="u", content_type="application/json")
    assert js.text is None and "application/json" in (js.error or "")
    empty = extract_main_text(b"  ", url="u", content_type="text/html")
    assert empty.text is None and "empty" in (empty.error or "")
    nothing = extract_main_text(
        b"<html><body><nav>Home</nav></body></html>", url="u", content_type="text/html"
    )
    assert nothing.text is None and "no main text" in (nothing.error or "")


def test_a_generic_content_type_is_sniffed() -> None:
    paragraph = "<p>" + "Lithium aus Portugal wird ab 2027 gefördert. " * 12 + "</p>"
    page = f"<!DOCTYPE html><html><head><title>T</title></head><body><article>{paragraph}"
    page += "</article></body></html>"
    assert looks_like_html(page.encode())
    got = extract_main_text(page.encode(), url="u", content_type="application/octet-stream")
    assert got.text and "Lithium aus Portugal" in got.text
    assert not looks_like_html(b"\x89PNG\r\n\x1a\n<html>")


def test_only_http_links_are_article_urls() -> None:
    assert article_url("https://e.org/a") == "https://e.org/a"
    assert article_url("http://127.0.0.1:8000/x?y=1") is not None
    for link in (None, "", "file:///etc/passwd", "/etc/passwd", "ftp://e.org/a", "http://"):
        assert article_url(link) is None, link


def test_an_entry_without_a_summary_shows_the_story_layer_its_contents_lead() -> None:
    body = "Madagaskar vergibt neue Lizenzen. " + "Weitere Einzelheiten folgen. " * 40
    entry = Entry("f", "1", "Titel", None, "", body, T0)
    lead = story_entry(entry).summary
    assert lead.startswith("Madagaskar vergibt neue Lizenzen.") and 30 < len(lead) <= 300
    with_summary = Entry("f", "2", "Titel", None, "Der Teaser.", body, T0)
    assert story_entry(with_summary).summary == "Der Teaser."


# --- one poll: real pages, real failures ------------------------------------------------------


@pytest.mark.shared
def test_entries_get_their_pages_text_and_each_failure_stays_with_its_entry(
    harness: Harness, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    madagaskar = serve(feed_server, "/a/madagaskar", gold[MADAGASKAR])
    telescope = serve(feed_server, "/a/telescope", gold[TELESCOPE])
    feed_server.add(
        "/a/huge", b"<html><body><p>" + b"x" * 600_000 + b"</p></body></html>", content_type=HTML
    )
    feed_server.add("/a/report.pdf", b"%PDF-1.7\n" + b"0" * 1000, content_type="application/pdf")
    items = [
        ("m", "Madagaskar: Wo Françafrique endet", madagaskar, "Die ehemalige Kolonie."),
        ("t", "Gigantic Chinese telescope opens", telescope, "FAST opens to the world."),
        ("404", "Gone", feed_server.url("/status/404"), "A page that is not there."),
        ("hang", "Slow", feed_server.url("/hang"), "A server that never answers."),
        ("huge", "Huge", feed_server.url("/a/huge"), "A page over fetch.max_body."),
        ("pdf", "PDF", feed_server.url("/a/report.pdf"), "Not a web page."),
        ("file", "Local", "file:///etc/passwd", "A link to a local file."),
        ("urn:nolink", "No link", None, "An item without a link."),
    ]
    feed_server.add("/teasers.xml", rss(items))
    feed = Feed(url=feed_server.url("/teasers.xml"), fulltext=True)
    plain = Feed(url=feed_server.url("/feed.xml"))  # another feed in the same cycle

    started = time.monotonic()
    report, other = harness.poll(feed, plain)
    assert time.monotonic() - started < 15
    assert report.status == "ok" and report.error is None, report
    assert (report.new, report.fulltext_ok, report.fulltext_failed) == (8, 2, 4)
    assert other.status == "ok" and other.new == 2

    entries = stored(harness.storage, feed)
    assert len(entries) == 8
    for guid, name in (("m", MADAGASKAR), ("t", TELESCOPE)):
        content = norm(entries[guid].content)
        assert all(norm(s) in content for s in gold[name].with_)
        assert entries[guid].summary  # the teaser stays the summary
    for guid in ("404", "hang", "huge", "pdf", "file", "urn:nolink"):
        assert entries[guid].content == "", guid  # the feed's own (empty) content
    assert not any("/etc/passwd" in r.path for r in feed_server.requests)

    pages = harness.storage.fulltexts(
        [
            madagaskar,
            telescope,
            *(feed_server.url(p) for p in ("/status/404", "/hang", "/a/huge", "/a/report.pdf")),
        ]
    )
    assert pages[madagaskar].state is FullTextState.OK and pages[madagaskar].seconds > 0
    errors = {u.rsplit("/", 1)[-1]: p.error or "" for u, p in pages.items() if not p.ok}
    assert "HTTP 404" in errors["404"] and "article page" in errors["404"]
    assert "took longer" in errors["hang"] or "sent nothing" in errors["hang"]
    assert "larger than 500000 bytes" in errors["huge"]
    assert "not an HTML page" in errors["report.pdf"]
    assert all("matched on the feed's own text" in e for e in errors.values())
    counts = harness.storage.fulltext_counts()[feed.url]
    assert (counts[FullTextState.OK], counts[FullTextState.FAILED]) == (2, 4)
    state = harness.storage.feed_state(feed.url)
    assert state is not None and state.last_error is None and state.error_count == 0


@pytest.mark.shared
def test_cached_pages_are_not_fetched_again_and_entries_do_not_turn_changed(
    harness: Harness, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    madagaskar = serve(feed_server, "/a/madagaskar", gold[MADAGASKAR])
    telescope = serve(feed_server, "/a/telescope", gold[TELESCOPE])
    first = [
        ("m", "Madagaskar", madagaskar, "Teaser."),
        ("404", "Gone", feed_server.url("/status/404"), "Missing."),
    ]
    feed_server.add("/teasers.xml", rss(first))
    feed = Feed(url=feed_server.url("/teasers.xml"), fulltext=True)
    [one] = harness.poll(feed)
    assert (one.new, one.fulltext_ok, one.fulltext_failed) == (2, 1, 1)

    # The next document: the same two items and a new one (a second feed links the first page).
    feed_server.add("/teasers.xml", rss([*first, ("t", "Telescope", telescope, "Teaser.")]))
    other = Feed(url=feed_server.url("/other.xml"), fulltext=True)
    feed_server.add("/other.xml", rss([("m2", "Madagaskar (copy)", madagaskar, "Copy.")]))
    two, copy = harness.poll(feed, other)
    assert (two.new, two.changed, two.fulltext_ok, two.fulltext_failed) == (1, 0, 1, 0)
    assert (copy.new, copy.fulltext_ok) == (1, 1)
    assert len(feed_server.requests_for("/a/madagaskar")) == 1  # cached by URL, for both feeds
    assert len(feed_server.requests_for("/a/telescope")) == 1
    assert len(feed_server.requests_for("/status/404")) == 1  # an unchanged entry: not retried
    assert harness.fetched == 3
    m = stored(harness.storage, other)["m2"]
    assert "Madagaskar" in m.content and len(m.content) > 1000


@pytest.mark.shared
def test_two_feeds_of_one_cycle_that_link_a_new_page_share_one_fetch(
    harness: Harness, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    url = serve(feed_server, "/a/telescope", gold[TELESCOPE])
    feeds = []
    for name in ("one", "two"):
        feed_server.add(f"/{name}.xml", rss([(f"{name}-t", "Telescope", url, "Teaser.")]))
        feeds.append(Feed(url=feed_server.url(f"/{name}.xml"), fulltext=True))
    reports = harness.poll(*feeds)
    assert [r.fulltext_ok for r in reports] == [1, 1]
    assert len(feed_server.requests_for("/a/telescope")) == 1
    for feed, name in zip(feeds, ("one", "two"), strict=True):
        assert "Since testing began" in stored(harness.storage, feed)[f"{name}-t"].content


def test_a_page_fetched_lately_is_handed_to_the_next_feed_without_a_second_fetch(
    feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    """The race behind the shared fetch: the first feed's fetch has ended (no longer in
    flight) but its poll has not yet saved the page when the second feed asks. A failed page
    is tried again; after ``RECENT_FOR`` the memo is not used."""
    from datetime import timedelta

    from monitor.ingest.fulltext import RECENT_FOR

    url = serve(feed_server, "/a/telescope", gold[TELESCOPE])
    feed_server.add("/a/gone", b"", status=404)
    missing = feed_server.url("/a/gone")

    async def go() -> list[tuple[FullTextState, int]]:
        limits = FetchLimits(connect_timeout=1, read_timeout=2, total_timeout=4)
        async with Fetcher(limits, trust_env=False) as fetcher:
            fulltext = FullTextFetcher(fetcher)
            out = []
            try:
                for feed, now in [
                    ("one", T0),
                    ("two", T0 + timedelta(seconds=5)),
                    ("three", T0 + RECENT_FOR + timedelta(seconds=1)),
                ]:
                    got = await fulltext.get(
                        [url, missing], feed_url=feed_server.url(f"/{feed}.xml"), now=now
                    )
                    out.append((got[0].state, fulltext.fetched))
                    assert got[1].state is FullTextState.FAILED
            finally:
                fulltext.close()
            return out

    states = asyncio.run(go())
    assert [s for s, _ in states] == [FullTextState.OK] * 3
    assert [n for _, n in states] == [2, 3, 5]  # the page once, then again; the 404 each time
    assert len(feed_server.requests_for("/a/telescope")) == 2


@pytest.mark.shared
def test_article_fetches_keep_the_per_host_limit(
    storage: Storage, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    body = gold[TELESCOPE].page.read_bytes()

    def slow(h: RequestHandler) -> None:
        time.sleep(0.3)
        h.respond(200, body, {"Content-Type": HTML})

    items = []
    for i in range(6):
        feed_server.route(f"/slow/{i}", slow)
        items.append((f"s{i}", f"Page {i}", feed_server.url(f"/slow/{i}"), "Teaser."))
    feed_server.add("/teasers.xml", rss(items))
    limits = FetchLimits(connect_timeout=2, read_timeout=5, total_timeout=10, per_host=2)
    [report] = Harness(storage, limits).poll(
        Feed(url=feed_server.url("/teasers.xml"), fulltext=True)
    )
    assert report.fulltext_ok == 6
    assert feed_server.max_in_flight == 2  # in parallel, but never more than per_host


def test_a_feed_without_fulltext_fetches_no_article_page(
    harness: Harness, feed_server: FeedServer
) -> None:
    feed_server.add("/a/page", b"<html><body><p>Text</p></body></html>", content_type=HTML)
    feed_server.add("/teasers.xml", rss([("x", "X", feed_server.url("/a/page"), "Teaser.")]))
    [report] = harness.poll(Feed(url=feed_server.url("/teasers.xml")))
    assert report.new == 1 and (report.fulltext_ok, report.fulltext_failed) == (0, 0)
    assert feed_server.requests_for("/a/page") == []


@pytest.mark.shared
def test_the_full_text_finds_a_match_the_teaser_alone_misses(
    harness: Harness, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    matcher = compile_rules(load_rules([shipped_rules_dir()]))
    url = serve(feed_server, "/a/madagaskar", gold[MADAGASKAR])
    teaser = (
        "Die ehemalige französische Kolonie steht vor dem Niedergang. Das wird auch eine "
        "Chance für Madagaskar."
    )
    item = [("m", "Madagaskar: Wo Françafrique endet", url, teaser)]
    feed_server.add("/teasers.xml", rss(item))
    feed_server.add("/plain.xml", rss(item))
    with_text = Feed(url=feed_server.url("/teasers.xml"), fulltext=True)
    teaser_only = Feed(url=feed_server.url("/plain.xml"))
    harness.poll(with_text, teaser_only, matcher=matcher)
    assert harness.storage.matches_for(teaser_only.url, "m") == []
    rules = {m.rule_id: m for m in harness.storage.matches_for(with_text.url, "m")}
    assert "seltene-erden" in rules
    assert {h.field for h in rules["seltene-erden"].hits} == {"content"}
    assert any("seltenen Erden" in h.text for h in rules["seltene-erden"].hits)


def test_a_thread_extracts_while_the_event_loop_keeps_running(
    storage: Storage, feed_server: FeedServer
) -> None:
    """Extraction runs in a worker thread: the loop's ticks go on while a big page is parsed."""
    paragraphs = "".join(
        f"<p>Absatz {i}: Lithium, Kobalt und Graphit aus neuen Minen in Portugal. "
        "Die Genehmigung kam nach langen Verhandlungen mit den Gemeinden. </p>"
        for i in range(12000)
    )
    page = f"<html><body><article>{paragraphs}</article></body></html>".encode()
    feed_server.add("/a/big", page, content_type=HTML)
    feed_server.add("/teasers.xml", rss([("b", "Big", feed_server.url("/a/big"), "T.")]))
    gaps: list[float] = []
    extracting = threading.Event()

    async def go() -> PollReport:
        limits = FetchLimits(total_timeout=30, read_timeout=30, max_body_bytes=8_000_000)
        async with Fetcher(limits, trust_env=False) as fetcher:
            fulltext = FullTextFetcher(fetcher)
            pipe = Pipeline(storage, fetcher, clock=lambda: T0, fulltext=fulltext)
            done = asyncio.Event()

            def busy() -> bool:
                return any(t.is_alive() for t in fulltext._pool._threads)

            async def ticker() -> None:
                # Only the gaps that begin and end while the extraction thread is alive: the
                # poll's own work on the loop after it (matching the page's text) is not the
                # question here.
                last, was_busy = time.perf_counter(), busy()
                while not done.is_set():
                    await asyncio.sleep(0.01)
                    now, is_busy = time.perf_counter(), busy()
                    if is_busy:
                        extracting.set()
                        if was_busy:
                            gaps.append(now - last)
                    last, was_busy = now, is_busy

            tick = asyncio.create_task(ticker())
            try:
                return await pipe.poll(Feed(url=feed_server.url("/teasers.xml"), fulltext=True))
            finally:
                done.set()
                await tick
                fulltext.close()

    report = asyncio.run(go())
    assert report.fulltext_ok == 1
    page_cpu = storage.fulltexts([feed_server.url("/a/big")])[feed_server.url("/a/big")].seconds
    assert extracting.is_set() and page_cpu > 0.2
    # The loop ticked through the extraction: many ticks, none as long as the extraction.
    print(
        f"page CPU {page_cpu:.3f} s, ticks while extracting {len(gaps)}, longest {max(gaps):.3f} s"
    )
    assert len(gaps) > 10 and max(gaps) < page_cpu / 2


# --- a real process -----------------------------------------------------------------------------


@pytest.mark.shared
def test_monitor_once_fetches_full_text_and_shows_each_entrys_state(
    tmp_path: Path, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    url = serve(feed_server, "/a/madagaskar", gold[MADAGASKAR])
    items = [
        ("urn:m", "Madagaskar: Wo Françafrique endet", url, "Die ehemalige Kolonie."),
        ("urn:gone", "Gone", feed_server.url("/status/404"), "A page that is not there."),
    ]
    feed_server.add("/teasers.xml", rss(items))
    (tmp_path / "monitor.yaml").write_text(
        "feeds:\n"
        f"  - url: {feed_server.url('/teasers.xml')}\n    fulltext: true\n"
        f"  - {feed_server.url('/feed.xml')}\n",
        encoding="utf-8",
    )
    out = run_monitor("once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "full text 1 ok, 1 failed" in out.stdout
    assert "Madagaskar: Wo Françafrique endet" in out.stdout and "seltene-erden" in out.stdout
    assert "0 failed." in out.stdout  # no feed failed

    status = json.loads(run_monitor("status", "--format", "json", cwd=tmp_path).stdout)
    rows = {r["feed"]: r for r in status["feeds"]}
    ft = rows[feed_server.url("/teasers.xml")]["fulltext"]
    assert (ft["enabled"], ft["ok"], ft["failed"]) == (True, 1, 1)
    [failure] = ft["recent_failures"]
    assert failure["url"].endswith("/status/404") and "HTTP 404" in failure["error"]
    assert "fulltext" not in rows[feed_server.url("/feed.xml")]
    table = run_monitor("status", cwd=tmp_path).stdout
    assert "full text (article pages): 1 ok, 1 failed" in table

    shown = run_monitor("explain", "--entry", "urn:m", "--rule", "seltene-erden", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "full text: ok (" in shown.stdout and "matched as content" in shown.stdout
    gone = run_monitor(
        "explain", "--entry", "urn:gone", "--rule", "seltene-erden", "--json", cwd=tmp_path
    )
    assert gone.returncode == 0, gone.stderr
    data = json.loads(gone.stdout)
    assert data["fulltext"]["state"] == "failed" and "HTTP 404" in data["fulltext"]["error"]
    listed = run_monitor("feeds", "list", cwd=tmp_path).stdout
    assert "fulltext" in listed


# --- extraction quality on the shared set -----------------------------------------------------


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_extraction_quality_on_the_german_and_english_pages(
    gold: dict[str, GoldPage],
) -> None:
    """All 350 pages (215 de, 135 en); measured 0.92-0.94 (bench/RESULTS.md "Full text")."""
    pages = sorted(gold.values(), key=lambda p: p.page.name)
    scores = [
        score_page(p, extract_main_text(p.page.read_bytes(), url=p.url, content_type=HTML).text)
        for p in pages
    ]
    for language, s in by_language(pages, scores).items():
        precision, recall, f1 = s.snippet
        assert f1 >= 0.90 and precision >= 0.85 and recall >= 0.93, (language, s.snippet)
        assert s.token[2] >= 0.90, (language, s.token)


# --- configuration --------------------------------------------------------------------------


def test_fulltext_is_a_default_that_each_feed_may_override(tmp_path: Path) -> None:
    from monitor.config.settings import load_settings

    path = tmp_path / "monitor.yaml"
    path.write_text(
        "defaults: {fulltext: true}\n"
        "feeds:\n  - https://e.org/a.xml\n  - url: https://e.org/b.xml\n    fulltext: false\n",
        encoding="utf-8",
    )
    a, b = load_settings(path, env={}).feed_list()
    assert (a.fulltext, b.fulltext) == (True, False)
    path.write_text("feeds:\n  - url: https://e.org/a.xml\n    fulltext: maybe\n")
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="fulltext"):
        load_settings(path, env={})


def test_fulltext_without_the_extractor_installed_is_a_config_error(tmp_path: Path) -> None:
    """A real process in which trafilatura cannot be imported (as without the extra)."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['trafilatura'] = None\n", encoding="utf-8"
    )
    (tmp_path / "monitor.yaml").write_text(
        "feeds:\n  - url: https://e.org/a.xml\n    name: Teasers\n    fulltext: true\n",
        encoding="utf-8",
    )
    import os

    path = os.pathsep.join(p for p in (str(blocker), os.environ.get("PYTHONPATH")) if p)
    out = run_monitor("once", cwd=tmp_path, env={"PYTHONPATH": path})
    assert out.returncode == 2, out.stderr
    assert "Teasers" in out.stderr and "trafilatura is not installed" in out.stderr
    assert "raw-materials-monitor[fulltext]" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.shared
def test_the_service_wires_full_text_and_counts_it_in_the_metrics(
    tmp_path: Path, feed_server: FeedServer, gold: dict[str, GoldPage]
) -> None:
    from monitor.app.service import Service
    from monitor.config.settings import Settings

    url = serve(feed_server, "/a/telescope", gold[TELESCOPE])
    items = [("t", "Telescope", url, "Teaser."), ("g", "Gone", feed_server.url("/status/404"), "")]
    feed_server.add("/teasers.xml", rss(items))
    settings = Settings.model_validate(
        {
            "database": f"sqlite:///{tmp_path / 'm.db'}",
            "parse_workers": 0,
            "feeds": [{"url": feed_server.url("/teasers.xml"), "fulltext": True}],
        }
    )

    async def go() -> tuple[float, float]:
        async with Service(settings) as svc:
            report = await svc.cycle()
            assert [p.status for p in report.polls] == ["ok"]
            registry = svc.metrics.registry
            ok = registry.get_sample_value("monitor_fulltext_entries_total", {"state": "ok"})
            bad = registry.get_sample_value("monitor_fulltext_entries_total", {"state": "failed"})
            return ok or 0.0, bad or 0.0

    assert asyncio.run(go()) == (1.0, 1.0)


def test_the_charset_of_the_http_header_or_the_page_is_honoured() -> None:
    body = (
        "<html><head><title>Förderung</title></head><body><article><p>"
        + "Die Förderung von Lithium in Österreich beginnt 2027, sagt der Betreiber. " * 4
        + "</p></article></body></html>"
    )
    header = extract_main_text(
        body.encode("cp1252"), url="u", content_type="text/html; charset=windows-1252"
    )
    assert header.text and "Förderung von Lithium in Österreich" in header.text
    meta = body.replace("<head>", '<head><meta charset="iso-8859-1">').encode("latin-1")
    sniffed = extract_main_text(meta, url="u", content_type="text/html")
    assert sniffed.text and "Förderung von Lithium in Österreich" in sniffed.text
    unknown = extract_main_text(
        body.encode("utf-8"), url="u", content_type="text/html; charset=x-no-such-codec"
    )
    assert unknown.text and "Österreich" in unknown.text


# --- the daemon, stopped mid-extraction -----------------------------------------------------


def _big_page() -> bytes:
    paragraphs = "".join(
        f"<p>Absatz {i}: Lithium, Kobalt und Graphit aus neuen Minen in Portugal. "
        "Die Genehmigung kam nach langen Verhandlungen mit den Gemeinden. </p>"
        for i in range(8000)
    )
    return f"<html><body><article>{paragraphs}</article></body></html>".encode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_monitor_run_stopped_while_extracting_loses_nothing(
    tmp_path: Path, feed_server: FeedServer, sig: signal.Signals
) -> None:
    """SIGTERM stops the daemon promptly while a page is extracted (or fetched from a server
    that hangs); after SIGTERM or kill -9 the next `monitor once` stores every entry."""
    feed_server.add("/a/big", _big_page(), content_type=HTML)
    items = [
        ("urn:big", "Lithium aus Portugal", feed_server.url("/a/big"), "Teaser."),
        ("urn:hang", "Hängt", feed_server.url("/hang"), "Teaser."),
    ]
    feed_server.add("/teasers.xml", rss(items))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'm.db'}\n"
        "fetch: {total_timeout: 4s, read_timeout: 4s, max_body: 4MiB}\n"
        f"feeds:\n  - url: {feed_server.url('/teasers.xml')}\n    fulltext: true\n",
        encoding="utf-8",
    )
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(config), "run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "NO_PROXY": "*"},
    )
    try:
        wait_for(lambda: bool(feed_server.requests_for("/a/big")), timeout=30)
        time.sleep(0.3)  # the page is being read or extracted now
        started = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(20)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    if sig == signal.SIGTERM:
        assert code == 0, (tmp_path / "run.log").read_text()
        assert took < 15, took
    else:
        assert code == -signal.SIGKILL
    out = run_monitor("once", "--all", "-c", str(config), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    status = json.loads(
        run_monitor("status", "--format", "json", "-c", str(config), cwd=tmp_path).stdout
    )
    [row] = status["feeds"]
    assert row["entries"] == 2
    assert row["fulltext"]["ok"] == 1 and row["fulltext"]["failed"] == 1
    assert "longer than 4 s" in row["fulltext"]["recent_failures"][0]["error"]
