"""Digests of what ``parse_feed`` makes of the real corpus, per file and engine.

``tests/test_parse_golden.py`` compares them against ``tests/data/golden/parse_corpus.json``,
computed with the conversion code before it was made faster (2026-12-01). Regenerate only when
an output change is meant:

    .venv/bin/python -m tests.golden_parse ../shared/corpus > tests/data/golden/parse_corpus.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import ParseError
from monitor.ingest.parse import Engine, parse_feed

NOW = datetime(2026, 9, 1, tzinfo=UTC)
# Relative links in the corpus resolve against a base with a path, a query-free http URL.
BASE = "https://golden.example/news/feed.xml"


def corpus_files(corpus: Path) -> Iterator[Path]:
    """Real feeds and feedparser's test cases (relative paths are the keys)."""
    for sub in ("feeds", "feedparser-tests"):
        for path in sorted((corpus / sub).rglob("*")):
            if path.is_file() and path.suffix == ".xml":
                yield path


def digest(content: bytes, engine: Engine) -> str:
    """A hash of every field of the result (entries, feed metadata, warnings) or the error."""
    h = hashlib.blake2b(digest_size=16)
    try:
        feed = parse_feed(content, feed_url=BASE, now=NOW, engine=engine)
    except ParseError as exc:
        h.update(f"error:{exc}".encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    head = (feed.title, feed.link, feed.language, feed.ttl_minutes, feed.version, feed.warnings)
    h.update(repr(head).encode("utf-8", "surrogatepass"))
    for entry in feed.entries:
        h.update(repr((astuple(entry), entry.fingerprint)).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def digests(corpus: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in corpus_files(corpus):
        content = path.read_bytes()
        key = path.relative_to(corpus).as_posix()
        out[key] = {engine: digest(content, engine) for engine in ("feedparser", "feedparser-rs")}
    return out


if __name__ == "__main__":
    json.dump(digests(Path(sys.argv[1])), sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")
