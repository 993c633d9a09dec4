"""Every corpus file goes through parse_feed: a ParsedFeed or a ParseError, never a crash or hang.

Covers ../shared/corpus/feedparser-tests (feedparser's own 2,107 cases, with the HTTP headers
their leading comment asks for) and ../shared/corpus/feeds (217 real feeds), then checks real
properties of the real feeds. The sweep runs once per session (~5 s here).
"""

from __future__ import annotations

import codecs
import csv
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from monitor.errors import ParseError
from monitor.ingest.parse import FUTURE_TOLERANCE, Engine, ParsedFeed, parse_feed

NOW = datetime(2026, 9, 1, tzinfo=UTC)  # after the newest corpus item, so real dates survive
SLOW_SECONDS = 3.0
"""CPU seconds one file may take (CPU, not wall time: a bound on the parser, not the load)."""
_HEADER_LINE = re.compile(r"^Header:\s*([^:\s]+):\s*(.*?)\s*$", re.MULTILINE)
_EXPECT_LINE = re.compile(r"^Expect:\s*(.*?)\s*$", re.MULTILINE)
_TAG = re.compile(r"</?(p|div|br|a|img|span|b|i|strong|em|ul|li|table|script|style)\b[^>]*>", re.I)
_MOJIBAKE = re.compile("Ã[\u0080-\u00bf]|â€")


@dataclass(frozen=True)
class Outcome:
    path: Path
    seconds: float
    """CPU time of the parse."""
    expect: str = ""
    feed: ParsedFeed | None = None
    error: ParseError | None = None
    crash: str | None = None


@dataclass(frozen=True)
class Case:
    """A feedparser test file's leading comment: the headers it is served with, its Expect."""

    headers: dict[str, str] | None
    expect: str


def read_case(content: bytes) -> Case:
    """Decoded as upstream does: BOM sniffing (UTF-32/16/8), else UTF-8 ignoring errors.

    Upstream serves files with Header lines over HTTP with Content-type text/xml unless the
    comment names one, so the same default applies here.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF8, "utf-8"),
    ):
        if content.startswith(bom):
            text = content[len(bom) :].decode(encoding, "ignore")
            break
    else:
        text = content.decode("utf-8", "ignore")
    start, end = text.find("<!--"), text.find("-->")
    comment = text[start:end] if -1 < start < end else ""
    headers = dict(_HEADER_LINE.findall(comment))
    if headers and not any(name.lower() == "content-type" for name in headers):
        headers["Content-type"] = "text/xml"
    expect = _EXPECT_LINE.search(comment)
    return Case(headers or None, expect.group(1) if expect else "")


def run(path: Path, headers: dict[str, str] | None, engine: Engine, expect: str = "") -> Outcome:
    content = path.read_bytes()
    started = time.process_time()
    try:
        feed = parse_feed(
            content,
            feed_url=path.as_uri(),
            headers=headers,
            now=NOW,
            feed_language=None,
            engine=engine,
        )
    except ParseError as exc:
        return Outcome(path, time.process_time() - started, expect, error=exc)
    except Exception as exc:  # the one thing this test exists to catch
        crash = f"{type(exc).__name__}: {exc}"
        return Outcome(path, time.process_time() - started, expect, crash=crash)
    return Outcome(path, time.process_time() - started, expect, feed=feed)


@pytest.fixture(scope="session")
def sweep(corpus_dir: Path, engine: Engine) -> dict[str, list[Outcome]]:
    tests_dir = corpus_dir / "feedparser-tests"
    feeds_dir = corpus_dir / "feeds"
    fp_files = sorted(p for p in tests_dir.rglob("*") if p.suffix in {".xml", ".json"})
    feed_files = sorted(feeds_dir.glob("*.xml"))
    assert len(fp_files) >= 2100, f"feedparser-tests incomplete: {len(fp_files)} files"
    assert len(feed_files) >= 210, f"feeds incomplete: {len(feed_files)} files"
    started = time.process_time()
    result = {
        "feedparser-tests": [
            run(p, case.headers, engine, case.expect)
            for p in fp_files
            for case in [read_case(p.read_bytes())]
        ],
        "feeds": [run(p, None, engine) for p in feed_files],
    }
    outcomes = [o for group in result.values() for o in group]
    slowest = max(outcomes, key=lambda o: o.seconds)
    kept = [o.feed for o in outcomes if o.feed]
    seconds = time.process_time() - started
    print(
        f"\ncorpus sweep ({engine}): {len(outcomes)} files in {seconds:.1f} s CPU; "
        f"slowest {slowest.path.name} {slowest.seconds:.2f} s CPU; "
        f"{sum(o.error is not None for o in outcomes)} ParseError, "
        f"{sum(any('not well-formed' in w for w in f.warnings) for f in kept)} kept not "
        f"well-formed, {sum(any('(read anyway)' in w for w in f.warnings) for f in kept)} kept "
        "with an encoding/content-type warning, "
        f"{sum(len(f.entries) for f in kept)} entries, "
        f"{sum(any(w.startswith('feedparser-rs ') for w in f.warnings) for f in kept)} fell back"
    )
    return result


def all_outcomes(sweep: dict[str, list[Outcome]]) -> list[Outcome]:
    return [o for group in sweep.values() for o in group]


def test_no_file_crashes_the_parser(sweep: dict[str, list[Outcome]]) -> None:
    crashes = [f"{o.path}: {o.crash}" for o in all_outcomes(sweep) if o.crash]
    assert not crashes, "\n".join(crashes)


def test_no_file_is_slow(sweep: dict[str, list[Outcome]]) -> None:
    slowest = max(all_outcomes(sweep), key=lambda o: o.seconds)
    assert slowest.seconds < SLOW_SECONDS, f"{slowest.path} took {slowest.seconds:.2f} s of CPU"


def test_every_error_names_the_feed_and_a_reason(sweep: dict[str, list[Outcome]]) -> None:
    for o in all_outcomes(sweep):
        if o.error is not None:
            assert o.error.url == o.path.as_uri()
            assert len(str(o.error)) > len(o.error.url) + 10, str(o.error)


def flagged(o: Outcome) -> bool:
    """Reported as broken: a ParseError, or kept with a not-well-formed/encoding warning."""
    return o.error is not None or bool(o.feed and o.feed.warnings)


def test_cases_upstream_expects_clean_are_not_reported_broken(
    sweep: dict[str, list[Outcome]],
) -> None:
    # feedparser's "not bozo" cases may hold no usable entry, but none may be called broken.
    wrong = [
        f"{o.path.name}: {o.error if o.error else o.feed.warnings if o.feed else ''}"
        for o in sweep["feedparser-tests"]
        if o.expect.startswith("not bozo")
        and (
            (o.error is not None and "broken" in str(o.error))
            or (o.feed and any("read anyway" in w for w in o.feed.warnings))
        )
    ]
    assert not wrong, "\n".join(wrong[:20])


def test_cases_upstream_expects_bozo_are_flagged(sweep: dict[str, list[Outcome]]) -> None:
    # Not one ill-formed or mis-encoded document may pass silently.
    cases = [o for o in sweep["feedparser-tests"] if o.expect.startswith("bozo")]
    assert len(cases) >= 15
    silent = [o.path.name for o in cases if not flagged(o)]
    assert not silent


def test_http_header_cases_honour_the_headers(corpus_dir: Path, engine: Engine) -> None:
    # The same bytes with and without the headers from the comment: proof they reach feedparser.
    tests_dir = corpus_dir / "feedparser-tests"

    def both(relative: str) -> tuple[ParsedFeed, ParsedFeed]:
        path = tests_dir / relative
        with_h = run(path, read_case(path.read_bytes()).headers, engine)
        without = run(path, None, engine)
        assert with_h.feed is not None and without.feed is not None
        return with_h.feed, without.feed

    lang, no_lang = both("wellformed/lang/http_content_language_entry_title_inherit.xml")
    assert (lang.entries[0].language, no_lang.entries[0].language) == ("en", None)
    charset, no_charset = both("encoding/http_text_xml_charset_2.xml")  # windows-1252 in header
    assert not charset.warnings
    assert any("windows-1252" in w for w in no_charset.warnings)


# --- the real feeds -------------------------------------------------------------------------


def sources(corpus_dir: Path) -> dict[str, dict[str, str]]:
    with (corpus_dir / "feeds" / "SOURCES.tsv").open(encoding="utf-8", newline="") as f:
        return {row["filename"]: row for row in csv.DictReader(f, delimiter="\t")}


def test_real_feeds_with_items_yield_entries(
    sweep: dict[str, list[Outcome]], corpus_dir: Path
) -> None:
    rows = sources(corpus_dir)
    lost = [
        f"{o.path.name}: {o.error}"
        for o in sweep["feeds"]
        if int(rows[o.path.name]["item_count"] or 0) > 0
        and rows[o.path.name]["kind"] != "edge-case"
        and not (o.feed and o.feed.entries)
    ]
    assert not lost, "\n".join(lost)


def test_real_feed_entries_are_clean_records(sweep: dict[str, list[Outcome]]) -> None:
    problems: list[str] = []
    for o in sweep["feeds"]:
        if o.feed is None:
            continue
        ids = [e.id for e in o.feed.entries]
        if len(ids) != len(set(ids)):
            problems.append(f"{o.path.name}: duplicate ids")
        for e in o.feed.entries:
            where = f"{o.path.name} {e.id[:60]}"
            if e.published.tzinfo is not UTC or e.published > NOW + FUTURE_TOLERANCE:
                problems.append(f"{where}: published {e.published!r}")
            if e.link is not None and urlsplit(e.link).scheme not in {"http", "https"}:
                problems.append(f"{where}: link {e.link}")
            if e.id != e.id.strip() or not e.id:
                problems.append(f"{where}: id not stripped")
            for name in ("title", "summary", "content"):
                text = e.text(name)
                if text != text.strip() or "  " in text or "\n\n\n" in text:
                    problems.append(f"{where}: {name} whitespace not folded")
    assert not problems, "\n".join(problems[:30])


# Text that shows markup on purpose: code samples (escaped HTML inside <pre>/code blocks), and
# Reddit, whose feed escapes its HTML twice, so the tags are text even in the source.
_MARKUP_AS_TEXT = {
    "feedjira-sample__feedjira-spec_AtomEscapedHTMLInPreTag.xml",
    "tenderlove__feedjira-spec_TenderLovemaking.xml",
    "reddit__rssparser-test_reddit-atom-rss.xml",
}


def test_real_feed_texts_hold_no_markup(sweep: dict[str, list[Outcome]]) -> None:
    tagged = [
        f"{o.path.name}: {m.group(0)}"
        for o in sweep["feeds"]
        if o.feed and o.path.name not in _MARKUP_AS_TEXT
        for e in o.feed.entries
        for m in [_TAG.search(e.summary) or _TAG.search(e.content) or _TAG.search(e.title)]
        if m
    ]
    assert not tagged, "\n".join(tagged[:20])


@pytest.mark.parametrize(
    "name",
    [
        "tagesschau__2024-12_tagesschau.xml",
        "spiegel__2024-12_spiegel.xml",
        "deutschlandfunk__2024-12_deutschlandfunk-wirtschaft.xml",
        "handelsblatt__gen_feed-handelsblatt.xml",
    ],
)
def test_german_publisher_feeds(sweep: dict[str, list[Outcome]], name: str) -> None:
    (o,) = [o for o in sweep["feeds"] if o.path.name == name]
    assert o.feed is not None, o.error
    entries = o.feed.entries
    assert len(entries) >= 10
    assert (o.feed.language or "").startswith("de")
    assert all((e.language or "").startswith("de") for e in entries)
    text = " ".join(e.title + " " + e.summary for e in entries)
    assert re.search("[äöüßÄÖÜ]", text), "umlauts not decoded"
    assert not _MOJIBAKE.search(text), "mojibake (UTF-8 read as Latin-1)"
    assert "&amp;" not in text and "&#" not in text and "&quot;" not in text
    assert all(e.published < NOW for e in entries)
    assert all(e.published != NOW for e in entries), "dates fell back to now"


def test_german_items_with_raw_materials_vocabulary(sweep: dict[str, list[Outcome]]) -> None:
    # The example feeds depend on this: the MarketScreener version with a Seltene-Erden item.
    (o,) = [
        o
        for o in sweep["feeds"]
        if o.path.name == "marketscreener__gen_marketscreener_version-with-seltene-erden-item.xml"
    ]
    assert o.feed is not None
    assert any("Seltene" in e.title + e.summary for e in o.feed.entries)


def test_error_and_warning_counts_stay_plausible(sweep: dict[str, list[Outcome]]) -> None:
    """Guards against a change that turns many good feeds into errors (or hides all errors)."""
    feeds = sweep["feeds"]
    errors = Counter(str(o.error).split(": ", 1)[1][:30] for o in feeds if o.error)
    assert 3 <= sum(errors.values()) <= 15, errors
    assert sum(len(o.feed.entries) for o in feeds if o.feed) > 9000
