"""Rendering: every shipped template, hostile feed content, localization, user overrides."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from monitor.config.channels import SubscriptionSettings
from monitor.delivery.digest import Digest, build_alert, build_digest
from monitor.delivery.l10n import format_datetime, format_number
from monitor.delivery.render import Renderer
from monitor.delivery.slack_blocks import (
    SLACK_MAX_BLOCKS,
    SLACK_MAX_HEADER,
    SLACK_MAX_SECTION,
    safe_url,
)
from monitor.errors import TemplateError
from monitor.model import Entry, Hit, Match, RenderedMessage
from monitor.resources import shipped_templates_dir

NOW = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
FEED = "https://news.example.org/feed.xml"
HOSTILE_TITLE = (
    'Gallium <script>alert("x")</script> <!channel> <!here> <@U123> '
    "<https://evil.example|Klick> *bold* _it_ ~del~ `code` {{ 7*7 }} {% raw %} Größe 🔋"
)


def sub(lang: str = "de", **kw: object) -> SubscriptionSettings:
    base: dict[str, object] = {
        "name": "morgen",
        "channel": "c",
        "mode": "digest",
        "schedule": "0 7 * * mon-fri",
        "language": lang,
    }
    return SubscriptionSettings.model_validate(base | kw)


def hostile_pair(
    eid: str = "1", *, title: str = HOSTILE_TITLE, link: str | None = None
) -> tuple[Entry, Match]:
    summary = "Peking beschränkt\r\nExporte von Gallium. Ärger in Übersee 🚢 <b>fett</b> & mehr."
    e = Entry(
        feed_url=FEED,
        id=eid,
        title=title,
        link=link if link is not None else f"https://news.example.org/a?id={eid}&x=1",
        summary=summary,
        content="",
        published=NOW - timedelta(hours=2),
    )
    hits = []
    if "Gallium" in title:
        t = title.index("Gallium")
        hits.append(Hit("gallium", "Gallium", "title", t, t + 7, "Gallium"))
    s = summary.index("Gallium")
    hits.append(Hit("gallium", "Gallium", "summary", s, s + 7, "Gallium", 93.0))
    return e, Match("gallium-export", 87, hits=tuple(hits))


def digest(lang: str = "de", pairs: list[tuple[Entry, Match]] | None = None) -> Digest:
    return build_digest(
        pairs if pairs is not None else [hostile_pair()],
        sub(lang),
        NOW,
        since=NOW - timedelta(days=1),
        sources={FEED: "Rohstoff-Nachrichten <Test>"},
        rule_titles={"gallium-export": "Gallium-Exportkontrollen"},
    )


def slack_texts(message: RenderedMessage) -> list[str]:
    texts = []
    for payload in message.slack_payloads:
        texts.append(payload["text"])
        for block in payload["blocks"]:
            if "text" in block:
                texts.append(block["text"]["text"])
            for element in block.get("elements", []):
                texts.append(element["text"])
    return texts


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


# --- every shipped template -------------------------------------------------------------------


def test_every_shipped_template_renders(renderer: Renderer) -> None:
    shipped = {
        p.relative_to(shipped_templates_dir()).as_posix()
        for p in shipped_templates_dir().rglob("*.j2")
        if not p.name.startswith("_")
    }
    used = set()
    for lang in ("de", "en"):
        for kind in ("digest", "alert", "empty"):
            if kind == "alert":
                pair = hostile_pair()
                message = renderer.render_alert(build_alert(*pair, sub(lang), NOW))
            else:
                message = renderer.render_digest(digest(lang, [] if kind == "empty" else None))
            assert message.subject and "\n" not in message.subject
            assert message.html.startswith("<!DOCTYPE html>") and f'lang="{lang}"' in message.html
            assert message.text.strip()
            json.dumps(message.slack_payloads)  # valid JSON by construction
            json.dumps(message.data)
            k: Literal["alert", "digest"] = "alert" if kind == "alert" else "digest"
            for fmt in ("html", "txt", "slack"):
                used.add(renderer.template_name(fmt, k, "default", lang))
    assert used == shipped


def test_german_and_english_are_localized(renderer: Renderer) -> None:
    de, en = renderer.render_digest(digest("de")), renderer.render_digest(digest("en"))
    assert "Montag, 24. November 2025, 07:00 MEZ" in de.html
    assert "Monday, 24 November 2025, 07:00 CET" in en.html
    assert "24.11.2025, 05:00" in de.text  # entry time, local (UTC+1)
    assert "24 Nov 2025, 05:00" in en.text
    assert "1 Meldung " in de.subject and "1 story " in en.subject
    # Readers see concepts and places; offsets, variants and similarities stay in the data.
    assert "Gallium in der Überschrift" in de.text and "Gallium in the headline" in en.text
    for m in (de, en):
        assert "[0–7]" not in m.text + m.html and "93 %" not in m.text + m.html
    assert de.data["stories"][0]["items"][0]["hits"][1]["similarity"] == 93.0


def test_formatters() -> None:
    summer = datetime(2025, 7, 1, 5, 30, tzinfo=UTC)
    assert format_datetime(summer, "de", "Europe/Berlin") == "1. Juli 2025, 07:30 MESZ"
    assert format_datetime(summer, "en", "America/New_York", "short") == "1 Jul 2025, 01:30"
    assert format_datetime(summer, "de", "Europe/Berlin", "date") == "Dienstag, 1. Juli 2025"
    assert format_number(1234567.891, "de", 2) == "1.234.567,89"
    assert format_number(1234567.891, "en", 2) == "1,234,567.89"
    assert format_number(5, "de") == "5"


# --- hostile content --------------------------------------------------------------------------


def test_html_escapes_feed_text_and_highlights_hits(renderer: Renderer) -> None:
    html = renderer.render_digest(digest()).html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;fett&lt;/b&gt;" in html
    assert re.search(r"<mark[^>]*>Gallium</mark>", html)
    assert "{{ 7*7 }}" in html and "49" not in html
    assert "Größe 🔋" in html and "Übersee 🚢" in html
    assert "Rohstoff-Nachrichten &lt;Test&gt;" in html
    assert 'href="https://news.example.org/a?id=1&amp;x=1"' in html


def test_css_is_inlined(renderer: Renderer) -> None:
    html = renderer.render_digest(digest()).html
    assert "<style" not in html
    assert re.search(r'<mark style="[^"]*background', html)


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "data:text/html,x",
     "vbscript:x", "java\nscript:alert(1)", "//evil.example/x", "https://"],
)  # fmt: skip
def test_unsafe_links_never_become_clickable(renderer: Renderer, link: str) -> None:
    assert safe_url(link) is None
    e, m = hostile_pair(link=link)
    message = renderer.render_alert(build_alert(e, m, sub(), NOW))
    assert "href=" not in message.html.split("<body", 1)[1]
    assert link.strip() not in [line.strip() for line in message.text.splitlines()]
    assert not any(
        "<" in t and "|" in t and "javascript" in t.lower() for t in slack_texts(message)
    )
    assert message.data["item"]["link"] is None


def test_slack_text_cannot_mention_link_or_format(renderer: Renderer) -> None:
    message = renderer.render_digest(digest())
    joined = "\n".join(slack_texts(message))
    for forbidden in ("<!channel>", "<!here>", "<@U123>", "<https://evil", "*bold*", "_it_"):
        assert forbidden not in joined
    # Every "<" that is left opens one of our own links, to the entry's (escaped) URL.
    assert re.findall(r"<([^>|]*)\|", joined) == ["https://news.example.org/a?id=1&amp;x=1"]
    assert joined.count("<") == 1
    visible = joined.replace("\u200b", "")  # what a reader sees: the text, unchanged
    assert "&lt;!channel&gt;" in visible and "{{ 7*7 }}" in visible and "*bold*" in visible


def test_cr_lf_and_huge_titles_stay_in_bounds(renderer: Renderer) -> None:
    title = "Gallium\r\nBcc: victim@example.org\r\n\r\n" + "Ä" * 10_000
    message = renderer.render_alert(build_alert(*hostile_pair(title=title), sub(), NOW))
    assert "\r" not in message.subject and "\n" not in message.subject
    assert len(message.subject) <= 200
    assert "\nBcc:" not in message.text
    header = message.slack_payloads[0]["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= SLACK_MAX_HEADER


def test_slack_limits_hold_for_extreme_content(renderer: Renderer) -> None:
    long_url = "https://news.example.org/" + "a" * 6000
    pairs = [hostile_pair(str(n), title="Gallium " + "🔋" * 2000, link=long_url) for n in range(3)]
    message = renderer.render_digest(digest("en", pairs))
    for payload in message.slack_payloads:
        assert len(payload["blocks"]) <= SLACK_MAX_BLOCKS
        for block in payload["blocks"]:
            if block["type"] == "section":
                text = block["text"]["text"]
                assert 0 < len(text.encode("utf-16-le")) // 2 <= SLACK_MAX_SECTION
                assert text.count("<") == text.count(">")  # no link cut in half


# --- user templates ---------------------------------------------------------------------------


def test_user_folder_overrides_by_name_and_falls_back(tmp_path: Path) -> None:
    (tmp_path / "default" / "de").mkdir(parents=True)
    (tmp_path / "default" / "de" / "digest.txt.j2").write_text(
        "{% set subject %}Eigener Betreff {{ digest.total }}{% endset %}"
        "EIGEN {% for i in digest.items() %}{{ i.title.text }}|{% endfor %}",
        encoding="utf-8",
    )
    (tmp_path / "kompakt" / "de").mkdir(parents=True)
    (tmp_path / "kompakt" / "de" / "digest.html.j2").write_text(
        "<!DOCTYPE html><p>{{ digest.total }} – {{ digest.items()[0].title.text }}</p>",
        encoding="utf-8",
    )
    renderer = Renderer(user_dir=tmp_path)
    message = renderer.render_digest(digest())
    assert message.subject == "Eigener Betreff 1"
    assert message.text.startswith("EIGEN Gallium <script>")  # plain text: not escaped
    assert "Rohstoff-Digest" in message.html  # html still the shipped one

    compact = build_digest([hostile_pair()], sub(template="kompakt"), NOW)
    message = renderer.render_digest(compact)
    assert "<p>1 – Gallium &lt;script&gt;" in message.html
    assert message.subject == "Eigener Betreff 1"  # falls back to default/de (the user's)
    assert (
        renderer.template_name("slack", "digest", "kompakt", "de") == "default/de/digest.slack.j2"
    )


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{% if %}", "digest.txt.j2 line 1"),
        ("{% set subject %}x{% endset %}{{ digest.nothing_here }}", "nothing_here"),
        ("no subject here", "sets no subject"),
    ],
)
def test_broken_user_templates_name_the_template(tmp_path: Path, source: str, says: str) -> None:
    (tmp_path / "default" / "de").mkdir(parents=True)
    (tmp_path / "default" / "de" / "digest.txt.j2").write_text(source, encoding="utf-8")
    with pytest.raises(TemplateError, match=re.escape(says)) as info:
        Renderer(user_dir=tmp_path).render_digest(digest())
    assert "digest.txt.j2" in str(info.value) and "hint" in str(info.value)


def test_missing_user_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        Renderer(user_dir=tmp_path / "nope")


# --- size and speed ---------------------------------------------------------------------------


def test_five_hundred_stories_are_capped_under_100_kb_and_kept_whole_in_the_data(
    renderer: Renderer,
) -> None:
    # 500 different entries (each its own story, none stored): the HTML and Slack show
    # `max_stories` (25) and "and 475 more"; the JSON (webhook, file channel) keeps all 500.
    pairs = [hostile_pair(str(n)) for n in range(500)]
    message = renderer.render_digest(digest("de", pairs))
    size = len(message.html.encode("utf-8"))
    assert size < 100_000, f"a 500-hit digest is {size} bytes of HTML (Gmail clips at ~102 KB)"
    assert message.html.count('class="entry"') == 25
    assert "und 475 weitere Meldungen" in message.html and "und 475 weitere" in message.text
    assert message.data["stories_total"] == 500 and len(message.data["stories"]) == 500
    assert message.data["stories_shown"] == 25 and message.data["total"] == 500
    assert any("und 475 weitere Meldungen" in t for t in slack_texts(message))
