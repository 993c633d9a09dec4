"""The web view in headless Chromium (Debian's package, Playwright's client): the real app served
by uvicorn on 127.0.0.1 over a real SQLite store. Stream, filter, story page, search in German and
English; hostile feed text shows as text on every page and no script of it runs; the security
headers are sent. ``monitor web`` refuses a non-loopback bind without a credential."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.model import Entry, FeedState, StoryAssignment
from monitor.store import open_storage
from monitor.store.base import Storage
from monitor.web.app import create_app
from monitor.web.security import SECURITY_HEADERS, WebBindError, check_bind
from tests.fixtures.resources import need

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
DE = "https://de.example/feed.xml"
EN = "https://en.example/rss"
EVIL = "https://evil.example/feed"
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">Gallium'


def _entry(feed: str, entry_id: str, title: str, link: str, hours: int, summary: str = "") -> Entry:
    return Entry(
        feed_url=feed,
        id=entry_id,
        title=title,
        link=link,
        summary=summary,
        content="",
        published=NOW - timedelta(hours=hours),
        language="de" if feed == DE else "en",
    )


def fill(db: Path) -> None:
    with open_storage(f"sqlite:///{db}") as store:
        fill_store(store)


def fill_store(store: Storage, rule_paths: list[Path] | None = None) -> None:
    """German and English stories and a hostile one, matched by the rules of ``rule_paths``
    (default: the shipped pack)."""
    polls = [
        (DE, _entry(DE, "d1", "China verhängt Ausfuhrbeschränkungen für Gallium",
                    "https://de.example/a", 3), "s-gallium", "de.example"),
        (EN, _entry(EN, "e1", "China curbs gallium exports", "https://en.example/b", 2),
         "s-gallium", "en.example"),
        (EN, _entry(EN, "e2", "Copper output rises in Chile", "https://en.example/c", 5),
         "s-copper", "en.example"),
        (EVIL, _entry(EVIL, "x1", HOSTILE, "javascript:window.pwned=1", 1,
                      summary='<a href="javascript:window.pwned=1">click</a> Gallium'),
         "s-evil", "evil.example"),
    ]  # fmt: skip
    from monitor.matching.loader import load_rules
    from monitor.matching.match import compile_rules
    from monitor.resources import shipped_rules_dir

    matcher = compile_rules(load_rules(rule_paths or [shipped_rules_dir()]))
    for feed, e, story, outlet in polls:
        lang = e.language or "en"
        a = StoryAssignment(feed, e.id, story, e.published, lang, outlet, outlet)
        store.record_poll(FeedState(feed), [e], {e.id: matcher.match(e)}, NOW, stories=[a])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("web") / "monitor.db"
    fill(db)
    with open_storage(f"sqlite:///{db}") as store, serve(create_app(store, now=lambda: NOW)) as url:
        yield url


def test_security_headers_and_escaped_feed_text(base_url: str) -> None:
    for path in ("/", "/story/s-evil", "/search?q=gallium", "/static/web.js"):
        r = httpx.get(base_url + path)
        assert r.status_code == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value, (path, name)
        if path != "/static/web.js":
            assert "<script>window.pwned" not in r.text, path
            assert 'href="javascript:' not in r.text.lower(), path
            assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in r.text, path
            assert "<script>" not in r.text  # only the one external script tag
            assert r.text.count('<script src="/static/web.js" defer></script>') == 1


def test_stream_filter_story_and_search_in_chromium(base_url: str) -> None:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import Dialog, sync_playwright

    assert CHROMIUM
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 900})

            def on_dialog(d: Dialog) -> None:
                dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", on_dialog)
            page.goto(base_url + "/")
            titles = page.locator(".story-title").all_inner_texts()
            assert len(titles) == 3
            assert HOSTILE in titles  # the hostile title shows as text
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            # Filter by language: the select submits itself (web.js) and the stream narrows.
            page.select_option("select[name=language]", "de")
            page.wait_for_url("**language=de**")
            assert page.locator(".story-title").all_inner_texts() == [
                "China verhängt Ausfuhrbeschränkungen für Gallium"
            ]
            page.locator(".story-title").first.click()
            page.wait_for_url("**/story/s-gallium")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            members = page.locator(".member a").all_inner_texts()
            assert members == [
                "China verhängt Ausfuhrbeschränkungen für Gallium",
                "China curbs gallium exports",
            ]
            assert "de.example, en.example" in page.locator("p.meta").inner_text()
            # Search in German (folded like the matcher) and in English.
            page.fill("input[name=q]", "AUSFUHRBESCHRAENKUNGEN")
            page.click(".search button")
            page.wait_for_url("**/search?q=**")
            assert page.locator(".result a").all_inner_texts() == [
                "China verhängt Ausfuhrbeschränkungen für Gallium"
            ]
            page.goto(base_url + "/search?q=gallium")
            results = page.locator(".result").all_inner_texts()
            assert len(results) == 3 and HOSTILE in results[0]
            # The hostile story: its title is text, its javascript: link is no anchor.
            page.goto(base_url + "/story/s-evil")
            assert page.locator(".member span").first.inner_text() == HOSTILE
            assert page.locator(".member a").count() == 0
            assert page.evaluate("window.pwned") is None
            assert page.locator("img").count() == 0
        finally:
            browser.close()
    assert dialogs == []


def test_only_loopback_binds_without_a_credential() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    check_bind("0.0.0.0", "secret")
    with pytest.raises(WebBindError, match="MONITOR_WEB_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(WebBindError):
        check_bind("192.168.1.10", "")


def test_a_token_is_required_when_configured(tmp_path: Path) -> None:
    with (
        open_storage(f"sqlite:///{tmp_path / 'm.db'}") as store,
        serve(create_app(store, token="s3cret")) as url,
    ):
        assert httpx.get(url + "/").status_code == 401
        wrong = httpx.get(url + "/", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and wrong.headers["x-frame-options"] == "DENY"
        ok = httpx.get(url + "/", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "No stories." in ok.text


def test_feed_health_failing_and_quiet_first(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    fill(db)
    with open_storage(f"sqlite:///{db}") as store:
        broken = FeedState(
            "https://broken.example/feed", last_error='HTTP 503 <b>"down"</b>', error_count=4
        )
        store.save_feed_state(broken)
        store.save_feed_state(FeedState("https://quiet.example/feed", last_success=NOW))
        with serve(create_app(store, now=lambda: NOW)) as url:
            page = httpx.get(url + "/feeds")
            by_errors = httpx.get(url + "/feeds?sort=url")
    assert page.status_code == 200
    order = [u for u in ("broken.example", "quiet.example", "de.example", "en.example")]
    positions = [page.text.index(f'<span class="meta">https://{u}') for u in order]
    assert positions == sorted(positions), "failing, then quiet, then the rest"
    assert "HTTP 503 &lt;b&gt;&#34;down&#34;&lt;/b&gt;" in page.text
    assert '<tr class="feed failing">' in page.text and '<tr class="feed quiet">' in page.text
    urls = [by_errors.text.index(f'<span class="meta">https://{u}') for u in sorted(order)]
    assert urls == sorted(urls)


def test_monitor_web_refuses_a_public_bind_without_a_credential(tmp_path: Path) -> None:
    from tests.support import run_monitor

    out = run_monitor("web", "--host", "0.0.0.0", cwd=tmp_path, env={"MONITOR_WEB_TOKEN": ""})
    assert out.returncode != 0
    assert "binding 0.0.0.0 (not loopback) needs a credential" in out.stderr


def test_monitor_web_serves_the_store_as_a_process(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "web", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "NO_PROXY": "*"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/feeds", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "monitor web did not answer"
                time.sleep(0.2)
        assert r.status_code == 200 and "<h1>Feeds</h1>" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    # A clean stop: uvicorn shuts down gracefully, the store is closed (SQLite removes its
    # write-ahead log when the last connection closes), exit 0.
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert list(tmp_path.glob("*.db")) and not list(tmp_path.glob("*.db-wal"))


def test_an_unknown_story_is_404_and_its_id_escaped(base_url: str) -> None:
    r = httpx.get(base_url + "/story/<script>alert(1)</script>")
    assert r.status_code == 404
    assert "<script>alert" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "chosen"),
    [
        (None, None, None, "en"),
        (None, None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, None, "fr-FR,en;q=0.5,de;q=0.7", "de"),
        (None, None, "fr-FR", "en"),
        (None, None, "de;q=0", "en"),
        (None, "de", "en-US", "de"),
        ("en", "de", "de-DE", "en"),
        ("xx", None, "de", "de"),
    ],
)
def test_the_language_of_a_request(
    query: str | None, cookie: str | None, accept: str | None, chosen: str
) -> None:
    from monitor.web.l10n import choose

    assert choose(query, cookie, accept) == chosen


def test_german_ui_by_the_browsers_language_and_switchable(base_url: str) -> None:
    """A German browser gets German pages; the switch link gives English, and the choice is
    remembered (cookie) on the next pages. 390 px still fits."""
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    assert CHROMIUM
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(locale="de-DE", viewport={"width": 390, "height": 900})
            page = context.new_page()
            page.goto(base_url + "/")
            assert page.locator("h1").inner_text() == "Meldungen"
            assert page.locator("html").get_attribute("lang") == "de"
            assert page.locator("label").nth(1).inner_text().startswith("Sprache")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.goto(base_url + "/feeds")
            assert "Fehler in Folge" in page.locator("thead").inner_text()
            page.click("a.lang")  # "English"
            page.wait_for_url("**lang=en**")
            assert page.locator("h1").inner_text() == "Feeds"
            assert "Errors in a row" in page.locator("thead").inner_text()
            page.goto(base_url + "/")  # no ?lang: the cookie decides now
            assert page.locator("h1").inner_text() == "Stories"
            assert page.locator("a.lang").inner_text() == "Deutsch"
        finally:
            browser.close()


def test_the_story_page_marks_the_matched_words_and_explains_every_hit(base_url: str) -> None:
    r = httpx.get(base_url + "/story/s-gallium")
    assert r.status_code == 200
    # The German headline with its matched words marked, inside the link.
    assert "<mark>Ausfuhrbeschränkungen</mark>" in r.text and "<mark>Gallium</mark>" in r.text
    assert 'class="rule-id">gallium-germanium</span>' in r.text
    assert "„Gallium“ in title" in r.text
    de = httpx.get(base_url + "/story/s-gallium?lang=de")
    assert "„Gallium“ in Titel" in de.text
    # The hostile headline: marked pieces stay text.
    evil = httpx.get(base_url + "/story/s-evil")
    assert "<mark>Gallium</mark>" in evil.text
    assert (
        "&lt;script&gt;window.pwned=1&lt;/script&gt;" in evil.text
        and "<script>window" not in evil.text
    )
    # Its summary is shown too, the matched word marked, the markup in it as text.
    summary = evil.text.split('<p class="summary">', 1)[1].split("</p>", 1)[0]
    assert summary.endswith("click&lt;/a&gt; <mark>Gallium</mark>"), summary
    assert "<a href" not in summary


def test_a_long_summary_is_cut_at_a_word_and_marks_before_the_cut_stay() -> None:
    from monitor.model import Hit
    from monitor.web.highlight import clipped, marked

    text = "Gallium " + "word " * 200
    short = clipped(text)
    assert len(short) <= 402 and short.endswith("word …") and text.startswith(short[:-2])
    hits = [Hit("c", "v", "summary", 0, 7, "Gallium"), Hit("c", "v", "summary", 900, 907, "x")]
    assert marked(short, hits, field="summary")[0] == ("Gallium", True)
    assert clipped("short text") == "short text"


def test_marked_pieces() -> None:
    from monitor.model import Hit
    from monitor.web.highlight import marked

    hits = [Hit("c", "v", "title", 0, 5, "China"), Hit("d", "v", "title", 3, 9, "na cur")]
    hits.append(Hit("e", "v", "summary", 0, 2, "xx"))
    assert marked("China curbs gallium", hits) == [("China cur", True), ("bs gallium", False)]
    assert marked("abc", [Hit("c", "v", "title", 1, 9, "bad")]) == [("abc", False)]
