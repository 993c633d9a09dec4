"""The web view over a store filled the way a user fills it: `monitor once` (a real process, the
shipped rules) over the offline example's feeds and eight real corpus feeds, re-dated into the
last 40 hours; then the pages in headless Chromium at 390 px: the story stream, a filter by
rule, a story page with its matched words marked, search in German and in English, the feeds
page. Complements tests/test_web_browser.py, whose store is a handful of hand-made entries."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.store import open_storage
from monitor.web.app import create_app
from tests.fixtures.resources import need
from tests.story_feeds import CORPUS_FEEDS, redate
from tests.support import run_monitor
from tests.test_web_browser import CHROMIUM, serve

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Iterator[str]:
    site = tmp_path_factory.mktemp("realweb")
    folder = site / "feeds"
    shutil.copytree(REPO / "examples" / "feeds", folder)
    names = CORPUS_FEEDS[:8]
    for name in names:
        shutil.copy(corpus_dir / "feeds" / name, folder / name)
    bodies = {p.name: p.read_bytes() for p in folder.glob("*.xml")}
    for name, body in redate(bodies, datetime.now(UTC), timedelta(hours=40)).items():
        (folder / name).write_bytes(body)
    feeds = "".join(f"  - feeds/{p.name}\n" for p in sorted(folder.glob("*.xml")))
    (site / "monitor.yaml").write_text(
        f"database: sqlite:///{site / 'monitor.db'}\nfeeds:\n{feeds}", encoding="utf-8"
    )
    done = run_monitor("once", "-q", "--no-semantic", cwd=site, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open_storage(f"sqlite:///{site / 'monitor.db'}") as store, serve(create_app(store)) as url:
        yield url


def test_the_pages_over_a_store_of_real_feeds_in_chromium(real_site: str) -> None:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    assert CHROMIUM
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(real_site + "/?days=3")
            everything = page.locator(".story-title").all_inner_texts()
            assert len(everything) >= 20, everything
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            # Filtered by a rule of the shipped pack: fewer stories, each about rare earths.
            page.goto(real_site + "/?days=3&rule=seltene-erden")
            rare = page.locator(".story-title").all_inner_texts()
            assert 1 <= len(rare) < len(everything), rare
            page.locator(".story-title").first.click()
            page.wait_for_url("**/story/**")
            assert page.locator(".member").count() >= 1
            assert page.locator("mark").count() >= 1
            # (which words are marked depends on the story: its rare-earth words may stand in
            # a part of the text the page does not show, such as the content)
            assert page.locator(".rule-id").all_inner_texts().count("seltene-erden") >= 1
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            # Search in German (folded as the matcher folds) and in English.
            page.goto(real_site + "/search?q=seltene+erden")
            german = page.locator(".result").all_inner_texts()
            assert german and any("Selten" in r for r in german), german
            page.goto(real_site + "/search?q=export+controls")
            english = page.locator(".result").all_inner_texts()
            assert english and any("export control" in r.lower() for r in english), english
            # Feed health: every feed of the config is listed.
            page.goto(real_site + "/feeds")
            assert page.locator("tbody tr").count() >= 8 + 5
            assert errors == []
        finally:
            browser.close()
    assert httpx.get(real_site + "/story/no-such-story").status_code == 404
