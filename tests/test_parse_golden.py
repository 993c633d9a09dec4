"""The conversion layer made faster without changing its output: every file of the real corpus
(217 feeds and feedparser's 2,106 test cases) parses, with both engines, to the same result as
with the code before (digests in tests/data/golden/parse_corpus.json, see tests/golden_parse.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.ingest import fastparse
from monitor.ingest.parse import Engine
from tests.golden_parse import corpus_files, digest

GOLDEN = Path(__file__).parent / "data" / "golden" / "parse_corpus.json"

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.mark.parametrize("engine", ["feedparser", "feedparser-rs"])
def test_corpus_converts_as_before(corpus_dir: Path, engine: Engine) -> None:
    if engine == "feedparser-rs":
        from tests.fixtures.resources import need

        need(fastparse.available(), "feedparser-rs is not installed (pip install -e '.[fast]')")
    golden: dict[str, dict[str, str]] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    seen = {p.relative_to(corpus_dir).as_posix(): p for p in corpus_files(corpus_dir)}
    assert set(seen) == set(golden), "the corpus changed: regenerate the golden digests"
    changed = [
        key
        for key, path in seen.items()
        if digest(path.read_bytes(), engine) != golden[key][engine]
    ]
    assert not changed, f"{len(changed)} files convert differently, e.g. {changed[:5]}"
