"""Screenshots of the web view at 1200 and 390 px for review: docs/screenshots/web-*.png.

Serves the real app (uvicorn, 127.0.0.1) over the store of the browser tests
(tests/test_web_pages.py: German and English stories, a breaking story, a hostile feed, a user's
rule file, an alert that failed against a local endpoint answering 500) and opens each page in
Debian's headless chromium; the playground is shown with an edit tried (its backtest diff).
Run: python bench/screenshot_web.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.http_sink import HttpSink  # noqa: E402
from tests.test_web_pages import MY_RULES, open_site  # noqa: E402

PAGES = {
    "stream": "/",
    "stream-filtered": "/?rule=gallium-germanium&from=2026-03-04",
    "story": "/story/s-gallium",
    "search": "/search?q=Ausfuhrbeschr%C3%A4nkungen",
    "feeds": "/feeds",
    "archive": "/archive",
    "delivery": "/archive/{failed}",
    "playground": "/rules/0",
}


def main() -> None:
    from playwright.sync_api import sync_playwright

    from monitor.model import DeliveryState

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium (apt-get install -y chromium)")
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    sink = HttpSink()
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_site(Path(tmp), sink) as site,
        sync_playwright() as pw,
    ):
        [failed] = site.store.deliveries(states=[DeliveryState.FAILED])
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for width in (1200, 390):
                for name, path in PAGES.items():
                    page = browser.new_page(viewport={"width": width, "height": 800})
                    page.goto(site.url + path.format(failed=failed.id))
                    if name == "playground":
                        page.fill("textarea", MY_RULES.replace("[gallium-germanium]", "[lithium]"))
                        page.click("button[value=try]")
                        page.wait_for_selector(".rule-diff")
                    if name == "delivery":
                        page.wait_for_timeout(300)  # the framed message
                    shot = out / f"web-{name}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    wide = page.evaluate("document.documentElement.scrollWidth")
                    print(f"{shot.relative_to(ROOT)}: page {wide} px wide")
                    page.close()
        finally:
            browser.close()
    sink.close()


if __name__ == "__main__":
    main()
