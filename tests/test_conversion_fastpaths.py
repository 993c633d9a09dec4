"""The conversion layer's fast paths give exactly what the plain implementations give:
``join_url`` against ``urllib.parse.urljoin``, ``fold_whitespace`` against the line-by-line
reference it replaced (kept here), the tag pattern against the one before its drop-branch
guard, on generated input that aims at the edge cases."""

from __future__ import annotations

import re
import urllib.parse

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.ingest import plaintext
from monitor.ingest.links import join_url, web_url
from monitor.ingest.plaintext import fold_whitespace, html_to_text

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
