"""The HTML alert on a 390 px phone, in headless Chromium (system package; skipped with the
reason when absent, required under CI=true): nothing sticks out to the right, and no badge (the
breaking flag, the rule tags) breaks over two lines, with a long unbreakable headline word."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.delivery.render import Renderer
from tests.fixtures.resources import need
from tests.test_story_alerts import rich_alert

PHONE = 390
PROBE = """<script>
var box = document.getElementById("probe"), right = 0, lines = 0;
box.querySelectorAll("*").forEach(function (e) {
  var r = e.getBoundingClientRect(); if (r.right > right) right = r.right; });
document.querySelectorAll(".breaking, .tag").forEach(function (e) {
  lines = Math.max(lines, e.getClientRects().length); });
document.title = "right=" + Math.ceil(right) + " badge_lines=" + lines;
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    need(found is not None, "no chromium on PATH (install the system package chromium)")
    assert found is not None
    return found


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_alert_fits_a_390_px_phone(lang: str, tmp_path: Path) -> None:
    browser = chromium()
    alert = rich_alert(lang)
    long_word = "Seltenerdmagnetlieferkettenüberwachungsbehördenmitteilung" * 2
    title = replace(alert.item.title, text=f"{alert.item.title.text} {long_word}")
    html = Renderer().render_alert(replace(alert, item=replace(alert.item, title=title))).html
    page = re.sub(
        r"<body([^>]*)>", rf'<body\1><div id="probe" style="width:{PHONE}px">', html, count=1
    )
    page = page.replace("</body>", f"</div>{PROBE}</body>")
    path = tmp_path / "alert.html"
    path.write_text(page, encoding="utf-8")
    out = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"<title>right=(\d+) badge_lines=(\d+)</title>", out.stdout)
    assert found is not None, out.stderr[-2000:]
    assert int(found.group(1)) <= PHONE, found.group(0)
    assert int(found.group(2)) == 1, found.group(0)
