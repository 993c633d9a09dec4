"""Digest and alert building (pure), and the subscription settings that drive it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.config.channels import NotifySettings, SubscriptionSettings
from monitor.delivery.digest import TITLE_WIDTH, build_alert, build_alerts, build_digest, cut
from monitor.model import Entry, Hit, Match

NOW = datetime(2025, 11, 24, 6, 0, tzinfo=UTC)
FEED = "https://news.example.org/rohstoffe.xml"


def entry(eid: str, title: str, summary: str = "", *, hours_ago: float = 1, **kw: str) -> Entry:
    return Entry(
        feed_url=kw.pop("feed_url", FEED),
        id=eid,
        title=title,
        link=f"https://news.example.org/{eid}",
        summary=summary,
        content=kw.pop("content", ""),
        published=NOW - timedelta(hours=hours_ago),
    )


def hit(e: Entry, word: str, field: str = "title", concept: str | None = None) -> Hit:
    start = e.text(field).index(word)
    return Hit(concept or word.lower(), word, field, start, start + len(word), word)


def sub(**kw: object) -> SubscriptionSettings:
    base: dict[str, object] = {
        "name": "morning",
        "channel": "mail",
        "mode": "digest",
        "schedule": "0 7 * * mon-fri",
    }
    return SubscriptionSettings.model_validate(base | kw)


# --- grouping and ordering --------------------------------------------------------------------


def test_groups_by_rule_best_rule_first_items_by_score_then_newest() -> None:
    a = entry("a", "Gallium exports halted", hours_ago=5)
    b = entry("b", "Gallium prices jump", hours_ago=1)
    c = entry("c", "Gallium stockpile", hours_ago=2)
    d = entry("d", "Lithium deal signed")
    pairs = [
        (a, Match("gallium", 70, hits=(hit(a, "Gallium"),))),
        (b, Match("gallium", 70, hits=(hit(b, "Gallium"),))),
        (c, Match("gallium", 90, hits=(hit(c, "Gallium"),))),
        (d, Match("lithium", 95, hits=(hit(d, "Lithium"),))),
    ]
    digest = build_digest(pairs, sub(), NOW, rule_titles={"gallium": "Gallium", "lithium": "Li"})
    assert [g.rule_id for g in digest.groups] == ["lithium", "gallium"]
    assert [i.entry.id for i in digest.groups[1].items] == ["c", "b", "a"]
    assert [(g.title, g.count) for g in digest.groups] == [("Li", 1), ("Gallium", 3)]
    assert digest.total == 4 and digest.entry_count == 4 and not digest.is_empty


def test_subscription_filters_rules_and_min_score_and_keeps_best_duplicate() -> None:
    e = entry("a", "Cobalt and gallium news")
    pairs = [
        (e, Match("cobalt", 40)),
        (e, Match("cobalt", 60)),  # the same (entry, rule) twice: the better one wins
        (e, Match("gallium", 80)),
        (e, Match("graphite", 99)),
    ]
    digest = build_digest(pairs, sub(rules=["cobalt", "gallium"], min_score=50), NOW)
    assert {(i.rule_id, i.score) for i in digest.items()} == {("cobalt", 60), ("gallium", 80)}
    assert digest.entry_count == 1 and digest.total == 2


@pytest.mark.parametrize(("mode", "shown", "omitted"), [("mark", 2, 0), ("omit", 1, 1)])
def test_alerted_entries_are_marked_or_left_out(mode: str, shown: int, omitted: int) -> None:
    a, b = entry("a", "Gallium A"), entry("b", "Gallium B")
    pairs = [(a, Match("gallium", 80)), (b, Match("gallium", 70))]
    digest = build_digest(pairs, sub(alerted=mode), NOW, alerted={(FEED, "a")})
    assert digest.total == shown and digest.omitted_alerted == omitted
    assert [i.alerted for i in digest.items()] == ([True, False] if mode == "mark" else [False])


def test_empty_digest_and_window_are_carried() -> None:
    since = NOW - timedelta(days=1)
    digest = build_digest([], sub(send_empty=True, language="en"), NOW, since=since)
    assert digest.is_empty and digest.total == 0
    assert (digest.since, digest.now, digest.language, digest.timezone) == (
        since,
        NOW,
        "en",
        "Europe/Berlin",
    )


def test_source_labels_from_mapping_else_host() -> None:
    a = entry("a", "x", feed_url="https://a.example/feed")
    b = entry("b", "y", feed_url="https://b.example/rss")
    digest = build_digest(
        [(a, Match("r", 1)), (b, Match("r", 2))],
        sub(),
        NOW,
        sources={"https://a.example/feed": "Agentur\nA"},
    )
    assert sorted(i.source for i in digest.items()) == ["Agentur A", "b.example"]


def test_alerts_one_per_entry_and_rule_best_first() -> None:
    a, b = entry("a", "Gallium"), entry("b", "Germanium")
    alert_sub = sub(mode="alert", schedule=None, min_score=50)
    alerts = build_alerts(
        [(a, Match("g", 60)), (b, Match("g", 90)), (b, Match("h", 20))], alert_sub, NOW
    )
    assert [(x.item.entry.id, x.item.score) for x in alerts] == [("b", 90), ("a", 60)]
    single = build_alert(a, Match("g", 60), alert_sub, NOW, rule_titles={"g": "Gallium"})
    assert single.item.rule_title == "Gallium" and single.now == NOW


# --- snippets and titles ----------------------------------------------------------------------


def test_snippet_is_cut_around_the_hit_with_ellipses() -> None:
    content = (
        "Vorspann " * 100 + "China kündigt Exportkontrollen für Germanium an. " + "Rest " * 100
    )
    e = entry("a", "Meldung", content=content)
    item = build_digest([(e, Match("ge", 80, hits=(hit(e, "Germanium", "content"),)))], sub(), NOW)
    snip = item.items()[0].snippet
    assert snip.field == "content"
    assert snip.text.startswith("…") and snip.text.endswith("…")
    assert len(snip.text) <= 240 + 2
    assert [snip.text[s:e] for s, e in snip.spans] == ["Germanium"]


def test_line_breaks_and_control_characters_collapse_and_spans_follow() -> None:
    summary = "Peking:\r\n\r\n   neue\tRegeln\x00 für  Seltene\nErden und Gallium."
    e = entry("a", "Zeile 1\r\nBcc: evil@example.org", summary)
    start = summary.index("Seltene")
    hits = (
        Hit("ree", "Seltene Erden", "summary", start, start + len("Seltene\nErden"), "x"),
        hit(e, "Gallium", "summary"),
        hit(e, "Bcc", "title"),
    )
    item = build_digest([(e, Match("r", 80, hits=hits))], sub(), NOW).items()[0]
    assert item.snippet.text == "Peking: neue Regeln für Seltene Erden und Gallium."
    assert [item.snippet.text[s:e] for s, e in item.snippet.spans] == ["Seltene Erden", "Gallium"]
    assert item.title.text == "Zeile 1 Bcc: evil@example.org"
    assert [item.title.text[s:e] for s, e in item.title.spans] == ["Bcc"]


def test_long_title_is_cut_and_hits_beyond_the_cut_are_dropped() -> None:
    title = "Gallium " + "x" * 10_000 + " Germanium"
    e = entry("a", title)
    item = build_digest(
        [(e, Match("r", 80, hits=(hit(e, "Gallium"), hit(e, "Germanium"))))], sub(), NOW
    ).items()[0]
    assert len(item.title.text) <= TITLE_WIDTH + 1 and item.title.text.endswith("…")
    assert [item.title.text[s:e] for s, e in item.title.spans] == ["Gallium"]


def test_nonsense_offsets_are_ignored_not_fatal() -> None:
    e = entry("a", "Kurz", "Kurzer Text")
    hits = (Hit("x", "x", "summary", 50, 60, "x"), Hit("y", "y", "title", 3, 2, "y"))
    item = build_digest([(e, Match("r", 80, hits=hits))], sub(), NOW).items()[0]
    assert item.snippet.spans == () and item.title.spans == ()
    assert item.snippet.text == "Kurzer Text"


def test_umlauts_and_emoji_keep_their_offsets() -> None:
    summary = "🔋🇨🇳 Größere Lithium-Lieferungen 🚢 nach Übersee"
    e = entry("a", "Lithium 🔋", summary)
    hits = (hit(e, "Lithium", "summary"), hit(e, "Übersee", "summary"))
    item = build_digest([(e, Match("li", 80, hits=hits))], sub(), NOW).items()[0]
    assert [item.snippet.text[s:e] for s, e in item.snippet.spans] == ["Lithium", "Übersee"]


@given(
    words=st.lists(
        st.text(alphabet="abcäöüßxyz🔋", min_size=1, max_size=12), min_size=1, max_size=200
    ),
    seps=st.lists(st.sampled_from([" ", "\n", "\r\n", "\t ", "  "]), min_size=200, max_size=200),
    pick=st.integers(min_value=0),
    width=st.integers(min_value=20, max_value=400),
)
@settings(deadline=None)  # the side stream (tests/streams.py) runs at nice 19
def test_property_highlight_covers_exactly_the_hit(
    words: list[str], seps: list[str], pick: int, width: int
) -> None:
    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    index = pick % len(words)
    start = sum(len(w) + len(s) for w, s in zip(words[:index], seps, strict=False))
    snip = cut(text, [(start, start + len(words[index]))], width)
    assert [snip.text[s:e] for s, e in snip.spans] == [words[index]]
    assert "\n" not in snip.text and "\r" not in snip.text


def test_building_is_pure_and_deterministic() -> None:
    a = entry("a", "Gallium")
    pairs = [(a, Match("g", 60, hits=(hit(a, "Gallium"),)))]
    assert build_digest(pairs, sub(), NOW) == build_digest(pairs, sub(), NOW)
    later = build_digest(pairs, sub(), NOW + timedelta(hours=1))
    assert later.now == NOW + timedelta(hours=1)


# --- subscription settings --------------------------------------------------------------------


def test_subscription_defaults() -> None:
    s = sub()
    assert (s.timezone, s.language, s.template, s.rules, s.alerted, s.send_empty) == (
        "Europe/Berlin",
        "de",
        "default",
        "*",
        "mark",
        False,
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"schedule": "0 7 * *"}, "not a valid cron expression"),
        ({"schedule": "0 25 * * *"}, "not a valid cron expression"),
        ({"schedule": None}, "a digest needs a schedule"),
        ({"mode": "alert"}, "drop 'schedule'"),
        ({"timezone": "Europe/Bonn"}, "unknown time zone"),
        ({"language": "fr"}, "'de' or 'en'"),
        ({"alerted": "hide"}, "'mark' or 'omit'"),
        ({"rules": []}, 'rules: "*"'),
        ({"name": "mit leerzeichen"}, "letters, digits"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
        ({"min_score": -1}, "greater than or equal to 0"),
    ],
)
def test_subscription_errors_say_what_is_wrong(change: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as info:
        sub(**change)
    assert says in str(info.value)


def test_channels_are_a_discriminated_union_and_references_are_checked() -> None:
    raw = {
        "channels": {
            "mail": {
                "type": "email",
                "host": "smtp.example.org",
                "from": "Monitor <monitor@example.org>",
                "to": "analyst@example.org",
                "retry_for": "2h",
            },
            "chat": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"},
            "out": {"type": "file", "path": "./outbox"},
            "other": {"type": "apprise", "urls": "ntfy://topic"},
            "hook": {"type": "webhook", "url": "https://example.org/hook"},
        },
        "subscriptions": [
            {"name": "morning", "channel": "mail", "mode": "digest", "schedule": "0 7 * * 1-5"}
        ],
    }
    settings = NotifySettings.model_validate(raw)
    mail = settings.channels["mail"]
    assert mail.type == "email" and mail.to == ["analyst@example.org"]
    assert mail.retry_for == timedelta(hours=2) and mail.effective_port == 587
    assert "hooks.slack.com" not in repr(settings.channels["chat"])  # the URL is the secret

    raw["subscriptions"][0]["channel"] = "nowhere"  # type: ignore[index]
    with pytest.raises(ValidationError, match=r"names channel 'nowhere'.*known: chat, hook"):
        NotifySettings.model_validate(raw)


@pytest.mark.parametrize(
    ("channel", "says"),
    [
        ({"type": "pager"}, "does not match any of the expected tags"),
        ({"type": "email", "host": "h", "from": "a@b.de", "to": "x@y.de\r\nBcc: z@evil.example"},
         "line breaks"),
        ({"type": "email", "host": "h", "from": "nobody", "to": "x@y.de"}, "not an email address"),
        ({"type": "email", "host": "h", "from": "a@b.de", "to": "x@y.de", "username": "u"},
         "set both or neither"),
        ({"type": "email", "host": "h", "from": "a@b.de", "to": "x@y.de", "username": "u",
          "password": "p", "security": "none"}, "clear text"),
        ({"type": "slack", "webhook_url": "hooks.slack.com/x"}, "expected an https:// URL"),
        ({"type": "file", "path": "out", "formats": ["pdf"]}, "'eml', 'html'"),
        ({"type": "webhook", "url": "https://x.example", "headers": {"A": "b\nC: d"}},
         "line breaks"),
        ({"type": "file", "path": "out", "retry_for": "-1h"}, "retry_for"),
    ],
)  # fmt: skip
def test_channel_errors_say_what_is_wrong(channel: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as info:
        NotifySettings.model_validate({"channels": {"c": channel}})
    assert says in str(info.value)


def test_subscription_names_are_unique() -> None:
    one = {"name": "morning", "channel": "c", "mode": "alert"}
    with pytest.raises(ValidationError, match="subscription 'morning' is defined twice"):
        NotifySettings.model_validate(
            {"channels": {"c": {"type": "file", "path": "out"}}, "subscriptions": [one, one]}
        )
