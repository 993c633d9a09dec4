"""Screenshots of the web view at 1200 and 390 px for review: docs/screenshots/web-*.png.

Serves the real app (uvicorn, 127.0.0.1) over a store filled like the browser test's
(tests/test_web_browser.py: German and English stories and a hostile feed) and opens each page in
Debian's headless chromium. Run: python bench/screenshot_web.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.store import open_storage  # noqa: E402
from monitor.web.app import create_app  # noqa: E402
from tests.test_web_browser import NOW, fill, serve  # noqa: E402

PAGES = {
    "stream": "/",
    "story": "/story/s-gallium",
    "search": "/search?q=Ausfuhrbeschr%C3%A4nkungen",
    "feeds": "/feeds",
}


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium (apt-get install -y chromium)")
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "monitor.db"
        fill(db)
        with (
            open_storage(f"sqlite:///{db}") as store,
            serve(create_app(store, now=lambda: NOW)) as base,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                for width in (1200, 390):
                    for name, path in PAGES.items():
                        page = browser.new_page(viewport={"width": width, "height": 800})
                        page.goto(base + path)
                        shot = out / f"web-{name}-{width}.png"
                        page.screenshot(path=str(shot), full_page=True)
                        wide = page.evaluate("document.documentElement.scrollWidth")
                        print(f"{shot.relative_to(ROOT)}: page {wide} px wide")
                        page.close()
            finally:
                browser.close()


if __name__ == "__main__":
    main()
