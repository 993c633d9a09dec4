"""The HTML digest as a person sees it: the offline example's digest opened in headless Chromium
(Debian's package) at 1200 and 390 px. Nothing is wider than the screen and no badge or rule tag
breaks over two lines. ``bench/screenshot_digest.py`` writes the screenshots for review."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.resources import need
from tests.support import run_monitor

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Runs in the page after layout: the page's width, and the badges or tags that broke over lines.
PROBE = """() => ({
  wide: document.documentElement.scrollWidth,
  wrapped: [...document.querySelectorAll(".badge, .tag")]
    .filter(e => e.getClientRects().length > 1).map(e => e.textContent),
  entries: document.querySelectorAll(".entry").length,
})"""


def look(html: Path, widths: Iterable[int], shots: Path | None = None) -> dict[int, dict[str, Any]]:
    """Open ``html`` in headless Chromium at each width (a phone's 390 px included: the
    viewport is emulated, so no window minimum applies); measure, and screenshot into
    ``shots`` when given."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM
    out: dict[int, dict[str, Any]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(html.as_uri())
                out[width] = page.evaluate(PROBE)
                if shots is not None:
                    shot = shots / f"{html.stem.split('-')[0]}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    out[width]["shot"] = shot
                page.close()
        finally:
            browser.close()
    return out


def example_digest(folder: Path) -> Path:
    out = run_monitor("once", cwd=folder)
    assert out.returncode == 0, out.stderr
    [html] = (folder / "outbox").glob("digest-morgen-*.html")
    return html


@pytest.fixture(scope="module")
def digest_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need(CHROMIUM is not None, "no chromium (apt-get install -y chromium)")
    return example_digest(tmp_path_factory.mktemp("example"))


def test_the_example_digest_fits_the_screen_and_no_badge_wraps(
    digest_html: Path, tmp_path: Path
) -> None:
    for width, got in look(digest_html, (1200, 390), shots=tmp_path).items():
        assert got["entries"] >= 5  # the stories are there
        assert got["wide"] <= width, f"the digest is {got['wide']} px wide at {width} px"
        assert got["wrapped"] == [], f"badges or tags broken over two lines at {width} px"
        png = Path(got["shot"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
