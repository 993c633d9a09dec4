"""The conversion layer's fast paths give exactly what the plain implementations give:
``join_url`` against ``urllib.parse.urljoin``, ``fold_whitespace`` against the line-by-line
reference it replaced (kept here), on generated input that aims at the edge cases."""

from __future__ import annotations

import re
import urllib.parse

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.ingest.links import join_url, web_url
from monitor.ingest.plaintext import fold_whitespace

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
    alphabet=st.sampled_from(list("ab \n\r\t\xa0\u2028\u3000\x00\x0b\x1c\x85\u00ad\u200bé–")),
    max_size=40,
)


@given(TEXT)
@example(" a  b \n\n\n c \n")
@example("\xa0\n\xa0x\xa0\n")
@example("a\x0bb\n\n\u00ad\n c")
@settings(max_examples=3000, deadline=None)
def test_fold_is_the_reference(text: str) -> None:
    assert fold_whitespace(text) == reference_fold(text)


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
