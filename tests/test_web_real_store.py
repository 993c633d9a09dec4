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


def test_the_pages_over_a_store_of_real_feeds_in_chromium(real_site: str, tmp_path: Path) -> None:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    assert CHROMIUM
    shots = tmp_path  # screenshots of the charts, for a person to look at (pytest --basetemp)
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
            # The volume chart: a row per rule that matched, its bars' new stories summing to
            # its total, each row to its own scale.
            rows = page.locator(".volume-row")
            assert rows.count() >= 3
            drawn = {}
            for i in range(rows.count()):
                row = rows.nth(i)
                rule = row.get_attribute("data-rule")
                per_day = [
                    int(n)
                    for n in row.locator("rect.bar").evaluate_all(
                        "bars => bars.map(b => b.dataset.stories)"
                    )
                ]
                total = int(row.locator(".volume-total").inner_text().split()[0])
                assert per_day and sum(per_day) == total >= max(per_day) >= 1, (rule, per_day)
                box = row.locator("svg").bounding_box()
                assert box and box["width"] > 150 and box["height"] > 20, box
                drawn[rule] = total
            assert "seltene-erden" in drawn
            # by volume, the context rules (china, lieferketten) after the others
            context = [
                r
                for i, r in enumerate(drawn)
                if "context" in (rows.nth(i).get_attribute("class") or "").split()
            ]
            assert "china" in context
            plain = [n for r, n in drawn.items() if r not in context]
            assert plain == sorted(plain, reverse=True)
            assert list(drawn)[len(plain) :] == context
            page.screenshot(path=str(shots / "stream-volume.png"), full_page=True)
            # A rule's row links to the stream filtered by it, its row drawn first.
            page.locator(".volume-row[data-rule='seltene-erden'] a.volume-rule").click()
            page.wait_for_url("**rule=seltene-erden**")
            assert page.locator(".volume-row").first.get_attribute("data-rule") == "seltene-erden"
            # Filtered by a rule of the shipped pack: fewer stories, each about rare earths.
            page.goto(real_site + "/?days=3&rule=seltene-erden")
            rare = page.locator(".story-title").all_inner_texts()
            assert 1 <= len(rare) < len(everything), rare
            page.locator(".story-title").first.click()
            page.wait_for_url("**/story/**")
            members = page.locator(".member").count()
            assert members >= 1
            # A story of several pieces charts them over time, by language; one piece: no chart.
            pieces = page.locator(".timeline rect.bar").evaluate_all(
                "bars => bars.map(b => Number(b.dataset.pieces))"
            )
            assert sum(pieces) == (members if members > 1 else 0), (pieces, members)
            assert page.locator("mark").count() >= 1
            # (which words are marked depends on the story: its rare-earth words may stand in
            # a part of the text the page does not show, such as the content)
            assert page.locator(".rule-id").all_inner_texts().count("seltene-erden") >= 1
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            # A story of several pieces (wire copy in several outlets) charts them over time.
            page.goto(real_site + "/?days=3")
            metas = page.locator(".story .meta").all_inner_texts()
            several = next(i for i, m in enumerate(metas) if int(m.split()[0]) >= 2)
            page.locator(".story-title").nth(several).click()
            page.wait_for_url("**/story/**")
            pieces = page.locator(".timeline rect.bar").evaluate_all(
                "bars => bars.map(b => Number(b.dataset.pieces))"
            )
            assert sum(pieces) == page.locator(".member").count() >= 2, pieces
            assert page.locator(".timeline figcaption .swatch").count() >= 1
            page.screenshot(path=str(shots / "story-timeline.png"), full_page=True)
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
