"""The conversion layer's fast paths give exactly what the plain implementations give:
``join_url`` against ``urllib.parse.urljoin``, ``fold_whitespace`` against the line-by-line
reference it replaced (kept here), the tag pattern against the one before its drop-branch
guard, on generated input that aims at the edge cases."""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import re
import time
import urllib.parse
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.ingest import fastparse, parse, plaintext
from monitor.ingest.links import join_url, web_url
from monitor.ingest.plaintext import fold_whitespace, html_to_text
from monitor.model import Entry, entry_fingerprint

_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff\x00-\x08\x0b-\x1f\x7f-\x9f]")


def reference_fold(text: str) -> str:
    """fold_whitespace as it was before the fast paths (2026-12-01)."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines: list[str] = []
    blank = False
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if not line:
            blank = True
            continue
        if blank and lines:
            lines.append("")
        lines.append(line)
        blank = False
    return "\n".join(lines)


def reference_web_url(base: str, link: str) -> str | None:
    try:
        url = urllib.parse.urljoin(base, link)
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


TEXT = st.text(
    alphabet=st.sampled_from(
        list(
            "ab \n\r\t\xa0\u2028\u2029\u3000\u1680\u2000\u200a\u202f\u205f\x00\x0b\x0c\x1c"
            "\x1f\x85\x9f\u00ad\u200b\u200c\u2060\ufeff\ud800\ufffeé–"
        )
    ),
    max_size=40,
)


@given(TEXT)
@example(" a  b \n\n\n c \n")
@example("\xa0\n\xa0x\xa0\n")
@example("a\x0bb\n\n\u00ad\n c")
@settings(max_examples=3000, deadline=None)
def test_fold_is_the_reference(text: str) -> None:
    assert fold_whitespace(text) == reference_fold(text)


def test_fold_fixes_cover_every_space_and_invisible_character() -> None:
    """The code points folded one by one in non-printable text are exactly what splitting into
    words and the invisible-character pattern act on."""
    everything = [chr(c) for c in range(0x110000)]
    spaces = {c for c in everything if c.isspace()} - {" ", "\n", "\r", "\xa0"}
    invisible = {c for c in everything if _INVISIBLE.match(c)}
    fixes = dict(plaintext._FIXES)
    assert {c for c, r in fixes.items() if r == " "} == spaces - invisible
    assert {c for c, r in fixes.items() if r == ""} == invisible
    assert not any(c.isprintable() for c in fixes)
    assert set(plaintext._INVISIBLE_CHARS) == invisible


# The tag pattern before the drop branch got its guard (2026-12-03).
_DROP_NAMES = "|".join(sorted(plaintext._DROP))
REFERENCE_MARKUP = re.compile(
    r"<(?:"
    r"!--(?:.*?-->|.*\Z)"
    r"|!\[CDATA\[(?P<cdata>.*?)(?:\]\]>|\Z)"
    r"|(?P<drop>(?i:(?P<dropname>" + _DROP_NAMES + r"))\b[^<>]*>"
    r"(?:.*?</(?i:(?P=dropname))\s*>|.*\Z))"
    r"|(?P<tag>/?[a-zA-Z][\w:.-]*)[^<>]*>"
    r"|[!?/][^<>]*>"
    r")",
    re.DOTALL,
)


def test_drop_guard_takes_every_case_of_the_initials() -> None:
    """Every code point a drop name's first letter matches case-insensitively passes the guard."""
    initials = sorted({name[0] for name in plaintext._DROP})
    guard = re.compile("(?i:[" + plaintext._DROP_INITIALS + "])")
    letters = [re.compile(f"(?i:{letter})") for letter in initials]
    for code in range(0x110000):
        char = chr(code)
        if any(letter.match(char) for letter in letters):
            assert guard.match(char), hex(code)


MARKUP = st.lists(
    st.sampled_from(
        [
            "<", ">", "/", "!", "?", "--", "[CDATA[", "]]>", "p", "P", "br", "li", "td", "a",
            "script", "SCRIPT", "\u017fcript", "style", "svg", "title", "tit", "head", "iframe",
            "noscript", "object", "math", "template", " ", "x", "é", "\u0130", "\u212a", "-",
            ":", "=", '"', "&amp;", "\n",
        ]
    ),
    max_size=16,
).map("".join)  # fmt: skip


@given(MARKUP)
@example("<script>x</script>y<p>z")
@example("<!-- a --><![CDATA[<b>]]><\u017fcript>x</script>")
@settings(max_examples=5000, deadline=None)
def test_markup_pattern_is_the_reference(markup: str) -> None:
    ours = plaintext._MARKUP.sub(plaintext._replace, markup)
    assert ours == REFERENCE_MARKUP.sub(plaintext._replace, markup)
    assert isinstance(html_to_text(markup), str)


BASES = st.sampled_from(
    [
        "https://example.org/news/feed.xml",
        "http://example.org/a/b/",
        "https://example.org",
        "ftp://example.org/x",
        "",
        "feed.xml",
    ]
)
LINK = st.lists(
    st.sampled_from(
        [
            "http", "https", "HTTP", "Https", "urn", "tag", "mailto", "ftp", "file", ":", "//",
            "/", "?", "#", ";", "[", "]", "@", "example.org", "a", "é", " ", "\t", "\n", "..",
            ".", "x=1", "%20", "&amp;", "1", "+", "-",
        ]
    ),
    max_size=8,
).map("".join)  # fmt: skip


@given(BASES, LINK)
@example("https://example.org/f", "https://example.org/p?")
@example("https://example.org/f", "https://example.org/p#")
@example("https://example.org/f", "https://example.org/p?#x")
@example("https://example.org/f", "https://example.org/p;x")
@example("https://example.org/f", "HTTPS://example.org/p")
@example("https://example.org/f", "https:///p")
@example("https://example.org/f", "https://[::1/p")
@example("https://example.org/f", "http://example.org/p#a#")
@settings(max_examples=5000, deadline=None)
def test_join_url_is_urljoin(base: str, link: str) -> None:
    try:
        expected: str | type[ValueError] = urllib.parse.urljoin(base, link)
    except ValueError:
        expected = ValueError
    try:
        got: str | type[ValueError] = join_url(base, link)
    except ValueError:
        got = ValueError
    assert got == expected
    assert web_url(base, link) == reference_web_url(base, link)


# --- conv2 (2026-12-03): folding in one function, dates without timegm, the summary's text
# reused for equal content, the feedparser-rs shim's body scans -------------------------------


def reference_checked_fold(text: str, max_chars: int | None) -> tuple[str, bool]:
    """checked_fold as it was: the folding, then truncate; printable as the text was after
    line ends and no-break spaces were normalised, line breaks aside."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    return plaintext.truncate(reference_fold(text), max_chars), normal.replace(
        "\n", " "
    ).isprintable()


@given(TEXT, st.sampled_from([None, 0, 1, 3, 10, 40]))
@example(" a  b \n\n\n c \n", 4)
@example("a\n\n\nb", None)
@example("  ", None)
@settings(max_examples=3000, deadline=None)
def test_checked_fold_is_the_reference(text: str, max_chars: int | None) -> None:
    assert plaintext.checked_fold(text, max_chars) == reference_checked_fold(text, max_chars)


def reference_datetime(value: time.struct_time) -> datetime | None:
    """parse._date's conversion as it was (calendar.timegm, then fromtimestamp)."""
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


FIELD = st.integers(min_value=-2, max_value=62)


@given(
    st.one_of(st.integers(min_value=-1, max_value=10_001), st.sampled_from([1, 1970, 9999])),
    st.integers(min_value=-1, max_value=14),
    st.integers(min_value=-1, max_value=33),
    st.integers(min_value=-1, max_value=25),
    FIELD,
    FIELD,
)
@example(9999, 12, 31, 23, 59, 59)
@example(1, 1, 1, 0, 0, 0)
@example(2024, 2, 30, 24, 0, 60)
@example(0, 1, 1, 0, 0, 0)
@settings(max_examples=3000, deadline=None)
def test_datetime_is_the_timegm_way(y: int, mo: int, d: int, h: int, mi: int, s: int) -> None:
    value = time.struct_time((y, mo, d, h, mi, s, 0, 1, 0))
    assert parse._datetime(value) == reference_datetime(value)
    got = parse._datetime(value)
    assert got is None or (got.tzinfo is UTC and got.microsecond == 0)


def _converted(value: str, literal: bool, max_chars: int) -> str:
    if literal:
        return plaintext.checked_fold(value, max_chars)[0]
    return plaintext.checked_html_to_text(value, max_chars)[0]


KIND = st.sampled_from(["text/html", "text/plain", "application/xhtml+xml", "image/png"])


@given(MARKUP, st.lists(st.tuples(MARKUP, KIND), max_size=3), KIND, st.booleans())
@example("<p>a</p>", [("<p>a</p>", "text/html")], "text/html", True)
@example("<p>a</p>", [("<p>a</p>", "text/plain")], "text/html", True)
@example("a<b>", [("a<b>", "text/html"), ("a<b>c", "text/html")], "text/plain", True)
@settings(max_examples=2000, deadline=None)
def test_content_equal_to_the_summary_converts_as_before(
    summary: str, items: list[tuple[str, str]], summary_kind: str, atom: bool
) -> None:
    """The summary's text taken for a content item equal to it gives what converting the item
    gives (the longest text/HTML item, "" when it is the summary's text)."""
    ctx = parse._FeedContext(
        feed_url="https://f.example/feed",
        base="https://f.example/feed",
        now=datetime(2026, 9, 1, tzinfo=UTC),
        latest=datetime(2026, 9, 1, 0, 10, tzinfo=UTC),
        language=None,
        link="",
        atom=atom,
        authors={},
    )
    raw = {
        "id": "x",
        "summary": summary,
        "summary_detail": {"type": summary_kind, "value": summary},
        "content": [{"type": kind, "value": value} for value, kind in items],
    }
    entry = parse._convert_entry(raw, ctx)
    expected_summary = _converted(summary, atom and summary_kind == "text/plain", 100_000)
    best = ""
    for value, kind in items:
        if kind.startswith("text/") or kind.endswith("xhtml+xml"):
            text = _converted(value, atom and kind == "text/plain", 100_000)
            best = text if len(text) > len(best) else best
    assert entry.summary == plaintext.storable(expected_summary)
    assert entry.content == ("" if best == expected_summary else plaintext.storable(best))


def test_entry_fingerprint_is_the_parts_hashed_one_by_one() -> None:
    for parts in [("", "", ""), ("a", "b\x00", "c"), ("\ud800", "é–", "\udfff\U0001f600")]:
        h = hashlib.blake2b(digest_size=12)
        for part in parts:
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        assert entry_fingerprint(*parts) == h.hexdigest()


# The shim's body patterns before they lost their backtracking (2026-12-03).
REFERENCE_EMPTY_ELEMENT = re.compile(
    rb"<!\[CDATA\[[^\]]*(?:\](?!\]>)[^\]]*)*(?:\]\]>|\Z)"
    rb"|<!--[^-]*(?:-(?!->)[^-]*)*(?:-->|\Z)"
    rb"|<([A-Za-z_][\w:.-]*)(\s[^<>]*?)?/>",
    re.DOTALL,
)


def reference_expand(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name is None:
        return match.group(0)
    return b"<%s%s></%s>" % (name, match.group(2) or b"", name)


REFERENCE_UPDATED = re.compile(rb"<(?:[\w.-]+:)?(?:updated|modified|date)[\s>]")
REFERENCE_SUSPECT = re.compile(rb"\xc2[\x80-\x9f]|\xc3[\x82-\xb4]\xc2[\x80-\xbf]")

BODY = st.lists(
    st.sampled_from(
        [
            b"<", b">", b"/", b"/>", b"!", b"--", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"]",
            b"a", b"dc:", b"x.y", b"_", b"1", b" ", b"\n", b"=", b'"', b"updated", b"date",
            b"modified", b"<a", b"<b ", b"<!", b"D", b"\xc2", b"\xc3", b"\x80", b"\x9f", b"\xa0",
            b"\xb4", b"\xbf", b"\x82",
        ]
    ),
    max_size=20,
).map(b"".join)  # fmt: skip


@given(BODY)
@example(b'<a href="x"/><b/><c d="/"/><![CDATA[<e/>]]><!-- <f/> --><g / >')
@example(b"<!DOCTYPE x><a/><!-- <b/> <![CDATA[ --><c/>]]><d/><![CDATA[<e/>")
@example(b"<a //><b>/><c\n/><!---><d/>")
@example(b"<x:y:date> date <dc:date>")
@example(b"<a>updated <b.c-d:modified\n")
@example(b"\xc3\xa4\xc2\x80 \xc3\x82\xc2\xbf")
@settings(max_examples=5000, deadline=None)
def test_shim_body_patterns_are_the_reference(body: bytes) -> None:
    assert fastparse._expand_empty_elements(body) == REFERENCE_EMPTY_ELEMENT.sub(
        reference_expand, body
    )
    assert fastparse._has_updated_element(body) == (REFERENCE_UPDATED.search(body) is not None)
    assert (fastparse._SUSPECT_UTF8.search(body) is None) == (
        REFERENCE_SUSPECT.search(body) is None
    )


def test_shim_reads_text_constructs_by_attribute_as_by_get() -> None:
    from tests.fixtures.resources import need

    need(fastparse.available(), "feedparser-rs is not installed (pip install -e '.[fast]')")
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">'
        b'<title type="html">T &amp;lt;b&amp;gt;</title><id>f</id>'
        b'<entry xml:base="https://b.example/"><id>1</id><title type="text">a</title>'
        b'<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">s</div></summary>'
        b'<content type="html" xml:lang="en">c</content>'
        b"<author><name>N</name></author></entry></feed>"
    )
    d = fastparse._lib.parse(body)
    entry = d.entries[0]
    for construct in (entry.title_detail, entry.summary_detail, *entry.content):
        for key in ("type", "value", "language", "base"):
            assert getattr(construct, key) == construct.get(key), key
    assert entry.author_detail.name == entry.author_detail.get("name")


def test_entries_are_made_with_the_fields_in_their_order() -> None:
    """parse._convert_entry makes Entry positionally, with the fingerprint it would compute."""
    assert [f.name for f in dataclasses.fields(Entry)] == [
        "feed_url", "id", "title", "link", "summary", "content", "published", "author",
        "language", "updated", "first_seen", "fingerprint",
    ]  # fmt: skip
    ctx = parse._FeedContext(
        feed_url="https://f.example/feed",
        base="https://f.example/feed",
        now=datetime(2026, 9, 1, tzinfo=UTC),
        latest=datetime(2026, 9, 1, 0, 10, tzinfo=UTC),
        language="de",
        link="",
        atom=False,
        authors={},
    )
    raw = {
        "id": "g",
        "title": "T",
        "summary": "S",
        "content": [{"type": "text/html", "value": "C"}],
        "link": "https://f.example/a",
        "author": "A",
        "published_parsed": time.struct_time((2026, 8, 1, 12, 0, 0, 0, 1, 0)),
        "updated_parsed": time.struct_time((2026, 8, 2, 12, 0, 0, 0, 1, 0)),
    }
    got = parse._convert_entry(raw, ctx)
    want = Entry(
        feed_url="https://f.example/feed",
        id="g",
        title="T",
        link="https://f.example/a",
        summary="S",
        content="C",
        published=datetime(2026, 8, 1, 12, tzinfo=UTC),
        author="A",
        language="de",
        updated=datetime(2026, 8, 2, 12, tzinfo=UTC),
    )
    assert dataclasses.astuple(got) == dataclasses.astuple(want)
    assert got.first_seen is None and got.fingerprint == want.fingerprint


@given(
    st.text(alphabet=st.sampled_from(list("a \x7f\x80\x9f\xa0\xbf\xc2\xe4\xf4\xf5–")), max_size=12)
)
@settings(max_examples=2000, deadline=None)
def test_shim_leaves_ascii_text_to_itself(text: str) -> None:
    """_fix skips ASCII text without its search: the search never finds anything in it."""
    assert not (text.isascii() and fastparse._SUSPECT.search(text))
