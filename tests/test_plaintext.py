"""HTML -> plain text: what a reader sees, nothing else, and never an exception."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.ingest.plaintext import MAX_INPUT_CHARS, fold_whitespace, html_to_text, truncate


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Seltene <b>Erden</b></p>", "Seltene Erden"),
        ("Tom &amp; Jerry &uuml;ber &#246;l &#x2013; &nbsp;ok", "Tom & Jerry über öl – ok"),
        ("&lt;b&gt; is a tag", "<b> is a tag"),
        ("a < b and c > d", "a < b and c > d"),
        ("AT&T, R&D", "AT&T, R&D"),
        ("  viel \t\n  Platz  ", "viel\nPlatz"),
        ("fo<i>o</i>bar", "foobar"),
        ("<td>1</td><td>2</td>", "1 2"),
        ('<a href="https://x.example/">Lithium</a>-Preis', "Lithium-Preis"),
        ("<![CDATA[Kobalt]]> aus dem Kongo", "Kobalt aus dem Kongo"),
        ("<!-- Kommentar -->Gallium", "Gallium"),
        ("Seltene\u00adErden\u200b", "SelteneErden"),
    ],
)
def test_text_of_markup(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_block_elements_separate_words_and_lines() -> None:
    text = html_to_text(
        "<h1>Rohstoffe</h1><p>Eins<br>zwei</p><ul><li>Lithium</li><li>Kobalt</li></ul>"
    )
    assert text == "Rohstoffe\n\nEins\nzwei\n\nLithium\nKobalt"


def test_paragraphs_without_whitespace_between_do_not_run_together() -> None:
    assert html_to_text("<div>Graphit</div><div>Germanium</div>") == "Graphit\n\nGermanium"


@pytest.mark.parametrize(
    "markup",
    [
        "<script>var x = '<p>Lithium</p>';</script>Text",
        "<style>p { color: red }</style>Text",
        "<noscript><img src=x></noscript>Text",
        "Text<script>document.write('never closed')",
        "<svg><title>icon</title></svg>Text",
    ],
)
def test_non_prose_content_is_dropped(markup: str) -> None:
    assert html_to_text(markup) == "Text"


def test_broken_marked_section_falls_back_instead_of_raising() -> None:
    # HTMLParser raises on some "<![" constructs; the fallback still strips tags.
    text = html_to_text("<![if !IE]><p>Wolfram &amp; Zinn</p><![endif]>")
    assert "Wolfram & Zinn" in text
    assert "<" not in text


def test_plain_text_passes_through_folded() -> None:
    assert html_to_text("Lithium\r\n\r\n\r\nKobalt  Nickel") == "Lithium\n\nKobalt Nickel"


def test_fold_whitespace_keeps_one_blank_line_and_drops_controls() -> None:
    assert fold_whitespace(" a\x00b \n\n\n\t c \u00a0 d ") == "ab\n\nc d"


def test_max_chars_cuts_with_an_ellipsis() -> None:
    text = html_to_text("<p>" + "Rohstoff " * 100 + "</p>", max_chars=50)
    assert len(text) == 50
    assert text.endswith("…")
    assert truncate("kurz", 50) == "kurz"
    assert truncate("lang", 0) == ""


def test_huge_input_is_bounded() -> None:
    text = html_to_text("<p>" + "x" * (MAX_INPUT_CHARS + 1000))
    assert len(text) <= MAX_INPUT_CHARS


@given(st.text())
def test_any_text_gives_folded_text(s: str) -> None:
    out = html_to_text(s)
    assert out == out.strip()
    assert "  " not in out
    assert "\n\n\n" not in out
    assert not re.search(r"[\x00-\x08\x0b-\x1f]", out)


_TAGS = st.sampled_from(["p", "b", "br", "div", "li", "script", "style", "a", "td", "h2", "span"])


@given(
    st.lists(
        st.one_of(
            st.builds(lambda t: f"<{t}>", _TAGS),
            st.builds(lambda t: f"</{t}>", _TAGS),
            st.text(alphabet="abcäöüß &;#<>/\n\t", max_size=12),
        ),
        max_size=30,
    )
)
def test_any_tag_soup_never_raises_and_leaves_no_known_tags(parts: list[str]) -> None:
    out = html_to_text("".join(parts))
    assert not re.search(r"</?(p|b|br|div|li|script|style|td|h2|span)>", out)


@pytest.mark.parametrize(
    "hostile",
    ["<a " * 300_000, "<!--" * 300_000, "<script>" * 200_000, "<![CDATA[" * 100_000, "<" * 10**6],
)
def test_hostile_markup_takes_linear_time(hostile: str) -> None:
    started = time.perf_counter()
    html_to_text(hostile)
    # A quadratic pattern would take minutes here; linear ones take well under a second.
    assert time.perf_counter() - started < 2.0
