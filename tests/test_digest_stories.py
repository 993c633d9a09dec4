"""Digests by story (pure core and rendering): one story once, tags, outlets, order, look-back,
context-only rules, reader-facing explanation and German/English counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config.channels import SubscriptionSettings
from monitor.delivery.digest import build_digest, entry_story_id
from monitor.delivery.render import Renderer
from monitor.model import Entry, Hit, Match, Priority, RuleCatalog, StoryMember, StoryRecord

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
REUTERS = "https://www.reuters.com/markets/commodities/rss"
REUTERS_2 = "https://www.reuters.com/world/china/rss"
FT = "https://www.ft.com/rss/home"
HB = "https://www.handelsblatt.com/contentexport/feed/finanzen"

TITLE_EN = "China curbs exports of rare earths and gallium"
TITLE_DE = "China beschränkt Export Seltener Erden"
CATALOG = RuleCatalog(
    titles={
        "seltene-erden": "Seltene Erden",
        "rohstoff-exportkontrollen": "Exportkontrollen auf Rohstoffe",
        "gallium-germanium": "Gallium und Germanium",
        "china": "China",
        "exportkontrollen": "Exportkontrollen",
    },
    context=frozenset({"china", "exportkontrollen"}),
    labels={
        "de": {"seltene-erden": "Seltene Erden", "exportkontrollen": "Exportkontrollen"},
        "en": {"seltene-erden": "rare earths", "exportkontrollen": "export controls"},
    },
)


def sub(**kw: object) -> SubscriptionSettings:
    base: dict[str, object] = {
        "name": "morgen",
        "channel": "c",
        "mode": "digest",
        "schedule": "0 7 * * *",
        "language": "de",
    }
    return SubscriptionSettings.model_validate(base | kw)


def entry(feed: str, eid: str, title: str = TITLE_EN, *, hours: float = 2) -> Entry:
    host = feed.split("/")[2]
    return Entry(
        feed_url=feed,
        id=eid,
        title=title,
        link=f"https://{host}/a/{eid}",
        summary="Beijing tightened export controls on rare earths on Monday.",
        content="",
        published=NOW - timedelta(hours=hours),
        language="de" if feed == HB else "en",
    )


def match(e: Entry, rule: str, score: int, priority: Priority = Priority.DIGEST) -> Match:
    hits = []
    if "rare earths" in e.title:
        i = e.title.index("rare earths")
        hits.append(Hit("seltene-erden", "rare earth", "title", i, i + 11, "rare earths"))
    if "Seltener Erden" in e.title:
        i = e.title.index("Seltener Erden")
        hits.append(Hit("seltene-erden", "Seltene Erden", "title", i, i + 14, "Seltener Erden"))
    j = e.summary.index("export controls")
    hits.append(Hit("exportkontrollen", "export control", "summary", j, j + 15, "export controls"))
    return Match(rule, score, priority, tuple(hits))


def story_of(sid: str, *entries: Entry, mastheads: dict[str, str] | None = None) -> StoryRecord:
    mastheads = mastheads or {}
    members = tuple(
        StoryMember(
            e.feed_url,
            e.id,
            e.title,
            e.link,
            e.published,
            e.language or "",
            (e.link or "").split("/")[2].removeprefix("www."),
            masthead=mastheads.get(e.feed_url, ""),
        )
        for e in sorted(entries, key=lambda x: x.published)
    )
    return StoryRecord(sid, members[0].published, members[-1].published, members)


def test_one_entry_matched_by_four_rules_is_one_story_with_four_tags() -> None:
    e = entry(REUTERS, "r1")
    pairs = [
        (e, match(e, "seltene-erden", 70)),
        (e, match(e, "rohstoff-exportkontrollen", 90, Priority.ALERT)),
        (e, match(e, "gallium-germanium", 60)),
        (e, match(e, "china", 80)),
    ]
    rules = ["seltene-erden", "rohstoff-exportkontrollen", "gallium-germanium", "china"]
    d = build_digest(pairs, sub(rules=rules), NOW, catalog=CATALOG)
    [story] = d.stories
    assert story.id == entry_story_id(REUTERS, "r1") and story.size == 1
    # The highest priority leads, then the score.
    assert story.rule_ids == ("rohstoff-exportkontrollen", "china", "seltene-erden",
                              "gallium-germanium")  # fmt: skip
    assert story.priority is Priority.ALERT and story.score == 90
    assert d.story_count == 1 and d.total == 4 and d.entry_count == 1
    assert [c.count for c in d.counts] == [1, 1, 1, 1]


def test_wire_copy_in_three_outlets_and_two_languages_is_one_story_with_its_outlets() -> None:
    r1, r2 = entry(REUTERS, "r1", hours=3), entry(REUTERS_2, "r2", hours=2.5)
    ft, hb = entry(FT, "f1", hours=2), entry(HB, "h1", TITLE_DE, hours=1)
    record = story_of("s-1", r1, r2, ft, hb, mastheads={REUTERS: "Reuters", FT: "FT", HB: "HB"})
    stories = {(e.feed_url, e.id): record for e in (r1, r2, ft, hb)}
    pairs = [(e, match(e, "seltene-erden", 80)) for e in (r1, r2, ft, hb)]
    d = build_digest(pairs, sub(), NOW, stories=stories, catalog=CATALOG)
    [story] = d.stories
    assert story.id == "s-1" and story.size == 4 and len(story.items) == 4
    assert story.item.entry.id == "r1"  # the earliest
    # Two Reuters feeds count once.
    assert [o.name for o in story.outlets] == ["Reuters", "FT", "HB"]
    assert [o.domain for o in story.others] == ["ft.com", "handelsblatt.com"]
    assert story.languages == ("de", "en")
    # A preferred source wins over the earliest.
    d2 = build_digest(pairs, sub(), NOW, stories=stories, catalog=CATALOG, preferred=("ft.com",))
    assert d2.stories[0].item.entry.id == "f1"
    assert d2.stories[0].outlets[0].name == "FT"


def test_order_is_breaking_then_priority_score_spread_recency() -> None:
    a, b, c, d_, e = (entry(REUTERS, f"e{i}", f"{TITLE_EN} {i}", hours=i + 1) for i in range(5))
    spread = story_of("wide", c, entry(FT, "x", hours=3), entry(HB, "y", TITLE_DE, hours=3))
    stories = {(c.feed_url, c.id): spread}
    pairs = [
        (a, match(a, "seltene-erden", 60)),
        (b, match(b, "seltene-erden", 90)),
        (c, match(c, "seltene-erden", 60)),
        (d_, match(d_, "rohstoff-exportkontrollen", 55, Priority.ALERT)),
        (e, match(e, "seltene-erden", 60)),
    ]
    flagged = {entry_story_id(REUTERS, "e4"): "why"}
    got = build_digest(pairs, sub(), NOW, stories=stories, catalog=CATALOG, breaking=flagged)
    # e4 breaking; e3 alert priority; e1 best score; "wide" 3 outlets; then e0 newer than e4.
    assert [s.item.entry.id for s in got.stories] == ["e4", "e3", "e1", "e2", "e0"]
    assert got.stories[0].breaking == "why"


def test_look_back_leaves_out_old_news_and_context_rules_are_not_star() -> None:
    new, old = entry(REUTERS, "new", hours=5), entry(FT, "old", hours=24 * 400)
    pairs = [
        (new, match(new, "seltene-erden", 80)),
        (old, match(old, "seltene-erden", 80)),
        (new, match(new, "china", 80)),
    ]
    d = build_digest(pairs, sub(), NOW, catalog=CATALOG, published_after=NOW - timedelta(days=2))
    assert [s.item.entry.id for s in d.stories] == ["new"]
    assert d.stories[0].rule_ids == ("seltene-erden",)  # china is context: not part of "*"
    named = build_digest(pairs, sub(rules=["china"]), NOW, catalog=CATALOG)
    assert {s.item.entry.id for s in named.stories} == {"new"}
    assert named.stories[0].rule_ids == ("china",)


def test_alerted_stories_are_marked_or_left_out_as_a_whole() -> None:
    r1, ft = entry(REUTERS, "r1", hours=3), entry(FT, "f1", hours=2)
    record = story_of("s", r1, ft)
    stories = {(r1.feed_url, r1.id): record, (ft.feed_url, ft.id): record}
    pairs = [(r1, match(r1, "seltene-erden", 80)), (ft, match(ft, "seltene-erden", 80))]
    alerted = {(REUTERS, "r1")}
    marked = build_digest(pairs, sub(), NOW, stories=stories, alerted=alerted)
    assert [s.alerted for s in marked.stories] == [True] and marked.alerted_count == 1
    omitted = build_digest(pairs, sub(alerted="omit"), NOW, stories=stories, alerted=alerted)
    assert omitted.is_empty and omitted.omitted_alerted == 1


def test_readers_see_concepts_and_places_in_good_german_and_english() -> None:
    r1, ft = entry(REUTERS, "r1", hours=3), entry(FT, "f1", hours=2)
    record = story_of("s", r1, ft, mastheads={REUTERS: "Reuters", FT: "Financial Times"})
    stories = {(r1.feed_url, r1.id): record, (ft.feed_url, ft.id): record}
    pairs = [(e, match(e, "seltene-erden", 80)) for e in (r1, ft)]
    other = entry(HB, "h9", "Lithium-Preis fällt", hours=1)
    pairs.append((other, Match("seltene-erden", 55, Priority.DIGEST, ())))
    r = Renderer()
    de = r.render_digest(build_digest(pairs, sub(), NOW, stories=stories, catalog=CATALOG))
    en = r.render_digest(
        build_digest(pairs, sub(language="en"), NOW, stories=stories, catalog=CATALOG)
    )
    assert "Seltene Erden in der Überschrift; Exportkontrollen im Text" in de.text
    assert "rare earths in the headline; export controls in the text" in en.text
    assert "auch bei Financial Times" in de.text and "also reported by Financial Times" in en.text
    assert "2 Meldungen" in de.subject and "2 stories" in en.subject
    assert "3 Beiträge" in de.text and "3 items" in en.text
    for m in (de, en):
        assert "Lieferkett" not in m.text and "[" + "0–" not in m.text
        assert "export control" not in m.html.replace("export controls", "")  # no variant
    one = r.render_digest(build_digest(pairs[:1], sub(), NOW, catalog=CATALOG))
    assert "1 Meldung " in one.subject and "1 Beitrag" in one.text
    capped = r.render_digest(build_digest(pairs, sub(max_stories=1), NOW, stories=stories))
    assert "und 1 weitere Meldung" in capped.text and "weitere Meldungen" not in capped.text
    linked = r.render_digest(
        build_digest(pairs, sub(max_stories=1, more_url="https://intra.example/x"), NOW)
    )
    assert 'href="https://intra.example/x"' in linked.html


def test_a_wave_1_user_template_over_groups_keeps_rendering(tmp_path: Path) -> None:
    folder = tmp_path / "mine" / "default" / "de"
    folder.mkdir(parents=True)
    (folder / "digest.txt.j2").write_text(
        "{% set subject %}Alt: {{ digest.total }} Treffer{% endset %}"
        "{% for g in digest.groups %}== {{ g.title }} ({{ g.count }})\n"
        "{% for i in g.items %}* {{ i.title.text }} [{{ i.score }}]\n{% endfor %}{% endfor %}",
        encoding="utf-8",
    )
    e = entry(REUTERS, "r1")
    pairs = [(e, match(e, "seltene-erden", 70)), (e, match(e, "china", 80))]
    d = build_digest(pairs, sub(rules=["seltene-erden", "china"]), NOW, catalog=CATALOG)
    m = Renderer(user_dir=tmp_path / "mine").render_digest(d)
    assert m.subject == "Alt: 2 Treffer"
    assert "== China (1)\n* " + TITLE_EN + " [80]" in m.text
    assert "== Seltene Erden (1)" in m.text
    assert m.html.count('class="entry"') == 1  # the shipped HTML template: one story


def test_a_semantic_match_in_a_story_names_its_example_sentence_and_cosine() -> None:
    """The by-story layout explains a semantic hit as the per-entry layout does: the rule's
    example sentence, the cosine and the threshold, in every format and both languages (with
    the rule's title when the story has several tags)."""
    from tests.test_render import slack_texts

    e = entry(REUTERS, "sem", "Beijing turns off the tap for gallium buyers", hours=1)
    sem = Hit(
        "semantic", "China chokes off gallium supplies to the West", "title", 0, 0, "", 83.4,
        kind="semantic", threshold=60.0,
    )  # fmt: skip
    j = e.summary.index("export controls")
    gate = Hit("exportkontrollen", "export control", "summary", j, j + 15, "export controls")
    pairs = [(e, Match("rohstoff-exportkontrollen", 50, Priority.DIGEST, (sem, gate)))]
    r = Renderer()
    says = {
        "de": "inhaltlich nah am Beispielsatz „China chokes off gallium supplies to the West“ "
        "der Regel (Kosinus 0,83, Schwelle 0,60)",
        "en": "close in meaning to the rule's example “China chokes off gallium supplies to "
        "the West” (cosine 0.83, threshold 0.60)",
    }
    for lang, text in says.items():
        digest = build_digest(pairs, sub(language=lang), NOW, catalog=CATALOG)
        [story] = digest.shown
        assert [(x.rule_id, x.hit.similarity) for x in story.semantic] == [
            ("rohstoff-exportkontrollen", 83.4)
        ]
        message = r.render_digest(digest)
        assert text in message.text, message.text
        assert text in message.html.replace("&#39;", "'"), message.html
        [shown] = message.data["stories"]
        assert shown["semantic"] == [
            {
                "rule_id": "rohstoff-exportkontrollen",
                "example": "China chokes off gallium supplies to the West",
                "similarity": 83.4,
                "threshold": 60.0,
            }
        ]
        assert any(text in t for t in slack_texts(message))
    # A lexical match of another rule beside it: the line says which rule is semantic.
    both = [*pairs, (e, match(e, "seltene-erden", 80))]
    text = r.render_digest(build_digest(both, sub(), NOW, catalog=CATALOG)).text
    assert "- Exportkontrollen auf Rohstoffe: inhaltlich nah am Beispielsatz" in text
    # A lexical story has no such line.
    lexical = r.render_digest(build_digest([(e, match(e, "seltene-erden", 80))], sub(), NOW))
    assert "Beispielsatz" not in lexical.text and "Beispielsatz" not in lexical.html
