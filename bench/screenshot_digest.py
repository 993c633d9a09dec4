"""Screenshots of the offline example's HTML digest in headless Chromium at 1200 and 390 px, for
review: ``monitor once`` on the bundled example in a temporary folder, then the digest opened in
Debian's chromium (``apt-get install -y chromium``) through Playwright.

    .venv/bin/python bench/screenshot_digest.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_digest_browser import CHROMIUM, example_digest, look


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("no chromium: apt-get install -y chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html = example_digest(Path(tmp))
        for width, got in look(html, (1200, 390), shots=args.out).items():
            print(f"{width:5d} px: {got['entries']} stories shown, page {got['wide']} px wide, "
                  f"{len(got['wrapped'])} wrapped badges -> {got['shot']}")  # fmt: skip


if __name__ == "__main__":
    main()
