"""The web view's stream filters, archive and rule playground in headless Chromium (Debian's
package, Playwright's client), against the real app on 127.0.0.1 over a real SQLite store:

- the stream narrows by rule, language, outlet, date range and breaking flag, by query
  parameters alone (no script needed) and by the form;
- the archive shows what was sent with its state; a delivery that failed against a real local
  HTTP endpoint answering 500 is retried from the browser (POST with the CSRF token), the
  endpoint now answers 200, and the sender's next pass makes it sent;
- the playground validates a draft (line and key), shows the backtest diff with explanations,
  and saves the user's rule file (never the shipped pack), which a rule reload then picks up;
- hostile feed text stays text on every new page (no script of it runs, also in the frame that
  shows a sent HTML message).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from monitor.config.settings import Settings
from monitor.delivery.deliver import Deliverer
from monitor.model import DeliveryState, Entry, FeedState, StoryAssignment
from monitor.resources import shipped_rules_dir
from monitor.store import open_storage
from monitor.store.base import Storage
from monitor.web.app import create_app
from monitor.web.security import BODY_HEADERS, SECURITY_HEADERS
from tests.fixtures.http_sink import HttpSink, Reply
from tests.fixtures.resources import need
from tests.test_web_browser import CHROMIUM, HOSTILE, NOW, fill_store, serve

if TYPE_CHECKING:
    from playwright.sync_api import Dialog  # optional at run time (browser tests skip without it)

MY_RULES = """\
# My own rules: tried in the playground before they go live.
rules:
  - id: my-metals
    title: Gallium (mine)
    description: Gallium news for the test.
    any: [gallium-germanium]
"""
LITHIUM_OUTLETS = ("a.example", "b.example", "c.example")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fill_site(store: Storage, rule_paths: list[Path]) -> None:
    """The browser test's stories, and a lithium story that three outlets carried within
    an hour (breaking: the rule's usual story reaches one)."""
    from monitor.matching.loader import load_rules
    from monitor.matching.match import compile_rules

    fill_store(store, rule_paths)
    matcher = compile_rules(load_rules(rule_paths))
    for i, outlet in enumerate(LITHIUM_OUTLETS):
        feed = f"https://{outlet}/feed"
        e = Entry(
            feed_url=feed,
            id=f"li{i}",
            title=f"Lithium price jumps as mines close ({outlet})",
            link=f"https://{outlet}/lithium",
            summary="",
            content="",
            published=NOW - timedelta(minutes=50 - 20 * i),
            language="en",
        )
        a = StoryAssignment(feed, e.id, "s-lithium", e.published, "en", outlet, outlet)
        store.record_poll(FeedState(feed), [e], {e.id: matcher.match(e)}, NOW, stories=[a])


@dataclass
class Site:
    url: str
    store: Storage
    deliverer: Deliverer
    sink: HttpSink
    rule_file: Path
    rule_paths: list[Path]
    clock: Clock


@pytest.fixture
def site(tmp_path: Path, http_sink: HttpSink) -> Iterator[Site]:
    with open_site(tmp_path, http_sink) as opened:
        yield opened


@contextmanager
def open_site(tmp_path: Path, http_sink: HttpSink) -> Iterator[Site]:
    """The app served over a store with the stories, a user's rule file, and two alerts of
    which the first failed (the webhook endpoint answered 500); bench/screenshot_web.py too."""
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "my-rules.yaml"
    rule_file.write_text(MY_RULES, encoding="utf-8")
    rule_paths = [shipped_rules_dir(), rules]
    cfg = Settings.model_validate(
        {
            "channels": {
                "hook": {"type": "webhook", "url": f"{http_sink.url}/in", "retry_for": "1s"}
            },
            "subscriptions": [{"name": "eil", "channel": "hook", "mode": "alert"}],
        }
    )
    clock = Clock(NOW - timedelta(hours=6))
    with open_storage(f"sqlite:///{tmp_path / 'monitor.db'}") as store:
        deliverer = Deliverer(cfg, store, clock=clock, rng=random.Random(1))  # registers "eil"
        fill_site(store, rule_paths)
        clock.now = NOW + timedelta(minutes=1)
        http_sink.script(Reply(500, body=b"<b>down</b>"))
        deliverer.run(digests=False)
        app = create_app(store, now=clock, rule_paths=rule_paths)
        with serve(app) as url:
            yield Site(url, store, deliverer, http_sink, rule_file, rule_paths, clock)


def browser_page(pw: Any, width: int = 390, **context: Any) -> Any:
    assert CHROMIUM
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    page = browser.new_context(viewport={"width": width, "height": 900}, **context).new_page()
    dialogs: list[str] = []

    def on_dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.dialogs = dialogs
    return browser, page


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= 390)


def titles(page: Any) -> list[str]:
    return list(page.locator(".story-title").all_inner_texts())


GALLIUM_DE = "China verhängt Ausfuhrbeschränkungen für Gallium"


def test_the_stream_filters_without_script_and_by_the_form(site: Site) -> None:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = browser_page(pw, java_script_enabled=False)
        try:
            page.goto(site.url + "/")
            everything = titles(page)
            assert len(everything) == 4 and HOSTILE in everything
            # By query parameters alone: no script runs in this browser.
            page.goto(site.url + "/?rule=gallium-germanium")
            assert set(titles(page)) == {GALLIUM_DE, HOSTILE}
            page.goto(site.url + "/?outlet=en.example")
            assert titles(page) == [GALLIUM_DE, "Copper output rises in Chile"]
            page.goto(site.url + "/?language=de&rule=gallium-germanium")
            assert titles(page) == [GALLIUM_DE]
            page.goto(site.url + "/?to=2026-03-03")
            assert titles(page) == [] and page.locator(".empty").count() == 1
            page.goto(site.url + "/?from=2026-03-04&to=2026-03-04")
            assert len(titles(page)) == 4
            page.goto(site.url + "/?from=not-a-day")
            assert "from" in page.locator(".note").inner_text() and len(titles(page)) == 4
            page.goto(site.url + "/?breaking=1")
            [lithium] = titles(page)
            assert lithium.startswith("Lithium price jumps")
            why = page.locator(".story .why").inner_text()
            assert "3 outlets in 2 h" in why, why
            # The form (submit button, no script): the chosen values stay selected.
            page.goto(site.url + "/")
            page.select_option("select[name=rule]", "gallium-germanium")
            page.select_option("select[name=outlet]", "de.example")
            page.click(".filters button")
            page.wait_for_url("**outlet=de.example**")
            assert titles(page) == [GALLIUM_DE]
            assert page.locator("select[name=rule]").input_value() == "gallium-germanium"
            assert fits(page)
        finally:
            browser.close()
        # With script: a checkbox submits itself.
        browser, page = browser_page(pw)
        try:
            page.goto(site.url + "/?lang=de")
            page.check("input[name=breaking]")
            page.wait_for_url("**breaking=1**")
            assert len(titles(page)) == 1
            assert page.locator(".badge").inner_text() == "Eilmeldung"
            assert "Medien in 2 Std." in page.locator(".why").inner_text()
            assert fits(page)
            assert page.evaluate("window.pwned") is None and page.dialogs == []
        finally:
            browser.close()


def test_a_storys_timeline_paints_each_language_in_its_legends_colour(site: Site) -> None:
    """The bars of the story chart as the browser paints them: the German piece in the first
    swatch's colour, the English one in the second's, two different colours (a stylesheet rule
    for all bars once outranked the per-language ones and painted every bar alike)."""
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        for width in (1200, 390):
            browser, page = browser_page(pw, width=width)
            try:
                page.goto(site.url + "/story/s-gallium")
                bars = page.locator(".timeline rect.bar").evaluate_all(
                    "bars => bars.map(b => [b.dataset.language, getComputedStyle(b).fill])"
                )
                legend = page.locator(".timeline figcaption .swatch").evaluate_all(
                    's => s.map(e => [e.nextSibling.textContent.split("·")[0].trim(), '
                    "getComputedStyle(e).backgroundColor])"
                )
                assert [lang for lang, _ in legend] == ["de", "en"], legend
                assert sorted(bars) == sorted(legend), (bars, legend)
                assert len({colour for _, colour in legend}) == 2, legend
            finally:
                browser.close()


def failed_delivery(site: Site) -> int:
    [failed] = site.store.deliveries(states=[DeliveryState.FAILED])
    assert failed.id is not None
    return failed.id


def test_a_failed_delivery_is_retried_from_the_archive_and_then_sent(site: Site) -> None:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    did = failed_delivery(site)
    key = site.store.delivery(did).key  # type: ignore[union-attr]
    assert [r.status for r in site.sink.requests] == [500]
    with sync_playwright() as pw:
        browser, page = browser_page(pw)
        try:
            page.goto(site.url + "/archive")
            assert page.locator(".delivery").count() >= 1
            assert fits(page)
            page.goto(site.url + "/archive?state=failed")
            [row] = page.locator(".delivery").all()
            assert "failed" in row.inner_text() and "HTTP 500" in row.inner_text()
            row.locator("a").click()
            page.wait_for_url(f"**/archive/{did}")
            assert page.locator("dd.state").inner_text() == "failed"
            assert "HTTP 500" in page.locator("dd.error").inner_text()
            # Rendered as it was sent: the stored HTML in a sandboxed frame of its own route.
            frame_el = page.locator("iframe.sent")
            assert frame_el.get_attribute("sandbox") == ""
            frame = page.frame_locator("iframe.sent")
            assert "Gallium" in frame.locator("body").inner_text()
            assert page.locator("pre.sent-text").inner_text().strip()
            assert fits(page)
            page.click("form.retry button")
            page.wait_for_url(f"**/archive/{did}?retried=1")
            assert page.locator(".note.ok").count() == 1
            assert page.locator("dd.state").inner_text() == "pending"
            assert page.locator("form.retry").count() == 0  # only a failed one has the button
            # The sender's next pass: the endpoint answers 200 now.
            report = site.deliverer.send_due()
            assert did in [d.id for d in report.sent]
            page.reload()
            assert page.locator("dd.state").inner_text() == "sent"
            page.goto(site.url + "/archive?state=sent&lang=de")
            assert "gesendet" in page.locator(".delivery").first.inner_text()
        finally:
            browser.close()
    assert [r.status for r in site.sink.requests if r.headers["idempotency-key"] == key] == [
        500,
        200,
    ]


def test_retry_needs_the_csrf_token_and_this_origin(site: Site) -> None:
    did = failed_delivery(site)
    with httpx.Client(base_url=site.url) as client:
        page = client.get(f"/archive/{did}")
        assert page.status_code == 200
        assert client.cookies.get("monitor_csrf")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert client.post(f"/archive/{did}/retry").status_code == 403
        assert client.post(f"/archive/{did}/retry", data={"csrf": "0" * 64}).status_code == 403
        evil = client.post(
            f"/archive/{did}/retry",
            data={"csrf": token},
            headers={"origin": "https://evil.example"},
        )
        assert evil.status_code == 403
        # Another browser (its own cookie) cannot use this browser's token.
        with httpx.Client(base_url=site.url) as other:
            other.get("/")
            assert other.post(f"/archive/{did}/retry", data={"csrf": token}).status_code == 403
        assert site.store.delivery(did).state is DeliveryState.FAILED  # type: ignore[union-attr]
        ok = client.post(f"/archive/{did}/retry", data={"csrf": token})
        assert ok.status_code == 303 and ok.headers["location"] == f"/archive/{did}?retried=1"
    assert site.store.delivery(did).state is DeliveryState.PENDING  # type: ignore[union-attr]


def test_hostile_feed_text_stays_text_on_the_new_pages(site: Site) -> None:
    """The hostile entry alerted (it names gallium): its subject, body and error show as text;
    the frame with the sent HTML runs nothing; the body route has its own strict policy."""
    deliveries = site.store.deliveries()
    hostile = [d for d in deliveries if "pwned" in site.store.delivery_message(d.id or 0)]
    assert hostile, "the hostile entry should have alerted"
    hid = hostile[0].id
    paths = [
        "/?rule=gallium-germanium",
        "/?breaking=1&outlet=evil.example",
        "/archive",
        f"/archive/{hid}",
        "/rules",
        "/rules/0",
    ]
    for path in paths:
        r = httpx.get(site.url + path)
        assert r.status_code == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value, (path, name)
        assert "<script>window.pwned" not in r.text, path
        assert "<img src=x" not in r.text, path
        assert r.text.count("<script") == 1, path  # only the one external script tag
    archive = httpx.get(f"{site.url}/archive").text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in archive
    body = httpx.get(f"{site.url}/archive/{hid}/body")
    for name, value in BODY_HEADERS.items():
        assert body.headers[name] == value, name
    assert "script-src" not in body.headers["content-security-policy"]
    assert "<script>window.pwned" not in body.text  # escaped when it was rendered
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = browser_page(pw)
        try:
            for path in paths:
                page.goto(site.url + path)
                assert page.evaluate("window.pwned") is None, path
                assert fits(page), path
            page.goto(f"{site.url}/archive/{hid}")
            assert HOSTILE in page.locator("h1").inner_text()
            frame = page.frame_locator("iframe.sent")
            assert HOSTILE in frame.locator("body").inner_text()
            assert frame.locator("img").count() == 0
            page.goto(f"{site.url}/archive/{hid}/body")  # opened on its own, too
            assert page.evaluate("window.pwned") is None
            assert page.dialogs == []
        finally:
            browser.close()


def test_the_playground_validates_diffs_and_saves_the_users_rule_file(site: Site) -> None:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    from monitor.app.service import RuleBook

    book = RuleBook(site.rule_paths, semantic=False)  # the playground: no model needed
    shipped = {p: p.read_bytes() for p in shipped_rules_dir().glob("*.yaml")}
    with sync_playwright() as pw:
        browser, page = browser_page(pw)
        try:
            page.goto(site.url + "/rules")
            files = page.locator("a.rule-file").all_inner_texts()
            assert files == ["my-rules.yaml"]  # the shipped pack is not offered
            assert fits(page)
            page.click("a.rule-file")
            page.wait_for_url("**/rules/0")
            assert page.locator("textarea").input_value() == MY_RULES
            # An error: its line and key.
            page.fill("textarea", MY_RULES.replace("    title:", "    titel:"))
            page.click("button[value=try]")
            problem = page.locator(".problem").first
            assert problem.locator(".line").inner_text() == "line 4"
            assert "my-metals" in problem.inner_text() and "titel" in problem.inner_text()
            # A change: gallium news gone, lithium news new, each explained.
            lithium = MY_RULES.replace("[gallium-germanium]", "[lithium]")
            page.fill("textarea", lithium)
            page.click("button[value=try]")
            page.wait_for_selector(".rule-diff")
            diff = page.locator(".rule-diff")
            assert diff.locator(".rule-id").inner_text() == "my-metals"
            assert diff.locator(".new-count").inner_text() == "+3"
            assert diff.locator(".gone-count").inner_text() == "−3"
            new = diff.locator(".change.new").all_inner_texts()
            assert all("Lithium price jumps" in n for n in new) and "lithium: „Lithium“" in new[0]
            assert diff.locator(".change.new mark").first.inner_text() == "Lithium"
            gone = diff.locator(".change.gone").all_inner_texts()
            assert any(HOSTILE in g for g in gone)  # hostile text, as text
            assert fits(page)
            # Typing alone tries the draft (web.js): an unknown concept shows up.
            page.fill("textarea", lithium.replace("[lithium]", "[lithum]"))
            page.wait_for_selector(".problem")
            assert "did you mean 'lithium'" in page.locator(".problem").inner_text()
            assert site.rule_file.read_text() == MY_RULES  # trying never writes
            # Saving an invalid draft is refused; a valid one writes the file.
            page.click("button[value=save]")
            assert page.locator(".note.error").count() == 1
            assert site.rule_file.read_text() == MY_RULES
            page.fill("textarea", lithium)
            page.click("button[value=save]")
            page.wait_for_selector(".saved")
            assert page.evaluate("window.pwned") is None and page.dialogs == []
        finally:
            browser.close()
    assert site.rule_file.read_text() == lithium
    assert {p: p.read_bytes() for p in shipped_rules_dir().glob("*.yaml")} == shipped
    assert book.reload_if_changed() is True  # what the daemon's rule check does
    assert "my-metals" in book.rule_ids


def test_saving_needs_the_csrf_token(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        client.get("/rules/0")
        r = client.post("/rules/0", data={"text": "rules: []\n", "action": "save"})
        assert r.status_code == 403
    assert site.rule_file.read_text() == MY_RULES
    assert httpx.get(site.url + "/rules/7").status_code == 404
    assert httpx.get(site.url + "/rules/..%2F..%2Fetc").status_code == 404


def test_every_ui_string_has_its_german() -> None:
    import re

    from monitor.web.l10n import GERMAN

    templates = Path(__file__).parent.parent / "monitor" / "web" / "templates"
    missing = set()
    for path in templates.glob("*.html"):
        for phrase in re.findall(r"""\bt\(["']([^"']+)["']\)""", path.read_text()):
            if phrase not in GERMAN:
                missing.add((path.name, phrase))
    assert missing == set()


def test_the_stream_filter_from_query_parameters() -> None:
    from monitor.web.stream import parse_filter

    f = parse_filter({"from": "2026-03-01", "to": "2026-03-02", "breaking": "1", "rule": "x"})
    since, until = f.window(NOW)
    assert since == datetime(2026, 3, 1, tzinfo=UTC) and until == datetime(2026, 3, 3, tzinfo=UTC)
    assert f.breaking and f.rule == "x" and f.active and not f.problems
    bad = parse_filter({"from": "2026-03-05", "to": "2026-03-01", "days": "0"})
    assert bad.problems == ("to", "days") and bad.end is None and bad.days == 14
    since, until = parse_filter({"days": "3"}).window(NOW)
    assert (since, until) == (NOW - timedelta(days=3), None)


def test_only_users_files_are_offered(tmp_path: Path) -> None:
    from monitor.errors import RuleError
    from monitor.web.playground import save_rule_file, user_rule_files

    mine = tmp_path / "mine.yaml"
    mine.write_text(MY_RULES)
    assert user_rule_files([shipped_rules_dir(), mine]) == [mine]
    with pytest.raises(RuleError, match="never written"):
        save_rule_file(next(shipped_rules_dir().glob("*.yaml")), "x")
    save_rule_file(mine, "rules: []\n")
    assert mine.read_text() == "rules: []\n" and [p.name for p in tmp_path.iterdir()] == [
        "mine.yaml"
    ]


def test_the_new_pages_on_both_engines(storage: Storage, tmp_path: Path) -> None:
    """The filters, archive and playground over SQLite and the real PostgreSQL (HTTP, no
    browser: the browser tests above run on SQLite)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "my-rules.yaml").write_text(MY_RULES, encoding="utf-8")
    rule_paths = [shipped_rules_dir(), rules]
    fill_site(storage, rule_paths)
    with serve(create_app(storage, now=lambda: NOW, rule_paths=rule_paths)) as url:

        def shown(path: str) -> list[str]:
            html = httpx.get(url + path).text
            return [
                part.split(">", 1)[1].split("</a>", 1)[0]
                for part in html.split('class="story-title"')[1:]
            ]

        assert len(shown("/")) == 4
        assert shown("/?rule=my-metals&language=de") == [GALLIUM_DE]
        assert shown("/?outlet=en.example&to=2026-03-04") == [
            GALLIUM_DE,
            "Copper output rises in Chile",
        ]
        assert [t.split(" (")[0] for t in shown("/?breaking=1")] == [
            "Lithium price jumps as mines close"
        ]
        assert "Nothing sent yet." in httpx.get(url + "/archive").text
        with httpx.Client(base_url=url) as client:
            editor = client.get("/rules/0").text
            tried = client.post(
                "/rules/0",
                data={
                    "csrf": editor.split('name="csrf" value="', 1)[1].split('"', 1)[0],
                    "text": MY_RULES.replace("[gallium-germanium]", "[lithium]"),
                    "action": "try",
                    "days": "7",
                },
            ).text
        assert '<span class="new-count">+3</span>' in tried
        assert '<span class="gone-count">−3</span>' in tried


def test_the_volume_chart_and_the_empty_window_on_both_engines(
    storage: Storage, tmp_path: Path
) -> None:
    """The stream's chart over the store's matches (HTTP, both engines); a month later the
    default window is empty and the page links to the days of the latest story."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "my-rules.yaml").write_text(MY_RULES, encoding="utf-8")
    rule_paths = [shipped_rules_dir(), rules]
    fill_site(storage, rule_paths)
    clock = Clock(NOW)
    with serve(create_app(storage, now=clock, rule_paths=rule_paths)) as url:
        html = httpx.get(url + "/").text
        rows = html.split('<li class="volume-row')[1:]
        drawn = {r.split('data-rule="', 1)[1].split('"', 1)[0]: r for r in rows}
        assert {"my-metals", "lithium"} <= set(drawn), list(drawn)
        for rule, row in drawn.items():
            per_day = [int(p.split('"', 1)[0]) for p in row.split('data-stories="')[1:]]
            total = int(row.split('class="volume-total">', 1)[1].split()[0])
            assert per_day and sum(per_day) == total, (rule, per_day, total)
            # one day in the store: its bar is the row's full height
            assert row.count('<rect class="bar"') == 1 and 'height="40.00"' in row, row
        german = httpx.get(url + "/?lang=de").text
        assert "Neue Meldungen pro Tag und Regel" in german
        clock.now = NOW + timedelta(days=30)
        empty = httpx.get(url + "/").text
        assert 'class="story-title"' not in empty and 'class="volume-row' not in empty
        day = NOW.strftime("%Y-%m-%d")
        assert f'href="/?to={day}&amp;days=14"' in empty, empty
        back = httpx.get(url + f"/?to={day}&days=14").text
        assert back.count('class="story-title"') == 4
        assert 'class="latest"' not in back
